//! Keys and the RFC 3961 operations on them, over picky-krb's ciphers.

use std::fmt;

use picky_asn1::wrapper::{ExplicitContextTag0, ExplicitContextTag1, OctetStringAsn1};
use picky_krb::crypto::{ChecksumSuite, CipherSuite, KerberosCryptoError};
use picky_krb::data_types::EncryptionKey;
use zeroize::Zeroizing;

use crate::der::{int, int32};
use crate::error::{KerberosError, Result};

/// aes256-cts-hmac-sha1-96 (RFC 3962).
pub(crate) const AES256_CTS_HMAC_SHA1_96: i32 = 18;
/// aes128-cts-hmac-sha1-96 (RFC 3962).
pub(crate) const AES128_CTS_HMAC_SHA1_96: i32 = 17;
/// des3-cbc-sha1-kd (RFC 3961; deprecated by RFC 8429).
pub(crate) const DES3_CBC_SHA1_KD: i32 = 16;

/// The encryption types the client asks the KDC for, strongest first.
pub(crate) const REQUESTED_ENCTYPES: [i32; 2] = [AES256_CTS_HMAC_SHA1_96, AES128_CTS_HMAC_SHA1_96];

/// The AES string-to-key iteration count when the KDC names none (RFC 3962).
const AES_DEFAULT_ITERATIONS: u32 = 4096;

/// The name of an encryption type, for messages.
pub(crate) fn enctype_name(enctype: i32) -> String {
    match enctype {
        AES256_CTS_HMAC_SHA1_96 => "aes256-cts-hmac-sha1-96".into(),
        AES128_CTS_HMAC_SHA1_96 => "aes128-cts-hmac-sha1-96".into(),
        DES3_CBC_SHA1_KD => "des3-cbc-sha1".into(),
        19 => "aes128-cts-hmac-sha256-128".into(),
        20 => "aes256-cts-hmac-sha384-192".into(),
        23 => "arcfour-hmac".into(),
        other => format!("enctype {other}"),
    }
}

fn suite(enctype: i32) -> Option<CipherSuite> {
    match enctype {
        AES256_CTS_HMAC_SHA1_96 => Some(CipherSuite::Aes256CtsHmacSha196),
        AES128_CTS_HMAC_SHA1_96 => Some(CipherSuite::Aes128CtsHmacSha196),
        DES3_CBC_SHA1_KD => Some(CipherSuite::Des3CbcSha1Kd),
        _ => None,
    }
}

/// Whether keys of this encryption type can be used.
pub(crate) fn is_supported(enctype: i32) -> bool {
    suite(enctype).is_some()
}

fn unsupported(enctype: i32) -> KerberosError {
    KerberosError::Unsupported(format!(
        "encryption type {} (supported: aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96, des3-cbc-sha1)",
        enctype_name(enctype)
    ))
}

/// A Kerberos key: its encryption type and its bytes (wiped on drop, never
/// printed).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Key {
    enctype: i32,
    bytes: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("enctype", &self.enctype)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// A key of `enctype` with these bytes.
    pub(crate) fn new(enctype: i32, bytes: Vec<u8>) -> Self {
        Key {
            enctype,
            bytes: Zeroizing::new(bytes),
        }
    }

    /// The encryption type.
    pub(crate) fn enctype(&self) -> i32 {
        self.enctype
    }

    /// The raw key (for the credential cache tests).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn cipher(&self) -> Result<Box<dyn picky_krb::crypto::Cipher>> {
        let cipher = suite(self.enctype)
            .ok_or_else(|| unsupported(self.enctype))?
            .cipher();
        if cipher.key_size() != self.bytes.len() {
            return Err(KerberosError::Internal(format!(
                "a {} key of {} bytes (expected {})",
                enctype_name(self.enctype),
                self.bytes.len(),
                cipher.key_size()
            )));
        }
        Ok(cipher)
    }

    /// A fresh random key of `enctype`.
    pub(crate) fn random(enctype: i32) -> Result<Self> {
        let cipher = suite(enctype).ok_or_else(|| unsupported(enctype))?.cipher();
        let mut seed = Zeroizing::new(vec![0u8; cipher.seed_bit_len() / 8]);
        getrandom::fill(&mut seed)
            .map_err(|e| KerberosError::Internal(format!("no randomness: {e}")))?;
        Ok(Key::new(enctype, cipher.random_to_key(seed.to_vec())))
    }

    /// The long-term key of a password (RFC 3961 string-to-key), with the
    /// salt and parameters the KDC names.
    pub(crate) fn from_password(
        enctype: i32,
        password: &str,
        salt: &[u8],
        s2kparams: Option<&[u8]>,
    ) -> Result<Self> {
        let cipher = suite(enctype).ok_or_else(|| unsupported(enctype))?.cipher();
        if let Some(params) = s2kparams
            && matches!(enctype, AES256_CTS_HMAC_SHA1_96 | AES128_CTS_HMAC_SHA1_96)
        {
            let iterations = <[u8; 4]>::try_from(params).ok().map(u32::from_be_bytes);
            if iterations != Some(AES_DEFAULT_ITERATIONS) {
                return Err(KerberosError::Unsupported(format!(
                    "the KDC asks for a password key derivation with {} iterations; only {AES_DEFAULT_ITERATIONS} is supported",
                    iterations.map_or_else(|| "unreadable".to_owned(), |n| n.to_string())
                )));
            }
        }
        let bytes = cipher
            .generate_key_from_password(password.as_bytes(), salt)
            .map_err(|e| KerberosError::Internal(format!("string-to-key: {e}")))?;
        Ok(Key::new(enctype, bytes))
    }

    /// Encrypts `plain` for key usage `usage`.
    pub(crate) fn encrypt(&self, usage: i32, plain: &[u8]) -> Result<Vec<u8>> {
        self.cipher()?
            .encrypt(&self.bytes, usage, plain)
            .map_err(|e| KerberosError::Internal(format!("encryption: {e}")))
    }

    /// Decrypts and checks the integrity of `cipher` for key usage `usage`.
    /// `Ok(None)` when the integrity check fails (the wrong key, or a forged
    /// or damaged message).
    pub(crate) fn decrypt(&self, usage: i32, cipher: &[u8]) -> Result<Option<Vec<u8>>> {
        let algorithm = self.cipher()?;
        // A confounder block and the MAC at least; des3 works on whole
        // blocks. (picky-krb's des3 code does not check this itself.)
        let fits = match self.enctype {
            DES3_CBC_SHA1_KD => cipher.len() >= 8 + 20 && (cipher.len() - 20).is_multiple_of(8),
            _ => cipher.len() >= 16 + 12,
        };
        if !fits {
            return Ok(None);
        }
        match algorithm.decrypt(&self.bytes, usage, cipher) {
            Ok(plain) => Ok(Some(plain)),
            // Anything about the ciphertext itself (too short, bad padding,
            // a failed MAC) means it was not made with this key.
            Err(
                KerberosCryptoError::IntegrityCheck
                | KerberosCryptoError::CipherLength(..)
                | KerberosCryptoError::CipherUnpad(_)
                | KerberosCryptoError::CipherError(_)
                | KerberosCryptoError::TooSmallBuffer(_)
                | KerberosCryptoError::ArrayTryFromSliceError(_),
            ) => Ok(None),
            Err(e) => Err(KerberosError::Internal(format!("decryption: {e}"))),
        }
    }

    /// The keyed checksum of `data` for key usage `usage`: its type number
    /// and its bytes.
    pub(crate) fn checksum(&self, usage: i32, data: &[u8]) -> Result<(i32, Vec<u8>)> {
        let kind: ChecksumSuite = self.cipher()?.checksum_type();
        let sum = kind
            .hasher()
            .checksum(&self.bytes, usage, data)
            .map_err(|e| KerberosError::Internal(format!("checksum: {e}")))?;
        let number = u32::from(&kind) as i32;
        Ok((number, sum))
    }

    /// The key as an ASN.1 EncryptionKey.
    pub(crate) fn to_asn1(&self) -> EncryptionKey {
        EncryptionKey {
            key_type: ExplicitContextTag0::from(int(self.enctype.into())),
            key_value: ExplicitContextTag1::from(OctetStringAsn1::from(self.bytes.to_vec())),
        }
    }

    /// The key in an ASN.1 EncryptionKey.
    pub(crate) fn from_asn1(key: &EncryptionKey) -> Option<Self> {
        Some(Key::new(int32(&key.key_type.0)?, key.key_value.0.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn string_to_key_matches_mit_krb5() {
        // MIT krb5 1.20: `addprinc -pw alicepw alice` in realm GUARD.TEST,
        // then `ktadd -norandkey` and `klist -kK` (default salt: the realm
        // followed by the name's components).
        let salt = b"GUARD.TESTalice";
        let aes256 = Key::from_password(AES256_CTS_HMAC_SHA1_96, "alicepw", salt, None).unwrap();
        assert_eq!(
            aes256.bytes(),
            hex("254ffbd9a5eec3f534d03e2bd070cca7e3b7b185bcdfc3899671b3ddc8782756")
        );
        let aes128 = Key::from_password(AES128_CTS_HMAC_SHA1_96, "alicepw", salt, None).unwrap();
        assert_eq!(aes128.bytes(), hex("dbc7fe68a295f26a37bd21a664f73cec"));
        // The default iteration count named explicitly is the same key...
        let again = Key::from_password(
            AES256_CTS_HMAC_SHA1_96,
            "alicepw",
            salt,
            Some(&4096u32.to_be_bytes()),
        )
        .unwrap();
        assert_eq!(aes256, again);
        // ...and any other count is refused rather than guessed.
        let other = Key::from_password(
            AES256_CTS_HMAC_SHA1_96,
            "alicepw",
            salt,
            Some(&1200u32.to_be_bytes()),
        );
        assert!(matches!(other, Err(KerberosError::Unsupported(_))));
    }

    #[test]
    fn encrypt_then_decrypt_and_wrong_key_or_usage_fails() {
        for enctype in [
            AES256_CTS_HMAC_SHA1_96,
            AES128_CTS_HMAC_SHA1_96,
            DES3_CBC_SHA1_KD,
        ] {
            let key = Key::random(enctype).unwrap();
            let cipher = key.encrypt(11, b"hello kerberos").unwrap();
            // des3 pads to its block size; DER decoding ignores the padding.
            let plain = key.decrypt(11, &cipher).unwrap().unwrap();
            assert!(plain.starts_with(b"hello kerberos"), "{plain:?}");
            assert_eq!(key.decrypt(7, &cipher).unwrap(), None);
            let other = Key::random(enctype).unwrap();
            assert_eq!(other.decrypt(11, &cipher).unwrap(), None);
            assert_eq!(key.decrypt(11, &cipher[..4]).unwrap(), None);
        }
        assert!(matches!(
            Key::random(23),
            Err(KerberosError::Unsupported(_))
        ));
    }

    #[test]
    fn a_key_of_the_wrong_size_is_an_error_not_a_panic() {
        let key = Key::new(AES256_CTS_HMAC_SHA1_96, vec![1, 2, 3]);
        assert!(matches!(
            key.decrypt(2, &[0; 64]),
            Err(KerberosError::Internal(_))
        ));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = Key::new(AES128_CTS_HMAC_SHA1_96, vec![0xab; 16]);
        let text = format!("{key:?}");
        assert!(!text.contains("171"), "{text}");
        assert!(!text.to_lowercase().contains("ab, "), "{text}");
    }
}
