//! HTML for people: the index of topics (with feed autodiscovery), a topic's page and the
//! status of every source.

use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::proxy::PublicBase;
use super::sorting::SortView;
use super::{AppState, HttpError};
use crate::publish::{self, Format};
use crate::redact;
use crate::store::SourceStatus;

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#222}\
a{color:#0645ad}h1{font-size:1.6rem}li{margin:.6rem 0}.meta{color:#666;font-size:.9rem}code{background:#f3f3f3;padding:0 .3rem}\
table{border-collapse:collapse;font-size:.85rem}th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}\
th{background:#f6f6f6}td.n{text-align:right}tr.failed td,tr.gone td{background:#fff0f0}.scroll{overflow-x:auto}\
.hint{background:#fff8d6;padding:.6rem .8rem;border-radius:4px}\
.error{background:#fff0f0;border:1px solid #e4a0a0;padding:.2rem .8rem;border-radius:4px}.error pre{white-space:pre-wrap}";

fn page(title: &str, head: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title>{head}<style>{STYLE}</style></head><body>{body}</body></html>\n",
        text(title)
    ))
}

fn feed_links(base: &str, slug: &str, title: &str) -> String {
    Format::ALL
        .iter()
        .map(|f| {
            format!(
                "<link rel=\"alternate\" type=\"{}\" title=\"{} ({})\" href=\"{}\">",
                attr(f.content_type().split(';').next().unwrap_or_default()),
                attr(title),
                f.extension(),
                attr(&publish::feed_url(base, slug, *f))
            )
        })
        .collect()
}

pub async fn index(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
) -> Result<Response, HttpError> {
    let config = state.catalog.config();
    let counts = state
        .store
        .topic_story_counts()
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))?;
    let mut head = String::new();
    let mut items = String::new();
    for topic in &config.topics {
        head.push_str(&feed_links(&base, &topic.slug, &topic.title));
        let version = state.catalog.version(&topic.slug);
        let links: Vec<String> = Format::ALL
            .iter()
            .map(|f| {
                format!(
                    "<a href=\"{}\">{}</a>",
                    attr(&publish::feed_url(&base, &topic.slug, *f)),
                    f.extension()
                )
            })
            .collect();
        items.push_str(&format!(
            "<li><a href=\"{}\"><strong>{}</strong></a> — {}<br><span class=\"meta\">{} stories · updated {} · subscribe: {} · <code>{}</code></span></li>",
            attr(&publish::page_url(&base, &topic.slug)),
            text(&topic.title),
            text(&topic.description),
            counts.get(&topic.slug).copied().unwrap_or(0),
            version.changed_at.format("%Y-%m-%d %H:%M UTC"),
            links.join(" "),
            text(&publish::feed_url(&base, &topic.slug, Format::Atom)),
        ));
    }
    let body = format!(
        "<h1>feedmill</h1><p>Topic feeds built from {} sources. Paste a feed URL into your reader, or import <a href=\"{}\">all topics as OPML</a>.</p><ul>{items}</ul>",
        config.sources.len(),
        attr(&format!("{base}/topics.opml")),
    );
    Ok(page("feedmill topics", &head, &body).into_response())
}

pub async fn topic_page(state: &AppState, slug: &str, base: &str) -> Result<Response, HttpError> {
    topic_html(state, slug, None, base).await
}

/// The topic page, for a browser that opened one of the topic's feed URLs.
pub async fn topic_page_for_feed(
    state: &AppState,
    slug: &str,
    format: Format,
    base: &str,
) -> Result<Response, HttpError> {
    topic_html(state, slug, Some(format), base).await
}

async fn topic_html(
    state: &AppState,
    slug: &str,
    opened: Option<Format>,
    base: &str,
) -> Result<Response, HttpError> {
    let (feed, _) = state.catalog.feed_page(slug, 1, base, Utc::now()).await?;
    let head = feed_links(base, slug, &feed.title);
    let mut items = String::new();
    for entry in &feed.entries {
        let title = match &entry.link {
            Some(link) => format!("<a href=\"{}\">{}</a>", attr(link), text(&entry.title)),
            None => text(&entry.title).into_owned(),
        };
        let also = if entry.also.is_empty() {
            String::new()
        } else {
            format!(
                " · also: {}",
                entry
                    .also
                    .iter()
                    .map(|a| text(&a.source).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        items.push_str(&format!(
            // The id is the anchor that feed entries without a link of their own point at
            // (`publish::story_anchor`).
            "<li id=\"story-{}\">{title}<br><span class=\"meta\">{} · {}{also}</span></li>",
            entry.id,
            text(&entry.source.name),
            entry.published.format("%Y-%m-%d %H:%M UTC"),
        ));
    }
    let body = format!(
        "<p><a href=\"{}/\">← all topics</a></p><h1>{}</h1><p>{}</p>{hint}<p>Subscribe in your reader: <code>{}</code> ({})</p><ul>{items}</ul>",
        attr(base),
        text(&feed.title),
        text(&feed.description),
        text(&publish::feed_url(base, slug, Format::Atom)),
        Format::ALL
            .iter()
            .map(|f| format!(
                "<a href=\"{}\">{}</a>",
                attr(&publish::feed_url(base, slug, *f)),
                f.extension()
            ))
            .collect::<Vec<_>>()
            .join(" · "),
        hint = match opened {
            Some(f) => format!(
                "<p class=\"hint\"><strong>This address is a feed.</strong> Paste <code>{}</code> into your feed reader to subscribe; readers get the {} feed, browsers this page.</p>",
                text(&publish::feed_url(base, slug, f)),
                f.extension()
            ),
            None => String::new(),
        },
    );
    Ok(page(&feed.title, &head, &body).into_response())
}

fn when(t: Option<chrono::DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "—".to_owned())
}

/// One row of the `/sources` table.
fn source_row(s: &SourceStatus, configured: bool) -> String {
    let outcome = s.last_outcome.as_deref().unwrap_or("never fetched");
    let class = match outcome {
        "error" => "failed",
        "gone" => "gone",
        _ => "",
    };
    // URLs may carry credentials (userinfo, `?token=`): never shown (`crate::redact`).
    let url = redact::url(&s.url);
    let mut name = format!(
        "<strong>{}</strong><br><a href=\"{}\">{}</a>",
        text(&s.name),
        attr(&url),
        text(&url)
    );
    if let Some(moved) = &s.fetch_url {
        let moved = redact::url(moved);
        name.push_str(&format!(
            "<br><span class=\"meta\">moved permanently to <a href=\"{}\">{}</a></span>",
            attr(&moved),
            text(&moved)
        ));
    }
    if !configured {
        name.push_str("<br><span class=\"meta\">not in feeds.toml any more</span>");
    }
    let next = match (s.gone_at, s.next_fetch_at) {
        (Some(_), _) => "never: gone (HTTP 410) until its url changes in feeds.toml".to_owned(),
        (None, Some(at)) => format!(
            "{} ({})",
            when(Some(at)),
            s.next_fetch_reason
                .map(|r| r.as_str())
                .unwrap_or("schedule")
        ),
        (None, None) => "at start".to_owned(),
    };
    let next = match s.retry_after_until {
        Some(until) if s.gone_at.is_none() => {
            format!(
                "{next}<br><span class=\"meta\">Retry-After until {}</span>",
                when(Some(until))
            )
        }
        _ => next,
    };
    let status = s
        .last_http_status
        .map(|c| c.to_string())
        .unwrap_or_else(|| "—".to_owned());
    format!(
        "<tr id=\"{}\" class=\"{class}\"><td>{name}</td><td>{}</td><td class=\"n\">{status}</td><td>{}</td>\
<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{next}</td><td>{}</td></tr>",
        attr(&publish::source_anchor(&s.name)),
        when(s.last_fetch_at),
        text(outcome),
        s.items_new,
        s.items_updated,
        s.articles,
        s.consecutive_failures,
        when(s.last_success_at),
        text(&redact::text(s.last_error.as_deref().unwrap_or(""))),
    )
}

/// The warning shown above the sources when the latest edit of feeds.toml was rejected: the
/// daemon still runs the configuration it loaded before, and the table shows that one.
fn config_banner(config: &crate::status::ConfigState) -> String {
    let Some(rejected) = &config.rejected else {
        return String::new();
    };
    format!(
        "<div class=\"error\" role=\"alert\"><p><strong>{} has an error; still running the config loaded at {}.</strong> \
Edit rejected at {}; fix the file and save it again (or send SIGHUP).</p><pre>{}</pre></div>",
        text(&config.file_name()),
        when(config.loaded_at),
        when(Some(rejected.at)),
        text(&rejected.message),
    )
}

/// `GET /sources`: every source's fetch state, by name, as a plain table.
pub async fn sources(
    State(state): State<AppState>,
    PublicBase(base): PublicBase,
    RawQuery(query): RawQuery,
) -> Result<Response, HttpError> {
    let config = state.catalog.config();
    let view = SortView::from_query(query.as_deref());
    let mut statuses = state
        .store
        .source_statuses()
        .await
        .map_err(|e| HttpError::Internal(e.to_string()))?;
    view.sort(&mut statuses);
    let failing = statuses
        .iter()
        .filter(|s| s.consecutive_failures > 0)
        .count();
    let rows: String = statuses
        .iter()
        .map(|s| source_row(s, config.source(&s.name).is_some()))
        .collect();
    let banner = config_banner(&state.status.config());
    let errors_feed = publish::errors_feed_url(&base);
    let head = format!(
        "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"feedmill source errors\" href=\"{}\">",
        attr(&errors_feed)
    );
    let body = format!(
        "<p><a href=\"{}/\">← all topics</a></p><h1>Sources</h1>{banner}\
<p>{} sources, {failing} failing. Times are UTC; a source is fetched again at its next attempt. Click a column to sort by it.</p>\
<p>Subscribe to <a href=\"{}\">the errors feed</a> to hear when a source starts failing or recovers{}.</p>\
<div class=\"scroll\"><table><thead>{}</thead><tbody>{rows}</tbody></table></div>",
        attr(&base),
        statuses.len(),
        attr(&errors_feed),
        if config.server.admin_token.is_some() {
            " (add <code>?token=</code> and the admin token to its URL in your reader)"
        } else {
            ""
        },
        view.header_row(),
    );
    Ok(page("feedmill sources", &head, &body).into_response())
}
