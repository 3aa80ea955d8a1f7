//! The token: `k8s-aws-v1.` + base64url of a presigned STS
//! `GetCallerIdentity` URL whose signed headers include `x-k8s-aws-id`.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use guard_providers::eks::{CLUSTER_ID_HEADER, TOKEN_PREFIX};
use reqwest::Url;

use super::AwsCredentials;
use super::sts::{Unsigned, sign};
use crate::ClientError;

/// How long the presigned URL is valid for STS (as the aws CLI signs it).
const PRESIGN_FOR: Duration = Duration::from_secs(60);

/// A token for `cluster_id`, signed at `now` for `endpoint` in `region`.
pub fn token(
    credentials: &AwsCredentials,
    cluster_id: &str,
    region: Option<&str>,
    endpoint: &Url,
    now: SystemTime,
) -> Result<String, ClientError> {
    let url = format!(
        "{}?Action=GetCallerIdentity&Version=2011-06-15",
        endpoint.as_str()
    );
    let signed = sign(
        credentials,
        region,
        now,
        &Unsigned {
            method: "GET",
            url: &url,
            headers: &[(CLUSTER_ID_HEADER, cluster_id)],
            body: &[],
            presign_for: Some(PRESIGN_FOR),
        },
    )?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signed.uri().to_string())
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn tokens_pass_the_servers_own_validation() {
        let creds = AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".to_owned().into(),
            session_token: Some("session".to_owned().into()),
        };
        let now = SystemTime::now();
        let endpoint = super::super::sts::endpoint(Some("us-west-2"), None).unwrap();
        let token = token(&creds, "demo", Some("us-west-2"), &endpoint, now).unwrap();
        let t = guard_providers::eks::validate_token(&token, None, now).unwrap();
        assert_eq!(t.url.host_str(), Some("sts.us-west-2.amazonaws.com"));
        let q: BTreeMap<_, _> = t.url.query_pairs().into_owned().collect();
        assert_eq!(q["X-Amz-Expires"], "60");
        assert_eq!(q["X-Amz-SignedHeaders"], "host;x-k8s-aws-id");
        assert!(q.contains_key("X-Amz-Security-Token"));
    }
}
