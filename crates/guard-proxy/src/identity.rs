//! The identity handed to the API server, and the headers that carry it.

use std::collections::BTreeMap;

use guard_auth::Identity;
use hyper::HeaderMap;
use hyper::header::{HeaderName, HeaderValue};

use crate::IdentityMode;

/// The group every authenticated user is in.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// The extra key that keeps the authenticated user when a request is sent
/// on behalf of someone else (`kubectl --as`): a JSON object with
/// `username`, `uid`, `groups` and `extra`.
pub const ORIGINAL_USER_EXTRA: &str = "original-user-info.proxy.guard-rs.github.io";

/// The user as the API server will see it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct ForwardedIdentity {
    /// The user name.
    pub username: String,
    /// The uid; empty when the provider has none.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The groups, `system:authenticated` included.
    pub groups: Vec<String>,
    /// Extra attributes; keys lower-cased.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// Why an identity cannot be written as headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The provider returned no user name.
    #[error("the provider returned an empty user name")]
    EmptyUser,
    /// A value holds characters HTTP headers cannot carry.
    #[error("the {what} {value:?} cannot be sent in an HTTP header (control characters)")]
    NotAHeaderValue {
        /// Which part.
        what: &'static str,
        /// The value (a name or group, never a credential).
        value: String,
    },
}

impl ForwardedIdentity {
    /// The identity of an authenticated user: extra keys lower-cased (and
    /// merged when they differ only in case), guard's reserved key dropped,
    /// and `system:authenticated` added.
    pub fn authenticated(identity: Identity) -> Self {
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, values) in identity.extra {
            let key = key.to_ascii_lowercase();
            if key == ORIGINAL_USER_EXTRA {
                continue;
            }
            let slot = extra.entry(key).or_default();
            for v in values {
                if !slot.contains(&v) {
                    slot.push(v);
                }
            }
        }
        let mut id = ForwardedIdentity {
            username: identity.username,
            uid: identity.uid,
            groups: identity.groups,
            extra,
        };
        id.add_group(AUTHENTICATED_GROUP);
        id
    }

    /// Adds `group` unless it is there already.
    pub fn add_group(&mut self, group: &str) {
        if !self.groups.iter().any(|g| g == group) {
            self.groups.push(group.to_owned());
        }
    }

    /// This identity as JSON, for [`ORIGINAL_USER_EXTRA`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Writes the identity into `headers` in the form `mode` uses,
    /// replacing any value already there.
    pub fn write_headers(
        &self,
        mode: IdentityMode,
        headers: &mut HeaderMap,
    ) -> Result<(), IdentityError> {
        if self.username.is_empty() {
            return Err(IdentityError::EmptyUser);
        }
        let (user, uid, group, extra_prefix) = match mode {
            IdentityMode::FrontProxy => (
                "x-remote-user",
                "x-remote-uid",
                "x-remote-group",
                "x-remote-extra-",
            ),
            IdentityMode::Impersonation => (
                "impersonate-user",
                "impersonate-uid",
                "impersonate-group",
                "impersonate-extra-",
            ),
        };
        let value = |what: &'static str, v: &str| {
            HeaderValue::from_str(v).map_err(|_| IdentityError::NotAHeaderValue {
                what,
                value: v.to_owned(),
            })
        };
        headers.insert(
            HeaderName::from_static(user),
            value("user name", &self.username)?,
        );
        if !self.uid.is_empty() {
            headers.insert(HeaderName::from_static(uid), value("uid", &self.uid)?);
        }
        let group = HeaderName::from_static(group);
        headers.remove(&group);
        for g in &self.groups {
            headers.append(group.clone(), value("group", g)?);
        }
        for (key, values) in &self.extra {
            let name = HeaderName::from_bytes(
                format!("{extra_prefix}{}", escape_extra_key(key)).as_bytes(),
            )
            // Unreachable: the escaped key holds only token characters.
            .map_err(|_| IdentityError::NotAHeaderValue {
                what: "extra key",
                value: key.clone(),
            })?;
            headers.remove(&name);
            for v in values {
                headers.append(name.clone(), value("extra value", v)?);
            }
        }
        Ok(())
    }
}

/// Escapes an extra key for a header name the way client-go does and the
/// API server undoes (`url.PathUnescape`): lower-cased, then every byte that
/// is not an HTTP token character, and `%` itself, written as `%XX`.
pub fn escape_extra_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.to_ascii_lowercase().bytes() {
        let token_char = b.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(&b);
        if token_char {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes [`escape_extra_key`] for an incoming `Impersonate-Extra-` key.
pub fn unescape_extra_key(escaped: &str) -> Option<String> {
    percent_encoding::percent_decode_str(escaped)
        .decode_utf8()
        .ok()
        .map(|k| k.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity {
            username: "alice".into(),
            uid: "1001".into(),
            groups: vec!["dev".into(), "ops".into()],
            extra: [
                ("sessionName".to_owned(), vec!["s1".to_owned()]),
                ("SessionName".to_owned(), vec!["s2".to_owned()]),
                ("example.com/Team Name".to_owned(), vec!["a b".to_owned()]),
                (ORIGINAL_USER_EXTRA.to_owned(), vec!["forged".to_owned()]),
            ]
            .into(),
        }
    }

    #[test]
    fn authenticated_users_get_the_group_and_lower_case_keys() {
        let id = ForwardedIdentity::authenticated(alice());
        assert_eq!(id.groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(id.extra["sessionname"], ["s2", "s1"]);
        assert!(!id.extra.contains_key(ORIGINAL_USER_EXTRA));
    }

    #[test]
    fn keys_are_escaped_like_client_go() {
        assert_eq!(
            escape_extra_key("example.com/Team Name"),
            "example.com%2Fteam%20name"
        );
        assert_eq!(escape_extra_key("100%"), "100%25");
        assert_eq!(
            unescape_extra_key("example.com%2Fteam%20name").unwrap(),
            "example.com/team name"
        );
    }

    #[test]
    fn front_proxy_and_impersonation_headers() {
        let id = ForwardedIdentity::authenticated(alice());
        let mut h = HeaderMap::new();
        id.write_headers(IdentityMode::FrontProxy, &mut h).unwrap();
        assert_eq!(h["x-remote-user"], "alice");
        assert_eq!(h["x-remote-uid"], "1001");
        let groups: Vec<_> = h.get_all("x-remote-group").iter().collect();
        assert_eq!(groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(h["x-remote-extra-example.com%2fteam%20name"], "a b");
        let mut h = HeaderMap::new();
        id.write_headers(IdentityMode::Impersonation, &mut h)
            .unwrap();
        assert_eq!(h["impersonate-user"], "alice");
        assert_eq!(h.get_all("impersonate-extra-sessionname").iter().count(), 2);
    }

    #[test]
    fn control_characters_are_refused() {
        let mut id = ForwardedIdentity::authenticated(alice());
        id.groups.push("evil\r\nx-remote-user: root".into());
        let err = id
            .write_headers(IdentityMode::FrontProxy, &mut HeaderMap::new())
            .unwrap_err();
        assert!(matches!(
            err,
            IdentityError::NotAHeaderValue { what: "group", .. }
        ));
    }
}
