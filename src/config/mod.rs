//! The validated configuration: feeds.toml read, checked and compiled (DESIGN §5).
//!
//! Two stages, as in ripgrep's low-level → high-level args: [`raw`] mirrors the TOML and finds
//! what TOML and serde can find (syntax, unknown keys, wrong types); [`Config::parse`] then
//! checks meaning (URLs, durations, cron, uniqueness, queries) and fills in defaults. Both
//! stages collect *every* problem with its `path:line:col`, because fixing a config one
//! error per run is miserable. Nothing here does I/O except [`Config::load`].

pub mod raw;
pub mod units;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::model::ContentMode;
use crate::topics::Query;
pub use units::{Schedule, UnitError, format_duration, parse_duration, parse_size};

/// Where the project lives; part of the default User-Agent so site owners can reach us.
const HOMEPAGE: &str = "https://github.com/feedmill/feedmill";

/// The User-Agent sent when none is configured: `feedmill/0.1.0 (+https://…)`.
pub fn default_user_agent() -> String {
    format!("feedmill/{} (+{HOMEPAGE})", env!("CARGO_PKG_VERSION"))
}

/// The whole configuration, validated, with every default filled in.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, as given (used in messages).
    pub path: PathBuf,
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub fetch: FetchConfig,
    pub dedup: DedupConfig,
    /// In file order.
    pub sources: Vec<SourceConfig>,
    /// In file order.
    pub topics: Vec<TopicConfig>,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// `host:port` to listen on: an IP socket address or a host name with a port.
    pub listen: String,
    /// Public URL of the server, for self links and page ids. Always http(s), without query
    /// or fragment; render it with [`ServerConfig::base_url_str`].
    pub base_url: url::Url,
    /// Take the public scheme and host of each request from `X-Forwarded-Proto` /
    /// `X-Forwarded-Host` (or `Forwarded`), for self links behind a reverse proxy; without it
    /// those headers are ignored (a client could set them).
    pub trust_proxy: bool,
    /// Protects `/sources`, `/sources/errors.atom` and `/metrics` when set. Never empty.
    pub admin_token: Option<String>,
}

/// `[store]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// The data directory (SQLite file `feedmill.db` inside). A relative path is relative to
    /// the process's current directory, as for any command-line tool; [`Config::load`] makes
    /// it absolute.
    pub path: PathBuf,
    /// A PostgreSQL URL (`postgres://…`) to share one store between replicas.
    pub url: Option<String>,
    /// How long an article is kept, counted from when feedmill first saw it. `None`: for ever.
    pub retention: Option<Duration>,
}

/// `[dedup]`: how articles of different sources are found to be one story (DESIGN §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupConfig {
    /// Two articles are compared for near-duplicate text only when their dates (published,
    /// else first seen) are at most this far apart.
    pub window: Duration,
    /// Layer 3 (near-duplicate text) on or off; canonical-URL merging always applies.
    pub near_duplicates: bool,
    /// Tracking parameters removed from links before comparing them, beyond the built-in list
    /// (`tracking_params` as written; exact names or `prefix*`).
    pub tracking_params: Vec<String>,
    /// `tracking_params` compiled.
    pub url_rules: crate::dedup::UrlRules,
}

/// The default `[dedup] window`: wire copies and aggregator items of one story appear within
/// a day or two of each other; three days leaves room for weekly outlets' late copies.
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(3 * 24 * 3600);

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            window: DEFAULT_DEDUP_WINDOW,
            near_duplicates: true,
            tracking_params: Vec::new(),
            url_rules: crate::dedup::UrlRules::default(),
        }
    }
}

/// `[fetch]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Default schedule of every source.
    pub schedule: Schedule,
    /// Whole-request timeout; > 0.
    pub timeout: Duration,
    /// Largest response body accepted, in bytes; > 0.
    pub max_body: u64,
    /// Requests in flight overall; ≥ 1.
    pub concurrency: usize,
    /// Requests in flight per host; ≥ 1.
    pub per_host: usize,
    /// Minimum gap between two requests to one host (may be zero).
    pub host_spacing: Duration,
    /// Allow loopback/private/link-local targets (the SSRF guard is on by default).
    pub allow_private: bool,
    /// Extra trusted root certificates (PEM). Relative to the config file's directory.
    pub ca_file: Option<PathBuf>,
    /// Sent on every request; `VERSION` in the configured text is replaced by the version.
    pub user_agent: String,
}

/// One `[[source]]`. The `Option` fields override `[fetch]` when set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceConfig {
    /// Unique (ignoring case, since `source:` queries ignore case).
    pub name: String,
    /// The feed URL; absolute http(s); unique.
    pub url: url::Url,
    pub tags: Vec<String>,
    pub schedule: Option<Schedule>,
    pub user_agent: Option<String>,
    /// Extra request headers, sorted by name.
    pub headers: Vec<(String, String)>,
    pub allow_private: Option<bool>,
    pub content: Option<ContentMode>,
}

/// One `[[topic]]`, its query compiled.
#[derive(Debug, Clone)]
pub struct TopicConfig {
    /// Unique; `[a-z0-9][a-z0-9-]*`; the feed URLs are `/topics/{slug}.rss` etc.
    pub slug: String,
    pub title: String,
    /// As configured, else a sentence built from the title.
    pub description: String,
    /// The query as written (for `check`, and to notice a changed query and backfill).
    pub query_text: String,
    pub query: Query,
    /// Optional exclusion query (DESIGN §6): a story with an article matching it is left out.
    pub exclude_text: Option<String>,
    pub exclude: Option<Query>,
    /// Entries in the feed; ≥ 1.
    pub limit: usize,
    /// Only stories first seen within this long; > 0.
    pub max_age: Option<Duration>,
    pub content: ContentMode,
    /// Former slugs: `/topics/{alias}…` answers 301 to this topic. Each is a valid slug, and
    /// no alias is another topic's slug or alias.
    pub aliases: Vec<String>,
}

/// One problem in the config file, located for a human (`check` prints these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub path: PathBuf,
    /// 1-based.
    pub line: usize,
    /// 1-based, counted in characters (not bytes), so it matches what an editor shows.
    pub col: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read config {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every problem found, sorted by position; displayed one per line.
    #[error("{}", DisplayLines(.0))]
    Invalid(Vec<Diagnostic>),
    /// An environment variable override (`FEEDMILL_LISTEN`, `FEEDMILL_STORE`) is unusable.
    #[error("invalid environment variable {name}: {message}")]
    Env { name: &'static str, message: String },
}

/// The 1-based line and column of the value of the first `key = value` line for `key`
/// (for problems found after parsing, when the spans are gone).
fn value_position(text: &str, key: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let rest = line.trim_start().strip_prefix(key)?;
        let after_eq = rest.trim_start().strip_prefix('=')?;
        let value = after_eq.trim_start();
        let col = line.len() - value.len();
        Some((i + 1, line[..col].chars().count() + 1))
    })
}

/// Displays diagnostics one per line (no trailing newline).
struct DisplayLines<'a>(&'a [Diagnostic]);

impl fmt::Display for DisplayLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".to_string(),
            base_url: default_base_url(),
            trust_proxy: false,
            admin_token: None,
        }
    }
}

fn default_base_url() -> url::Url {
    // A constant, valid absolute URL: parsing cannot fail. `Url` has no const constructor.
    url::Url::parse("http://localhost:8080").unwrap_or_else(|_| unreachable!())
}

impl ServerConfig {
    /// The base URL without a trailing slash (`http://localhost:8080`,
    /// `https://example.org/feeds`), ready to have `/topics/…` appended.
    pub fn base_url_str(&self) -> String {
        self.base_url.as_str().trim_end_matches('/').to_string()
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("store"),
            url: None,
            retention: None,
        }
    }
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            schedule: Schedule::default(),
            timeout: Duration::from_secs(30),
            max_body: 16 << 20,
            concurrency: 16,
            per_host: 2,
            host_spacing: Duration::from_secs(1),
            allow_private: false,
            ca_file: None,
            user_agent: default_user_agent(),
        }
    }
}

/// The default `limit` of a topic.
pub const DEFAULT_TOPIC_LIMIT: usize = 50;

impl Config {
    /// Reads the file, parses it, then applies `FEEDMILL_STORE` (store.path),
    /// `FEEDMILL_LISTEN` (server.listen) and `FEEDMILL_ADMIN_TOKEN` (server.admin_token);
    /// empty variables count as unset. A relative store
    /// path is then made absolute against the current directory, so logs show where the data
    /// really is.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let config = Config::parse(path, &text)?;
        // Parsing does no I/O; the one file the configuration names is checked here, so that
        // `check`, start-up and a live reload all refuse a bad one the same way.
        if let Some(ca) = &config.fetch.ca_file
            && let Err(e) = crate::fetch::check_ca_file(ca)
        {
            let (line, col) = value_position(&text, "ca_file").unwrap_or((1, 1));
            return Err(ConfigError::Invalid(vec![Diagnostic {
                path: path.to_path_buf(),
                line,
                col,
                message: format!("`ca_file` in [fetch]: {e}"),
            }]));
        }
        let store = non_empty_env("FEEDMILL_STORE")?.map(PathBuf::from);
        let listen = non_empty_env("FEEDMILL_LISTEN")?;
        if let Some(listen) = &listen {
            check_listen(listen).map_err(|message| ConfigError::Env {
                name: "FEEDMILL_LISTEN",
                message,
            })?;
        }
        let mut config = config.with_overrides(store, listen);
        // A secret is better kept out of a file that people edit and share (the compose file
        // passes it from the environment).
        if let Some(token) = non_empty_env("FEEDMILL_ADMIN_TOKEN")?.filter(|t| !t.trim().is_empty())
        {
            config.server.admin_token = Some(token);
        }
        if let Ok(absolute) = std::path::absolute(&config.store.path) {
            config.store.path = absolute;
        }
        Ok(config)
    }

    /// Replaces store.path and/or server.listen (from the environment or `--store`). The
    /// listen address is taken as given ([`Config::load`] checks `FEEDMILL_LISTEN` first).
    pub fn with_overrides(mut self, store: Option<PathBuf>, listen: Option<String>) -> Config {
        if let Some(store) = store {
            self.store.path = store;
        }
        if let Some(listen) = listen {
            self.server.listen = listen;
        }
        self
    }

    /// Settings this version accepts but does not act on yet, as messages for the log and
    /// `feedmill check`: they must not silently do nothing. (None today: every setting acts.)
    pub fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// The source with this exact name.
    pub fn source(&self, name: &str) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// The topic with this slug.
    pub fn topic(&self, slug: &str) -> Option<&TopicConfig> {
        self.topics.iter().find(|t| t.slug == slug)
    }

    /// The topic that lists `alias` among its former slugs.
    pub fn topic_by_alias(&self, alias: &str) -> Option<&TopicConfig> {
        self.topics
            .iter()
            .find(|t| t.aliases.iter().any(|a| a == alias))
    }

    /// The schedule a source runs on: its own, else `[fetch]`'s.
    pub fn schedule_of<'a>(&'a self, source: &'a SourceConfig) -> &'a Schedule {
        source.schedule.as_ref().unwrap_or(&self.fetch.schedule)
    }

    /// The User-Agent a source is fetched with: its own, else `[fetch]`'s.
    pub fn user_agent_of<'a>(&'a self, source: &'a SourceConfig) -> &'a str {
        source
            .user_agent
            .as_deref()
            .unwrap_or(&self.fetch.user_agent)
    }

    /// Whether a source may target private addresses: its own setting, else `[fetch]`'s.
    pub fn allow_private_of(&self, source: &SourceConfig) -> bool {
        source.allow_private.unwrap_or(self.fetch.allow_private)
    }

    /// Parses and validates feeds.toml text. `path` is used only in diagnostics and to
    /// resolve `ca_file` against the file's directory: no I/O, no environment.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let read = raw::read(text);
        let mut v = Validator {
            path,
            text,
            problems: read.problems,
        };
        let config = read.config.map(|raw| v.config(raw, &read.suggestions));
        match config {
            Some(config) if v.problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid(v.into_diagnostics())),
        }
    }
}

/// Checks a listen address: an IP socket address (`0.0.0.0:8080`, `[::1]:8080`) or
/// `hostname:port` (`localhost:8080`). Port 0 (any free port) is allowed, for tests.
fn check_listen(listen: &str) -> Result<(), String> {
    if listen.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let bad = |why: &str| Err(format!("invalid listen address \"{listen}\": {why}"));
    let Some((host, port)) = listen.rsplit_once(':') else {
        return bad("expected host:port, e.g. \"127.0.0.1:8080\"");
    };
    if port.parse::<u16>().is_err() {
        return bad("the port must be a number from 0 to 65535");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.is_empty() || !host.split('.').all(label_ok) {
        return bad(
            "the host must be an IP address or a host name (IPv6 in brackets: \"[::1]:8080\")",
        );
    }
    Ok(())
}

/// `Some` when the variable is set and not empty; an error when it is not Unicode.
fn non_empty_env(name: &'static str) -> Result<Option<String>, ConfigError> {
    match std::env::var(name) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::Env {
            name,
            message: "not valid UTF-8".to_string(),
        }),
    }
}

/// What earlier tables defined, to report duplicates with the line of the first definition.
#[derive(Default)]
struct Seen {
    /// Lower-cased source name → line.
    source_names: HashMap<String, usize>,
    /// Parsed source URL → (which source, line).
    source_urls: HashMap<String, (String, usize)>,
    /// Topic slug → line.
    topic_slugs: HashMap<String, usize>,
    /// Topic alias → (the topic it belongs to, line).
    topic_aliases: HashMap<String, (String, usize)>,
}

/// The second stage: turns a [`raw::RawConfig`] into a [`Config`], recording problems.
struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
    problems: Vec<raw::Problem>,
}

impl Validator<'_> {
    fn problem(&mut self, span: Range<usize>, message: String) {
        self.problems.push(raw::Problem { span, message });
    }

    fn into_diagnostics(self) -> Vec<Diagnostic> {
        let mut diagnostics: Vec<Diagnostic> = self
            .problems
            .iter()
            .map(|p| {
                let (line, col) = line_col(self.text, p.span.start);
                Diagnostic {
                    path: self.path.to_path_buf(),
                    line,
                    col,
                    message: p.message.clone(),
                }
            })
            .collect();
        diagnostics.sort_by_key(|d| (d.line, d.col));
        diagnostics.dedup();
        diagnostics
    }

    fn config(&mut self, raw: raw::RawConfig, suggestions: &[raw::Suggestion]) -> Config {
        let server = self.server(raw.server);
        let store = self.store(raw.store);
        let fetch = self.fetch(raw.fetch);
        let dedup = self.dedup(raw.dedup);
        // Whether an unknown key in this element was already reported as a typo of `key`.
        let typo = |array: &str, index: usize, key: &str| {
            suggestions.iter().any(|s| {
                s.suggested == key
                    && s.element
                        .as_ref()
                        .is_some_and(|(a, i)| a == array && *i == index)
            })
        };
        let mut seen = Seen::default();
        let mut sources = Vec::new();
        for (index, table) in raw.source.into_iter().enumerate() {
            let typos = [typo("source", index, "name"), typo("source", index, "url")];
            if let Some(source) = self.source(table, index, typos, &mut seen) {
                sources.push(source);
            }
        }
        let mut topics = Vec::new();
        for (index, table) in raw.topic.into_iter().enumerate() {
            let typos = [
                typo("topic", index, "slug"),
                typo("topic", index, "title"),
                typo("topic", index, "query"),
            ];
            if let Some(topic) = self.topic(table, index, typos, &mut seen) {
                topics.push(topic);
            }
        }
        Config {
            path: self.path.to_path_buf(),
            server,
            store,
            fetch,
            dedup,
            sources,
            topics,
        }
    }

    /// The value of a required key, or a "missing" problem at the table's header (unless an
    /// unknown key was already reported as a likely typo of it).
    fn required<T>(
        &mut self,
        value: Option<Spanned<T>>,
        key: &str,
        label: &str,
        header: Range<usize>,
        typo_reported: bool,
    ) -> Option<Spanned<T>> {
        if value.is_none() && !typo_reported {
            self.problem(header, format!("missing required key `{key}` in {label}"));
        }
        value
    }

    fn server(&mut self, raw: raw::RawServer) -> ServerConfig {
        let mut server = ServerConfig::default();
        if let Some(listen) = raw.listen {
            match check_listen(listen.get_ref()) {
                Ok(()) => server.listen = listen.into_inner(),
                Err(message) => {
                    self.problem(listen.span(), format!("`listen` in [server]: {message}"))
                }
            }
        }
        if let Some(base) = raw.base_url
            && let Some(url) = self.http_url(&base, "`base_url` in [server]")
        {
            if url.query().is_some() || url.fragment().is_some() {
                self.problem(
                    base.span(),
                    format!(
                        "`base_url` in [server]: \"{}\" must not have a query or fragment",
                        base.get_ref()
                    ),
                );
            } else {
                server.base_url = url;
            }
        }
        server.trust_proxy = raw.trust_proxy.unwrap_or(false);
        if let Some(token) = raw.admin_token {
            if token.get_ref().trim().is_empty() {
                self.problem(
                    token.span(),
                    "`admin_token` in [server]: must not be empty (remove the key to disable it)"
                        .to_string(),
                );
            } else {
                server.admin_token = Some(token.into_inner());
            }
        }
        server
    }

    fn store(&mut self, raw: raw::RawStore) -> StoreConfig {
        let mut store = StoreConfig::default();
        if let Some(path) = raw.path {
            if path.get_ref().trim().is_empty() {
                self.problem(
                    path.span(),
                    "`path` in [store]: must not be empty".to_string(),
                );
            } else {
                store.path = PathBuf::from(path.into_inner());
            }
        }
        if let Some(u) = raw.url {
            match url::Url::parse(u.get_ref()) {
                Ok(parsed) if matches!(parsed.scheme(), "postgres" | "postgresql") => {
                    // Refused rather than ignored: a user who names a database expects the data
                    // to be there, not in a local SQLite file.
                    self.problem(
                        u.span(),
                        "`url` in [store]: PostgreSQL stores are not supported by this version \
                         yet; remove `url` to use the embedded SQLite store in `path`"
                            .to_string(),
                    );
                }
                Ok(_) => self.problem(
                    u.span(),
                    "`url` in [store]: expected a PostgreSQL URL (postgres://user@host/db)"
                        .to_string(),
                ),
                Err(e) => self.problem(u.span(), format!("`url` in [store]: invalid URL: {e}")),
            }
        }
        store.retention = raw
            .retention
            .and_then(|r| self.positive_duration(&r, "`retention` in [store]"));
        store
    }

    fn dedup(&mut self, raw: raw::RawDedup) -> DedupConfig {
        let mut dedup = DedupConfig::default();
        if let Some(w) = raw
            .window
            .and_then(|w| self.positive_duration(&w, "`window` in [dedup]"))
        {
            dedup.window = w;
        }
        if let Some(on) = raw.near_duplicates {
            dedup.near_duplicates = on;
        }
        let mut patterns = Vec::new();
        for p in raw.tracking_params.unwrap_or_default() {
            match crate::dedup::UrlRules::parse(std::slice::from_ref(p.get_ref())) {
                Ok(_) => patterns.push(p.into_inner()),
                Err(e) => self.problem(p.span(), format!("`tracking_params` in [dedup]: {e}")),
            }
        }
        // Every pattern was accepted one by one above, so the whole list parses.
        dedup.url_rules = crate::dedup::UrlRules::parse(&patterns).unwrap_or_default();
        dedup.tracking_params = patterns;
        dedup
    }

    fn fetch(&mut self, raw: raw::RawFetch) -> FetchConfig {
        let mut fetch = FetchConfig::default();
        if let Some(s) = raw
            .schedule
            .and_then(|s| self.schedule(&s, "`schedule` in [fetch]"))
        {
            fetch.schedule = s;
        }
        if let Some(t) = raw
            .timeout
            .and_then(|t| self.positive_duration(&t, "`timeout` in [fetch]"))
        {
            fetch.timeout = t;
        }
        if let Some(size) = raw.max_body {
            let bytes = match size.get_ref() {
                raw::RawSize::Bytes(n) => u64::try_from(*n).map_err(|_| {
                    format!("`max_body` in [fetch]: invalid size {n}: sizes cannot be negative")
                }),
                raw::RawSize::Text(t) => {
                    parse_size(t).map_err(|e| format!("`max_body` in [fetch]: {e}"))
                }
            };
            match bytes {
                Ok(0) => self.problem(
                    size.span(),
                    "`max_body` in [fetch]: must be greater than zero".to_string(),
                ),
                Ok(n) => fetch.max_body = n,
                Err(message) => self.problem(size.span(), message),
            }
        }
        if let Some(n) = raw
            .concurrency
            .and_then(|n| self.at_least_one(&n, "`concurrency` in [fetch]"))
        {
            fetch.concurrency = n;
        }
        if let Some(n) = raw
            .per_host
            .and_then(|n| self.at_least_one(&n, "`per_host` in [fetch]"))
        {
            fetch.per_host = n;
        }
        if let Some(d) = raw
            .host_spacing
            .and_then(|d| self.duration(&d, "`host_spacing` in [fetch]"))
        {
            fetch.host_spacing = d;
        }
        fetch.allow_private = raw.allow_private.unwrap_or(false);
        if let Some(ca) = raw.ca_file {
            if ca.get_ref().trim().is_empty() {
                self.problem(
                    ca.span(),
                    "`ca_file` in [fetch]: must not be empty".to_string(),
                );
            } else {
                // Relative to the config file, like an `include`: the file travels with it.
                let dir = self.path.parent().unwrap_or(Path::new(""));
                fetch.ca_file = Some(dir.join(ca.get_ref()));
            }
        }
        if let Some(ua) = raw
            .user_agent
            .and_then(|ua| self.user_agent(&ua, "`user_agent` in [fetch]"))
        {
            fetch.user_agent = ua;
        }
        fetch
    }

    /// One `[[source]]`; `None` (with problems recorded) if anything in it is invalid.
    fn source(
        &mut self,
        table: Spanned<raw::RawSource>,
        index: usize,
        [name_typo, url_typo]: [bool; 2],
        seen: &mut Seen,
    ) -> Option<SourceConfig> {
        let header = table.span();
        let raw = table.into_inner();
        let before = self.problems.len();
        let label = match &raw.name {
            Some(n) => format!("[[source]] \"{}\"", n.get_ref()),
            None => format!("[[source]] #{}", index + 1),
        };
        let name = self.required(raw.name, "name", &label, header.clone(), name_typo);
        let url = self.required(raw.url, "url", &label, header, url_typo);
        let name = name.and_then(|n| self.source_name(n, seen));
        let url = url.and_then(|u| self.source_url(u, &label, seen));
        let mut tags = Vec::new();
        for tag in raw.tags.unwrap_or_default() {
            let t = tag.get_ref();
            if t.is_empty() || t.chars().any(char::is_whitespace) {
                self.problem(
                    tag.span(),
                    format!("`tags` in {label}: tag \"{t}\" must be one word (no spaces)"),
                );
            } else if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        let schedule = raw
            .schedule
            .and_then(|s| self.schedule(&s, &format!("`schedule` in {label}")));
        let user_agent = raw
            .user_agent
            .and_then(|ua| self.user_agent(&ua, &format!("`user_agent` in {label}")));
        let mut headers = Vec::new();
        for (name, value) in raw.headers.map(|h| h.0).unwrap_or_default() {
            match check_header(name.get_ref(), value.get_ref()) {
                Ok(()) => headers.push((name.into_inner(), value.into_inner())),
                Err(why) => self.problem(name.span(), format!("`headers` in {label}: {why}")),
            }
        }
        let content = raw
            .content
            .and_then(|c| self.content(&c, &format!("`content` in {label}")));
        if self.problems.len() != before {
            return None;
        }
        Some(SourceConfig {
            name: name?,
            url: url?,
            tags,
            schedule,
            user_agent,
            headers,
            allow_private: raw.allow_private,
            content,
        })
    }

    /// Checks a source name and records it; `None` if it is empty or taken.
    fn source_name(&mut self, name: Spanned<String>, seen: &mut Seen) -> Option<String> {
        let text = name.get_ref().trim();
        if text.is_empty() {
            self.problem(
                name.span(),
                "`name` in [[source]]: must not be empty".to_string(),
            );
            return None;
        }
        let key = text.to_lowercase();
        if let Some(first) = seen.source_names.get(&key) {
            self.problem(
                name.span(),
                format!("duplicate source name \"{text}\" (first defined at line {first})"),
            );
            return None;
        }
        let line = line_col(self.text, name.span().start).0;
        seen.source_names.insert(key, line);
        Some(text.to_string())
    }

    /// Checks a source URL and records it; `None` if it is invalid or already used.
    fn source_url(
        &mut self,
        url: Spanned<String>,
        label: &str,
        seen: &mut Seen,
    ) -> Option<url::Url> {
        let parsed = self.http_url(&url, &format!("`url` in {label}"))?;
        if let Some((owner, first)) = seen.source_urls.get(parsed.as_str()) {
            self.problem(
                url.span(),
                format!(
                    "duplicate source URL {} (already used by {owner} at line {first})",
                    crate::redact::url(parsed.as_str())
                ),
            );
            return None;
        }
        let owner = label.strip_prefix("[[source]] ").unwrap_or(label);
        let owner = format!("source {owner}");
        let line = line_col(self.text, url.span().start).0;
        seen.source_urls.insert(parsed.to_string(), (owner, line));
        Some(parsed)
    }

    fn topic(
        &mut self,
        table: Spanned<raw::RawTopic>,
        index: usize,
        typo_reported: [bool; 3],
        seen: &mut Seen,
    ) -> Option<TopicConfig> {
        let header = table.span();
        let raw = table.into_inner();
        let before = self.problems.len();
        let label = match &raw.slug {
            Some(s) => format!("[[topic]] \"{}\"", s.get_ref()),
            None => format!("[[topic]] #{}", index + 1),
        };
        let [slug_typo, title_typo, query_typo] = typo_reported;
        let slug = self.required(raw.slug, "slug", &label, header.clone(), slug_typo);
        let title = self.required(raw.title, "title", &label, header.clone(), title_typo);
        let query = self.required(raw.query, "query", &label, header, query_typo);
        let slug = slug.and_then(|s| {
            let text = s.get_ref();
            if !is_slug(text) {
                self.problem(
                    s.span(),
                    format!(
                        "`slug` in {label}: \"{text}\" must be lower-case letters, digits and dashes, starting with a letter or digit"
                    ),
                );
                return None;
            }
            let line = line_col(self.text, s.span().start).0;
            if let Some(first) = seen.topic_slugs.get(text) {
                self.problem(
                    s.span(),
                    format!("duplicate topic slug \"{text}\" (first defined at line {first})"),
                );
                return None;
            }
            if let Some((owner, first)) = seen.topic_aliases.get(text) {
                self.problem(
                    s.span(),
                    format!(
                        "topic slug \"{text}\" is already an alias of topic \"{owner}\" (line {first})"
                    ),
                );
                return None;
            }
            seen.topic_slugs.insert(text.clone(), line);
            Some(s.into_inner())
        });
        let aliases = self.aliases(raw.aliases, slug.as_deref(), &label, seen);
        let title = title.and_then(|t| {
            if t.get_ref().trim().is_empty() {
                self.problem(t.span(), format!("`title` in {label}: must not be empty"));
                None
            } else {
                Some(t.get_ref().trim().to_string())
            }
        });
        let compiled = query.and_then(|q| {
            self.query(&q, &format!("`query` in {label}"))
                .map(|c| (q.into_inner(), c))
        });
        let exclude = raw.exclude.map(|q| {
            self.query(&q, &format!("`exclude` in {label}"))
                .map(|c| (q.into_inner(), c))
        });
        let limit = match raw.limit {
            Some(n) => self.at_least_one(&n, &format!("`limit` in {label}")),
            None => Some(DEFAULT_TOPIC_LIMIT),
        };
        let max_age = raw
            .max_age
            .and_then(|d| self.positive_duration(&d, &format!("`max_age` in {label}")));
        let content = match raw.content {
            Some(c) => self.content(&c, &format!("`content` in {label}")),
            None => Some(ContentMode::Excerpt),
        };
        let description = match raw.description {
            Some(d) if !d.get_ref().trim().is_empty() => d.get_ref().trim().to_string(),
            _ => title
                .as_deref()
                .map(default_description)
                .unwrap_or_default(),
        };
        if self.problems.len() != before {
            return None;
        }
        let (exclude_text, exclude) = match exclude {
            Some(Some((text, q))) => (Some(text), Some(q)),
            _ => (None, None),
        };
        let (query_text, query) = compiled?;
        Some(TopicConfig {
            slug: slug?,
            title: title?,
            description,
            query_text,
            query,
            exclude_text,
            exclude,
            limit: limit?,
            max_age,
            content: content?,
            aliases,
        })
    }

    /// A topic's `aliases`: each a valid slug, none a topic's slug or another alias, wherever
    /// in the file that one is (slugs check the aliases seen before them, aliases the slugs).
    fn aliases(
        &mut self,
        raw: Option<Vec<Spanned<String>>>,
        slug: Option<&str>,
        label: &str,
        seen: &mut Seen,
    ) -> Vec<String> {
        let mut aliases = Vec::new();
        for alias in raw.unwrap_or_default() {
            let text = alias.get_ref();
            let what = format!("`aliases` in {label}");
            if !is_slug(text) {
                self.problem(
                    alias.span(),
                    format!(
                        "{what}: \"{text}\" must be lower-case letters, digits and dashes, starting with a letter or digit"
                    ),
                );
                continue;
            }
            let line = line_col(self.text, alias.span().start).0;
            if let Some(first) = seen.topic_slugs.get(text) {
                let whose = if slug == Some(text.as_str()) {
                    "this topic's own slug".to_string()
                } else {
                    format!("the slug of a topic (line {first})")
                };
                self.problem(alias.span(), format!("{what}: \"{text}\" is {whose}"));
                continue;
            }
            if let Some((owner, first)) = seen.topic_aliases.get(text) {
                self.problem(
                    alias.span(),
                    format!(
                        "{what}: \"{text}\" is already an alias of topic \"{owner}\" (line {first})"
                    ),
                );
                continue;
            }
            let owner = slug.unwrap_or("?").to_string();
            seen.topic_aliases.insert(text.clone(), (owner, line));
            aliases.push(alias.into_inner());
        }
        aliases
    }

    /// Compiles a query; a parse error is placed on the offending character of the string.
    fn query(&mut self, q: &Spanned<String>, what: &str) -> Option<Query> {
        match Query::parse(q.get_ref()) {
            Ok(query) => Some(query),
            Err(e) => {
                let pos = raw::string_value_position(self.text, q.span(), q.get_ref(), e.offset);
                self.problem(pos..pos + 1, format!("{what}: {}", e.message));
                None
            }
        }
    }

    fn http_url(&mut self, value: &Spanned<String>, what: &str) -> Option<url::Url> {
        let text = value.get_ref();
        let why = match url::Url::parse(text) {
            Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                format!("scheme must be http or https, not {}", u.scheme())
            }
            Ok(u) if u.host_str().is_none_or(str::is_empty) => "a host is required".to_string(),
            Ok(u) => return Some(u),
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                "must be an absolute URL (http:// or https://)".to_string()
            }
            Err(e) => e.to_string(),
        };
        self.problem(
            value.span(),
            format!(
                "{what}: invalid URL \"{}\": {why}",
                crate::redact::url(text)
            ),
        );
        None
    }

    fn duration(&mut self, value: &Spanned<String>, what: &str) -> Option<Duration> {
        match parse_duration(value.get_ref()) {
            Ok(d) => Some(d),
            Err(e) => {
                self.problem(value.span(), format!("{what}: {e}"));
                None
            }
        }
    }

    fn positive_duration(&mut self, value: &Spanned<String>, what: &str) -> Option<Duration> {
        let d = self.duration(value, what)?;
        if d.is_zero() {
            self.problem(value.span(), format!("{what}: must be greater than zero"));
            return None;
        }
        Some(d)
    }

    fn schedule(&mut self, value: &Spanned<String>, what: &str) -> Option<Schedule> {
        match Schedule::parse(value.get_ref()) {
            Ok(s) => Some(s),
            Err(e) => {
                let pos = match e.offset() {
                    Some(at) => {
                        raw::string_value_position(self.text, value.span(), value.get_ref(), at)
                    }
                    None => value.span().start,
                };
                self.problem(pos..pos + 1, format!("{what}: {e}"));
                None
            }
        }
    }

    fn at_least_one(&mut self, value: &Spanned<i64>, what: &str) -> Option<usize> {
        match usize::try_from(*value.get_ref()) {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                self.problem(
                    value.span(),
                    format!("{what}: must be at least 1, not {}", value.get_ref()),
                );
                None
            }
        }
    }

    fn user_agent(&mut self, value: &Spanned<String>, what: &str) -> Option<String> {
        let ua = value
            .get_ref()
            .trim()
            .replace("VERSION", env!("CARGO_PKG_VERSION"));
        if ua.is_empty() {
            self.problem(value.span(), format!("{what}: must not be empty"));
            return None;
        }
        if let Err(why) = check_header("User-Agent", &ua) {
            self.problem(value.span(), format!("{what}: {why}"));
            return None;
        }
        Some(ua)
    }

    fn content(&mut self, value: &Spanned<String>, what: &str) -> Option<ContentMode> {
        match value.get_ref().as_str() {
            "excerpt" => Some(ContentMode::Excerpt),
            "full" => Some(ContentMode::Full),
            other => {
                self.problem(
                    value.span(),
                    format!("{what}: \"{other}\" is not \"excerpt\" or \"full\""),
                );
                None
            }
        }
    }
}

/// Headers the fetcher sets itself: configuring them would break conditional GET, the
/// connection, or duplicate `user_agent`.
const RESERVED_HEADERS: [&str; 8] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "if-none-match",
    "if-modified-since",
    "user-agent",
    "accept-encoding",
];

/// A header name must be an RFC 9110 token and the value visible ASCII or spaces/tabs (what
/// the HTTP client will accept), so a bad header fails at `check`, not on every fetch.
fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(format!("\"{name}\" is not a valid header name"));
    }
    if name != "User-Agent" && RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "header \"{name}\" is set by feedmill and cannot be configured"
        ));
    }
    if !value.chars().all(|c| c == '\t' || (' '..='~').contains(&c)) {
        return Err(format!(
            "the value of \"{name}\" must be printable ASCII (no control characters or line breaks)"
        ));
    }
    Ok(())
}

/// `[a-z0-9][a-z0-9-]*`: safe in a URL path and a file name without escaping.
fn is_slug(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The description of a topic that has none: a sentence built from its title.
fn default_description(title: &str) -> String {
    format!("{title}: stories from every source, collected by feedmill.")
}

/// 1-based line and character column of byte `pos` in `text` (clamped to the text).
fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(text.len());
    while !text.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &text[..pos];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "feeds.toml";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new(PATH), text)
    }

    /// The diagnostics of an invalid config, as `check` prints them.
    fn errors(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(_) => panic!("expected errors in:\n{text}"),
            Err(ConfigError::Invalid(d)) => d.iter().map(ToString::to_string).collect(),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }

    /// A minimal valid source, to build configs around.
    const SOURCE_A: &str = "[[source]]\nname = \"A\"\nurl = \"https://a.example/feed\"\n";

    #[test]
    fn parse_accepts_shipped_feeds_toml_when_unchanged() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/feeds.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let config = match Config::parse(Path::new(path), &text) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(config.server.listen, "127.0.0.1:8080");
        assert_eq!(config.server.base_url_str(), "http://localhost:8080");
        assert_eq!(config.store.path, PathBuf::from("store"));
        assert_eq!(
            config.store.retention,
            Some(Duration::from_secs(180 * 86400))
        );
        assert_eq!(config.fetch, FetchConfig::default());
        let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), 9, "{names:?}");
        assert!(names.contains(&"Kloop") && names.contains(&"BBC Asia"));
        let crisis = config.source("Crisis Group").unwrap();
        assert_eq!(
            crisis.schedule,
            Some(Schedule::Cron("0 0 */2 * * *".to_string()))
        );
        let google = config.source("Google News: Central Asia security").unwrap();
        assert_eq!(google.url.host_str(), Some("news.google.com"));
        assert!(
            google
                .url
                .query()
                .unwrap()
                .contains("Kyrgyzstan+OR+Kazakhstan")
        );
        let slugs: Vec<&str> = config.topics.iter().map(|t| t.slug.as_str()).collect();
        assert_eq!(
            slugs,
            ["central-asia-security", "xinjiang", "central-asia-trade"]
        );
        let security = config.topic("central-asia-security").unwrap();
        assert_eq!(security.limit, 50);
        assert_eq!(security.content, ContentMode::Excerpt);
        assert!(security.query_text.starts_with("(\n  \"central asia\""));
        assert!(security.query_text.contains("karakalpak*"));
    }

    #[test]
    fn parse_fills_defaults_when_file_is_empty() {
        let config = parse("").unwrap();
        assert_eq!(config.server, ServerConfig::default());
        assert_eq!(config.server.listen, "127.0.0.1:8080");
        assert_eq!(config.server.base_url_str(), "http://localhost:8080");
        assert_eq!(config.store, StoreConfig::default());
        let fetch = &config.fetch;
        assert_eq!(fetch.schedule, Schedule::Every(Duration::from_secs(900)));
        assert_eq!(fetch.timeout, Duration::from_secs(30));
        assert_eq!(fetch.max_body, 16 * 1024 * 1024);
        assert_eq!((fetch.concurrency, fetch.per_host), (16, 2));
        assert_eq!(fetch.host_spacing, Duration::from_secs(1));
        assert!(!fetch.allow_private);
        assert_eq!(
            fetch.user_agent,
            format!(
                "feedmill/{} (+https://github.com/feedmill/feedmill)",
                env!("CARGO_PKG_VERSION")
            )
        );
        assert!(config.sources.is_empty() && config.topics.is_empty());
    }

    #[test]
    fn parse_reports_unknown_key_with_suggestion_when_key_is_misspelt() {
        let text =
            format!("{SOURCE_A}\n[[source]]\nnmae = \"B\"\nurl = \"https://b.example/feed\"\n");
        // The likely typo explains the missing `name`: no second message for it.
        assert_eq!(
            errors(&text),
            ["feeds.toml:6:1: unknown key `nmae` in [[source]] (did you mean `name`?)"]
        );
    }

    #[test]
    fn parse_reports_missing_key_when_no_typo_explains_it() {
        let text = "[[source]]\nurl = \"https://b.example/feed\"\n[[topic]]\nslug = \"t\"\n";
        assert_eq!(
            errors(text),
            [
                "feeds.toml:1:1: missing required key `name` in [[source]] #1",
                "feeds.toml:3:1: missing required key `title` in [[topic]] \"t\"",
                "feeds.toml:3:1: missing required key `query` in [[topic]] \"t\"",
            ]
        );
    }

    #[test]
    fn parse_reports_duplicate_when_source_name_repeats() {
        let text =
            format!("{SOURCE_A}\n[[source]]\nname = \"a\"\nurl = \"https://b.example/feed\"\n");
        assert_eq!(
            errors(&text),
            ["feeds.toml:6:8: duplicate source name \"a\" (first defined at line 2)"]
        );
    }

    #[test]
    fn parse_reports_duplicate_when_source_url_repeats() {
        let text =
            format!("{SOURCE_A}\n[[source]]\nname = \"B\"\nurl = \"https://A.example/feed\"\n");
        assert_eq!(
            errors(&text),
            [
                "feeds.toml:7:7: duplicate source URL https://a.example/feed (already used by source \"A\" at line 3)"
            ]
        );
    }

    #[test]
    fn parse_reports_field_when_cron_minute_is_out_of_range() {
        let text = format!("[fetch]\nschedule = \"15m\"\n\n{SOURCE_A}schedule = \"61 * * * *\"\n");
        assert_eq!(
            errors(&text),
            [
                "feeds.toml:7:13: `schedule` in [[source]] \"A\": invalid cron expression \"61 * * * *\": minute field \"61\": number out of bounds (allowed: 0-59)"
            ]
        );
    }

    #[test]
    fn parse_reports_field_count_when_cron_has_four_fields() {
        assert_eq!(
            errors("[fetch]\nschedule = \"*/5 * * *\"\n"),
            [
                "feeds.toml:2:12: `schedule` in [fetch]: invalid schedule \"*/5 * * *\": a cron expression has 5 or 6 fields, not 4 (and this is not a duration)"
            ]
        );
    }

    #[test]
    fn parse_stores_six_fields_when_cron_has_five() {
        let config = parse("[fetch]\nschedule = \"*/10 * * * *\"\n").unwrap();
        assert_eq!(
            config.fetch.schedule,
            Schedule::Cron("0 */10 * * * *".to_string())
        );
        assert_eq!(
            config.fetch.schedule.nominal_period(),
            Duration::from_secs(600)
        );
    }

    #[test]
    fn parse_points_at_character_when_query_in_literal_multiline_string_is_unbalanced() {
        let text = "[[topic]]\nslug = \"t\"\ntitle = \"T\"\nquery = '''\n(kazakh* OR kyrgyz*)\n  AND security) OR police\n'''\n";
        // The stray `)` is on line 6, column 15.
        let value = "(kazakh* OR kyrgyz*)\n  AND security) OR police\n";
        let err = Query::parse(value).unwrap_err();
        assert_eq!(&value[err.offset..err.offset + 1], ")");
        assert_eq!(
            errors(text),
            [format!(
                "feeds.toml:6:15: `query` in [[topic]] \"t\": {}",
                err.message
            )]
        );
    }

    #[test]
    fn parse_points_at_character_when_file_has_crlf_line_endings() {
        let text = "[[topic]]\r\nslug = \"t\"\r\ntitle = \"T\"\r\nquery = '''\r\n(kazakh* OR kyrgyz*)\r\n  AND security) OR police\r\n'''\r\n";
        let all = errors(text);
        assert_eq!(all.len(), 1, "{all:?}");
        assert!(all[0].starts_with("feeds.toml:6:15: "), "{all:?}");
    }

    #[test]
    fn parse_maps_query_offset_when_string_is_basic_with_escapes() {
        let text =
            "[[topic]]\nslug = \"t\"\ntitle = \"T\"\nquery = \"\\\"central asia\\\" AND (x\"\n";
        let value = "\"central asia\" AND (x";
        let err = Query::parse(value).unwrap_err();
        // Column of the value's first character is 10; each escaped quote before the
        // offending character adds one backslash.
        let escapes = value[..err.offset].matches('"').count();
        let col = 10 + value[..err.offset].chars().count() + escapes;
        assert_eq!(
            errors(text),
            [format!(
                "feeds.toml:4:{col}: `query` in [[topic]] \"t\": {}",
                err.message
            )]
        );
    }

    #[test]
    fn parse_reports_unit_when_duration_is_bad() {
        assert_eq!(
            errors("[fetch]\ntimeout = \"30x\"\n"),
            [
                "feeds.toml:2:11: `timeout` in [fetch]: invalid duration \"30x\": unknown unit `x` (use ms, s, m, h, d or w)"
            ]
        );
        assert_eq!(
            errors("[fetch]\ntimeout = \"0s\"\n"),
            ["feeds.toml:2:11: `timeout` in [fetch]: must be greater than zero"]
        );
    }

    #[test]
    fn parse_reads_dedup_table_when_set() {
        let text = format!(
            "[dedup]\nwindow = \"2d\"\nnear_duplicates = false\ntracking_params = [\"cid\", \"at_*\"]\n{SOURCE_A}"
        );
        let config = parse(&text).unwrap();
        assert_eq!(config.dedup.window, Duration::from_secs(2 * 86400));
        assert!(!config.dedup.near_duplicates);
        assert_eq!(config.dedup.tracking_params, ["cid", "at_*"]);
        assert_eq!(
            crate::dedup::canonical_url_with(
                "https://x.org/a?cid=1&at_medium=2&p=3",
                &config.dedup.url_rules
            )
            .as_deref(),
            Some("x.org/a?p=3")
        );
        let defaults = parse(SOURCE_A).unwrap();
        assert_eq!(defaults.dedup, DedupConfig::default());
    }

    #[test]
    fn parse_reports_dedup_problems_when_values_are_bad() {
        assert_eq!(
            errors("[dedup]\nwindow = \"0s\"\ntracking_params = [\"ok\", \"*\"]\nwindw = 1\n"),
            [
                "feeds.toml:2:10: `window` in [dedup]: must be greater than zero",
                "feeds.toml:3:26: `tracking_params` in [dedup]: tracking parameter pattern \"*\" is empty or matches every parameter; name one parameter (`ref`) or a prefix (`at_*`)",
                "feeds.toml:4:1: unknown key `windw` in [dedup] (did you mean `window`?)",
            ]
        );
    }

    #[test]
    fn parse_reports_url_when_not_absolute_http() {
        let text = "[[source]]\nname = \"A\"\nurl = \"example.org/feed\"\n\n[server]\nbase_url = \"ftp://example.org\"\n";
        assert_eq!(
            errors(text),
            [
                "feeds.toml:3:7: `url` in [[source]] \"A\": invalid URL \"example.org/feed\": must be an absolute URL (http:// or https://)",
                "feeds.toml:6:12: `base_url` in [server]: invalid URL \"ftp://example.org\": scheme must be http or https, not ftp",
            ]
        );
    }

    #[test]
    fn parse_reports_every_problem_when_there_are_several() {
        let text = "\
[server]
listen = \"localhost\"
bsae_url = \"http://x\"

[fetch]
concurrency = 0
per_host = \"2\"
max_body = \"16 MB\"
host_spacing = \"1 sec\"

[[source]]
name = \"A\"
url = \"https://a.example/feed\"
tags = [\"two words\"]
content = \"Full\"

[[source]]
name = \"A\"
url = \"https://a.example/other\"

[[topic]]
slug = \"Bad Slug\"
title = \"T\"
query = 'x'
limit = -1

[[topic]]
slug = \"ok\"
title = \"Ok\"
query = '((x)'
";
        let all = errors(text);
        let expected = [
            "feeds.toml:2:10: `listen` in [server]: invalid listen address \"localhost\": expected host:port, e.g. \"127.0.0.1:8080\"",
            "feeds.toml:3:1: unknown key `bsae_url` in [server] (did you mean `base_url`?)",
            "feeds.toml:6:15: `concurrency` in [fetch]: must be at least 1, not 0",
            "feeds.toml:7:12: `per_host` in [fetch]: invalid type: string \"2\", expected an integer",
            "feeds.toml:9:16: `host_spacing` in [fetch]: invalid duration \"1 sec\": unknown unit `sec` (use ms, s, m, h, d or w)",
            "feeds.toml:14:9: `tags` in [[source]] \"A\": tag \"two words\" must be one word (no spaces)",
            "feeds.toml:15:11: `content` in [[source]] \"A\": \"Full\" is not \"excerpt\" or \"full\"",
            "feeds.toml:18:8: duplicate source name \"A\" (first defined at line 12)",
            "feeds.toml:22:8: `slug` in [[topic]] \"Bad Slug\": \"Bad Slug\" must be lower-case letters, digits and dashes, starting with a letter or digit",
            "feeds.toml:25:9: `limit` in [[topic]] \"Bad Slug\": must be at least 1, not -1",
        ];
        assert_eq!(all[..expected.len()], expected, "{all:#?}");
        // The unbalanced query of the last topic, wherever the parser places it.
        assert_eq!(all.len(), expected.len() + 1, "{all:#?}");
        assert!(
            all[expected.len()].starts_with("feeds.toml:30:"),
            "{all:#?}"
        );
        // max_body "16 MB" is fine: not reported.
        assert!(!all.iter().any(|d| d.contains("max_body")));
    }

    #[test]
    fn parse_reports_syntax_error_with_position_when_toml_is_malformed() {
        let all = errors("[server]\nlisten = 127.0.0.1:8080\n");
        assert_eq!(all.len(), 1, "{all:?}");
        assert!(all[0].starts_with("feeds.toml:2:"), "{all:?}");
        assert!(all[0].contains("invalid TOML: "), "{all:?}");
    }

    #[test]
    fn parse_counts_columns_in_characters_when_line_has_multibyte_text() {
        let text = "[[source]]\nname = \"Ä\"\nurl = \"https://a.example/feed\"\n[[source]]\nname = \"ü\"\nurl = \"https://a.example/feed\" \ntags = [\"é\", \"ö ö\"]\n";
        assert_eq!(
            errors(text)[1],
            "feeds.toml:7:14: `tags` in [[source]] \"ü\": tag \"ö ö\" must be one word (no spaces)"
        );
        assert_eq!(line_col("ä\nöü x", "ä\nöü ".len()), (2, 4));
    }

    #[test]
    fn parse_builds_topic_and_source_fields_when_all_keys_are_set() {
        let text = "\
[server]
listen = \"[::1]:0\"
base_url = \"https://example.org/feeds/\"
trust_proxy = true
admin_token = \"s3cret\"

[store]
path = \"/var/lib/feedmill\"

[fetch]
max_body = 2048
ca_file = \"certs/extra.pem\"
user_agent = \"mybot/VERSION\"
allow_private = true

[[source]]
name = \"A\"
url = \"https://a.example/feed\"
tags = [\"x\", \"y\", \"x\"]
schedule = \"1h30m\"
user_agent = \"other\"
headers = { \"Accept-Language\" = \"en\", Cookie = \"a=b\" }
allow_private = false
content = \"full\"

[[topic]]
slug = \"t-1\"
title = \"Topic one\"
query = 'x'
exclude = 'y'
limit = 5
max_age = \"14d\"
content = \"full\"
";
        let config = Config::parse(Path::new("/etc/feedmill/feeds.toml"), text).unwrap();
        assert_eq!(config.server.listen, "[::1]:0");
        assert_eq!(config.server.base_url_str(), "https://example.org/feeds");
        assert!(config.server.trust_proxy);
        assert_eq!(config.server.admin_token.as_deref(), Some("s3cret"));
        assert_eq!(config.store.path, PathBuf::from("/var/lib/feedmill"));
        assert_eq!(config.fetch.max_body, 2048);
        assert!(config.fetch.allow_private);
        assert_eq!(
            config.fetch.ca_file,
            Some(PathBuf::from("/etc/feedmill/certs/extra.pem"))
        );
        assert_eq!(
            config.fetch.user_agent,
            format!("mybot/{}", env!("CARGO_PKG_VERSION"))
        );
        let a = config.source("A").unwrap();
        assert_eq!(a.tags, ["x", "y"]);
        assert_eq!(a.schedule, Some(Schedule::Every(Duration::from_secs(5400))));
        assert_eq!(
            config.schedule_of(a),
            &Schedule::Every(Duration::from_secs(5400))
        );
        assert_eq!(config.user_agent_of(a), "other");
        assert!(!config.allow_private_of(a));
        assert_eq!(
            a.headers,
            [
                ("Accept-Language".to_string(), "en".to_string()),
                ("Cookie".to_string(), "a=b".to_string())
            ]
        );
        assert_eq!(a.content, Some(ContentMode::Full));
        let t = config.topic("t-1").unwrap();
        assert_eq!(
            t.description,
            "Topic one: stories from every source, collected by feedmill."
        );
        assert_eq!(t.exclude_text.as_deref(), Some("y"));
        assert!(t.exclude.is_some());
        assert_eq!((t.limit, t.content), (5, ContentMode::Full));
        assert_eq!(t.max_age, Some(Duration::from_secs(14 * 86400)));
        assert!(config.topic("nope").is_none() && config.source("a").is_none());
    }

    #[test]
    fn parse_keeps_topic_aliases_when_they_name_no_other_topic() {
        let text = "[[topic]]\nslug = \"asia\"\ntitle = \"Asia\"\nquery = 'x'\naliases = [\"old-asia\", \"asia-2019\"]\n\n[[topic]]\nslug = \"europe\"\ntitle = \"Europe\"\nquery = 'y'\n";
        let config = parse(text).expect("valid");
        assert_eq!(
            config.topic("asia").map(|t| t.aliases.clone()),
            Some(vec!["old-asia".to_string(), "asia-2019".to_string()])
        );
        assert_eq!(
            config.topic_by_alias("asia-2019").map(|t| t.slug.as_str()),
            Some("asia")
        );
        assert!(config.topic_by_alias("asia").is_none());
        assert!(config.topic("europe").is_some_and(|t| t.aliases.is_empty()));
    }

    #[test]
    fn parse_rejects_alias_when_it_clashes_with_a_slug_or_another_alias() {
        let text = "\
[[topic]]
slug = \"asia\"
title = \"Asia\"
query = 'x'
aliases = [\"asia\", \"europe\", \"Old Asia\", \"east\"]

[[topic]]
slug = \"europe\"
title = \"Europe\"
query = 'y'
aliases = [\"east\"]

[[topic]]
slug = \"east\"
title = \"East\"
query = 'z'
";
        assert_eq!(
            errors(text),
            [
                "feeds.toml:5:12: `aliases` in [[topic]] \"asia\": \"asia\" is this topic's own slug",
                "feeds.toml:5:30: `aliases` in [[topic]] \"asia\": \"Old Asia\" must be lower-case letters, digits and dashes, starting with a letter or digit",
                "feeds.toml:8:8: topic slug \"europe\" is already an alias of topic \"asia\" (line 5)",
                "feeds.toml:11:12: `aliases` in [[topic]] \"europe\": \"east\" is already an alias of topic \"asia\" (line 5)",
                "feeds.toml:14:8: topic slug \"east\" is already an alias of topic \"asia\" (line 5)",
            ]
        );
        let later_alias = "[[topic]]\nslug = \"asia\"\ntitle = \"Asia\"\nquery = 'x'\n\n[[topic]]\nslug = \"europe\"\ntitle = \"Europe\"\nquery = 'y'\naliases = [\"asia\"]\n";
        assert_eq!(
            errors(later_alias),
            [
                "feeds.toml:10:12: `aliases` in [[topic]] \"europe\": \"asia\" is the slug of a topic (line 2)"
            ]
        );
    }

    #[test]
    fn parse_rejects_reserved_header_when_fetcher_sets_it() {
        let text = format!("{SOURCE_A}headers = {{ \"If-None-Match\" = \"x\" }}\n");
        assert_eq!(
            errors(&text),
            [
                "feeds.toml:4:13: `headers` in [[source]] \"A\": header \"If-None-Match\" is set by feedmill and cannot be configured"
            ]
        );
    }

    #[test]
    fn parse_reports_duplicate_when_topic_slug_repeats() {
        let topic = "[[topic]]\nslug = \"t\"\ntitle = \"T\"\nquery = 'x'\n";
        assert_eq!(
            errors(&format!("{topic}{topic}")),
            ["feeds.toml:6:8: duplicate topic slug \"t\" (first defined at line 2)"]
        );
    }

    #[test]
    fn with_overrides_replaces_store_and_listen_when_given() {
        let config = parse("[store]\npath = \"data\"\n").unwrap();
        let same = config.clone().with_overrides(None, None);
        assert_eq!(same.store.path, PathBuf::from("data"));
        assert_eq!(same.server.listen, "127.0.0.1:8080");
        let over = config.with_overrides(
            Some(PathBuf::from("/store")),
            Some("0.0.0.0:8080".to_string()),
        );
        assert_eq!(over.store.path, PathBuf::from("/store"));
        assert_eq!(over.server.listen, "0.0.0.0:8080");
    }

    #[test]
    fn check_listen_accepts_socket_or_host_port_when_well_formed() {
        for ok in [
            "127.0.0.1:8080",
            "0.0.0.0:0",
            "[::1]:8080",
            "localhost:8080",
            "feedmill.internal:80",
        ] {
            assert_eq!(check_listen(ok), Ok(()), "{ok}");
        }
        for bad in [
            "localhost",
            ":8080",
            "host:99999",
            "::1:8080",
            "a b:80",
            "-x:80",
        ] {
            assert!(check_listen(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn load_makes_store_path_absolute_when_relative() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feeds.toml");
        std::fs::write(&path, "[store]\npath = \"data\"\n").unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.path, path);
        if std::env::var_os("FEEDMILL_STORE").is_none() {
            assert!(config.store.path.is_absolute(), "{:?}", config.store.path);
            assert!(config.store.path.ends_with("data"));
        }
    }

    #[test]
    fn load_reports_ca_file_at_its_line_when_file_is_missing_or_not_pem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feeds.toml");
        std::fs::write(
            &path,
            "[fetch]\nschedule = \"15m\"\n  ca_file = \"nope.pem\"\n",
        )
        .unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        let missing = format!(
            "{}:3:13: `ca_file` in [fetch]: cannot read ca_file ",
            path.display()
        );
        assert!(err.starts_with(&missing), "{err}");
        std::fs::write(dir.path().join("nope.pem"), "garbage").unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(
            err.contains(":3:13: `ca_file` in [fetch]: invalid ca_file "),
            "{err}"
        );
    }

    #[test]
    fn load_reports_path_when_file_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.toml");
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("failed to read config {}: ", path.display())),
            "{err}"
        );
    }

    #[test]
    fn config_error_displays_one_diagnostic_per_line_when_invalid() {
        let err = parse("[fetch]\ntimeout = \"x\"\nconcurrency = 0\n").unwrap_err();
        let text = err.to_string();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.lines().all(|l| l.starts_with("feeds.toml:")), "{text}");
    }

    #[test]
    fn warnings_are_empty_when_admin_token_is_set() {
        // /sources, /sources/errors.atom and /metrics act on it: nothing to warn about.
        let config = Config::parse(
            Path::new("feeds.toml"),
            "[server]\nadmin_token = \"s3cret\"\n",
        )
        .unwrap();
        assert!(config.warnings().is_empty(), "{:?}", config.warnings());
    }

    #[test]
    fn duplicate_source_url_message_hides_credentials_when_the_url_has_them() {
        let text = "[[source]]\nname = \"a\"\nurl = \"https://u:pw@x.example/f?token=t\"\n\
[[source]]\nname = \"b\"\nurl = \"https://u:pw@x.example/f?token=t\"\n";
        let message = errors(text).join("\n");
        assert!(message.contains("duplicate source URL"), "{message}");
        assert!(
            !message.contains("pw") && !message.contains("token=t"),
            "{message}"
        );
    }
}
