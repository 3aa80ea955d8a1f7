//! The server side of `github`: the client certificate's `CN` is the
//! GitHub organisation; the bearer token is the user's personal access
//! token (or any token with `read:org`).
//!
//! 1. `GET /user/memberships/orgs/{org}`: the user must be an **active**
//!    member (a pending invitation is not membership). username = `login`,
//!    uid = `id`.
//! 2. `GET /user/teams?per_page=100`, following `Link: rel="next"` on the
//!    API's origin ([`http::next_link`]): groups = the names (or slugs) of
//!    the teams that belong to the organisation.
//!
//! The calls go through one [`Octocrab`] built at start-up on guard's shared
//! HTTP client (its pool, timeouts, proxy settings and rustls); each review
//! takes a handle with the user's token ([`Octocrab::user_access_token`]),
//! which shares that client. Answers are parsed into octocrab's models
//! ([`OrgMembership`], a [`Page`] of [`FullTeam`]; the `Link` header is
//! read by guard and removed first, as octocrab's own reader prints to
//! stderr). Requests are sent with
//! octocrab's raw `_get`, so that a refusal keeps its headers: octocrab's
//! own error type drops them, and the rate-limit headers decide whether a
//! 403 is a denial or an outage ([`http::classify`]).

use std::sync::Arc;

use bytes::Bytes;
use guard_api::BearerToken;
use guard_auth::{BoxFuture, CheckError, Identity, Provider};
use http_body_util::{BodyExt as _, Full, Limited};
use octocrab::models::orgs::{OrgMembership, OrgMembershipState};
use octocrab::models::teams::FullTeam;
use octocrab::service::middleware::base_uri::BaseUriLayer;
use octocrab::service::middleware::extra_headers::ExtraHeadersLayer;
use octocrab::service::middleware::reqwest_connector::ReqwestConnector;
use octocrab::{AuthState, FromResponse as _, Octocrab, OctocrabBuilder, Page};
use reqwest::Url;
use reqwest::header::{ACCEPT, HeaderValue, LINK, USER_AGENT};

use super::{GithubOptions, api_root};
use crate::{ProviderError, http};

const GITHUB: &str = "GitHub";

/// The GitHub provider.
pub struct GithubProvider {
    github: Octocrab,
    base: Url,
    use_team_slug: bool,
    allow_system_groups: bool,
}

/// A successful answer, read with the size limit, as octocrab's parsers
/// take it.
type Answer = ::http::Response<http_body_util::combinators::BoxBody<Bytes, octocrab::Error>>;

impl GithubProvider {
    /// Builds the provider on the shared client. Runs inside the async
    /// runtime (octocrab's request queue is a task).
    pub fn new(client: reqwest::Client, options: &GithubOptions) -> Result<Self, ProviderError> {
        let base = api_root(options.base_url.as_deref())?;
        let uri: ::http::Uri = base.as_str().parse().map_err(|_| ProviderError::NotHttp {
            flag: super::options::FLAG_BASE_URL,
            value: base.to_string(),
        })?;
        // Octocrab's default builder would add its own user agent, retries on
        // rate limits (sleeping while the API server waits), redirects and
        // request logging with URLs; this stack has none of them: the shared
        // client (timeouts, no redirects), octocrab's base-URI rule (the
        // Enterprise path prefix is kept), and GitHub's media type.
        let headers = vec![
            (
                USER_AGENT,
                HeaderValue::from_static(concat!("guard/", env!("CARGO_PKG_VERSION"))),
            ),
            (
                ACCEPT,
                HeaderValue::from_static("application/vnd.github+json"),
            ),
        ];
        let github = OctocrabBuilder::new_empty()
            .with_service(ReqwestConnector::new(client))
            .with_layer(&ExtraHeadersLayer::new(Arc::new(headers)))
            .with_layer(&BaseUriLayer::new(uri))
            .with_auth(AuthState::None)
            .build()
            .unwrap_or_else(|never| match never {});
        Ok(GithubProvider {
            allow_system_groups: options.allow_system_groups,
            github,
            base,
            use_team_slug: options.use_team_slug,
        })
    }

    /// GETs `path_and_query` (below the API root) as the token's owner. A
    /// successful answer comes back with its body read (at most
    /// [`http::MAX_BODY`]); a refusal is classified with its headers.
    async fn get(
        &self,
        github: &Octocrab,
        path_and_query: &str,
        not_found: impl FnOnce() -> String,
    ) -> Result<Answer, CheckError> {
        let response = github._get(path_and_query).await.map_err(outage)?;
        let (parts, body) = response.into_parts();
        let limit = if parts.status.is_success() {
            http::MAX_BODY
        } else {
            http::MAX_ERROR_BODY
        };
        let body = Limited::new(body, limit).collect().await;
        if !parts.status.is_success() {
            // An unreadable or oversized body is simply not GitHub's own error.
            let body = body.map(|b| b.to_bytes()).unwrap_or_default();
            return Err(http::classify(
                GITHUB,
                parts.status,
                &parts.headers,
                &body,
                not_found,
            ));
        }
        let body = body.map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                CheckError::Unavailable(format!(
                    "{GITHUB} sent an answer larger than {} bytes",
                    http::MAX_BODY
                ))
            } else {
                outage_boxed(e.as_ref())
            }
        })?;
        let body = Full::new(body.to_bytes())
            .map_err(|never| match never {})
            .boxed();
        Ok(::http::Response::from_parts(parts, body))
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
        // The same client and pool, with this user's token.
        let github = self
            .github
            .user_access_token(token.expose().to_owned())
            .map_err(outage)?;

        let answer = self
            .get(&github, &format!("/user/memberships/orgs/{org}"), || {
                format!(
                    "not a member of the GitHub organisation {org} (or the token lacks read:org)"
                )
            })
            .await?;
        let membership = OrgMembership::from_response(answer)
            .await
            .map_err(unexpected)?;
        if membership.state != OrgMembershipState::Active {
            return Err(CheckError::Denied(format!(
                "membership of {} in {org} is {}, not active",
                membership.user.login,
                state_name(membership.state)
            )));
        }

        let mut teams = Vec::new();
        let mut next = Some("/user/teams?per_page=100".to_owned());
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            if pages > http::MAX_PAGES {
                return Err(CheckError::Unavailable(format!(
                    "{GITHUB} returned more than {} pages of teams",
                    http::MAX_PAGES
                )));
            }
            let mut answer = self
                .get(&github, &path, || {
                    "the token cannot list the user's teams (needs read:org)".into()
                })
                .await?;
            // `Link` is read here, and octocrab's parser never sees it: that
            // one prints to stderr for every relation it does not know.
            next = http::next_link(answer.headers(), &self.base)
                .map(|url| url[url::Position::BeforePath..].to_owned());
            answer.headers_mut().remove(LINK);
            let page = Page::<FullTeam>::from_response(answer)
                .await
                .map_err(unexpected)?;
            teams.extend(page.items);
        }
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

/// A membership state in GitHub's words.
fn state_name(state: OrgMembershipState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{state:?}").to_ascii_lowercase())
}

/// An answer that is not the shape GitHub documents: an outage.
fn unexpected(e: octocrab::Error) -> CheckError {
    tracing::warn!("{GITHUB}: unexpected answer: {e}");
    CheckError::Unavailable(format!("{GITHUB} sent an unexpected answer"))
}

/// A request that got no answer: an outage, in the words of the transport
/// error underneath octocrab's (timeout, connection), never with the URL.
fn outage(e: octocrab::Error) -> CheckError {
    outage_boxed(&e)
}

fn outage_boxed(e: &(dyn std::error::Error + 'static)) -> CheckError {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if let Some(e) = c.downcast_ref::<reqwest::Error>() {
            return http::transport_ref(GITHUB, e);
        }
        cause = c.source();
    }
    // Nothing of the request is in octocrab's own errors (the token goes in
    // a sensitive header value, whose error names no value).
    tracing::warn!("{GITHUB}: request failed: {e}");
    CheckError::Unavailable(format!("{GITHUB} request failed"))
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
