//! guard's authorization webhook: `POST /subjectaccessreviews` answered by
//! Azure RBAC, as Go Guard's `--authz-providers=azure` does.
//!
//! * [`review`]: the SubjectAccessReview on the wire (v1 and v1beta1).
//! * [`options`]: the flags (Go Guard's names and defaults) and their checks.
//! * [`install`]: what the webhook adds to `guard get installer`.
//! * [`actions`]: a review as Azure data actions.
//! * [`arm`]: guard's ARM token and the CheckAccess call (batching,
//!   deadline, retries, throttling).
//! * [`discovery`]: the cluster's resources joined with ARM's operations,
//!   for wildcards and custom resources.
//! * [`Authorizer`]: Go Guard's decision order, with a cache and coalescing
//!   of identical checks in front of ARM.
//! * [`metrics`]: Go Guard's metric names.

pub mod actions;
pub mod arm;
mod authorizer;
pub mod discovery;
pub mod install;
pub mod metrics;
pub mod options;
pub mod review;

pub use authorizer::{Authorizer, AuthorizerConfig, Review};
pub use options::{AuthzArgs, AzureShared};

/// Why the authorizer cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    /// The options are wrong or incomplete; every problem, separated by `; `.
    #[error("{0}")]
    Config(String),
}
