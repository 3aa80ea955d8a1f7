#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::client::ServiceTicket;
use crate::client::mint::{Spec, presented_by, ticket};
use crate::crypto::{AES128_CTS_HMAC_SHA1_96, AES256_CTS_HMAC_SHA1_96};
use crate::keytab::Entry;

const NOW_SECS: u64 = 1_796_158_758;
const MIN: Duration = Duration::from_secs(60);

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

fn p(text: &str) -> Principal {
    Principal::parse(text, None).unwrap()
}

struct Service {
    principal: Principal,
    key: Key,
    kvno: u32,
}

impl Service {
    fn new(name: &str, kvno: u32) -> Self {
        Service {
            principal: p(name),
            key: Key::random(AES256_CTS_HMAC_SHA1_96).unwrap(),
            kvno,
        }
    }

    fn entry(&self) -> Entry {
        Entry {
            principal: self.principal.clone(),
            kvno: self.kvno,
            key: self.key.clone(),
        }
    }

    fn spec<'a>(&'a self, client: &'a Principal) -> Spec<'a> {
        Spec {
            client,
            service: &self.principal,
            service_key: &self.key,
            kvno: Some(self.kvno),
            start: now() - MIN,
            end: now() + 60 * MIN,
            flags: 0x4000_0000,
            session_enctype: AES256_CTS_HMAC_SHA1_96,
        }
    }

    fn ticket_for(&self, client: &Principal) -> ServiceTicket {
        ticket(&self.spec(client))
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

fn write_keytab(entries: Vec<Entry>) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("krb5.keytab");
    std::fs::write(&path, Keytab::from_entries(entries).to_bytes()).unwrap();
    Setup { _dir: dir, path }
}

/// A verifier and the keytab it verifies with.
#[derive(Debug)]
struct Loaded {
    verifier: Verifier,
    keytab: Keytab,
}

impl Loaded {
    fn verify_at(&self, token: &str, now: SystemTime) -> Result<Principal> {
        self.verifier.verify_at(&self.keytab, token, now)
    }
}

fn load(path: &Path, options: VerifierOptions) -> Result<Loaded> {
    let verifier = Verifier::new(options)?;
    let keytab = verifier.load_keytab(path)?;
    Ok(Loaded { verifier, keytab })
}

fn verifier(entries: Vec<Entry>, options: VerifierOptions) -> (Setup, Loaded) {
    let setup = write_keytab(entries);
    let v = load(&setup.path, options).unwrap();
    (setup, v)
}

fn denial(result: Result<Principal>) -> Denial {
    match result {
        Err(KerberosError::Denied(d)) => d,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn a_good_token_gives_the_client_principal() {
    let http = Service::new("HTTP/guard.example.com@EXAMPLE.COM", 2);
    let (_s, v) = verifier(vec![http.entry()], VerifierOptions::default());
    let alice = p("alice@EXAMPLE.COM");
    let token = http.ticket_for(&alice).token_at(now()).unwrap();
    let who = v.verify_at(&token, now()).unwrap();
    assert_eq!(who, alice);
    assert_eq!(who.name(), "alice");
    assert_eq!(who.realm(), "EXAMPLE.COM");
}

#[test]
fn the_same_authenticator_twice_is_a_replay_but_a_new_one_is_fine() {
    let http = Service::new("HTTP/a@R", 1);
    let (_s, v) = verifier(vec![http.entry()], VerifierOptions::default());
    let t = http.ticket_for(&p("alice@R"));
    let token = t.token_at(now()).unwrap();
    v.verify_at(&token, now()).unwrap();
    assert_eq!(denial(v.verify_at(&token, now() + MIN)), Denial::Replay);
    // A new authenticator for the same ticket, one microsecond later.
    let again = t.token_at(now() + Duration::from_micros(1)).unwrap();
    v.verify_at(&again, now() + MIN).unwrap();

    // Replay detection off: the same token verifies again.
    let options = VerifierOptions {
        detect_replays: false,
        ..VerifierOptions::default()
    };
    let (_s, lenient) = verifier(vec![http.entry()], options);
    lenient.verify_at(&token, now()).unwrap();
    lenient.verify_at(&token, now()).unwrap();
}

#[test]
fn expired_and_postdated_tickets_are_refused_outside_the_skew() {
    let http = Service::new("HTTP/a@R", 1);
    let (_s, v) = verifier(vec![http.entry()], VerifierOptions::default());
    let alice = p("alice@R");
    let mut spec = http.spec(&alice);
    spec.start = now() - 120 * MIN;
    spec.end = now() - 10 * MIN;
    let expired = ticket(&spec).token_at(now()).unwrap();
    assert_eq!(denial(v.verify_at(&expired, now())), Denial::Expired);
    // Within the 5-minute skew it is still accepted (as MIT does).
    spec.end = now() - 4 * MIN;
    let just = ticket(&spec).token_at(now()).unwrap();
    v.verify_at(&just, now()).unwrap();

    let mut spec = http.spec(&alice);
    spec.start = now() + 10 * MIN;
    let postdated = ticket(&spec).token_at(now()).unwrap();
    assert_eq!(denial(v.verify_at(&postdated, now())), Denial::NotYetValid);

    let mut spec = http.spec(&alice);
    spec.flags |= 1 << (31 - FLAG_INVALID);
    let invalid = ticket(&spec).token_at(now()).unwrap();
    assert_eq!(denial(v.verify_at(&invalid, now())), Denial::Invalid);
}

#[test]
fn an_authenticator_from_another_time_is_refused() {
    let http = Service::new("HTTP/a@R", 1);
    let options = VerifierOptions {
        clock_skew: Duration::from_secs(30),
        ..VerifierOptions::default()
    };
    let (_s, v) = verifier(vec![http.entry()], options);
    let t = http.ticket_for(&p("alice@R"));
    let old = t.token_at(now() - MIN).unwrap();
    assert_eq!(denial(v.verify_at(&old, now())), Denial::ClockSkew);
    let future = t.token_at(now() + MIN).unwrap();
    assert_eq!(denial(v.verify_at(&future, now())), Denial::ClockSkew);
    let close = t.token_at(now() - Duration::from_secs(20)).unwrap();
    v.verify_at(&close, now()).unwrap();
}

#[test]
fn the_configured_spn_limits_the_services_accepted() {
    let a = Service::new("HTTP/a.example.com@EXAMPLE.COM", 1);
    let b = Service::new("HTTP/b.example.com@EXAMPLE.COM", 1);
    let alice = p("alice@EXAMPLE.COM");
    let options = VerifierOptions {
        spn: Some("http/A.example.com".into()),
        ..VerifierOptions::default()
    };
    let (_s, v) = verifier(vec![a.entry(), b.entry()], options);
    v.verify_at(&a.ticket_for(&alice).token_at(now()).unwrap(), now())
        .unwrap();
    let for_b = b.ticket_for(&alice).token_at(now()).unwrap();
    assert_eq!(
        denial(v.verify_at(&for_b, now())),
        Denial::WrongService {
            service: "HTTP/b.example.com@EXAMPLE.COM".into(),
            expected: "http/A.example.com".into(),
        }
    );
    // Without --ldap.spn both services of the keytab are accepted.
    let (_s, any) = verifier(vec![a.entry(), b.entry()], VerifierOptions::default());
    any.verify_at(&for_b, now()).unwrap();
    // The realm of the SPN counts when given.
    let options = VerifierOptions {
        spn: Some("HTTP/a.example.com@OTHER.COM".into()),
        ..VerifierOptions::default()
    };
    let setup = write_keytab(vec![a.entry()]);
    let err = load(&setup.path, options).unwrap_err();
    assert!(
        err.to_string()
            .contains("no key for HTTP/a.example.com@OTHER.COM"),
        "{err}"
    );
}

#[test]
fn a_ticket_for_a_service_without_a_key_is_refused() {
    let a = Service::new("HTTP/a@R", 1);
    let other = Service::new("HTTP/other@R", 1);
    let (_s, v) = verifier(vec![a.entry()], VerifierOptions::default());
    let token = other.ticket_for(&p("alice@R")).token_at(now()).unwrap();
    assert_eq!(
        denial(v.verify_at(&token, now())),
        Denial::UnknownService {
            service: "HTTP/other@R".into()
        }
    );
}

#[test]
fn an_alias_of_the_account_decrypts_with_the_accounts_key_when_no_spn_is_set() {
    // Active Directory: several SPNs on one account share its key; ktpass
    // writes the keytab under one name.
    let account = Service::new("HTTP/main.example.com@EXAMPLE.COM", 3);
    let alias = Service {
        principal: p("HTTP/alias.example.com@EXAMPLE.COM"),
        key: account.key.clone(),
        kvno: 3,
    };
    let alice = p("alice@EXAMPLE.COM");
    let (_s, v) = verifier(vec![account.entry()], VerifierOptions::default());
    let token = alias.ticket_for(&alice).token_at(now()).unwrap();
    assert_eq!(v.verify_at(&token, now()).unwrap(), alice);
}

#[test]
fn key_versions_and_types_must_match_the_keytab() {
    let old = Service::new("HTTP/a@R", 2);
    let (_s, v) = verifier(vec![old.entry()], VerifierOptions::default());
    let alice = p("alice@R");
    let rotated = Service {
        principal: old.principal.clone(),
        key: Key::random(AES256_CTS_HMAC_SHA1_96).unwrap(),
        kvno: 3,
    };
    let token = rotated.ticket_for(&alice).token_at(now()).unwrap();
    assert_eq!(
        denial(v.verify_at(&token, now())),
        Denial::WrongKvno {
            service: "HTTP/a@R".into(),
            kvno: 3,
            available: vec![2],
        }
    );
    // Same kvno, another key: the keytab is stale or the ticket forged.
    let forged = Service {
        principal: old.principal.clone(),
        key: Key::random(AES256_CTS_HMAC_SHA1_96).unwrap(),
        kvno: 2,
    };
    let token = forged.ticket_for(&alice).token_at(now()).unwrap();
    assert!(matches!(
        denial(v.verify_at(&token, now())),
        Denial::Undecryptable { what: "ticket", .. }
    ));
    // An aes128 ticket against an aes256-only keytab.
    let aes128 = Service {
        principal: old.principal.clone(),
        key: Key::random(AES128_CTS_HMAC_SHA1_96).unwrap(),
        kvno: 2,
    };
    let token = aes128.ticket_for(&alice).token_at(now()).unwrap();
    assert_eq!(
        denial(v.verify_at(&token, now())),
        Denial::NoKeyForEnctype { enctype: 17 }
    );
    // A ticket without a kvno is tried with every key of its type.
    let mut spec = old.spec(&alice);
    spec.kvno = None;
    v.verify_at(&ticket(&spec).token_at(now()).unwrap(), now())
        .unwrap();
}

#[test]
fn an_rc4_ticket_is_a_denial_even_with_an_rc4_key_in_the_keytab() {
    let aes = Service::new("HTTP/a@R", 1);
    let rc4 = Entry {
        principal: aes.principal.clone(),
        kvno: 1,
        key: Key::new(23, vec![0x23; 16]),
    };
    let (_s, v) = verifier(vec![aes.entry(), rc4], VerifierOptions::default());
    // An RC4 ticket cannot be minted here: take an aes one and relabel its
    // encryption type, as the verifier reads it before any decryption.
    let der = aes.ticket_for(&p("alice@R")).ap_req_at(now()).unwrap();
    let relabelled = relabel_ticket_enctype(&der, 23);
    let err = v
        .verify_at(&crate::token::encode(&relabelled), now())
        .unwrap_err();
    assert_eq!(
        err.denial(),
        Some(&Denial::UnsupportedEnctype { enctype: 23 }),
        "{err}"
    );
    assert!(err.to_string().contains("arcfour-hmac"), "{err}");
}

/// The AP-REQ with its ticket's enc-part etype replaced.
fn relabel_ticket_enctype(der: &[u8], enctype: i32) -> Vec<u8> {
    use picky_krb::messages::ApReq;
    let mut ap_req: ApReq = crate::der::from_der(der).unwrap();
    ap_req.0.ticket.0.0.enc_part.0.etype.0 = crate::der::int(enctype.into());
    crate::der::to_der(&ap_req).unwrap()
}

#[test]
fn several_kvnos_and_enctypes_in_one_keytab() {
    let alice = p("alice@R");
    let v2 = Service::new("HTTP/a@R", 2);
    let v3 = Service::new("HTTP/a@R", 3);
    let v3_128 = Service {
        principal: v3.principal.clone(),
        key: Key::random(AES128_CTS_HMAC_SHA1_96).unwrap(),
        kvno: 3,
    };
    let (_s, v) = verifier(
        vec![v2.entry(), v3.entry(), v3_128.entry()],
        VerifierOptions::default(),
    );
    for (i, s) in [&v2, &v3, &v3_128].into_iter().enumerate() {
        let at = now() + Duration::from_micros(i as u64);
        let t = s.ticket_for(&alice).token_at(at).unwrap();
        v.verify_at(&t, now()).unwrap();
    }
}

#[test]
fn the_configured_realm_limits_the_clients_accepted() {
    let http = Service::new("HTTP/a@GUARD.TEST", 1);
    let options = VerifierOptions {
        realm: Some("guard.test".into()),
        ..VerifierOptions::default()
    };
    let (_s, v) = verifier(vec![http.entry()], options);
    let ours = http
        .ticket_for(&p("erin@GUARD.TEST"))
        .token_at(now())
        .unwrap();
    v.verify_at(&ours, now()).unwrap();
    let theirs = http
        .ticket_for(&p("erin@OTHER.TEST"))
        .token_at(now())
        .unwrap();
    assert_eq!(
        denial(v.verify_at(&theirs, now())),
        Denial::WrongRealm {
            principal: "erin@OTHER.TEST".into(),
            expected: "guard.test".into(),
        }
    );
}

#[test]
fn tampered_and_mismatched_tokens_are_refused() {
    let http = Service::new("HTTP/a@R", 1);
    let (_s, v) = verifier(vec![http.entry()], VerifierOptions::default());
    let alice = p("alice@R");
    let t = http.ticket_for(&alice);

    let mut der = t.ap_req_at(now()).unwrap();
    let last = der.len() - 3;
    der[last] ^= 0x01; // inside the authenticator's ciphertext
    let token = crate::token::encode(&der);
    assert!(matches!(
        denial(v.verify_at(&token, now())),
        Denial::Undecryptable {
            what: "authenticator",
            ..
        }
    ));

    let mallory = presented_by(&t, &p("mallory@R"));
    let token = mallory.token_at(now()).unwrap();
    assert_eq!(denial(v.verify_at(&token, now())), Denial::ClientMismatch);

    for bad in ["", "not base64!", "YWxpY2U6YWxpY2Vwdw==", "boAAAA=="] {
        let err = v.verify_at(bad, now()).unwrap_err();
        assert!(err.is_denial(), "{bad:?}: {err}");
        assert!(
            matches!(err.denial(), Some(Denial::Malformed(_))),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn a_gss_api_framed_token_is_accepted_too() {
    let http = Service::new("HTTP/a@R", 1);
    let (_s, v) = verifier(vec![http.entry()], VerifierOptions::default());
    let der = http.ticket_for(&p("alice@R")).ap_req_at(now()).unwrap();
    let framed = crate::token::encode(&crate::token::wrap_gss(&der));
    assert_eq!(v.verify_at(&framed, now()).unwrap(), p("alice@R"));
}

#[test]
fn unusable_keytabs_are_errors_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let missing = load(&dir.path().join("nope"), VerifierOptions::default()).unwrap_err();
    assert!(
        matches!(missing, KerberosError::KeytabIo { .. }),
        "{missing}"
    );
    assert!(!missing.is_denial());

    let empty = write_keytab(vec![]);
    let err = load(&empty.path, VerifierOptions::default()).unwrap_err();
    assert!(err.to_string().contains("holds no keys"), "{err}");

    let rc4 = write_keytab(vec![Entry {
        principal: p("HTTP/a@R"),
        kvno: 1,
        key: Key::new(23, vec![0; 16]),
    }]);
    let err = load(&rc4.path, VerifierOptions::default()).unwrap_err();
    assert!(err.to_string().contains("arcfour-hmac"), "{err}");

    let http = Service::new("HTTP/a@R", 1);
    let setup = write_keytab(vec![http.entry()]);
    let options = VerifierOptions {
        spn: Some("HTTP/b".into()),
        ..VerifierOptions::default()
    };
    let err = load(&setup.path, options).unwrap_err();
    assert!(
        err.to_string()
            .contains("no key for HTTP/b (it has keys for HTTP/a@R)"),
        "{err}"
    );
    let options = VerifierOptions {
        spn: Some("HTTP//b".into()),
        ..VerifierOptions::default()
    };
    assert!(matches!(
        load(&setup.path, options),
        Err(KerberosError::BadPrincipal { .. })
    ));
}

#[test]
fn errors_never_contain_key_material() {
    let http = Service::new("HTTP/a@R", 1);
    let (_s, v) = verifier(vec![http.entry()], VerifierOptions::default());
    let text = format!("{v:?}");
    assert!(!text.contains("bytes"), "{text}");
}

#[test]
fn the_verifier_can_be_shared_between_threads() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<Verifier>();
    shared::<crate::client::Client>();
    shared::<crate::client::ServiceTicket>();
}
