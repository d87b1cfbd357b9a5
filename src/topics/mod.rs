// TEMPORARY: replaced by the real topics module on merge
//! Stand-in for the topic query compiler so `config` can be built and tested on its own.
//! Only the surface `config` uses: [`Query::parse`] and [`QueryError`].

/// A compiled topic query (here: only its checked text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query(String);

/// A query that does not parse, with the byte offset of the offending character.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (at byte {offset})")]
pub struct QueryError {
    pub offset: usize,
    pub message: String,
}

impl Query {
    /// Checks what the stand-in can check: the query is not empty, parentheses balance and
    /// quotes close. Offsets point at the offending character.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        if text.trim().is_empty() {
            return Err(QueryError {
                offset: 0,
                message: "empty query".to_string(),
            });
        }
        let mut open_parens: Vec<usize> = Vec::new();
        let mut open_quote: Option<usize> = None;
        for (i, c) in text.char_indices() {
            match (c, open_quote) {
                ('"', None) => open_quote = Some(i),
                ('"', Some(_)) => open_quote = None,
                (_, Some(_)) => {}
                ('(', None) => open_parens.push(i),
                (')', None) if open_parens.pop().is_none() => {
                    return Err(QueryError {
                        offset: i,
                        message: "unmatched closing parenthesis".to_string(),
                    });
                }
                _ => {}
            }
        }
        if let Some(i) = open_quote {
            return Err(QueryError {
                offset: i,
                message: "unclosed quote".to_string(),
            });
        }
        if let Some(&i) = open_parens.last() {
            return Err(QueryError {
                offset: i,
                message: "unclosed parenthesis".to_string(),
            });
        }
        Ok(Query(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parse_reports_offset_when_unbalanced() {
        assert!(Query::parse("(a OR b) AND \"c d\"").is_ok());
        assert_eq!(Query::parse("  ").unwrap_err().offset, 0);
        assert_eq!(Query::parse("a (b (c)").unwrap_err().offset, 2);
        assert_eq!(Query::parse("a) b").unwrap_err().offset, 1);
        assert_eq!(Query::parse("a \"b c").unwrap_err().offset, 2);
    }
}
