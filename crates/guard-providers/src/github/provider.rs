//! The server side of `github`: the client certificate's `CN` is the
//! GitHub organisation; the bearer token is the user's personal access
//! token (or any token with `read:org`).
//!
//! 1. `GET /user/memberships/orgs/{org}`: the user must be an **active**
//!    member (a pending invitation is not membership). username = `login`,
//!    uid = `id`.
//! 2. `GET /user/teams?per_page=100`, following `Link: rel="next"`: groups =
//!    the names (or slugs) of the teams that belong to the organisation.
//!
//! One shared HTTP client serves every review, with the user's token set
//! per request.

use guard_api::BearerToken;
use guard_auth::{BoxFuture, CheckError, Identity, Provider};
use reqwest::Url;
use serde::Deserialize;

use super::{GithubOptions, api_root};
use crate::{ProviderError, http};

/// The GitHub provider.
pub struct GithubProvider {
    client: reqwest::Client,
    base: Url,
    use_team_slug: bool,
    allow_system_groups: bool,
}

#[derive(Deserialize)]
struct Membership {
    state: String,
    user: Account,
}

#[derive(Deserialize)]
struct Account {
    login: String,
    id: u64,
}

#[derive(Deserialize)]
struct Team {
    name: String,
    slug: String,
    organization: Option<Org>,
}

#[derive(Deserialize)]
struct Org {
    login: String,
}

impl GithubProvider {
    /// Builds the provider on the shared client.
    pub fn new(client: reqwest::Client, options: &GithubOptions) -> Result<Self, ProviderError> {
        Ok(GithubProvider {
            allow_system_groups: options.allow_system_groups,
            client,
            base: api_root(options.base_url.as_deref())?,
            use_team_slug: options.use_team_slug,
        })
    }

    async fn get(&self, url: Url, token: &BearerToken) -> Result<reqwest::Response, CheckError> {
        let response = http::send(
            self.client
                .get(url)
                .bearer_auth(token.expose())
                .header("accept", "application/vnd.github+json")
                .header("x-github-api-version", "2022-11-28"),
        )
        .await
        .map_err(|e| http::transport("GitHub", e))?;
        Ok(response)
    }

    async fn check_token(&self, org: &str, token: &BearerToken) -> Result<Identity, CheckError> {
        let bad_org = || {
            CheckError::Denied(format!(
                "invalid GitHub organisation {org:?} in the client certificate"
            ))
        };
        if org.is_empty()
            || !org
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(bad_org());
        }
        let url = self
            .base
            .join(&format!("user/memberships/orgs/{org}"))
            .map_err(|_| bad_org())?;
        let response = self.get(url, token).await?;
        if !response.status().is_success() {
            return Err(http::refusal("GitHub", response, || {
                format!(
                    "not a member of the GitHub organisation {org} (or the token lacks read:org)"
                )
            })
            .await);
        }
        let membership: Membership = http::json("GitHub", response).await?;
        if membership.state != "active" {
            return Err(CheckError::Denied(format!(
                "membership of {} in {org} is {}, not active",
                membership.user.login, membership.state
            )));
        }

        let first = self
            .base
            .join("user/teams?per_page=100")
            .map_err(|_| bad_org())?;
        let teams: Vec<Team> = http::all_pages(
            "GitHub",
            "teams",
            &self.base,
            first,
            |url| async move {
                let response = self.get(url, token).await?;
                if response.status().is_success() {
                    Ok(response)
                } else {
                    Err(http::refusal("GitHub", response, || {
                        "the token cannot list the user's teams (needs read:org)".into()
                    })
                    .await)
                }
            },
            http::no_fallback,
        )
        .await?;
        let groups = teams
            .into_iter()
            .filter(|t| {
                t.organization
                    .as_ref()
                    .is_some_and(|o| o.login.eq_ignore_ascii_case(org))
            })
            .map(|t| if self.use_team_slug { t.slug } else { t.name })
            .collect();
        Ok(Identity {
            username: membership.user.login,
            uid: membership.user.id.to_string(),
            groups,
            extra: Default::default(),
        })
    }
}

impl Provider for GithubProvider {
    fn name(&self) -> &'static str {
        super::NAME
    }

    fn may_be_mine(&self, token: &BearerToken) -> bool {
        crate::token_kind::may_be_opaque(token.expose())
    }

    fn client_name(&self) -> Option<&'static str> {
        Some("the GitHub organisation")
    }

    fn check<'a>(
        &'a self,
        org: &'a str,
        token: &'a BearerToken,
    ) -> BoxFuture<'a, Result<Identity, CheckError>> {
        Box::pin(self.check_token(org, token))
    }

    fn allows_system_groups(&self) -> bool {
        self.allow_system_groups
    }
}
