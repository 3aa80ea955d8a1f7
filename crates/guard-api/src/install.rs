//! What a provider adds to the deployment `guard get installer` prints, as
//! plain data: the provider registry (guard-providers) fills it from the
//! provider's options, the binary hands it over, and guard-installer renders
//! it into the pod spec and a Secret. So the installer never links provider
//! code, and a provider's installer part lives next to its options.

use std::collections::BTreeMap;
use std::fmt;

/// One provider's part of the installation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallerPart {
    /// The provider's name (`ldap`, `token-auth`, ...).
    pub provider: &'static str,
    /// Flags appended to `guard run`, in order.
    pub args: Vec<String>,
    /// The provider's Secret, when it needs files or secret values.
    pub secret: Option<InstallerSecret>,
}

/// A provider's Secret: its files, where the pod mounts them, and the
/// environment variables taken from it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct InstallerSecret {
    /// Secret name (`guard-token-auth`, `guard-ldap-auth`, ...).
    pub name: String,
    /// Where the Secret is mounted in the container
    /// (`/etc/guard/auth/<provider>`); flags name files below it.
    pub mount_path: String,
    /// File name (Secret key) → contents.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Environment variables set from keys of this Secret (secrets that
    /// must not appear in the arguments).
    pub env: Vec<SecretEnv>,
}

/// An environment variable whose value is a key of the provider's Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEnv {
    /// The variable (`LDAP_BIND_PASSWORD`).
    pub variable: String,
    /// The Secret key holding its value (`bind-password`).
    pub key: String,
}

impl SecretEnv {
    /// `variable` from Secret key `key`.
    pub fn new(variable: &str, key: &str) -> Self {
        SecretEnv {
            variable: variable.to_owned(),
            key: key.to_owned(),
        }
    }
}

impl fmt::Debug for InstallerSecret {
    /// The file names and sizes, never their contents.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files: BTreeMap<&str, String> = self
            .files
            .iter()
            .map(|(k, v)| (k.as_str(), format!("<{} bytes>", v.len())))
            .collect();
        f.debug_struct("InstallerSecret")
            .field("name", &self.name)
            .field("mount_path", &self.mount_path)
            .field("files", &files)
            .field("env", &self.env)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secret_contents() {
        let secret = InstallerSecret {
            name: "guard-ldap-auth".into(),
            mount_path: "/etc/guard/auth/ldap".into(),
            files: BTreeMap::from([("bind-password".to_owned(), b"hunter2".to_vec())]),
            env: vec![SecretEnv::new("LDAP_BIND_PASSWORD", "bind-password")],
        };
        let text = format!("{secret:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("bind-password") && text.contains("<7 bytes>"),
            "{text}"
        );
    }
}
