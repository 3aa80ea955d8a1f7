use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// The provider that gave it.
    pub provider: &'static str,
    /// Where it came from.
    pub source: Source,
    /// Time spent.
    pub elapsed: Duration,
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
/// organizations (`O`). Today the first organization picks one provider
/// (Go Guard's rule, and what a certificate from `guard init client`
/// holds); the type keeps the choice opaque so that an ordered list of
/// providers per certificate can take its place.
pub struct Route<'a> {
    provider: &'a Arc<dyn Provider>,
}

impl Route<'_> {
    /// A label for metrics and logs: the provider's name.
    pub fn label(&self) -> &'static str {
        self.provider.name()
    }

    /// What the client certificate's `CN` names for the provider, when it
    /// reads it (see [`Provider::client_name`]).
    pub fn client_name(&self) -> Option<&'static str> {
        self.provider.client_name()
    }
}

/// The enabled providers behind a cache and a deadline.
pub struct Authenticator {
    providers: Vec<Arc<dyn Provider>>,
    known: Vec<&'static str>,
    cache: ReviewCache,
    deadline: Duration,
    dropped_groups: DroppedGroups,
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

    /// Sets the longest time one review may take; past it the review is
    /// answered as unavailable.
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
    /// (`O`, in certificate order; names are matched case-insensitively).
    pub fn route(&self, organizations: &[String]) -> Result<Route<'_>, RouteError> {
        let first = organizations.first().ok_or(RouteError::NoOrganization)?;
        let wanted = first.trim();
        let Some(name) = self.known.iter().find(|k| k.eq_ignore_ascii_case(wanted)) else {
            return Err(RouteError::Unknown {
                name: wanted.to_owned(),
                known: self.known.join(", "),
            });
        };
        self.providers
            .iter()
            .find(|p| p.name() == *name)
            .map(|provider| Route { provider })
            .ok_or(RouteError::NotEnabled(name))
    }

    /// Reviews `token` for organisation `org` (the certificate's `CN`) with
    /// the providers of `route`.
    pub async fn review(&self, route: &Route<'_>, org: &str, token: &BearerToken) -> Review {
        let started = Instant::now();
        let p = route.provider;
        let name = p.name();
        if let Some(reason) = malformed(token.expose()) {
            // Before the cache and any upstream call: a plain denial.
            return Review {
                outcome: Outcome::Denied(reason.into()),
                provider: name,
                source: Source::Uncached,
                elapsed: started.elapsed(),
            };
        }
        let check = || async {
            let result = match tokio::time::timeout(self.deadline, p.check(org, token)).await {
                Ok(result) => result,
                Err(_) => Err(CheckError::Unavailable(format!(
                    "{name} did not answer within {}s",
                    self.deadline.as_secs_f32()
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
        let (result, source) = if p.cacheable() {
            self.cache
                .get_or_check(CacheKey::new(name, org, token), check)
                .await
        } else {
            (check().await, Source::Uncached)
        };
        let outcome = match result {
            Ok(identity) => Outcome::Authenticated {
                identity,
                audiences_checked: p.checks_audiences(),
            },
            Err(CheckError::Denied(reason)) => Outcome::Denied(reason),
            Err(CheckError::Unavailable(reason)) => Outcome::Unavailable(reason),
        };
        Review {
            outcome,
            provider: name,
            source,
            elapsed: started.elapsed(),
        }
    }
}

/// Why a token cannot be valid for any provider, checked before the cache
/// and any upstream call: bearer tokens are printable ASCII (RFC 6750's
/// `b64token` and every provider's format are), so anything else (control
/// characters, DEL, spaces, non-ASCII) is a plain denial rather than an
/// upstream error.
fn malformed(token: &str) -> Option<&'static str> {
    if token.is_empty() {
        Some("empty token")
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
            let first = logged.len() < MAX_REMEMBERED_DROPS
                && logged.insert((provider, group.clone()));
            drop(logged);
            if first {
                tracing::warn!(
                    provider,
                    user = %identity.username,
                    "dropped the reserved group {group:?} that {provider} returned; \
                     --{provider}.allow-system-groups lets such groups through \
                     (logged once per group)"
                );
            } else {
                tracing::debug!(provider, user = %identity.username, "dropped the reserved group {group:?}");
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
    async fn routes_by_the_first_organization_and_tells_unknown_from_disabled() {
        let id = Identity {
            username: "u".into(),
            ..Identity::default()
        };
        let auth = Authenticator::builder()
            .provider(Arc::new(Fixed("github", Ok(id.clone()), false)))
            .known_providers(["github", "gitlab"])
            .build();
        let t = BearerToken::new("t");
        let route = auth.route(&orgs(&[" GitHub ", "gitlab"])).unwrap();
        assert_eq!(route.label(), "github");
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
