use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use guard_api::{AuthProvider, BearerToken};

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
    /// The client certificate names a provider that is not enabled.
    NotEnabled(AuthProvider),
}

impl Outcome {
    /// A short label for logs and metrics: `authenticated`, `denied`,
    /// `unavailable`, `not_enabled`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Authenticated { .. } => "authenticated",
            Outcome::Denied(_) => "denied",
            Outcome::Unavailable(_) => "unavailable",
            Outcome::NotEnabled(_) => "not_enabled",
        }
    }
}

/// One review's outcome with how it was reached.
#[derive(Debug, Clone)]
pub struct Review {
    /// The answer.
    pub outcome: Outcome,
    /// Where it came from.
    pub source: Source,
    /// Time spent.
    pub elapsed: Duration,
}

/// The enabled providers behind a cache and a deadline.
pub struct Authenticator {
    providers: HashMap<AuthProvider, Arc<dyn Provider>>,
    cache: ReviewCache,
    deadline: Duration,
}

/// Builds an [`Authenticator`].
pub struct AuthenticatorBuilder {
    providers: HashMap<AuthProvider, Arc<dyn Provider>>,
    cache: CacheConfig,
    deadline: Duration,
}

impl Default for AuthenticatorBuilder {
    fn default() -> Self {
        AuthenticatorBuilder {
            providers: HashMap::new(),
            cache: CacheConfig::default(),
            deadline: Duration::from_secs(10),
        }
    }
}

impl AuthenticatorBuilder {
    /// Enables a provider.
    pub fn provider(mut self, provider: Arc<dyn Provider>) -> Self {
        self.providers.insert(provider.kind(), provider);
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
    pub fn build(self) -> Authenticator {
        Authenticator {
            providers: self.providers,
            cache: ReviewCache::new(self.cache),
            deadline: self.deadline,
        }
    }
}

impl Authenticator {
    /// Starts a builder.
    pub fn builder() -> AuthenticatorBuilder {
        AuthenticatorBuilder::default()
    }

    /// Whether `provider` is enabled.
    pub fn is_enabled(&self, provider: AuthProvider) -> bool {
        self.providers.contains_key(&provider)
    }

    /// The result cache (for metrics).
    pub fn cache(&self) -> &ReviewCache {
        &self.cache
    }

    /// Reviews `token` with `provider` for organisation `org`.
    pub async fn review(&self, provider: AuthProvider, org: &str, token: &BearerToken) -> Review {
        let started = Instant::now();
        let Some(p) = self.providers.get(&provider) else {
            return Review {
                outcome: Outcome::NotEnabled(provider),
                source: Source::Provider,
                elapsed: started.elapsed(),
            };
        };
        let check = || async {
            match tokio::time::timeout(self.deadline, p.check(org, token)).await {
                Ok(result) => result,
                Err(_) => Err(CheckError::Unavailable(format!(
                    "{provider} did not answer within {}s",
                    self.deadline.as_secs_f32()
                ))),
            }
        };
        let (result, source) = if p.cacheable() {
            self.cache
                .get_or_check(CacheKey::new(provider, org, token), check)
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
            source,
            elapsed: started.elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::BoxFuture;

    struct Fixed(AuthProvider, Result<Identity, CheckError>, bool);

    impl Provider for Fixed {
        fn kind(&self) -> AuthProvider {
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

    #[tokio::test]
    async fn routes_by_provider_and_reports_not_enabled() {
        let id = Identity {
            username: "u".into(),
            ..Identity::default()
        };
        let auth = Authenticator::builder()
            .provider(Arc::new(Fixed(AuthProvider::Github, Ok(id.clone()), false)))
            .build();
        let t = BearerToken::new("t");
        assert!(matches!(
            auth.review(AuthProvider::Github, "acme", &t).await.outcome,
            Outcome::Authenticated { identity, .. } if identity == id
        ));
        assert_eq!(
            auth.review(AuthProvider::Gitlab, "acme", &t).await.outcome,
            Outcome::NotEnabled(AuthProvider::Gitlab)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_provider_is_cut_off_at_the_deadline() {
        let auth = Authenticator::builder()
            .provider(Arc::new(Fixed(
                AuthProvider::Github,
                Ok(Identity::default()),
                true,
            )))
            .deadline(Duration::from_secs(3))
            .build();
        let review = auth
            .review(AuthProvider::Github, "acme", &BearerToken::new("t"))
            .await;
        match review.outcome {
            Outcome::Unavailable(reason) => assert!(reason.contains("within 3s"), "{reason}"),
            other => panic!("expected unavailable, got {other:?}"),
        }
    }
}
