//! Prometheus metrics. Go Guard's names are kept so existing dashboards work
//! (`tokenreviews_handler_requests_total`, `request_duration_seconds`, ...);
//! guard's own are prefixed `guard_`. No label ever holds a token or a user.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeMethod {
    code: u16,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandlerMethod {
    handler: &'static str,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandlerLabel {
    handler: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderOutcome {
    provider: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabel {
    provider: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderSource {
    provider: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderResult {
    provider: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: String,
}

/// All of guard's metrics and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    requests: Family<CodeMethod, Counter>,
    in_flight: Gauge<i64, AtomicI64>,
    sar_requests: Family<CodeMethod, Counter>,
    sar_in_flight: Gauge<i64, AtomicI64>,
    request_duration: Family<HandlerMethod, Histogram>,
    response_size: Family<HandlerLabel, Histogram>,
    reviews: Family<ProviderOutcome, Counter>,
    review_duration: Family<ProviderLabel, Histogram>,
    cache: Family<ProviderSource, Counter>,
    upstream_errors: Family<ProviderLabel, Counter>,
    providers: ProviderMetrics,
    connections_open: Gauge<i64, AtomicI64>,
    connection_limit_waits: Counter,
    connections_closed: Family<ReasonLabel, Counter>,
    handshake_failures: Family<ReasonLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<CodeMethod, Counter>::default();
        registry.register(
            "tokenreviews_handler_requests",
            "TokenReview requests answered, by HTTP status code and method",
            requests.clone(),
        );
        let in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "tokenreviews_handler_requests_in_flight",
            "TokenReview requests being answered",
            in_flight.clone(),
        );
        let sar_requests = Family::<CodeMethod, Counter>::default();
        registry.register(
            "subjectaccessreviews_handler_requests",
            "SubjectAccessReview requests answered, by HTTP status code and method",
            sar_requests.clone(),
        );
        let sar_in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "subjectaccessreviews_handler_requests_in_flight",
            "SubjectAccessReview requests being answered",
            sar_in_flight.clone(),
        );
        let request_duration = Family::<HandlerMethod, Histogram>::new_with_constructor(|| {
            Histogram::new([0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0])
        });
        registry.register(
            "request_duration_seconds",
            "Time to answer a review request, by handler and method",
            request_duration.clone(),
        );
        let response_size = Family::<HandlerLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([100.0, 200.0, 400.0, 1000.0])
        });
        registry.register(
            "response_size_bytes",
            "Size of review answers in bytes, by handler",
            response_size.clone(),
        );
        let version = Family::<VersionLabel, Gauge>::default();
        registry.register(
            "version",
            "guard's version, as a label; always 1",
            version.clone(),
        );
        version
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })
            .set(1);

        let reviews = Family::<ProviderOutcome, Counter>::default();
        registry.register(
            "guard_reviews",
            "Token reviews by provider and outcome (authenticated, denied, unavailable, not_enabled, bad_request)",
            reviews.clone(),
        );
        let review_duration = Family::<ProviderLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ])
        });
        registry.register(
            "guard_review_duration_seconds",
            "Time to decide a token review, by provider",
            review_duration.clone(),
        );
        let cache = Family::<ProviderSource, Counter>::default();
        registry.register(
            "guard_review_cache",
            "Review results by where they came from: hit (cache), coalesced (a concurrent identical review), miss (the provider), uncached (a provider that needs no cache)",
            cache.clone(),
        );
        let upstream_errors = Family::<ProviderLabel, Counter>::default();
        registry.register(
            "guard_upstream_errors",
            "Reviews the provider could not answer (outage, timeout, rate limit)",
            upstream_errors.clone(),
        );
        let providers = ProviderMetrics::register(&mut registry);
        let connections_open = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "guard_connections_open",
            "Client connections being served (TLS handshake included)",
            connections_open.clone(),
        );
        let connection_limit_waits = Counter::default();
        registry.register(
            "guard_connection_limit_waits",
            "Times the connection limit was reached and new connections had to wait",
            connection_limit_waits.clone(),
        );
        let connections_closed = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "guard_connections_closed",
            "Client connections on the review port that ended, by reason: peer (the client closed it or it broke), handshake_failed, first_request_timeout (no complete request in time: dropped), idle_timeout, max_age, shutdown (closed gracefully)",
            connections_closed.clone(),
        );
        let handshake_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "guard_tls_handshake_failures",
            "Failed TLS handshakes on the review port, by reason: no_certificate, unknown_ca, expired, not_yet_valid, wrong_purpose, bad_certificate, client_refused_server_certificate, protocol, aborted, timeout",
            handshake_failures.clone(),
        );
        Metrics {
            connections_closed,
            handshake_failures,
            connections_open,
            connection_limit_waits,
            registry,
            requests,
            in_flight,
            sar_requests,
            sar_in_flight,
            request_duration,
            response_size,
            reviews,
            review_duration,
            cache,
            upstream_errors,
            providers,
        }
    }

    /// A review request started; the guard ends it.
    pub(crate) fn start_request(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(self)
    }

    /// A review request was answered.
    pub(crate) fn request_done(&self, code: u16, seconds: f64, size: usize) {
        self.requests
            .get_or_create(&CodeMethod {
                code,
                method: "post",
            })
            .inc();
        self.request_duration
            .get_or_create(&HandlerMethod {
                handler: "tokenreviews",
                method: "post",
            })
            .observe(seconds);
        self.response_size
            .get_or_create(&HandlerLabel {
                handler: "tokenreviews",
            })
            .observe(size as f64);
    }

    /// A SubjectAccessReview request started; the guard ends it.
    pub(crate) fn start_sar(&self) -> SarInFlight<'_> {
        self.sar_in_flight.inc();
        SarInFlight(self)
    }

    /// A SubjectAccessReview request was answered (Go Guard's labels:
    /// handler `subjectaccessreviews`, and `subjectaccessreview` for sizes).
    pub(crate) fn sar_done(&self, code: u16, seconds: f64, size: usize) {
        self.sar_requests
            .get_or_create(&CodeMethod {
                code,
                method: "post",
            })
            .inc();
        self.request_duration
            .get_or_create(&HandlerMethod {
                handler: "subjectaccessreviews",
                method: "post",
            })
            .observe(seconds);
        self.response_size
            .get_or_create(&HandlerLabel {
                handler: "subjectaccessreview",
            })
            .observe(size as f64);
    }

    /// Adds the authorization webhook's metrics.
    pub fn register_authz(&mut self, authz: &guard_authz::metrics::AuthzMetrics) {
        authz.register(&mut self.registry);
    }

    /// A review was decided.
    pub(crate) fn review(
        &self,
        provider: &'static str,
        outcome: &'static str,
        source: Option<&'static str>,
        seconds: f64,
    ) {
        self.reviews
            .get_or_create(&ProviderOutcome { provider, outcome })
            .inc();
        let label = ProviderLabel { provider };
        self.review_duration.get_or_create(&label).observe(seconds);
        if outcome == "unavailable" {
            self.upstream_errors.get_or_create(&label).inc();
        }
        if let Some(source) = source {
            self.cache
                .get_or_create(&ProviderSource {
                    provider,
                    result: source,
                })
                .inc();
        }
    }

    /// What each provider of a review's route said.
    pub(crate) fn provider_checks(&self, attempts: &[guard_auth::Attempt]) {
        self.providers.record(attempts);
    }

    /// A connection was accepted; the guard ends it.
    pub(crate) fn open_connection(self: &std::sync::Arc<Self>) -> OpenConnection {
        self.connections_open.inc();
        OpenConnection(self.clone())
    }

    /// The connection limit was reached.
    pub(crate) fn connection_limit_reached(&self) {
        self.connection_limit_waits.inc();
    }

    /// A connection on the review port ended.
    pub(crate) fn connection_closed(&self, reason: &'static str) {
        self.connections_closed
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// A TLS handshake on the review port failed.
    pub(crate) fn handshake_failed(&self, reason: &'static str) {
        self.handshake_failures
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Shows a provider's counter (see [`guard_auth::Provider::counters`]).
    pub fn register_provider_counter(&mut self, counter: guard_auth::ProviderCounter) {
        ProviderMetrics::register_counter(&mut self.registry, counter);
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The providers' series, which `guard run` and `guard proxy` both export:
/// `guard_provider_checks_total` (what each provider asked said) and the
/// counters providers keep themselves ([`guard_auth::ProviderCounter`],
/// e.g. `guard_eks_sts_throttling_total`).
#[derive(Clone, Debug)]
pub struct ProviderMetrics {
    checks: Family<ProviderResult, Counter>,
}

impl ProviderMetrics {
    /// Registers `guard_provider_checks` in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let checks = Family::<ProviderResult, Counter>::default();
        registry.register(
            "guard_provider_checks",
            "What each provider of a review's route said, by provider and result: authenticated, denied, unavailable, skipped (the token cannot be of its kind), not_asked (an earlier provider of the route answered, or the deadline had passed)",
            checks.clone(),
        );
        ProviderMetrics { checks }
    }

    /// Counts what each provider said.
    pub fn record(&self, attempts: &[guard_auth::Attempt]) {
        for a in attempts {
            self.checks
                .get_or_create(&ProviderResult {
                    provider: a.provider,
                    result: a.result,
                })
                .inc();
        }
    }

    /// Shows a provider's own counter in `registry`.
    pub fn register_counter(registry: &mut Registry, counter: guard_auth::ProviderCounter) {
        registry.register(counter.name, counter.help, SharedCounter(counter.value));
    }
}

/// Decrements the in-flight gauge when dropped.
pub(crate) struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

/// Decrements the SubjectAccessReview in-flight gauge when dropped.
pub(crate) struct SarInFlight<'a>(&'a Metrics);

impl Drop for SarInFlight<'_> {
    fn drop(&mut self) {
        self.0.sar_in_flight.dec();
    }
}

/// Decrements the open-connections gauge when dropped.
pub(crate) struct OpenConnection(std::sync::Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.dec();
    }
}

/// A counter a provider increments, read when `/metrics` is rendered.
#[derive(Debug)]
struct SharedCounter(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl prometheus_client::encoding::EncodeMetric for SharedCounter {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder,
    ) -> Result<(), std::fmt::Error> {
        let value = self.0.load(std::sync::atomic::Ordering::Relaxed);
        encoder.encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(&value, None)
    }

    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Counter
    }
}
