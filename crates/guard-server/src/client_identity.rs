use rustls_pki_types::CertificateDer;

/// Who is calling, from the verified client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The subject's organizations (`O`), in certificate order: the
    /// providers' names.
    pub organizations: Vec<String>,
    /// The `CN`: the organisation or domain passed to the provider.
    pub common_name: CommonName,
}

/// The subject's common name (`CN`), or why there is none to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommonName {
    /// One readable, non-blank `CN`, as written.
    Text(String),
    /// No usable `CN`; the text says why ("has no CN"), for the answer.
    Unusable(&'static str),
}

impl CommonName {
    /// Reads the `CN` of a subject: exactly one, a text string, not blank.
    pub fn of(subject: &x509_parser::x509::X509Name<'_>) -> Self {
        let mut names = subject.iter_common_name();
        let Some(first) = names.next() else {
            return CommonName::Unusable("has no CN");
        };
        if names.next().is_some() {
            return CommonName::Unusable("has more than one CN");
        }
        match first.as_str() {
            Ok(name) if name.trim().is_empty() => CommonName::Unusable("has an empty CN"),
            Ok(name) => CommonName::Text(name.to_owned()),
            Err(_) => CommonName::Unusable("has a CN that is not readable text"),
        }
    }

    /// The name, or `""` when it is unusable (for providers that do not
    /// read it, and for logs).
    pub fn as_str(&self) -> &str {
        match self {
            CommonName::Text(name) => name,
            CommonName::Unusable(_) => "",
        }
    }
}

impl From<&str> for CommonName {
    fn from(name: &str) -> Self {
        CommonName::Text(name.to_owned())
    }
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
        Some(ClientIdentity {
            organizations,
            common_name: CommonName::of(subject),
        })
    }
}
