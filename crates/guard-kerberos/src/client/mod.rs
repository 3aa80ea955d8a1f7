//! The user's side: a service ticket for the SPN, from the TGT in the
//! user's credential cache (after `kinit`) or from a password (Go Guard's
//! way), and the token that presents it.
//!
//! ```no_run
//! # fn main() -> Result<(), guard_kerberos::KerberosError> {
//! use guard_kerberos::client::Client;
//! let client = Client::new(std::path::Path::new("/etc/krb5.conf"))?;
//! let ticket = client.service_ticket_from_ccache("HTTP/guard.example.com")?;
//! let token = ticket.token()?; // the bearer token for kubectl
//! # let _ = token; Ok(()) }
//! ```

mod ccache;
mod kdc;
mod krb5conf;
mod transport;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use picky_krb::data_types::Ticket;

pub use krb5conf::Krb5Config;

use crate::der::from_der;
use crate::error::{KerberosError, Result};
use crate::principal::{Principal, PrincipalText};
use crate::token;
use ccache::Ccache;
use kdc::Credential;

/// How long a cached ticket must still be valid to be used: the token must
/// outlive its trip to the server.
const VALIDITY_MARGIN: Duration = Duration::from_secs(60);
/// The default deadline of each step of a KDC exchange.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A Kerberos client configured from a krb5.conf file.
#[derive(Debug, Clone)]
pub struct Client {
    config: Krb5Config,
    ccache: Option<String>,
    timeout: Duration,
}

impl Client {
    /// A client with the settings of this krb5.conf (Go Guard's
    /// `--ldap.krb5-config`, `/etc/krb5.conf` by default).
    pub fn new(krb5_conf: &Path) -> Result<Self> {
        Ok(Client::with_config(Krb5Config::load(krb5_conf)?))
    }

    /// A client with these settings.
    pub fn with_config(config: Krb5Config) -> Self {
        Client {
            config,
            ccache: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Uses this credential cache (`FILE:/path`, a path, `DIR:/dir`) instead
    /// of `KRB5CCNAME` / krb5.conf's `default_ccache_name` /
    /// `/tmp/krb5cc_<uid>`.
    pub fn ccache(mut self, name: impl Into<String>) -> Self {
        self.ccache = Some(name.into());
        self
    }

    /// The deadline of each connect, send and receive with a KDC.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The settings in use.
    pub fn config(&self) -> &Krb5Config {
        &self.config
    }

    /// The credential cache file this client reads.
    pub fn ccache_path(&self) -> Result<PathBuf> {
        let env = std::env::var("KRB5CCNAME").ok();
        let name = self
            .ccache
            .as_deref()
            .or(env.as_deref())
            .or(self.config.default_ccache_name());
        ccache::resolve(name)
    }

    /// The service principal for `spn` (`HTTP/host` or `HTTP/host@REALM`):
    /// without a realm, the host's realm from `[domain_realm]`, else the
    /// default realm, else `fallback_realm`.
    pub fn service_principal(&self, spn: &str, fallback_realm: &str) -> Result<Principal> {
        let text = PrincipalText::parse(spn)?;
        let realm = match text.realm {
            Some(r) => r,
            None => text
                .components
                .get(1)
                .and_then(|host| self.config.realm_of_host(host))
                .or(self.config.default_realm())
                .unwrap_or(fallback_realm)
                .to_owned(),
        };
        Ok(Principal::new(text.components, realm))
    }

    /// A ticket for `spn` with the user's credential cache: a ticket for it
    /// already in the cache, else one from the KDC with the cache's TGT. The
    /// cache is not written to.
    pub fn service_ticket_from_ccache(&self, spn: &str) -> Result<ServiceTicket> {
        let path = self.ccache_path()?;
        let cache = Ccache::load(&path)?;
        let client = cache.principal.clone();
        let service = self.service_principal(spn, client.realm())?;
        let now = SystemTime::now();
        let as_credential = |c: &ccache::CachedCredential| -> Result<Credential> {
            let ticket: Ticket = from_der(&c.ticket).map_err(|e| KerberosError::CcacheFormat {
                path: path.clone(),
                reason: format!("a ticket for {}: {e}", c.server),
            })?;
            Ok(Credential {
                client: c.client.clone(),
                server: c.server.clone(),
                ticket,
                key: c.key.clone(),
                endtime: c.endtime,
            })
        };
        if let Some(cached) = cache.find(&service, now, VALIDITY_MARGIN) {
            return Ok(ServiceTicket(as_credential(cached)?));
        }
        // A cross-realm TGT for the service's realm, else the client
        // realm's own TGT.
        let tgs =
            |realm: &str| Principal::new(vec!["krbtgt".into(), realm.to_owned()], client.realm());
        let tgt = cache
            .find(&tgs(service.realm()), now, VALIDITY_MARGIN)
            .or_else(|| cache.find(&tgs(client.realm()), now, VALIDITY_MARGIN))
            .ok_or_else(|| KerberosError::NoTicket {
                path: path.clone(),
                principal: client.to_string(),
            })?;
        let cred = kdc::service_ticket(&self.config, &as_credential(tgt)?, &service, self.timeout)?;
        Ok(ServiceTicket(cred))
    }

    /// A ticket for `spn` by logging in with a password (Go Guard's
    /// `--ldap.username`/`--ldap.password`): AS exchange for a TGT, then a
    /// TGS exchange. `realm` is the user's realm; krb5.conf's default realm
    /// when `None`.
    pub fn service_ticket_with_password(
        &self,
        user: &str,
        realm: Option<&str>,
        password: &str,
        spn: &str,
    ) -> Result<ServiceTicket> {
        let realm = realm
            .filter(|r| !r.is_empty())
            .or(self.config.default_realm());
        let client = match realm {
            Some(r) => Principal::parse(user, Some(r))?,
            None => Principal::parse(user, None).map_err(|_| KerberosError::NoRealm {
                path: self.config.path().to_owned(),
            })?,
        };
        let tgt = kdc::as_exchange(&self.config, &client, password, self.timeout)?;
        let service = self.service_principal(spn, client.realm())?;
        let cred = kdc::service_ticket(&self.config, &tgt, &service, self.timeout)?;
        Ok(ServiceTicket(cred))
    }
}

/// A ticket for a service and its session key: what a token is made from.
#[derive(Debug, Clone)]
pub struct ServiceTicket(Credential);

impl ServiceTicket {
    /// The user the ticket is for.
    pub fn client(&self) -> &Principal {
        &self.0.client
    }

    /// The service the ticket is for.
    pub fn service(&self) -> &Principal {
        &self.0.server
    }

    /// When the ticket expires (tokens made from it are refused after that).
    pub fn expires(&self) -> SystemTime {
        self.0.endtime
    }

    /// A new token (Go Guard's base64 AP-REQ) with an authenticator for now.
    pub fn token(&self) -> Result<String> {
        self.token_at(SystemTime::now())
    }

    /// A token with an authenticator for `now`.
    pub fn token_at(&self, now: SystemTime) -> Result<String> {
        Ok(token::encode(&self.ap_req_at(now)?))
    }

    /// The DER AP-REQ with an authenticator for `now`.
    pub fn ap_req_at(&self, now: SystemTime) -> Result<Vec<u8>> {
        kdc::service_ap_req(&self.0, now)
    }
}

/// [`Client::service_ticket_from_ccache`] with the krb5.conf at `krb5_conf`.
pub fn service_ticket_from_ccache(spn: &str, krb5_conf: &Path) -> Result<ServiceTicket> {
    Client::new(krb5_conf)?.service_ticket_from_ccache(spn)
}

/// [`Client::service_ticket_with_password`] with the krb5.conf at
/// `krb5_conf`.
pub fn service_ticket_with_password(
    user: &str,
    realm: Option<&str>,
    password: &str,
    spn: &str,
    krb5_conf: &Path,
) -> Result<ServiceTicket> {
    Client::new(krb5_conf)?.service_ticket_with_password(user, realm, password, spn)
}

/// Tickets minted without a KDC, for the tests of the verifier.
#[cfg(test)]
pub(crate) mod mint {
    use std::time::SystemTime;

    use picky_asn1::wrapper::{
        ExplicitContextTag0, ExplicitContextTag1, ExplicitContextTag2, ExplicitContextTag3,
        ExplicitContextTag4, ExplicitContextTag5, ExplicitContextTag6, ExplicitContextTag7,
        OctetStringAsn1, Optional,
    };
    use picky_krb::data_types::{
        EncTicketPart, EncTicketPartInner, EncryptedData, Ticket, TicketInner, TransitedEncoding,
    };

    use super::{Credential, ServiceTicket};
    use crate::crypto::Key;
    use crate::der::{flags, int, kstring, ktime, principal_name, to_der};
    use crate::principal::Principal;

    /// What a test ticket looks like.
    pub(crate) struct Spec<'a> {
        pub(crate) client: &'a Principal,
        pub(crate) service: &'a Principal,
        pub(crate) service_key: &'a Key,
        pub(crate) kvno: Option<u32>,
        pub(crate) start: SystemTime,
        pub(crate) end: SystemTime,
        pub(crate) flags: u32,
        pub(crate) session_enctype: i32,
    }

    /// A ticket encrypted with the service's key, as a KDC would issue it.
    #[allow(clippy::unwrap_used)]
    pub(crate) fn ticket(spec: &Spec<'_>) -> ServiceTicket {
        let session_key = Key::random(spec.session_enctype).unwrap();
        let part = EncTicketPart::from(EncTicketPartInner {
            flags: ExplicitContextTag0::from(flags(spec.flags)),
            key: ExplicitContextTag1::from(session_key.to_asn1()),
            crealm: ExplicitContextTag2::from(kstring(spec.client.realm()).unwrap()),
            cname: ExplicitContextTag3::from(principal_name(1, spec.client.components()).unwrap()),
            transited: ExplicitContextTag4::from(TransitedEncoding {
                tr_type: ExplicitContextTag0::from(int(1)),
                contents: ExplicitContextTag1::from(OctetStringAsn1::from(Vec::new())),
            }),
            auth_time: ExplicitContextTag5::from(ktime(spec.start).unwrap()),
            starttime: Optional::from(Some(ExplicitContextTag6::from(ktime(spec.start).unwrap()))),
            endtime: ExplicitContextTag7::from(ktime(spec.end).unwrap()),
            renew_till: Optional::from(None),
            caddr: Optional::from(None),
            authorization_data: Optional::from(None),
        });
        let cipher = spec
            .service_key
            .encrypt(2, &to_der(&part).unwrap())
            .unwrap();
        let ticket = Ticket::from(TicketInner {
            tkt_vno: ExplicitContextTag0::from(int(5)),
            realm: ExplicitContextTag1::from(kstring(spec.service.realm()).unwrap()),
            sname: ExplicitContextTag2::from(principal_name(2, spec.service.components()).unwrap()),
            enc_part: ExplicitContextTag3::from(EncryptedData {
                etype: ExplicitContextTag0::from(int(spec.service_key.enctype().into())),
                kvno: Optional::from(spec.kvno.map(|k| ExplicitContextTag1::from(int(k.into())))),
                cipher: ExplicitContextTag2::from(OctetStringAsn1::from(cipher)),
            }),
        });
        ServiceTicket(Credential {
            client: spec.client.clone(),
            server: spec.service.clone(),
            ticket,
            key: session_key,
            endtime: spec.end,
        })
    }

    /// The same ticket presented by another client name.
    pub(crate) fn presented_by(ticket: &ServiceTicket, client: &Principal) -> ServiceTicket {
        let mut cred = ticket.0.clone();
        cred.client = client.clone();
        ServiceTicket(cred)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const CONF: &str = "[libdefaults]\n default_realm = DEFAULT.TEST\n\
        [domain_realm]\n .corp.example.com = CORP.EXAMPLE.COM\n";

    #[test]
    fn the_service_realm_comes_from_the_spn_the_host_or_the_default() {
        let client = Client::with_config(Krb5Config::parse(CONF));
        let realm = |spn: &str| {
            client
                .service_principal(spn, "USER.TEST")
                .unwrap()
                .realm()
                .to_owned()
        };
        assert_eq!(
            realm("HTTP/guard.corp.example.com@EXPLICIT.TEST"),
            "EXPLICIT.TEST"
        );
        assert_eq!(realm("HTTP/guard.corp.example.com"), "CORP.EXAMPLE.COM");
        assert_eq!(realm("HTTP/guard.elsewhere.org"), "DEFAULT.TEST");
        let bare = Client::with_config(Krb5Config::parse(""));
        let p = bare
            .service_principal("HTTP/guard.elsewhere.org", "USER.TEST")
            .unwrap();
        assert_eq!(p.to_string(), "HTTP/guard.elsewhere.org@USER.TEST");
        assert!(matches!(
            bare.service_principal("HTTP//x", "R"),
            Err(KerberosError::BadPrincipal { .. })
        ));
    }

    #[test]
    fn an_explicit_ccache_wins() {
        let client = Client::with_config(Krb5Config::parse(CONF)).ccache("FILE:/some/where");
        assert_eq!(client.ccache_path().unwrap(), PathBuf::from("/some/where"));
        let err = Client::with_config(Krb5Config::parse(CONF))
            .ccache("KEYRING:persistent:1000")
            .service_ticket_from_ccache("HTTP/x")
            .unwrap_err();
        assert!(err.to_string().contains("KRB5CCNAME=FILE:"), "{err}");
    }

    #[test]
    fn a_password_login_without_any_realm_is_a_clear_error() {
        let client = Client::with_config(Krb5Config::parse(""));
        let err = client
            .service_ticket_with_password("alice", None, "pw", "HTTP/x")
            .unwrap_err();
        assert!(matches!(err, KerberosError::NoRealm { .. }), "{err}");
        let err = client
            .service_ticket_with_password("alice", Some("NOKDC.TEST"), "pw", "HTTP/x")
            .unwrap_err();
        assert!(matches!(err, KerberosError::NoKdc { .. }), "{err}");
    }
}
