//! The ExecCredential a kubectl credential plugin prints
//! (`client.authentication.k8s.io`).

use std::time::SystemTime;

use crate::ClientError;

/// `client.authentication.k8s.io/v1`, what `guard get token --exec-credential` writes.
pub const V1: &str = "client.authentication.k8s.io/v1";
/// `client.authentication.k8s.io/v1beta1`, what Go Guard's `login -p eks` wrote.
pub const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// The environment variable through which kubectl describes the exec
/// call: an ExecCredential whose `apiVersion` is the version it wants back.
pub const EXEC_INFO_ENV: &str = "KUBERNETES_EXEC_INFO";

/// The ExecCredential version to answer with, from the value of
/// `KUBERNETES_EXEC_INFO`: the version kubectl asks for (v1 or v1beta1), or
/// `default` when kubectl says nothing (an old kubectl, or a manual run).
pub fn requested_version(
    exec_info: Option<&str>,
    default: &'static str,
) -> Result<&'static str, ClientError> {
    let Some(info) = exec_info.map(str::trim).filter(|i| !i.is_empty()) else {
        return Ok(default);
    };
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ExecInfo {
        #[serde(default)]
        api_version: String,
    }
    let info: ExecInfo = serde_json::from_str(info).map_err(|e| {
        ClientError::Invalid(format!(
            "{EXEC_INFO_ENV} is not an ExecCredential (JSON error at line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    match info.api_version.as_str() {
        "" => Ok(default),
        V1 => Ok(V1),
        V1BETA1 => Ok(V1BETA1),
        other => Err(ClientError::Invalid(format!(
            "kubectl asks for an ExecCredential {other:?}: guard answers {V1} or {V1BETA1}; set the exec apiVersion in the kubeconfig to one of them"
        ))),
    }
}

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
    fn answers_in_the_version_kubectl_asks_for() {
        let info = |v: &str| {
            format!(
                r#"{{"kind":"ExecCredential","apiVersion":"{v}","spec":{{"interactive":false}}}}"#
            )
        };
        assert_eq!(requested_version(None, V1).unwrap(), V1);
        assert_eq!(requested_version(None, V1BETA1).unwrap(), V1BETA1);
        assert_eq!(requested_version(Some(""), V1).unwrap(), V1);
        assert_eq!(requested_version(Some(&info(V1)), V1BETA1).unwrap(), V1);
        assert_eq!(
            requested_version(Some(&info(V1BETA1)), V1).unwrap(),
            V1BETA1
        );
        let e = requested_version(Some(&info("client.authentication.k8s.io/v1alpha1")), V1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("v1alpha1"), "{e}");
        let e = requested_version(Some("{not json"), V1)
            .unwrap_err()
            .to_string();
        assert!(e.contains(EXEC_INFO_ENV) && e.contains("line 1"), "{e}");
    }

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
