//! `ldap`: LDAP / Active Directory users and groups; the token is
//! `base64(username:password)`, or with `--ldap.auth-choice=Kerberos` a
//! Kerberos service ticket.
//!
//! * [`options`]: the flags `--ldap.*`.
//! * [`install`]: the flags, and Secret `guard-ldap-auth` with the service
//!   account and the CA.
//! * [`token`]: the token format.
//! * [`provider`]: the search, bind and group lookups, with pooled
//!   connections.
//! * `kerberos`: tickets verified with the keytab, which is reloaded when
//!   it changes.

pub mod install;
mod kerberos;
pub mod options;
pub mod provider;
pub mod token;

use std::sync::Arc;

use guard_api::InstallerPart;

pub use options::{AuthChoice, LdapOptions, MemberValue};
pub use provider::LdapProvider;
pub use token::decode_token;

use crate::ProviderError;
use crate::spec::{BuildContext, ClientName, ProviderSpec};

/// The provider's name.
pub const NAME: &str = "ldap";

impl ProviderSpec for LdapOptions {
    const NAME: &'static str = NAME;
    const CLIENT_NAME: ClientName = ClientName::Optional;

    fn validate(&self) -> Result<(), ProviderError> {
        LdapOptions::validate(self)
    }

    fn installer_part(&self) -> Result<InstallerPart, ProviderError> {
        install::part(self)
    }

    fn build(
        &self,
        context: &BuildContext,
    ) -> Result<Arc<dyn guard_auth::Provider>, ProviderError> {
        let provider = LdapProvider::new(self.clone())?;
        if let Some(reloader) = provider.spawn_reloader(context.reload_interval) {
            context.keep_running(reloader);
        }
        Ok(Arc::new(provider))
    }
}
