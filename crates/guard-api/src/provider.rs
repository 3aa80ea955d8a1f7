use std::fmt;
use std::str::FromStr;

/// An identity provider guard can check tokens against.
///
/// The lower-case [`name`](AuthProvider::name) is the contract: it is the
/// `O` (organization) of the client certificate the API server presents, the
/// value of `--auth-providers`, and the suffix of client certificate files
/// (`NAME@PROVIDER.crt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuthProvider {
    /// Azure Active Directory (Entra ID).
    Azure,
    /// AWS IAM identities (aws-iam-authenticator tokens).
    Eks,
    /// GitHub organisation membership and teams.
    Github,
    /// GitLab user and groups.
    Gitlab,
    /// Google Workspace ID tokens.
    Google,
    /// LDAP / Active Directory.
    Ldap,
    /// Any OpenID Connect issuer (Keycloak, Dex, Okta, ...).
    Oidc,
    /// A static token file (Kubernetes' static token CSV format).
    TokenAuth,
}

impl AuthProvider {
    /// Every provider, in the order guard lists them.
    pub const ALL: [AuthProvider; 8] = [
        AuthProvider::Azure,
        AuthProvider::Eks,
        AuthProvider::Github,
        AuthProvider::Gitlab,
        AuthProvider::Google,
        AuthProvider::Ldap,
        AuthProvider::Oidc,
        AuthProvider::TokenAuth,
    ];

    /// The canonical lower-case name (`github`, `token-auth`, ...).
    pub fn name(self) -> &'static str {
        match self {
            AuthProvider::Azure => "azure",
            AuthProvider::Eks => "eks",
            AuthProvider::Github => "github",
            AuthProvider::Gitlab => "gitlab",
            AuthProvider::Google => "google",
            AuthProvider::Ldap => "ldap",
            AuthProvider::Oidc => "oidc",
            AuthProvider::TokenAuth => "token-auth",
        }
    }

    /// Whether a client name may be left out for this provider, in which case
    /// it defaults to the provider's name (Guard's rule for gitlab, azure and
    /// ldap, and guard's for oidc, whose certificate `CN` carries no meaning).
    pub fn name_is_optional(self) -> bool {
        matches!(
            self,
            AuthProvider::Gitlab | AuthProvider::Azure | AuthProvider::Ldap | AuthProvider::Oidc
        )
    }

    /// The list of valid names, comma separated, for error messages.
    pub fn valid_names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }
}

impl fmt::Display for AuthProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A provider name that guard does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown provider {name:?}: expected one of {}",
    AuthProvider::valid_names()
)]
pub struct UnknownProvider {
    /// The name as given (trimmed).
    pub name: String,
}

impl FromStr for AuthProvider {
    type Err = UnknownProvider;

    /// Parses a provider name case-insensitively, ignoring surrounding
    /// whitespace, as Guard does (`Github`, ` github `, `GITHUB`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(trimmed))
            .ok_or_else(|| UnknownProvider {
                name: trimmed.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively_and_trims() {
        assert_eq!("Github".parse(), Ok(AuthProvider::Github));
        assert_eq!(" TOKEN-AUTH ".parse(), Ok(AuthProvider::TokenAuth));
        assert_eq!("ldap".parse(), Ok(AuthProvider::Ldap));
    }

    #[test]
    fn rejects_unknown_names_and_lists_the_valid_ones() {
        let err = "appscode".parse::<AuthProvider>().unwrap_err();
        assert_eq!(err.name, "appscode");
        let msg = err.to_string();
        assert!(msg.contains("appscode"), "{msg}");
        assert!(msg.contains("token-auth"), "{msg}");
    }

    #[test]
    fn names_round_trip() {
        for p in AuthProvider::ALL {
            assert_eq!(p.name().parse(), Ok(p));
            assert_eq!(p.to_string(), p.name());
        }
    }

    #[test]
    fn gitlab_azure_ldap_and_oidc_default_their_client_name() {
        let optional: Vec<_> = AuthProvider::ALL
            .into_iter()
            .filter(|p| p.name_is_optional())
            .collect();
        assert_eq!(
            optional,
            [
                AuthProvider::Azure,
                AuthProvider::Gitlab,
                AuthProvider::Ldap,
                AuthProvider::Oidc
            ]
        );
    }
}
