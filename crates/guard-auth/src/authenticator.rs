use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use guard_api::BearerToken;

use crate::cache::{CacheConfig, CacheKey, ReviewCache, Source};
use crate::provider::{CheckError, Identity, Provider};

/// The answer to one review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The token belongs to this identity.
    Authenticated {
        /// Who.
        identity: Identity,
        /// Whether the provider verified the token's audience.
        audiences_checked: bool,
    },
    /// The token is not valid (reason for the log only).
    Denied(String),
    /// The provider could not answer (reason for `status.error`).
    Unavailable(String),
}

impl Outcome {
    /// A short label for logs and metrics: `authenticated`, `denied`,
    /// `unavailable`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Authenticated { .. } => "authenticated",
            Outcome::Denied(_) => "denied",
            Outcome::Unavailable(_) => "unavailable",
        }
    }
}

/// One review's outcome with how it was reached.
#[derive(Debug, Clone)]
pub struct Review {
    /// The answer.
    pub outcome: Outcome,
    /// The provider that gave it: the one that authenticated, the first
    /// one with an outage, or, when every provider denied, the last one
    /// asked.
    pub provider: &'static str,
    /// Where it came from.
    pub source: Source,
    /// Time spent.
    pub elapsed: Duration,
    /// What each provider of the route said, in the order asked (one entry
    /// for a single-provider route).
    pub attempts: Vec<Attempt>,
}

impl Review {
    /// The attempts as `github=skipped token-auth=authenticated`, for logs.
    pub fn attempts_text(&self) -> String {
        self.attempts
            .iter()
            .map(|a| format!("{}={}", a.provider, a.result))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What one provider of a route said about a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// The provider.
    pub provider: &'static str,
    /// `authenticated`, `denied`, `unavailable`, `skipped` (the token
    /// cannot be this provider's kind) or `not_asked` (an earlier provider
    /// authenticated it, or the review's deadline had passed).
    pub result: &'static str,
}

/// Why a client certificate leads to no provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The certificate has no organization (`O`).
    #[error("the client certificate has no organization (O)")]
    NoOrganization,
    /// The organization is no provider guard knows.
    #[error("client certificate organization: unknown provider {name:?}: expected one of {known}")]
    Unknown {
        /// The organization as written (trimmed).
        name: String,
        /// The names guard knows, comma separated.
        known: String,
    },
    /// The provider is known but not enabled.
    #[error("guard does not provide service for {0}: it is not in --auth-providers")]
    NotEnabled(&'static str),
}

/// The providers a review goes to, chosen by the client certificate's
/// organizations (`O`): each names a provider, and they are asked in
/// certificate order (a certificate from `guard init client NAME -o
/// github,token-auth` holds two).
pub struct Route<'a> {
    providers: Vec<&'a Arc<dyn Provider>>,
    label: &'static str,
}

impl Route<'_> {
    /// The name of the last provider of the route.
    fn label_of_last(&self) -> &'static str {
        self.providers.last().map_or(self.label, |p| p.name())
    }

    /// A label for metrics and logs: the provider's name, or the names
    /// joined with `,` for a route of several providers.
    pub fn label(&self) -> &'static str {
        self.label
    }

    /// What the client certificate's `CN` names for the first provider of
    /// the route that reads it (see [`Provider::client_name`]).
    pub fn client_name(&self) -> Option<&'static str> {
        self.providers.iter().find_map(|p| p.client_name())
    }
}

/// The most distinct multi-provider route labels kept; past it a route's
/// label is `multiple` (every route comes from a certificate our CA
/// signed, so this is a guard against a surprise, not an attack).
const MAX_ROUTE_LABELS: usize = 64;

/// The enabled providers behind a cache and a deadline.
pub struct Authenticator {
    providers: Vec<Arc<dyn Provider>>,
    known: Vec<&'static str>,
    cache: ReviewCache,
    deadline: Duration,
    dropped_groups: DroppedGroups,
    route_labels: Mutex<HashMap<Vec<&'static str>, &'static str>>,
}

/// Builds an [`Authenticator`].
pub struct AuthenticatorBuilder {
    providers: Vec<Arc<dyn Provider>>,
    known: Vec<&'static str>,
    cache: CacheConfig,
    deadline: Duration,
}

impl Default for AuthenticatorBuilder {
    fn default() -> Self {
        AuthenticatorBuilder {
            providers: Vec::new(),
            known: Vec::new(),
            cache: CacheConfig::default(),
            deadline: Duration::from_secs(10),
        }
    }
}

impl AuthenticatorBuilder {
    /// Enables a provider (a later one with the same name replaces it).
    pub fn provider(mut self, provider: Arc<dyn Provider>) -> Self {
        self.providers.retain(|p| p.name() != provider.name());
        self.providers.push(provider);
        self
    }

    /// Every provider name guard knows, enabled or not, so that a client
    /// certificate naming a disabled provider is told apart from one naming
    /// no provider at all. Default: the enabled ones.
    pub fn known_providers(mut self, names: impl IntoIterator<Item = &'static str>) -> Self {
        self.known = names.into_iter().collect();
        self
    }

    /// Sets the cache.
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = cache;
        self
    }

    /// Sets the longest time one review may take, all providers of its
    /// route together; past it the review is answered as unavailable.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Finishes.
    pub fn build(mut self) -> Authenticator {
        for p in &self.providers {
            if !self.known.contains(&p.name()) {
                self.known.push(p.name());
            }
        }
        Authenticator {
            providers: self.providers,
            known: self.known,
            cache: ReviewCache::new(self.cache),
            deadline: self.deadline,
            dropped_groups: DroppedGroups::default(),
            route_labels: Mutex::new(HashMap::new()),
        }
    }
}

impl Authenticator {
    /// Starts a builder.
    pub fn builder() -> AuthenticatorBuilder {
        AuthenticatorBuilder::default()
    }

    /// The names of the enabled providers.
    pub fn enabled(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.providers.iter().map(|p| p.name())
    }

    /// The result cache (for metrics).
    pub fn cache(&self) -> &ReviewCache {
        &self.cache
    }

    /// The providers for a client certificate with these organizations
    /// (`O`, in certificate order; names are matched case-insensitively,
    /// a repeated name counts once). Every organization must name an
    /// enabled provider.
    pub fn route(&self, organizations: &[String]) -> Result<Route<'_>, RouteError> {
        if organizations.is_empty() {
            return Err(RouteError::NoOrganization);
        }
        let mut providers: Vec<&Arc<dyn Provider>> = Vec::with_capacity(organizations.len());
        for organization in organizations {
            let wanted = organization.trim();
            let Some(name) = self.known.iter().find(|k| k.eq_ignore_ascii_case(wanted)) else {
                return Err(RouteError::Unknown {
                    name: wanted.to_owned(),
                    known: self.known.join(", "),
                });
            };
            let provider = self
                .providers
                .iter()
                .find(|p| p.name() == *name)
                .ok_or(RouteError::NotEnabled(name))?;
            if !providers.iter().any(|p| p.name() == *name) {
                providers.push(provider);
            }
        }
        let label = match providers.as_slice() {
            [one] => one.name(),
            many => self.route_label(many.iter().map(|p| p.name()).collect()),
        };
        Ok(Route { providers, label })
    }

    /// The label of a route of several providers, made once per route.
    fn route_label(&self, names: Vec<&'static str>) -> &'static str {
        let mut labels = self.route_labels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(label) = labels.get(&names) {
            return label;
        }
        if labels.len() >= MAX_ROUTE_LABELS {
            return "multiple";
        }
        // Leaked once per distinct route, at most MAX_ROUTE_LABELS of them.
        let label: &'static str = Box::leak(names.join(",").into_boxed_str());
        labels.insert(names, label);
        label
    }

    /// Reviews `token` for organisation `org` (the certificate's `CN`) with
    /// the providers of `route`, in order: the first that authenticates
    /// the token answers; when none does, an outage of any of them makes
    /// the answer unavailable (not cached by the API server), else it is a
    /// plain denial. A provider for which the token cannot be
    /// ([`Provider::may_be_mine`]) is skipped without being asked. The
    /// whole review shares one deadline.
    pub async fn review(&self, route: &Route<'_>, org: &str, token: &BearerToken) -> Review {
        let started = Instant::now();
        let not_asked = |from: usize| {
            route.providers[from..]
                .iter()
                .map(|p| Attempt {
                    provider: p.name(),
                    result: "not_asked",
                })
                .collect::<Vec<_>>()
        };
        if let Some(reason) = malformed(token.expose()) {
            // Before the cache and any upstream call: a plain denial.
            return Review {
                outcome: Outcome::Denied(reason.into()),
                provider: route.providers[0].name(),
                source: Source::Uncached,
                elapsed: started.elapsed(),
                attempts: not_asked(0),
            };
        }
        let several = route.providers.len() > 1;
        let mut attempts = Vec::with_capacity(route.providers.len());
        let mut denials: Vec<String> = Vec::new();
        let mut outage: Option<(&'static str, String)> = None;
        let mut last = (route.label_of_last(), Source::Uncached);
        for (i, p) in route.providers.iter().enumerate() {
            let name = p.name();
            if several && !p.may_be_mine(token) {
                attempts.push(Attempt {
                    provider: name,
                    result: "skipped",
                });
                denials.push(format!("{name}: not a token of its kind"));
                continue;
            }
            let left = self.deadline.saturating_sub(started.elapsed());
            if left.is_zero() {
                outage.get_or_insert((
                    name,
                    format!(
                        "{name} was not asked: the review's deadline of {}s had passed",
                        self.deadline.as_secs_f32()
                    ),
                ));
                attempts.extend(not_asked(i));
                break;
            }
            let first_asked = attempts.iter().all(|a: &Attempt| a.result == "skipped");
            let (result, source) = self.check(p, org, token, left, first_asked).await;
            last = (name, source);
            match result {
                Ok(identity) => {
                    attempts.push(Attempt {
                        provider: name,
                        result: "authenticated",
                    });
                    attempts.extend(not_asked(i + 1));
                    return Review {
                        outcome: Outcome::Authenticated {
                            identity,
                            audiences_checked: p.checks_audiences(),
                        },
                        provider: name,
                        source,
                        elapsed: started.elapsed(),
                        attempts,
                    };
                }
                Err(CheckError::Denied(reason)) => {
                    attempts.push(Attempt {
                        provider: name,
                        result: "denied",
                    });
                    denials.push(if several {
                        format!("{name}: {reason}")
                    } else {
                        reason
                    });
                }
                Err(CheckError::Unavailable(reason)) => {
                    attempts.push(Attempt {
                        provider: name,
                        result: "unavailable",
                    });
                    if let Some((_, first)) = &mut outage {
                        first.push_str("; ");
                        first.push_str(&reason);
                    } else {
                        outage = Some((name, reason));
                    }
                }
            }
        }
        let (provider, outcome) = match outage {
            Some((provider, reason)) => (provider, Outcome::Unavailable(reason)),
            None => (last.0, Outcome::Denied(denials.join("; "))),
        };
        Review {
            outcome,
            provider,
            source: last.1,
            elapsed: started.elapsed(),
            attempts,
        }
    }

    /// Asks one provider, through the cache where it uses one, within `left`
    /// (`first_asked`: no provider was asked before it in this review, so
    /// it had the whole deadline).
    async fn check(
        &self,
        p: &Arc<dyn Provider>,
        org: &str,
        token: &BearerToken,
        left: Duration,
        first_asked: bool,
    ) -> (Result<Identity, CheckError>, Source) {
        let name = p.name();
        let deadline = self.deadline;
        let check = || async {
            let result = match tokio::time::timeout(left, p.check(org, token)).await {
                Ok(result) => result,
                Err(_) if first_asked => Err(CheckError::Unavailable(format!(
                    "{name} did not answer within {}s",
                    deadline.as_secs_f32()
                ))),
                Err(_) => Err(CheckError::Unavailable(format!(
                    "{name} did not answer within the {:.3}s left of the review's {}s",
                    left.as_secs_f32(),
                    deadline.as_secs_f32()
                ))),
            };
            result.and_then(|identity| {
                if p.allows_system_groups() {
                    Ok(identity)
                } else if identity.username.trim_start().starts_with(RESERVED_PREFIX) {
                    // Kubernetes' own users (`system:admin`, service
                    // accounts, nodes) are never an outside identity.
                    Err(CheckError::Denied(format!(
                        "{name} returned the reserved username {:?}; \
                         --{name}.allow-system-groups lets reserved names through",
                        identity.username
                    )))
                } else {
                    Ok(self.dropped_groups.filter(name, identity))
                }
            })
        };
        if p.cacheable() {
            self.cache
                .get_or_check(CacheKey::new(name, org, token), check)
                .await
        } else {
            (check().await, Source::Uncached)
        }
    }
}

/// The longest token any provider is asked about. Kerberos AP-REQs from
/// Active Directory with a large PAC can approach it; the tokens of every
/// other provider are far smaller (a few KiB at most).
pub const MAX_TOKEN_LEN: usize = 64 << 10;

/// Why a token cannot be valid for any provider, checked before the cache
/// and any upstream call: bearer tokens are printable ASCII (RFC 6750's
/// `b64token` and every provider's format are), so anything else (control
/// characters, DEL, spaces, non-ASCII) is a plain denial rather than an
/// upstream error; so is a token longer than [`MAX_TOKEN_LEN`].
fn malformed(token: &str) -> Option<&'static str> {
    if token.is_empty() {
        Some("empty token")
    } else if token.len() > MAX_TOKEN_LEN {
        Some("the token is longer than 64 KiB")
    } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
        Some("the token holds characters other than printable ASCII")
    } else {
        None
    }
}

/// The prefix of the groups Kubernetes reserves for itself.
const RESERVED_PREFIX: &str = "system:";

/// The most distinct dropped groups remembered, so that each is logged once.
const MAX_REMEMBERED_DROPS: usize = 1024;

/// Drops reserved groups (`system:...`) from identities of providers that do
/// not allow them, and logs each distinct (provider, group) once at warn.
#[derive(Default)]
struct DroppedGroups {
    logged: Mutex<HashSet<(&'static str, String)>>,
}

impl DroppedGroups {
    fn filter(&self, provider: &'static str, mut identity: Identity) -> Identity {
        identity.groups.retain(|group| {
            // Kubernetes compares group names exactly; `System:masters` is
            // not reserved, but surrounding whitespace would not save one.
            if !group.trim_start().starts_with(RESERVED_PREFIX) {
                return true;
            }
            let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
            let first =
                logged.len() < MAX_REMEMBERED_DROPS && logged.insert((provider, group.clone()));
            drop(logged);
            if first {
                tracing::warn!(
                    provider,
                    user = identity.username.as_str(),
                    "dropped the reserved group {group:?} that {provider} returned; \
                     --{provider}.allow-system-groups lets such groups through \
                     (logged once per group)"
                );
            } else {
                tracing::debug!(
                    provider,
                    user = identity.username.as_str(),
                    "dropped the reserved group {group:?}"
                );
            }
            false
        });
        identity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::BoxFuture;

    struct Fixed(&'static str, Result<Identity, CheckError>, bool);

    impl Provider for Fixed {
        fn name(&self) -> &'static str {
            self.0
        }
        fn check<'a>(
            &'a self,
            _org: &'a str,
            _token: &'a BearerToken,
        ) -> BoxFuture<'a, Result<Identity, CheckError>> {
            let r = self.1.clone();
            let hang = self.2;
            Box::pin(async move {
                if hang {
                    std::future::pending::<()>().await;
                }
                r
            })
        }
    }

    fn orgs(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[tokio::test]
    async fn routes_by_the_organizations_and_tells_unknown_from_disabled() {
        let id = Identity {
            username: "u".into(),
            ..Identity::default()
        };
        let auth = Authenticator::builder()
            .provider(Arc::new(Fixed("github", Ok(id.clone()), false)))
            .known_providers(["github", "gitlab"])
            .build();
        let t = BearerToken::new("t");
        let route = auth.route(&orgs(&[" GitHub ", "github"])).unwrap();
        assert_eq!(route.label(), "github");
        // Every organization must name an enabled provider.
        assert_eq!(
            auth.route(&orgs(&["github", "gitlab"])).err(),
            Some(RouteError::NotEnabled("gitlab"))
        );
        let review = auth.review(&route, "acme", &t).await;
        assert_eq!(review.provider, "github");
        assert!(matches!(
            review.outcome,
            Outcome::Authenticated { identity, .. } if identity == id
        ));
        assert_eq!(
            auth.route(&orgs(&["gitlab"])).err(),
            Some(RouteError::NotEnabled("gitlab"))
        );
        let unknown = auth.route(&orgs(&["appscode"])).err().unwrap();
        assert!(
            unknown
                .to_string()
                .contains("\"appscode\": expected one of github, gitlab"),
            "{unknown}"
        );
        assert_eq!(auth.route(&[]).err(), Some(RouteError::NoOrganization));
    }

    /// Answers with a fixed result, counts its calls, and claims only tokens
    /// starting with its `kind` (any token when empty).
    struct Scripted {
        name: &'static str,
        result: Result<Identity, CheckError>,
        kind: &'static str,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl Scripted {
        fn new(name: &'static str, result: Result<&str, CheckError>) -> Arc<Self> {
            Arc::new(Scripted {
                name,
                result: result.map(|u| Identity {
                    username: u.into(),
                    ..Identity::default()
                }),
                kind: "",
                calls: Default::default(),
            })
        }
        fn calls(&self) -> usize {
            self.calls.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl Provider for Scripted {
        fn name(&self) -> &'static str {
            self.name
        }
        fn check<'a>(
            &'a self,
            _org: &'a str,
            _token: &'a BearerToken,
        ) -> BoxFuture<'a, Result<Identity, CheckError>> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let r = self.result.clone();
            Box::pin(async move { r })
        }
        fn may_be_mine(&self, token: &BearerToken) -> bool {
            token.expose().starts_with(self.kind)
        }
    }

    fn several(providers: &[Arc<Scripted>]) -> Authenticator {
        let mut b = Authenticator::builder();
        for p in providers {
            b = b.provider(p.clone());
        }
        b.build()
    }

    #[tokio::test]
    async fn several_providers_are_asked_in_certificate_order_until_one_authenticates() {
        let gh = Scripted::new("github", Err(CheckError::Denied("no".into())));
        let tf = Scripted::new("token-auth", Ok("alice"));
        let auth = several(&[gh.clone(), tf.clone()]);
        let route = auth.route(&orgs(&["github", "token-auth"])).unwrap();
        assert_eq!(route.label(), "github,token-auth");
        let review = auth.review(&route, "acme", &BearerToken::new("t1")).await;
        assert_eq!(review.provider, "token-auth");
        assert!(matches!(review.outcome, Outcome::Authenticated { .. }));
        assert_eq!(
            review.attempts_text(),
            "github=denied token-auth=authenticated"
        );
        assert_eq!((gh.calls(), tf.calls()), (1, 1));
        // The other order: token-auth answers, github is not asked.
        let route = auth.route(&orgs(&["token-auth", "github"])).unwrap();
        let review = auth.review(&route, "acme", &BearerToken::new("t2")).await;
        assert_eq!(
            review.attempts_text(),
            "token-auth=authenticated github=not_asked"
        );
        assert_eq!((gh.calls(), tf.calls()), (1, 2));
    }

    #[tokio::test]
    async fn an_outage_in_one_and_a_denial_in_the_other_is_unavailable() {
        let gh = Scripted::new(
            "github",
            Err(CheckError::Unavailable("github is down".into())),
        );
        let tf = Scripted::new("token-auth", Err(CheckError::Denied("unknown".into())));
        let auth = several(&[gh, tf]);
        for order in [["github", "token-auth"], ["token-auth", "github"]] {
            let route = auth.route(&orgs(&order)).unwrap();
            let review = auth.review(&route, "acme", &BearerToken::new("t")).await;
            assert_eq!(
                review.outcome,
                Outcome::Unavailable("github is down".into())
            );
            assert_eq!(review.provider, "github");
        }
        // Denials only: a plain denial, naming each provider's reason.
        let a = Scripted::new("github", Err(CheckError::Denied("not a member".into())));
        let b = Scripted::new("token-auth", Err(CheckError::Denied("unknown".into())));
        let auth = several(&[a, b]);
        let route = auth.route(&orgs(&["github", "token-auth"])).unwrap();
        let review = auth.review(&route, "acme", &BearerToken::new("t")).await;
        assert_eq!(
            review.outcome,
            Outcome::Denied("github: not a member; token-auth: unknown".into())
        );
        assert_eq!(review.provider, "token-auth");
    }

    #[tokio::test]
    async fn a_provider_the_token_cannot_be_for_is_skipped_without_a_call() {
        let eks = Arc::new(Scripted {
            kind: "k8s-aws-v1.",
            ..Arc::into_inner(Scripted::new("eks", Ok("aws-user"))).unwrap()
        });
        let gh = Scripted::new("github", Err(CheckError::Unavailable("down".into())));
        let auth = several(&[eks.clone(), gh.clone()]);
        let route = auth.route(&orgs(&["eks", "github"])).unwrap();
        let review = auth.review(&route, "c", &BearerToken::new("ghp_x")).await;
        assert_eq!(review.attempts_text(), "eks=skipped github=unavailable");
        assert_eq!(eks.calls(), 0);
        let route = auth.route(&orgs(&["github", "eks"])).unwrap();
        let review = auth
            .review(&route, "c", &BearerToken::new("k8s-aws-v1.x"))
            .await;
        assert!(matches!(review.outcome, Outcome::Authenticated { .. }));
        // github said it may be its token (Scripted's empty kind) and was down.
        assert_eq!(
            review.attempts_text(),
            "github=unavailable eks=authenticated"
        );
        // A single-provider route asks the provider whatever the token.
        let route = auth.route(&orgs(&["eks"])).unwrap();
        auth.review(&route, "c", &BearerToken::new("ghp_y")).await;
        assert_eq!(eks.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn several_providers_share_one_deadline() {
        let hang = Arc::new(Fixed("github", Ok(Identity::default()), true));
        let tf = Scripted::new("token-auth", Ok("alice"));
        let auth = Authenticator::builder()
            .provider(hang)
            .provider(tf.clone())
            .deadline(Duration::from_secs(3))
            .build();
        let route = auth.route(&orgs(&["github", "token-auth"])).unwrap();
        let review = auth.review(&route, "acme", &BearerToken::new("t")).await;
        assert_eq!(
            review.attempts_text(),
            "github=unavailable token-auth=not_asked"
        );
        match review.outcome {
            Outcome::Unavailable(reason) => assert!(reason.contains("within 3s"), "{reason}"),
            other => panic!("expected unavailable, got {other:?}"),
        }
        assert_eq!(tf.calls(), 0);
    }

    /// Counts its calls; answers with `groups`.
    struct Counting {
        calls: std::sync::atomic::AtomicUsize,
        groups: Vec<String>,
        allow: bool,
    }

    impl Provider for Counting {
        fn name(&self) -> &'static str {
            "github"
        }
        fn check<'a>(
            &'a self,
            _org: &'a str,
            _token: &'a BearerToken,
        ) -> BoxFuture<'a, Result<Identity, CheckError>> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let groups = self.groups.clone();
            Box::pin(async move {
                Ok(Identity {
                    username: "u".into(),
                    groups,
                    ..Identity::default()
                })
            })
        }
        fn allows_system_groups(&self) -> bool {
            self.allow
        }
    }

    #[tokio::test]
    async fn tokens_that_are_not_printable_ascii_are_denied_without_asking() {
        let provider = Arc::new(Counting {
            calls: Default::default(),
            groups: vec![],
            allow: false,
        });
        let auth = Authenticator::builder().provider(provider.clone()).build();
        let route = auth.route(&orgs(&["github"])).unwrap();
        for bad in ["tok\u{7f}en", "tok en", "tok\nen", "tok\u{e9}n", "\u{0}"] {
            let review = auth.review(&route, "acme", &BearerToken::new(bad)).await;
            assert!(
                matches!(review.outcome, Outcome::Denied(_)),
                "{bad:?}: {:?}",
                review.outcome
            );
        }
        assert_eq!(provider.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
        let review = auth
            .review(&route, "acme", &BearerToken::new("ghp_Ok-1.2_3~+/="))
            .await;
        assert!(matches!(review.outcome, Outcome::Authenticated { .. }));
        assert_eq!(provider.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn reserved_groups_are_dropped_unless_the_provider_allows_them() {
        let groups: Vec<String> = [
            "dev",
            "system:masters",
            " system:nodes",
            "System:x",
            "x:system:y",
        ]
        .map(String::from)
        .to_vec();
        for (allow, expected) in [
            (false, vec!["dev", "System:x", "x:system:y"]),
            (true, groups.iter().map(String::as_str).collect()),
        ] {
            let auth = Authenticator::builder()
                .provider(Arc::new(Counting {
                    calls: Default::default(),
                    groups: groups.clone(),
                    allow,
                }))
                .build();
            let route = auth.route(&orgs(&["github"])).unwrap();
            let review = auth.review(&route, "acme", &BearerToken::new("t")).await;
            match review.outcome {
                Outcome::Authenticated { identity, .. } => assert_eq!(identity.groups, expected),
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_provider_is_cut_off_at_the_deadline() {
        let auth = Authenticator::builder()
            .provider(Arc::new(Fixed("github", Ok(Identity::default()), true)))
            .deadline(Duration::from_secs(3))
            .build();
        let route = auth.route(&orgs(&["github"])).unwrap();
        let review = auth.review(&route, "acme", &BearerToken::new("t")).await;
        match review.outcome {
            Outcome::Unavailable(reason) => assert!(reason.contains("within 3s"), "{reason}"),
            other => panic!("expected unavailable, got {other:?}"),
        }
    }
}
