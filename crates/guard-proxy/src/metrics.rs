//! Prometheus metrics of the proxy, in the style of `guard run`'s: the
//! proxy's own start with `guard_proxy_`, the providers' are `guard run`'s
//! (`guard_provider_checks_total` and each provider's counters), label
//! values are fixed strings, and no label ever holds a user, a path or a
//! token.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeVerb {
    code: u16,
    verb: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerbLabel {
    verb: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolResult {
    protocol: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderOutcome {
    provider: &'static str,
    outcome: &'static str,
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// The proxy's metrics and the registry that renders them.
pub struct ProxyMetrics {
    registry: Registry,
    requests: Family<CodeVerb, Counter>,
    duration: Family<VerbLabel, Histogram>,
    in_flight: Gauge<i64, AtomicI64>,
    long_running: Gauge<i64, AtomicI64>,
    upgrades: Family<ProtocolResult, Counter>,
    authentications: Family<ProviderOutcome, Counter>,
    refusals: Family<ReasonLabel, Counter>,
    upstream_errors: Family<ReasonLabel, Counter>,
    connections_open: Gauge<i64, AtomicI64>,
    connection_limit_waits: Counter,
    providers: guard_server::ProviderMetrics,
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ProxyMetrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<CodeVerb, Counter>::default();
        registry.register(
            "guard_proxy_requests",
            "Requests answered, by HTTP status code and Kubernetes verb (the proxy's own refusals included)",
            requests.clone(),
        );
        let duration = Family::<VerbLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                60.0,
            ])
        });
        registry.register(
            "guard_proxy_request_duration_seconds",
            "Time from a request's arrival to its answer's head, by verb (authentication included)",
            duration.clone(),
        );
        let in_flight = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "guard_proxy_requests_in_flight",
            "Requests being served that are not long-running",
            in_flight.clone(),
        );
        let long_running = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "guard_proxy_long_running_in_flight",
            "Long-running requests open: watches, logs, proxy, and upgraded exec/attach/port-forward tunnels",
            long_running.clone(),
        );
        let upgrades = Family::<ProtocolResult, Counter>::default();
        registry.register(
            "guard_proxy_upgrades",
            "Protocol switches requested, by protocol (websocket, spdy, other) and result (switched, refused: the API server did not answer 101)",
            upgrades.clone(),
        );
        let authentications = Family::<ProviderOutcome, Counter>::default();
        registry.register(
            "guard_proxy_authentications",
            "Credential checks by provider, outcome (authenticated, denied, unavailable) and source (hit, coalesced, miss, uncached)",
            authentications.clone(),
        );
        let refusals = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "guard_proxy_refusals",
            "Requests the proxy answered itself instead of forwarding, by reason",
            refusals.clone(),
        );
        let upstream_errors = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "guard_proxy_upstream_errors",
            "Requests the API server could not be asked or did not answer in time",
            upstream_errors.clone(),
        );
        let connections_open = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "guard_proxy_connections_open",
            "Client connections being served (TLS handshake included)",
            connections_open.clone(),
        );
        let connection_limit_waits = Counter::default();
        registry.register(
            "guard_proxy_connection_limit_waits",
            "Times the connection limit was reached and new connections had to wait",
            connection_limit_waits.clone(),
        );
        let version = Family::<VersionLabel, Gauge>::default();
        registry.register(
            "version",
            "guard's version, as a label; always 1",
            version.clone(),
        );
        version
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        let providers = guard_server::ProviderMetrics::register(&mut registry);
        ProxyMetrics {
            providers,
            registry,
            requests,
            duration,
            in_flight,
            long_running,
            upgrades,
            authentications,
            refusals,
            upstream_errors,
            connections_open,
            connection_limit_waits,
        }
    }

    /// A request started; the guard ends it.
    pub(crate) fn start(self: &Arc<Self>, long_running: bool) -> InFlight {
        let gauge = if long_running {
            &self.long_running
        } else {
            &self.in_flight
        };
        gauge.inc();
        InFlight {
            metrics: self.clone(),
            long_running,
        }
    }

    /// A request's answer head went out.
    pub(crate) fn answered(&self, code: u16, verb: &'static str, seconds: f64) {
        self.requests.get_or_create(&CodeVerb { code, verb }).inc();
        self.duration
            .get_or_create(&VerbLabel { verb })
            .observe(seconds);
    }

    /// A protocol switch was asked for.
    pub(crate) fn upgrade(&self, protocol: &'static str, switched: bool) {
        self.upgrades
            .get_or_create(&ProtocolResult {
                protocol,
                result: if switched { "switched" } else { "refused" },
            })
            .inc();
    }

    /// A credential was checked by one provider.
    pub(crate) fn authentication(
        &self,
        provider: &'static str,
        outcome: &'static str,
        source: &'static str,
    ) {
        self.authentications
            .get_or_create(&ProviderOutcome {
                provider,
                outcome,
                source,
            })
            .inc();
    }

    /// What each provider of the chain said about a credential (the same
    /// `guard_provider_checks_total` as `guard run`'s).
    pub(crate) fn provider_checks(&self, attempts: &[guard_auth::Attempt]) {
        self.providers.record(attempts);
    }

    /// Shows a provider's own counter (see [`guard_auth::Provider::counters`]),
    /// as `guard run` does.
    pub fn register_provider_counter(&mut self, counter: guard_auth::ProviderCounter) {
        guard_server::ProviderMetrics::register_counter(&mut self.registry, counter);
    }

    /// The proxy answered a request itself.
    pub(crate) fn refused(&self, reason: &'static str) {
        self.refusals.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// The API server could not be asked.
    pub(crate) fn upstream_error(&self, reason: &'static str) {
        self.upstream_errors
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// A connection was accepted; the guard ends it.
    pub(crate) fn open_connection(self: &Arc<Self>) -> OpenConnection {
        self.connections_open.inc();
        OpenConnection(self.clone())
    }

    /// The connection limit was reached.
    pub(crate) fn connection_limit_reached(&self) {
        self.connection_limit_waits.inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Decrements the in-flight gauge when dropped.
pub(crate) struct InFlight {
    metrics: Arc<ProxyMetrics>,
    long_running: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.long_running {
            self.metrics.long_running.dec();
        } else {
            self.metrics.in_flight.dec();
        }
    }
}

/// Decrements the open-connections gauge when dropped.
pub(crate) struct OpenConnection(Arc<ProxyMetrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.dec();
    }
}
