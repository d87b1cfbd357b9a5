//! The commands that change the list of sources in `feeds.toml`: `add` (with feed discovery)
//! and `opml import`, and `opml export`. Each edit goes through [`FeedsFile`]: comments and
//! layout stay, the result is checked like `feedmill check` and written atomically.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::discover::{self, How};
use crate::feeds_file::{FeedsFile, NewSource};
use crate::fetch::Fetcher;
use crate::opml;
use crate::pipeline::Pipeline;
use crate::redact;

#[derive(Debug, Subcommand)]
pub enum OpmlCommand {
    /// Add the feeds of an OPML file (a reader's export) to feeds.toml; its folders and
    /// categories become tags. Feeds already configured are skipped and reported.
    Import { file: std::path::PathBuf },
    /// Write the sources as OPML 2.0 to stdout, tags as categories.
    Export,
}

/// The names taken so far, compared as the config compares them (ignoring case).
struct Names(HashSet<String>);

impl Names {
    fn of(config: &Config) -> Names {
        Names(
            config
                .sources
                .iter()
                .map(|s| s.name.to_lowercase())
                .collect(),
        )
    }

    fn taken(&self, name: &str) -> bool {
        self.0.contains(&name.to_lowercase())
    }

    /// `base`, or `base (2)`, `base (3)`… whichever is free first; then taken.
    fn claim_unique(&mut self, base: &str) -> String {
        let mut name = base.to_owned();
        let mut n = 2;
        while self.taken(&name) {
            name = format!("{base} ({n})");
            n += 1;
        }
        self.0.insert(name.to_lowercase());
        name
    }
}

/// A URL in the form the config compares sources by (`url::Url`'s serialization), or `None`
/// when it is not an absolute http(s) URL.
fn normalized(url: &str) -> Option<String> {
    url::Url::parse(url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .map(String::from)
}

/// The configured source using this (normalized) URL.
/// The source already fetching `url`: the same URL, or one that differs only in what never
/// selects another document (scheme, `www.`, tracking parameters: the canonical form).
fn source_with_url<'a>(config: &'a Config, url: &str) -> Option<&'a str> {
    let canonical = crate::dedup::canonical_url(url);
    config
        .sources
        .iter()
        .find(|s| {
            s.url.as_str() == url
                || canonical.is_some() && crate::dedup::canonical_url(s.url.as_str()) == canonical
        })
        .map(|s| s.name.as_str())
}

/// A name for a feed without a title: its host.
fn host_name(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| h.trim_start_matches("www.").to_owned())
        })
        .unwrap_or_else(|| "feed".to_owned())
}

/// `feedmill add URL [--name NAME] [--tag TAG]...`
pub async fn add(
    path: &Path,
    config: Config,
    url: &str,
    name: Option<&str>,
    tags: &[String],
) -> anyhow::Result<ExitCode> {
    let Some(given) = normalized(url) else {
        anyhow::bail!("invalid URL {url:?}: expected an absolute http:// or https:// URL");
    };
    if let Some(owner) = source_with_url(&config, &given) {
        anyhow::bail!(
            "{} is already in {} as source {owner:?}; nothing added",
            redact::url(&given),
            path.display()
        );
    }
    let mut names = Names::of(&config);
    if let Some(name) = name
        && names.taken(name.trim())
    {
        anyhow::bail!(
            "a source named {:?} is already in {}; choose another --name",
            name.trim(),
            path.display()
        );
    }
    let fetcher = Fetcher::build(Pipeline::fetch_settings(&config))?;
    let found = discover::discover(&fetcher, &given, config.fetch.allow_private)
        .await
        .map_err(|e| anyhow::anyhow!("{}", redact::text(&e.to_string())))?;
    let feed_url = normalized(&found.url).unwrap_or(found.url.clone());
    if let Some(owner) = source_with_url(&config, &feed_url) {
        anyhow::bail!(
            "the feed of {} is {}, already in {} as source {owner:?}; nothing added",
            redact::url(&given),
            redact::url(&feed_url),
            path.display()
        );
    }
    let name = match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => names.claim_unique(name),
        None => {
            let title = found.title.clone().unwrap_or_else(|| host_name(&feed_url));
            names.claim_unique(&title)
        }
    };
    let source = NewSource {
        name,
        url: feed_url,
        tags: tags.to_vec(),
    };
    let mut file = FeedsFile::read(path)?;
    file.append(&source)?;
    file.write()?;
    let how = match found.how {
        How::Direct => "the URL is a feed".to_owned(),
        How::Announced => format!("announced by {}", redact::url(&given)),
        How::CommonPath => format!("found at a common feed path of {}", redact::url(&given)),
    };
    println!(
        "added source {:?}: {} ({how}) to {}",
        source.name,
        redact::url(&source.url),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `feedmill opml import FILE`
pub fn opml_import(path: &Path, config: Config, file: &Path) -> anyhow::Result<ExitCode> {
    let bytes =
        std::fs::read(file).with_context(|| format!("failed to read {}", file.display()))?;
    let text = crate::parse::encoding::decode(&bytes, None).text;
    let feeds =
        opml::read(&text).with_context(|| format!("failed to import {}", file.display()))?;
    let mut names = Names::of(&config);
    let mut urls: HashSet<String> = config.sources.iter().map(|s| s.url.to_string()).collect();
    let mut added = Vec::new();
    let mut skipped = Vec::new();
    let mut feeds_file = FeedsFile::read(path)?;
    for feed in feeds {
        let label = feed.name.clone().unwrap_or_else(|| feed.url.clone());
        let Some(url) = normalized(&feed.url) else {
            skipped.push(format!(
                "{label:?}: {} is not an http(s) URL",
                redact::url(&feed.url)
            ));
            continue;
        };
        if !urls.insert(url.clone()) {
            let why = match source_with_url(&config, &url) {
                Some(owner) => format!("already in {} as source {owner:?}", path.display()),
                None => format!("listed earlier in {}", file.display()),
            };
            skipped.push(format!("{label:?}: {} is {why}", redact::url(&url)));
            continue;
        }
        let base = feed.name.clone().unwrap_or_else(|| host_name(&url));
        let source = NewSource {
            name: names.claim_unique(&base),
            url,
            tags: feed.tags,
        };
        feeds_file.append(&source)?;
        added.push(source);
    }
    if !added.is_empty() {
        feeds_file.write()?;
    }
    let mut out = std::io::stdout().lock();
    for source in &added {
        writeln!(
            out,
            "added {:?}: {}{}",
            source.name,
            redact::url(&source.url),
            if source.tags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", source.tags.join(", "))
            }
        )?;
    }
    for reason in &skipped {
        writeln!(out, "skipped {reason}")?;
    }
    writeln!(
        out,
        "{} sources added to {}, {} skipped",
        added.len(),
        path.display(),
        skipped.len()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `feedmill opml export`: the real URLs (credentials included: this is the user's own
/// copy of their configuration, meant to be imported elsewhere).
pub fn opml_export(config: &Config) -> anyhow::Result<ExitCode> {
    let text = opml::write("feedmill sources", &config.sources);
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_unique_numbers_names_when_taken_ignoring_case() {
        let mut names = Names(["the diplomat".to_owned()].into_iter().collect());
        assert_eq!(names.claim_unique("The Diplomat"), "The Diplomat (2)");
        assert_eq!(names.claim_unique("The Diplomat"), "The Diplomat (3)");
        assert_eq!(names.claim_unique("Kloop"), "Kloop");
    }

    #[test]
    fn source_with_url_finds_source_when_url_differs_only_in_tracking_or_scheme() {
        let text = "[[source]]\nname = \"Diplomat\"\nurl = \"https://thediplomat.com/feed/\"\n";
        let config = Config::parse(Path::new("feeds.toml"), text).unwrap();
        for same in [
            "https://thediplomat.com/feed/",
            "http://www.thediplomat.com/feed/?utm_source=x",
        ] {
            assert_eq!(source_with_url(&config, same), Some("Diplomat"), "{same}");
        }
        assert_eq!(
            source_with_url(&config, "https://thediplomat.com/feed/?cat=2"),
            None
        );
    }

    #[test]
    fn normalized_accepts_only_absolute_http_urls() {
        assert_eq!(
            normalized(" https://Example.org ").as_deref(),
            Some("https://example.org/")
        );
        assert_eq!(normalized("ftp://example.org/"), None);
        assert_eq!(normalized("example.org/feed"), None);
    }
}
