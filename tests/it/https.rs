//! HTTPS for real: origins on 127.0.0.1 serving TLS with certificates made at test time
//! (rcgen) by a test CA that feeds.toml trusts through `[fetch] ca_file`. A certificate from
//! another CA and an expired one each fail their source with a clear error; the trusted one
//! is fetched in the same tick.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, config_with_fetch, fixture, source_table};
use feedmill::pipeline::Outcome;

/// A certificate authority made for one test.
fn test_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, format!("feedmill test CA {name}"));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A server certificate for 127.0.0.1 and localhost signed by `ca`; `expired` makes one whose
/// validity ended in 2020.
fn leaf(
    ca: &CertifiedIssuer<'static, KeyPair>,
    expired: bool,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "feedmill test origin");
    if expired {
        params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.der().clone(), key)
}

/// An HTTPS origin on 127.0.0.1:0 answering every request with `body` (HTTP/1.1, one request
/// per connection). Returns its port.
async fn tls_origin(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    body: String,
) -> u16 {
    feedmill::fetch::install_crypto_provider();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let body = body.clone();
            tokio::spawn(async move {
                // A client that rejects the certificate ends the handshake: nothing to serve.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/rss+xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = tls.write_all(head.as_bytes()).await;
                let _ = tls.write_all(body.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn https_sources_fail_clearly_when_certificate_is_untrusted_or_expired() {
    let ca = test_ca("trusted");
    let stranger = test_ca("stranger");
    let feed = fixture("diplomat-wordpress.xml");
    let (cert, key) = leaf(&ca, false);
    let good = tls_origin(cert, key, feed.clone()).await;
    let (cert, key) = leaf(&stranger, false);
    let untrusted = tls_origin(cert, key, feed.clone()).await;
    let (cert, key) = leaf(&ca, true);
    let expired = tls_origin(cert, key, feed.clone()).await;

    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("test-ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let urls = [
        ("Trusted", format!("https://127.0.0.1:{good}/feed")),
        ("Untrusted", format!("https://127.0.0.1:{untrusted}/feed")),
        ("Expired", format!("https://localhost:{expired}/feed")),
    ];
    let sources: String = urls
        .iter()
        .map(|(name, url)| source_table(name, url, ""))
        .collect();
    let fetch = format!(
        "allow_private = true\nca_file = {:?}\n",
        ca_file.display().to_string()
    );
    let app = TestApp::spawn(&config_with_fetch(&fetch, &sources)).await;

    let reports = app.tick().await;
    let report = |name: &str| reports.iter().find(|r| r.source == name).unwrap();
    let trusted = report("Trusted");
    assert_eq!(trusted.outcome, Outcome::Ok, "{trusted:?}");
    assert_eq!(trusted.items_new, 2);

    let untrusted = report("Untrusted");
    assert_eq!(untrusted.outcome, Outcome::Failed, "{untrusted:?}");
    assert_eq!(
        untrusted.error.as_deref().unwrap(),
        format!(
            "the TLS certificate of {} is not trusted: it is not signed by a known certificate authority (add the CA to [fetch] ca_file if it is yours)",
            urls[1].1
        )
    );
    let expired = report("Expired");
    assert_eq!(expired.outcome, Outcome::Failed, "{expired:?}");
    assert_eq!(
        expired.error.as_deref().unwrap(),
        format!("the TLS certificate of {} has expired", urls[2].1)
    );
    // Recorded on the sources, and the daemon serves the trusted source's article.
    let statuses = app.handle.pipeline.store().source_statuses().await.unwrap();
    let stored = statuses.iter().find(|s| s.name == "Expired").unwrap();
    assert!(
        stored
            .last_error
            .as_deref()
            .unwrap()
            .contains("has expired")
    );
    assert_eq!(
        app.feed("central-asia-security", "atom")
            .await
            .entries
            .len(),
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn https_source_is_untrusted_when_ca_file_is_not_configured() {
    let ca = test_ca("unconfigured");
    let (cert, key) = leaf(&ca, false);
    let port = tls_origin(cert, key, fixture("diplomat-wordpress.xml")).await;
    let url = format!("https://127.0.0.1:{port}/feed");
    let app = TestApp::spawn(&config_with_fetch(
        "allow_private = true\n",
        &source_table("Private CA", &url, ""),
    ))
    .await;
    let reports = app.tick().await;
    assert_eq!(reports[0].outcome, Outcome::Failed, "{reports:?}");
    let error = reports[0].error.as_deref().unwrap();
    assert!(
        error.starts_with(&format!("the TLS certificate of {url} is not trusted")),
        "{error}"
    );
    app.stop().await;
}
