use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use guard_api::{BearerToken, UserInfo};

/// A boxed future, so that providers can be stored as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// `status.user.username`.
    pub username: String,
    /// `status.user.uid`.
    pub uid: String,
    /// `status.user.groups`.
    pub groups: Vec<String>,
    /// `status.user.extra`.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl From<Identity> for UserInfo {
    fn from(id: Identity) -> Self {
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        UserInfo {
            username: non_empty(id.username),
            uid: non_empty(id.uid),
            groups: (!id.groups.is_empty()).then_some(id.groups),
            extra: (!id.extra.is_empty()).then_some(id.extra),
        }
    }
}

/// Why a provider did not authenticate a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The token is not valid for this provider and organisation: a plain
    /// denial. The reason goes to guard's log, not to the API server.
    #[error("{0}")]
    Denied(String),
    /// The provider could not be asked (outage, timeout, rate limit): the
    /// API server gets the reason in `status.error`, which it does not cache.
    /// The reason must name the outage, never the token.
    #[error("{0}")]
    Unavailable(String),
}

/// An identity provider.
pub trait Provider: Send + Sync + 'static {
    /// The provider's registered name (`github`, `token-auth`, ...): the
    /// `O` of the client certificates it serves.
    fn name(&self) -> &'static str;

    /// Checks `token` for the organisation `org` (the client certificate's
    /// `CN`: a GitHub organisation, a Google domain...).
    fn check<'a>(
        &'a self,
        org: &'a str,
        token: &'a BearerToken,
    ) -> BoxFuture<'a, Result<Identity, CheckError>>;

    /// Whether `token` may be one of this provider's, judged from its shape
    /// alone (no upstream call): an ID token whose issuer is another's, or
    /// an EKS token (`k8s-aws-v1.`) for any provider but eks, cannot be.
    /// A review skips a provider that says no: it counts as a plain
    /// denial, and the token never reaches that provider's upstream.
    /// Default: any token may be.
    fn may_be_mine(&self, token: &BearerToken) -> bool {
        let _ = token;
        true
    }

    /// What the client certificate's `CN` names for this provider ("the
    /// GitHub organisation"), or `None` when the provider does not read it.
    /// A review whose certificate has no usable `CN` is refused for a
    /// provider that reads it, before the provider is asked.
    fn client_name(&self) -> Option<&'static str> {
        None
    }

    /// Whether results should go through the result cache. A provider whose
    /// check is a local lookup (the token file) gains nothing from it.
    fn cacheable(&self) -> bool {
        true
    }

    /// Whether the provider itself verifies token audiences (OIDC does), so
    /// that `status.audiences` may be echoed.
    fn checks_audiences(&self) -> bool {
        false
    }

    /// Whether reserved `system:...` names (groups such as
    /// `system:masters`, and usernames) may pass. By default the
    /// [`Authenticator`] drops such groups and denies such a username: an
    /// outside identity source must not hand them out.
    /// Providers whose groups are written by the operator (the token file,
    /// the EKS mapping) or whose operator opted in say `true`.
    ///
    /// [`Authenticator`]: crate::Authenticator
    fn allows_system_groups(&self) -> bool {
        false
    }

    /// Counters the provider keeps (for `/metrics`), registered once when
    /// the server starts.
    fn counters(&self) -> Vec<ProviderCounter> {
        Vec::new()
    }
}

/// A counter a provider keeps, shown on `/metrics` as `NAME_total`.
#[derive(Debug, Clone)]
pub struct ProviderCounter {
    /// The metric's name, without `_total` (`guard_eks_sts_throttling`).
    pub name: &'static str,
    /// Its help text.
    pub help: &'static str,
    /// The value, shared with the provider.
    pub value: std::sync::Arc<std::sync::atomic::AtomicU64>,
}
