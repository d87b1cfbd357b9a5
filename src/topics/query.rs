//! The topic query language (DESIGN §6): text → [`Query`] tree, and back via `Display`.
//!
//! ```text
//! query   = or
//! or      = and { "OR" and }
//! and     = unary { ["AND"] unary }        -- juxtaposition is AND
//! unary   = ("NOT" | "-") unary | primary
//! primary = "(" or ")" | [field ":"] term
//! term    = word | word "*" | '"' words '"'
//! ```
//!
//! Parsing is two steps: a lexer that turns the text into operator and term tokens (terms are
//! already normalized with [`super::words`], so the tree holds exactly what the matcher compares),
//! then a recursive-descent parser for the precedence NOT > AND > OR. Every error carries the
//! byte offset of the token at fault, because a topic query is config and `check` reports
//! `path:LINE:COL`.

use std::fmt;

use super::words;

/// A document field a term can be scoped to with `field:term`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Title,
    Summary,
    Content,
    Author,
    Category,
    Source,
    Tag,
    Lang,
    Url,
}

impl Field {
    /// Every field, in the order error messages list them.
    pub const ALL: [Field; 9] = [
        Field::Title,
        Field::Summary,
        Field::Content,
        Field::Author,
        Field::Category,
        Field::Source,
        Field::Tag,
        Field::Lang,
        Field::Url,
    ];

    /// The name used in queries (`title` in `title:china`).
    pub fn name(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Summary => "summary",
            Field::Content => "content",
            Field::Author => "author",
            Field::Category => "category",
            Field::Source => "source",
            Field::Tag => "tag",
            Field::Lang => "lang",
            Field::Url => "url",
        }
    }

    /// The field named `name`, ignoring ASCII case (`Title:` is as good as `title:`).
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a query looks for. All text is normalized by [`super::words`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Term {
    /// One whole word.
    Word(String),
    /// Any word starting with this text (`kyrgyz*`).
    Prefix(String),
    /// Consecutive words within one field (`"central asia"`); always two or more words.
    Phrase(Vec<String>),
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Word(w) => f.write_str(w),
            Term::Prefix(p) => write!(f, "{p}*"),
            Term::Phrase(ws) => write!(f, "\"{}\"", ws.join(" ")),
        }
    }
}

/// A parsed topic query: a boolean tree over field-scoped terms.
///
/// Trees from [`Query::parse`] are canonical: `And`/`Or` have at least two children and never a
/// direct child of the same kind (nested groups are flattened), so `Display` → `parse` gives the
/// same tree back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Query {
    Or(Vec<Query>),
    And(Vec<Query>),
    Not(Box<Query>),
    /// `field: None` is the default scope: title, summary and content (each on its own, so a
    /// phrase never spans two of them).
    Match {
        field: Option<Field>,
        term: Term,
    },
}

/// Why a query did not parse, and where: `offset` is a byte offset into the query text.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{message} (at byte {offset})")]
pub struct QueryError {
    pub offset: usize,
    pub message: String,
}

impl QueryError {
    fn new(offset: usize, message: impl Into<String>) -> QueryError {
        QueryError {
            offset,
            message: message.into(),
        }
    }
}

impl Query {
    /// Parses a query (DESIGN §6). Newlines are whitespace; operators are upper-case only.
    pub fn parse(text: &str) -> Result<Query, QueryError> {
        let tokens = lex(text)?;
        if tokens.is_empty() {
            return Err(QueryError::new(0, "empty query"));
        }
        let mut parser = Parser { tokens, pos: 0 };
        let query = parser.parse_or()?;
        match parser.peek() {
            None => Ok(query),
            // Anything else that can follow a complete `or` has been consumed by it, or has
            // already failed as a dangling operator; only a stray `)` can remain.
            Some(token) => Err(QueryError::new(
                token.offset,
                "unbalanced ')': no matching '('",
            )),
        }
    }
}

impl fmt::Display for Query {
    /// The canonical form: explicit `AND`/`OR`/`NOT`, parentheses only where precedence needs
    /// them, normalized terms. It parses back to the same tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Query::Or(items) => write_joined(f, items, " OR ", |q| matches!(q, Query::Or(_))),
            Query::And(items) => write_joined(f, items, " AND ", |q| {
                matches!(q, Query::Or(_) | Query::And(_))
            }),
            Query::Not(inner) => {
                f.write_str("NOT ")?;
                write_child(f, inner, matches!(**inner, Query::Or(_) | Query::And(_)))
            }
            Query::Match { field, term } => {
                if let Some(field) = field {
                    write!(f, "{field}:")?;
                }
                write!(f, "{term}")
            }
        }
    }
}

fn write_joined(
    f: &mut fmt::Formatter<'_>,
    items: &[Query],
    separator: &str,
    needs_parens: impl Fn(&Query) -> bool,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write_child(f, item, needs_parens(item))?;
    }
    Ok(())
}

fn write_child(f: &mut fmt::Formatter<'_>, q: &Query, parens: bool) -> fmt::Result {
    if parens {
        write!(f, "({q})")
    } else {
        write!(f, "{q}")
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Minus,
    Term(Option<Field>, Term),
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    tok: Tok,
    offset: usize,
}

/// Characters that end a bare word: whitespace, parentheses and quotes.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

fn lex(text: &str) -> Result<Vec<Token>, QueryError> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        let offset = i;
        match c {
            _ if c.is_whitespace() => {
                i += c.len_utf8();
                continue;
            }
            '(' => {
                tokens.push(Token {
                    tok: Tok::LParen,
                    offset,
                });
                i += 1;
            }
            ')' => {
                tokens.push(Token {
                    tok: Tok::RParen,
                    offset,
                });
                i += 1;
            }
            '"' => {
                let (term, end) = lex_phrase(text, offset)?;
                tokens.push(Token {
                    tok: Tok::Term(None, term),
                    offset,
                });
                i = end;
            }
            // A leading `-` negates; inside a word (`co-operation`) it is part of the word.
            '-' => {
                match text[i + 1..].chars().next() {
                    Some(next) if !next.is_whitespace() => {}
                    _ => {
                        return Err(QueryError::new(
                            offset,
                            "'-' must be followed directly by a term",
                        ));
                    }
                }
                tokens.push(Token {
                    tok: Tok::Minus,
                    offset,
                });
                i += 1;
            }
            _ => {
                let end = text[i..]
                    .char_indices()
                    .find(|&(_, c)| ends_word(c))
                    .map_or(text.len(), |(j, _)| i + j);
                let (tok, end) = lex_word(text, offset, end)?;
                tokens.push(Token { tok, offset });
                i = end;
            }
        }
    }
    Ok(tokens)
}

/// Lexes the bare word `text[start..end]`: an operator, `field:term`, or a term. Returns the
/// token and where lexing resumes (past a phrase in `field:"…"`).
fn lex_word(text: &str, start: usize, end: usize) -> Result<(Tok, usize), QueryError> {
    let word = &text[start..end];
    match word {
        "AND" => return Ok((Tok::And, end)),
        "OR" => return Ok((Tok::Or, end)),
        "NOT" => return Ok((Tok::Not, end)),
        _ => {}
    }
    // Only the text before the first colon can name a field, and only if it is made of ASCII
    // letters: `10:30` is a term and `url:https://x.org/a` is a url term containing colons.
    if let Some(colon) = word.find(':') {
        let (name, rest) = (&word[..colon], &word[colon + 1..]);
        if let Some(field) = Field::from_name(name) {
            if !rest.is_empty() {
                let term = bare_term(rest, start + colon + 1)?;
                return Ok((Tok::Term(Some(field), term), end));
            }
            if text[end..].starts_with('"') {
                let (term, after) = lex_phrase(text, end)?;
                return Ok((Tok::Term(Some(field), term), after));
            }
            return Err(QueryError::new(
                start,
                format!(
                    "field '{field}' has no term (write {field}:word or {field}:\"some words\")"
                ),
            ));
        }
        // A bare URL (`https://…`) is an ordinary term, the phrase of its words; use `url:` to
        // match the article's link.
        let looks_like_url = rest.starts_with("//");
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic()) && !looks_like_url {
            let expected: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
            return Err(QueryError::new(
                start,
                format!(
                    "unknown field '{name}' (expected one of {})",
                    expected.join(", ")
                ),
            ));
        }
    }
    Ok((Tok::Term(None, bare_term(word, start)?), end))
}

/// A term written without quotes, at byte `offset`. Several words make a phrase
/// (`co-operation`, `thediplomat.com`); a trailing `*` makes a prefix of one word.
fn bare_term(text: &str, offset: usize) -> Result<Term, QueryError> {
    if let Some(star) = text.find('*') {
        if star + 1 != text.len() {
            return Err(QueryError::new(
                offset + star,
                "'*' is only allowed at the end of a word",
            ));
        }
        let body = &text[..star];
        let mut ws = words(body);
        return match ws.len() {
            0 => Err(QueryError::new(
                offset + star,
                "'*' must follow a word (a bare '*' matches nothing)",
            )),
            1 => Ok(Term::Prefix(ws.remove(0))),
            _ => Err(QueryError::new(
                offset,
                format!("a prefix search needs a single word, not '{body}'"),
            )),
        };
    }
    let mut ws = words(text);
    match ws.len() {
        0 => Err(QueryError::new(
            offset,
            format!("term '{text}' has no letters or digits"),
        )),
        1 => Ok(Term::Word(ws.remove(0))),
        _ => Ok(Term::Phrase(ws)),
    }
}

/// Lexes the quoted phrase opening at byte `open`; returns it and the offset after the closing
/// quote. A one-word phrase is a plain word, which keeps trees canonical.
fn lex_phrase(text: &str, open: usize) -> Result<(Term, usize), QueryError> {
    let inner_start = open + 1;
    let Some(len) = text[inner_start..].find('"') else {
        return Err(QueryError::new(open, "unterminated quote"));
    };
    let inner = &text[inner_start..inner_start + len];
    if let Some(star) = inner.find('*') {
        return Err(QueryError::new(
            inner_start + star,
            "'*' is not allowed inside a phrase",
        ));
    }
    let mut ws = words(inner);
    let term = match ws.len() {
        0 => return Err(QueryError::new(open, "empty phrase")),
        1 => Term::Word(ws.remove(0)),
        _ => Term::Phrase(ws),
    };
    Ok((term, inner_start + len + 1))
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    /// Whether the next token can begin a `unary`: the check behind "dangling operator" errors.
    fn at_unary_start(&self) -> bool {
        matches!(
            self.peek().map(|t| &t.tok),
            Some(Tok::LParen | Tok::Not | Tok::Minus | Tok::Term(..))
        )
    }

    /// Consumes the operator at the cursor (the caller has peeked it) and checks that an
    /// operand follows, so `a OR` and `a AND )` fail at the operator.
    fn consume_operator(&mut self) -> Result<(), QueryError> {
        let Some(op) = self.next() else {
            return Ok(());
        };
        if self.at_unary_start() {
            return Ok(());
        }
        let name = match op.tok {
            Tok::And => "AND",
            Tok::Or => "OR",
            Tok::Not => "NOT",
            _ => "-",
        };
        Err(QueryError::new(
            op.offset,
            format!("'{name}' must be followed by a term"),
        ))
    }

    fn peek_is(&self, wanted: impl Fn(&Tok) -> bool) -> bool {
        self.peek().is_some_and(|t| wanted(&t.tok))
    }

    fn parse_or(&mut self) -> Result<Query, QueryError> {
        let mut items = Vec::new();
        push_flat(&mut items, self.parse_and()?, Flat::Or);
        while self.peek_is(|t| *t == Tok::Or) {
            self.consume_operator()?;
            push_flat(&mut items, self.parse_and()?, Flat::Or);
        }
        Ok(collapse(items, Query::Or))
    }

    fn parse_and(&mut self) -> Result<Query, QueryError> {
        let mut items = Vec::new();
        push_flat(&mut items, self.parse_unary()?, Flat::And);
        loop {
            if self.peek_is(|t| *t == Tok::And) {
                self.consume_operator()?;
            } else if !self.at_unary_start() {
                break;
            }
            // Juxtaposition: a term right after a term is an implicit AND.
            push_flat(&mut items, self.parse_unary()?, Flat::And);
        }
        Ok(collapse(items, Query::And))
    }

    fn parse_unary(&mut self) -> Result<Query, QueryError> {
        if self.peek_is(|t| matches!(t, Tok::Not | Tok::Minus)) {
            self.consume_operator()?;
            return Ok(Query::Not(Box::new(self.parse_unary()?)));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Query, QueryError> {
        let Some(token) = self.next() else {
            // Callers check `at_unary_start` first, and an empty query is caught before parsing.
            return Err(QueryError::new(0, "expected a term"));
        };
        match token.tok {
            Tok::Term(field, term) => Ok(Query::Match { field, term }),
            Tok::LParen => {
                match self.peek().map(|t| &t.tok) {
                    None => {
                        return Err(QueryError::new(
                            token.offset,
                            "unbalanced '(': no matching ')'",
                        ));
                    }
                    Some(Tok::RParen) => {
                        return Err(QueryError::new(token.offset, "empty parentheses"));
                    }
                    _ => {}
                }
                let inner = self.parse_or()?;
                match self.next() {
                    Some(Token {
                        tok: Tok::RParen, ..
                    }) => Ok(inner),
                    _ => Err(QueryError::new(
                        token.offset,
                        "unbalanced '(': no matching ')'",
                    )),
                }
            }
            Tok::RParen => Err(QueryError::new(
                token.offset,
                "unbalanced ')': no matching '('",
            )),
            Tok::And => Err(QueryError::new(token.offset, "'AND' must follow a term")),
            Tok::Or => Err(QueryError::new(token.offset, "'OR' must follow a term")),
            // `parse_unary` consumes these before calling us.
            Tok::Not | Tok::Minus => Err(QueryError::new(token.offset, "expected a term")),
        }
    }
}

/// Which operator's list [`push_flat`] is building.
#[derive(Clone, Copy, PartialEq)]
enum Flat {
    And,
    Or,
}

/// Appends `q` to `items`, splicing in its children when it is the same operator, so `a (b c)`
/// and `a b c` give the same tree.
fn push_flat(items: &mut Vec<Query>, q: Query, into: Flat) {
    match q {
        Query::Or(children) if into == Flat::Or => items.extend(children),
        Query::And(children) if into == Flat::And => items.extend(children),
        single => items.push(single),
    }
}

fn collapse(mut items: Vec<Query>, make: fn(Vec<Query>) -> Query) -> Query {
    if items.len() == 1 {
        items.remove(0)
    } else {
        make(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(w: &str) -> Query {
        Query::Match {
            field: None,
            term: Term::Word(w.into()),
        }
    }

    fn prefix(p: &str) -> Query {
        Query::Match {
            field: None,
            term: Term::Prefix(p.into()),
        }
    }

    fn phrase(ws: &[&str]) -> Query {
        Query::Match {
            field: None,
            term: Term::Phrase(ws.iter().map(|w| w.to_string()).collect()),
        }
    }

    fn scoped(field: Field, term: Term) -> Query {
        Query::Match {
            field: Some(field),
            term,
        }
    }

    fn not(q: Query) -> Query {
        Query::Not(Box::new(q))
    }

    fn parse(text: &str) -> Query {
        match Query::parse(text) {
            Ok(q) => q,
            Err(e) => panic!("{text:?} failed to parse: {e}"),
        }
    }

    #[test]
    fn query_parse_builds_and_when_terms_are_juxtaposed() {
        let expected = Query::And(vec![word("a"), word("b"), word("c")]);
        assert_eq!(parse("a b c"), expected);
        assert_eq!(parse("a AND b AND c"), expected);
        assert_eq!(parse("a b AND c"), expected);
        assert_eq!(parse("a (b c)"), expected);
    }

    #[test]
    fn query_parse_binds_and_tighter_than_or_when_mixed() {
        assert_eq!(
            parse("a OR b c OR d"),
            Query::Or(vec![
                word("a"),
                Query::And(vec![word("b"), word("c")]),
                word("d")
            ])
        );
        assert_eq!(
            parse("a AND b OR c"),
            Query::Or(vec![Query::And(vec![word("a"), word("b")]), word("c")])
        );
        assert_eq!(
            parse("(a OR b) c"),
            Query::And(vec![Query::Or(vec![word("a"), word("b")]), word("c")])
        );
        assert_eq!(
            parse("a OR (b OR c)"),
            Query::Or(vec![word("a"), word("b"), word("c")])
        );
    }

    #[test]
    fn query_parse_binds_not_tighter_than_and_when_negating() {
        assert_eq!(
            parse("NOT a b"),
            Query::And(vec![not(word("a")), word("b")])
        );
        assert_eq!(parse("-a OR b"), Query::Or(vec![not(word("a")), word("b")]));
        assert_eq!(
            parse("-(a OR b)"),
            not(Query::Or(vec![word("a"), word("b")]))
        );
        assert_eq!(parse("NOT(a)"), not(word("a")));
        assert_eq!(parse("-\"a b\""), not(phrase(&["a", "b"])));
        assert_eq!(
            parse("-title:a"),
            not(scoped(Field::Title, Term::Word("a".into())))
        );
        assert_eq!(parse("NOT NOT a"), not(not(word("a"))));
        assert_eq!(parse("--a"), not(not(word("a"))));
        assert_eq!(parse("a -b"), Query::And(vec![word("a"), not(word("b"))]));
    }

    #[test]
    fn query_parse_treats_lower_case_operators_as_words_when_not_upper_case() {
        assert_eq!(
            parse("war and peace or not"),
            Query::And(vec![
                word("war"),
                word("and"),
                word("peace"),
                word("or"),
                word("not")
            ])
        );
        assert_eq!(parse("And"), word("and"));
    }

    #[test]
    fn query_parse_reads_every_field_when_prefixed() {
        for field in Field::ALL {
            let q = parse(&format!("{}:china", field.name()));
            assert_eq!(q, scoped(field, Term::Word("china".into())));
        }
        assert_eq!(
            parse("Title:\"Central Asia\""),
            scoped(
                Field::Title,
                Term::Phrase(vec!["central".into(), "asia".into()])
            )
        );
        assert_eq!(
            parse("author:Miks*"),
            scoped(Field::Author, Term::Prefix("miks".into()))
        );
    }

    #[test]
    fn query_parse_makes_a_phrase_when_a_bare_term_has_several_words() {
        assert_eq!(parse("co-operation"), phrase(&["co", "operation"]));
        assert_eq!(
            parse("url:thediplomat.com"),
            scoped(
                Field::Url,
                Term::Phrase(vec!["thediplomat".into(), "com".into()])
            )
        );
        assert_eq!(parse("\"China\""), word("china"));
        assert_eq!(parse("\"Central \n  ASIA\""), phrase(&["central", "asia"]));
    }

    #[test]
    fn query_parse_keeps_colons_in_the_term_when_the_field_is_url() {
        assert_eq!(
            parse("url:https://x.org/a"),
            scoped(
                Field::Url,
                Term::Phrase(vec!["https".into(), "x".into(), "org".into(), "a".into()])
            )
        );
    }

    #[test]
    fn query_parse_treats_a_bare_url_as_a_phrase_when_no_field_is_given() {
        assert_eq!(
            parse("https://x.org/a"),
            phrase(&["https", "x", "org", "a"])
        );
        assert_eq!(parse("10:30"), phrase(&["10", "30"]));
        assert_eq!(parse(":x"), word("x"));
    }

    #[test]
    fn query_parse_normalizes_terms_when_they_have_case_or_diacritics() {
        assert_eq!(parse("Ürümqi"), word("urumqi"));
        assert_eq!(parse("Кыргыз*"), prefix("кыргыз"));
        assert_eq!(parse("Ёлка"), word("елка"));
    }

    #[test]
    fn query_parse_reads_the_design_query_when_it_spans_lines() {
        let text = "(\"central asia\" OR kazakh* OR kyrgyz* OR tajik* OR turkmen* OR uzbek* OR xinjiang OR uighur* OR uyghur*)\nAND (security OR terror* OR militant* OR extremis* OR border* OR insurgen* OR police)\n";
        let q = parse(text);
        let Query::And(parts) = &q else {
            panic!("expected AND, got {q:?}")
        };
        assert_eq!(parts.len(), 2);
        let Query::Or(places) = &parts[0] else {
            panic!("expected OR")
        };
        assert_eq!(places.len(), 9);
        assert_eq!(places[0], phrase(&["central", "asia"]));
        assert_eq!(places[8], prefix("uyghur"));
        let Query::Or(topics) = &parts[1] else {
            panic!("expected OR")
        };
        assert_eq!(topics.len(), 7);
        assert_eq!(topics[0], word("security"));
        assert_eq!(topics[6], word("police"));
    }

    fn error(text: &str) -> QueryError {
        match Query::parse(text) {
            Ok(q) => panic!("{text:?} parsed as {q:?}, expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn query_parse_reports_offset_and_message_when_query_is_invalid() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "empty query"),
            ("  \n ", 0, "empty query"),
            ("(a OR b", 0, "unbalanced '(': no matching ')'"),
            ("a (b (c)", 2, "unbalanced '(': no matching ')'"),
            ("x (", 2, "unbalanced '(': no matching ')'"),
            ("a OR b)", 6, "unbalanced ')': no matching '('"),
            (") a", 0, "unbalanced ')': no matching '('"),
            ("a ()", 2, "empty parentheses"),
            ("a \"central asia", 2, "unterminated quote"),
            ("a \"\"", 2, "empty phrase"),
            ("\" -- \"", 0, "empty phrase"),
            ("a OR", 2, "'OR' must be followed by a term"),
            ("a OR OR b", 2, "'OR' must be followed by a term"),
            ("a AND", 2, "'AND' must be followed by a term"),
            ("(a AND) b", 3, "'AND' must be followed by a term"),
            ("AND b", 0, "'AND' must follow a term"),
            ("OR b", 0, "'OR' must follow a term"),
            ("a NOT", 2, "'NOT' must be followed by a term"),
            ("a -", 2, "'-' must be followed directly by a term"),
            ("a - b", 2, "'-' must be followed directly by a term"),
            ("-)", 0, "'-' must be followed by a term"),
            (
                "*",
                0,
                "'*' must follow a word (a bare '*' matches nothing)",
            ),
            (
                "a *",
                2,
                "'*' must follow a word (a bare '*' matches nothing)",
            ),
            ("ky*rgyz", 2, "'*' is only allowed at the end of a word"),
            ("title:a**", 7, "'*' is only allowed at the end of a word"),
            ("*kyrgyz", 0, "'*' is only allowed at the end of a word"),
            (
                "\"kyrgyz* border\"",
                7,
                "'*' is not allowed inside a phrase",
            ),
            (
                "co-op*",
                0,
                "a prefix search needs a single word, not 'co-op'",
            ),
            (
                "x foo:bar",
                2,
                "unknown field 'foo' (expected one of title, summary, content, author, \
                 category, source, tag, lang, url)",
            ),
            (
                "title:",
                0,
                "field 'title' has no term (write title:word or title:\"some words\")",
            ),
            (
                "a url: b",
                2,
                "field 'url' has no term (write url:word or url:\"some words\")",
            ),
            ("a &&", 2, "term '&&' has no letters or digits"),
        ];
        for &(text, offset, message) in cases {
            let e = error(text);
            assert_eq!(
                (e.offset, e.message.as_str()),
                (offset, message),
                "query {text:?}"
            );
        }
    }

    #[test]
    fn query_error_displays_offset_when_formatted() {
        let e = error("a OR");
        assert_eq!(e.to_string(), "'OR' must be followed by a term (at byte 2)");
    }

    #[test]
    fn query_error_counts_bytes_when_query_has_multibyte_text() {
        // "Ürümqi " is 9 bytes: Ü and ü are two bytes each.
        assert_eq!(error("Ürümqi foo:x").offset, 9);
    }

    #[test]
    fn query_display_round_trips_when_reparsed() {
        let texts = [
            "a",
            "a b c",
            "a OR b c OR d",
            "(a OR b) (c OR d)",
            "NOT (a OR b) c",
            "-a -\"b c\" --d",
            "title:China author:\"Jason Miks\" url:thediplomat.com lang:en-US",
            "kyrgyz* OR Кыргыз* OR Ürümqi",
            "https://x.org/a OR url:https://x.org/a",
            "(\"central asia\" OR kazakh* OR kyrgyz*)\nAND (security OR terror*) -sport",
            "NOT NOT (a b)",
            "and or not",
        ];
        for text in texts {
            let q = parse(text);
            let shown = q.to_string();
            assert_eq!(parse(&shown), q, "{text:?} displayed as {shown:?}");
        }
    }

    #[test]
    fn query_display_writes_canonical_form_when_formatted() {
        assert_eq!(parse("a b OR c").to_string(), "a AND b OR c");
        assert_eq!(parse("(a OR b) c").to_string(), "(a OR b) AND c");
        assert_eq!(parse("-(a b)").to_string(), "NOT (a AND b)");
        assert_eq!(
            parse("Title:\"Central  Asia\" url:x.org kyrgyz*").to_string(),
            "title:\"central asia\" AND url:\"x org\" AND kyrgyz*"
        );
    }

    #[test]
    fn field_from_name_ignores_case_when_looking_up() {
        assert_eq!(Field::from_name("LANG"), Some(Field::Lang));
        assert_eq!(Field::from_name("body"), None);
    }
}
