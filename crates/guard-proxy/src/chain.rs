//! A credential tried against the ordered providers, through the same
//! [`Authenticator`] (cache, coalescing, deadline) as a TokenReview.

use guard_auth::{Attempt, Authenticator, Identity, Outcome, Source};

use crate::config::{ProviderChain, takes_basic};
use crate::credentials::Credential;
use crate::metrics::ProxyMetrics;

/// What the providers made of a credential.
#[derive(Debug)]
pub enum ChainOutcome {
    /// The first provider that accepted it, and the identity.
    Authenticated {
        /// Who.
        identity: Identity,
        /// Which provider said so.
        provider: &'static str,
    },
    /// Every provider that takes this kind of credential refused it.
    Denied,
    /// No provider accepted it and at least one could not be asked.
    Unavailable {
        /// The providers that could not answer.
        providers: Vec<&'static str>,
    },
    /// Basic credentials, but no configured provider takes a password.
    BasicNotAccepted,
}

/// Tries `credential` against each provider of `chain` in turn.
pub async fn authenticate(
    authenticator: &Authenticator,
    chain: &ProviderChain,
    credential: &Credential,
    metrics: &ProxyMetrics,
) -> ChainOutcome {
    let basic = matches!(credential, Credential::Basic(_));
    let mut unavailable = Vec::new();
    let mut asked = false;
    let entries = chain.entries();
    // What each provider said, counted as `guard run` counts a route's.
    let attempt = |provider: &'static str, result: &'static str| {
        metrics.provider_checks(&[Attempt { provider, result }]);
    };
    for (i, entry) in entries.iter().enumerate() {
        if basic && !takes_basic(entry.provider) {
            attempt(entry.provider, "skipped");
            continue;
        }
        asked = true;
        let route = match authenticator.route(&[entry.provider.to_owned()]) {
            Ok(route) => route,
            Err(e) => {
                tracing::error!(provider = entry.provider, "provider in the chain: {e}");
                unavailable.push(entry.provider);
                continue;
            }
        };
        let review = authenticator
            .review(&route, &entry.org, credential.token())
            .await;
        let source = match review.source {
            Source::Cache => "hit",
            Source::Coalesced => "coalesced",
            Source::Provider => "miss",
            Source::Uncached => "uncached",
        };
        metrics.authentication(entry.provider, review.outcome.label(), source);
        metrics.provider_checks(&review.attempts);
        match review.outcome {
            Outcome::Authenticated { identity, .. } => {
                for later in &entries[i + 1..] {
                    attempt(later.provider, "not_asked");
                }
                return ChainOutcome::Authenticated {
                    identity,
                    provider: entry.provider,
                };
            }
            Outcome::Denied(reason) => {
                tracing::debug!(provider = %entry.provider, reason, "credential denied");
            }
            Outcome::Unavailable(reason) => {
                tracing::warn!(provider = %entry.provider, reason, "provider unavailable");
                unavailable.push(entry.provider);
            }
        }
    }
    if !asked {
        ChainOutcome::BasicNotAccepted
    } else if unavailable.is_empty() {
        ChainOutcome::Denied
    } else {
        ChainOutcome::Unavailable {
            providers: unavailable,
        }
    }
}
