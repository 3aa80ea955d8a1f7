//! `eks`: AWS identities through aws-iam-authenticator tokens.
//!
//! * [`options`]: the flags `--eks.*`.
//! * [`install`]: the mapping file in Secret `guard-eks-auth`.
//! * [`token`]: the token format and its validation before any request
//!   (the SSRF boundary).
//! * [`arn`]: callers and their canonical ARNs.
//! * [`mapping`]: ARNs to users and groups (`aws-auth`'s format).
//! * [`provider`]: the STS call and the mapping, reloaded when it changes.

pub mod arn;
pub mod install;
pub mod mapping;
pub mod options;
pub mod provider;
pub mod token;

use std::sync::Arc;

use guard_api::InstallerPart;

pub use arn::{Caller, canonicalize};
pub use mapping::{Mapping, RoleMapping, UserMapping};
pub use options::EksOptions;
pub use provider::EksProvider;
pub use token::{
    CLUSTER_ID_HEADER, TOKEN_LIFETIME, TOKEN_PREFIX, ValidatedToken, is_sts_host, validate_token,
};

use crate::ProviderError;
use crate::spec::{BuildContext, ClientName, ProviderSpec};

/// The provider's name.
pub const NAME: &str = "eks";

impl ProviderSpec for EksOptions {
    const NAME: &'static str = NAME;
    const CLIENT_NAME: ClientName = ClientName::Required("any name the API server is known by");

    fn validate(&self) -> Result<(), ProviderError> {
        EksOptions::validate(self)
    }

    fn installer_part(&self) -> Result<InstallerPart, ProviderError> {
        install::part(self)
    }

    fn build(
        &self,
        context: &BuildContext,
    ) -> Result<Arc<dyn guard_auth::Provider>, ProviderError> {
        let eks = EksProvider::new(context.http()?, self)?;
        context.keep_running(eks.spawn_reloader(context.reload_interval));
        Ok(eks)
    }
}
