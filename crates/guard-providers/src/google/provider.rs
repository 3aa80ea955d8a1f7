//! The server side of `google`: the client certificate's `CN` is the
//! Google Workspace domain; the bearer token is a Google ID token.
//!
//! * Verified against `https://accounts.google.com` (discovery, JWKS),
//!   audience `--google.client-id`; `hd` must equal the domain and
//!   `email_verified` must be true. username = `email`, uid = `sub` (Go Guard
//!   read a `user_id` claim ID tokens do not have, leaving uid empty).
//! * Groups, when `--google.sa-json-file` and `--google.admin-email` are
//!   set: the Admin SDK Directory API `groups.list?userKey=EMAIL&domain=DOMAIN`,
//!   every page, as group emails. The service account's access token (JWT
//!   bearer grant with domain-wide delegation to the admin) is cached until
//!   shortly before it expires.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use guard_api::BearerToken;
use guard_auth::{BoxFuture, CheckError, Identity, Provider};
use reqwest::Url;
use serde::Deserialize;

use super::options::{FLAG_SA_JSON_FILE, GoogleOptions};
use crate::openid::verifier::{Verifier, VerifierConfig, string_claim};
use crate::{ProviderError, http};

/// The issuer of Google ID tokens (older ones say `accounts.google.com`).
pub const ISSUER: &str = "https://accounts.google.com";
const DIRECTORY_SCOPE: &str = "https://www.googleapis.com/auth/admin.directory.group.readonly";

#[derive(Deserialize)]
struct ServiceAccount {
    client_email: String,
    private_key: String,
    #[serde(default = "default_token_uri")]
    token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

struct Directory {
    account: ServiceAccount,
    key: jsonwebtoken::EncodingKey,
    admin: String,
    root: Url,
    token: http::CachedToken,
}

/// The Google provider.
pub struct GoogleProvider {
    client: reqwest::Client,
    verifier: Verifier,
    directory: Option<Directory>,
    allow_system_groups: bool,
}

impl GoogleProvider {
    /// Reads the service account (if any) and builds the provider.
    /// `leeway` is the clock skew tolerated on `exp`, `nbf`, `iat`.
    pub fn new(
        client: reqwest::Client,
        o: &GoogleOptions,
        leeway: Duration,
    ) -> Result<Self, ProviderError> {
        o.validate()?;
        let directory = match (&o.sa_json_file, &o.admin_email) {
            (Some(file), Some(admin)) => {
                let data = ProviderError::read(FLAG_SA_JSON_FILE, file)?;
                let account: ServiceAccount = serde_json::from_slice(&data).map_err(|e| {
                    ProviderError::bad_file(FLAG_SA_JSON_FILE, file, "not a service account key", e)
                })?;
                let key = jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.as_bytes())
                    .map_err(|e| {
                    ProviderError::bad_file(FLAG_SA_JSON_FILE, file, "bad private_key", e)
                })?;
                let root = http::base_url(
                    o.directory_url
                        .as_deref()
                        .unwrap_or("https://admin.googleapis.com/"),
                    "--google.directory-url",
                )?;
                Some(Directory {
                    account,
                    key,
                    admin: admin.clone(),
                    root,
                    token: http::CachedToken::default(),
                })
            }
            _ => None,
        };
        let discovery = o.discovery_url.as_deref().unwrap_or(ISSUER);
        let verifier = Verifier::new(
            client.clone(),
            VerifierConfig {
                name: "Google",
                discovery_url: http::https_url(discovery, "--google.discovery-url")?,
                issuers: vec![ISSUER.into(), "accounts.google.com".into()],
                audience: Some(
                    o.client_id()
                        .ok_or_else(|| ProviderError::Invalid("set --google.client-id".into()))?
                        .to_owned(),
                ),
                leeway,
            },
        );
        Ok(GoogleProvider {
            allow_system_groups: o.allow_system_groups,
            client,
            verifier,
            directory,
        })
    }

    async fn check_token(&self, domain: &str, token: &BearerToken) -> Result<Identity, CheckError> {
        let claims = self.verifier.verify(token.expose()).await?;
        let hd = string_claim(&claims, "hd").unwrap_or_default();
        if !hd.eq_ignore_ascii_case(domain) {
            return Err(CheckError::Denied(format!(
                "not a member of the Google Workspace domain {domain}"
            )));
        }
        if claims
            .get("email_verified")
            .and_then(serde_json::Value::as_bool)
            != Some(true)
        {
            return Err(CheckError::Denied("email_verified is not true".into()));
        }
        let email = string_claim(&claims, "email")
            .ok_or_else(|| CheckError::Denied("the ID token has no email".into()))?
            .to_owned();
        let groups = match &self.directory {
            Some(d) => self.groups(d, &email, domain).await?,
            None => Vec::new(),
        };
        Ok(Identity {
            uid: string_claim(&claims, "sub").unwrap_or_default().to_owned(),
            username: email,
            groups,
            extra: Default::default(),
        })
    }

    async fn access_token(&self, d: &Directory) -> Result<String, CheckError> {
        d.token
            .get_or_fetch(|| async {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |t| t.as_secs());
                let claims = serde_json::json!({
                    "iss": d.account.client_email, "sub": d.admin, "scope": DIRECTORY_SCOPE,
                    "aud": d.account.token_uri, "iat": now, "exp": now + 3600,
                });
                let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                let assertion = jsonwebtoken::encode(&header, &claims, &d.key).map_err(|e| {
                    CheckError::Unavailable(format!(
                        "cannot sign the service account assertion: {e}"
                    ))
                })?;
                let form = [
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("assertion", assertion.as_str()),
                ];
                let hint = "check the service account's domain-wide delegation";
                http::oauth_token(
                    &self.client,
                    &d.account.token_uri,
                    &form,
                    "Google OAuth",
                    hint,
                )
                .await
            })
            .await
    }

    async fn groups(
        &self,
        d: &Directory,
        email: &str,
        domain: &str,
    ) -> Result<Vec<String>, CheckError> {
        let access = self.access_token(d).await?;
        let mut groups = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..http::MAX_PAGES {
            let mut url = d
                .root
                .join("admin/directory/v1/groups")
                .map_err(|_| CheckError::Unavailable("invalid directory URL".into()))?;
            url.query_pairs_mut()
                .append_pair("userKey", email)
                .append_pair("domain", domain);
            if let Some(t) = &page_token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let response = http::send(self.client.get(url).bearer_auth(&access))
                .await
                .map_err(|e| http::transport("Google Directory", e))?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED {
                // guard's own token was refused: the next review gets a new one.
                d.token.forget(&access).await;
            }
            if !response.status().is_success() {
                // The user's token was fine: a failing directory is an outage.
                return Err(CheckError::Unavailable(format!(
                    "Google Directory API answered {}",
                    response.status()
                )));
            }
            let page: GroupsPage = http::json("Google Directory", response).await?;
            groups.extend(page.groups.into_iter().map(|g| g.email));
            match page.next_page_token {
                Some(t) if !t.is_empty() => page_token = Some(t),
                _ => return Ok(groups),
            }
        }
        Err(CheckError::Unavailable(
            "Google Directory API returned too many pages".into(),
        ))
    }
}

#[derive(Deserialize)]
struct GroupsPage {
    #[serde(default)]
    groups: Vec<Group>,
    #[serde(rename = "nextPageToken")]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct Group {
    email: String,
}

impl Provider for GoogleProvider {
    fn name(&self) -> &'static str {
        super::NAME
    }

    fn may_be_mine(&self, token: &BearerToken) -> bool {
        self.verifier.may_have_issued(token.expose())
    }

    fn client_name(&self) -> Option<&'static str> {
        Some("the Google Workspace domain")
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
