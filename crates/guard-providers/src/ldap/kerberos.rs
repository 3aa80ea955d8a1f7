//! `--ldap.auth-choice=Kerberos`: the bearer token is Go Guard's, the
//! standard base64 of a DER `KRB_AP_REQ`, verified with the keytab alone
//! (no KDC is asked). The client principal `user@REALM` names the LDAP user
//! `user`, whose groups the provider then looks up.
//!
//! * Tickets for another service than `--ldap.spn` (or Go Guard's
//!   `--ldap.service-account`), expired tickets, replayed authenticators and
//!   keys of another version than the keytab's are plain denials.
//! * Users must be of `--ldap.realm`, or, when it is unset, of a realm the
//!   keytab's service principals are in: a trusted foreign realm's `erin` is
//!   not the directory's `erin` unless the operator says so.
//! * The keytab is reloaded when its file changes (guard-auth's file-reload
//!   helper); the replay cache outlives reloads.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use guard_auth::reload::Reloading;
use guard_auth::{CheckError, ErrorChain};
use guard_kerberos::{KerberosError, Keytab, Verifier, VerifierOptions};

use super::options::{FLAG_KEYTAB_FILE, LdapOptions};
use crate::ProviderError;

/// The Kerberos half of the LDAP provider: keytab, verifier, realm rule.
pub(crate) struct KerberosCheck {
    verifier: Arc<Verifier>,
    keytab: Arc<Reloading<Keytab, ProviderError>>,
    realm: Option<String>,
}

/// The keytab problem as one line naming the flag (guard-kerberos' messages
/// carry the path and the cause).
fn keytab_error(e: &KerberosError) -> ProviderError {
    ProviderError::Invalid(format!("{FLAG_KEYTAB_FILE}: {e}"))
}

impl KerberosCheck {
    /// Loads the keytab (an error when it cannot serve the options: missing,
    /// broken, no supported key, no key for the SPN).
    pub(crate) fn load(options: &LdapOptions) -> Result<Self, ProviderError> {
        let path = options
            .keytab_file()
            .ok_or_else(|| ProviderError::Invalid(format!("set {FLAG_KEYTAB_FILE}")))?
            .to_owned();
        let verifier = Verifier::new(VerifierOptions {
            spn: options.spn().map(str::to_owned),
            realm: options.realm().map(str::to_owned),
            clock_skew: options.clock_skew,
            ..VerifierOptions::default()
        })
        .map_err(|e| ProviderError::Invalid(format!("--ldap.spn: {e}")))?;
        let verifier = Arc::new(verifier);
        let keytab = {
            let verifier = verifier.clone();
            let path = path.clone();
            Reloading::load(vec![path.clone()], move || {
                verifier.load_keytab(&path).map_err(|e| keytab_error(&e))
            })?
        };
        Ok(KerberosCheck {
            verifier,
            keytab,
            realm: options.realm().map(str::to_owned),
        })
    }

    /// Logs what the keytab in use holds (principals and key versions).
    pub(crate) fn log_keytab(&self) {
        log_keytab(
            &self.keytab.paths()[0],
            &self.keytab.current(),
            "keytab loaded",
        );
    }

    /// Checks the keytab file for changes every `interval`, logging reloads
    /// and errors (the keys in use stay until a usable file replaces them).
    pub(crate) fn spawn_reloader(&self, interval: Duration) -> tokio::task::JoinHandle<()> {
        self.keytab
            .spawn_reloader(interval, |keytab, result| match result {
                Ok(new) => log_keytab(&keytab.paths()[0], new, "keytab reloaded"),
                Err(e) => tracing::error!("{}; keeping the keys loaded before", ErrorChain(e)),
            })
    }

    /// The LDAP username the token proves (`alice` for `alice@REALM`), or a
    /// denial.
    pub(crate) fn username(&self, token: &str) -> Result<String, CheckError> {
        let keytab = self.keytab.current();
        let client = self.verifier.verify(&keytab, token).map_err(|e| {
            if e.is_denial() {
                CheckError::Denied(e.to_string())
            } else {
                // Not reached with a loaded keytab; never blame the user.
                tracing::error!("Kerberos verification failed: {e}");
                CheckError::Unavailable("the Kerberos keytab cannot be used".into())
            }
        })?;
        if self.realm.is_none()
            && !keytab
                .entries()
                .any(|e| e.principal.realm().eq_ignore_ascii_case(client.realm()))
        {
            return Err(CheckError::Denied(format!(
                "the client {client} is of another realm than the service (set --ldap.realm to accept that realm)"
            )));
        }
        Ok(client.name())
    }
}

fn log_keytab(path: &Path, keytab: &Keytab, what: &str) {
    let mut principals: Vec<String> = keytab
        .entries()
        .map(|e| format!("{} (kvno {})", e.principal, e.kvno))
        .collect();
    principals.dedup();
    tracing::info!(
        keytab = %path.display(),
        keys = keytab.len(),
        principals = %principals.join(", "),
        "{what}"
    );
}
