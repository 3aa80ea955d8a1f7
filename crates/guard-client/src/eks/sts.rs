//! AWS STS on the user's side: the endpoint a token is presigned for, and
//! SigV4 signing (aws-sigv4).

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_types::service_config::ServiceConfigKey;
use reqwest::Url;
use secrecy::ExposeSecret as _;

use super::AwsCredentials;
use crate::ClientError;

/// Where an STS endpoint URL may be configured, for error messages.
const ENDPOINT_SOURCES: &str =
    "STS endpoint_url (AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL or the profile's endpoint_url)";

/// The STS endpoint URL the AWS configuration names, with the AWS CLI's
/// precedence: `AWS_ENDPOINT_URL_STS`, then `AWS_ENDPOINT_URL`, then the
/// `sts` `endpoint_url` of the profile's `services` section, then the
/// profile's `endpoint_url`; none when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`
/// or the profile's `ignore_configured_endpoint_urls` is true. This is the
/// lookup the SDK's own STS client makes, so the token goes where the
/// credential chain's STS calls go.
pub fn configured_endpoint(config: &SdkConfig) -> Option<String> {
    let key = ServiceConfigKey::builder()
        .service_id("STS")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    config
        .service_config()
        .and_then(|c| c.load_config(key))
        .or_else(|| config.endpoint_url().map(str::to_owned))
}

/// The STS endpoint a token is presigned for: `configured` (see
/// [`configured_endpoint`]), else the regional endpoint, else the global one.
pub fn endpoint(region: Option<&str>, configured: Option<&str>) -> Result<Url, ClientError> {
    if let Some(u) = configured.filter(|u| !u.is_empty()) {
        return Ok(guard_providers::http::base_url(u, ENDPOINT_SOURCES)?);
    }
    let host = match region {
        None | Some("") => "sts.amazonaws.com".to_owned(),
        Some(r) if r.starts_with("cn-") => format!("sts.{r}.amazonaws.com.cn"),
        Some(r) => format!("sts.{r}.amazonaws.com"),
    };
    Ok(guard_providers::http::base_url(
        &format!("https://{host}/"),
        "--region",
    )?)
}

/// A request to sign.
pub(crate) struct Unsigned<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    /// `Some(lifetime)`: presign (signature in the query) instead of
    /// signing the headers.
    pub presign_for: Option<Duration>,
}

/// Signs `request` for STS in `region` (us-east-1 by default) at `now`;
/// returns the signed request's head.
pub(crate) fn sign(
    credentials: &AwsCredentials,
    region: Option<&str>,
    now: SystemTime,
    request: &Unsigned<'_>,
) -> Result<http::Request<()>, ClientError> {
    use aws_sigv4::http_request::{
        SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
    };
    let signing = |e: Box<dyn std::error::Error + Send + Sync>| ClientError::Signing(e);
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        credentials.secret_access_key.expose_secret(),
        credentials
            .session_token
            .as_ref()
            .map(|t| t.expose_secret().to_owned()),
        None,
        "guard",
    )
    .into();
    let mut settings = SigningSettings::default();
    if let Some(lifetime) = request.presign_for {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(lifetime);
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region.filter(|r| !r.is_empty()).unwrap_or("us-east-1"))
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| signing(Box::new(e)))?
        .into();
    let signable = SignableRequest::new(
        request.method,
        request.url,
        request.headers.iter().copied(),
        SignableBody::Bytes(request.body),
    )
    .map_err(|e| signing(Box::new(e)))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| signing(e.into()))?
        .into_parts();
    let mut builder = http::Request::builder()
        .method(request.method)
        .uri(request.url);
    for (name, value) in request.headers {
        builder = builder.header(*name, *value);
    }
    let mut signed = builder.body(()).map_err(|e| signing(Box::new(e)))?;
    instructions.apply_to_request_http1x(&mut signed);
    Ok(signed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_region_and_the_override() {
        assert_eq!(
            endpoint(None, None).unwrap().as_str(),
            "https://sts.amazonaws.com/"
        );
        assert_eq!(
            endpoint(Some("cn-north-1"), None).unwrap().as_str(),
            "https://sts.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(
            endpoint(Some("eu-west-1"), Some("http://127.0.0.1:5000"))
                .unwrap()
                .as_str(),
            "http://127.0.0.1:5000/"
        );
    }
}
