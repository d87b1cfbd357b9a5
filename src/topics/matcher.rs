//! Every topic compiled into one matcher (DESIGN §3, §6): one pass over an article decides all
//! topics, so adding topics adds little to the cost of each article.
//!
//! How it works:
//! - Compiling collects the distinct terms of all queries and puts every word (of word and
//!   phrase terms) and every prefix into one byte trie. A term scoped to a set of fields is an
//!   *atom*; each query becomes a boolean tree over atom ids.
//! - Matching tokenizes each field of the document once ([`super::for_each_word`]) and walks
//!   the trie once per word: the walk reports every prefix term the word starts with and, at
//!   its end, whether the word is a query word. Phrases are checked at the positions where
//!   their first word occurred, within one field instance (so never across title → summary, or
//!   across two authors).
//! - The terms found, with the fields they were found in, give the satisfied atoms. Each query
//!   is indexed under a few *trigger* atoms (one of which must occur for it to match; see
//!   [`Node::triggers`]), and only the queries triggered by a satisfied atom are evaluated. A
//!   query true on an empty document (`NOT sport`) matches unless one of its atoms occurred.
//!
//! The matching works on words rather than running `aho-corasick` over raw text because the
//! semantics are word-level (word boundaries, prefixes of words, phrases of consecutive words
//! within one field); a trie over the normalized words is the same single pass, with those
//! boundaries for free.
//!
//! The per-article cost is the document's length times (at most) the trie depth, plus the
//! queries triggered by the article's words: not the number of topics as such.

use std::collections::HashMap;

use super::for_each_word;
use super::query::{Field, Query, Term};
use crate::model::Document;

/// Marks "none" in the `u32` slots of the trie and the word sequence.
const NONE: u32 = u32::MAX;

/// Field bit sets: bit `i` is `Field::ALL[i]`.
type FieldMask = u16;

/// The default scope of an unscoped term: title, summary and content.
const DEFAULT_SCOPE: FieldMask =
    field_bit(Field::Title) | field_bit(Field::Summary) | field_bit(Field::Content);

const fn field_bit(field: Field) -> FieldMask {
    1 << field as u16
}

/// All topic queries compiled into one structure; see the module docs. Cheap to share: it is
/// plain data, `Send + Sync`; wrap it in an `Arc` to hand it to several tasks.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// One compiled tree per query, in the order given to [`Matcher::new`].
    trees: Vec<Node>,
    trie: Trie,
    /// Phrase terms: (term id, trie node of each word).
    phrases: Vec<(u32, Box<[u32]>)>,
    /// For each term id, its atoms: (fields the atom accepts, atom id).
    term_atoms: Vec<Vec<(FieldMask, u32)>>,
    /// For each atom id, the queries to evaluate when it occurs (ascending, no repeats): its
    /// trigger atoms for a query false on an empty document, else all its atoms.
    atom_queries: Vec<Vec<u32>>,
    /// For each atom id, how it is shown to users (`title:china`, `kyrgyz*`).
    atom_labels: Vec<String>,
    /// Queries that hold on a document where none of their atoms occur (pure negations).
    match_when_absent: Vec<u32>,
}

/// A query tree over atom ids.
#[derive(Debug, Clone)]
enum Node {
    Atom(u32),
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
}

impl Node {
    /// Evaluates the tree given the satisfied atoms.
    fn eval(&self, satisfied: &AtomSet) -> bool {
        match self {
            Node::Atom(a) => satisfied.contains(*a),
            Node::And(xs) => xs.iter().all(|x| x.eval(satisfied)),
            Node::Or(xs) => xs.iter().any(|x| x.eval(satisfied)),
            Node::Not(x) => !x.eval(satisfied),
        }
    }

    /// Every atom of the tree.
    fn all_atoms(&self, out: &mut Vec<u32>) {
        match self {
            Node::Atom(a) => out.push(*a),
            Node::And(xs) | Node::Or(xs) => xs.iter().for_each(|x| x.all_atoms(out)),
            Node::Not(x) => x.all_atoms(out),
        }
    }

    /// For a tree that is false on a document with no atoms: a set of atoms at least one of
    /// which any document matching the tree must contain. Indexing a query under these atoms
    /// only (not all of its atoms) keeps it from being evaluated for articles that merely
    /// share a word with it: `(places…) AND (threats…)` is looked at only when the smaller
    /// group occurs.
    ///
    /// Why it holds: an `Or` that is false on empty is true only through some child, each
    /// false on empty; an `And` is true only if its chosen false-on-empty child is; a `Not(x)`
    /// false on empty has `x` true on empty, so `x` turns false only when one of its atoms
    /// occurs.
    fn triggers(&self, out: &mut Vec<u32>) {
        let empty = AtomSet::default();
        match self {
            Node::Atom(a) => out.push(*a),
            Node::Or(xs) => xs.iter().for_each(|x| x.triggers(out)),
            Node::And(xs) => {
                let smallest = xs
                    .iter()
                    .filter(|x| !x.eval(&empty))
                    .map(|x| {
                        let mut set = Vec::new();
                        x.triggers(&mut set);
                        set
                    })
                    .min_by_key(Vec::len);
                if let Some(set) = smallest {
                    out.extend(set);
                }
            }
            Node::Not(x) => x.all_atoms(out),
        }
    }

    /// Collects the atoms that count *for* a match: those under an even number of negations.
    fn positive_atoms(&self, negated: bool, out: &mut Vec<u32>) {
        match self {
            Node::Atom(a) => {
                if !negated && !out.contains(a) {
                    out.push(*a);
                }
            }
            Node::And(xs) | Node::Or(xs) => {
                for x in xs.iter() {
                    x.positive_atoms(negated, out);
                }
            }
            Node::Not(x) => x.positive_atoms(!negated, out),
        }
    }
}

/// The atoms a document satisfies: the list (to find candidate queries) and a bit set (for
/// constant-time lookups while evaluating trees). The bit set only reaches the highest
/// satisfied atom id, a few hundred bytes even with thousands of topics.
#[derive(Debug, Default)]
struct AtomSet {
    atoms: Vec<u32>,
    bits: Vec<u64>,
}

impl AtomSet {
    fn new(atoms: Vec<u32>) -> AtomSet {
        let words = atoms.iter().max().map_or(0, |&m| m as usize / 64 + 1);
        let mut bits = vec![0u64; words];
        for &a in &atoms {
            bits[a as usize / 64] |= 1 << (a % 64);
        }
        AtomSet { atoms, bits }
    }

    fn contains(&self, atom: u32) -> bool {
        self.bits
            .get(atom as usize / 64)
            .is_some_and(|w| w & (1 << (atom % 64)) != 0)
    }
}

/// A byte trie over normalized words and prefixes. Node 0 is the root.
#[derive(Debug, Clone)]
struct Trie {
    nodes: Vec<TrieNode>,
    /// The root's children indexed by byte (`NONE` if absent): with many topics the root is
    /// the widest node and is visited once per document word.
    root: Box<[u32; 256]>,
}

#[derive(Debug, Clone, Default)]
struct TrieNode {
    /// Sorted by byte, for binary search.
    children: Vec<(u8, u32)>,
    /// Whether some word or phrase term has a word ending here.
    is_word: bool,
    /// The `Term::Word` ending here, or `NONE`.
    word_term: u32,
    /// The `Term::Prefix` ending here, or `NONE`.
    prefix_term: u32,
    /// Phrases (indices into `Matcher::phrases`) whose first word ends here.
    phrase_starts: Vec<u32>,
}

impl Trie {
    fn new() -> Trie {
        Trie {
            nodes: vec![TrieNode::new()],
            root: Box::new([NONE; 256]),
        }
    }

    /// The node for `key`, creating the path to it.
    fn insert(&mut self, key: &str) -> u32 {
        let mut node = 0usize;
        for &b in key.as_bytes() {
            if node == 0 {
                node = match self.root[b as usize] {
                    NONE => {
                        let id = self.nodes.len();
                        self.nodes.push(TrieNode::new());
                        self.root[b as usize] = id as u32;
                        id
                    }
                    child => child as usize,
                };
                continue;
            }
            node = match self.nodes[node]
                .children
                .binary_search_by_key(&b, |&(c, _)| c)
            {
                Ok(i) => self.nodes[node].children[i].1 as usize,
                Err(i) => {
                    let id = self.nodes.len();
                    self.nodes.push(TrieNode::new());
                    self.nodes[node].children.insert(i, (b, id as u32));
                    id
                }
            };
        }
        node as u32
    }

    /// Walks `word`, calling `on_prefix` for each prefix term it starts with; returns the node
    /// of the whole word if it is a query word.
    fn walk(&self, word: &str, mut on_prefix: impl FnMut(u32)) -> Option<u32> {
        let mut node = 0usize;
        for &b in word.as_bytes() {
            node = if node == 0 {
                match self.root[b as usize] {
                    NONE => return None,
                    child => child as usize,
                }
            } else {
                let children = &self.nodes[node].children;
                let i = children.binary_search_by_key(&b, |&(c, _)| c).ok()?;
                children[i].1 as usize
            };
            let prefix = self.nodes[node].prefix_term;
            if prefix != NONE {
                on_prefix(prefix);
            }
        }
        self.nodes[node].is_word.then_some(node as u32)
    }
}

impl TrieNode {
    fn new() -> TrieNode {
        TrieNode {
            word_term: NONE,
            prefix_term: NONE,
            ..TrieNode::default()
        }
    }
}

/// Builds a [`Matcher`]: interns terms and atoms while compiling each query.
struct Compiler {
    matcher: Matcher,
    term_ids: HashMap<Term, u32>,
    atom_ids: HashMap<(u32, FieldMask), u32>,
}

impl Compiler {
    fn term(&mut self, term: &Term) -> u32 {
        if let Some(&id) = self.term_ids.get(term) {
            return id;
        }
        let id = self.matcher.term_atoms.len() as u32;
        self.matcher.term_atoms.push(Vec::new());
        self.term_ids.insert(term.clone(), id);
        let trie = &mut self.matcher.trie;
        match term {
            Term::Word(w) => {
                let node = trie.insert(w) as usize;
                trie.nodes[node].is_word = true;
                trie.nodes[node].word_term = id;
            }
            Term::Prefix(p) => {
                let node = trie.insert(p) as usize;
                trie.nodes[node].prefix_term = id;
            }
            Term::Phrase(ws) => {
                let nodes: Box<[u32]> = ws
                    .iter()
                    .map(|w| {
                        let node = trie.insert(w);
                        trie.nodes[node as usize].is_word = true;
                        node
                    })
                    .collect();
                let phrase = self.matcher.phrases.len() as u32;
                if let Some(&first) = nodes.first() {
                    trie.nodes[first as usize].phrase_starts.push(phrase);
                }
                self.matcher.phrases.push((id, nodes));
            }
        }
        id
    }

    fn atom(&mut self, field: Option<Field>, term: &Term) -> u32 {
        let term_id = self.term(term);
        let scope = field.map_or(DEFAULT_SCOPE, field_bit);
        match self.atom_ids.get(&(term_id, scope)) {
            Some(&atom) => atom,
            None => {
                let atom = self.matcher.atom_queries.len() as u32;
                self.atom_ids.insert((term_id, scope), atom);
                self.matcher.term_atoms[term_id as usize].push((scope, atom));
                self.matcher.atom_queries.push(Vec::new());
                let label = Query::Match {
                    field,
                    term: term.clone(),
                };
                self.matcher.atom_labels.push(label.to_string());
                atom
            }
        }
    }

    fn compile(&mut self, q: &Query) -> Node {
        match q {
            Query::Or(xs) => Node::Or(xs.iter().map(|x| self.compile(x)).collect()),
            Query::And(xs) => Node::And(xs.iter().map(|x| self.compile(x)).collect()),
            Query::Not(x) => Node::Not(Box::new(self.compile(x))),
            Query::Match { field, term } => Node::Atom(self.atom(*field, term)),
        }
    }

    /// Adds query `index` (compiled as `tree`) to the atom → query index.
    fn index(&mut self, index: u32, tree: Node) {
        let mut atoms = Vec::new();
        if tree.eval(&AtomSet::default()) {
            // True on an empty document: it matches unless its atoms say otherwise, so any of
            // them occurring calls for an evaluation.
            self.matcher.match_when_absent.push(index);
            tree.all_atoms(&mut atoms);
        } else {
            tree.triggers(&mut atoms);
        }
        atoms.sort_unstable();
        atoms.dedup();
        for atom in atoms {
            self.matcher.atom_queries[atom as usize].push(index);
        }
        self.matcher.trees.push(tree);
    }
}

/// What one pass over a document found, before evaluating any query.
struct Scan {
    hits: Hits,
    /// Trie node of each word of the current field instance, `NONE` if not a query word.
    sequence: Vec<u32>,
    buf: String,
}

/// Slots in [`Hits`]'s filter of recent hits.
const RECENT_HITS: usize = 512;

/// The (term id, field bit) pairs found so far. Common words repeat through an article, so a
/// small direct-mapped filter of recent pairs drops most repeats before they reach the list
/// (which is sorted and merged afterwards, so a repeat that slips through costs only time).
struct Hits {
    list: Vec<(u32, FieldMask)>,
    recent: Box<[u64; RECENT_HITS]>,
}

impl Hits {
    fn new() -> Hits {
        // `u64::MAX` is never a key: keys are below 2^48.
        Hits {
            list: Vec::new(),
            recent: Box::new([u64::MAX; RECENT_HITS]),
        }
    }

    fn push(&mut self, term: u32, bit: FieldMask) {
        let key = (u64::from(term) << 16) | u64::from(bit);
        let slot = (term as usize).wrapping_add(bit.trailing_zeros() as usize * 61) % RECENT_HITS;
        if self.recent[slot] != key {
            self.recent[slot] = key;
            self.list.push((term, bit));
        }
    }
}

impl Matcher {
    /// Compiles `queries`; the query at index `i` is topic `i` in every answer.
    pub fn new(queries: &[Query]) -> Matcher {
        let mut compiler = Compiler {
            matcher: Matcher {
                trees: Vec::with_capacity(queries.len()),
                trie: Trie::new(),
                phrases: Vec::new(),
                term_atoms: Vec::new(),
                atom_queries: Vec::new(),
                atom_labels: Vec::new(),
                match_when_absent: Vec::new(),
            },
            term_ids: HashMap::new(),
            atom_ids: HashMap::new(),
        };
        for (i, q) in queries.iter().enumerate() {
            let tree = compiler.compile(q);
            compiler.index(i as u32, tree);
        }
        compiler.matcher
    }

    /// The number of compiled queries.
    pub fn len(&self) -> usize {
        self.trees.len()
    }

    /// Whether no query was compiled (no topic can match).
    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }

    /// Indices of the queries that match `doc`, ascending.
    pub fn matching(&self, doc: &Document<'_>) -> Vec<usize> {
        let satisfied = self.satisfied_atoms(doc);
        let mut candidates: Vec<u32> = satisfied
            .atoms
            .iter()
            .flat_map(|&a| self.atom_queries[a as usize].iter().copied())
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let mut out: Vec<usize> = candidates
            .iter()
            .filter(|&&q| self.trees[q as usize].eval(&satisfied))
            .map(|&q| q as usize)
            .collect();
        // A query none of whose atoms occurred evaluates as on an empty document.
        out.extend(
            self.match_when_absent
                .iter()
                .filter(|q| candidates.binary_search(q).is_err())
                .map(|&q| q as usize),
        );
        out.sort_unstable();
        out
    }

    /// Whether query `index` matches `doc`; false for an index out of range.
    pub fn is_match(&self, index: usize, doc: &Document<'_>) -> bool {
        match self.trees.get(index) {
            Some(tree) => tree.eval(&self.satisfied_atoms(doc)),
            None => false,
        }
    }

    /// The positive terms of query `index` (not under a negation) that occur in `doc`, in
    /// query order, as written canonically (`kyrgyz*`, `title:china`, `"central asia"`): the
    /// "why it matched" of `feedmill search`. It lists what occurs whether or not the query
    /// matches as a whole (ask [`Matcher::is_match`] for that). Empty for an index out of range.
    pub fn matched_terms(&self, index: usize, doc: &Document<'_>) -> Vec<String> {
        let Some(tree) = self.trees.get(index) else {
            return Vec::new();
        };
        let satisfied = self.satisfied_atoms(doc);
        let mut atoms = Vec::new();
        tree.positive_atoms(false, &mut atoms);
        atoms
            .into_iter()
            .filter(|&a| satisfied.contains(a))
            .map(|a| self.atom_labels[a as usize].clone())
            .collect()
    }

    /// The one pass: tokenizes every field instance of `doc` once and returns the satisfied
    /// atoms.
    fn satisfied_atoms(&self, doc: &Document<'_>) -> AtomSet {
        let mut scan = Scan {
            hits: Hits::new(),
            sequence: Vec::new(),
            buf: String::new(),
        };
        self.scan_field(&mut scan, Field::Title, doc.title);
        self.scan_field(&mut scan, Field::Summary, doc.summary);
        self.scan_field(&mut scan, Field::Content, doc.content);
        for author in doc.authors {
            self.scan_field(&mut scan, Field::Author, author);
        }
        for category in doc.categories {
            self.scan_field(&mut scan, Field::Category, category);
        }
        self.scan_field(&mut scan, Field::Source, doc.source);
        for tag in doc.tags {
            self.scan_field(&mut scan, Field::Tag, tag);
        }
        if let Some(lang) = doc.lang {
            self.scan_field(&mut scan, Field::Lang, lang);
        }
        if let Some(url) = doc.url {
            self.scan_field(&mut scan, Field::Url, url);
        }

        // Merge hits per term into one field mask, then turn terms into atoms.
        let mut hits = scan.hits.list;
        hits.sort_unstable();
        let mut satisfied = Vec::new();
        let mut i = 0;
        while i < hits.len() {
            let term = hits[i].0;
            let mut fields = 0;
            while i < hits.len() && hits[i].0 == term {
                fields |= hits[i].1;
                i += 1;
            }
            for &(scope, atom) in &self.term_atoms[term as usize] {
                if scope & fields != 0 {
                    satisfied.push(atom);
                }
            }
        }
        AtomSet::new(satisfied)
    }

    /// Records the terms found in one field instance (one author, one tag, the title…).
    ///
    /// `lang` is anchored at its first word, so `lang:en` matches "en" and "en-US" but
    /// `lang:us` does not match "en-US".
    fn scan_field(&self, scan: &mut Scan, field: Field, text: &str) {
        let bit = field_bit(field);
        let anchored = field == Field::Lang;
        let track_words = !self.phrases.is_empty();
        let Scan {
            hits,
            sequence,
            buf,
        } = scan;
        sequence.clear();
        let mut position = 0usize;
        for_each_word(text, buf, |word| {
            let counts = !anchored || position == 0;
            let node = self.trie.walk(word, |prefix_term| {
                if counts {
                    hits.push(prefix_term, bit);
                }
            });
            if let Some(node) = node {
                let word_term = self.trie.nodes[node as usize].word_term;
                if counts && word_term != NONE {
                    hits.push(word_term, bit);
                }
            }
            if track_words {
                sequence.push(node.unwrap_or(NONE));
            }
            position += 1;
        });
        if !track_words {
            return;
        }
        for (start, &node) in sequence.iter().enumerate() {
            if anchored && start > 0 {
                break;
            }
            if node == NONE {
                continue;
            }
            for &phrase in &self.trie.nodes[node as usize].phrase_starts {
                let (term, words) = &self.phrases[phrase as usize];
                if sequence[start..].starts_with(words) {
                    hits.push(*term, bit);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DESIGN_QUERY: &str = "(\"central asia\" OR kazakh* OR kyrgyz* OR tajik* OR turkmen* OR uzbek* OR xinjiang OR uighur* OR uyghur*)
AND (security OR terror* OR militant* OR extremis* OR border* OR insurgen* OR police)";

    /// An excerpt of "China, Kyrgyzstan Ties Warm" (The Diplomat), the article the "Central
    /// Asia security" topic exists for.
    const DIPLOMAT_TITLE: &str = "China, Kyrgyzstan Ties Warm";
    const DIPLOMAT_SUMMARY: &str = "Senior officials from China and Kyrgyzstan meet to discuss \
        how to work more closely on tackling terrorism.";
    const DIPLOMAT_CONTENT: &str = "Earlier this week, senior leaders from China and Kyrgyzstan \
        met in Beijing to discuss how the two countries could work more closely together in \
        combating regional terrorism. The meeting came against the backdrop of a violent summer \
        in China’s north-western province of Xinjiang, which shares an 850-kilometre border with \
        Kyrgyzstan.\n\nChina is especially concerned about Uighur militants in Xinjiang, and \
        continues to pressure its western neighbours—including Kyrgyzstan—to clamp down on \
        their transnational connections.\n\nEnjoying this article? Click here to subscribe for \
        full access. Just $5 a month.";

    fn q(text: &str) -> Query {
        match Query::parse(text) {
            Ok(q) => q,
            Err(e) => panic!("{text:?}: {e}"),
        }
    }

    fn matcher(texts: &[&str]) -> Matcher {
        Matcher::new(&texts.iter().map(|t| q(t)).collect::<Vec<_>>())
    }

    fn text_doc<'a>(title: &'a str, summary: &'a str, content: &'a str) -> Document<'a> {
        Document {
            title,
            summary,
            content,
            ..Document::default()
        }
    }

    fn diplomat() -> Document<'static> {
        text_doc(DIPLOMAT_TITLE, DIPLOMAT_SUMMARY, DIPLOMAT_CONTENT)
    }

    #[test]
    fn matcher_matches_design_query_when_article_is_central_asia_security() {
        let m = matcher(&[DESIGN_QUERY]);
        assert_eq!(m.matching(&diplomat()), [0]);
        assert!(m.is_match(0, &diplomat()));
        assert_eq!(
            m.matched_terms(0, &diplomat()),
            [
                "kyrgyz*",
                "xinjiang",
                "uighur*",
                "terror*",
                "militant*",
                "border*"
            ]
        );
    }

    #[test]
    fn matcher_rejects_design_query_when_article_lacks_security_terms() {
        let m = matcher(&[DESIGN_QUERY]);
        let doc = text_doc(
            "Central Asia’s cotton harvest",
            "Uzbekistan and Tajikistan expect record yields.",
            "Farmers in the Fergana valley are optimistic.",
        );
        assert!(m.matching(&doc).is_empty());
        let doc = text_doc(
            "Border police on alert",
            "Security tightened at the frontier.",
            "Nothing here names the region.",
        );
        assert!(!m.is_match(0, &doc));
    }

    #[test]
    fn matcher_matches_prefix_when_word_starts_with_it() {
        let m = matcher(&["kyrgyz*", "kyrgyzstan*", "kyrgyzstanis*"]);
        let doc = text_doc("Kyrgyzstan’s border", "", "");
        assert_eq!(m.matching(&doc), [0, 1]);
        let doc = text_doc("A Kyrgyz herder", "", "");
        assert_eq!(m.matching(&doc), [0]);
        let doc = text_doc("Kyr", "", "gyz");
        assert!(m.matching(&doc).is_empty());
    }

    #[test]
    fn matcher_matches_phrase_when_words_are_split_by_a_line_break() {
        let m = matcher(&["\"central asia\""]);
        let doc = text_doc("", "", "Security in Central\nAsia, again.");
        assert_eq!(m.matching(&doc), [0]);
        let doc = text_doc("", "", "Asia central; central Europe and Asia.");
        assert!(m.matching(&doc).is_empty());
    }

    #[test]
    fn matcher_matches_phrase_when_first_word_repeats() {
        let m = matcher(&["\"new new york\"", "\"a b a c\""]);
        let doc = text_doc("", "", "new new new york");
        assert_eq!(m.matching(&doc), [0]);
        let doc = text_doc("", "", "a b a b a c");
        assert_eq!(m.matching(&doc), [1]);
    }

    #[test]
    fn matcher_skips_phrase_when_it_would_span_title_and_summary() {
        let m = matcher(&["\"ties warm\"", "\"warm senior\"", "\"china kyrgyzstan\""]);
        let doc = diplomat();
        // "Warm" ends the title and "Senior" opens the summary.
        assert_eq!(m.matching(&doc), [0, 2]);
    }

    #[test]
    fn matcher_skips_phrase_when_it_would_span_two_authors() {
        let authors = vec!["Jason Miks".to_string(), "Ann Other".to_string()];
        let doc = Document {
            authors: &authors,
            ..Document::default()
        };
        let m = matcher(&[
            "author:\"miks ann\"",
            "author:\"jason miks\"",
            "author:other",
        ]);
        assert_eq!(m.matching(&doc), [1, 2]);
    }

    #[test]
    fn matcher_limits_terms_to_field_when_scoped() {
        let m = matcher(&[
            "title:kyrgyzstan",
            "summary:terrorism",
            "content:xinjiang",
            "title:xinjiang",
            "content:\"ties warm\"",
        ]);
        assert_eq!(m.matching(&diplomat()), [0, 1, 2]);
    }

    #[test]
    fn matcher_matches_metadata_fields_when_scoped() {
        let authors = vec!["Jason Miks".to_string()];
        let categories = vec!["Security".to_string(), "Central Asia".to_string()];
        let tags = vec!["asia".to_string(), "analysis".to_string()];
        let doc = Document {
            title: "Ties",
            authors: &authors,
            categories: &categories,
            source: "The Diplomat",
            tags: &tags,
            lang: Some("en"),
            url: Some("https://thediplomat.com/2012/09/china-kyrgyzstan-ties-warm/"),
            ..Document::default()
        };
        let m = matcher(&[
            "author:miks",                 // 0
            "category:\"central asia\"",   // 1
            "source:diplomat",             // 2
            "tag:analysis",                // 3
            "url:thediplomat.com",         // 4
            "url:https://thediplomat.com", // 5
            "url:kyrgyzstan-ties",         // 6
            "diplomat",                    // 7: default scope is text only
            "tag:asia*",                   // 8
            "source:\"the diplomat\"",     // 9
            "category:security",           // 10
            "url:example.com",             // 11
        ]);
        assert_eq!(m.matching(&doc), [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]);
    }

    #[test]
    fn matcher_matches_cyrillic_prefix_when_text_is_russian() {
        let m = matcher(&["кыргыз*", "\"центральная азия\"", "Бишкек"]);
        let doc = text_doc(
            "Кыргызстан и Китай усиливают безопасность границы",
            "Центральная\nАзия",
            "БИШКЕК — ...",
        );
        assert_eq!(m.matching(&doc), [0, 1, 2]);
        let doc = text_doc("Қазақстан", "", "");
        assert!(m.matching(&doc).is_empty());
    }

    #[test]
    fn matcher_folds_diacritics_when_query_or_text_has_them() {
        let m = matcher(&["urumqi", "Ürümqi", "елка"]);
        assert_eq!(m.matching(&text_doc("Ürümqi riots", "", "")), [0, 1]);
        assert_eq!(m.matching(&text_doc("URUMQI", "", "")), [0, 1]);
        assert_eq!(m.matching(&text_doc("Ёлка", "", "")), [2]);
    }

    #[test]
    fn matcher_anchors_lang_when_tag_has_a_region() {
        let m = matcher(&["lang:en", "lang:us", "lang:en-us", "lang:e*", "lang:ru"]);
        let with_lang = |lang| Document {
            lang,
            ..Document::default()
        };
        assert_eq!(m.matching(&with_lang(Some("en-US"))), [0, 2, 3]);
        assert_eq!(m.matching(&with_lang(Some("en"))), [0, 3]);
        assert_eq!(m.matching(&with_lang(Some("ru-RU"))), [4]);
        assert!(m.matching(&with_lang(None)).is_empty());
    }

    #[test]
    fn matcher_returns_every_matching_index_when_topics_overlap() {
        let m = matcher(&[
            DESIGN_QUERY,           // 0: yes
            "sport OR football",    // 1: no
            "china beijing",        // 2: yes
            "\"central asia\"",     // 3: no (the excerpt never says it)
            "title:china OR sport", // 4: yes
            "NOT kyrgyz*",          // 5: no
            "NOT football",         // 6: yes, nothing of it occurs
        ]);
        assert_eq!(m.len(), 7);
        assert!(!m.is_empty());
        assert_eq!(m.matching(&diplomat()), [0, 2, 4, 6]);
        for i in 0..m.len() {
            assert_eq!(
                m.is_match(i, &diplomat()),
                m.matching(&diplomat()).contains(&i),
                "query {i}"
            );
        }
    }

    #[test]
    fn matcher_excludes_article_when_negated_term_occurs() {
        let m = matcher(&["kyrgyz* -football", "kyrgyz* NOT (sport OR \"ties warm\")"]);
        assert_eq!(m.matching(&diplomat()), [0]);
        let doc = text_doc("Kyrgyzstan football", "", "sport");
        assert!(m.matching(&doc).is_empty());
        // The negated "ties warm" occurs but is never a reason for a match.
        assert_eq!(m.matched_terms(1, &diplomat()), ["kyrgyz*"]);
        assert_eq!(m.matched_terms(0, &diplomat()), ["kyrgyz*"]);
    }

    #[test]
    fn matcher_matches_pure_negation_when_document_is_empty() {
        let m = matcher(&["-sport", "sport", "NOT NOT sport"]);
        assert_eq!(m.matching(&Document::default()), [0]);
        assert_eq!(m.matching(&text_doc("Sport", "", "")), [1, 2]);
    }

    #[test]
    fn matcher_answers_nothing_when_index_is_out_of_range() {
        let m = matcher(&["china"]);
        assert!(!m.is_match(1, &diplomat()));
        assert!(m.matched_terms(1, &diplomat()).is_empty());
        let empty = Matcher::new(&[]);
        assert!(empty.is_empty());
        assert!(empty.matching(&diplomat()).is_empty());
    }

    #[test]
    fn matcher_shares_terms_when_topics_repeat_them() {
        let m = matcher(&["china", "china", "title:china", "china*"]);
        assert_eq!(m.matching(&diplomat()), [0, 1, 2, 3]);
        // One term, two scopes: two atoms.
        assert_eq!(m.atom_labels, ["china", "title:china", "china*"]);
    }

    #[test]
    fn matcher_picks_the_right_topics_when_there_are_a_thousand() {
        let texts: Vec<String> = (0..1000)
            .map(|i| format!("(topic{i} OR \"alpha beta{i}\") AND NOT gamma{}", i % 7))
            .collect();
        let m = Matcher::new(&texts.iter().map(|t| q(t)).collect::<Vec<_>>());
        let doc = text_doc("topic5 topic12 topic998", "alpha beta40 gamma5", "topic19");
        // topic5, 12, 998, 19 and phrase 40; gamma5 excludes i % 7 == 5 (5, 12, 19, 40).
        assert_eq!(m.matching(&doc), [998]);
        let doc = text_doc("topic5 topic12", "alpha beta40", "");
        assert_eq!(m.matching(&doc), [5, 12, 40]);
    }

    #[test]
    fn matcher_indexes_only_the_smaller_group_when_query_is_a_conjunction() {
        let m = matcher(&["(a OR b OR c) AND (x OR y)", "a -z", "-(a b)"]);
        let indexed = |label: &str| {
            let atom = m.atom_labels.iter().position(|l| l == label);
            atom.map(|a| m.atom_queries[a].clone()).unwrap_or_default()
        };
        assert_eq!(indexed("a"), [1, 2]);
        assert_eq!(indexed("x"), [0]);
        assert_eq!(indexed("y"), [0]);
        // `a -z` matches only with `a`; `-(a b)` is true on empty, so all its atoms count.
        assert_eq!(indexed("z"), Vec::<u32>::new());
        assert_eq!(indexed("b"), [2]);
        assert_eq!(m.match_when_absent, [2]);
    }

    #[test]
    fn matcher_agrees_with_evaluating_each_query_when_queries_nest_negations() {
        let queries = [
            "a",
            "-a",
            "a b",
            "a OR b",
            "a -b",
            "-(a OR b)",
            "-(a b)",
            "NOT NOT a",
            "(a OR -b) c",
            "(a -b) OR (c -d)",
            "-(a -(b OR -c))",
            "title:a OR -content:b",
            "(a OR b) (c OR d) -(e f)",
            "-a -b -c",
            "\"a b\" OR -\"c d\"",
            "a* -ab",
        ];
        let m = matcher(&queries);
        let texts = [
            "",
            "a",
            "b",
            "c",
            "a b",
            "b a",
            "a c",
            "b c",
            "a b c",
            "c d",
            "a d e f",
            "e f",
            "ab",
            "abc b",
            "a b c d e f",
        ];
        let mut docs = Vec::new();
        for title in texts {
            for content in ["", "b", "a c d"] {
                docs.push(text_doc(title, "", content));
            }
        }
        for doc in &docs {
            let expected: Vec<usize> = (0..m.len()).filter(|&i| m.is_match(i, doc)).collect();
            assert_eq!(
                m.matching(doc),
                expected,
                "title {:?} content {:?}",
                doc.title,
                doc.content
            );
        }
        // Spot-check is_match itself against the intended boolean logic.
        let doc = text_doc("a b", "", "");
        assert!(m.is_match(2, &doc) && !m.is_match(4, &doc) && !m.is_match(6, &doc));
        assert!(m.is_match(10, &text_doc("a b", "", "")));
        assert!(!m.is_match(10, &text_doc("a c", "", "")));
    }

    #[test]
    fn matcher_is_send_sync_and_clone_when_shared() {
        fn assert_shareable<T: Send + Sync + Clone>() {}
        assert_shareable::<Matcher>();
    }
}
