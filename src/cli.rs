//! Command-line definitions and the commands other than `serve`'s wiring. Data goes to
//! stdout; logs and progress go to stderr.

mod sources;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use chrono::Utc;
use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::app::App;
use crate::catalog::Catalog;
use crate::config::{Config, ConfigError};
use crate::pipeline::{Outcome, Pipeline, SourceReport};
use crate::publish::Format;
use crate::store::Store;

pub use sources::OpmlCommand;

#[derive(Debug, Parser)]
#[command(
    name = "feedmill",
    version,
    about = "Fetch feeds, deduplicate stories, publish topic feeds"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        env = "FEEDMILL_CONFIG",
        default_value = "feeds.toml"
    )]
    pub config: PathBuf,
    /// Store directory (overrides `[store] path` and FEEDMILL_STORE).
    #[arg(long, global = true)]
    pub store: Option<PathBuf>,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors in the log.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log line format on stderr: text, or one JSON object per line (for containers).
    #[arg(
        long,
        global = true,
        value_enum,
        env = "FEEDMILL_LOG_FORMAT",
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Rss,
    Atom,
    Json,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Rss => Format::Rss,
            FormatArg::Atom => Format::Atom,
            FormatArg::Json => Format::Json,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the scheduler and the HTTP server until SIGINT/SIGTERM.
    Serve,
    /// Fetch all (or the named) sources once now and print a summary.
    Fetch {
        /// Only this source (repeatable).
        #[arg(long = "source", value_name = "NAME")]
        sources: Vec<String>,
    },
    /// Validate the configuration; with a store present, count each topic's matches.
    Check,
    /// Write a topic feed to stdout (or a file).
    Render {
        slug: String,
        #[arg(long, value_enum, default_value_t = FormatArg::Atom)]
        format: FormatArg,
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Exit 0 if the local server answers /healthz (for container health checks).
    Healthcheck,
    /// Write a consistent copy of the store to FILE, also while `serve` runs (SQLite
    /// `VACUUM INTO`); never overwrites an existing file.
    Backup {
        /// The new file to write (must not exist).
        file: PathBuf,
    },
    /// Run a query over the stored articles: matches newest first, with what matched.
    Search {
        /// A query in the topic query language, e.g. 'kyrgyz* AND border*'.
        query: String,
        /// Show at most this many matches.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Add a source to feeds.toml: the URL of a feed, or of a page whose feed is discovered.
    Add {
        url: String,
        /// The source's name (default: the feed's title).
        #[arg(long)]
        name: Option<String>,
        /// A tag for the source (repeatable).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// Import sources from, or export them to, OPML (feed readers' subscription lists).
    Opml {
        #[command(subcommand)]
        action: OpmlCommand,
    },
}

/// Logs go to stderr; `RUST_LOG` wins over -v/-q.
pub fn init_logging(cli: &Cli) {
    // The scheduler crate logs every job it creates at INFO: keep it to warnings.
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "warn",
        (false, 0) => "info,tokio_cron_scheduler=warn",
        (false, 1) => "info,feedmill=debug,tokio_cron_scheduler=warn",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match cli.log_format {
        LogFormat::Text => builder.init(),
        // Fields at the top level of each object, as log collectors index them.
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// Run the command; the exit code follows DESIGN §4 (1: failure, 2: invalid config).
pub async fn run(cli: Cli) -> ExitCode {
    if let (Command::Healthcheck, Ok(listen)) = (&cli.command, std::env::var("FEEDMILL_LISTEN"))
        && !listen.is_empty()
    {
        // The container's probe: it must not depend on feeds.toml being valid, since a
        // running daemon keeps serving on its last good configuration after a bad edit.
        return match healthcheck(&listen).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {}", chain_message(&e));
                ExitCode::FAILURE
            }
        };
    }
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve => serve(config, cli.store.clone()).await,
        Command::Fetch { sources } => fetch(config, &sources).await,
        Command::Check => check(&cli.config, config).await,
        Command::Render {
            slug,
            format,
            output,
        } => render(config, &slug, format.into(), output.as_deref()).await,
        Command::Healthcheck => healthcheck(&config.server.listen).await,
        Command::Backup { file } => backup(config, &file).await,
        Command::Search { query, limit } => search(config, &query, limit).await,
        Command::Add { url, name, tags } => {
            sources::add(&cli.config, config, &url, name.as_deref(), &tags).await
        }
        Command::Opml { action } => match action {
            OpmlCommand::Import { file } => sources::opml_import(&cli.config, config, &file),
            OpmlCommand::Export => sources::opml_export(&config),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", chain_message(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each cause once: our error messages already name
/// their cause (`failed to listen on ADDR: Address in use`), so a cause whose text is part
/// of the message so far is not repeated.
fn chain_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

fn load_config(cli: &Cli) -> Result<Config, ConfigError> {
    Ok(Config::load(&cli.config)?.with_overrides(cli.store.clone(), None))
}

async fn serve(config: Config, store: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let app = App::build(config).await?.with_store_override(store);
    app.run_until(shutdown_signal(), true).await?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

async fn open_pipeline(config: Config) -> anyhow::Result<Arc<Pipeline>> {
    let config = Arc::new(config);
    let store = Store::open(&config.store.path).await?;
    let pipeline = Arc::new(Pipeline::build(config, store)?);
    pipeline.sync(Utc::now()).await?;
    Ok(pipeline)
}

async fn fetch(config: Config, names: &[String]) -> anyhow::Result<ExitCode> {
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| config.source(n).is_none())
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
        let unknown: Vec<String> = unknown.iter().map(|n| format!("{n:?}")).collect();
        anyhow::bail!(
            "no source named {} in {} (sources: {})",
            unknown.join(", "),
            config.path.display(),
            known.join(", ")
        );
    }
    let sources: Vec<_> = config
        .sources
        .iter()
        .filter(|s| names.is_empty() || names.contains(&s.name))
        .cloned()
        .collect();
    let pipeline = open_pipeline(config).await?;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(sources.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} fetching [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("sources");
    let reports = pipeline.refresh_many(&sources, Utc::now(), |r| {
        bar.set_message(r.source.clone());
        bar.inc(1);
    });
    // Fetching happens inside refresh_many; the bar ticks as sources are recorded.
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let reports = reports.await;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    print_reports(&mut out, &reports)?;
    pipeline.store().close().await;
    // A skip (gone, or an unexpired Retry-After) is not a failure.
    let failed = reports.iter().any(|r| r.outcome.is_failure());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The per-source summary of `feedmill fetch`.
pub fn print_reports(out: &mut impl Write, reports: &[SourceReport]) -> std::io::Result<()> {
    let width = reports
        .iter()
        .map(|r| r.source.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    writeln!(
        out,
        "{:<width$}  {:<12}  {:>4}  {:>5}  {:>4}  {:>7}  {:>7}",
        "SOURCE", "RESULT", "HTTP", "ITEMS", "NEW", "UPDATED", "MS"
    )?;
    for r in reports {
        let status = r
            .http_status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into());
        writeln!(
            out,
            "{:<width$}  {:<12}  {:>4}  {:>5}  {:>4}  {:>7}  {:>7}",
            r.source,
            r.outcome.as_str(),
            status,
            r.items_seen,
            r.items_new,
            r.items_updated,
            r.elapsed_ms
        )?;
        if let Some(err) = &r.error {
            let label = if r.outcome == Outcome::Skipped {
                "skipped"
            } else {
                "error"
            };
            writeln!(out, "{:<width$}  {label}: {err}", "")?;
        }
        if r.outcome.is_failure() {
            let next = match r.next_attempt.at {
                Some(at) => format!(
                    "next attempt {} ({})",
                    at.format("%Y-%m-%d %H:%M:%S UTC"),
                    r.next_attempt.reason
                ),
                None => "not fetched again until its url changes in feeds.toml".to_owned(),
            };
            let failures = match r.consecutive_failures {
                1 => "1 failure".to_owned(),
                n => format!("{n} failures"),
            };
            writeln!(out, "{:<width$}  {failures} in a row; {next}", "")?;
        }
    }
    let count = |o: Outcome| reports.iter().filter(|r| r.outcome == o).count();
    let failed = reports.iter().filter(|r| r.outcome.is_failure()).count();
    let new: usize = reports.iter().map(|r| r.items_new).sum();
    writeln!(
        out,
        "{} sources, {} failed, {} skipped, {} new articles",
        reports.len(),
        failed,
        count(Outcome::Skipped),
        new
    )
}

async fn check(path: &Path, config: Config) -> anyhow::Result<ExitCode> {
    println!(
        "{}: ok ({}, {})",
        path.display(),
        plural(config.sources.len(), "source"),
        plural(config.topics.len(), "topic")
    );
    for warning in config.warnings() {
        eprintln!("warning: {warning}");
    }
    let db = config.store.path.join(crate::store::DB_FILE);
    if !db.exists() {
        return Ok(ExitCode::SUCCESS);
    }
    let store = Store::open(&config.store.path).await?;
    let pipeline_topics = crate::pipeline::TopicSet::new(&config);
    let mut counts = vec![0u64; config.topics.len()];
    let mut total = 0u64;
    let mut after = 0;
    loop {
        let page = store.documents(after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.article_id;
        for doc in &page {
            total += 1;
            let view = doc.document(pipeline_topics.tags(&doc.source));
            for (i, excluded) in pipeline_topics.memberships(&view) {
                if !excluded {
                    counts[i] += 1;
                }
            }
        }
    }
    println!("store {}: {total} articles", db.display());
    for (topic, n) in config.topics.iter().zip(counts) {
        println!("  {:<32} {n} matching articles", topic.slug);
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// "1 topic", "3 topics".
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Commands that only read the store refuse to create an empty one where a mistyped or
/// relative `[store] path` points.
fn existing_store(config: &Config) -> anyhow::Result<()> {
    let db = config.store.path.join(crate::store::DB_FILE);
    if db.exists() {
        return Ok(());
    }
    anyhow::bail!(
        "no store at {}: run `feedmill fetch` or `feedmill serve` first ([store] path is \
         relative to the directory feedmill runs in; --store or FEEDMILL_STORE override it)",
        db.display()
    )
}

async fn render(
    config: Config,
    slug: &str,
    format: Format,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    // A former slug (`aliases`) names its topic, as the server's 301 does.
    let Some(slug) = config
        .topic(slug)
        .or_else(|| config.topic_by_alias(slug))
        .map(|t| t.slug.clone())
    else {
        let known: Vec<&str> = config.topics.iter().map(|t| t.slug.as_str()).collect();
        anyhow::bail!(
            "no topic {slug:?} in {} (topics: {})",
            config.path.display(),
            known.join(", ")
        );
    };
    let slug = slug.as_str();
    existing_store(&config)?;
    let pipeline = open_pipeline(config).await?;
    let catalog = Catalog::new(pipeline.store().clone(), pipeline.config().clone());
    catalog.refresh_versions().await?;
    let rendered = catalog.rendered(slug, format, Utc::now()).await?;
    match output {
        Some(path) => std::fs::write(path, &rendered.body)
            .map_err(|e| anyhow::anyhow!("failed to write {}: {e}", path.display()))?,
        None => std::io::stdout().lock().write_all(&rendered.body)?,
    }
    pipeline.store().close().await;
    Ok(ExitCode::SUCCESS)
}

async fn healthcheck(listen: &str) -> anyhow::Result<ExitCode> {
    crate::fetch::install_crypto_provider();
    let listen = listen
        .replace("0.0.0.0", "127.0.0.1")
        .replace("[::]", "[::1]");
    let url = format!("http://{listen}/healthz");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()?;
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => Ok(ExitCode::SUCCESS),
        Ok(r) => {
            eprintln!("{url} answered HTTP {}", r.status());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => {
            eprintln!("{url} did not answer: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `feedmill backup FILE`: the store as of one moment, written to a new file, with its size.
async fn backup(config: Config, file: &Path) -> anyhow::Result<ExitCode> {
    if std::fs::symlink_metadata(file).is_ok() {
        anyhow::bail!(
            "refusing to overwrite {}: it exists (back up to a new file)",
            file.display()
        );
    }
    let db = config.store.path.join(crate::store::DB_FILE);
    if !db.exists() {
        anyhow::bail!("no store at {}: nothing to back up", db.display());
    }
    let started = std::time::Instant::now();
    let store = Store::open(&config.store.path).await?;
    let result = store.backup(file).await;
    store.close().await;
    result?;
    let size = std::fs::metadata(file)
        .map_err(|e| anyhow::anyhow!("failed to read the backup {}: {e}", file.display()))?
        .len();
    println!(
        "{}: {size} bytes ({}), copied from {} in {} ms",
        file.display(),
        human_size(size),
        db.display(),
        started.elapsed().as_millis()
    );
    Ok(ExitCode::SUCCESS)
}

/// A byte count for people: "812 B", "1.4 KiB", "23.0 MiB".
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

async fn search(config: Config, text: &str, limit: usize) -> anyhow::Result<ExitCode> {
    let query = match crate::topics::Query::parse(text) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("invalid query: {e}");
            eprintln!("  {text}");
            let col = text[..e.offset.min(text.len())].chars().count();
            eprintln!("  {}^", " ".repeat(col));
            return Ok(ExitCode::from(2));
        }
    };
    let matcher = crate::topics::Matcher::new(std::slice::from_ref(&query));
    let topics = crate::pipeline::TopicSet::new(&config);
    existing_store(&config)?;
    let store = Store::open(&config.store.path).await?;
    let mut hits = Vec::new();
    let mut total = 0u64;
    let mut after = 0;
    loop {
        let page = store.documents(after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.article_id;
        for doc in page {
            total += 1;
            let view = doc.document(topics.tags(&doc.source));
            if matcher.is_match(0, &view) {
                let terms = matcher.matched_terms(0, &view);
                hits.push((doc, terms));
            }
        }
    }
    store.close().await;
    hits.sort_by(|(a, _), (b, _)| {
        b.published
            .unwrap_or(b.first_seen)
            .cmp(&a.published.unwrap_or(a.first_seen))
            .then(b.article_id.cmp(&a.article_id))
    });
    let mut out = std::io::stdout().lock();
    for (doc, terms) in hits.iter().take(limit) {
        let date = doc.published.unwrap_or(doc.first_seen).format("%Y-%m-%d");
        let title = if doc.title.is_empty() {
            "(untitled)"
        } else {
            doc.title.as_str()
        };
        writeln!(out, "{date}  {}  [{}]", title, doc.source)?;
        if let Some(url) = &doc.url {
            writeln!(out, "            {url}")?;
        }
        writeln!(out, "            matched: {}", terms.join(", "))?;
    }
    writeln!(
        out,
        "{} of {total} stored articles match (query: {query})",
        hits.len()
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_message_names_each_cause_once_when_messages_embed_their_source() {
        let io = std::io::Error::new(std::io::ErrorKind::AddrInUse, "Address already in use");
        let e = anyhow::Error::new(crate::app::AppError::Bind {
            addr: "127.0.0.1:1".into(),
            source: io,
        });
        assert_eq!(
            chain_message(&e),
            "failed to listen on 127.0.0.1:1: Address already in use"
        );
        let wrapped = anyhow::anyhow!("inner cause").context("outer");
        assert_eq!(chain_message(&wrapped), "outer: inner cause");
    }

    #[test]
    fn human_size_picks_unit_when_bytes_grow() {
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(23 << 20), "23.0 MiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }

    #[test]
    fn cli_parses_log_format_and_backup_when_given() {
        let cli = Cli::try_parse_from(["feedmill", "--log-format", "json", "check"]).unwrap();
        assert!(matches!(cli.log_format, LogFormat::Json));
        let cli = Cli::try_parse_from(["feedmill", "backup", "copy.db"]).unwrap();
        assert!(matches!(cli.command, Command::Backup { .. }));
        assert!(Cli::try_parse_from(["feedmill", "--log-format", "xml", "check"]).is_err());
    }
}
