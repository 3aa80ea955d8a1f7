use rustls_pki_types::CertificateDer;

/// Who is calling, from the verified client certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientIdentity {
    /// The subject's organizations (`O`), in certificate order: the
    /// providers' names.
    pub organizations: Vec<String>,
    /// The `CN`: the organisation or domain passed to the provider.
    pub common_name: String,
}

impl ClientIdentity {
    /// Reads the leaf certificate of a verified TLS peer. `None` when the
    /// client sent no certificate (or one that cannot be parsed, which the
    /// TLS layer would already have rejected).
    pub fn from_peer(certs: Option<&[CertificateDer<'_>]>) -> Option<Self> {
        let leaf = certs?.first()?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
        let subject = cert.subject();
        let organizations = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok())
            .map(str::to_owned)
            .collect();
        let common_name = subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_owned();
        Some(ClientIdentity {
            organizations,
            common_name,
        })
    }
}
