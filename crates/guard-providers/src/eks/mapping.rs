//! The mapping of IAM ARNs to Kubernetes users and groups: the three lists
//! of aws-iam-authenticator's `aws-auth` ConfigMap (`mapRoles`, `mapUsers`,
//! `mapAccounts`), with its username templates.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::arn::Caller;
use super::options::FLAG_MAPPING_FILE;
use crate::ProviderError;

/// `mapRoles` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct RoleMapping {
    /// The role ARN (`arn:aws:iam::ACCOUNT:role/NAME`).
    pub rolearn: String,
    /// Username template.
    pub username: String,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// `mapUsers` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct UserMapping {
    /// The user ARN.
    pub userarn: String,
    /// Username template.
    pub username: String,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The mapping file: the three lists of aws-iam-authenticator's `aws-auth`
/// ConfigMap, either at the top level or as the YAML strings of a ConfigMap's
/// `data`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Mapping {
    /// `mapRoles`
    #[serde(default, rename = "mapRoles")]
    pub roles: Vec<RoleMapping>,
    /// `mapUsers`
    #[serde(default, rename = "mapUsers")]
    pub users: Vec<UserMapping>,
    /// `mapAccounts`
    #[serde(default, rename = "mapAccounts")]
    pub accounts: Vec<String>,
}

/// Kubernetes reserves names that start with `system:`.
const RESERVED_PREFIX: &str = "system:";

/// True when `rendered` is a reserved `system:` name although its template
/// does not start with `system:`: the prefix then comes from values the
/// caller chose (a session name), not from the operator.
fn gained_reserved_prefix(template: &str, rendered: &str) -> bool {
    rendered.starts_with(RESERVED_PREFIX) && !template.starts_with(RESERVED_PREFIX)
}

impl Mapping {
    /// Parses a mapping file.
    pub fn parse(text: &str) -> Result<Self, ProviderError> {
        #[derive(Deserialize)]
        struct ConfigMap {
            data: BTreeMap<String, String>,
        }
        if let Ok(cm) = serde_saphyr::from_str::<ConfigMap>(text) {
            let list = |key: &str| {
                cm.data
                    .get(key)
                    .map(String::as_str)
                    .unwrap_or("[]")
                    .to_owned()
            };
            return Ok(Mapping {
                roles: section("mapRoles", &list("mapRoles"))?,
                users: section("mapUsers", &list("mapUsers"))?,
                accounts: section("mapAccounts", &list("mapAccounts"))?,
            });
        }
        section("the mapping", text)
    }

    /// Reads and parses the file named by `--eks.mapping-file`.
    pub fn load(path: &Path) -> Result<Self, ProviderError> {
        let data = ProviderError::read(FLAG_MAPPING_FILE, path)?;
        let text = String::from_utf8_lossy(&data);
        Mapping::parse(&text).map_err(|e| {
            ProviderError::bad_file(FLAG_MAPPING_FILE, path, "not an aws-auth mapping", e)
        })
    }
}

/// Parses one YAML section of the mapping.
fn section<T: serde::de::DeserializeOwned>(
    name: &'static str,
    text: &str,
) -> Result<T, ProviderError> {
    serde_saphyr::from_str(text).map_err(|source| ProviderError::Mapping {
        section: name,
        source: Box::new(source),
    })
}

/// The placeholder aws-iam-authenticator fills in with an EC2 API call;
/// guard makes no such call.
const EC2_PRIVATE_DNS_NAME: &str = "{{EC2PrivateDNSName}}";

/// Fills in a username or group template as aws-iam-authenticator does,
/// in its order: `{{AccountID}}`, `{{SessionName}}` (the session name with
/// `@` replaced by `-`), `{{SessionNameRaw}}`, `{{AccessKeyID}}`.
pub fn render(template: &str, caller: &Caller) -> Result<String, String> {
    if template.contains(EC2_PRIVATE_DNS_NAME) {
        return Err(format!(
            "the EKS mapping for {} uses {EC2_PRIVATE_DNS_NAME}, which guard does not support",
            caller.canonical_arn
        ));
    }
    let session = caller.session_name.as_deref().unwrap_or_default();
    Ok(template
        .replace("{{AccountID}}", &caller.account)
        .replace("{{SessionName}}", &session.replace('@', "-"))
        .replace("{{SessionNameRaw}}", session)
        .replace("{{AccessKeyID}}", &caller.access_key_id))
}

impl Mapping {
    /// The username and groups of `caller` (templates filled in), `None`
    /// when unmapped, or why a mapping cannot be rendered.
    pub fn map(&self, caller: &Caller) -> Result<Option<(String, Vec<String>)>, String> {
        let entry = |username: &str, groups: &[String]| -> Result<_, String> {
            let mut rendered = Vec::with_capacity(groups.len());
            for template in groups {
                let group = render(template, caller)?;
                if gained_reserved_prefix(template, &group) {
                    tracing::warn!(
                        arn = %caller.canonical_arn,
                        template = %template,
                        "dropped an EKS group that only became a system: group through the caller's session name"
                    );
                    continue;
                }
                rendered.push(group);
            }
            let name = render(username, caller)?;
            if gained_reserved_prefix(username, &name) {
                return Err(format!(
                    "the EKS mapping for {} renders a system: username from the caller's session name; \
                     write the system: prefix in the template if it is meant",
                    caller.canonical_arn
                ));
            }
            Ok(Some((name, rendered)))
        };
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        if let Some(r) = self
            .roles
            .iter()
            .find(|r| same(&r.rolearn, &caller.canonical_arn))
        {
            return entry(&r.username, &r.groups);
        }
        if let Some(u) = self
            .users
            .iter()
            .find(|u| same(&u.userarn, &caller.canonical_arn))
        {
            return entry(&u.username, &u.groups);
        }
        Ok(self
            .accounts
            .iter()
            .any(|a| a == &caller.account)
            .then(|| (caller.canonical_arn.clone(), Vec::new())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_with_templates_and_configmap_shape() {
        let direct = "mapRoles:\n- rolearn: arn:aws:iam::111122223333:role/k8s-admins\n  username: admin:{{SessionName}}\n  groups: [system:masters, \"team-{{AccountID}}\", \"s-{{SessionNameRaw}}\", \"k-{{AccessKeyID}}\"]\nmapUsers:\n- userarn: arn:aws:iam::111122223333:user/bob\n  username: bob-{{AccountID}}\n  groups: [devs]\nmapAccounts: [\"444455556666\"]\n";
        let configmap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: aws-auth, namespace: kube-system}\ndata:\n  mapRoles: |\n    - rolearn: arn:aws:iam::111122223333:role/k8s-admins\n      username: admin:{{SessionName}}\n      groups: [system:masters, \"team-{{AccountID}}\", \"s-{{SessionNameRaw}}\", \"k-{{AccessKeyID}}\"]\n  mapUsers: |\n    - userarn: arn:aws:iam::111122223333:user/bob\n      username: bob-{{AccountID}}\n      groups: [devs]\n  mapAccounts: |\n    - \"444455556666\"\n";
        for text in [direct, configmap] {
            let m = Mapping::parse(text).unwrap();
            let role = Caller {
                arn: "arn:aws:sts::111122223333:assumed-role/k8s-admins/alice@example.com".into(),
                canonical_arn: "arn:aws:iam::111122223333:role/k8s-admins".into(),
                account: "111122223333".into(),
                user_id: "AROA".into(),
                session_name: Some("alice@example.com".into()),
                access_key_id: "ASIAKEY".into(),
            };
            assert_eq!(
                m.map(&role).unwrap(),
                Some((
                    "admin:alice-example.com".into(),
                    vec![
                        "system:masters".into(),
                        "team-111122223333".into(),
                        "s-alice@example.com".into(),
                        "k-ASIAKEY".into()
                    ]
                ))
            );
            let user = Caller {
                arn: "arn:aws:iam::111122223333:user/bob".into(),
                canonical_arn: "arn:aws:iam::111122223333:user/bob".into(),
                account: "111122223333".into(),
                user_id: "AIDA".into(),
                session_name: None,
                access_key_id: "AKIA".into(),
            };
            assert_eq!(
                m.map(&user).unwrap(),
                Some(("bob-111122223333".into(), vec!["devs".into()]))
            );
            let account = Caller {
                arn: "arn:aws:iam::444455556666:user/x".into(),
                canonical_arn: "arn:aws:iam::444455556666:user/x".into(),
                account: "444455556666".into(),
                user_id: "AIDX".into(),
                session_name: None,
                access_key_id: "AKIX".into(),
            };
            assert_eq!(
                m.map(&account).unwrap(),
                Some(("arn:aws:iam::444455556666:user/x".into(), vec![]))
            );
            let stranger = Caller {
                account: "999999999999".into(),
                canonical_arn: "arn:aws:iam::999999999999:user/x".into(),
                ..account.clone()
            };
            assert_eq!(m.map(&stranger).unwrap(), None);
        }
        let nodes = Mapping::parse("mapRoles:\n- rolearn: arn:aws:iam::1:role/nodes\n  username: system:node:{{EC2PrivateDNSName}}\n").unwrap();
        let node = Caller {
            arn: "arn:aws:sts::1:assumed-role/nodes/i-0abc".into(),
            canonical_arn: "arn:aws:iam::1:role/nodes".into(),
            account: "1".into(),
            user_id: "AROANODES".into(),
            session_name: Some("i-0abc".into()),
            access_key_id: "ASIA".into(),
        };
        let e = nodes.map(&node).unwrap_err();
        assert!(e.contains("EC2PrivateDNSName"), "{e}");
    }

    #[test]
    fn session_names_cannot_make_reserved_names() {
        let m = Mapping::parse("mapRoles:\n- rolearn: arn:aws:iam::1:role/r\n  username: \"{{SessionName}}:x\"\n  groups: [\"{{SessionName}}:masters\", \"system:{{SessionName}}\", t]\n- rolearn: arn:aws:iam::1:role/ok\n  username: \"u-{{SessionName}}\"\n  groups: [\"{{SessionName}}:masters\", \"system:{{SessionName}}\", t]\n").unwrap();
        let caller = |role: &str| Caller {
            arn: format!("arn:aws:sts::1:assumed-role/{role}/system"),
            canonical_arn: format!("arn:aws:iam::1:role/{role}"),
            account: "1".into(),
            user_id: "AROA".into(),
            session_name: Some("system".into()),
            access_key_id: "ASIA".into(),
        };
        let e = m.map(&caller("r")).unwrap_err();
        assert!(e.contains("system: username"), "{e}");
        // The operator's own system: prefix stays; the caller's does not.
        assert_eq!(
            m.map(&caller("ok")).unwrap(),
            Some(("u-system".into(), vec!["system:system".into(), "t".into()]))
        );
    }
}
