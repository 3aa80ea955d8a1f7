//! `ldap`: LDAP / Active Directory users and groups; the token is
//! `base64(username:password)`.
//!
//! * [`options`]: the flags `--ldap.*`.
//! * [`install`]: the flags, and Secret `guard-ldap-auth` with the service
//!   account and the CA.
//! * [`token`]: the token format.
//! * [`provider`]: the search, bind and group lookups, with pooled
//!   connections.

pub mod install;
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
        _context: &BuildContext,
    ) -> Result<Arc<dyn guard_auth::Provider>, ProviderError> {
        Ok(Arc::new(LdapProvider::new(self.clone())?))
    }
}
