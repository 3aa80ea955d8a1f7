//! The authorization webhook's metrics, under Go Guard's names so that its
//! dashboards keep working (`guard_azure_authz_checkaccess_success_total`,
//! `guard_azure_authz_cache_hits_total`, ...). OpenMetrics counters end in
//! `_total`, so Go Guard's `guard_azure_authz_checkaccess_context_timeout`
//! is `guard_azure_authz_checkaccess_context_timeout_total` here. No label
//! holds a user or a token.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Code {
    code: u16,
}

/// Go Guard's label names.
#[allow(non_snake_case)]
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Batches {
    checkAccessBatchCount: String,
    totalActionsCount: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
    source: &'static str,
}

fn go_buckets() -> Histogram {
    Histogram::new([0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0])
}

/// Every authorization metric.
#[derive(Clone)]
pub struct AuthzMetrics {
    success: Counter,
    throttled: Counter,
    failures: Family<Code, Counter>,
    requests: Family<Code, Counter>,
    duration: Family<Code, Histogram>,
    context_timeouts: Family<Batches, Counter>,
    cache_hits: Counter,
    cache_misses: Counter,
    cache_errors_cached: Counter,
    cache_entries: Gauge<i64, AtomicI64>,
    apiresources_duration: Histogram,
    operations_duration: Histogram,
    discover_duration: Histogram,
    discover_requests: Family<Code, Counter>,
    operations_requests: Family<Code, Counter>,
    reviews: Family<Outcome, Counter>,
}

impl Default for AuthzMetrics {
    fn default() -> Self {
        AuthzMetrics {
            success: Counter::default(),
            throttled: Counter::default(),
            failures: Family::default(),
            requests: Family::default(),
            duration: Family::new_with_constructor(go_buckets),
            context_timeouts: Family::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            cache_errors_cached: Counter::default(),
            cache_entries: Gauge::default(),
            apiresources_duration: go_buckets(),
            operations_duration: go_buckets(),
            discover_duration: go_buckets(),
            discover_requests: Family::default(),
            operations_requests: Family::default(),
            reviews: Family::default(),
        }
    }
}

impl AuthzMetrics {
    /// Adds every metric to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry;
        r.register(
            "guard_azure_authz_checkaccess_success",
            "CheckAccess calls ARM answered (200, or 404 for a deleted resource)",
            self.success.clone(),
        );
        r.register(
            "guard_azure_authz_checkaccess_throttling_failure",
            "CheckAccess calls ARM throttled (429)",
            self.throttled.clone(),
        );
        r.register(
            "guard_azure_authz_checkaccess_failure",
            "CheckAccess calls answered with an error status, by status",
            self.failures.clone(),
        );
        r.register(
            "guard_azure_authz_check_access_requests",
            "CheckAccess calls by status (500: no answer)",
            self.requests.clone(),
        );
        r.register(
            "guard_azure_checkaccess_request_duration_seconds",
            "Time of one CheckAccess call, by status",
            self.duration.clone(),
        );
        r.register(
            "guard_azure_authz_checkaccess_context_timeout",
            "Reviews whose CheckAccess calls did not finish before the deadline",
            self.context_timeouts.clone(),
        );
        r.register(
            "guard_azure_authz_cache_hits",
            "Authorization decisions served from guard's cache",
            self.cache_hits.clone(),
        );
        r.register(
            "guard_azure_authz_cache_misses",
            "Authorization decisions not in guard's cache",
            self.cache_misses.clone(),
        );
        r.register(
            "guard_azure_authz_cache_errors_cached",
            "ARM refusals (4xx) cached as denials",
            self.cache_errors_cached.clone(),
        );
        r.register(
            "guard_azure_authz_cache_entries",
            "Decisions in guard's authorization cache",
            self.cache_entries.clone(),
        );
        r.register(
            "guard_apiresources_request_duration_seconds",
            "Time to read the cluster's API resources (discovery)",
            self.apiresources_duration.clone(),
        );
        r.register(
            "guard_azure_get_operations_request_duration_seconds",
            "Time to read ARM's operations list (discovery)",
            self.operations_duration.clone(),
        );
        r.register(
            "guard_discover_resources_request_duration_seconds",
            "Time of one resource discovery",
            self.discover_duration.clone(),
        );
        r.register(
            "guard_discover_requests_requests",
            "Resource discoveries by result (200 done, 500 failed)",
            self.discover_requests.clone(),
        );
        r.register(
            "guard_azure_get_operations_requests",
            "Calls to ARM's operations list, by status",
            self.operations_requests.clone(),
        );
        r.register(
            "guard_authz_reviews",
            "SubjectAccessReviews by outcome (allowed, denied, no_opinion, error) and source (cache, coalesced, azure, local)",
            self.reviews.clone(),
        );
    }

    pub(crate) fn check_access_call(&self, code: u16, seconds: f64) {
        self.requests.get_or_create(&Code { code }).inc();
        self.duration.get_or_create(&Code { code }).observe(seconds);
    }

    pub(crate) fn check_access_succeeded(&self) {
        self.success.inc();
    }

    pub(crate) fn check_access_failed(&self, code: u16) {
        self.failures.get_or_create(&Code { code }).inc();
    }

    pub(crate) fn check_access_throttled(&self) {
        self.throttled.inc();
    }

    pub(crate) fn context_timeout(&self, batches: usize, actions: usize) {
        self.context_timeouts
            .get_or_create(&Batches {
                checkAccessBatchCount: batches.to_string(),
                totalActionsCount: actions.to_string(),
            })
            .inc();
    }

    pub(crate) fn cache_lookup(&self, hit: bool, entries: usize) {
        if hit {
            self.cache_hits.inc();
        } else {
            self.cache_misses.inc();
        }
        self.cache_entries
            .set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    pub(crate) fn error_cached(&self) {
        self.cache_errors_cached.inc();
    }

    pub(crate) fn discovery(&self, ok: bool, seconds: f64) {
        let code = if ok { 200 } else { 500 };
        self.discover_requests.get_or_create(&Code { code }).inc();
        self.discover_duration.observe(seconds);
    }

    pub(crate) fn apiresources(&self, seconds: f64) {
        self.apiresources_duration.observe(seconds);
    }

    pub(crate) fn operations_call(&self, code: u16, seconds: f64) {
        self.operations_requests.get_or_create(&Code { code }).inc();
        self.operations_duration.observe(seconds);
    }

    pub(crate) fn review(&self, outcome: &'static str, source: &'static str) {
        self.reviews
            .get_or_create(&Outcome { outcome, source })
            .inc();
    }
}
