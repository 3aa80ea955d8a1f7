//! AWS credentials: the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), else the shared
//! credentials file (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`)
//! for `AWS_PROFILE` (default `default`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::ClientError;

/// AWS credentials for signing. `Debug` shows only the access key id.
#[derive(Clone)]
pub struct AwsCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: SecretString,
    /// Session token of temporary credentials.
    pub session_token: Option<SecretString>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl AwsCredentials {
    /// The credentials from the environment, else from the shared
    /// credentials file (below `home`, unless `AWS_SHARED_CREDENTIALS_FILE`
    /// names it).
    pub fn from_environment(home: Option<&Path>) -> Result<Self, ClientError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            return Ok(AwsCredentials {
                access_key_id: id,
                secret_access_key: secret.into(),
                session_token: env("AWS_SESSION_TOKEN").map(SecretString::from),
            });
        }
        let file = env("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| home.map(|h| h.join(".aws/credentials")))
            .ok_or_else(|| {
                ClientError::NoAwsCredentials(
                    "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or configure ~/.aws/credentials"
                        .into(),
                )
            })?;
        let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let text = std::fs::read_to_string(&file).map_err(|e| {
            ClientError::NoAwsCredentials(format!(
                "none in the environment, and {}: {e}",
                file.display()
            ))
        })?;
        Self::from_profile(&text, &profile).ok_or_else(|| {
            ClientError::NoAwsCredentials(format!(
                "profile {profile} in {} has no aws_access_key_id/aws_secret_access_key",
                file.display()
            ))
        })
    }

    /// The credentials of `profile` in a shared credentials file's text.
    fn from_profile(text: &str, profile: &str) -> Option<Self> {
        let mut section = String::new();
        let mut values = BTreeMap::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().trim_start_matches("profile ").to_owned();
            } else if section == profile
                && let Some((k, v)) = line.split_once('=')
            {
                values.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
        Some(AwsCredentials {
            access_key_id: values.get("aws_access_key_id")?.clone(),
            secret_access_key: values.remove("aws_secret_access_key")?.into(),
            session_token: values.remove("aws_session_token").map(SecretString::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn reads_the_named_profile_only() {
        let text = "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n# a comment\n[profile dev]\naws_access_key_id=AKIDDEV\naws_secret_access_key=s2\naws_session_token=t2\n";
        let dev = AwsCredentials::from_profile(text, "dev").unwrap();
        assert_eq!(dev.access_key_id, "AKIDDEV");
        assert_eq!(dev.secret_access_key.expose_secret(), "s2");
        assert!(!format!("{dev:?}").contains("s2"));
        let default = AwsCredentials::from_profile(text, "default").unwrap();
        assert!(default.session_token.is_none());
        assert!(AwsCredentials::from_profile(text, "prod").is_none());
    }
}
