//! guard's public key infrastructure: a certificate authority, the webhook
//! server's certificate, and the client certificates the API server presents.
//!
//! The layout and certificate contents follow Go Guard, so that a PKI written
//! by either tool works with the other:
//!
//! | file | subject | extended key usage |
//! |---|---|---|
//! | `ca.crt`, `ca.key` | `CN=ca` | (CA) |
//! | `server.crt`, `server.key` | `CN=server` | serverAuth |
//! | `NAME@PROVIDER.crt`, `.key` | `O=PROVIDER, CN=NAME` | clientAuth |
//!
//! All files live in `PKI_DIR/pki/`. Keys are written with mode 0600 and the
//! directory with 0700; an existing file is only replaced when the caller
//! asks for it.

mod authority;
mod dir;
mod error;
mod key;

pub use dir::{CA, SERVER};

pub use authority::{CertificateAuthority, ClientSpec, IssuedPair, ServerSpec, Validity};
pub use dir::{Overwrite, PkiDir};
pub use error::PkiError;
pub use key::KeyAlgorithm;
