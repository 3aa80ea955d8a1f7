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
//! | `front-proxy-client.crt`, `.key` (signed by the API server's front-proxy CA) | `CN=front-proxy-client` | clientAuth |
//!
//! All files live in `PKI_DIR/pki/`. Keys are written with mode 0600 and the
//! directory with 0700; an existing file is only replaced when the caller
//! asks for it.

mod authority;
mod dir;
mod error;
mod key;

pub use dir::{CA, FRONT_PROXY_CLIENT, SERVER};

pub use authority::{
    CertificateAuthority, ClientSpec, FrontProxyClientSpec, IssuedPair, MAX_CLIENT_PROVIDERS,
    ServerSpec, Validity,
};
pub use dir::{Overwrite, PkiDir};
pub use error::PkiError;
pub use key::KeyAlgorithm;

/// Why the certificate in `cert_pem` is not valid at this moment
/// (`expired on ...`, `not valid before ...`), or `None` when it is.
pub fn certificate_not_valid_now(cert_pem: &str) -> Result<Option<String>, String> {
    use rustls_pki_types::pem::PemObject as _;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| format!("no certificate found ({e})"))?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&der).map_err(|e| format!("cannot parse it ({e})"))?;
    let validity = cert.validity();
    let now = x509_parser::time::ASN1Time::now().timestamp();
    Ok(if now > validity.not_after.timestamp() {
        Some(format!("expired on {}", validity.not_after))
    } else if now < validity.not_before.timestamp() {
        Some(format!("is not valid before {}", validity.not_before))
    } else {
        None
    })
}

/// Whether the PEM certificate `cert_pem` is valid for `host` (an IP
/// address or a DNS name, `*.` wildcards honoured): what the API server
/// checks when it dials guard.
pub fn certificate_covers(cert_pem: &str, host: &str) -> Result<bool, String> {
    use rustls_pki_types::pem::PemObject as _;
    use x509_parser::extensions::GeneralName;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| format!("no certificate found ({e})"))?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&der).map_err(|e| format!("cannot parse it ({e})"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: Option<std::net::IpAddr> = host.parse().ok();
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Ok(false);
    };
    Ok(san.value.general_names.iter().any(|name| match (name, ip) {
        (GeneralName::IPAddress(bytes), Some(ip)) => match ip {
            std::net::IpAddr::V4(v4) => *bytes == v4.octets(),
            std::net::IpAddr::V6(v6) => *bytes == v6.octets(),
        },
        (GeneralName::DNSName(dns), None) => {
            let (dns, host) = (dns.to_ascii_lowercase(), host.to_ascii_lowercase());
            match dns.strip_prefix("*.") {
                Some(suffix) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
                None => dns == host,
            }
        }
        _ => false,
    }))
}
