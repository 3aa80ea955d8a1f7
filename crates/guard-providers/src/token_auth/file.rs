//! Kubernetes' static token file format, one user per line:
//!
//! ```text
//! token,username,uid
//! token,username,uid,"group1,group2"
//! ```
//!
//! Fields are trimmed; token, username and uid must not be empty; a token
//! may appear only once; one user may have several tokens. Quoted fields
//! follow CSV rules (they may hold commas and even line breaks), as strictly
//! as Go's `encoding/csv`, which kube-apiserver and Go Guard read the file
//! with: a `"` in a field that does not start with one, a `"` after a
//! closing quote, and a quoted field never closed make the file invalid.
//! Errors name the line, never the token.

use std::path::Path;

use guard_auth::Identity;

use super::options::FLAG;
use crate::ProviderError;

/// A range of bytes in [`TokenFile::strings`].
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

/// One line of the file, as spans of the string arena.
#[derive(Debug, Clone, Copy)]
struct Entry {
    token: Span,
    username: Span,
    uid: Span,
    /// Range of [`TokenFile::group_ids`].
    groups: Span,
}

/// A loaded token file: token → user.
///
/// Built for files of a million lines: every string lives in one arena,
/// each line is a fixed-size [`Entry`], group names are stored once, and
/// tokens are found by binary search in an index sorted by hash. Loading
/// allocates nothing per line; the [`Identity`] is built on lookup.
#[derive(Debug, Default)]
pub struct TokenFile {
    strings: String,
    entries: Vec<Entry>,
    /// `(hash of the token, entry)`, sorted.
    index: Vec<(u64, u32)>,
    group_ids: Vec<u32>,
    groups: Vec<Box<str>>,
    hasher: foldhash::fast::RandomState,
}

/// A malformed line: `(1-based line number, what is wrong)`.
pub type LineError = (u64, String);

impl TokenFile {
    /// Reads and parses `path` (named by `--token-auth-file`).
    pub fn load(path: &Path) -> Result<Self, ProviderError> {
        let data = ProviderError::read(FLAG, path)?;
        Self::parse_file(path, &data)
    }

    /// Parses `data`, read from `path` (named in errors).
    pub fn parse_file(path: &Path, data: &[u8]) -> Result<Self, ProviderError> {
        Self::parse(data).map_err(|(line, problem)| ProviderError::TokenFileLine {
            path: path.to_owned(),
            line,
            problem,
        })
    }

    /// Parses the file's contents; an error is `(line, problem)`.
    pub fn parse(data: &[u8]) -> Result<Self, LineError> {
        if u32::try_from(data.len()).is_err() {
            return Err((0, "the file is larger than 4 GiB".into()));
        }
        let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
        let mut file = TokenFile {
            strings: String::with_capacity(data.len()),
            entries: Vec::with_capacity(lines),
            ..TokenFile::default()
        };
        check_quotes(data)?;
        let mut group_index: foldhash::HashMap<Box<str>, u32> = Default::default();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(data);
        let mut record = csv::ByteRecord::new();
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    let line = line_at(data, e.position());
                    return Err((line, "not valid CSV (check the quoting)".into()));
                }
            }
            let line = || line_at(data, record.position());
            let field = |i: usize| -> Result<&str, LineError> {
                let raw = record.get(i).unwrap_or_default();
                std::str::from_utf8(raw)
                    .map(str::trim)
                    .map_err(|_| (line(), format!("field {} is not UTF-8", i + 1)))
            };
            if !(3..=4).contains(&record.len()) {
                return Err((
                    line(),
                    format!(
                        "expected 3 or 4 fields (token,user,uid[,\"groups\"]), found {}",
                        record.len()
                    ),
                ));
            }
            let (token, username, uid) = (field(0)?, field(1)?, field(2)?);
            for (value, name) in [(token, "token"), (username, "user name"), (uid, "uid")] {
                if value.is_empty() {
                    return Err((line(), format!("empty {name}")));
                }
            }
            let groups_start = file.group_ids.len() as u32;
            if record.len() == 4 {
                for group in field(3)?
                    .split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                {
                    let id = match group_index.get(group) {
                        Some(&id) => id,
                        None => {
                            let id = file.groups.len() as u32;
                            file.groups.push(Box::from(group));
                            group_index.insert(Box::from(group), id);
                            id
                        }
                    };
                    file.group_ids.push(id);
                }
            }
            let entry = Entry {
                token: file.push_str(token),
                username: file.push_str(username),
                uid: file.push_str(uid),
                groups: Span {
                    start: groups_start,
                    len: file.group_ids.len() as u32 - groups_start,
                },
            };
            file.entries.push(entry);
        }
        file.build_index(data)?;
        file.strings.shrink_to_fit();
        Ok(file)
    }

    fn push_str(&mut self, s: &str) -> Span {
        // The arena is at most as large as the file, which fits in u32.
        let start = self.strings.len() as u32;
        self.strings.push_str(s);
        Span {
            start,
            len: s.len() as u32,
        }
    }

    fn str(&self, span: Span) -> &str {
        &self.strings[span.start as usize..(span.start + span.len) as usize]
    }

    /// Sorts the hash index and rejects a token used twice.
    fn build_index(&mut self, data: &[u8]) -> Result<(), LineError> {
        use std::hash::BuildHasher as _;
        let mut index: Vec<(u64, u32)> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (self.hasher.hash_one(self.str(e.token)), i as u32))
            .collect();
        index.sort_unstable();
        // Equal tokens have equal hashes, so they end up next to each other.
        let mut duplicate: Option<u32> = None;
        for run in index
            .chunk_by(|a, b| a.0 == b.0)
            .filter(|run| run.len() > 1)
        {
            for (i, &(_, a)) in run.iter().enumerate() {
                for &(_, b) in &run[i + 1..] {
                    let (ta, tb) = (
                        self.entries[a as usize].token,
                        self.entries[b as usize].token,
                    );
                    if self.str(ta) == self.str(tb) {
                        let later = a.max(b);
                        duplicate = Some(duplicate.map_or(later, |d| d.min(later)));
                    }
                }
            }
        }
        if let Some(entry) = duplicate {
            return Err((
                record_line(data, entry),
                "reuses a token of an earlier line".into(),
            ));
        }
        self.index = index;
        Ok(())
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the file has no token.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The identity of `token`, if listed.
    pub fn lookup(&self, token: &str) -> Option<Identity> {
        use std::hash::BuildHasher as _;
        let hash = self.hasher.hash_one(token);
        let first = self.index.partition_point(|&(h, _)| h < hash);
        let entry = self.index[first..]
            .iter()
            .take_while(|&&(h, _)| h == hash)
            .map(|&(_, i)| &self.entries[i as usize])
            .find(|e| self.str(e.token) == token)?;
        let groups = &self.group_ids[entry.groups.start as usize..][..entry.groups.len as usize];
        Some(Identity {
            username: self.str(entry.username).to_owned(),
            uid: self.str(entry.uid).to_owned(),
            groups: groups
                .iter()
                .map(|&g| self.groups[g as usize].to_string())
                .collect(),
            extra: Default::default(),
        })
    }
}

/// Applies the quoting rules of Go's `encoding/csv` (without `LazyQuotes`),
/// which the `csv` crate is lenient about: a field is quoted only when its
/// first byte is `"`; inside it `""` is a quote and a closing `"` must be
/// followed by a comma, the end of the line or the end of the file; an
/// unquoted field holds no `"`; a quoted field must be closed.
fn check_quotes(data: &[u8]) -> Result<(), LineError> {
    #[derive(Clone, Copy)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted { opened_on: u64 },
        AfterQuote { opened_on: u64 },
    }
    let mut state = State::FieldStart;
    let mut line: u64 = 1;
    let mut bytes = data.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        state = match (state, b) {
            (State::FieldStart, b'"') => State::Quoted { opened_on: line },
            (State::FieldStart | State::Unquoted, b',' | b'\n') => State::FieldStart,
            (State::Unquoted, b'"') => {
                return Err((
                    line,
                    "a \" in a field that does not start with one (quote the whole field \
                     and write a \" inside it as \"\")"
                        .into(),
                ));
            }
            (State::FieldStart | State::Unquoted, _) => State::Unquoted,
            (State::Quoted { opened_on }, b'"') => State::AfterQuote { opened_on },
            (State::Quoted { .. }, _) => state,
            (State::AfterQuote { opened_on }, b'"') => State::Quoted { opened_on },
            (State::AfterQuote { .. }, b',' | b'\n') => State::FieldStart,
            // `"\r\n` ends the line too, as does `"\r` at the end of the file.
            (State::AfterQuote { .. }, b'\r') if matches!(bytes.peek(), None | Some(b'\n')) => {
                state
            }
            (State::AfterQuote { opened_on }, _) => {
                return Err((
                    line,
                    format!(
                        "the field quoted on line {opened_on} is closed by a \" that is \
                         followed by more text (a \" inside a quoted field is written \"\")"
                    ),
                ));
            }
        };
        if b == b'\n' {
            line += 1;
        }
    }
    if let State::Quoted { opened_on } = state {
        return Err((
            opened_on,
            "a quoted field starts here and is never closed".into(),
        ));
    }
    Ok(())
}

/// The 1-based line on which a csv record starts. The csv reader does not
/// count blank lines, so count newlines up to the record's first byte (only
/// on the error path).
fn line_at(data: &[u8], pos: Option<&csv::Position>) -> u64 {
    let mut byte = pos.map_or(0, |p| p.byte() as usize).min(data.len());
    // A record's position may point at blank lines skipped before it.
    while byte < data.len() && matches!(data[byte], b'\n' | b'\r') {
        byte += 1;
    }
    data[..byte].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

/// The line of the `n`th record (0-based), found by parsing again: only
/// for error messages.
fn record_line(data: &[u8], n: u32) -> u64 {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut record = csv::ByteRecord::new();
    for _ in 0..=n {
        if !matches!(reader.read_byte_record(&mut record), Ok(true)) {
            return 0;
        }
    }
    line_at(data, record.position())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<TokenFile, (u64, String)> {
        TokenFile::parse(s.as_bytes())
    }

    #[test]
    fn parses_three_and_four_columns_with_trimming() {
        let f = parse(
            "tok1, alice ,1001,\" dev , ops \"\r\n\ntok2,bob,1002\ntok3,alice,1001,\nlskdfjldskfnkjhf,user3,7654,\n",
        )
        .unwrap();
        assert_eq!(f.len(), 4);
        let alice = f.lookup("tok1").unwrap();
        assert_eq!(alice.username, "alice");
        assert_eq!(alice.uid, "1001");
        assert_eq!(alice.groups, ["dev", "ops"]);
        assert!(f.lookup("tok2").unwrap().groups.is_empty());
        assert_eq!(f.lookup("tok3").unwrap().username, "alice");
        assert!(f.lookup("tok4").is_none());
        assert!(f.lookup("").is_none());
    }

    #[test]
    fn empty_group_pieces_are_dropped() {
        let f = parse("t,u,1,\" a , ,b \"\n").unwrap();
        assert_eq!(f.lookup("t").unwrap().groups, ["a", "b"]);
    }

    #[test]
    fn quoted_groups_may_span_lines() {
        let f = parse("t1,u,1,\"a,\nb\"\nt2,v,2\n").unwrap();
        assert_eq!(f.lookup("t1").unwrap().groups, ["a", "b"]);
        assert!(f.lookup("t2").is_some());
    }

    #[test]
    fn errors_name_the_line_and_not_the_token() {
        let cases = [
            ("ok,u,1\nsecret-tok,u\n", 2, "expected 3 or 4 fields"),
            ("ok,u,1\n\nsecret-tok,u,1,g,extra\n", 3, "found 5"),
            ("secret-tok,,1\n", 1, "empty user name"),
            ("secret-tok,u,\n", 1, "empty uid"),
            (" ,u,1\n", 1, "empty token"),
            (
                "secret-tok,u,1\nx,y,2\nsecret-tok,v,3\n",
                3,
                "reuses a token",
            ),
            ("# a comment\n", 1, "expected 3 or 4 fields"),
        ];
        for (text, line, needle) in cases {
            let (got_line, problem) = parse(text)
                .err()
                .unwrap_or_else(|| panic!("{text:?} parsed"));
            assert_eq!(got_line, line, "{text:?}: {problem}");
            assert!(problem.contains(needle), "{text:?}: {problem}");
            assert!(!problem.contains("secret-tok"), "{problem}");
        }
    }

    #[test]
    fn quoting_is_as_strict_as_gos_encoding_csv() {
        let cases = [
            // A quoted field running into the next lines.
            (
                "t1,alice,1,\"devs\nt2,bob,2,\"system:masters\"\nt3,carol,3\n",
                2,
                "quoted on line 1",
            ),
            ("ok,u,1\nt1,u,1,\"system:masters", 2, "never closed"),
            ("ok,u,1\n\"a\"b,u,1\n", 2, "followed by more text"),
            ("t,u\"x,1\n", 1, "does not start with one"),
            ("t,u,1, \"g\"\n", 1, "does not start with one"),
        ];
        for (text, line, needle) in cases {
            let (got_line, problem) = parse(text)
                .err()
                .unwrap_or_else(|| panic!("{text:?} parsed"));
            assert_eq!(got_line, line, "{text:?}: {problem}");
            assert!(problem.contains(needle), "{text:?}: {problem}");
        }
        // What Go accepts stays accepted.
        let f = parse("t1,u,1,\"a \"\"b\"\", c\"\r\n\"t2\",\"v\",\"2\"\r\nt3,w,3,\"x\"\r").unwrap();
        assert_eq!(f.lookup("t1").unwrap().groups, ["a \"b\"", "c"]);
        assert_eq!(f.lookup("t2").unwrap().username, "v");
        assert_eq!(f.lookup("t3").unwrap().groups, ["x"]);
    }

    #[test]
    fn an_empty_file_has_no_tokens() {
        assert!(parse("").unwrap().is_empty());
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    #[test]
    fn arbitrary_files_never_panic() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let alphabet = b"ab,\"\n\r \t1\xff\x00";
        for _ in 0..5_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 200) as usize;
            let data: Vec<u8> = (0..len)
                .map(|i| alphabet[((seed >> (i % 56)) as usize + i) % alphabet.len()])
                .collect();
            if let Ok(file) = TokenFile::parse(&data) {
                let _ = file.lookup("a");
            }
        }
    }
}
