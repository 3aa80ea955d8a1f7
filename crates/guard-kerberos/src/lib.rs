//! Kerberos for guard's LDAP provider (`--ldap.auth-choice=Kerberos`).
//!
//! The token is Go Guard's: the standard base64 of a DER `KRB_AP_REQ`
//! without GSS-API framing (see [`token`]).
//!
//! - The server verifies tokens with a keytab and nothing else (no KDC):
//!   [`Verifier::new`], [`Verifier::load_keytab`] (the caller reloads it when
//!   the file changes) and [`Verifier::verify`], which returns the client
//!   [`Principal`] or a [`KerberosError`]; [`KerberosError::is_denial`] tells
//!   a refused token (a plain "not authenticated") from a problem of the
//!   server.
//! - The user's side gets a service ticket from the credential cache `kinit`
//!   filled, or with a password as Go Guard does, and makes tokens from it:
//!   [`client::Client`].
//!
//! Pure Rust: ASN.1 types and RFC 3961/3962 cryptography from Devolutions'
//! `picky-krb`; the keytab and credential cache formats, krb5.conf, the KDC
//! exchanges and the acceptor's checks are here. Supported encryption
//! types: aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96 (and des3-cbc-sha1
//! keys in a keytab).

mod crypto;
mod der;
mod error;
mod keytab;
mod principal;
mod replay;
mod verifier;

pub mod client;
pub mod token;

pub use error::{Denial, KerberosError, Result};
pub use keytab::{Keytab, KeytabEntry};
pub use principal::Principal;
pub use verifier::{Verifier, VerifierOptions};
