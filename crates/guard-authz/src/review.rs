//! The `SubjectAccessReview` on the wire, in both API versions the API
//! server speaks.
//!
//! The API server's `--authorization-webhook-version` (or
//! `subjectAccessReviewVersion` in an `AuthorizationConfiguration`) picks
//! `authorization.k8s.io/v1` or `v1beta1`; both carry the same spec except
//! that v1beta1 names the user's groups `group` where v1 says `groups`.
//! guard answers in the version it was asked in, echoes the `spec` exactly
//! as received, and fills `status`.

use k8s_openapi::api::authorization::v1::SubjectAccessReviewSpec;
pub use k8s_openapi::api::authorization::v1::SubjectAccessReviewStatus;
use serde_json::{Map, Value};

/// The `kind` of every SubjectAccessReview.
pub const KIND: &str = "SubjectAccessReview";

/// The API version of a SubjectAccessReview.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SarVersion {
    /// `authorization.k8s.io/v1`
    #[default]
    V1,
    /// `authorization.k8s.io/v1beta1` (`spec.group` instead of `spec.groups`)
    V1Beta1,
}

impl SarVersion {
    /// The full `apiVersion` string.
    pub fn as_str(self) -> &'static str {
        match self {
            SarVersion::V1 => "authorization.k8s.io/v1",
            SarVersion::V1Beta1 => "authorization.k8s.io/v1beta1",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization.k8s.io/v1" => Some(SarVersion::V1),
            "authorization.k8s.io/v1beta1" => Some(SarVersion::V1Beta1),
            _ => None,
        }
    }
}

/// Why a body is not a SubjectAccessReview guard can answer. The words
/// never repeat a value of the request (see
/// [`guard_api::describe_json_error`]).
#[derive(Debug, thiserror::Error)]
pub enum SarParseError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("request body is not a valid SubjectAccessReview: {0}")]
    Json(String),
    /// A JSON object of another kind.
    #[error("expected kind \"SubjectAccessReview\"")]
    WrongKind,
    /// An API version guard does not speak.
    #[error(
        "unsupported apiVersion: expected authorization.k8s.io/v1 or authorization.k8s.io/v1beta1"
    )]
    UnsupportedVersion,
    /// Neither `resourceAttributes` nor `nonResourceAttributes`.
    #[error("spec has neither resourceAttributes nor nonResourceAttributes")]
    NoAttributes,
}

fn json_error(e: serde_json::Error) -> SarParseError {
    SarParseError::Json(guard_api::describe_json_error(&e))
}

/// An incoming SubjectAccessReview.
#[derive(Debug, Clone)]
pub struct SarRequest {
    /// The version to answer in.
    pub version: SarVersion,
    /// The spec, read as v1 (v1beta1's `group` moved to `groups`).
    pub spec: SubjectAccessReviewSpec,
    /// The spec exactly as received, echoed in the answer.
    raw_spec: Value,
}

impl SarRequest {
    /// Parses a body sent by the API server. `apiVersion` and `kind` may be
    /// left out (then v1 is assumed), as Go Guard accepts them.
    pub fn parse(body: &[u8]) -> Result<Self, SarParseError> {
        let mut object: Map<String, Value> = serde_json::from_slice(body).map_err(json_error)?;
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or(KIND);
        if kind != KIND {
            return Err(SarParseError::WrongKind);
        }
        let version = match object.get("apiVersion").and_then(Value::as_str) {
            None | Some("") => SarVersion::V1,
            Some(v) => SarVersion::parse(v).ok_or(SarParseError::UnsupportedVersion)?,
        };
        let raw_spec = object
            .remove("spec")
            .unwrap_or_else(|| Value::Object(Map::new()));
        let mut as_v1 = raw_spec.clone();
        if version == SarVersion::V1Beta1
            && let Some(spec) = as_v1.as_object_mut()
        {
            spec.remove("groups");
            if let Some(groups) = spec.remove("group") {
                spec.insert("groups".into(), groups);
            }
        }
        let spec: SubjectAccessReviewSpec = serde_json::from_value(as_v1).map_err(json_error)?;
        if spec.resource_attributes.is_none() && spec.non_resource_attributes.is_none() {
            return Err(SarParseError::NoAttributes);
        }
        Ok(SarRequest {
            version,
            spec,
            raw_spec,
        })
    }

    /// The answer: this request's version and spec, with `status`.
    pub fn answer(&self, status: &SubjectAccessReviewStatus) -> Vec<u8> {
        encode(self.version, Some(&self.raw_spec), status)
    }
}

/// An answer to a request that could not be read: v1, no spec.
pub fn refusal(message: &str) -> Vec<u8> {
    let status = SubjectAccessReviewStatus {
        allowed: false,
        evaluation_error: Some(message.to_owned()),
        ..SubjectAccessReviewStatus::default()
    };
    encode(SarVersion::V1, None, &status)
}

fn encode(
    version: SarVersion,
    spec: Option<&Value>,
    status: &SubjectAccessReviewStatus,
) -> Vec<u8> {
    let mut object = Map::new();
    object.insert("kind".into(), KIND.into());
    object.insert("apiVersion".into(), version.as_str().into());
    object.insert(
        "metadata".into(),
        serde_json::json!({"creationTimestamp": null}),
    );
    object.insert(
        "spec".into(),
        spec.cloned().unwrap_or_else(|| Value::Object(Map::new())),
    );
    // Serialising a k8s-openapi status cannot fail.
    object.insert(
        "status".into(),
        serde_json::to_value(status).unwrap_or_default(),
    );
    serde_json::to_vec(&Value::Object(object)).unwrap_or_default()
}

/// The user's groups as the spec carries them (for either version, after
/// [`SarRequest::parse`]).
pub fn groups(spec: &SubjectAccessReviewSpec) -> &[String] {
    spec.groups.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an API server sends with --authorization-webhook-version=v1beta1.
    const V1BETA1: &str = r#"{"kind":"SubjectAccessReview","apiVersion":"authorization.k8s.io/v1beta1","metadata":{"creationTimestamp":null},"spec":{"resourceAttributes":{"namespace":"dev","verb":"get","version":"v1","resource":"pods","name":"web"},"user":"alice@contoso.com","group":["0b9d5f3c-1b8e-4a43-9c64-5a1e3f0c2d11","system:authenticated"],"extra":{"oid":["6f1a1d5e-6f3c-4b2e-9e1d-2f8f0b1c3d4e"]},"uid":"6f1a1d5e-6f3c-4b2e-9e1d-2f8f0b1c3d4e"},"status":{"allowed":false}}"#;

    #[test]
    fn v1beta1_groups_are_read_and_the_spec_echoed_as_sent() {
        let request = SarRequest::parse(V1BETA1.as_bytes()).unwrap();
        assert_eq!(request.version, SarVersion::V1Beta1);
        assert_eq!(groups(&request.spec).len(), 2);
        let answer: Value = serde_json::from_slice(&request.answer(&SubjectAccessReviewStatus {
            allowed: true,
            reason: Some("ok".into()),
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(answer["apiVersion"], "authorization.k8s.io/v1beta1");
        assert_eq!(answer["kind"], "SubjectAccessReview");
        let sent: Value = serde_json::from_str(V1BETA1).unwrap();
        assert_eq!(answer["spec"], sent["spec"]);
        assert_eq!(
            answer["status"],
            serde_json::json!({"allowed": true, "reason": "ok"})
        );
    }

    #[test]
    fn v1_and_bad_bodies() {
        let v1 = V1BETA1
            .replace("v1beta1", "v1")
            .replace("\"group\":", "\"groups\":");
        let request = SarRequest::parse(v1.as_bytes()).unwrap();
        assert_eq!(request.version, SarVersion::V1);
        assert_eq!(groups(&request.spec)[1], "system:authenticated");
        assert!(matches!(
            SarRequest::parse(b"{bad"),
            Err(SarParseError::Json(_))
        ));
        assert!(matches!(
            SarRequest::parse(br#"{"kind":"TokenReview","spec":{}}"#),
            Err(SarParseError::WrongKind)
        ));
        assert!(matches!(
            SarRequest::parse(br#"{"apiVersion":"authorization.k8s.io/v2","spec":{}}"#),
            Err(SarParseError::UnsupportedVersion)
        ));
        assert!(matches!(
            SarRequest::parse(br#"{"spec":{"user":"a"}}"#),
            Err(SarParseError::NoAttributes)
        ));
        // No value of the request is repeated.
        for body in [
            r#"{"kind":"LEAK1-secret","spec":{}}"#,
            r#"{"apiVersion":"LEAK1-secret","spec":{}}"#,
            r#"{"spec":{"user":["LEAK1-secret"],"nonResourceAttributes":{}}}"#,
            r#"{"spec":"LEAK1-secret"}"#,
        ] {
            let err = SarRequest::parse(body.as_bytes()).unwrap_err().to_string();
            assert!(!err.contains("LEAK1"), "{body}: {err}");
        }
        let refused: Value = serde_json::from_slice(&refusal("no")).unwrap();
        assert_eq!(refused["status"]["evaluationError"], "no");
        assert_eq!(refused["status"]["allowed"], false);
    }
}
