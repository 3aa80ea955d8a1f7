//! The server side of `ldap`. With `--ldap.auth-choice=Simple` the bearer
//! token is `base64(username:password)`; with `Kerberos` it is a service
//! ticket ([`super::kerberos`]) that names the user, and steps 1 and 3 below
//! follow (no bind as the user: the ticket is the proof).
//!
//! 1. Find the user: search `--ldap.user-search-dn` for
//!    `(&<user-search-filter>(<user-attribute>=<username>))`, the username
//!    escaped per RFC 4515. Exactly one entry, else not authenticated.
//! 2. Prove the password: a simple bind as that entry's DN, on a connection
//!    of its own. An empty password is refused before any bind (LDAP treats
//!    a DN with an empty password as an *unauthenticated* bind, which many
//!    servers report as success).
//! 3. Find the groups: search `--ldap.group-search-dn` for
//!    `(&<group-search-filter>(<group-member-attribute>=<user DN or username>))`,
//!    as the service account when one is configured (else as the user), and,
//!    with `--ldap.nested-group-depth`, the groups of those groups.
//!
//! Connections are reused: one bound service connection (searches are
//! multiplexed on it) and a small pool of connections for user binds. A
//! broken connection is dropped and replaced on the next review.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use guard_api::BearerToken;
use guard_auth::{BoxFuture, CheckError, Identity, Provider};
use ldap3::{
    DerefAliases, Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry,
    SearchOptions,
};
use secrecy::ExposeSecret as _;

use super::kerberos::KerberosCheck;
use super::options::{AuthChoice, FLAG_CA_CERT_FILE, LdapOptions, MemberValue};
use super::token::decode_token;
use crate::ProviderError;

/// Time to connect (and finish TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for one LDAP operation.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept for user binds.
const AUTH_POOL_SIZE: usize = 8;
/// Most groups followed per nesting level.
const MAX_GROUPS: usize = 1000;

/// The LDAP provider.
pub struct LdapProvider {
    options: LdapOptions,
    url: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    service: tokio::sync::Mutex<Option<Ldap>>,
    auth_pool: Mutex<Vec<Ldap>>,
    kerberos: Option<KerberosCheck>,
}

impl LdapProvider {
    /// Checks the options and reads the CA file and, for Kerberos, the
    /// keytab; connects lazily.
    pub fn new(options: LdapOptions) -> Result<Self, ProviderError> {
        options.validate()?;
        let tls = match &options.ca_cert_file {
            Some(path) if !options.skip_tls_verification => Some(Arc::new(client_tls(path)?)),
            _ => None,
        };
        let kerberos = match options.auth_choice {
            AuthChoice::Kerberos => {
                let kerberos = KerberosCheck::load(&options)?;
                kerberos.log_keytab();
                Some(kerberos)
            }
            AuthChoice::Simple => None,
        };
        Ok(LdapProvider {
            url: options.url(),
            options,
            tls,
            service: tokio::sync::Mutex::new(None),
            auth_pool: Mutex::new(Vec::new()),
            kerberos,
        })
    }

    /// With Kerberos, checks the keytab file for changes every `interval`
    /// (keys rotated in the KDC and exported again are used without a
    /// restart); `None` in simple mode.
    pub fn spawn_reloader(&self, interval: Duration) -> Option<tokio::task::JoinHandle<()>> {
        self.kerberos
            .as_ref()
            .map(|kerberos| kerberos.spawn_reloader(interval))
    }

    async fn connect(&self) -> Result<Ldap, LdapError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(CONNECT_TIMEOUT)
            .set_starttls(self.options.start_tls)
            .set_no_tls_verify(self.options.skip_tls_verification);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (conn, ldap) = LdapConnAsync::with_settings(settings, &self.url).await?;
        ldap3::drive!(conn);
        Ok(ldap)
    }

    /// The shared service connection, bound as the service account (or
    /// anonymous), connecting when there is none or it broke.
    async fn service(&self) -> Result<Ldap, CheckError> {
        let mut slot = self.service.lock().await;
        if let Some(ldap) = slot.as_mut()
            && !ldap.is_closed()
        {
            return Ok(ldap.clone());
        }
        *slot = None;
        let mut ldap = self
            .connect()
            .await
            .map_err(|e| unavailable("connect", &e))?;
        if let (Some(dn), Some(pw)) = (self.options.bind_dn(), self.options.bind_password()) {
            ldap.with_timeout(OPERATION_TIMEOUT);
            match ldap
                .simple_bind(dn, pw.expose_secret())
                .await
                .and_then(|r| r.success())
            {
                Ok(_) => {}
                Err(LdapError::LdapResult { result }) => {
                    tracing::error!(
                        rc = result.rc,
                        "LDAP service account bind as {dn} failed: {}",
                        result.text
                    );
                    return Err(CheckError::Unavailable(
                        "the LDAP service account cannot bind (check --ldap.bind-dn and its password)".into(),
                    ));
                }
                Err(e) => return Err(unavailable("bind", &e)),
            }
        }
        *slot = Some(ldap.clone());
        Ok(ldap)
    }

    async fn forget_service(&self) {
        *self.service.lock().await = None;
    }

    fn take_auth_connection(&self) -> Option<Ldap> {
        let mut pool = self.auth_pool.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut ldap) = pool.pop() {
            if !ldap.is_closed() {
                return Some(ldap);
            }
        }
        None
    }

    fn return_auth_connection(&self, ldap: Ldap) {
        let mut pool = self.auth_pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < AUTH_POOL_SIZE {
            pool.push(ldap);
        }
    }

    async fn check_token(&self, token: &BearerToken) -> Result<Identity, CheckError> {
        if let Some(kerberos) = &self.kerberos {
            return self.check_ticket(kerberos, token).await;
        }
        let (username, password) = decode_token(token.expose())?;

        // 1. Find the user.
        let user = self.find_user_retrying(&username).await?;

        // 2. Prove the password on a connection of its own.
        let mut auth = match self.take_auth_connection() {
            Some(ldap) => ldap,
            None => self
                .connect()
                .await
                .map_err(|e| unavailable("connect", &e))?,
        };
        auth.with_timeout(OPERATION_TIMEOUT);
        match auth
            .simple_bind(&user.dn, &password)
            .await
            .and_then(|r| r.success())
        {
            Ok(_) => {}
            Err(LdapError::LdapResult { result }) => {
                // 49 invalidCredentials, or locked/expired/disabled accounts (53, 19, ...).
                return Err(CheckError::Denied(format!(
                    "LDAP bind as the user failed (rc {}: {})",
                    result.rc,
                    result.text.trim()
                )));
            }
            Err(e) => return Err(unavailable("bind", &e)),
        }

        // 3. Groups: as the service account if there is one, else as the user.
        let member = match self.options.group_member_value {
            MemberValue::Dn => user.dn.clone(),
            MemberValue::Username => user.username.clone(),
        };
        let groups = if self.options.bind_dn().is_some() {
            let mut service = self.service().await?;
            self.groups(&mut service, &member).await
        } else {
            self.groups(&mut auth, &member).await
        };
        self.return_auth_connection(auth);
        Ok(Identity {
            username: user.username,
            uid: user.uid,
            groups: groups?,
            extra: Default::default(),
        })
    }

    /// Kerberos: the ticket names the user; the directory gives the groups.
    async fn check_ticket(
        &self,
        kerberos: &KerberosCheck,
        token: &BearerToken,
    ) -> Result<Identity, CheckError> {
        let username = kerberos.username(token.expose())?;
        let user = self.find_user_retrying(&username).await?;
        let member = match self.options.group_member_value {
            MemberValue::Dn => user.dn.clone(),
            MemberValue::Username => user.username.clone(),
        };
        let mut service = self.service().await?;
        let groups = self.groups(&mut service, &member).await?;
        Ok(Identity {
            username: user.username,
            uid: user.uid,
            groups,
            extra: Default::default(),
        })
    }

    /// [`Self::find_user`], retried once on a fresh service connection.
    async fn find_user_retrying(&self, username: &str) -> Result<FoundUser, CheckError> {
        match self.find_user(username).await {
            Err(CheckError::Unavailable(_)) => {
                self.forget_service().await;
                self.find_user(username).await
            }
            other => other,
        }
    }

    async fn find_user(&self, username: &str) -> Result<FoundUser, CheckError> {
        let mut ldap = self.service().await?;
        let filter = format!(
            "(&{}({}={}))",
            self.options.user_search_filter.trim(),
            self.options.user_attribute,
            ldap3::ldap_escape(username)
        );
        let user_attribute = self.options.user_attribute.as_str();
        let mut attrs = vec![user_attribute];
        if let Some(a) = &self.options.uid_attribute {
            attrs.push(a.as_str());
        }
        let result = ldap
            .with_search_options(SearchOptions::new().deref(DerefAliases::Never).sizelimit(2))
            .with_timeout(OPERATION_TIMEOUT)
            .search(&self.options.user_search_dn, Scope::Subtree, &filter, attrs)
            .await
            .map_err(|e| unavailable("search", &e))?;
        // rc 4 (sizeLimitExceeded) means more than one entry.
        if result.1.rc == 4 || result.0.len() > 1 {
            return Err(CheckError::Denied(
                "the username matches more than one LDAP entry".into(),
            ));
        }
        if result.1.rc != 0 && result.1.rc != 32 {
            tracing::warn!(
                rc = result.1.rc,
                "LDAP user search failed: {}",
                result.1.text
            );
            return Err(CheckError::Unavailable(format!(
                "LDAP user search failed (rc {})",
                result.1.rc
            )));
        }
        let Some(entry) = result.0.into_iter().next() else {
            return Err(CheckError::Denied("no such LDAP user".into()));
        };
        let entry = SearchEntry::construct(entry);
        let uid = match &self.options.uid_attribute {
            Some(a) => first_value(&entry, a).unwrap_or_else(|| entry.dn.clone()),
            None => entry.dn.clone(),
        };
        // The directory matched with its own rules (uid ignores case and
        // surrounding spaces): the Kubernetes user is the directory's value,
        // so that `ALICE`, ` alice ` and `alice` are one user.
        let username = canonical_value(&entry, user_attribute, username).ok_or_else(|| {
            tracing::error!(
                dn = entry.dn.as_str(),
                "the LDAP entry found has no readable {user_attribute} (check --ldap.user-attribute and the service account's rights)"
            );
            CheckError::Unavailable(format!("the LDAP entry has no readable {user_attribute}"))
        })?;
        Ok(FoundUser {
            dn: entry.dn,
            uid,
            username,
        })
    }

    async fn groups(&self, ldap: &mut Ldap, member: &str) -> Result<Vec<String>, CheckError> {
        let o = &self.options;
        let mut names = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut members = vec![member.to_owned()];
        for level in 0..=o.nested_group_depth {
            if members.is_empty() {
                break;
            }
            let any_member: String = members
                .iter()
                .map(|m| {
                    format!(
                        "({}={})",
                        o.group_member_attribute,
                        ldap3::ldap_escape(m.as_str())
                    )
                })
                .collect();
            let filter = format!("(&{}(|{any_member}))", o.group_search_filter.trim());
            let result = ldap
                .with_search_options(SearchOptions::new().deref(DerefAliases::Never))
                .with_timeout(OPERATION_TIMEOUT)
                .search(
                    &o.group_search_dn,
                    Scope::Subtree,
                    &filter,
                    vec![o.group_name_attribute.as_str()],
                )
                .await
                .map_err(|e| unavailable("group search", &e))?;
            if result.1.rc != 0 && result.1.rc != 32 {
                return Err(CheckError::Unavailable(format!(
                    "LDAP group search failed (rc {})",
                    result.1.rc
                )));
            }
            members = Vec::new();
            for entry in result.0.into_iter().map(SearchEntry::construct) {
                if !seen.insert(entry.dn.to_ascii_lowercase()) {
                    continue;
                }
                if let Some(name) = first_value(&entry, &o.group_name_attribute) {
                    names.push(name);
                }
                // Groups contain groups by DN; only DN membership nests.
                if o.group_member_value == MemberValue::Dn && level < o.nested_group_depth {
                    members.push(entry.dn);
                }
            }
            members.truncate(MAX_GROUPS);
        }
        Ok(names)
    }
}

struct FoundUser {
    dn: String,
    uid: String,
    /// The user attribute's value as the directory holds it.
    username: String,
}

/// The value of `attr` that the directory matched for `typed`: the one
/// equal to it ignoring case and surrounding or repeated spaces (LDAP's
/// caseIgnoreMatch), else the first.
fn canonical_value(entry: &SearchEntry, attr: &str, typed: &str) -> Option<String> {
    let fold = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let values = entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .map(|(_, v)| v.as_slice())
        .unwrap_or_default();
    let typed = fold(typed);
    values
        .iter()
        .find(|v| fold(v) == typed)
        .or_else(|| values.first())
        .filter(|v| !v.is_empty())
        .cloned()
}

/// The first value of `attr` (attribute names are case-insensitive).
fn first_value(entry: &SearchEntry, attr: &str) -> Option<String> {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first().cloned())
        .filter(|v| !v.is_empty())
}

fn unavailable(what: &str, e: &LdapError) -> CheckError {
    tracing::warn!("LDAP {what} failed: {e}");
    let reason = match e {
        LdapError::Timeout { .. } => "timed out",
        LdapError::Io { .. } => "connection failed",
        _ => "failed",
    };
    CheckError::Unavailable(format!("LDAP server {what} {reason}"))
}

fn client_tls(path: &std::path::Path) -> Result<rustls::ClientConfig, ProviderError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let data = ProviderError::read(FLAG_CA_CERT_FILE, path)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&data) {
        let cert = cert.map_err(|e| {
            ProviderError::bad_file(FLAG_CA_CERT_FILE, path, "not a PEM certificate file", e)
        })?;
        roots.add(cert).map_err(|e| ProviderError::BadCa {
            flag: FLAG_CA_CERT_FILE,
            path: path.to_owned(),
            source: Some(e),
        })?;
    }
    if roots.is_empty() {
        return Err(ProviderError::BadCa {
            flag: FLAG_CA_CERT_FILE,
            path: path.to_owned(),
            source: None,
        });
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProviderError::BadCa {
            flag: FLAG_CA_CERT_FILE,
            path: path.to_owned(),
            source: Some(e),
        })
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

impl Provider for LdapProvider {
    fn name(&self) -> &'static str {
        super::NAME
    }

    fn may_be_mine(&self, token: &BearerToken) -> bool {
        !crate::token_kind::is_eks(token.expose())
    }

    fn check<'a>(
        &'a self,
        _org: &'a str,
        token: &'a BearerToken,
    ) -> BoxFuture<'a, Result<Identity, CheckError>> {
        Box::pin(self.check_token(token))
    }

    fn allows_system_groups(&self) -> bool {
        self.options.allow_system_groups
    }
}
