//! `TestApp` (the real daemon, built from a feeds.toml) and `Origin` (a real HTTP server that
//! serves fixture feeds and can be told to change them, to answer with another status and
//! headers, or to misbehave: drip, stream without end, redirect).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use feedmill::app::{App, AppHandle};
use feedmill::config::Config;
use feedmill::pipeline::SourceReport;
use tokio::sync::oneshot;

pub fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

#[derive(Clone, Debug)]
pub struct Route {
    pub status: u16,
    pub body: Vec<u8>,
    pub content_type: String,
    pub etag: Option<String>,
}

#[derive(Default)]
struct OriginState {
    routes: HashMap<String, Route>,
    /// Requests per path, and how many of them were answered 304.
    hits: HashMap<String, usize>,
    not_modified: HashMap<String, usize>,
    /// Answer these paths only after a delay (a slow publisher).
    delays: HashMap<String, std::time::Duration>,
    /// Extra response headers per path (Cache-Control, Retry-After, Location…).
    headers: HashMap<String, Vec<(String, String)>>,
    /// Paths answered by a misbehaving body instead of their route.
    streams: HashMap<String, Stream>,
    /// Requests per path being answered now, and the most ever at once.
    in_flight: HashMap<String, usize>,
    max_in_flight: HashMap<String, usize>,
}

/// A body the origin streams instead of a route's bytes (status 200, no Content-Length).
#[derive(Clone, Debug)]
pub enum Stream {
    /// `body`, one byte every `every` (a slow drip).
    Drip {
        body: Vec<u8>,
        every: std::time::Duration,
    },
    /// An RSS document that never ends.
    Endless,
    /// An RSS document of about `len` bytes, generated as it is sent (never held in memory).
    Big { len: u64 },
}

const STREAM_CHUNK: usize = 64 * 1024;

fn stream_body(stream: Stream) -> Body {
    use futures_util::stream::{self, StreamExt};
    let head = bytes::Bytes::from_static(
        b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>big</title>",
    );
    let item = "<item><title>filler</title><description>".to_owned()
        + &"x".repeat(STREAM_CHUNK - 64)
        + "</description></item>";
    let item = bytes::Bytes::from(item);
    match stream {
        Stream::Drip { body, every } => Body::from_stream(stream::unfold(
            (body, 0usize),
            move |(body, at)| async move {
                if at >= body.len() {
                    return None;
                }
                if at > 0 {
                    tokio::time::sleep(every).await;
                }
                let byte = bytes::Bytes::copy_from_slice(&body[at..at + 1]);
                Some((Ok::<_, std::io::Error>(byte), (body, at + 1)))
            },
        )),
        Stream::Endless => {
            let rest = stream::repeat(item).map(Ok::<_, std::io::Error>);
            Body::from_stream(
                stream::once(async move { Ok::<_, std::io::Error>(head) }).chain(rest),
            )
        }
        Stream::Big { len } => {
            let items = (len / item.len() as u64) as usize;
            let tail = bytes::Bytes::from_static(b"</channel></rss>");
            let body = stream::iter(
                std::iter::once(head)
                    .chain(std::iter::repeat_n(item, items))
                    .chain(std::iter::once(tail))
                    .map(Ok::<_, std::io::Error>),
            );
            Body::from_stream(body)
        }
    }
}

/// A feed publisher on 127.0.0.1:0. Honours `If-None-Match` against each route's ETag.
#[derive(Clone)]
pub struct Origin {
    pub addr: SocketAddr,
    state: Arc<Mutex<OriginState>>,
}

impl Origin {
    pub async fn start() -> Origin {
        let state: Arc<Mutex<OriginState>> = Arc::default();
        let shared = state.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let state = shared.clone();
            async move {
                let path = uri.path().to_owned();
                let delay = {
                    let mut s = state.lock().unwrap();
                    let now = {
                        let n = s.in_flight.entry(path.clone()).or_default();
                        *n += 1;
                        *n
                    };
                    let max = s.max_in_flight.entry(path.clone()).or_default();
                    *max = (*max).max(now);
                    s.delays.get(&path).copied()
                };
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                let response = answer(&state, &path, &headers);
                *state.lock().unwrap().in_flight.entry(path).or_default() -= 1;
                response
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Origin { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Serve `body` at `path` with a strong ETag derived from the body.
    pub fn serve(&self, path: &str, body: &str, content_type: &str) {
        let etag = format!("\"{}\"", feedmill::dedup::content_hash(&[body]));
        let route = Route {
            status: 200,
            body: body.as_bytes().to_vec(),
            content_type: content_type.into(),
            etag: Some(etag),
        };
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_owned(), route);
    }

    pub fn set_status(&self, path: &str, status: u16) {
        if let Some(r) = self.state.lock().unwrap().routes.get_mut(path) {
            r.status = status;
        }
    }

    pub fn set_delay(&self, path: &str, delay: std::time::Duration) {
        self.state
            .lock()
            .unwrap()
            .delays
            .insert(path.to_owned(), delay);
    }

    /// Serve `body` at `path` as it is (no ETag), with `status` and extra `headers`: for
    /// compressed bodies, redirects, 410s and documents built to hurt a parser.
    pub fn serve_raw(&self, path: &str, status: u16, headers: &[(&str, &str)], body: Vec<u8>) {
        let mut s = self.state.lock().unwrap();
        s.routes.insert(
            path.to_owned(),
            Route {
                status,
                body,
                content_type: "application/rss+xml".into(),
                etag: None,
            },
        );
        s.headers.insert(
            path.to_owned(),
            headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        );
    }

    /// Answer `path` with a `status` redirect to `to` (a path on this origin or a URL).
    pub fn redirect(&self, path: &str, status: u16, to: &str) {
        let target = if to.starts_with('/') {
            self.url(to)
        } else {
            to.to_owned()
        };
        self.serve_raw(path, status, &[("location", &target)], Vec::new());
    }

    /// Add these headers to every answer of `path` (replacing earlier extra headers).
    pub fn set_headers(&self, path: &str, headers: &[(&str, &str)]) {
        self.state.lock().unwrap().headers.insert(
            path.to_owned(),
            headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        );
    }

    /// Answer `path` with a streamed body (see [`Stream`]).
    pub fn stream(&self, path: &str, stream: Stream) {
        self.state
            .lock()
            .unwrap()
            .streams
            .insert(path.to_owned(), stream);
    }

    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Requests for `path` the origin is answering now (counted until the response headers
    /// are sent; `hits` counts a request only once its delay is over).
    pub fn in_flight(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .in_flight
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// The most requests for `path` the origin was answering at once (counted until the
    /// response headers are sent).
    pub fn max_in_flight(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .max_in_flight
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn not_modified(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .not_modified
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

fn answer(state: &Mutex<OriginState>, path: &str, headers: &HeaderMap) -> Response {
    let mut s = state.lock().unwrap();
    *s.hits.entry(path.to_owned()).or_default() += 1;
    if let Some(stream) = s.streams.get(path).cloned() {
        return Response::builder()
            .status(200)
            .header(header::CONTENT_TYPE, "application/rss+xml")
            .body(stream_body(stream))
            .unwrap();
    }
    let extra = s.headers.get(path).cloned().unwrap_or_default();
    let Some(route) = s.routes.get(path).cloned() else {
        return Response::builder()
            .status(404)
            .body(Body::from("no such feed"))
            .unwrap();
    };
    let inm = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if route.status == 200 && route.etag.is_some() && inm == route.etag.as_deref() {
        *s.not_modified.entry(path.to_owned()).or_default() += 1;
        let mut b = Response::builder().status(StatusCode::NOT_MODIFIED);
        for (name, value) in &extra {
            b = b.header(name, value);
        }
        return b.body(Body::empty()).unwrap();
    }
    let mut b = Response::builder()
        .status(route.status)
        .header(header::CONTENT_TYPE, &route.content_type);
    if let Some(etag) = &route.etag {
        b = b.header(header::ETAG, etag);
    }
    for (name, value) in &extra {
        b = b.header(name, value);
    }
    b.body(Body::from(route.body)).unwrap()
}

/// The real daemon on 127.0.0.1 with its store in a temp dir; the scheduler is driven by
/// `tick`, never by the wall clock.
pub struct TestApp {
    pub base: String,
    pub handle: AppHandle,
    pub store_dir: tempfile::TempDir,
    pub config_path: PathBuf,
    clock: Mutex<DateTime<Utc>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _config_dir: tempfile::TempDir,
    /// The `[server]` and `[store]` tables written above every body.
    header: String,
}

/// A free port on 127.0.0.1, so `base_url` (used in self links) can name the served address.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TestApp {
    /// Build and start the app from feeds.toml text (its `[server]` and `[store]` tables are
    /// added here).
    pub async fn spawn(body: &str) -> TestApp {
        TestApp::spawn_on(body, tempfile::tempdir().unwrap(), "", false).await
    }

    /// Like `spawn`, but the real scheduler (tokio-cron-scheduler, wall clock) runs too.
    pub async fn spawn_scheduled(body: &str) -> TestApp {
        TestApp::spawn_on(body, tempfile::tempdir().unwrap(), "", true).await
    }

    /// Like `spawn`, with extra lines for the `[store]` table.
    pub async fn spawn_with_store_extra(body: &str, store_extra: &str) -> TestApp {
        TestApp::spawn_on(body, tempfile::tempdir().unwrap(), store_extra, false).await
    }

    /// Like `spawn`, with extra lines for the `[server]` table (e.g. `trust_proxy = true`).
    pub async fn spawn_with_server_extra(body: &str, server_extra: &str) -> TestApp {
        TestApp::spawn_with(body, tempfile::tempdir().unwrap(), "", server_extra, false).await
    }

    /// Stop this app and start another on the same store with a new feeds.toml body (as a
    /// user editing the file and restarting would).
    pub async fn restart(mut self, body: &str) -> TestApp {
        self.shutdown_and_wait().await;
        let store_dir = std::mem::replace(&mut self.store_dir, tempfile::tempdir().unwrap());
        TestApp::spawn_on(body, store_dir, "", false).await
    }

    async fn spawn_on(
        body: &str,
        store_dir: tempfile::TempDir,
        store_extra: &str,
        scheduled: bool,
    ) -> TestApp {
        TestApp::spawn_with(body, store_dir, store_extra, "", scheduled).await
    }

    async fn spawn_with(
        body: &str,
        store_dir: tempfile::TempDir,
        store_extra: &str,
        server_extra: &str,
        scheduled: bool,
    ) -> TestApp {
        let port = free_port();
        let config_dir = tempfile::tempdir().unwrap();
        let config_path = config_dir.path().join("feeds.toml");
        let header = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nbase_url = \"http://127.0.0.1:{port}\"\n{server_extra}\n\n[store]\npath = {:?}\n{store_extra}\n",
            store_dir.path().display().to_string()
        );
        let text = format!("{header}{body}");
        std::fs::write(&config_path, &text).unwrap();
        let config = Config::load(&config_path)
            .unwrap_or_else(|e| panic!("test config invalid: {e}\n{text}"));
        let app = App::build(config).await.unwrap();
        let handle = app.handle();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run_until(
                async move {
                    let _ = rx.await;
                },
                scheduled,
            )
            .await
            .unwrap();
        });
        TestApp {
            base: format!("http://127.0.0.1:{port}"),
            handle,
            store_dir,
            config_path,
            clock: Mutex::new(Utc::now() + Duration::hours(1)),
            shutdown: Some(tx),
            task: Some(task),
            _config_dir: config_dir,
            header,
        }
    }

    /// Replace feeds.toml with this body (the `[server]` and `[store]` tables are kept) the
    /// way editors save: write a temporary file beside it and rename it over.
    pub fn write_config(&self, body: &str) {
        self.write_config_text(&format!("{}{body}", self.header));
    }

    /// Replace feeds.toml with exactly `text` (write beside it, rename over).
    pub fn write_config_text(&self, text: &str) {
        let tmp = self.config_path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.config_path).unwrap();
    }

    /// Save a new body and wait (at most 10 s) until the daemon has reloaded it, applied or
    /// rejected; returns how long that took from the save.
    pub async fn edit_config(&self, body: &str) -> std::time::Duration {
        let mut reloads = self.handle.status.subscribe();
        reloads.borrow_and_update();
        let saved = std::time::Instant::now();
        self.write_config(body);
        tokio::time::timeout(std::time::Duration::from_secs(10), reloads.changed())
            .await
            .expect("the daemon did not reload feeds.toml within 10 s")
            .unwrap();
        saved.elapsed()
    }

    /// One scheduling step, a day after the previous one, so every source is due.
    pub async fn tick(&self) -> Vec<SourceReport> {
        let now = {
            let mut clock = self.clock.lock().unwrap();
            *clock += Duration::days(1);
            *clock
        };
        self.handle.tick(now).await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .unwrap()
    }

    /// Fetch a served feed and parse it back with feed-rs.
    pub async fn feed(&self, slug: &str, ext: &str) -> feed_rs::model::Feed {
        let response = self.get(&format!("/topics/{slug}.{ext}")).await;
        assert_eq!(response.status(), 200, "GET /topics/{slug}.{ext}");
        let body = response.bytes().await.unwrap();
        feed_rs::parser::parse(body.as_ref())
            .unwrap_or_else(|e| panic!("served {slug}.{ext} does not parse: {e}"))
    }

    pub async fn stop(mut self) {
        self.shutdown_and_wait().await;
    }

    /// Stop, and hand back the store directory (deleted when dropped) for inspection.
    pub async fn stop_keeping_store(mut self) -> tempfile::TempDir {
        self.shutdown_and_wait().await;
        std::mem::replace(&mut self.store_dir, tempfile::tempdir().unwrap())
    }

    async fn shutdown_and_wait(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// A feeds.toml body with the test topics and the given sources (name, url). The origin is on
/// 127.0.0.1, so `allow_private = true` lets the SSRF guard through.
pub fn config_with_sources(sources: &[(&str, String)]) -> String {
    let tables: String = sources
        .iter()
        .map(|(name, url)| source_table(name, url, ""))
        .collect();
    config_with_fetch("allow_private = true\n", &tables)
}

/// One `[[source]]` table; `extra` is more `key = value` lines.
pub fn source_table(name: &str, url: &str, extra: &str) -> String {
    format!("[[source]]\nname = {name:?}\nurl = {url:?}\ntags = [\"test\"]\n{extra}\n")
}

/// A feeds.toml body: the test `[fetch]` table plus `fetch_extra` lines, the source tables,
/// and the test topics.
pub fn config_with_fetch(fetch_extra: &str, source_tables: &str) -> String {
    let mut text = format!(
        "[fetch]\nschedule = \"15m\"\ntimeout = \"5s\"\nhost_spacing = \"0s\"\n{fetch_extra}\n{source_tables}"
    );
    text.push_str(
        r#"[[topic]]
slug = "central-asia-security"
title = "Central Asia security"
query = '''
("central asia" OR kazakh* OR kyrgyz* OR tajik* OR turkmen* OR uzbek* OR xinjiang OR uighur* OR uyghur*)
AND (security OR terror* OR militant* OR extremis* OR border* OR insurgen* OR police)
'''

[[topic]]
slug = "football"
title = "Football"
query = 'football OR soccer OR "world cup"'
"#,
    );
    text
}

/// A small RSS 2.0 feed with these (title, link) items, published an hour apart.
pub fn rss(items: &[(&str, &str)]) -> String {
    let items: String = items
        .iter()
        .enumerate()
        .map(|(i, (title, link))| {
            format!(
                "<item><title>{title}</title><link>{link}</link><guid>{link}</guid>\
<description>{title}.</description><pubDate>Mon, 0{} Jun 2025 10:00:00 GMT</pubDate></item>",
                i % 9 + 1
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>test</title>\
<link>http://example.org/</link><description>test</description>{items}</channel></rss>"
    )
}

/// The `feedmill` binary with the test's environment cleared of feedmill's variables.
pub fn feedmill_command() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_feedmill"));
    for var in [
        "FEEDMILL_CONFIG",
        "FEEDMILL_STORE",
        "FEEDMILL_LISTEN",
        "FEEDMILL_LOG_FORMAT",
        "FEEDMILL_ADMIN_TOKEN",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// `feedmill serve` as a child process (the real binary, signals and all), its stderr
/// collected as it comes.
pub struct Daemon {
    pub child: tokio::process::Child,
    pub base: String,
    stderr: Arc<Mutex<String>>,
}

impl Daemon {
    /// Start `cmd` (a `serve` command) and wait until `http://127.0.0.1:{port}/healthz`
    /// answers (at most 20 s).
    pub async fn start(mut cmd: tokio::process::Command, port: u16) -> Daemon {
        use tokio::io::AsyncBufReadExt;
        // reqwest (in this process) needs rustls' provider; the app installs it when built.
        feedmill::fetch::install_crypto_provider();
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("feedmill starts");
        let stderr: Arc<Mutex<String>> = Arc::default();
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let daemon = Daemon {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stderr,
        };
        let started = std::time::Instant::now();
        loop {
            if let Ok(r) = reqwest::get(format!("{}/healthz", daemon.base)).await
                && r.status() == 200
            {
                return daemon;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "feedmill serve did not answer /healthz within 20 s:\n{}",
                daemon.stderr()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The JSON log lines so far (for a daemon started with `--log-format json`).
    pub fn json_logs(&self) -> Vec<serde_json::Value> {
        self.stderr()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Wait (at most `within`) until a log line contains `needle`.
    pub async fn wait_for_log(&self, needle: &str, within: std::time::Duration) -> bool {
        let started = std::time::Instant::now();
        while started.elapsed() < within {
            if self.stderr().contains(needle) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    }

    pub fn signal(&self, signal: libc::c_int) {
        let pid = self.child.id().expect("still running") as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid; it has not been reaped (we hold the Child).
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Wait for the process to exit (panics after `within`); its status and how long it took.
    pub async fn wait_exit(
        &mut self,
        within: std::time::Duration,
    ) -> (std::process::ExitStatus, std::time::Duration) {
        let started = std::time::Instant::now();
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "feedmill did not exit within {within:?}:\n{}",
                    self.stderr()
                )
            })
            .unwrap();
        (status, started.elapsed())
    }
}

/// A free port on 127.0.0.1 (for a child process to listen on).
pub fn unused_port() -> u16 {
    free_port()
}
