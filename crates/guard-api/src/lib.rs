//! Types shared by guard's crates, with no logic of their own.
//!
//! * [`TokenReview`]: the `authentication.k8s.io` `TokenReview` envelope in
//!   both API versions the API server speaks (`v1` and `v1beta1`), built on
//!   `k8s-openapi`'s spec, status and user types.
//! * [`install`]: what a provider adds to the deployment `guard get
//!   installer` prints, as data the provider registry fills and the
//!   installer renders.
//! * [`JwtAuthenticators`]: an OpenID Connect style provider's in-tree
//!   kube-apiserver authenticator, as plain data.
//! * [`yaml`]: Kubernetes objects as YAML, keys sorted as kubectl writes
//!   them.
//!
//! Provider names are plain strings here: the registry in guard-providers
//! is the one list of them.

pub mod install;
mod jwt_authenticator;
mod token_review;
pub mod yaml;

pub use install::{InstallerPart, InstallerSecret, SecretEnv};
pub use jwt_authenticator::{
    JwtAuthenticatorSpec, JwtAuthenticators, PrefixedClaim, UsernameMapping,
};
pub use token_review::{
    BearerToken, ReviewApiVersion, ReviewParseError, ReviewRequest, TOKEN_REVIEW_KIND, TokenReview,
    TokenReviewSpec, TokenReviewStatus, UserInfo, describe_json_error,
};
