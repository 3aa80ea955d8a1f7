use std::fmt;

use serde::{Deserialize, Serialize};

pub use k8s_openapi::api::authentication::v1::{TokenReviewSpec, TokenReviewStatus, UserInfo};

/// The `kind` of every TokenReview object.
pub const TOKEN_REVIEW_KIND: &str = "TokenReview";

/// The API version of a TokenReview. The API server sends the one chosen by
/// its `--authentication-token-webhook-version` flag (`v1beta1` by default on
/// older releases, `v1` on newer ones) and expects the answer in the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReviewApiVersion {
    /// `authentication.k8s.io/v1`
    #[default]
    V1,
    /// `authentication.k8s.io/v1beta1`
    V1Beta1,
}

impl ReviewApiVersion {
    /// The full `apiVersion` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewApiVersion::V1 => "authentication.k8s.io/v1",
            ReviewApiVersion::V1Beta1 => "authentication.k8s.io/v1beta1",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "authentication.k8s.io/v1" => Some(ReviewApiVersion::V1),
            "authentication.k8s.io/v1beta1" => Some(ReviewApiVersion::V1Beta1),
            _ => None,
        }
    }
}

/// Why a request body is not a TokenReview guard can answer.
///
/// The words never repeat a value of the request (it may hold a token, and
/// anyone with a client certificate chooses it): only positions, and names
/// and types from guard's own definitions.
#[derive(Debug, thiserror::Error)]
pub enum ReviewParseError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("request body is not a valid TokenReview: {0}")]
    Json(String),
    /// A JSON object of another kind.
    #[error("expected kind \"TokenReview\"")]
    WrongKind,
    /// A TokenReview of an API version guard does not speak.
    #[error(
        "unsupported apiVersion: expected authentication.k8s.io/v1 or authentication.k8s.io/v1beta1"
    )]
    UnsupportedVersion,
    /// `spec.token` missing or empty.
    #[error("spec.token is empty")]
    EmptyToken,
}

impl From<serde_json::Error> for ReviewParseError {
    fn from(e: serde_json::Error) -> Self {
        ReviewParseError::Json(describe_json_error(&e))
    }
}

/// A JSON error in words that leave out every value of the input.
/// serde_json's own message quotes the offending value (`invalid type:
/// string "…", expected …`), so it is taken apart: its category and
/// position, and for data errors only what comes from guard's types (the
/// name of a missing or repeated field, what was expected).
pub fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    // Errors from `from_value` have no position (line 0).
    let at = if e.line() == 0 {
        "no position".to_owned()
    } else {
        format!("line {} column {}", e.line(), e.column())
    };
    match e.classify() {
        Category::Syntax => format!("not valid JSON ({at})"),
        Category::Eof => format!("the JSON ends early ({at})"),
        Category::Io => "the body could not be read".into(),
        Category::Data => {
            let text = e.to_string();
            let message = text.strip_suffix(&format!(" at {at}")).unwrap_or(&text);
            // Field names in these two come from guard's own types.
            if message.starts_with("missing field `") || message.starts_with("duplicate field `") {
                format!("{message} ({at})")
            } else if let Some((_, expected)) = message.rsplit_once(", expected ") {
                // What follows the last ", expected " is the expectation of
                // guard's type; the received value comes before it.
                format!("a value of the wrong type ({at}): expected {expected}")
            } else {
                format!("a value of the wrong type ({at})")
            }
        }
    }
}

/// A bearer token under review. It has no `Display`, and its `Debug` prints
/// only its length, so it cannot end up in a log line by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        BearerToken(token.into())
    }

    /// The secret itself, for the provider that checks it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerToken(<{} bytes redacted>)", self.0.len())
    }
}

/// A TokenReview as it travels on the wire, in either API version.
///
/// `k8s-openapi`'s own `TokenReview` only accepts `v1`; this envelope carries
/// the same spec and status types with a free `apiVersion`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TokenReview {
    /// `authentication.k8s.io/v1` or `authentication.k8s.io/v1beta1`.
    #[serde(rename = "apiVersion", default)]
    pub api_version: String,
    /// Always `TokenReview`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata (unused by guard; kept empty in answers).
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// What the API server asks about.
    #[serde(default)]
    pub spec: TokenReviewSpec,
    /// The answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TokenReviewStatus>,
}

/// An incoming TokenReview as guard reads it: like [`TokenReview`], but a
/// field given twice is refused at every level guard reads (serde's derive
/// does that; `k8s-openapi`'s `TokenReviewSpec` keeps the last `token`), so
/// that no two readers of one body can see different tokens.
#[derive(Deserialize)]
#[serde(expecting = "a TokenReview object")]
struct WireRequest {
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    #[allow(dead_code)]
    metadata: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    spec: WireSpec,
    #[serde(default)]
    #[allow(dead_code)]
    status: Option<serde::de::IgnoredAny>,
}

/// `spec` of a [`WireRequest`].
#[derive(Deserialize, Default)]
#[serde(expecting = "an object with token and audiences")]
struct WireSpec {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    audiences: Option<Vec<String>>,
}

/// The parts of an incoming TokenReview that guard uses.
#[derive(Debug, Clone)]
pub struct ReviewRequest {
    /// The API version to answer in.
    pub version: ReviewApiVersion,
    /// The bearer token to check.
    pub token: BearerToken,
    /// `spec.audiences`, as sent.
    pub audiences: Vec<String>,
}

impl TokenReview {
    /// Parses a request body sent by the API server (or kubectl).
    pub fn parse_request(body: &[u8]) -> Result<ReviewRequest, ReviewParseError> {
        let review: WireRequest = serde_json::from_slice(body)?;
        if review.kind != TOKEN_REVIEW_KIND {
            return Err(ReviewParseError::WrongKind);
        }
        let version = ReviewApiVersion::parse(&review.api_version)
            .ok_or(ReviewParseError::UnsupportedVersion)?;
        let token = review
            .spec
            .token
            .filter(|t| !t.is_empty())
            .ok_or(ReviewParseError::EmptyToken)?;
        Ok(ReviewRequest {
            version,
            token: BearerToken(token),
            audiences: review.spec.audiences.unwrap_or_default(),
        })
    }

    /// Builds an answer. The spec (which holds the token) is never echoed.
    pub fn response(version: ReviewApiVersion, status: TokenReviewStatus) -> Self {
        TokenReview {
            api_version: version.as_str().to_owned(),
            kind: TOKEN_REVIEW_KIND.to_owned(),
            metadata: serde_json::Map::new(),
            spec: TokenReviewSpec::default(),
            status: Some(status),
        }
    }

    /// An answer for an authenticated user.
    pub fn authenticated(
        version: ReviewApiVersion,
        user: UserInfo,
        audiences: Option<Vec<String>>,
    ) -> Self {
        Self::response(
            version,
            TokenReviewStatus {
                authenticated: Some(true),
                user: Some(user),
                audiences,
                error: None,
            },
        )
    }

    /// An answer that denies the token, with or without an error text.
    ///
    /// The API server caches a denial without `status.error` for its cache
    /// TTL; one with an error is logged and not cached.
    pub fn denied(version: ReviewApiVersion, error: Option<String>) -> Self {
        Self::response(
            version,
            TokenReviewStatus {
                authenticated: Some(false),
                user: None,
                audiences: None,
                error,
            },
        )
    }

    /// Serialises to JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising these plain data types cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(api_version: &str, kind: &str, token: &str) -> Vec<u8> {
        serde_json::json!({
            "apiVersion": api_version,
            "kind": kind,
            "spec": {"token": token, "audiences": ["https://kubernetes.default.svc"]}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn parses_v1_and_v1beta1() {
        let r = TokenReview::parse_request(&body("authentication.k8s.io/v1", "TokenReview", "t1"))
            .unwrap();
        assert_eq!(r.version, ReviewApiVersion::V1);
        assert_eq!(r.token.expose(), "t1");
        assert_eq!(r.audiences, ["https://kubernetes.default.svc"]);
        let r =
            TokenReview::parse_request(&body("authentication.k8s.io/v1beta1", "TokenReview", "t2"))
                .unwrap();
        assert_eq!(r.version, ReviewApiVersion::V1Beta1);
    }

    #[test]
    fn rejects_wrong_kind_version_garbage_and_empty_token() {
        assert!(matches!(
            TokenReview::parse_request(&body("authentication.k8s.io/v1", "Pod", "t")),
            Err(ReviewParseError::WrongKind)
        ));
        assert!(matches!(
            TokenReview::parse_request(&body("v1", "TokenReview", "t")),
            Err(ReviewParseError::UnsupportedVersion)
        ));
        assert!(matches!(
            TokenReview::parse_request(b"{bad"),
            Err(ReviewParseError::Json(_))
        ));
        assert!(matches!(
            TokenReview::parse_request(&body("authentication.k8s.io/v1", "TokenReview", "")),
            Err(ReviewParseError::EmptyToken)
        ));
    }

    #[test]
    fn errors_never_repeat_a_value_of_the_request() {
        let leak = "secrettoken-alice-LEAK1";
        let bodies = [
            format!(
                r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":"{leak}"}}"#
            ),
            format!(
                r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"{leak}","spec":{{"token":"t"}}}}"#
            ),
            format!(r#"{{"apiVersion":"{leak}","kind":"TokenReview","spec":{{"token":"t"}}}}"#),
            format!(
                r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{{"token":["{leak}"]}}}}"#
            ),
            format!(
                r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{{"audiences":"{leak}, expected x"}}}}"#
            ),
            format!(r#"{{"apiVersion":"authentication.k8s.io/v1","kind":["{leak}"]}}"#),
            format!(r#"{{"{leak}" 1}}"#),
            format!(r#"["{leak}"]"#),
            format!(r#""{leak}""#),
        ];
        for body in bodies {
            let err = TokenReview::parse_request(body.as_bytes())
                .err()
                .unwrap_or_else(|| panic!("{body} parsed"))
                .to_string();
            assert!(!err.contains("LEAK1"), "{body}: {err}");
            assert!(err.lines().count() == 1, "{err}");
        }
        let err = TokenReview::parse_request(
            br#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":"x"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 1 column"), "{err}");
    }

    #[test]
    fn a_field_given_twice_is_refused_at_every_level() {
        for body in [
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"a","token":"b"}}"#,
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"a","audiences":[],"audiences":["x"]}}"#,
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"a"},"spec":{"token":"b"}}"#,
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","kind":"TokenReview","spec":{"token":"a"}}"#,
        ] {
            let err = TokenReview::parse_request(body.as_bytes())
                .err()
                .unwrap_or_else(|| panic!("{body} parsed"))
                .to_string();
            assert!(err.contains("duplicate field"), "{body}: {err}");
        }
    }

    #[test]
    fn answers_echo_the_version_and_never_the_token() {
        let user = UserInfo {
            username: Some("alice".into()),
            uid: Some("1".into()),
            groups: Some(vec!["dev".into()]),
            extra: None,
        };
        let json = String::from_utf8(
            TokenReview::authenticated(ReviewApiVersion::V1Beta1, user, None).to_json(),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["apiVersion"], "authentication.k8s.io/v1beta1");
        assert_eq!(v["kind"], "TokenReview");
        assert_eq!(v["status"]["authenticated"], true);
        assert_eq!(v["status"]["user"]["username"], "alice");
        assert!(v["spec"].get("token").is_none());
        assert!(v["status"].get("error").is_none());
    }

    #[test]
    fn plain_denial_has_no_error_field() {
        let v: serde_json::Value =
            serde_json::from_slice(&TokenReview::denied(ReviewApiVersion::V1, None).to_json())
                .unwrap();
        assert_eq!(v["status"]["authenticated"], false);
        assert!(v["status"].get("error").is_none());
    }

    #[test]
    fn token_debug_is_redacted() {
        let t = BearerToken::new("super-secret");
        assert!(!format!("{t:?}").contains("super-secret"));
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    /// A small deterministic generator (xorshift), so failures reproduce.
    fn bytes(seed: &mut u64, max: usize) -> Vec<u8> {
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        let len = (next() as usize) % max;
        (0..len).map(|_| next() as u8).collect()
    }

    #[test]
    fn arbitrary_bodies_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let valid = br#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"t","audiences":["a"]}}"#;
        for i in 0..20_000 {
            let mut body = if i % 2 == 0 {
                valid.to_vec()
            } else {
                bytes(&mut seed, 256)
            };
            // Mutate a valid body in place half of the time.
            if i % 2 == 0 {
                for b in bytes(&mut seed, 8) {
                    let at = (b as usize * 7 + i) % body.len();
                    body[at] = b;
                }
            }
            let _ = TokenReview::parse_request(&body);
        }
    }
}
