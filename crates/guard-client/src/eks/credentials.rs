//! AWS credentials, from the AWS SDK's default credential chain
//! (aws-config), as the aws CLI finds them: the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), the
//! profile `AWS_PROFILE` (default `default`) of the shared config and
//! credentials files (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, else
//! `~/.aws/config` and `~/.aws/credentials`) with static keys, `role_arn` +
//! `source_profile` (or `credential_source`), `credential_process`, SSO or
//! `web_identity_token_file`; then web identity from the environment
//! (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`), the ECS/EKS container
//! endpoint, and the EC2 instance metadata service. STS calls (AssumeRole,
//! AssumeRoleWithWebIdentity) honour `AWS_ENDPOINT_URL_STS` and a profile's
//! `endpoint_url`, and so does the token ([`super::sts::configured_endpoint`]).

use std::time::{Duration, SystemTime};

use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::provider::ProvideCredentials as _;
use aws_credential_types::provider::error::CredentialsError;
use secrecy::SecretString;

use crate::ClientError;

/// Time to open a connection to STS, SSO or a metadata service.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for one attempt of a call.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a call, retries included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The region of STS calls when none is set anywhere (the global endpoint's).
const FALLBACK_REGION: &str = "us-east-1";

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

impl From<aws_credential_types::Credentials> for AwsCredentials {
    fn from(c: aws_credential_types::Credentials) -> Self {
        AwsCredentials {
            access_key_id: c.access_key_id().to_owned(),
            secret_access_key: c.secret_access_key().to_owned().into(),
            session_token: c.session_token().map(|t| SecretString::from(t.to_owned())),
        }
    }
}

/// The AWS SDK's configuration as the aws CLI would load it: the shared
/// files and profile, timeouts, and the region of STS calls: `region`
/// (`--region`); else `AWS_REGION`, `AWS_DEFAULT_REGION` or the profile's
/// `region`; else us-east-1. Reads files and the environment only: nothing
/// is fetched until credentials are asked for.
pub async fn load_config(region: Option<&str>) -> SdkConfig {
    let region = RegionProviderChain::first_try(
        region
            .filter(|r| !r.is_empty())
            .map(|r| aws_config::Region::new(r.to_owned())),
    )
    .or_else(EnvironmentVariableRegionProvider::new())
    .or_else(ProfileFileRegionProvider::new())
    .or_else(aws_config::Region::from_static(FALLBACK_REGION));
    aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(CALL_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

impl AwsCredentials {
    /// The credentials of `config`'s default chain (see [`load_config`]);
    /// with `role_arn`, those of that role, assumed with them (session name
    /// `guard-<unix time>`).
    pub async fn resolve(config: &SdkConfig, role_arn: Option<&str>) -> Result<Self, ClientError> {
        let chain = config.credentials_provider().ok_or_else(|| {
            ClientError::NoAwsCredentials("the AWS SDK set up no credential chain".into())
        })?;
        let credentials = match role_arn {
            None => chain.provide_credentials().await,
            Some(role) => {
                let since = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default();
                AssumeRoleProvider::builder(role)
                    .session_name(format!("guard-{}", since.as_secs()))
                    .configure(config)
                    .build_from_provider(chain)
                    .await
                    .provide_credentials()
                    .await
            }
        };
        credentials
            .map(Self::from)
            .map_err(|e| explain(&e, role_arn))
    }
}

/// What to set when the chain found nothing.
const NONE_FOUND: &str = "none found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or \
     AWS_PROFILE with ~/.aws/config and ~/.aws/credentials (keys, role_arn, \
     credential_process, SSO), or AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN";

/// A credential failure in one line: what the chain says, with its causes.
fn explain(e: &CredentialsError, role_arn: Option<&str>) -> ClientError {
    if let CredentialsError::CredentialsNotLoaded(_) = e {
        return ClientError::NoAwsCredentials(NONE_FOUND.into());
    }
    let mut words = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !words.contains(&more) {
            words.push_str(": ");
            words.push_str(&more);
        }
        cause = c.source();
    }
    let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
    // The instance metadata service is the chain's last resort: when it
    // fails, nothing before it was configured.
    if words.contains("IMDS") {
        return ClientError::NoAwsCredentials(format!(
            "{NONE_FOUND} (the EC2 instance metadata service, tried last: {words})"
        ));
    }
    match role_arn {
        Some(role) => ClientError::Sts(format!("cannot assume {role}: {words}")),
        None => ClientError::NoAwsCredentials(words),
    }
}
