//! Sorting the `/sources` table: the column headers are links (`?sort=failures&order=desc`),
//! so the page sorts without JavaScript and a sorted view can be bookmarked.

use std::cmp::Ordering;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

use super::auth::TOKEN_PARAM;
use crate::store::SourceStatus;

/// A column of the `/sources` table that can be sorted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    LastFetch,
    Http,
    Outcome,
    New,
    Updated,
    Articles,
    Failures,
    LastSuccess,
    Next,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

/// The columns in table order: query value, header text, first order when clicked (what is
/// most interesting comes first: most failures, latest fetch, next attempt soonest).
const COLUMNS: [(SortKey, &str, &str, Order); 11] = [
    (SortKey::Name, "name", "Source", Order::Asc),
    (SortKey::LastFetch, "last_fetch", "Last fetch", Order::Desc),
    (SortKey::Http, "http", "HTTP", Order::Desc),
    (SortKey::Outcome, "outcome", "Outcome", Order::Asc),
    (SortKey::New, "new", "New", Order::Desc),
    (SortKey::Updated, "updated", "Updated", Order::Desc),
    (SortKey::Articles, "articles", "Articles", Order::Desc),
    (
        SortKey::Failures,
        "failures",
        "Failures in a row",
        Order::Desc,
    ),
    (
        SortKey::LastSuccess,
        "last_success",
        "Last success",
        Order::Desc,
    ),
    (SortKey::Next, "next", "Next attempt (why)", Order::Asc),
    (SortKey::Error, "error", "Last error", Order::Asc),
];

/// How the table is sorted, read from the query string; unknown values fall back to the
/// default (by name), since a stale bookmark should still show the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortView {
    pub key: SortKey,
    pub order: Order,
    /// `?token=` of the request, kept in the header links so a reader or browser that
    /// authenticates by query keeps access while sorting.
    token: Option<String>,
}

impl SortView {
    pub fn from_query(query: Option<&str>) -> SortView {
        let mut view = SortView {
            key: SortKey::Name,
            order: Order::Asc,
            token: None,
        };
        let mut order = None;
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match name.as_ref() {
                "sort" => {
                    if let Some(c) = COLUMNS.iter().find(|c| c.1 == value) {
                        view.key = c.0;
                        view.order = c.3;
                    }
                }
                "order" => {
                    order = match value.as_ref() {
                        "asc" => Some(Order::Asc),
                        "desc" => Some(Order::Desc),
                        _ => None,
                    }
                }
                n if n == TOKEN_PARAM => view.token = Some(value.into_owned()),
                _ => {}
            }
        }
        if let Some(o) = order {
            view.order = o;
        }
        view
    }

    /// Sorts the statuses; ties (and missing values, always last) fall back to the name.
    pub fn sort(&self, statuses: &mut [SourceStatus]) {
        statuses.sort_by(|a, b| {
            let ordered = match compare(self.key, a, b) {
                (Ordering::Equal, _) => Ordering::Equal,
                (o, true) => o,
                (o, false) if self.order == Order::Desc => o.reverse(),
                (o, false) => o,
            };
            ordered.then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
        });
    }

    /// The `<tr>` of header cells: each a link sorting by its column (the current column's
    /// link flips the order), with `aria-sort` on the current one.
    pub fn header_row(&self) -> String {
        let mut out = String::from("<tr>");
        for (key, value, label, first) in COLUMNS {
            let current = key == self.key;
            let order = match (current, self.order) {
                (true, Order::Asc) => Order::Desc,
                (true, Order::Desc) => Order::Asc,
                (false, _) => first,
            };
            let mut href = url::form_urlencoded::Serializer::new(String::new());
            href.append_pair("sort", value);
            href.append_pair("order", if order == Order::Asc { "asc" } else { "desc" });
            if let Some(t) = &self.token {
                href.append_pair(TOKEN_PARAM, t);
            }
            let (aria, arrow) = match (current, self.order) {
                (false, _) => (String::new(), ""),
                (true, Order::Asc) => (" aria-sort=\"ascending\"".to_owned(), " ▲"),
                (true, Order::Desc) => (" aria-sort=\"descending\"".to_owned(), " ▼"),
            };
            out.push_str(&format!(
                "<th scope=\"col\"{aria}><a href=\"?{}\">{}</a>{arrow}</th>",
                attr(&href.finish()),
                text(label)
            ));
        }
        out.push_str("</tr>");
        out
    }
}

/// Compares two rows on `key`; the flag is true when one side has no value, which sorts
/// last in either order.
fn compare(key: SortKey, a: &SourceStatus, b: &SourceStatus) -> (Ordering, bool) {
    fn opt<T: Ord>(a: Option<T>, b: Option<T>) -> (Ordering, bool) {
        match (a, b) {
            (Some(x), Some(y)) => (x.cmp(&y), false),
            (Some(_), None) => (Ordering::Less, true),
            (None, Some(_)) => (Ordering::Greater, true),
            (None, None) => (Ordering::Equal, true),
        }
    }
    match key {
        SortKey::Name => (a.name.to_lowercase().cmp(&b.name.to_lowercase()), false),
        SortKey::LastFetch => opt(a.last_fetch_at, b.last_fetch_at),
        SortKey::Http => opt(a.last_http_status, b.last_http_status),
        SortKey::Outcome => opt(a.last_outcome.as_deref(), b.last_outcome.as_deref()),
        SortKey::New => (a.items_new.cmp(&b.items_new), false),
        SortKey::Updated => (a.items_updated.cmp(&b.items_updated), false),
        SortKey::Articles => (a.articles.cmp(&b.articles), false),
        SortKey::Failures => (a.consecutive_failures.cmp(&b.consecutive_failures), false),
        SortKey::LastSuccess => opt(a.last_success_at, b.last_success_at),
        SortKey::Next => opt(a.next_fetch_at, b.next_fetch_at),
        SortKey::Error => opt(a.last_error.as_deref(), b.last_error.as_deref()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn status(name: &str, failures: u32, last_fetch: Option<i64>) -> SourceStatus {
        SourceStatus {
            name: name.to_owned(),
            url: format!("https://{name}.example/feed"),
            title: None,
            site_url: None,
            last_fetch_at: last_fetch.map(|s| Utc.timestamp_opt(s, 0).unwrap()),
            last_outcome: None,
            last_http_status: None,
            last_error: None,
            last_success_at: None,
            consecutive_failures: failures,
            items_new: 0,
            items_updated: 0,
            next_fetch_at: None,
            next_fetch_reason: None,
            fetch_url: None,
            retry_after_until: None,
            gone_at: None,
            articles: 0,
        }
    }

    fn names(rows: &[SourceStatus]) -> Vec<&str> {
        rows.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn sort_orders_by_failures_then_name_when_asked_descending() {
        let mut rows = vec![
            status("b", 0, None),
            status("c", 3, None),
            status("a", 0, None),
        ];
        SortView::from_query(Some("sort=failures")).sort(&mut rows);
        assert_eq!(names(&rows), ["c", "a", "b"]);
        SortView::from_query(Some("sort=failures&order=asc")).sort(&mut rows);
        assert_eq!(names(&rows), ["a", "b", "c"]);
    }

    #[test]
    fn sort_puts_missing_values_last_when_in_either_order() {
        let mut rows = vec![
            status("never", 0, None),
            status("old", 0, Some(1)),
            status("new", 0, Some(2)),
        ];
        SortView::from_query(Some("sort=last_fetch&order=desc")).sort(&mut rows);
        assert_eq!(names(&rows), ["new", "old", "never"]);
        SortView::from_query(Some("sort=last_fetch&order=asc")).sort(&mut rows);
        assert_eq!(names(&rows), ["old", "new", "never"]);
    }

    #[test]
    fn from_query_falls_back_to_name_when_values_are_unknown() {
        let view = SortView::from_query(Some("sort=%3Cscript%3E&order=sideways"));
        assert_eq!((view.key, view.order), (SortKey::Name, Order::Asc));
    }

    #[test]
    fn header_row_flips_current_column_and_keeps_token_when_sorted() {
        let view = SortView::from_query(Some("sort=failures&token=s3cret%26x"));
        let row = view.header_row();
        assert!(row.contains("<th scope=\"col\" aria-sort=\"descending\"><a href=\"?sort=failures&amp;order=asc&amp;token=s3cret%26x\">Failures in a row</a> ▼</th>"), "{row}");
        assert!(
            row.contains("href=\"?sort=name&amp;order=asc&amp;token=s3cret%26x\""),
            "{row}"
        );
        assert_eq!(row.matches("aria-sort").count(), 1);
    }
}
