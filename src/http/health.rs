//! Liveness: the process answers HTTP.

pub async fn healthz() -> &'static str {
    "ok\n"
}
