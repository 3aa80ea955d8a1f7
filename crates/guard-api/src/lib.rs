//! Wire types shared by every guard crate.
//!
//! * [`AuthProvider`]: the names of the identity providers, as they appear in
//!   `--auth-providers`, in `guard init client -o`, and in the `O` of a client
//!   certificate.
//! * [`TokenReview`]: the `authentication.k8s.io` `TokenReview` envelope in
//!   both API versions the API server speaks (`v1` and `v1beta1`), built on
//!   `k8s-openapi`'s spec, status and user types.
//! * [`JwtAuthenticators`]: an OpenID Connect style provider's in-tree
//!   kube-apiserver authenticator, as plain data.

mod jwt_authenticator;
mod provider;
mod token_review;

pub use jwt_authenticator::{
    JwtAuthenticatorSpec, JwtAuthenticators, PrefixedClaim, UsernameMapping,
};
pub use provider::{AuthProvider, UnknownProvider};
pub use token_review::{
    BearerToken, ReviewApiVersion, ReviewParseError, ReviewRequest, TOKEN_REVIEW_KIND, TokenReview,
    TokenReviewSpec, TokenReviewStatus, UserInfo,
};
