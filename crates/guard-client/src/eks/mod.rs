//! The user's side of `eks`: an aws-iam-authenticator token (a presigned
//! STS `GetCallerIdentity` URL bound to the cluster ID), from the user's AWS
//! credentials, optionally after assuming a role.
//!
//! * [`credentials`]: where the credentials come from (the AWS SDK's
//!   credential chain), and assuming `--role-arn`.
//! * [`sts`]: the STS endpoint of the token, and SigV4 signing.
//! * [`presign`]: the token itself.
//!
//! The server's checks of the same token live in guard-providers' `eks`
//! folder; [`presign`]'s test holds the two together.

pub mod credentials;
pub mod presign;
pub mod sts;

use std::time::{Duration, SystemTime};

pub use credentials::AwsCredentials;

use crate::ClientError;

/// How long kubectl may reuse a token: the server accepts one for 15
/// minutes after it was signed (aws-iam-authenticator's rule).
pub const REUSE_FOR: Duration = Duration::from_secs(14 * 60);

/// What a token is made for.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest<'a> {
    /// The cluster ID (the client certificate's `CN` on the guard server).
    pub cluster_id: &'a str,
    /// The region whose STS endpoint signs it; the global endpoint if none.
    pub region: Option<&'a str>,
    /// A role to assume first.
    pub role_arn: Option<&'a str>,
}

/// A token for `request` and when kubectl should stop reusing it.
pub async fn token(request: &TokenRequest<'_>) -> Result<(String, SystemTime), ClientError> {
    if request.cluster_id.is_empty() {
        return Err(ClientError::Invalid(
            "set --cluster-id (the cluster the token is for)".into(),
        ));
    }
    let region = request.region.filter(|r| !r.is_empty());
    let config = credentials::load_config(region).await;
    let endpoint = sts::endpoint(region, sts::configured_endpoint(&config).as_deref())?;
    let credentials = AwsCredentials::resolve(&config, request.role_arn).await?;
    let now = SystemTime::now();
    let token = presign::token(&credentials, request.cluster_id, region, &endpoint, now)?;
    Ok((token, now + REUSE_FOR))
}
