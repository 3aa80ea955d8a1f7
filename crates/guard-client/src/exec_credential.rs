//! The ExecCredential a kubectl credential plugin prints
//! (`client.authentication.k8s.io`).

use std::time::SystemTime;

use crate::ClientError;

/// `client.authentication.k8s.io/v1`, what `guard get token --exec-credential` writes.
pub const V1: &str = "client.authentication.k8s.io/v1";
/// `client.authentication.k8s.io/v1beta1`, what Go Guard's `login -p eks` wrote.
pub const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// The ExecCredential JSON (one line) of `api_version` around `token`,
/// with its expiry when known (kubectl reuses the token until then).
pub fn exec_credential(
    token: &str,
    expires: Option<SystemTime>,
    api_version: &str,
) -> Result<String, ClientError> {
    let mut status = serde_json::json!({ "token": token });
    if let Some(expires) = expires {
        let output = |e: Box<dyn std::error::Error + Send + Sync>| ClientError::Output(e);
        let stamp = time::OffsetDateTime::from(expires)
            .replace_nanosecond(0)
            .map_err(|e| output(Box::new(e)))?
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| output(Box::new(e)))?;
        status["expirationTimestamp"] = serde_json::Value::String(stamp);
    }
    let credential = serde_json::json!({
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": {"interactive": false},
        "status": status,
    });
    Ok(credential.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn carries_the_token_and_an_rfc3339_expiry() {
        let expires = UNIX_EPOCH + Duration::from_millis(1_800_000_000_500);
        let json: serde_json::Value =
            serde_json::from_str(&exec_credential("t0k", Some(expires), V1).unwrap()).unwrap();
        assert_eq!(json["apiVersion"], V1);
        assert_eq!(json["status"]["token"], "t0k");
        assert_eq!(
            json["status"]["expirationTimestamp"],
            "2027-01-15T08:00:00Z"
        );
        let json: serde_json::Value =
            serde_json::from_str(&exec_credential("t", None, V1BETA1).unwrap()).unwrap();
        assert!(json["status"].get("expirationTimestamp").is_none());
    }
}
