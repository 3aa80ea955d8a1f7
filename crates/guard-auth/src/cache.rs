//! The review result cache and request coalescing.
//!
//! Entries are keyed by provider, organisation and the SHA-256 of the token,
//! never the token itself. Successful reviews live for `ttl`, denials for
//! `failure_ttl`, outages are never stored. Concurrent reviews of the same
//! key wait for the first one instead of calling the provider again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use guard_api::BearerToken;
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::provider::{CheckError, Identity};

/// Cache settings (`--cache-ttl`, `--cache-failure-ttl`, `--cache-size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// How long a successful review is reused; zero disables caching of successes.
    pub ttl: Duration,
    /// How long a denial is reused; zero disables caching of denials.
    pub failure_ttl: Duration,
    /// Maximum number of entries; zero disables the cache.
    pub size: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            ttl: Duration::from_secs(60),
            failure_ttl: Duration::from_secs(10),
            size: 10_000,
        }
    }
}

/// The cache key: no token, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    provider: &'static str,
    org: String,
    token_sha256: [u8; 32],
}

impl CacheKey {
    /// Builds the key for a review.
    pub fn new(provider: &'static str, org: &str, token: &BearerToken) -> Self {
        CacheKey {
            provider,
            org: org.to_owned(),
            token_sha256: Sha256::digest(token.expose().as_bytes()).into(),
        }
    }
}

type CheckResult = Result<Identity, CheckError>;

#[derive(Clone)]
struct Entry {
    result: CheckResult,
    expires: Instant,
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Served from the cache.
    Cache,
    /// Waited for a concurrent identical review.
    Coalesced,
    /// Asked the provider.
    Provider,
    /// Asked the provider, which bypasses the cache (a local lookup).
    Uncached,
}

/// The result cache with request coalescing.
pub struct ReviewCache {
    config: CacheConfig,
    entries: Option<quick_cache::sync::Cache<CacheKey, Entry>>,
    in_flight: Mutex<HashMap<CacheKey, watch::Receiver<Option<CheckResult>>>>,
    waiting: AtomicUsize,
}

impl ReviewCache {
    /// A cache with the given settings.
    pub fn new(config: CacheConfig) -> Self {
        let enabled = config.size > 0 && (!config.ttl.is_zero() || !config.failure_ttl.is_zero());
        ReviewCache {
            config,
            entries: enabled.then(|| quick_cache::sync::Cache::new(config.size)),
            in_flight: Mutex::new(HashMap::new()),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Returns the cached result for `key`, or runs `check` (once for all
    /// concurrent callers with the same key) and caches what it returns.
    pub async fn get_or_check<F, Fut>(&self, key: CacheKey, check: F) -> (CheckResult, Source)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = CheckResult>,
    {
        if let Some(hit) = self.lookup(&key) {
            return (hit, Source::Cache);
        }
        let mut check = Some(check);
        loop {
            match self.join_or_lead(&key) {
                Role::Follower(mut rx) => {
                    // The leader publishes a result, or drops the sender if it
                    // was cancelled; in that case, try to lead ourselves.
                    self.waiting.fetch_add(1, Ordering::SeqCst);
                    let published = rx
                        .wait_for(Option::is_some)
                        .await
                        .ok()
                        .and_then(|r| r.clone());
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    if let Some(result) = published {
                        return (result, Source::Coalesced);
                    }
                }
                Role::Leader(tx) => {
                    let guard = InFlightGuard {
                        cache: self,
                        key: &key,
                    };
                    let Some(check) = check.take() else {
                        // Unreachable: a caller leads at most once.
                        return (
                            Err(CheckError::Unavailable("internal error".into())),
                            Source::Provider,
                        );
                    };
                    let result = check().await;
                    self.store(&key, &result);
                    let _ = tx.send(Some(result.clone()));
                    drop(guard);
                    return (result, Source::Provider);
                }
            }
        }
    }

    fn lookup(&self, key: &CacheKey) -> Option<CheckResult> {
        let entry = self.entries.as_ref()?.get(key)?;
        if entry.expires > Instant::now() {
            Some(entry.result)
        } else {
            if let Some(entries) = &self.entries {
                entries.remove(key);
            }
            None
        }
    }

    fn store(&self, key: &CacheKey, result: &CheckResult) {
        let Some(entries) = &self.entries else { return };
        let ttl = match result {
            Ok(_) => self.config.ttl,
            Err(CheckError::Denied(_)) => self.config.failure_ttl,
            Err(CheckError::Unavailable(_)) => return,
        };
        if ttl.is_zero() {
            return;
        }
        entries.insert(
            key.clone(),
            Entry {
                result: result.clone(),
                expires: Instant::now() + ttl,
            },
        );
    }

    fn join_or_lead(&self, key: &CacheKey) -> Role {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rx) = in_flight.get(key) {
            return Role::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        in_flight.insert(key.clone(), rx);
        Role::Leader(tx)
    }

    /// Number of reviews currently waiting for an identical one in flight.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Number of live entries (for metrics and tests).
    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |e| e.len())
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

enum Role {
    Leader(watch::Sender<Option<CheckResult>>),
    Follower(watch::Receiver<Option<CheckResult>>),
}

/// Removes the in-flight marker even when the leader is cancelled.
struct InFlightGuard<'a> {
    cache: &'a ReviewCache,
    key: &'a CacheKey,
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .cache
            .in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        in_flight.remove(self.key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn key(token: &str) -> CacheKey {
        CacheKey::new("github", "acme", &BearerToken::new(token))
    }

    fn alice() -> CheckResult {
        Ok(Identity {
            username: "alice".into(),
            ..Identity::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn successes_are_cached_until_the_ttl_expires() {
        let cache = ReviewCache::new(CacheConfig::default());
        let calls = AtomicUsize::new(0);
        let check = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            alice()
        };
        assert_eq!(
            cache.get_or_check(key("t"), check).await.1,
            Source::Provider
        );
        assert_eq!(cache.get_or_check(key("t"), check).await.1, Source::Cache);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(
            cache.get_or_check(key("t"), check).await.1,
            Source::Provider
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn denials_expire_sooner_and_outages_are_never_cached() {
        let cache = ReviewCache::new(CacheConfig::default());
        let denied = || async { Err(CheckError::Denied("bad token".into())) };
        let _ = cache.get_or_check(key("d"), denied).await;
        assert_eq!(cache.get_or_check(key("d"), denied).await.1, Source::Cache);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(
            cache.get_or_check(key("d"), denied).await.1,
            Source::Provider
        );

        let down = || async { Err(CheckError::Unavailable("github is down".into())) };
        let _ = cache.get_or_check(key("u"), down).await;
        assert_eq!(cache.get_or_check(key("u"), down).await.1, Source::Provider);
    }

    #[tokio::test(start_paused = true)]
    async fn different_tokens_and_orgs_do_not_share_entries() {
        let cache = ReviewCache::new(CacheConfig::default());
        let _ = cache.get_or_check(key("a"), || async { alice() }).await;
        assert_eq!(
            cache.get_or_check(key("b"), || async { alice() }).await.1,
            Source::Provider
        );
        let other_org = CacheKey::new("github", "other", &BearerToken::new("a"));
        assert_eq!(
            cache.get_or_check(other_org, || async { alice() }).await.1,
            Source::Provider
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_size_disables_the_cache() {
        let cache = ReviewCache::new(CacheConfig {
            size: 0,
            ..CacheConfig::default()
        });
        let _ = cache.get_or_check(key("t"), || async { alice() }).await;
        assert_eq!(
            cache.get_or_check(key("t"), || async { alice() }).await.1,
            Source::Provider
        );
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn concurrent_identical_reviews_make_one_call() {
        // With the cache off, only coalescing can keep the call count at one.
        let cache = Arc::new(ReviewCache::new(CacheConfig {
            size: 0,
            ..CacheConfig::default()
        }));
        let calls = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (cache, calls, mut release) = (cache.clone(), calls.clone(), release_rx.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_check(key("same"), || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let _ = release.wait_for(|r| *r).await;
                        alice()
                    })
                    .await
            }));
        }
        // Release the leader only once the 49 others wait for it.
        while cache.waiting() < 49 {
            tokio::task::yield_now().await;
        }
        release_tx.send(true).unwrap();
        for t in tasks {
            assert_eq!(t.await.unwrap().0, alice());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_cancelled_leader_hands_over() {
        let cache = Arc::new(ReviewCache::new(CacheConfig::default()));
        let leader = {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .get_or_check(key("x"), std::future::pending::<CheckResult>)
                    .await
            })
        };
        while cache.in_flight.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let follower = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get_or_check(key("x"), || async { alice() }).await })
        };
        while cache.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        leader.abort();
        let (result, source) = follower.await.unwrap();
        assert_eq!(result, alice());
        assert_eq!(source, Source::Provider);
    }
}
