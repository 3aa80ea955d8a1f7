//! The crate's error type.

use std::path::PathBuf;

/// Why a token was refused: the answer is a plain "not authenticated".
///
/// Each of these says something about the token, never about the server:
/// a review that fails with one of them can be cached like any denial.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// Not base64, or not a DER `KRB_AP_REQ`.
    #[error("the token is not a Kerberos AP-REQ ({0})")]
    Malformed(String),
    /// The keytab holds no key for the service the ticket is for.
    #[error("the ticket is for {service}, which has no key in the keytab")]
    UnknownService {
        /// The ticket's service principal.
        service: String,
    },
    /// The ticket is for another service than the one configured.
    #[error("the ticket is for {service}, not for {expected}")]
    WrongService {
        /// The ticket's service principal.
        service: String,
        /// The configured service principal.
        expected: String,
    },
    /// The keytab holds keys for the service, but not of the ticket's key
    /// version: the service's key changed in the KDC and the keytab was not
    /// re-exported (or the ticket is older than the keytab's keys).
    #[error(
        "the ticket for {service} is encrypted with key version {kvno}; the keytab has {available:?}"
    )]
    WrongKvno {
        /// The ticket's service principal.
        service: String,
        /// The ticket's key version.
        kvno: u32,
        /// The key versions the keytab holds for that service.
        available: Vec<u32>,
    },
    /// The ticket is encrypted with an encryption type the keytab has no key
    /// for (or that this implementation does not support).
    #[error(
        "the ticket is encrypted with {}, which the keytab has no key for",
        crate::crypto::enctype_name(*enctype)
    )]
    NoKeyForEnctype {
        /// The ticket's encryption type number.
        enctype: i32,
    },
    /// The ticket is encrypted with an encryption type this implementation
    /// cannot decrypt (RC4, aes-sha2).
    #[error(
        "the ticket is encrypted with {}, which guard does not support (use aes256-cts-hmac-sha1-96 or aes128-cts-hmac-sha1-96 keys)",
        crate::crypto::enctype_name(*enctype)
    )]
    UnsupportedEnctype {
        /// The ticket's encryption type number.
        enctype: i32,
    },
    /// Decryption failed its integrity check: a wrong key or a forged or
    /// damaged token.
    #[error("the {what} does not decrypt with the {key}")]
    Undecryptable {
        /// The ticket or the authenticator.
        what: &'static str,
        /// Which key was tried.
        key: &'static str,
    },
    /// The authenticator names another client than the ticket.
    #[error("the authenticator's client does not match the ticket's")]
    ClientMismatch,
    /// The client's principal is in another realm than the configured one.
    #[error("the client {principal} is not in realm {expected}")]
    WrongRealm {
        /// The client principal, `name@REALM`.
        principal: String,
        /// The configured realm.
        expected: String,
    },
    /// The ticket's end time has passed.
    #[error("the ticket expired")]
    Expired,
    /// The ticket's start time is still to come.
    #[error("the ticket is not valid yet")]
    NotYetValid,
    /// The ticket is marked invalid (a postdated ticket not yet validated).
    #[error("the ticket is marked invalid")]
    Invalid,
    /// The authenticator's time is too far from the server's clock.
    #[error("the authenticator's time is outside the allowed clock skew")]
    ClockSkew,
    /// The same authenticator was seen before.
    #[error("the authenticator was already used (replay)")]
    Replay,
}

/// Everything that can go wrong in this crate.
///
/// [`KerberosError::Denied`] is a refused token; every other variant is a
/// problem of the server or of the user's setup (a missing keytab, an
/// unreachable KDC, no ticket in the credential cache), see
/// [`KerberosError::is_denial`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KerberosError {
    /// The token was refused.
    #[error("Kerberos ticket refused: {0}")]
    Denied(#[from] Denial),

    /// The keytab could not be read.
    #[error("cannot read the keytab {path}: {source}")]
    KeytabIo {
        /// The keytab's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The keytab is not a valid keytab file.
    #[error("{path} is not a usable keytab: {reason}")]
    KeytabFormat {
        /// The keytab's path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A principal name that cannot be used (`--ldap.spn`, a user name).
    #[error("invalid Kerberos principal name {name:?}: {reason}")]
    BadPrincipal {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The krb5.conf file could not be read.
    #[error("cannot read the Kerberos configuration {path}: {source}")]
    ConfigIo {
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No realm was given and krb5.conf has no `default_realm`.
    #[error("no Kerberos realm given and {path} has no default_realm in [libdefaults]")]
    NoRealm {
        /// The krb5.conf path.
        path: PathBuf,
    },
    /// krb5.conf lists no KDC for a realm.
    #[error("{path} lists no kdc for realm {realm} in [realms]")]
    NoKdc {
        /// The krb5.conf path.
        path: PathBuf,
        /// The realm.
        realm: String,
    },
    /// The credential cache could not be read.
    #[error("cannot read the Kerberos credential cache {path}: {source}; run kinit")]
    CcacheIo {
        /// The cache's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The credential cache is not a valid FILE: cache.
    #[error("{path} is not a usable Kerberos credential cache: {reason}")]
    CcacheFormat {
        /// The cache's path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The credential cache is of a type this implementation cannot read.
    #[error(
        "the Kerberos credential cache {name} is not a file; set KRB5CCNAME=FILE:/path and run kinit again"
    )]
    UnsupportedCcache {
        /// The cache name (`KEYRING:...`, `KCM:`, ...).
        name: String,
    },
    /// The credential cache holds no usable ticket.
    #[error("no valid Kerberos ticket for {principal} in {path}: run kinit")]
    NoTicket {
        /// The cache's path.
        path: PathBuf,
        /// The cache's principal (or what was looked for).
        principal: String,
    },
    /// No KDC of the realm answered.
    #[error("no KDC of realm {realm} answered ({detail})")]
    KdcUnreachable {
        /// The realm.
        realm: String,
        /// What happened with each KDC tried.
        detail: String,
    },
    /// The KDC refused the request.
    #[error("the KDC of realm {realm} refused: {message}")]
    Kdc {
        /// The realm.
        realm: String,
        /// The Kerberos error code (RFC 4120 7.5.9).
        code: u32,
        /// The error's name and the KDC's text.
        message: String,
    },
    /// The password is wrong (the KDC refused the pre-authentication made
    /// with it, or its reply does not decrypt with it).
    #[error("the Kerberos password is wrong")]
    WrongPassword,
    /// The KDC's answer could not be used.
    #[error("unusable answer from the KDC of realm {realm}: {reason}")]
    KdcResponse {
        /// The realm.
        realm: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An encryption type or parameter this implementation does not support.
    #[error("unsupported Kerberos parameter: {0}")]
    Unsupported(String),
    /// Encoding or encryption failed (a bug or an unusable key).
    #[error("Kerberos internal error: {0}")]
    Internal(String),
}

impl KerberosError {
    /// True when the token was refused (a plain "not authenticated"), false
    /// when the server or the setup is at fault.
    pub fn is_denial(&self) -> bool {
        matches!(self, KerberosError::Denied(_))
    }

    /// The reason a token was refused, if it was.
    pub fn denial(&self) -> Option<&Denial> {
        match self {
            KerberosError::Denied(d) => Some(d),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = KerberosError> = std::result::Result<T, E>;
