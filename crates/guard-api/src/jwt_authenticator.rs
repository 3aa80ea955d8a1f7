//! How an OpenID Connect style provider's tokens are checked and mapped to
//! a user, as plain data: the provider fills it from the same options
//! `guard run` takes, and guard-installer renders it into a `jwt`
//! authenticator of kube-apiserver's `AuthenticationConfiguration`
//! (`guard get authn-config`). So the installer links no provider code.

/// A provider's in-tree authenticators, and what they cannot do that the
/// provider does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtAuthenticators {
    /// One per issuer.
    pub authenticators: Vec<JwtAuthenticatorSpec>,
    /// Differences from guard's own checks, one sentence each.
    pub notes: Vec<String>,
}

/// How one issuer's tokens are checked and mapped to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthenticatorSpec {
    /// The provider it stands for (named in messages).
    pub provider: &'static str,
    /// The `iss` of the tokens; https.
    pub issuer: String,
    /// The full URL of the discovery document when it is not at
    /// `ISSUER/.well-known/openid-configuration`.
    pub discovery_url: Option<String>,
    /// PEM CA certificates for the issuer's HTTPS server.
    pub certificate_authority: Option<String>,
    /// Accepted `aud` values (any one of them).
    pub audiences: Vec<String>,
    /// The username.
    pub username: UsernameMapping,
    /// The claim holding the groups (a string or a list) and their prefix.
    pub groups: Option<PrefixedClaim>,
    /// The claim holding the uid.
    pub uid_claim: Option<String>,
    /// String claims that must be present with exactly this value.
    pub required_claims: Vec<(String, String)>,
    /// CEL expressions over `claims` that must all be true, with the
    /// message given when one is not.
    pub claim_rules: Vec<(String, String)>,
}

/// Where the username comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsernameMapping {
    /// A claim, prefixed (`""` for none). With the claim `email`, the API
    /// server also requires `email_verified` to be true when present.
    Claim(PrefixedClaim),
    /// A CEL expression over `claims` (no prefix).
    Expression(String),
}

/// A claim and the prefix put before its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixedClaim {
    /// The claim.
    pub claim: String,
    /// The prefix; empty for none.
    pub prefix: String,
}
