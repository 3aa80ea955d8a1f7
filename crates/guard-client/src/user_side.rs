//! How a user of each provider gets a token: the client's own table, next
//! to the server's registry (a provider without a user side, `token-auth`,
//! has its tokens handed out by the operator).

use crate::oidc::Preset;
use crate::pat::{self, PersonalAccessToken};

/// How a user gets a token for a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSide {
    /// An aws-iam-authenticator token made from the user's AWS credentials.
    Eks,
    /// `base64(username:password)` for LDAP.
    Basic,
    /// A personal access token the user creates on the provider's site.
    PersonalAccessToken(PersonalAccessToken),
    /// An ID token from logging in with OpenID Connect.
    OpenIdConnect(Preset),
}

/// The user side of the provider called `name` (as registered), if it
/// has one.
pub fn user_side(name: &str) -> Option<UserSide> {
    Some(match name {
        "eks" => UserSide::Eks,
        "ldap" => UserSide::Basic,
        "github" => UserSide::PersonalAccessToken(pat::GITHUB),
        "gitlab" => UserSide::PersonalAccessToken(pat::GITLAB),
        "google" => UserSide::OpenIdConnect(Preset::Google),
        "azure" => UserSide::OpenIdConnect(Preset::Azure),
        "oidc" => UserSide::OpenIdConnect(Preset::Generic),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_provider_but_token_auth_has_a_user_side() {
        for name in guard_providers::registry::names() {
            assert_eq!(user_side(name).is_none(), name == "token-auth", "{name}");
        }
    }
}
