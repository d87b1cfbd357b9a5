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

/// The pages' whole style sheet, inline so a page is one request. System fonts, one column
/// that fits a phone (long URLs wrap or sit in a full-width field), colours from the
/// reader's light or dark preference, each text colour at least 4.5:1 (WCAG AA) on its
/// background.
const STYLE: &str = ":root{color-scheme:light dark;--fg:#1f2328;--muted:#59636e;--bg:#fff;--line:#d1d9e0;\
--link:#0550ae;--soft:#f6f8fa;--hint:#fff8c5;--bad:#ffebe9}\
@media(prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--line:#3d444d;\
--link:#4493f8;--soft:#151b23;--hint:#3b2e00;--bad:#3c1618}}\
body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:0 auto;padding:1rem 1rem 3rem;\
color:var(--fg);background:var(--bg)}body.wide{max-width:96rem}a{color:var(--link)}\
h1{font-size:1.7rem;line-height:1.25;margin:1rem 0 .5rem}h2{font-size:1.15rem;line-height:1.3;margin:0 0 .2rem}\
p{margin:.4rem 0}.meta,label{color:var(--muted);font-size:.9rem}\
ul.list{list-style:none;padding:0;margin:1.2rem 0}ul.list>li{border-top:1px solid var(--line);padding:.9rem 0}\
code,input{font:.9rem ui-monospace,SFMono-Regular,Menlo,monospace}code{background:var(--soft);padding:0 .3rem;\
overflow-wrap:anywhere}.feeds a{display:inline-block;margin:.1rem .3rem .1rem 0;padding:0 .6rem;\
border:1px solid var(--line);border-radius:1rem;text-decoration:none;font-size:.9rem}\
.feeds a:hover,.feeds a:focus{background:var(--soft)}label{display:block;margin-top:.4rem}\
input{box-sizing:border-box;width:100%;padding:.3rem .5rem;border:1px solid var(--line);border-radius:4px;\
background:var(--soft);color:var(--fg)}.hint{background:var(--hint);padding:.6rem .8rem;border-radius:4px}\
table{border-collapse:collapse;font-size:.85rem}th,td{border-bottom:1px solid var(--line);padding:.3rem .5rem;\
text-align:left;vertical-align:top}th{background:var(--soft)}td.n{text-align:right}.t{white-space:nowrap}\
tr.failed td,tr.gone td{background:var(--bad)}.scroll{overflow-x:auto}\
.error{background:var(--bad);border:1px solid var(--line);padding:.2rem .8rem;border-radius:4px}.error pre{white-space:pre-wrap}";

/// The tab icon, inline (an orange feed symbol): without one, browsers ask for
/// `/favicon.ico` and log the 404 as an error on every page.
const ICON: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E\
%3Crect width='16' height='16' rx='3' fill='%23e8710a'/%3E%3Ccircle cx='4.5' cy='11.5' r='1.6' fill='%23fff'/%3E\
%3Cpath d='M3 7.5a5.5 5.5 0 0 1 5.5 5.5M3 3.5a9.5 9.5 0 0 1 9.5 9.5' stroke='%23fff' stroke-width='2' fill='none'/%3E%3C/svg%3E";

fn page(title: &str, head: &str, body_class: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><link rel=\"icon\" href=\"{ICON}\">{head}<style>{STYLE}</style></head>\
<body{}>{body}</body></html>\n",
        text(title),
        if body_class.is_empty() {
            String::new()
        } else {
            format!(" class=\"{body_class}\"")
        },
    ))
}

/// How pages name a format to people.
fn format_name(format: Format) -> &'static str {
    match format {
        Format::Rss => "RSS",
        Format::Atom => "Atom",
        Format::Json => "JSON Feed",
    }
}

fn feed_links(base: &str, slug: &str, title: &str) -> String {
    Format::ALL
        .iter()
        .map(|f| {
            format!(
                "<link rel=\"alternate\" type=\"{}\" title=\"{} ({})\" href=\"{}\">",
                attr(f.content_type().split(';').next().unwrap_or_default()),
                attr(title),
                format_name(*f),
                attr(&publish::feed_url(base, slug, *f))
            )
        })
        .collect()
}

/// A topic's subscribe links, one per format, and its Atom feed URL in a read-only field
/// with a label: one click or tap into the field and the whole URL is easy to select and
/// copy, with no script, and it never makes a narrow page wider.
fn subscribe(base: &str, slug: &str) -> String {
    let links: String = Format::ALL
        .iter()
        .map(|f| {
            format!(
                "<a href=\"{}\" type=\"{}\">{}</a>",
                attr(&publish::feed_url(base, slug, *f)),
                attr(f.content_type().split(';').next().unwrap_or_default()),
                format_name(*f)
            )
        })
        .collect();
    format!(
        "<p class=\"feeds\">Subscribe: {links}</p><label for=\"feed-{slug}\">Feed URL for your reader</label>\
<input id=\"feed-{slug}\" type=\"url\" readonly value=\"{}\">",
        attr(&publish::feed_url(base, slug, Format::Atom)),
        slug = attr(slug),
    )
}

/// "1 story", "2 stories".
fn stories(n: u64) -> String {
    if n == 1 {
        "1 story".to_owned()
    } else {
        format!("{n} stories")
    }
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
        let count = counts.get(&topic.slug).copied().unwrap_or(0);
        let updated = if version.version == 0 {
            String::new()
        } else {
            format!(
                " · updated <time datetime=\"{}\">{}</time>",
                version.changed_at.format("%Y-%m-%dT%H:%M:%SZ"),
                version.changed_at.format("%Y-%m-%d %H:%M UTC")
            )
        };
        items.push_str(&format!(
            "<li><h2><a href=\"{}\">{}</a></h2><p>{}</p><p class=\"meta\">{}{updated}</p>{}</li>",
            attr(&publish::page_url(&base, &topic.slug)),
            text(&topic.title),
            text(&topic.description),
            stories(count),
            subscribe(&base, &topic.slug),
        ));
    }
    let sources = match config.sources.len() {
        1 => "one source".to_owned(),
        n => format!("{n} sources"),
    };
    let body = format!(
        "<header><h1>Topic feeds</h1><p>Stories from {sources}, gathered into topics and \
deduplicated. Paste a feed URL into your feed reader, or import \
<a href=\"{}\">all topics as OPML</a>.</p></header><main><ul class=\"list\">{items}</ul></main>",
        attr(&format!("{base}/topics.opml")),
    );
    Ok(page("feedmill topics", &head, "", &body).into_response())
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

/// Whether a teaser says nothing beyond the title (aggregators and link blogs repeat the
/// headline as the summary, with the punctuation changed).
fn repeats_title(teaser: &str, title: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let teaser = words(teaser);
    !teaser.is_empty() && words(title).starts_with(&teaser)
}

/// Words of each story's teaser on the topic page: enough to decide whether to open it.
const TEASER_WORDS: usize = 40;

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
                " · also reported by {}",
                entry
                    .also
                    .iter()
                    .map(|a| text(&a.source).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let teaser = publish::teaser(entry, TEASER_WORDS)
            .filter(|t| !repeats_title(t, &entry.title))
            .map(|t| format!("<p>{}</p>", text(&t)))
            .unwrap_or_default();
        items.push_str(&format!(
            // The id is the anchor that feed entries without a link of their own point at
            // (`publish::story_anchor`).
            "<li id=\"story-{}\"><h2>{title}</h2><p class=\"meta\">{} · <time datetime=\"{}\">{}</time>{also}</p>{teaser}</li>",
            entry.id,
            text(&entry.source.name),
            entry.published.format("%Y-%m-%dT%H:%M:%SZ"),
            entry.published.format("%Y-%m-%d %H:%M UTC"),
        ));
    }
    let list = if items.is_empty() {
        "<p>No stories yet: none of the stored articles matches this topic.</p>".to_owned()
    } else {
        format!("<ul class=\"list\">{items}</ul>")
    };
    let hint = match opened {
        Some(f) => format!(
            "<p class=\"hint\"><strong>This address is a feed.</strong> Paste <code>{}</code> into your feed reader to subscribe; readers get the {} feed, browsers this page.</p>",
            text(&publish::feed_url(base, slug, f)),
            format_name(f)
        ),
        None => String::new(),
    };
    let body = format!(
        "<nav><a href=\"{}/\">← All topics</a></nav><header><h1>{}</h1><p>{}</p>{hint}{}</header><main>{list}</main>",
        attr(base),
        text(&feed.title),
        text(&feed.description),
        subscribe(base, slug),
    );
    Ok(page(&feed.title, &head, "", &body).into_response())
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
            "<span class=\"t\">{}</span> ({})",
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
                "{next}<br><span class=\"meta t\">Retry-After until {}</span>",
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
        "<tr id=\"{}\" class=\"{class}\"><td>{name}</td><td class=\"t\">{}</td><td class=\"n\">{status}</td><td>{}</td>\
<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"t\">{}</td><td>{next}</td><td>{}</td></tr>",
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
        "<nav><a href=\"{}/\">← All topics</a></nav><main><h1>Sources</h1>{banner}\
<p>{} sources, {failing} failing. Times are UTC; a source is fetched again at its next attempt. Click a column to sort by it.</p>\
<p>Subscribe to <a href=\"{}\">the errors feed</a> to hear when a source starts failing or recovers{}.</p>\
<div class=\"scroll\" tabindex=\"0\" role=\"region\" aria-label=\"Sources table\"><table><thead>{}</thead><tbody>{rows}</tbody></table></div></main>",
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
    Ok(page("feedmill sources", &head, "wide", &body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_title_holds_when_teaser_is_the_headline_reworded() {
        let title = "Kyrgyzstan raises tariffs on imported electricity - Kabar";
        assert!(repeats_title(
            "Kyrgyzstan raises tariffs on imported electricity Kabar",
            title
        ));
        assert!(repeats_title("kyrgyzstan raises tariffs…", title));
        assert!(!repeats_title(
            "Officials from five states met in Almaty",
            title
        ));
        assert!(!repeats_title("…", title));
    }

    #[test]
    fn stories_is_singular_when_one() {
        assert_eq!(stories(0), "0 stories");
        assert_eq!(stories(1), "1 story");
        assert_eq!(stories(50), "50 stories");
    }

    #[test]
    fn page_declares_language_icon_and_viewport_when_rendered() {
        let Html(html) = page("A & B", "", "wide", "<h1>x</h1>");
        assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
        assert!(html.contains("<title>A &amp; B</title>"));
        assert!(html.contains("rel=\"icon\" href=\"data:image/svg+xml,"));
        assert!(html.contains("name=\"viewport\""));
        assert!(html.contains("<body class=\"wide\"><h1>x</h1></body>"));
        let Html(plain) = page("t", "", "", "");
        assert!(plain.contains("<body></body>"));
    }

    #[test]
    fn subscribe_labels_the_copyable_feed_url_when_rendered() {
        let html = subscribe("http://h", "asia");
        assert!(html.contains("<label for=\"feed-asia\">"));
        assert!(html.contains(
            "id=\"feed-asia\" type=\"url\" readonly value=\"http://h/topics/asia.atom\""
        ));
        for ext in ["rss", "atom", "json"] {
            assert!(html.contains(&format!("href=\"http://h/topics/asia.{ext}\"")));
        }
    }
}
