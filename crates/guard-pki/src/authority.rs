use std::net::IpAddr;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;

use crate::PkiError;
use crate::key::KeyAlgorithm;
use rcgen::PublicKeyData as _;

/// How long a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity(pub Duration);

impl Validity {
    /// Ten years: the CA's default, as in Go Guard.
    pub const CA_DEFAULT: Validity = Validity(Duration::from_secs(3650 * 24 * 3600));
    /// One year: the default of server and client certificates.
    pub const LEAF_DEFAULT: Validity = Validity(Duration::from_secs(365 * 24 * 3600));
}

/// `notBefore` is set this far in the past so that a machine whose clock is
/// slightly behind the one that issued the certificate still accepts it.
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// A certificate and its private key, PEM encoded.
#[derive(Clone)]
pub struct IssuedPair {
    /// The certificate (`-----BEGIN CERTIFICATE-----`).
    pub cert_pem: String,
    /// The private key, PKCS#8 (`-----BEGIN PRIVATE KEY-----`).
    pub key_pem: String,
}

impl std::fmt::Debug for IssuedPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedPair")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// What goes into the webhook server's certificate.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// IP subject alternative names (the addresses the API server dials).
    pub ips: Vec<IpAddr>,
    /// DNS subject alternative names.
    pub domains: Vec<String>,
    /// Key algorithm of the new key.
    pub key_algorithm: KeyAlgorithm,
    /// Lifetime.
    pub validity: Validity,
}

/// What goes into a client certificate.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// The `CN`: the organisation, domain or any name the provider uses.
    pub name: String,
    /// The providers' names, each written as one `O`, in the order the
    /// webhook tries them (at most [`MAX_CLIENT_PROVIDERS`]).
    pub providers: Vec<String>,
    /// Key algorithm of the new key.
    pub key_algorithm: KeyAlgorithm,
    /// Lifetime.
    pub validity: Validity,
}

/// What goes into the proxy's front-proxy client certificate: the
/// certificate kube-apiserver's request-header authenticator accepts
/// (signed by `--requestheader-client-ca-file`, its CN listed in
/// `--requestheader-allowed-names`).
#[derive(Debug, Clone)]
pub struct FrontProxyClientSpec {
    /// The `CN` (kubeadm's allowed name is `front-proxy-client`).
    pub common_name: String,
    /// Key algorithm of the new key.
    pub key_algorithm: KeyAlgorithm,
    /// Lifetime.
    pub validity: Validity,
}

/// The most providers (`O` values) `issue_client` writes into one
/// certificate: rcgen keeps one value per attribute type, and the `O`
/// attribute has two spellings it tells apart (its name and its OID).
pub const MAX_CLIENT_PROVIDERS: usize = 2;

/// A loaded or freshly made certificate authority that can sign
/// server and client certificates.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Makes a new self-signed CA (`CN=ca`), returning it and its files.
    pub fn generate(
        key_algorithm: KeyAlgorithm,
        validity: Validity,
    ) -> Result<(Self, IssuedPair), PkiError> {
        let key = key_algorithm.generate()?;
        let mut params = base_params("ca", None, validity)?;
        // pathLen 0: the CA signs guard's server and client certificates
        // only; a CA certificate issued under it is not trusted.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyCertSign,
        ];
        if !key_algorithm.is_rsa() {
            params
                .key_usages
                .retain(|u| *u != KeyUsagePurpose::KeyEncipherment);
        }
        let cert = params.self_signed(&key)?;
        let pair = IssuedPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        let ca = CertificateAuthority {
            issuer: Issuer::new(params, key),
            cert_pem: pair.cert_pem.clone(),
        };
        Ok((ca, pair))
    }

    /// Loads a CA from its PEM certificate and key, as written by guard or
    /// by Go Guard (PKCS#1 `RSA PRIVATE KEY`). The paths only label errors.
    pub fn from_pem(
        cert_pem: &str,
        key_pem: &str,
        cert_path: &std::path::Path,
        key_path: &std::path::Path,
    ) -> Result<Self, PkiError> {
        let bad_cert = |reason: String| PkiError::BadCertificate {
            path: cert_path.to_owned(),
            reason,
        };
        let key = crate::key::load_key_pair(key_pem).map_err(|reason| PkiError::BadKey {
            path: key_path.to_owned(),
            reason,
        })?;
        let der = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| bad_cert(format!("no certificate found ({e})")))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| bad_cert(format!("cannot parse it ({e})")))?;
        // rcgen copies the subject RDN by RDN and panics on an empty one: check first.
        if parsed.subject().iter().any(|rdn| rdn.iter().count() != 1) {
            return Err(bad_cert(
                "its subject has an empty or multi-valued RDN".into(),
            ));
        }
        if !parsed.is_ca() {
            return Err(bad_cert(
                "it is not a CA certificate (basicConstraints CA:FALSE)".into(),
            ));
        }
        if parsed.public_key().subject_public_key.data.as_ref() != key.der_bytes() {
            return Err(PkiError::KeyMismatch {
                cert: cert_path.to_owned(),
                key: key_path.to_owned(),
            });
        }
        let issuer = Issuer::from_ca_cert_der(&der, key)
            .map_err(|e| bad_cert(format!("cannot use it to sign ({e})")))?;
        Ok(CertificateAuthority {
            issuer,
            cert_pem: cert_pem.to_owned(),
        })
    }

    /// Loads a CA from its certificate and key files, e.g. kubeadm's
    /// `front-proxy-ca.crt` and `front-proxy-ca.key`.
    pub fn load(cert_path: &std::path::Path, key_path: &std::path::Path) -> Result<Self, PkiError> {
        let read = |path: &std::path::Path| {
            std::fs::read_to_string(path).map_err(|e| PkiError::io("cannot read", path, e))
        };
        Self::from_pem(&read(cert_path)?, &read(key_path)?, cert_path, key_path)
    }

    /// The CA certificate, PEM encoded.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues the webhook server's certificate: `CN=server`, serverAuth, the
    /// given IP and DNS names as subject alternative names.
    pub fn issue_server(&self, spec: &ServerSpec) -> Result<IssuedPair, PkiError> {
        let mut params = base_params("server", None, spec.validity)?;
        params.subject_alt_names = spec
            .ips
            .iter()
            .map(|ip| Ok(SanType::IpAddress(*ip)))
            .chain(spec.domains.iter().map(|d| dns_san(d)))
            .collect::<Result<_, PkiError>>()?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params, spec.key_algorithm)
    }

    /// Issues a client certificate: `O=PROVIDER` (one per provider, in
    /// order), `CN=NAME`, clientAuth.
    pub fn issue_client(&self, spec: &ClientSpec) -> Result<IssuedPair, PkiError> {
        let (first, more) = match spec.providers.as_slice() {
            [] => {
                return Err(PkiError::Generate(
                    "a client certificate needs a provider".into(),
                ));
            }
            [first, more @ ..] if more.len() < MAX_CLIENT_PROVIDERS => (first, more),
            _ => {
                return Err(PkiError::Generate(format!(
                    "a client certificate holds at most {MAX_CLIENT_PROVIDERS} providers, not {}",
                    spec.providers.len()
                )));
            }
        };
        let mut params = base_params(&spec.name, Some(first), spec.validity)?;
        if let [second] = more {
            // The same attribute (2.5.4.10) by its OID: rcgen keeps one value
            // per attribute type, so this is how a second `O` is written.
            // It goes after the first `O` and before the `CN`.
            let cn = params
                .distinguished_name
                .get(&DnType::CommonName)
                .cloned()
                .ok_or_else(|| PkiError::Generate("the certificate has no CN".into()))?;
            params.distinguished_name.remove(DnType::CommonName);
            params
                .distinguished_name
                .push(DnType::CustomDnType(vec![2, 5, 4, 10]), second.as_str());
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        // Go Guard also puts the name in a DNS SAN; keep it when it is a valid one.
        if let Ok(san) = dns_san(&spec.name) {
            params.subject_alt_names = vec![san];
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params, spec.key_algorithm)
    }

    /// Issues a front-proxy client certificate: `CN=NAME` and no `O`
    /// (the API server reads the user from headers, not from this
    /// certificate), clientAuth.
    pub fn issue_front_proxy_client(
        &self,
        spec: &FrontProxyClientSpec,
    ) -> Result<IssuedPair, PkiError> {
        let mut params = base_params(&spec.common_name, None, spec.validity)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params, spec.key_algorithm)
    }

    fn issue(
        &self,
        mut params: CertificateParams,
        key_algorithm: KeyAlgorithm,
    ) -> Result<IssuedPair, PkiError> {
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if key_algorithm.is_rsa() {
            params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
        }
        params.use_authority_key_identifier_extension = true;
        let key = key_algorithm.generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn dns_san(name: &str) -> Result<SanType, PkiError> {
    let valid = !name.is_empty()
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
        });
    if !valid {
        return Err(PkiError::Generate(format!(
            "{name:?} is not a valid DNS name"
        )));
    }
    Ok(SanType::DnsName(name.try_into()?))
}

fn base_params(
    common_name: &str,
    organization: Option<&str>,
    validity: Validity,
) -> Result<CertificateParams, PkiError> {
    if common_name.trim().is_empty() {
        return Err(PkiError::Generate("the certificate name is empty".into()));
    }
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    if let Some(o) = organization {
        dn.push(DnType::OrganizationName, o);
    }
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now
        .checked_add(
            time::Duration::try_from(validity.0).map_err(|e| PkiError::Generate(e.to_string()))?,
        )
        .ok_or_else(|| PkiError::Generate("validity is too long".into()))?;
    params.serial_number = Some(random_serial()?);
    Ok(params)
}

/// A random positive 128-bit serial number.
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| PkiError::Generate("the system random generator failed".into()))?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // keep the full length, so the serial is never short or zero
    Ok(SerialNumber::from_slice(&bytes))
}

use rustls_pki_types::pem::PemObject as _;

#[cfg(test)]
mod tests {
    use x509_parser::certificate::X509Certificate;
    use x509_parser::extensions::GeneralName;
    use x509_parser::parse_x509_certificate;

    use super::*;

    fn ca(algorithm: KeyAlgorithm) -> (CertificateAuthority, IssuedPair) {
        CertificateAuthority::generate(algorithm, Validity::CA_DEFAULT).unwrap()
    }

    fn with_cert<T>(pem: &str, check: impl FnOnce(&X509Certificate<'_>) -> T) -> T {
        let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let (_, cert) = parse_x509_certificate(&der).unwrap();
        check(&cert)
    }

    #[test]
    fn a_client_certificate_carries_the_provider_as_o_and_the_name_as_cn() {
        let (ca, ca_pair) = ca(KeyAlgorithm::EcdsaP256);
        let pair = ca
            .issue_client(&ClientSpec {
                name: "Acme".into(),
                providers: vec!["github".into()],
                key_algorithm: KeyAlgorithm::EcdsaP256,
                validity: Validity::LEAF_DEFAULT,
            })
            .unwrap();
        with_cert(&pair.cert_pem, |cert| {
            let subject = cert.subject();
            let o: Vec<_> = subject
                .iter_organization()
                .map(|o| o.as_str().unwrap())
                .collect();
            assert_eq!(o, ["github"]);
            assert_eq!(
                subject.iter_common_name().next().unwrap().as_str().unwrap(),
                "Acme"
            );
            let eku = cert.extended_key_usage().unwrap().unwrap().value;
            assert!(eku.client_auth && !eku.server_auth);
            assert!(!cert.is_ca());
        });
        with_cert(&ca_pair.cert_pem, |issuer| {
            with_cert(&pair.cert_pem, |cert| {
                assert_eq!(cert.issuer(), issuer.subject());
                cert.verify_signature(Some(issuer.public_key())).unwrap();
            });
        });
        assert!(!format!("{pair:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn a_server_certificate_lists_its_ips_and_names() {
        let (ca, _) = ca(KeyAlgorithm::EcdsaP256);
        let pair = ca
            .issue_server(&ServerSpec {
                ips: vec!["10.96.10.96".parse().unwrap()],
                domains: vec!["guard.kube-system.svc".into()],
                key_algorithm: KeyAlgorithm::EcdsaP256,
                validity: Validity::LEAF_DEFAULT,
            })
            .unwrap();
        with_cert(&pair.cert_pem, |cert| {
            let san = cert.subject_alternative_name().unwrap().unwrap().value;
            assert!(
                san.general_names
                    .contains(&GeneralName::IPAddress(&[10, 96, 10, 96]))
            );
            assert!(
                san.general_names
                    .contains(&GeneralName::DNSName("guard.kube-system.svc"))
            );
            let eku = cert.extended_key_usage().unwrap().unwrap().value;
            assert!(eku.server_auth && !eku.client_auth);
        });
        assert!(crate::certificate_covers(&pair.cert_pem, "10.96.10.96").unwrap());
        assert!(crate::certificate_covers(&pair.cert_pem, "guard.kube-system.svc").unwrap());
        assert!(!crate::certificate_covers(&pair.cert_pem, "10.96.10.97").unwrap());
    }

    #[test]
    fn a_ca_reloads_from_its_files_and_refuses_a_foreign_key() {
        let (_, pair) = ca(KeyAlgorithm::EcdsaP256);
        let (_, other) = ca(KeyAlgorithm::EcdsaP256);
        let (c, k) = (
            std::path::Path::new("ca.crt"),
            std::path::Path::new("ca.key"),
        );
        let loaded = CertificateAuthority::from_pem(&pair.cert_pem, &pair.key_pem, c, k).unwrap();
        assert_eq!(loaded.cert_pem(), pair.cert_pem);
        let mismatch = CertificateAuthority::from_pem(&pair.cert_pem, &other.key_pem, c, k);
        assert!(matches!(mismatch, Err(PkiError::KeyMismatch { .. })));
        let garbage = CertificateAuthority::from_pem("not pem", &pair.key_pem, c, k);
        assert!(matches!(garbage, Err(PkiError::BadCertificate { .. })));
    }

    #[test]
    fn a_client_certificate_may_carry_two_providers_in_order() {
        let (ca, _) = ca(KeyAlgorithm::EcdsaP256);
        let spec = |providers: &[&str]| ClientSpec {
            name: "acme".into(),
            providers: providers.iter().map(|p| (*p).to_owned()).collect(),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            validity: Validity::LEAF_DEFAULT,
        };
        let pair = ca.issue_client(&spec(&["token-auth", "github"])).unwrap();
        with_cert(&pair.cert_pem, |cert| {
            let subject = cert.subject();
            let o: Vec<_> = subject
                .iter_organization()
                .map(|o| o.as_str().unwrap())
                .collect();
            assert_eq!(o, ["token-auth", "github"]);
            assert_eq!(subject.to_string(), "O=token-auth, O=github, CN=acme");
        });
        let e = ca
            .issue_client(&spec(&["token-auth", "github", "gitlab"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 2 providers"), "{e}");
        assert!(ca.issue_client(&spec(&[])).is_err());
    }

    #[test]
    fn names_that_are_no_dns_name_get_no_san_but_a_certificate() {
        let (ca, _) = ca(KeyAlgorithm::EcdsaP256);
        let pair = ca
            .issue_client(&ClientSpec {
                name: "team one".into(),
                providers: vec!["token-auth".into()],
                key_algorithm: KeyAlgorithm::EcdsaP256,
                validity: Validity::LEAF_DEFAULT,
            })
            .unwrap();
        with_cert(&pair.cert_pem, |cert| {
            assert!(cert.subject_alternative_name().unwrap().is_none());
        });
        assert!(dns_san("").is_err() && dns_san("a..b").is_err() && dns_san("*.x.y").is_ok());
    }
}
