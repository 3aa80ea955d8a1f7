//! The static token file provider (`token-auth`).
//!
//! The file is Kubernetes' static token format, one user per line:
//!
//! ```text
//! token,username,uid
//! token,username,uid,"group1,group2"
//! ```
//!
//! Fields are trimmed; token, username and uid must not be empty; a token
//! may appear only once; one user may have several tokens. Quoted fields
//! follow CSV rules (they may hold commas and even line breaks). Errors name
//! the line, never the token.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use guard_api::{AuthProvider, BearerToken};
use guard_auth::reload::{FileStamp, spawn_periodic};
use guard_auth::{BoxFuture, CheckError, Identity, Provider};

/// Why a token file cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    /// The file cannot be read.
    #[error("cannot read token file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("token file {path}, line {line}: {problem}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number where the record starts.
        line: u64,
        /// What is wrong (never the token).
        problem: String,
    },
}

/// A loaded token file: token → identity.
#[derive(Debug, Default)]
pub struct TokenFile {
    users: HashMap<Box<str>, Arc<Identity>>,
}

impl TokenFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, TokenFileError> {
        let data = std::fs::read(path).map_err(|source| TokenFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&data).map_err(|(line, problem)| TokenFileError::Line {
            path: path.to_owned(),
            line,
            problem,
        })
    }

    /// Parses the file's contents; an error is `(line, problem)`.
    pub fn parse(data: &[u8]) -> Result<Self, (u64, String)> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(data);
        // Roughly one record per 40 bytes; saves rehashing on large files.
        let mut users = HashMap::with_capacity(data.len() / 40);
        let mut record = csv::ByteRecord::new();
        // The csv reader does not count blank lines; count newlines up to the
        // record's first byte instead (only on the error path).
        let line_at = |pos: Option<&csv::Position>| {
            let mut byte = pos.map_or(0, |p| p.byte() as usize).min(data.len());
            // A record's position may point at blank lines skipped before it.
            while byte < data.len() && matches!(data[byte], b'\n' | b'\r') {
                byte += 1;
            }
            data[..byte].iter().filter(|&&b| b == b'\n').count() as u64 + 1
        };
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    return Err((
                        line_at(e.position()),
                        "not valid CSV (check the quoting)".into(),
                    ));
                }
            }
            let line = || line_at(record.position());
            let field = |i: usize| -> Result<&str, (u64, String)> {
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
            let groups = if record.len() == 4 {
                field(3)?
                    .split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_owned)
                    .collect()
            } else {
                Vec::new()
            };
            let identity = Arc::new(Identity {
                username: username.to_owned(),
                uid: uid.to_owned(),
                groups,
                extra: Default::default(),
            });
            if users.insert(Box::from(token), identity).is_some() {
                return Err((line(), "reuses a token of an earlier line".into()));
            }
        }
        Ok(TokenFile { users })
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file has no token.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The identity of `token`, if listed.
    pub fn lookup(&self, token: &str) -> Option<&Identity> {
        self.users.get(token).map(Arc::as_ref)
    }
}

/// The `token-auth` provider: looks tokens up in the file, and reloads it
/// when it changes on disk. A broken new version keeps the old one in use.
pub struct TokenFileProvider {
    path: PathBuf,
    state: RwLock<(Arc<TokenFile>, Option<FileStamp>)>,
}

impl TokenFileProvider {
    /// Loads `path`; fails if the file is missing or malformed.
    pub fn load(path: impl Into<PathBuf>) -> Result<Arc<Self>, TokenFileError> {
        let path = path.into();
        let stamp = FileStamp::of(&path);
        let file = TokenFile::load(&path)?;
        Ok(Arc::new(TokenFileProvider {
            path,
            state: RwLock::new((Arc::new(file), stamp)),
        }))
    }

    /// The tokens in use now.
    pub fn current(&self) -> Arc<TokenFile> {
        self.state
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    /// Reloads the file if it changed since the last load. Returns
    /// `Ok(Some(n))` with the new token count after a reload, `Ok(None)`
    /// when nothing changed, and the error (old tokens kept) when the new
    /// version is broken.
    pub fn reload_if_changed(&self) -> Result<Option<usize>, TokenFileError> {
        let stamp = FileStamp::of(&self.path);
        {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            if state.1 == stamp {
                return Ok(None);
            }
        }
        let result = TokenFile::load(&self.path);
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        // Remember the stamp either way, so a broken file is reported once.
        state.1 = stamp;
        let file = result?;
        let n = file.len();
        state.0 = Arc::new(file);
        Ok(Some(n))
    }

    /// Checks the file for changes every `interval`, logging reloads and
    /// errors, while the provider is alive.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        spawn_periodic(self, interval, |provider| {
            match provider.reload_if_changed() {
                Ok(Some(n)) => tracing::info!(
                    file = %provider.path.display(),
                    tokens = n,
                    "token file reloaded"
                ),
                Ok(None) => {}
                Err(e) => tracing::error!("{e}; keeping the previous tokens"),
            }
        })
    }
}

impl Provider for TokenFileProvider {
    fn kind(&self) -> AuthProvider {
        AuthProvider::TokenAuth
    }

    fn check<'a>(
        &'a self,
        _org: &'a str,
        token: &'a BearerToken,
    ) -> BoxFuture<'a, Result<Identity, CheckError>> {
        let result = self
            .current()
            .lookup(token.expose())
            .cloned()
            .ok_or_else(|| CheckError::Denied("token not in the token file".into()));
        Box::pin(std::future::ready(result))
    }

    fn cacheable(&self) -> bool {
        false
    }
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
    fn an_empty_file_has_no_tokens() {
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn reload_keeps_the_old_tokens_when_the_new_file_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.csv");
        std::fs::write(&path, "old,alice,1\n").unwrap();
        let p = TokenFileProvider::load(&path).unwrap();
        assert_eq!(p.reload_if_changed().unwrap(), None);

        std::fs::write(&path, "new,bob,2\nnewer,carol,3\n").unwrap();
        assert_eq!(p.reload_if_changed().unwrap(), Some(2));
        assert!(p.current().lookup("old").is_none());
        assert_eq!(p.current().lookup("new").unwrap().username, "bob");

        std::fs::write(&path, "broken\n").unwrap();
        let err = p.reload_if_changed().unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        assert_eq!(p.current().lookup("new").unwrap().username, "bob");
    }

    #[tokio::test]
    async fn check_denies_unknown_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.csv");
        std::fs::write(&path, "good,alice,1,\"dev\"\n").unwrap();
        let p = TokenFileProvider::load(&path).unwrap();
        let id = p.check("", &BearerToken::new("good")).await.unwrap();
        assert_eq!(id.username, "alice");
        assert!(matches!(
            p.check("", &BearerToken::new("bad")).await,
            Err(CheckError::Denied(_))
        ));
    }
}
