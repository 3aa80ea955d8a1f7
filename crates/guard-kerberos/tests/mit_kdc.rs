//! guard-kerberos against a real MIT KDC (see `common/kdc.rs`): tickets
//! from `kinit`'s credential cache and from a password, verified with a
//! keytab `kadmin.local` exported; and interoperability with MIT's own
//! GSS-API initiator and acceptor (Debian's python3-gssapi).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::kdc::{Kdc, OTHER_REALM, REALM, SPN};
use common::require::Peer;
use guard_kerberos::client::Client;
use guard_kerberos::{
    Denial, KerberosError, Keytab, KeytabEntry, Principal, Verifier, VerifierOptions, token,
};

/// A verifier and the keytab it verifies with (loaded once: reloading is
/// the LDAP provider's, tested through the guard binary).
struct Loaded {
    verifier: Verifier,
    path: std::path::PathBuf,
    keytab: Keytab,
}

impl Loaded {
    fn load(path: &Path, options: VerifierOptions) -> Self {
        let verifier = Verifier::new(options).unwrap();
        let keytab = verifier.load_keytab(path).unwrap();
        Loaded {
            verifier,
            path: path.to_owned(),
            keytab,
        }
    }

    fn verify(&self, token: &str) -> Result<Principal, KerberosError> {
        self.verifier.verify(&self.keytab, token)
    }

    fn verify_at(&self, token: &str, now: SystemTime) -> Result<Principal, KerberosError> {
        self.verifier.verify_at(&self.keytab, token, now)
    }

    fn keytab_entries(&self) -> Vec<KeytabEntry> {
        self.keytab.entries().collect()
    }

    /// Reads the keytab file again, keeping the replay cache.
    fn reload(&mut self) {
        self.keytab = self.verifier.load_keytab(&self.path).unwrap();
    }
}

fn options(spn: Option<&str>, realm: Option<&str>) -> VerifierOptions {
    VerifierOptions {
        spn: spn.map(str::to_owned),
        realm: realm.map(str::to_owned),
        ..VerifierOptions::default()
    }
}

fn alice() -> Principal {
    Principal::parse("alice", Some(REALM)).unwrap()
}

fn denial(result: Result<Principal, KerberosError>) -> Denial {
    match result {
        Err(KerberosError::Denied(d)) => d,
        other => panic!("expected a denial, got {other:?}"),
    }
}

/// A KDC, the service's keytab, and alice's credential cache after kinit.
struct Realm {
    kdc: Kdc,
    keytab: std::path::PathBuf,
    ccache: std::path::PathBuf,
}

impl Realm {
    fn new(kdc: Kdc) -> Self {
        let keytab = kdc.path("http.keytab");
        kdc.export_keytab(SPN, &keytab);
        let ccache = kdc.path("alice.ccache");
        kdc.kinit("alice", "alicepw", &ccache, &[]);
        Realm {
            kdc,
            keytab,
            ccache,
        }
    }

    fn client(&self) -> Client {
        Client::new(&self.kdc.krb5_conf())
            .unwrap()
            .ccache(format!("FILE:{}", self.ccache.display()))
    }

    fn verifier(&self, options: VerifierOptions) -> Loaded {
        Loaded::load(&self.keytab, options)
    }
}

#[test]
fn kinit_then_a_ticket_from_the_ccache_verifies_with_the_keytab() {
    if common::require::missing(&[Peer::MitKdc]) {
        return;
    }
    let realm = Realm::new(Kdc::start());
    let ticket = realm.client().service_ticket_from_ccache(SPN).unwrap();
    assert_eq!(ticket.client(), &alice());
    assert_eq!(ticket.service().to_string(), format!("{SPN}@{REALM}"));
    assert!(ticket.expires() > SystemTime::now() + Duration::from_secs(3600));
    // The ticket came from the KDC (a TGS exchange with kinit's TGT).
    assert!(
        realm
            .kdc
            .log()
            .contains(&format!("alice@{REALM} for {SPN}@{REALM}")),
        "{}",
        realm.kdc.log()
    );

    let verifier = realm.verifier(options(Some(SPN), Some(REALM)));
    let token = ticket.token().unwrap();
    let who = verifier.verify(&token).unwrap();
    assert_eq!(who, alice());
    assert_eq!(who.name(), "alice");

    // The same token again is a replay; a new one from the same ticket is not.
    assert_eq!(denial(verifier.verify(&token)), Denial::Replay);
    assert_eq!(verifier.verify(&ticket.token().unwrap()).unwrap(), alice());
}

#[test]
fn a_service_ticket_mit_put_in_the_ccache_is_used_and_nothing_needs_the_kdc() {
    if common::require::missing(&[Peer::MitKdc]) {
        return;
    }
    let mut realm = Realm::new(Kdc::start());
    // MIT's own client fetches the service ticket into the cache.
    let verifier = realm.verifier(options(Some(SPN), Some(REALM)));
    let kvno = verifier.keytab_entries()[0].kvno;
    let out = realm.kdc.kvno(SPN, &realm.ccache);
    assert!(out.contains(&format!("kvno = {kvno}")), "{out}");
    realm.kdc.stop();
    // With the KDC gone, the client still has its ticket and the server
    // verifies with the keytab alone.
    let ticket = realm.client().service_ticket_from_ccache(SPN).unwrap();
    assert_eq!(verifier.verify(&ticket.token().unwrap()).unwrap(), alice());
    // A service the cache holds no ticket for needs the KDC: a clear error.
    let err = realm
        .client()
        .timeout(Duration::from_secs(2))
        .service_ticket_from_ccache("HTTP/other.example.com")
        .unwrap_err();
    assert!(matches!(err, KerberosError::KdcUnreachable { .. }), "{err}");
    assert!(!err.is_denial());
}

#[test]
fn no_ticket_in_the_ccache_says_run_kinit() {
    if common::require::missing(&[Peer::MitKdc]) {
        return;
    }
    let kdc = Kdc::start();
    let client = Client::new(&kdc.krb5_conf()).unwrap();
    let missing = client
        .clone()
        .ccache(kdc.path("nobody.ccache").display().to_string())
        .service_ticket_from_ccache(SPN)
        .unwrap_err();
    assert!(missing.to_string().contains("run kinit"), "{missing}");
    // A cache whose TGT has expired: kinit with a lifetime this short
    // cannot be used within the client's one-minute margin.
    let ccache = kdc.path("short.ccache");
    kdc.kinit("alice", "alicepw", &ccache, &["-l", "30s"]);
    let err = client
        .ccache(ccache.display().to_string())
        .service_ticket_from_ccache(SPN)
        .unwrap_err();
    assert!(matches!(err, KerberosError::NoTicket { .. }), "{err}");
    assert!(err.to_string().contains("run kinit"), "{err}");
}

#[test]
fn the_password_path_logs_in_and_gets_a_ticket() {
    if common::require::missing(&[Peer::MitKdc]) {
        return;
    }
    let realm = Realm::new(Kdc::start());
    let client = Client::new(&realm.kdc.krb5_conf()).unwrap();
    let ticket = client
        .service_ticket_with_password("bob", None, "bobpw", SPN)
        .unwrap();
    let verifier = realm.verifier(options(Some(SPN), Some(REALM)));
    let who = verifier.verify(&ticket.token().unwrap()).unwrap();
    assert_eq!(who.to_string(), format!("bob@{REALM}"));
    // An explicit realm works the same.
    let ticket = client
        .service_ticket_with_password("bob", Some(REALM), "bobpw", SPN)
        .unwrap();
    verifier.verify(&ticket.token().unwrap()).unwrap();

    // A wrong password: alice requires pre-authentication (the KDC says
    // no), bob does not (the KDC's reply does not decrypt).
    for (user, password) in [
        ("alice", "not-alices-password"),
        ("bob", "not-bobs-password"),
    ] {
        let wrong = client
            .service_ticket_with_password(user, None, password, SPN)
            .unwrap_err();
        assert!(
            matches!(wrong, KerberosError::WrongPassword),
            "{user}: {wrong}"
        );
        assert!(!format!("{wrong} {wrong:?}").contains(password));
    }
    let ticket = client
        .service_ticket_with_password("alice", None, "alicepw", SPN)
        .unwrap();
    assert_eq!(verifier.verify(&ticket.token().unwrap()).unwrap(), alice());
    let unknown = client
        .service_ticket_with_password("nobody", None, "pw", SPN)
        .unwrap_err();
    assert!(
        matches!(unknown, KerberosError::Kdc { code: 6, .. }),
        "{unknown}"
    );
    let no_service = client
        .service_ticket_with_password("bob", None, "bobpw", "HTTP/unknown.example.com")
        .unwrap_err();
    assert!(
        matches!(no_service, KerberosError::Kdc { code: 7, .. }),
        "{no_service}"
    );
}

#[test]
fn a_ticket_for_another_spn_is_refused() {
    if common::require::missing(&[Peer::MitKdc]) {
        return;
    }
    let realm = Realm::new(Kdc::start());
    let other = "HTTP/other.example.com";
    realm
        .kdc
        .kadmin(REALM, &format!("addprinc -randkey {other}\n"));
    let ticket = realm.client().service_ticket_from_ccache(other).unwrap();

    // A keytab without the other service's key: nothing decrypts it.
    let verifier = realm.verifier(VerifierOptions::default());
    assert!(matches!(
        denial(verifier.verify(&ticket.token().unwrap())),
        Denial::UnknownService { .. }
    ));

    // A keytab with both keys, --ldap.spn naming one.
    realm.kdc.export_keytab(other, &realm.keytab);
    let verifier = realm.verifier(options(Some(SPN), None));
    assert!(matches!(
        denial(verifier.verify(&ticket.token().unwrap())),
        Denial::WrongService { .. }
    ));
    // Without --ldap.spn that keytab accepts both.
    let any = realm.verifier(VerifierOptions::default());
    assert_eq!(any.verify(&ticket.token().unwrap()).unwrap(), alice());
}

#[test]
fn an_expired_ticket_is_refused() {
    if common::require::missing(&[Peer::MitKdc]) {
        return;
    }
    let kdc = Kdc::start();
    let keytab = kdc.path("http.keytab");
    kdc.export_keytab(SPN, &keytab);
    let ccache = kdc.path("alice.ccache");
    kdc.kinit("alice", "alicepw", &ccache, &["-l", "1h"]);
    let ticket = Client::new(&kdc.krb5_conf())
        .unwrap()
        .ccache(ccache.display().to_string())
        .service_ticket_from_ccache(SPN)
        .unwrap();
    let lifetime = ticket.expires().duration_since(SystemTime::now()).unwrap();
    assert!(lifetime <= Duration::from_secs(3600), "{lifetime:?}");
    let verifier = Loaded::load(&keytab, VerifierOptions::default());
    // Two hours on, on both sides: the authenticator is fresh, the ticket
    // the KDC issued is not.
    let later = SystemTime::now() + Duration::from_secs(2 * 3600);
    let token = ticket.token_at(later).unwrap();
    assert_eq!(denial(verifier.verify_at(&token, later)), Denial::Expired);
    // Just before its end it is fine.
    let before_end = ticket.expires() - Duration::from_secs(10);
    let token = ticket.token_at(before_end).unwrap();
    assert_eq!(verifier.verify_at(&token, before_end).unwrap(), alice());
}

#[test]
fn a_keytab_with_an_old_kvno_is_refused_until_reexported_and_reloaded() {
    if common::require::missing(&[Peer::MitKdc]) {
        return;
    }
    let realm = Realm::new(Kdc::start());
    let mut verifier = realm.verifier(options(Some(SPN), Some(REALM)));
    let old = verifier.keytab_entries()[0].kvno;
    let before = realm.client().service_ticket_from_ccache(SPN).unwrap();
    verifier.verify(&before.token().unwrap()).unwrap();

    // The service's key changes in the KDC: new tickets carry a new kvno.
    realm.kdc.rotate_key(SPN);
    let after = realm.client().service_ticket_from_ccache(SPN).unwrap();
    assert_eq!(
        denial(verifier.verify(&after.token().unwrap())),
        Denial::WrongKvno {
            service: format!("{SPN}@{REALM}"),
            kvno: old + 1,
            available: vec![old],
        }
    );

    // Re-exported (ktadd appends the new kvno's keys to the file) and
    // reloaded: tickets of both versions verify.
    realm.kdc.export_keytab(SPN, &realm.keytab);
    verifier.reload();
    let mut kvnos: Vec<u32> = verifier.keytab_entries().iter().map(|e| e.kvno).collect();
    kvnos.dedup();
    assert_eq!(kvnos, [old, old + 1]);
    assert_eq!(verifier.verify(&after.token().unwrap()).unwrap(), alice());
    assert_eq!(verifier.verify(&before.token().unwrap()).unwrap(), alice());

    // A keytab exported with the new key only refuses the old tickets.
    let fresh = realm.kdc.path("fresh.keytab");
    realm.kdc.export_keytab(SPN, &fresh);
    let only_new = Loaded::load(&fresh, options(Some(SPN), None));
    assert!(matches!(
        denial(only_new.verify(&before.token().unwrap())),
        Denial::WrongKvno { kvno, .. } if kvno == old
    ));
}

#[test]
fn a_user_of_a_trusted_foreign_realm_is_refused_when_a_realm_is_configured() {
    if common::require::missing(&[Peer::MitKdc]) {
        return;
    }
    let kdc = Kdc::start_with_trust();
    let keytab = kdc.path("http.keytab");
    kdc.export_keytab(SPN, &keytab);
    let ccache = kdc.path("erin.ccache");
    kdc.kinit(&format!("erin@{OTHER_REALM}"), "erinpw", &ccache, &[]);
    // Our client walks the trust: krbtgt/GUARD.TEST@OTHER.TEST from
    // OTHER.TEST's KDC, then the service ticket from GUARD.TEST's.
    let ticket = Client::new(&kdc.krb5_conf())
        .unwrap()
        .ccache(ccache.display().to_string())
        .service_ticket_from_ccache(SPN)
        .unwrap();
    assert_eq!(ticket.client().to_string(), format!("erin@{OTHER_REALM}"));
    assert_eq!(ticket.service().realm(), REALM);

    let strict = Loaded::load(&keytab, options(Some(SPN), Some(REALM)));
    assert_eq!(
        denial(strict.verify(&ticket.token().unwrap())),
        Denial::WrongRealm {
            principal: format!("erin@{OTHER_REALM}"),
            expected: REALM.to_owned(),
        }
    );
    // Without --ldap.realm the trusted realm's erin is accepted, as
    // `erin@OTHER.TEST`: telling her from a local `erin` is the caller's job.
    let open = Loaded::load(&keytab, options(Some(SPN), None));
    let who = open.verify(&ticket.token().unwrap()).unwrap();
    assert_eq!((who.name().as_str(), who.realm()), ("erin", OTHER_REALM));

    // The same with the password path.
    let ticket = Client::new(&kdc.krb5_conf())
        .unwrap()
        .service_ticket_with_password("erin", Some(OTHER_REALM), "erinpw", SPN)
        .unwrap();
    assert!(matches!(
        denial(strict.verify(&ticket.token().unwrap())),
        Denial::WrongRealm { .. }
    ));
}

/// Runs the MIT GSS-API peer script with Debian's python3 (where
/// python3-gssapi is installed).
fn gss_peer(kdc: &Kdc, args: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    let python = "/usr/bin/python3";
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/gss_peer.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).args(args);
    kdc.env(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'gssapi'"),
        "python3-gssapi is not installed: run .ci/install-test-deps.sh"
    );
    out
}

#[test]
fn a_token_from_mits_gss_initiator_verifies() {
    if common::require::missing(&[Peer::MitKdc, Peer::PythonGssapi]) {
        return;
    }
    let realm = Realm::new(Kdc::start());
    let principal = format!("{SPN}@{REALM}");
    let out = gss_peer(
        &realm.kdc,
        &["initiate", &principal],
        &[("KRB5CCNAME", &realm.ccache)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let framed = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let verifier = realm.verifier(options(Some(SPN), Some(REALM)));
    // As MIT sends it (GSS-API framing, a GSS checksum in the
    // authenticator) ...
    assert_eq!(verifier.verify(&framed).unwrap(), alice());
    // ... and bare, as Go Guard's client sends its own (a new initiator
    // context, so not a replay).
    let out = gss_peer(
        &realm.kdc,
        &["initiate", &principal],
        &[("KRB5CCNAME", &realm.ccache)],
    );
    let framed = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let der = token::decode(&framed).unwrap();
    let bare = token::encode(&der);
    assert_ne!(bare, framed);
    assert_eq!(verifier.verify(&bare).unwrap(), alice());
}

#[test]
fn our_tokens_verify_with_mits_gss_acceptor() {
    if common::require::missing(&[Peer::MitKdc, Peer::PythonGssapi]) {
        return;
    }
    let realm = Realm::new(Kdc::start());
    let ticket = realm.client().service_ticket_from_ccache(SPN).unwrap();
    // MIT's acceptor wants the GSS-API framing around the AP-REQ.
    let der = token::decode(&ticket.token().unwrap()).unwrap();
    let framed = token::encode(&token::wrap_gss(&der));
    let env = [("KRB5_KTNAME", realm.keytab.as_path())];
    let out = gss_peer(&realm.kdc, &["accept", &framed], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("alice@{REALM}")
    );

    // MIT refuses what we refuse: a replay, and a token for a key it lacks.
    let out = gss_peer(&realm.kdc, &["accept", &framed], &env);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("replay"));

    // The password path's tokens too.
    let ticket = Client::new(&realm.kdc.krb5_conf())
        .unwrap()
        .service_ticket_with_password("bob", None, "bobpw", SPN)
        .unwrap();
    let der = token::decode(&ticket.token().unwrap()).unwrap();
    let out = gss_peer(
        &realm.kdc,
        &["accept", &token::encode(&token::wrap_gss(&der))],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("bob@{REALM}")
    );
}
