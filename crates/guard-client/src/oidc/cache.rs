//! The token cache: one JSON file per issuer, client and scope set, mode
//! 0600 in a 0700 directory, replaced atomically, and locked while a token
//! is being obtained so that concurrent kubectl calls log in only once.

use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::ClientError;

/// What is kept between runs.
#[derive(Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct CachedTokens {
    /// The last ID token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The refresh token, when the provider gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for CachedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedTokens")
            .field("id_token", &self.id_token.is_some())
            .field("refresh_token", &self.refresh_token.is_some())
            .finish()
    }
}

/// The cache file of one issuer + client + scopes.
#[derive(Debug, Clone)]
pub struct TokenCache {
    path: PathBuf,
}

/// Holds the cache's lock until dropped.
#[derive(Debug)]
pub struct CacheLock(#[allow(dead_code)] File);

impl TokenCache {
    /// The cache for these settings under `dir`.
    pub fn for_client(dir: &Path, issuer: &str, client_id: &str, scopes: &[String]) -> Self {
        let mut key = Sha256::new();
        for part in [issuer, client_id]
            .into_iter()
            .chain(scopes.iter().map(String::as_str))
        {
            key.update(part.as_bytes());
            key.update([0]);
        }
        let name: String = key.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        TokenCache {
            path: dir.join(format!("{name}.json")),
        }
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, source: std::io::Error) -> ClientError {
        ClientError::Cache {
            path: self.path.clone(),
            source,
        }
    }

    fn ensure_dir(&self) -> Result<(), ClientError> {
        match self.path.parent() {
            Some(dir) => std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| self.error(e)),
            None => Ok(()),
        }
    }

    /// Takes the cache's exclusive lock (waits for another guard holding it).
    pub fn lock(&self) -> Result<CacheLock, ClientError> {
        self.ensure_dir()?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(self.path.with_extension("lock"))
            .map_err(|e| self.error(e))?;
        file.lock().map_err(|e| self.error(e))?;
        Ok(CacheLock(file))
    }

    /// The cached tokens; empty if there are none or the file is unreadable
    /// (then `notify` says so, and the next save replaces it).
    pub fn load(&self, notify: &(dyn Fn(&str) + Sync)) -> CachedTokens {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                notify(&format!(
                    "ignoring the unreadable token cache {}",
                    self.path.display()
                ));
                CachedTokens::default()
            }),
            Err(_) => CachedTokens::default(),
        }
    }

    /// Replaces the cache with `tokens` (0600, atomically).
    pub fn save(&self, tokens: &CachedTokens) -> Result<(), ClientError> {
        self.ensure_dir()?;
        let json =
            serde_json::to_vec_pretty(tokens).map_err(|e| ClientError::Output(Box::new(e)))?;
        let tmp = self.path.with_extension("tmp");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| self.error(e))?;
        file.write_all(&json)
            .and_then(|()| file.sync_all())
            .map_err(|e| self.error(e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn saves_0600_in_a_0700_directory_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::for_client(&dir.path().join("oidc"), "https://i", "c", &[]);
        let _lock = cache.lock().unwrap();
        let tokens = CachedTokens {
            id_token: Some("a.b.c".into()),
            refresh_token: Some("r".into()),
        };
        cache.save(&tokens).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(cache.path()), 0o600);
        assert_eq!(mode(&dir.path().join("oidc")), 0o700);
        let back = cache.load(&|_| {});
        assert_eq!(back.refresh_token.as_deref(), Some("r"));
        assert!(!format!("{back:?}").contains("a.b.c"));
    }

    #[test]
    fn a_broken_file_reads_as_empty_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::for_client(dir.path(), "https://i", "c", &[]);
        std::fs::write(cache.path(), "{not json").unwrap();
        let said = std::sync::Mutex::new(String::new());
        let tokens = cache.load(&|m| said.lock().unwrap().push_str(m));
        assert!(tokens.refresh_token.is_none());
        assert!(said.lock().unwrap().contains("unreadable"));
    }

    #[test]
    fn each_issuer_client_and_scope_set_has_its_own_file() {
        let d = Path::new("/c");
        let a = TokenCache::for_client(d, "https://i", "c", &[]);
        let b = TokenCache::for_client(d, "https://i", "c2", &[]);
        let c = TokenCache::for_client(d, "https://i", "c", &["groups".into()]);
        assert_ne!(a.path(), b.path());
        assert_ne!(a.path(), c.path());
    }
}
