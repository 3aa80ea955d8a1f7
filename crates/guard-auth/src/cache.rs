//! The result caches and request coalescing.
//!
//! [`Coalescing`] is the general part: a bounded cache with a TTL per entry,
//! and concurrent callers of the same key waiting for the first one instead
//! of computing the value again. [`ReviewCache`] is the token review cache
//! built on it: entries keyed by provider, organisation and the SHA-256 of
//! the token, never the token itself; successful reviews live for `ttl`,
//! denials for `failure_ttl`, outages are never stored.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
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

/// The token review cache: [`Coalescing`] with the TTLs of [`CacheConfig`]
/// (successes for `ttl`, denials for `failure_ttl`, outages never).
pub struct ReviewCache {
    config: CacheConfig,
    inner: Coalescing<CacheKey, CheckResult>,
}

impl ReviewCache {
    /// A cache with the given settings.
    pub fn new(config: CacheConfig) -> Self {
        let enabled = config.size > 0 && (!config.ttl.is_zero() || !config.failure_ttl.is_zero());
        let capacity = if enabled { config.size as u64 } else { 0 };
        ReviewCache {
            config,
            inner: Coalescing::new(capacity, |_, _| 1),
        }
    }

    /// Returns the cached result for `key`, or runs `check` (once for all
    /// concurrent callers with the same key) and caches what it returns.
    pub async fn get_or_check<F, Fut>(&self, key: CacheKey, check: F) -> (CheckResult, Source)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = CheckResult>,
    {
        let config = self.config;
        self.inner
            .get_or_compute(key, check, |result| match result {
                Ok(_) => Some(config.ttl),
                Err(CheckError::Denied(_)) => Some(config.failure_ttl),
                Err(CheckError::Unavailable(_)) => None,
            })
            .await
    }

    /// Number of reviews currently waiting for an identical one in flight.
    pub fn waiting(&self) -> usize {
        self.inner.waiting()
    }

    /// Number of live entries (for metrics and tests).
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

/// How much room one entry takes (in the unit of the capacity).
pub type Weigher<K, V> = fn(&K, &V) -> u64;

#[derive(Clone)]
struct Entry<V> {
    value: V,
    expires: Instant,
}

#[derive(Clone)]
struct EntryWeigher<K, V>(Weigher<K, V>);

impl<K, V> quick_cache::Weighter<K, Entry<V>> for EntryWeigher<K, V> {
    fn weight(&self, key: &K, entry: &Entry<V>) -> u64 {
        // quick_cache never evicts zero-weight items: count each as 1 at least.
        (self.0)(key, &entry.value).max(1)
    }
}

/// A bounded cache with per-entry TTLs and request coalescing: concurrent
/// callers with the same key wait for the first one instead of computing
/// the value again. What is stored, and for how long, is the caller's
/// decision (a TTL per value; `None` stores nothing). Used for token
/// reviews ([`ReviewCache`]) and for authorization decisions.
pub struct Coalescing<K, V> {
    entries: Option<quick_cache::sync::Cache<K, Entry<V>, EntryWeigher<K, V>>>,
    in_flight: Mutex<HashMap<K, watch::Receiver<Option<V>>>>,
    waiting: AtomicUsize,
}

impl<K, V> Coalescing<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// A cache holding at most `capacity` (in the unit `weigher` counts:
    /// entries, bytes...); zero stores nothing, but concurrent identical
    /// computations are still coalesced.
    pub fn new(capacity: u64, weigher: Weigher<K, V>) -> Self {
        let entries = (capacity > 0).then(|| {
            // quick_cache sizes its tables from an item estimate.
            let estimate = usize::try_from(capacity.min(1 << 20)).unwrap_or(1 << 20);
            quick_cache::sync::Cache::with_weighter(estimate, capacity, EntryWeigher(weigher))
        });
        Coalescing {
            entries,
            in_flight: Mutex::new(HashMap::new()),
            waiting: AtomicUsize::new(0),
        }
    }

    /// The live cached value for `key`, if any.
    pub fn get(&self, key: &K) -> Option<V> {
        let entry = self.entries.as_ref()?.get(key)?;
        if entry.expires > Instant::now() {
            Some(entry.value)
        } else {
            if let Some(entries) = &self.entries {
                entries.remove(key);
            }
            None
        }
    }

    /// Stores `value` under `key` for `ttl` (nothing when zero).
    pub fn insert(&self, key: K, value: V, ttl: Duration) {
        let Some(entries) = &self.entries else { return };
        if ttl.is_zero() {
            return;
        }
        entries.insert(
            key,
            Entry {
                value,
                expires: Instant::now() + ttl,
            },
        );
    }

    /// Returns the cached value for `key`, or runs `compute` (once for all
    /// concurrent callers with the same key) and stores what it returns for
    /// `ttl(&value)` (`None`: not stored).
    pub async fn get_or_compute<F, Fut>(
        &self,
        key: K,
        compute: F,
        ttl: impl FnOnce(&V) -> Option<Duration>,
    ) -> (V, Source)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        if let Some(hit) = self.get(&key) {
            return (hit, Source::Cache);
        }
        let tx = loop {
            match self.join_or_lead(&key) {
                Role::Follower(mut rx) => {
                    // The leader publishes a value, or drops the sender if it
                    // was cancelled; in that case, try to lead ourselves.
                    self.waiting.fetch_add(1, Ordering::SeqCst);
                    let published = rx
                        .wait_for(Option::is_some)
                        .await
                        .ok()
                        .and_then(|r| r.clone());
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    if let Some(value) = published {
                        return (value, Source::Coalesced);
                    }
                }
                Role::Leader(tx) => break tx,
            }
        };
        let guard = InFlightGuard {
            cache: self,
            key: &key,
        };
        let value = compute().await;
        if let Some(ttl) = ttl(&value) {
            self.insert(key.clone(), value.clone(), ttl);
        }
        let _ = tx.send(Some(value.clone()));
        drop(guard);
        (value, Source::Provider)
    }

    fn join_or_lead(&self, key: &K) -> Role<V> {
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rx) = in_flight.get(key) {
            return Role::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        in_flight.insert(key.clone(), rx);
        Role::Leader(tx)
    }

    /// Number of callers currently waiting for an identical computation.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Number of computations in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Number of stored entries (expired ones included until looked up or evicted).
    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |e| e.len())
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

enum Role<V> {
    Leader(watch::Sender<Option<V>>),
    Follower(watch::Receiver<Option<V>>),
}

/// Removes the in-flight marker even when the leader is cancelled.
struct InFlightGuard<'a, K: Eq + Hash, V> {
    cache: &'a Coalescing<K, V>,
    key: &'a K,
}

impl<K: Eq + Hash, V> Drop for InFlightGuard<'_, K, V> {
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
        while cache.inner.in_flight() == 0 {
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

    #[tokio::test(start_paused = true)]
    async fn a_weighted_cache_keeps_what_fits_and_values_choose_their_ttl() {
        // Capacity counted in bytes of key and value.
        let cache: Coalescing<String, String> =
            Coalescing::new(64, |k, v| (k.len() + v.len()) as u64);
        let ttl = |v: &String| (!v.is_empty()).then_some(Duration::from_secs(5));
        let (_, source) = cache
            .get_or_compute("a".into(), || async { "x".repeat(10) }, ttl)
            .await;
        assert_eq!(source, Source::Provider);
        assert_eq!(cache.get(&"a".to_owned()).as_deref(), Some("xxxxxxxxxx"));
        // An empty value is not stored.
        let _ = cache
            .get_or_compute("b".into(), || async { String::new() }, ttl)
            .await;
        assert_eq!(cache.get(&"b".to_owned()), None);
        // A value larger than the whole capacity is not kept.
        cache.insert("big".into(), "y".repeat(100), Duration::from_secs(5));
        assert_eq!(cache.get(&"big".to_owned()), None);
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(cache.get(&"a".to_owned()), None);
    }
}
