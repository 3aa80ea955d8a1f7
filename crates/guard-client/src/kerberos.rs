//! The LDAP provider's Kerberos token (`--ldap.auth-choice=Kerberos`): Go
//! Guard's base64 of a DER `KRB_AP_REQ` for the guard server's service
//! principal (`--ldap.spn`).
//!
//! The service ticket comes from the user's credential cache, after `kinit`
//! (so no password goes through kubectl), or, as Go Guard's client does it,
//! from logging in to the KDC with a username and password.

use std::path::Path;
use std::time::{Duration, SystemTime};

use guard_kerberos::KerberosError;
use guard_kerberos::client::{Client, ServiceTicket};
use secrecy::{ExposeSecret as _, SecretString};

use crate::ClientError;

/// How long kubectl may reuse one token. The server refuses an
/// authenticator it has seen before once its own and the API server's
/// caches of the answer have expired (one and two minutes by default), so
/// kubectl must ask for a fresh token before then.
pub const TOKEN_REUSE: Duration = Duration::from_secs(60);

/// Where the service ticket is for and how the KDC is found.
#[derive(Debug, Clone, Copy)]
pub struct KerberosLogin<'a> {
    /// The guard server's service principal (`HTTP/guard.example.com`, or
    /// with `@REALM`).
    pub spn: &'a str,
    /// The user's realm for the password login [default: krb5.conf's
    /// default realm].
    pub realm: Option<&'a str>,
    /// krb5.conf: KDCs, default realm, `[domain_realm]`, the default
    /// credential cache.
    pub krb5_config: &'a Path,
}

/// A token and when kubectl should stop reusing it.
#[derive(Debug)]
pub struct KerberosToken {
    /// The bearer token.
    pub token: SecretString,
    /// When kubectl should ask for a new one.
    pub expires: SystemTime,
    /// The user the ticket is for, without the realm (`alice`).
    pub user: String,
}

impl KerberosLogin<'_> {
    fn client(&self) -> Result<Client, ClientError> {
        if self.spn.trim().is_empty() {
            return Err(ClientError::Invalid(
                "set --ldap.spn (the guard server's service principal, e.g. HTTP/guard.example.com)"
                    .into(),
            ));
        }
        Client::new(self.krb5_config).map_err(ClientError::Kerberos)
    }

    /// A token from the ticket-granting ticket in the user's credential
    /// cache (`KRB5CCNAME`, krb5.conf's `default_ccache_name`, or
    /// `/tmp/krb5cc_UID`). [`ClientError::NeedsKinit`] when it holds no
    /// usable ticket.
    pub fn token_from_ccache(&self) -> Result<KerberosToken, ClientError> {
        let client = self.client()?;
        let ticket = client
            .service_ticket_from_ccache(self.spn)
            .map_err(|e| match e {
                KerberosError::CcacheIo { path, source }
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    ClientError::NeedsKinit(format!(
                        "no Kerberos ticket: {} does not exist; run kinit (or pass --ldap.username to log in with your password)",
                        path.display()
                    ))
                }
                KerberosError::NoTicket { path, principal } => {
                    ClientError::NeedsKinit(format!(
                        "no valid Kerberos ticket for {principal} in {}: run kinit {principal} (or pass --ldap.username to log in with your password)",
                        path.display()
                    ))
                }
                other => ClientError::Kerberos(other),
            })?;
        make_token(&ticket)
    }

    /// A token from logging in with `username` (in [`Self::realm`] unless it
    /// names one) and `password`: Go Guard's way.
    pub fn token_with_password(
        &self,
        username: &str,
        password: &SecretString,
    ) -> Result<KerberosToken, ClientError> {
        if username.trim().is_empty() {
            return Err(ClientError::Invalid("set --ldap.username".into()));
        }
        if password.expose_secret().is_empty() {
            return Err(ClientError::Invalid("the password is empty".into()));
        }
        let ticket = self
            .client()?
            .service_ticket_with_password(
                username,
                self.realm.filter(|r| !r.is_empty()),
                password.expose_secret(),
                self.spn,
            )
            .map_err(ClientError::Kerberos)?;
        make_token(&ticket)
    }
}

fn make_token(ticket: &ServiceTicket) -> Result<KerberosToken, ClientError> {
    let token = ticket.token().map_err(ClientError::Kerberos)?;
    let expires = ticket.expires().min(SystemTime::now() + TOKEN_REUSE);
    Ok(KerberosToken {
        token: SecretString::from(token),
        expires,
        user: ticket.client().name(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spn_and_the_credentials_are_required() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("krb5.conf");
        std::fs::write(&conf, "[libdefaults]\n default_realm = R\n").unwrap();
        let login = KerberosLogin {
            spn: "",
            realm: None,
            krb5_config: &conf,
        };
        let e = login.token_from_ccache().unwrap_err().to_string();
        assert!(e.contains("set --ldap.spn"), "{e}");
        let login = KerberosLogin {
            spn: "HTTP/guard.example.com",
            ..login
        };
        let pw = SecretString::from("pw".to_owned());
        let e = login.token_with_password("", &pw).unwrap_err().to_string();
        assert_eq!(e, "set --ldap.username");
        let e = login
            .token_with_password("alice", &SecretString::from(String::new()))
            .unwrap_err();
        assert_eq!(e.to_string(), "the password is empty");
    }
}
