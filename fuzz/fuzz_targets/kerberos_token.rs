//! The LDAP provider's Kerberos token: Go Guard's base64 of a DER AP-REQ,
//! straight from the TokenReview. The input is the DER (the base64 layer
//! is added here, so that the fuzzer works on the ASN.1), checked against a
//! fixed keytab from a test realm; the corpus holds real AP-REQs for it.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use guard_kerberos::{Keytab, Verifier, VerifierOptions, token};

static VERIFIER: LazyLock<(Keytab, Verifier)> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("krb5.keytab");
    std::fs::write(&path, include_bytes!("kerberos-test.keytab")).expect("keytab");
    let options = VerifierOptions {
        // Every time check passes, so that inputs reach all of them.
        clock_skew: Duration::from_secs(20 * 365 * 24 * 3600),
        ..VerifierOptions::default()
    };
    let verifier = Verifier::new(options).expect("options");
    let keytab = verifier.load_keytab(&path).expect("test keytab");
    (keytab, verifier)
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let now = UNIX_EPOCH + Duration::from_secs(1_796_159_700);
    let result = VERIFIER.1.verify_at(&VERIFIER.0, &token::encode(data), now);
    if let Err(e) = result {
        // Whatever the input, a verification failure is a denial: the
        // keytab is fine.
        assert!(e.is_denial(), "{e}");
    }
});
