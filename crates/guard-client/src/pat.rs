//! Personal access tokens: GitHub and GitLab users create one on the
//! provider's site; `guard get token` says where, and as a credential plugin
//! reads it from the environment.

use crate::ClientError;

/// Where and how a user gets a personal access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PersonalAccessToken {
    /// The product (`GitHub`).
    pub product: &'static str,
    /// The page that creates one, with the scope preselected.
    pub create_url: &'static str,
    /// The one scope the token needs.
    pub scope: &'static str,
    /// The environment variable the credential plugin reads it from.
    pub env_var: &'static str,
}

/// GitHub: `read:org`.
pub const GITHUB: PersonalAccessToken = PersonalAccessToken {
    product: "GitHub",
    create_url: "https://github.com/settings/tokens/new?scopes=read:org&description=guard",
    scope: "read:org",
    env_var: "GITHUB_TOKEN",
};

/// GitLab: `read_api`.
pub const GITLAB: PersonalAccessToken = PersonalAccessToken {
    product: "GitLab",
    create_url: "https://gitlab.com/-/user_settings/personal_access_tokens?name=guard&scopes=read_api",
    scope: "read_api",
    env_var: "GITLAB_TOKEN",
};

impl PersonalAccessToken {
    /// The token from the environment variable.
    pub fn from_env(&self) -> Result<String, ClientError> {
        std::env::var(self.env_var)
            .ok()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ClientError::Invalid(format!(
                    "--exec-credential reads the {} token from {}, which is not set",
                    self.product, self.env_var
                ))
            })
    }
}
