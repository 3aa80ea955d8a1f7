//! The LDAP provider with `--ldap.auth-choice=Kerberos`, through the real
//! binaries: a real MIT KDC (its own realm, principals and keytab in a temp
//! dir, see guard-kerberos' `tests/common/kdc.rs`), `kinit`, `guard get
//! token` / `guard login` + kubectl on the user's side, `guard run` with the
//! keytab, and the real slapd for the user's groups.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../guard-kerberos/tests/common/kdc.rs"]
mod kdc;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use common::ldap::{BASE, Slapd};
use common::require::Peer;
use common::server::*;
use common::*;
use kdc::{Kdc, OTHER_REALM, REALM, SPN};

/// A KDC, slapd, the service's keytab and alice's credential cache.
struct Realm {
    kdc: Kdc,
    slapd: Slapd,
    dir: tempfile::TempDir,
    keytab: PathBuf,
    ccache: PathBuf,
}

impl Realm {
    fn new(kdc: Kdc) -> Self {
        let slapd = Slapd::start();
        let dir = tempfile::tempdir().unwrap();
        let keytab = dir.path().join("krb5.keytab");
        kdc.export_keytab(SPN, &keytab);
        register_keytab(&keytab);
        let ccache = dir.path().join("alice.ccache");
        kdc.kinit("alice", "alicepw", &ccache, &[]);
        Realm {
            kdc,
            slapd,
            dir,
            keytab,
            ccache,
        }
    }

    /// `guard run` for ldap in Kerberos mode with this keytab.
    fn guard(&self, extra: &[&str]) -> Reviewer {
        let mut args = self.slapd.flags();
        args.push("--ldap.auth-choice=Kerberos".into());
        args.push(format!("--ldap.keytab-file={}", self.keytab.display()));
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Reviewer::start("ldap", "ldap", &args)
    }

    /// `guard get token -o ldap` in Kerberos mode with `ccache`.
    fn get_token(&self, sb: &Sandbox, ccache: &Path, extra: &[&str]) -> Output {
        let krb5 = format!("--ldap.krb5-config={}", self.kdc.krb5_conf().display());
        let out = sb
            .guard()
            .args(["get", "token", "-o", "ldap", "--ldap.auth-choice=Kerberos"])
            .arg(&krb5)
            .args(extra)
            .env("KRB5CCNAME", format!("FILE:{}", ccache.display()))
            .output()
            .unwrap();
        secrets::assert_clean(
            "guard get token (stderr)",
            &String::from_utf8_lossy(&out.stderr),
        );
        out
    }

    /// A fresh token for alice's ticket from `guard get token`.
    fn token(&self, sb: &Sandbox, spn: &str) -> String {
        let out = self.get_token(sb, &self.ccache, &[&format!("--ldap.spn={spn}")]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        secrets::register(&token);
        token
    }
}

/// The keytab's bytes must never reach a log.
fn register_keytab(keytab: &Path) {
    let bytes = std::fs::read(keytab).unwrap();
    secrets::register(&base64::engine::general_purpose::STANDARD.encode(&bytes));
}

fn groups(json: &serde_json::Value) -> Vec<String> {
    let mut groups: Vec<String> = json["status"]["user"]["groups"]
        .as_array()
        .map(|a| a.iter().map(|g| g.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    groups.sort();
    groups
}

/// A plain denial: 200, not authenticated, no status.error (the API server
/// caches it) and the reason in guard's log.
async fn assert_denied(guard: &Reviewer, token: &str, reason: &str) {
    let (status, json) = guard.review(token).await;
    assert_eq!(status, 200, "{json}");
    assert_eq!(json["status"]["authenticated"], false, "{json}");
    assert!(json["status"].get("error").is_none(), "{json}");
    // The log is read by another thread: it may lag the answer.
    eventually(
        Duration::from_secs(30),
        &format!("{reason:?} in the log"),
        || guard.server.log().contains(reason),
    );
}

#[tokio::test]
async fn kinit_then_get_token_gives_a_review_with_the_ldap_groups() {
    if common::require::missing(&[Peer::MitKdc, Peer::Slapd]) {
        return;
    }
    let realm = Realm::new(Kdc::start());
    let guard = realm.guard(&[
        &format!("--ldap.spn={SPN}"),
        &format!("--ldap.realm={REALM}"),
    ]);
    let sb = Sandbox::new();

    // The ExecCredential kubectl reads.
    let out = realm.get_token(
        &sb,
        &realm.ccache,
        &[&format!("--ldap.spn={SPN}"), "--exec-credential"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cred: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cred["kind"], "ExecCredential");
    let token = cred["status"]["token"].as_str().unwrap().to_owned();
    secrets::register(&token);
    // Go Guard's form: standard base64 of a DER AP-REQ (APPLICATION 14).
    let der = base64::engine::general_purpose::STANDARD
        .decode(&token)
        .unwrap();
    assert_eq!(der[0], 0x6e);
    // kubectl asks again within a minute: the server refuses a replayed
    // authenticator once the answers' caches expire.
    let expires = time::OffsetDateTime::parse(
        cred["status"]["expirationTimestamp"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = expires - time::OffsetDateTime::now_utc();
    assert!(
        left <= time::Duration::seconds(61) && left > time::Duration::ZERO,
        "{left}"
    );

    let (status, json) = guard.review(&token).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], true, "{json}");
    assert_eq!(json["status"]["user"]["username"], "alice");
    assert_eq!(
        json["status"]["user"]["uid"],
        format!("uid=alice,ou=users,{BASE}")
    );
    assert_eq!(groups(&json), ["admins", "devs"]);
    // The same token again: the answer from guard's cache, not a replay.
    let (_, json) = guard.review(&token).await;
    assert_eq!(json["status"]["authenticated"], true, "{json}");

    // Go Guard's password path: no credential cache needed.
    let out = realm.get_token(
        &sb,
        &realm.dir.path().join("none.ccache"),
        &[
            &format!("--ldap.spn={SPN}"),
            "--ldap.username=bob",
            "--ldap.password=bobpw",
            &format!("--ldap.realm={REALM}"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    secrets::register(&token);
    let (_, json) = guard.review(&token).await;
    assert_eq!(json["status"]["user"]["username"], "bob", "{json}");
    assert_eq!(groups(&json), ["devs"]);

    // A username and no password: asked for (here on standard input) when
    // the cache holds no ticket of that user (alice's cache is not bob's).
    for ccache in [realm.dir.path().join("none.ccache"), realm.ccache.clone()] {
        use std::io::Write as _;
        let mut child = sb
            .guard()
            .args(["get", "token", "-o", "ldap", "--ldap.auth-choice=Kerberos"])
            .arg(format!(
                "--ldap.krb5-config={}",
                realm.kdc.krb5_conf().display()
            ))
            .args([&format!("--ldap.spn={SPN}"), "--ldap.username=bob"])
            .env("KRB5CCNAME", format!("FILE:{}", ccache.display()))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"bobpw\n").unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        secrets::assert_clean("guard get token (stderr)", &stderr);
        assert!(out.status.success(), "{stderr}");
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        secrets::register(&token);
        let (_, json) = guard.review(&token).await;
        assert_eq!(json["status"]["user"]["username"], "bob", "{json}");
    }

    // No ticket and no password: one line that says what to do.
    let out = realm.get_token(
        &sb,
        &realm.dir.path().join("none.ccache"),
        &[&format!("--ldap.spn={SPN}")],
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("run kinit"), "{err}");
    // An expired TGT says the same.
    let short = realm.dir.path().join("short.ccache");
    realm.kdc.kinit("alice", "alicepw", &short, &["-l", "30s"]);
    let out = realm.get_token(&sb, &short, &[&format!("--ldap.spn={SPN}")]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!("run kinit alice@{REALM}")), "{err}");
    // No SPN: named.
    let out = realm.get_token(&sb, &realm.ccache, &[]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("set --ldap.spn"), "{err}");
}

#[tokio::test]
async fn guard_login_writes_an_exec_user_and_kubectl_sends_its_ticket() {
    if common::require::missing(&[Peer::MitKdc, Peer::Slapd, Peer::Kubectl]) {
        return;
    }
    let realm = Realm::new(Kdc::start());
    let guard = realm.guard(&[&format!("--ldap.spn={SPN}")]);
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "server", "--ips=127.0.0.1"]);
    let pki = sb.pki();
    let api = common::peers::ApiServerStub::start(&pki.join("server.crt"), &pki.join("server.key"));
    let config = sb.home.path().join("kubeconfig");
    let kubectl_run = |args: &[&str]| {
        let out = std::process::Command::new(kubectl())
            .arg("--kubeconfig")
            .arg(&config)
            .args(args)
            .env("KRB5CCNAME", format!("FILE:{}", realm.ccache.display()))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        secrets::assert_clean("kubectl (stderr)", &String::from_utf8_lossy(&out.stderr));
        out
    };
    let out = kubectl_run(&[
        "config",
        "set-cluster",
        "prod",
        &format!("--server=https://127.0.0.1:{}", api.port),
        &format!("--certificate-authority={}", pki.join("ca.crt").display()),
    ]);
    assert!(out.status.success());
    let out = sb.ok(&[
        "login",
        "-o",
        "ldap",
        "--cluster",
        "prod",
        "--kubeconfig",
        config.to_str().unwrap(),
        "--ldap.auth-choice=Kerberos",
        &format!("--ldap.spn={SPN}"),
        &format!("--ldap.krb5-config={}", realm.kdc.krb5_conf().display()),
    ]);
    assert!(out.contains("user prod-ldap added"), "{out}");

    let out = kubectl_run(&["--context", "prod-ldap", "get", "pods"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = api.authorizations.lock().unwrap().clone();
    let token = sent
        .iter()
        .find_map(|h| h.strip_prefix("Bearer "))
        .unwrap_or_else(|| panic!("no bearer token in {sent:?}"))
        .to_owned();
    secrets::register(&token);
    let (_, json) = guard.review(&token).await;
    assert_eq!(json["status"]["authenticated"], true, "{json}");
    assert_eq!(json["status"]["user"]["username"], "alice");
    assert_eq!(groups(&json), ["admins", "devs"]);

    // Without --ldap.spn, login says so before writing anything.
    let err = sb.fails(&[
        "login",
        "-o",
        "ldap",
        "--cluster",
        "prod",
        "--kubeconfig",
        config.to_str().unwrap(),
        "--ldap.auth-choice=Kerberos",
    ]);
    assert!(err.contains("--ldap.spn"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_for_another_service_replayed_and_expired_are_plain_denials() {
    if common::require::missing(&[Peer::MitKdc, Peer::Slapd]) {
        return;
    }
    let realm = Realm::new(Kdc::start());
    let other = "HTTP/other.example.com";
    realm
        .kdc
        .kadmin(REALM, &format!("addprinc -randkey {other}\n"));
    // The keytab holds both services' keys; --ldap.spn accepts one.
    realm.kdc.export_keytab(other, &realm.keytab);
    register_keytab(&realm.keytab);
    let guard = realm.guard(&[&format!("--ldap.spn={SPN}")]);
    let sb = Sandbox::new();

    let for_other = realm.token(&sb, other);
    assert_denied(
        &guard,
        &for_other,
        &format!("the ticket is for {other}@{REALM}, not for {SPN}"),
    )
    .await;

    // A replayed authenticator: the same AP-REQ in another encoding (so
    // that guard's answer cache cannot hide it).
    let token = realm.token(&sb, SPN);
    let (_, json) = guard.review(&token).await;
    assert_eq!(json["status"]["authenticated"], true, "{json}");
    let der = base64::engine::general_purpose::STANDARD
        .decode(&token)
        .unwrap();
    let replayed = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&der);
    assert_ne!(replayed, token);
    secrets::register(&replayed);
    assert_denied(
        &guard,
        &replayed,
        "the authenticator was already used (replay)",
    )
    .await;

    // An expired ticket with a fresh authenticator (a client that does not
    // check, made with guard-kerberos): bob's tickets live one second; the
    // server allows a clock skew of two.
    realm
        .kdc
        .kadmin(REALM, "modprinc -maxlife \"1 second\" bob\n");
    let strict = realm.guard(&[&format!("--ldap.spn={SPN}"), "--ldap.clock-skew=2s"]);
    let client = guard_kerberos::client::Client::new(&realm.kdc.krb5_conf()).unwrap();
    let ticket = client
        .service_ticket_with_password("bob", None, "bobpw", SPN)
        .unwrap();
    let stale = ticket.expires() + Duration::from_secs(2);
    eventually(Duration::from_secs(30), "bob's ticket to expire", || {
        SystemTime::now() > stale
    });
    // A fresh authenticator per try: under load a review may come too late
    // for the skew, which is refused too but for another reason.
    let mut tries = 0;
    eventually(
        Duration::from_secs(60),
        "a review refusing the expired ticket",
        || {
            tries += 1;
            let token = ticket.token().unwrap();
            secrets::register(&token);
            let (status, json) = tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(strict.review(&token))
            });
            assert_eq!(status, 200);
            assert_eq!(json["status"]["authenticated"], false, "{json}");
            assert!(json["status"].get("error").is_none(), "{json}");
            strict.server.log().contains("the ticket expired")
        },
    );
    assert!(tries >= 1);
}

#[tokio::test]
async fn a_rotated_key_is_refused_until_the_keytab_is_reexported_and_reloaded() {
    if common::require::missing(&[Peer::MitKdc, Peer::Slapd]) {
        return;
    }
    let realm = Realm::new(Kdc::start());
    // --reload-interval=100ms (the test server's): the keytab is watched.
    let guard = realm.guard(&[&format!("--ldap.spn={SPN}")]);
    let sb = Sandbox::new();
    let before = realm.token(&sb, SPN);
    let (_, json) = guard.review(&before).await;
    assert_eq!(json["status"]["authenticated"], true, "{json}");

    // The KDC's key changes: new tickets carry the next key version, which
    // the keytab in use does not have.
    realm.kdc.rotate_key(SPN);
    let after = realm.token(&sb, SPN);
    assert_denied(
        &guard,
        &after,
        "is encrypted with key version 2; the keytab has [1]",
    )
    .await;

    // Exported again and swapped in as a Secret volume does it (rename):
    // guard reloads it without a restart.
    let staged = realm.dir.path().join("staged.keytab");
    realm.kdc.export_keytab(SPN, &staged);
    register_keytab(&staged);
    std::fs::rename(&staged, &realm.keytab).unwrap();
    eventually(Duration::from_secs(30), "the keytab to be reloaded", || {
        guard.server.log().contains("keytab reloaded")
    });
    let log = guard.server.log();
    assert!(log.contains(&format!("{SPN}@{REALM} (kvno 2)")), "{log}");
    let token = realm.token(&sb, SPN);
    let (_, json) = guard.review(&token).await;
    assert_eq!(json["status"]["authenticated"], true, "{json}");

    // A broken keytab keeps the keys in use.
    std::fs::write(realm.dir.path().join("broken"), b"\x05\x02garbage").unwrap();
    std::fs::rename(realm.dir.path().join("broken"), &realm.keytab).unwrap();
    eventually(
        Duration::from_secs(30),
        "the broken keytab to be reported",
        || {
            guard
                .server
                .log()
                .contains("keeping the keys loaded before")
        },
    );
    let token = realm.token(&sb, SPN);
    let (_, json) = guard.review(&token).await;
    assert_eq!(json["status"]["authenticated"], true, "{json}");
}

#[tokio::test]
async fn a_trusted_foreign_realms_user_is_refused_unless_its_realm_is_named() {
    if common::require::missing(&[Peer::MitKdc, Peer::Slapd]) {
        return;
    }
    let realm = Realm::new(Kdc::start_with_trust());
    let erin = realm.dir.path().join("erin.ccache");
    realm
        .kdc
        .kinit(&format!("erin@{OTHER_REALM}"), "erinpw", &erin, &[]);
    let sb = Sandbox::new();
    let out = realm.get_token(&sb, &erin, &[&format!("--ldap.spn={SPN}")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    secrets::register(&token);

    // Default: users of the keytab's realm only.
    let guard = realm.guard(&[&format!("--ldap.spn={SPN}")]);
    assert_denied(
        &guard,
        &token,
        &format!("the client erin@{OTHER_REALM} is of another realm than the service"),
    )
    .await;
    // --ldap.realm names the one realm accepted.
    let strict = realm.guard(&[
        &format!("--ldap.spn={SPN}"),
        &format!("--ldap.realm={REALM}"),
    ]);
    assert_denied(
        &strict,
        &token,
        &format!("the client erin@{OTHER_REALM} is not in realm {REALM}"),
    )
    .await;
}

#[tokio::test]
async fn an_ldap_outage_is_an_error_the_api_server_does_not_cache() {
    if common::require::missing(&[Peer::MitKdc, Peer::Slapd]) {
        return;
    }
    let mut realm = Realm::new(Kdc::start());
    let guard = realm.guard(&[&format!("--ldap.spn={SPN}")]);
    let sb = Sandbox::new();
    realm.slapd.stop();
    let token = realm.token(&sb, SPN);
    let (status, json) = guard.review(&token).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false, "{json}");
    let error = json["status"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("LDAP"), "{json}");

    // Back up: a new token (kubectl asks for one after a 401) works.
    realm.slapd.run();
    let token = realm.token(&sb, SPN);
    let (_, json) = guard.review(&token).await;
    assert_eq!(json["status"]["authenticated"], true, "{json}");

    // The server never needs the KDC: a token made before it stopped works.
    let token = realm.token(&sb, SPN);
    realm.kdc.stop();
    let (_, json) = guard.review(&token).await;
    assert_eq!(json["status"]["authenticated"], true, "{json}");
}

#[test]
fn bad_kerberos_options_fail_with_one_line_naming_the_flag() {
    let sb = Sandbox::new();
    prepare(&sb);
    let pki = sb.pki();
    let p = |f: &str| pki.join(f).display().to_string();
    let keytab = testdata().join("installer/krb5.keytab");
    let base = vec![
        "run".to_owned(),
        "--secure-addr=127.0.0.1:0".to_owned(),
        format!("--tls-ca-file={}", p("ca.crt")),
        format!("--tls-cert-file={}", p("server.crt")),
        format!("--tls-private-key-file={}", p("server.key")),
        "--auth-providers=ldap".to_owned(),
        "--ldap.server-address=127.0.0.1".to_owned(),
        format!("--ldap.user-search-dn={BASE}"),
        format!("--ldap.group-search-dn=ou=groups,{BASE}"),
    ];
    let fails = |extra: &[&str], expected: &str| {
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend(extra);
        let err = sb.fails(&args);
        let line = err
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("{extra:?}: {err}"));
        assert!(line.contains(expected), "{extra:?}: {err}");
    };
    fails(
        &["--ldap.auth-choice=Kerberos"],
        "--ldap.auth-choice=Kerberos needs --ldap.keytab-file",
    );
    fails(
        &[
            "--ldap.auth-choice=kerberos",
            "--ldap.keytab-file=/nonexistent/krb5.keytab",
        ],
        "--ldap.keytab-file: cannot read the keytab /nonexistent/krb5.keytab",
    );
    let keytab = format!("--ldap.keytab-file={}", keytab.display());
    fails(
        &[
            "--ldap.auth-choice=Kerberos",
            &keytab,
            "--ldap.spn=HTTP/other.example.com",
        ],
        "has no key for HTTP/other.example.com (it has keys for HTTP/guard.example.com@GUARD.TEST)",
    );
    fails(
        &[&keytab, "--ldap.realm=GUARD.TEST"],
        "--ldap.realm is only used with --ldap.auth-choice=Kerberos",
    );
}
