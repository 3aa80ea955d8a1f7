use std::fmt;
use std::str::FromStr;

use rcgen::{KeyPair, RsaKeySize, SignatureAlgorithm};

use crate::PkiError;

/// The algorithm of a newly generated key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyAlgorithm {
    /// RSA 2048 with SHA-256 signatures: what Go Guard and kubeadm write.
    #[default]
    Rsa2048,
    /// RSA 3072 with SHA-256 signatures.
    Rsa3072,
    /// RSA 4096 with SHA-256 signatures.
    Rsa4096,
    /// ECDSA on P-256 with SHA-256: small keys, fast handshakes.
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
}

impl KeyAlgorithm {
    /// Every algorithm, with its command-line name.
    pub const ALL: [(KeyAlgorithm, &'static str); 5] = [
        (KeyAlgorithm::Rsa2048, "rsa2048"),
        (KeyAlgorithm::Rsa3072, "rsa3072"),
        (KeyAlgorithm::Rsa4096, "rsa4096"),
        (KeyAlgorithm::EcdsaP256, "ecdsa-p256"),
        (KeyAlgorithm::EcdsaP384, "ecdsa-p384"),
    ];

    /// The command-line name (`rsa2048`, `ecdsa-p256`, ...).
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(a, _)| *a == self)
            .map(|(_, n)| *n)
            .unwrap_or("rsa2048")
    }

    /// Whether keys of this algorithm are RSA keys.
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096
        )
    }

    pub(crate) fn generate(self) -> Result<KeyPair, PkiError> {
        let rsa = |size| KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size);
        let pair = match self {
            KeyAlgorithm::Rsa2048 => rsa(RsaKeySize::_2048),
            KeyAlgorithm::Rsa3072 => rsa(RsaKeySize::_3072),
            KeyAlgorithm::Rsa4096 => rsa(RsaKeySize::_4096),
            KeyAlgorithm::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyAlgorithm::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        };
        pair.map_err(|e| PkiError::Generate(format!("key generation failed: {e}")))
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        let alias = match wanted.as_str() {
            "rsa" => "rsa2048",
            "ecdsa" | "p256" | "ecdsa-256" => "ecdsa-p256",
            "p384" | "ecdsa-384" => "ecdsa-p384",
            other => other,
        };
        Self::ALL
            .iter()
            .find(|(_, n)| *n == alias)
            .map(|(a, _)| *a)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|(_, n)| *n).collect();
                format!(
                    "unknown key algorithm {s:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Signature algorithms an existing key may be used with, most preferred
/// first, found by trying each (rcgen needs the algorithm to load a key).
pub(crate) fn load_key_pair(pem: &str) -> Result<KeyPair, String> {
    let der = rustls_pki_types::PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("no private key found ({e})"))?;
    const CANDIDATES: [&SignatureAlgorithm; 4] = [
        &rcgen::PKCS_RSA_SHA256,
        &rcgen::PKCS_ECDSA_P256_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ED25519,
    ];
    CANDIDATES
        .into_iter()
        .find_map(|alg| KeyPair::from_der_and_sign_algo(&der, alg).ok())
        .ok_or_else(|| "unsupported key type (expected RSA, ECDSA P-256/P-384 or Ed25519)".into())
}

use rustls_pki_types::pem::PemObject as _;
