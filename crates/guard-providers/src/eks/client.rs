//! Minting tokens on the user's side (moves to guard-client).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use reqwest::Url;
use serde::Deserialize;

use super::token::{CLUSTER_ID_HEADER, TOKEN_PREFIX};
use crate::http;

/// AWS credentials for minting a token.
#[derive(Clone)]
pub struct AwsCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The STS endpoint a token is presigned for: `AWS_ENDPOINT_URL_STS` (as
/// the aws CLI honours it), else the regional endpoint, else the global one.
pub fn sts_endpoint(
    region: Option<&str>,
    override_url: Option<&str>,
) -> Result<Url, crate::ProviderError> {
    if let Some(u) = override_url.filter(|u| !u.is_empty()) {
        return http::base_url(u, "AWS_ENDPOINT_URL_STS");
    }
    let host = match region {
        None | Some("") => "sts.amazonaws.com".to_owned(),
        Some(r) if r.starts_with("cn-") => format!("sts.{r}.amazonaws.com.cn"),
        Some(r) => format!("sts.{r}.amazonaws.com"),
    };
    let raw = format!("https://{host}/");
    Url::parse(&raw).map_err(|source| crate::ProviderError::BadUrl {
        flag: "--region",
        value: raw,
        source,
    })
}

/// Mints a token for `cluster_id`, presigned for 60 s (as the aws CLI does).
pub fn mint_token(
    credentials: &AwsCredentials,
    cluster_id: &str,
    region: Option<&str>,
    endpoint: &Url,
    now: SystemTime,
) -> Result<String, String> {
    use aws_sigv4::http_request::{
        SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
    };
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "guard",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region.filter(|r| !r.is_empty()).unwrap_or("us-east-1"))
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let url = format!(
        "{}?Action=GetCallerIdentity&Version=2011-06-15",
        endpoint.as_str()
    );
    let headers = [(CLUSTER_ID_HEADER, cluster_id)];
    let signable = SignableRequest::new("GET", &url, headers.into_iter(), SignableBody::Bytes(&[]))
        .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let mut request = ::http::Request::builder()
        .uri(&url)
        .header(CLUSTER_ID_HEADER, cluster_id)
        .body(())
        .map_err(|e| e.to_string())?;
    instructions.apply_to_request_http1x(&mut request);
    let presigned = request.uri().to_string();
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(presigned)
    ))
}

/// Credentials from the environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), else from the shared
/// credentials file (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`)
/// for `AWS_PROFILE` (default `default`).
pub fn credentials_from_environment(home: Option<&Path>) -> Result<AwsCredentials, String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(AwsCredentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: env("AWS_SESSION_TOKEN"),
        });
    }
    let file = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".aws/credentials")))
        .ok_or("no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or configure ~/.aws/credentials")?;
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let text = std::fs::read_to_string(&file).map_err(|e| {
        format!(
            "no AWS credentials in the environment, and {}: {e}",
            file.display()
        )
    })?;
    let mut section = String::new();
    let mut values = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().trim_start_matches("profile ").to_owned();
        } else if section == profile
            && let Some((k, v)) = line.split_once('=')
        {
            values.insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    match (
        values.get("aws_access_key_id"),
        values.get("aws_secret_access_key"),
    ) {
        (Some(id), Some(secret)) => Ok(AwsCredentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            session_token: values.get("aws_session_token").cloned(),
        }),
        _ => Err(format!(
            "profile {profile} in {} has no aws_access_key_id/aws_secret_access_key",
            file.display()
        )),
    }
}

/// Assumes `role_arn` with `credentials` (STS `AssumeRole`, SigV4-signed),
/// returning the temporary credentials.
pub async fn assume_role(
    client: &reqwest::Client,
    credentials: &AwsCredentials,
    role_arn: &str,
    session_name: &str,
    region: Option<&str>,
    endpoint: &Url,
) -> Result<AwsCredentials, String> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let body = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName={}",
        urlencode(role_arn),
        urlencode(session_name)
    );
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "guard",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region.filter(|r| !r.is_empty()).unwrap_or("us-east-1"))
        .name("sts")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let headers = [
        ("content-type", content_type),
        ("accept", "application/json"),
    ];
    let signable = SignableRequest::new(
        "POST",
        endpoint.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let mut request = ::http::Request::builder()
        .method("POST")
        .uri(endpoint.as_str())
        .header("content-type", content_type)
        .header("accept", "application/json")
        .body(())
        .map_err(|e| e.to_string())?;
    instructions.apply_to_request_http1x(&mut request);
    let mut call = client.post(endpoint.clone()).body(body);
    for (name, value) in request.headers() {
        call = call.header(name.as_str(), value.as_bytes());
    }
    let response = call
        .send()
        .await
        .map_err(|e| format!("cannot reach AWS STS: {e}"))?;
    if !response.status().is_success() {
        return Err(format!(
            "AWS STS refused AssumeRole for {role_arn} ({})",
            response.status()
        ));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Envelope {
        assume_role_response: Inner,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Inner {
        assume_role_result: Result_,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Result_ {
        credentials: Creds,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Creds {
        access_key_id: String,
        secret_access_key: String,
        session_token: String,
    }
    let body: Envelope = response
        .json()
        .await
        .map_err(|e| format!("unexpected AssumeRole answer: {e}"))?;
    let c = body.assume_role_response.assume_role_result.credentials;
    Ok(AwsCredentials {
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        session_token: Some(c.session_token),
    })
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eks::token::validate_token;

    #[test]
    fn minted_tokens_pass_our_own_validation() {
        let creds = AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: Some("session".into()),
        };
        let now = SystemTime::now();
        let endpoint = sts_endpoint(Some("us-west-2"), None).unwrap();
        let token = mint_token(&creds, "demo", Some("us-west-2"), &endpoint, now).unwrap();
        let t = validate_token(&token, None, now).unwrap();
        assert_eq!(t.url.host_str(), Some("sts.us-west-2.amazonaws.com"));
        let q: BTreeMap<_, _> = t.url.query_pairs().into_owned().collect();
        assert_eq!(q["X-Amz-Expires"], "60");
        assert_eq!(q["X-Amz-SignedHeaders"], "host;x-k8s-aws-id");
        assert!(q.contains_key("X-Amz-Security-Token"));
    }
}
