//! The server side of `gitlab`: the bearer token is a GitLab personal,
//! project or group access token, or an OAuth token, sent as
//! `Authorization: Bearer` (GitLab accepts every kind there; Go Guard's
//! `PRIVATE-TOKEN` header accepts no OAuth token).
//!
//! 1. `GET /user`: username = `username`, uid = `id`.
//! 2. `GET /groups?min_access_level=10&per_page=100`, every page (`Link` or
//!    `x-next-page`): groups = `full_path`, or the numeric id with
//!    `--gitlab.use-group-id`. `min_access_level` limits the list to groups
//!    the user is a member of, even for an administrator's token (Go Guard
//!    listed every group an administrator can see).
//! 3. The client certificate's `CN` names the group whose members may log
//!    in (its full path, e.g. `acme` or `acme/platform`, or its id): a user
//!    who is not a member of it is denied. `--gitlab.allow-any-user` lets
//!    every user of the GitLab instance in and ignores the `CN` (Go Guard's
//!    behaviour, which with gitlab.com means anyone with an account).

use guard_api::BearerToken;
use guard_auth::{BoxFuture, CheckError, Identity, Provider};
use reqwest::Url;
use serde::Deserialize;

use super::{GitlabOptions, api_root};
use crate::{ProviderError, http};

/// The GitLab provider.
pub struct GitlabProvider {
    client: reqwest::Client,
    base: Url,
    use_group_id: bool,
    allow_system_groups: bool,
    allow_any_user: bool,
}

#[derive(Deserialize)]
struct User {
    id: u64,
    username: String,
}

#[derive(Deserialize)]
struct Group {
    id: u64,
    full_path: String,
}

impl GitlabProvider {
    /// Builds the provider on the shared client.
    pub fn new(client: reqwest::Client, options: &GitlabOptions) -> Result<Self, ProviderError> {
        Ok(GitlabProvider {
            allow_system_groups: options.allow_system_groups,
            client,
            base: api_root(options.base_url.as_deref())?,
            use_group_id: options.use_group_id,
            allow_any_user: options.allow_any_user,
        })
    }

    async fn get(&self, url: Url, token: &BearerToken) -> Result<reqwest::Response, CheckError> {
        let response = http::send(self.client.get(url).bearer_auth(token.expose()))
            .await
            .map_err(|e| http::transport("GitLab", e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            let status = response.status();
            Err(http::refusal("GitLab", response, || {
                format!("GitLab refused the token ({status}): it needs the read_api scope")
            })
            .await)
        }
    }

    async fn check_token(&self, group: &str, token: &BearerToken) -> Result<Identity, CheckError> {
        let internal = |_| CheckError::Unavailable("invalid GitLab URL".into());
        let response = self
            .get(self.base.join("user").map_err(internal)?, token)
            .await?;
        let user: User = http::json("GitLab", response).await?;

        let first = self
            .base
            .join("groups?min_access_level=10&per_page=100")
            .map_err(internal)?;
        let listed: Vec<Group> = http::all_pages(
            "GitLab",
            "groups",
            &self.base,
            first,
            |url| self.get(url, token),
            x_next_page,
        )
        .await?;
        let member = self.allow_any_user
            || listed
                .iter()
                .any(|g| g.full_path.eq_ignore_ascii_case(group) || g.id.to_string() == group);
        let groups: Vec<String> = listed
            .into_iter()
            .map(|g| {
                if self.use_group_id {
                    g.id.to_string()
                } else {
                    g.full_path
                }
            })
            .collect();
        if !member {
            return Err(CheckError::Denied(format!(
                "{} is not a member of the GitLab group {group:?} (the client certificate's CN)",
                user.username
            )));
        }
        Ok(Identity {
            username: user.username,
            uid: user.id.to_string(),
            groups,
            extra: Default::default(),
        })
    }
}

/// GitLab's other way to the next page: `x-next-page: N` (when `Link` is
/// left out, as behind some proxies): the same URL with `page=N`.
fn x_next_page(url: &Url, headers: &reqwest::header::HeaderMap) -> Option<Url> {
    let page = headers.get("x-next-page")?.to_str().ok()?.trim().to_owned();
    page.parse::<u32>().ok()?;
    let mut next = url.clone();
    let query: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "page")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    next.query_pairs_mut()
        .clear()
        .extend_pairs(query)
        .append_pair("page", &page);
    Some(next)
}

impl Provider for GitlabProvider {
    fn name(&self) -> &'static str {
        super::NAME
    }

    fn may_be_mine(&self, token: &BearerToken) -> bool {
        crate::token_kind::may_be_opaque(token.expose())
    }

    fn client_name(&self) -> Option<&'static str> {
        (!self.allow_any_user).then_some("the GitLab group whose members may log in")
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
