//! The server side of `token-auth`: tokens looked up in the file, which is
//! reloaded when it changes on disk. A broken new version keeps the old one
//! in use.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use guard_api::BearerToken;
use guard_auth::reload::Reloading;
use guard_auth::{BoxFuture, CheckError, ErrorChain, Identity, Provider};

use super::TokenFile;
use crate::ProviderError;

/// The `token-auth` provider: looks tokens up in the file, and reloads it
/// when it changes on disk. A broken new version keeps the old one in use.
pub struct TokenFileProvider {
    tokens: Arc<Reloading<TokenFile, ProviderError>>,
}

impl TokenFileProvider {
    /// Loads `path`; fails if the file is missing or malformed. An empty
    /// file is accepted (with a warning) here, but not on a reload: a file
    /// of 0 bytes is what `: > file` or a `cat > file` in progress leaves
    /// for a moment, and taking it would revoke every token (and have the
    /// API server cache the denials), so the previous tokens stay. A file
    /// holding only a newline revokes every token on purpose.
    pub fn load(path: impl Into<PathBuf>) -> Result<Arc<Self>, ProviderError> {
        let path = path.into();
        let file = path.clone();
        let first = AtomicBool::new(true);
        let tokens = Reloading::load(vec![path], move || {
            let data = ProviderError::read(super::options::FLAG, &file)?;
            if data.is_empty() {
                if !first.swap(false, Ordering::Relaxed) {
                    return Err(ProviderError::EmptyTokenFile { path: file.clone() });
                }
                tracing::warn!(
                    file = %file.display(),
                    "the token file is empty: every token-auth review is denied until it holds tokens"
                );
            }
            first.store(false, Ordering::Relaxed);
            TokenFile::parse_file(&file, &data)
        })?;
        Ok(Arc::new(TokenFileProvider { tokens }))
    }

    /// The tokens in use now.
    pub fn current(&self) -> Arc<TokenFile> {
        self.tokens.current()
    }

    /// Reloads the file if it changed since the last load. Returns
    /// `Ok(Some(n))` with the new token count after a reload, `Ok(None)`
    /// when nothing changed, and the error (old tokens kept) when the new
    /// version is broken.
    pub fn reload_if_changed(&self) -> Result<Option<usize>, ProviderError> {
        Ok(self.tokens.reload_if_changed()?.map(|file| file.len()))
    }

    /// Checks the file for changes every `interval`, logging reloads and
    /// errors, while the provider is alive.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        self.tokens
            .spawn_reloader(interval, |tokens, result| match result {
                Ok(file) => tracing::info!(
                    file = %tokens.paths()[0].display(),
                    tokens = file.len(),
                    "token file reloaded"
                ),
                Err(e @ ProviderError::EmptyTokenFile { .. }) => {
                    tracing::warn!("{}; keeping the previous tokens", ErrorChain(e))
                }
                Err(e) => tracing::error!("{}; keeping the previous tokens", ErrorChain(e)),
            })
    }
}

impl Provider for TokenFileProvider {
    fn name(&self) -> &'static str {
        super::NAME
    }

    fn may_be_mine(&self, token: &BearerToken) -> bool {
        // The token file may hold any string, but never an EKS token.
        !crate::token_kind::is_eks(token.expose())
    }

    fn check<'a>(
        &'a self,
        _org: &'a str,
        token: &'a BearerToken,
    ) -> BoxFuture<'a, Result<Identity, CheckError>> {
        let result = self
            .current()
            .lookup(token.expose())
            .ok_or_else(|| CheckError::Denied("token not in the token file".into()));
        Box::pin(std::future::ready(result))
    }

    fn cacheable(&self) -> bool {
        false
    }

    /// The operator writes the groups in the token file.
    fn allows_system_groups(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn an_empty_file_is_taken_at_start_but_not_on_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.csv");
        std::fs::write(&path, "").unwrap();
        let p = TokenFileProvider::load(&path).unwrap();
        assert!(p.current().is_empty());
        std::fs::write(&path, "t,alice,1\n").unwrap();
        assert_eq!(p.reload_if_changed().unwrap(), Some(1));
        std::fs::write(&path, "").unwrap();
        let err = p.reload_if_changed().unwrap_err().to_string();
        assert!(err.contains("only a newline"), "{err}");
        assert_eq!(p.current().lookup("t").unwrap().username, "alice");
        // A newline alone revokes every token on purpose.
        std::fs::write(&path, "\n").unwrap();
        assert_eq!(p.reload_if_changed().unwrap(), Some(0));
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
