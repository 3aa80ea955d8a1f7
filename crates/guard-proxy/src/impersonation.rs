//! `kubectl --as`: a user asks to act as someone else with `Impersonate-*`
//! headers. guard reads the request, has the API server confirm (one
//! SelfSubjectAccessReview per attribute, sent as the authenticated user)
//! that the user may `impersonate` each of them, and forwards the request
//! as the target identity with the original user in an extra.

use std::collections::BTreeMap;

use hyper::HeaderMap;
use k8s_openapi::api::authorization::v1::ResourceAttributes;

use crate::identity::{
    AUTHENTICATED_GROUP, ForwardedIdentity, ORIGINAL_USER_EXTRA, unescape_extra_key,
};

/// The user name of an anonymous request.
pub const ANONYMOUS_USER: &str = "system:anonymous";

/// The group of anonymous requests.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";

/// What a request asks to be run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpersonationRequest {
    /// `Impersonate-User`.
    pub user: String,
    /// `Impersonate-Uid`.
    pub uid: Option<String>,
    /// `Impersonate-Group` (repeatable).
    pub groups: Vec<String>,
    /// `Impersonate-Extra-KEY` (repeatable), keys unescaped and lower-cased.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// Why the `Impersonate-*` headers cannot be honoured as sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImpersonationError {
    /// A header other than User, Uid, Group and Extra-*.
    #[error("unknown impersonation header {0}")]
    UnknownHeader(String),
    /// A single-valued header given twice.
    #[error("header {0} is given more than once")]
    Repeated(&'static str),
    /// Groups, uid or extras without a user.
    #[error("Impersonate-Group, Impersonate-Uid and Impersonate-Extra-* need Impersonate-User")]
    NoUser,
    /// A value that is not text.
    #[error("header {0} is not valid text")]
    NotText(String),
}

impl ImpersonationRequest {
    /// Reads the `Impersonate-*` headers; `None` when there are none.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ImpersonationError> {
        let mut user = None;
        let mut uid = None;
        let mut groups = Vec::new();
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut any = false;
        for name in headers.keys() {
            let n = name.as_str();
            let Some(rest) = n.strip_prefix("impersonate-") else {
                continue;
            };
            any = true;
            let values: Vec<String> = headers
                .get_all(name)
                .iter()
                .map(|v| {
                    v.to_str()
                        .map(str::to_owned)
                        .map_err(|_| ImpersonationError::NotText(n.to_owned()))
                })
                .collect::<Result<_, _>>()?;
            match rest {
                "user" => {
                    if values.len() > 1 {
                        return Err(ImpersonationError::Repeated("Impersonate-User"));
                    }
                    user = values.into_iter().next();
                }
                "uid" => {
                    if values.len() > 1 {
                        return Err(ImpersonationError::Repeated("Impersonate-Uid"));
                    }
                    uid = values.into_iter().next();
                }
                "group" => groups.extend(values),
                _ => match rest.strip_prefix("extra-").and_then(unescape_extra_key) {
                    Some(key) if !key.is_empty() => extra.entry(key).or_default().extend(values),
                    _ => return Err(ImpersonationError::UnknownHeader(n.to_owned())),
                },
            }
        }
        if !any {
            return Ok(None);
        }
        let Some(user) = user.filter(|u| !u.is_empty()) else {
            return Err(ImpersonationError::NoUser);
        };
        Ok(Some(ImpersonationRequest {
            user,
            uid,
            groups,
            extra,
        }))
    }

    /// The attribute checks the API server makes for impersonation: the
    /// `impersonate` verb on users (or serviceaccounts), groups, uids and
    /// userextras.
    pub fn checks(&self) -> Vec<ResourceAttributes> {
        let check = |group: &str, resource: &str, name: &str| ResourceAttributes {
            verb: Some("impersonate".into()),
            group: Some(group.into()),
            resource: Some(resource.into()),
            name: Some(name.into()),
            ..ResourceAttributes::default()
        };
        let mut checks = Vec::new();
        match service_account(&self.user) {
            Some((namespace, name)) => checks.push(ResourceAttributes {
                namespace: Some(namespace.into()),
                ..check("", "serviceaccounts", name)
            }),
            None => checks.push(check("", "users", &self.user)),
        }
        for g in &self.groups {
            checks.push(check("", "groups", g));
        }
        if let Some(uid) = &self.uid {
            checks.push(check("authentication.k8s.io", "uids", uid));
        }
        for (key, values) in &self.extra {
            for v in values {
                checks.push(ResourceAttributes {
                    subresource: Some(key.clone()),
                    ..check("authentication.k8s.io", "userextras", v)
                });
            }
        }
        checks
    }

    /// The identity to forward once every check passed: the requested one,
    /// with the groups kube-apiserver's own impersonation adds
    /// (k8s.io/apiserver, `endpoints/filters/impersonation.go`): a service
    /// account asked for without groups gets its own;
    /// [`ANONYMOUS_USER`] gets [`UNAUTHENTICATED_GROUP`]; anyone else gets
    /// [`AUTHENTICATED_GROUP`] unless that or [`UNAUTHENTICATED_GROUP`]
    /// was asked for. The original user goes into [`ORIGINAL_USER_EXTRA`].
    pub fn into_identity(self, original: &ForwardedIdentity) -> ForwardedIdentity {
        let mut id = ForwardedIdentity {
            username: self.user,
            uid: self.uid.unwrap_or_default(),
            groups: self.groups,
            extra: self.extra,
        };
        if let Some((namespace, _)) = service_account(&id.username)
            && id.groups.is_empty()
        {
            id.groups = vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
            ];
        }
        if id.username == ANONYMOUS_USER {
            id.add_group(UNAUTHENTICATED_GROUP);
        } else if !id
            .groups
            .iter()
            .any(|g| g == UNAUTHENTICATED_GROUP || g == AUTHENTICATED_GROUP)
        {
            id.add_group(AUTHENTICATED_GROUP);
        }
        id.extra
            .insert(ORIGINAL_USER_EXTRA.to_owned(), vec![original.to_json()]);
        id
    }
}

/// `(namespace, name)` of a `system:serviceaccount:NS:NAME` user name.
fn service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    (!ns.is_empty() && !name.is_empty()).then_some((ns, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn reads_every_form() {
        let r = ImpersonationRequest::from_headers(&headers(&[
            ("impersonate-user", "bob"),
            ("impersonate-group", "g1"),
            ("impersonate-group", "g2"),
            ("impersonate-uid", "42"),
            ("impersonate-extra-example.com%2Fscopes", "read"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(r.user, "bob");
        assert_eq!(r.groups, ["g1", "g2"]);
        assert_eq!(r.uid.as_deref(), Some("42"));
        assert_eq!(r.extra["example.com/scopes"], ["read"]);
        let checks = r.checks();
        let summary: Vec<_> = checks
            .iter()
            .map(|c| {
                format!(
                    "{}/{}/{}",
                    c.resource.as_deref().unwrap(),
                    c.subresource.as_deref().unwrap_or(""),
                    c.name.as_deref().unwrap()
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                "users//bob",
                "groups//g1",
                "groups//g2",
                "uids//42",
                "userextras/example.com/scopes/read"
            ]
        );
        assert_eq!(
            ImpersonationRequest::from_headers(&HeaderMap::new()),
            Ok(None)
        );
    }

    #[test]
    fn refuses_what_the_api_server_would() {
        let err = |pairs: &[(&str, &str)]| {
            ImpersonationRequest::from_headers(&headers(pairs)).unwrap_err()
        };
        assert_eq!(
            err(&[("impersonate-group", "g")]),
            ImpersonationError::NoUser
        );
        assert_eq!(
            err(&[("impersonate-user", "a"), ("impersonate-user", "b")]),
            ImpersonationError::Repeated("Impersonate-User")
        );
        assert!(matches!(
            err(&[("impersonate-user", "a"), ("impersonate-foo", "b")]),
            ImpersonationError::UnknownHeader(_)
        ));
    }

    #[test]
    fn service_accounts_get_their_groups_and_the_original_user_is_kept() {
        let r = ImpersonationRequest::from_headers(&headers(&[(
            "impersonate-user",
            "system:serviceaccount:kube-system:default",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(r.checks()[0].resource.as_deref(), Some("serviceaccounts"));
        assert_eq!(r.checks()[0].namespace.as_deref(), Some("kube-system"));
        let original = ForwardedIdentity {
            username: "alice".into(),
            groups: vec![AUTHENTICATED_GROUP.into()],
            ..ForwardedIdentity::default()
        };
        let id = r.into_identity(&original);
        assert_eq!(
            id.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:kube-system",
                AUTHENTICATED_GROUP
            ]
        );
        assert_eq!(
            id.extra[ORIGINAL_USER_EXTRA],
            [r#"{"username":"alice","groups":["system:authenticated"]}"#]
        );
    }

    #[test]
    fn the_groups_added_follow_kube_apiserver() {
        let original = ForwardedIdentity {
            username: "alice".into(),
            groups: vec![AUTHENTICATED_GROUP.into()],
            ..ForwardedIdentity::default()
        };
        let groups = |pairs: &[(&str, &str)]| {
            ImpersonationRequest::from_headers(&headers(pairs))
                .unwrap()
                .unwrap()
                .into_identity(&original)
                .groups
        };
        let user = ("impersonate-user", "bob");
        let anonymous = ("impersonate-user", ANONYMOUS_USER);
        assert_eq!(groups(&[user]), [AUTHENTICATED_GROUP]);
        assert_eq!(
            groups(&[user, ("impersonate-group", "g")]),
            ["g", AUTHENTICATED_GROUP]
        );
        assert_eq!(
            groups(&[user, ("impersonate-group", UNAUTHENTICATED_GROUP)]),
            [UNAUTHENTICATED_GROUP]
        );
        assert_eq!(
            groups(&[user, ("impersonate-group", AUTHENTICATED_GROUP)]),
            [AUTHENTICATED_GROUP]
        );
        assert_eq!(groups(&[anonymous]), [UNAUTHENTICATED_GROUP]);
        assert_eq!(
            groups(&[anonymous, ("impersonate-group", "g")]),
            ["g", UNAUTHENTICATED_GROUP]
        );
        assert_eq!(
            groups(&[anonymous, ("impersonate-group", AUTHENTICATED_GROUP)]),
            [AUTHENTICATED_GROUP, UNAUTHENTICATED_GROUP]
        );
        assert_eq!(
            groups(&[anonymous, ("impersonate-group", UNAUTHENTICATED_GROUP)]),
            [UNAUTHENTICATED_GROUP]
        );
    }
}
