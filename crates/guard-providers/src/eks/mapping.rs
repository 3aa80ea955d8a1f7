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

impl Mapping {
    /// The identity of `caller`, or `None` when unmapped.
    pub fn map(&self, caller: &Caller) -> Option<(String, Vec<String>)> {
        let render = |template: &str| {
            let session = caller.session_name.clone().unwrap_or_default();
            template
                .replace("{{AccountID}}", &caller.account)
                .replace("{{SessionNameRaw}}", &session)
                .replace("{{SessionName}}", &session.replace('@', "-"))
        };
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        if let Some(r) = self
            .roles
            .iter()
            .find(|r| same(&r.rolearn, &caller.canonical_arn))
        {
            return Some((render(&r.username), r.groups.clone()));
        }
        if let Some(u) = self
            .users
            .iter()
            .find(|u| same(&u.userarn, &caller.canonical_arn))
        {
            return Some((render(&u.username), u.groups.clone()));
        }
        self.accounts
            .iter()
            .any(|a| a == &caller.account)
            .then(|| (caller.canonical_arn.clone(), Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_with_templates_and_configmap_shape() {
        let direct = "mapRoles:\n- rolearn: arn:aws:iam::111122223333:role/k8s-admins\n  username: admin:{{SessionName}}\n  groups: [system:masters]\nmapUsers:\n- userarn: arn:aws:iam::111122223333:user/bob\n  username: bob-{{AccountID}}\n  groups: [devs]\nmapAccounts: [\"444455556666\"]\n";
        let configmap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: aws-auth, namespace: kube-system}\ndata:\n  mapRoles: |\n    - rolearn: arn:aws:iam::111122223333:role/k8s-admins\n      username: admin:{{SessionName}}\n      groups: [system:masters]\n  mapUsers: |\n    - userarn: arn:aws:iam::111122223333:user/bob\n      username: bob-{{AccountID}}\n      groups: [devs]\n  mapAccounts: |\n    - \"444455556666\"\n";
        for text in [direct, configmap] {
            let m = Mapping::parse(text).unwrap();
            let role = Caller {
                arn: "arn:aws:sts::111122223333:assumed-role/k8s-admins/alice@example.com".into(),
                canonical_arn: "arn:aws:iam::111122223333:role/k8s-admins".into(),
                account: "111122223333".into(),
                user_id: "AROA:alice".into(),
                session_name: Some("alice@example.com".into()),
            };
            assert_eq!(
                m.map(&role),
                Some((
                    "admin:alice-example.com".into(),
                    vec!["system:masters".into()]
                ))
            );
            let user = Caller {
                arn: "arn:aws:iam::111122223333:user/bob".into(),
                canonical_arn: "arn:aws:iam::111122223333:user/bob".into(),
                account: "111122223333".into(),
                user_id: "AIDA".into(),
                session_name: None,
            };
            assert_eq!(
                m.map(&user),
                Some(("bob-111122223333".into(), vec!["devs".into()]))
            );
            let account = Caller {
                arn: "arn:aws:iam::444455556666:user/x".into(),
                canonical_arn: "arn:aws:iam::444455556666:user/x".into(),
                account: "444455556666".into(),
                user_id: "AIDX".into(),
                session_name: None,
            };
            assert_eq!(
                m.map(&account),
                Some(("arn:aws:iam::444455556666:user/x".into(), vec![]))
            );
            let stranger = Caller {
                account: "999999999999".into(),
                canonical_arn: "arn:aws:iam::999999999999:user/x".into(),
                ..account.clone()
            };
            assert_eq!(m.map(&stranger), None);
        }
    }
}
