//! The LDAP provider (`ldap`): the bearer token is `base64(username:password)`.
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

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use guard_api::{AuthProvider, BearerToken};
use guard_auth::{BoxFuture, CheckError, Identity, Provider};
use ldap3::{
    DerefAliases, Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry,
    SearchOptions,
};

/// Time to connect (and finish TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for one LDAP operation.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle connections kept for user binds.
const AUTH_POOL_SIZE: usize = 8;
/// Most groups followed per nesting level.
const MAX_GROUPS: usize = 1000;

/// What the group member attribute holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemberValue {
    /// The user's DN (`groupOfNames`/`member`, Active Directory `member`).
    #[default]
    Dn,
    /// The username (`posixGroup`/`memberUid`).
    Username,
}

/// How users authenticate (`--ldap.auth-choice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthChoice {
    /// `base64(username:password)` and a simple bind.
    #[default]
    Simple,
    /// Kerberos tickets (not supported yet).
    Kerberos,
}

/// Options (`--ldap.*`).
#[derive(Debug, Clone)]
pub struct LdapOptions {
    /// `--ldap.server-address`
    pub server_address: String,
    /// `--ldap.server-port`
    pub server_port: u16,
    /// `--ldap.bind-dn` (`LDAP_BIND_DN`): the service account.
    pub bind_dn: Option<String>,
    /// `--ldap.bind-password` (`LDAP_BIND_PASSWORD`).
    pub bind_password: Option<String>,
    /// `--ldap.user-search-dn`
    pub user_search_dn: String,
    /// `--ldap.user-search-filter`
    pub user_search_filter: String,
    /// `--ldap.user-attribute`
    pub user_attribute: String,
    /// `--ldap.uid-attribute`: the attribute reported as uid; the entry's DN when unset.
    pub uid_attribute: Option<String>,
    /// `--ldap.group-search-dn`
    pub group_search_dn: String,
    /// `--ldap.group-search-filter`
    pub group_search_filter: String,
    /// `--ldap.group-member-attribute`
    pub group_member_attribute: String,
    /// `--ldap.group-member-value`
    pub group_member_value: MemberValue,
    /// `--ldap.group-name-attribute`
    pub group_name_attribute: String,
    /// `--ldap.nested-group-depth`: levels of groups-of-groups to follow (0: none).
    pub nested_group_depth: u32,
    /// `--ldap.skip-tls-verification`
    pub skip_tls_verification: bool,
    /// `--ldap.is-secure-ldap`: LDAPS.
    pub is_secure_ldap: bool,
    /// `--ldap.start-tls`
    pub start_tls: bool,
    /// `--ldap.ca-cert-file`
    pub ca_cert_file: Option<PathBuf>,
    /// `--ldap.auth-choice`
    pub auth_choice: AuthChoice,
}

impl Default for LdapOptions {
    fn default() -> Self {
        LdapOptions {
            server_address: String::new(),
            server_port: 389,
            bind_dn: None,
            bind_password: None,
            user_search_dn: String::new(),
            user_search_filter: "(objectClass=person)".into(),
            user_attribute: "uid".into(),
            uid_attribute: None,
            group_search_dn: String::new(),
            group_search_filter: "(objectClass=groupOfNames)".into(),
            group_member_attribute: "member".into(),
            group_member_value: MemberValue::Dn,
            group_name_attribute: "cn".into(),
            nested_group_depth: 0,
            skip_tls_verification: false,
            is_secure_ldap: false,
            start_tls: false,
            ca_cert_file: None,
            auth_choice: AuthChoice::Simple,
        }
    }
}

impl LdapOptions {
    /// Checks the options; the messages name the flag to fix.
    pub fn validate(&self) -> Result<(), String> {
        let required = [
            (&self.server_address, "--ldap.server-address"),
            (&self.user_search_dn, "--ldap.user-search-dn"),
            (&self.user_attribute, "--ldap.user-attribute"),
            (&self.group_search_dn, "--ldap.group-search-dn"),
            (
                &self.group_member_attribute,
                "--ldap.group-member-attribute",
            ),
            (&self.group_name_attribute, "--ldap.group-name-attribute"),
        ];
        if let Some((_, flag)) = required.iter().find(|(v, _)| v.trim().is_empty()) {
            return Err(format!("ldap is enabled: set {flag}"));
        }
        if self.is_secure_ldap && self.start_tls {
            return Err("--ldap.is-secure-ldap and --ldap.start-tls cannot both be set: pick LDAPS or StartTLS".into());
        }
        if self.auth_choice == AuthChoice::Kerberos {
            return Err("--ldap.auth-choice=Kerberos is not supported yet; use Simple (tokens are base64 of user:password)".into());
        }
        if self.bind_dn.is_some() != self.bind_password.is_some() {
            return Err("set both --ldap.bind-dn and --ldap.bind-password (or LDAP_BIND_DN and LDAP_BIND_PASSWORD), or neither".into());
        }
        for (filter, flag) in [
            (&self.user_search_filter, "--ldap.user-search-filter"),
            (&self.group_search_filter, "--ldap.group-search-filter"),
        ] {
            let f = filter.trim();
            if !(f.starts_with('(') && f.ends_with(')')) {
                return Err(format!(
                    "{flag} {filter:?} is not an LDAP filter: it must be enclosed in parentheses"
                ));
            }
        }
        Ok(())
    }

    fn url(&self) -> String {
        let scheme = if self.is_secure_ldap { "ldaps" } else { "ldap" };
        let host = if self.server_address.contains(':') && !self.server_address.starts_with('[') {
            format!("[{}]", self.server_address)
        } else {
            self.server_address.clone()
        };
        format!("{scheme}://{host}:{}", self.server_port)
    }
}

/// The LDAP provider.
pub struct LdapProvider {
    options: LdapOptions,
    url: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    service: tokio::sync::Mutex<Option<Ldap>>,
    auth_pool: Mutex<Vec<Ldap>>,
}

/// Why the provider cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LdapConfigError(String);

impl LdapProvider {
    /// Checks the options and reads the CA file; connects lazily.
    pub fn new(options: LdapOptions) -> Result<Self, LdapConfigError> {
        options.validate().map_err(LdapConfigError)?;
        let tls = match &options.ca_cert_file {
            Some(path) if !options.skip_tls_verification => Some(Arc::new(client_tls(path)?)),
            _ => None,
        };
        Ok(LdapProvider {
            url: options.url(),
            options,
            tls,
            service: tokio::sync::Mutex::new(None),
            auth_pool: Mutex::new(Vec::new()),
        })
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
        if let (Some(dn), Some(pw)) = (&self.options.bind_dn, &self.options.bind_password) {
            ldap.with_timeout(OPERATION_TIMEOUT);
            match ldap.simple_bind(dn, pw).await.and_then(|r| r.success()) {
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
        let (username, password) = decode_token(token.expose())?;

        // 1. Find the user (retrying once on a fresh service connection).
        let user = match self.find_user(&username).await {
            Err(CheckError::Unavailable(_)) => {
                self.forget_service().await;
                self.find_user(&username).await?
            }
            other => other?,
        };

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
            MemberValue::Username => username.clone(),
        };
        let groups = if self.options.bind_dn.is_some() {
            let mut service = self.service().await?;
            self.groups(&mut service, &member).await
        } else {
            self.groups(&mut auth, &member).await
        };
        self.return_auth_connection(auth);
        Ok(Identity {
            username,
            uid: user.uid,
            groups: groups?,
            extra: Default::default(),
        })
    }

    async fn find_user(&self, username: &str) -> Result<FoundUser, CheckError> {
        let mut ldap = self.service().await?;
        let filter = format!(
            "(&{}({}={}))",
            self.options.user_search_filter.trim(),
            self.options.user_attribute,
            ldap3::ldap_escape(username)
        );
        let attrs: Vec<&str> = match &self.options.uid_attribute {
            Some(a) => vec![a.as_str()],
            None => vec!["1.1"], // no attributes, only the DN
        };
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
        Ok(FoundUser { dn: entry.dn, uid })
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

/// Splits an LDAP bearer token, `base64(username:password)` (standard or
/// URL-safe, padded or not), into username and password.
pub fn decode_token(token: &str) -> Result<(String, String), CheckError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let malformed =
        || CheckError::Denied("malformed LDAP token (expected base64 of username:password)".into());
    let token = token.trim();
    let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(token).ok())
        .ok_or_else(malformed)?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let (user, password) = text.split_once(':').ok_or_else(malformed)?;
    if user.is_empty() {
        return Err(malformed());
    }
    if password.is_empty() {
        // An empty password makes a simple bind "unauthenticated": never try it.
        return Err(CheckError::Denied("empty LDAP password".into()));
    }
    Ok((user.to_owned(), password.to_owned()))
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

fn client_tls(path: &std::path::Path) -> Result<rustls::ClientConfig, LdapConfigError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let err = |reason: String| {
        LdapConfigError(format!("--ldap.ca-cert-file {}: {reason}", path.display()))
    };
    let data = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&data) {
        roots
            .add(cert.map_err(|e| err(e.to_string()))?)
            .map_err(|e| err(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(err("holds no PEM certificate".into()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

impl Provider for LdapProvider {
    fn kind(&self) -> AuthProvider {
        AuthProvider::Ldap
    }

    fn check<'a>(
        &'a self,
        _org: &'a str,
        token: &'a BearerToken,
    ) -> BoxFuture<'a, Result<Identity, CheckError>> {
        Box::pin(self.check_token(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_decode_in_every_base64_flavour() {
        for token in ["YWxpY2U6YWxpY2Vwdw==", "YWxpY2U6YWxpY2Vwdw"] {
            assert_eq!(
                decode_token(token).unwrap(),
                ("alice".into(), "alicepw".into())
            );
        }
        // URL-safe alphabet: "a?b:c>d" encodes with '_' / '-'.
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode("a?~:p>?~");
        assert!(
            url_safe.contains('_') || url_safe.contains('-'),
            "{url_safe}"
        );
        assert_eq!(
            decode_token(&url_safe).unwrap(),
            ("a?~".into(), "p>?~".into())
        );
        // Passwords may contain ':'.
        let t = base64::engine::general_purpose::STANDARD.encode("bob:pa:ss");
        assert_eq!(decode_token(&t).unwrap().1, "pa:ss");
    }

    #[test]
    fn malformed_and_empty_credentials_are_denied() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for token in ["%%%", &b64("no-colon"), &b64(":pw"), &b64("alice:")] {
            assert!(
                matches!(decode_token(token), Err(CheckError::Denied(_))),
                "{token}"
            );
        }
    }

    #[test]
    fn validation_names_the_flag() {
        let ok = LdapOptions {
            server_address: "ldap.example.com".into(),
            user_search_dn: "ou=users,dc=example,dc=com".into(),
            group_search_dn: "ou=groups,dc=example,dc=com".into(),
            ..LdapOptions::default()
        };
        assert!(ok.validate().is_ok());
        let e = LdapOptions {
            server_address: String::new(),
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("--ldap.server-address"), "{e}");
        let e = LdapOptions {
            is_secure_ldap: true,
            start_tls: true,
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("cannot both"), "{e}");
        let e = LdapOptions {
            auth_choice: AuthChoice::Kerberos,
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("not supported yet"), "{e}");
        let e = LdapOptions {
            user_search_filter: "objectClass=person".into(),
            ..ok.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("parentheses"), "{e}");
        assert_eq!(
            LdapOptions {
                server_address: "::1".into(),
                ..ok
            }
            .url(),
            "ldap://[::1]:389"
        );
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    #[test]
    fn arbitrary_tokens_never_panic() {
        let mut seed: u64 = 0xdead_beef_cafe_f00d;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let junk: Vec<u8> = (0..(seed % 120) as usize)
                .map(|j| (seed >> (j % 57)) as u8)
                .collect();
            let _ = decode_token(&String::from_utf8_lossy(&junk));
            let _ = decode_token(&base64::engine::general_purpose::STANDARD.encode(&junk));
        }
    }
}
