//! `guard init ca|server|client`, checked with the real `openssl`.
#![allow(clippy::unwrap_used)]

mod common;

use common::require::Peer;

use std::fs;

use common::*;

fn init_all(sb: &Sandbox) {
    sb.ok(&["init", "ca"]);
    sb.ok(&[
        "init",
        "server",
        "--ips=10.96.10.96",
        "--ips",
        "127.0.0.1,::1",
        "--domains=guard.kube-system.svc,guard",
    ]);
    sb.ok(&["init", "client", "MyOrg", "-o", "GitHub"]);
}

#[test]
fn init_writes_a_pki_openssl_accepts() {
    if common::require::missing(&[Peer::Openssl]) {
        return;
    }
    let sb = Sandbox::new();
    let out = sb.ok(&["init", "ca"]);
    assert_eq!(
        out.trim(),
        format!("Wrote ca certificates in {}", sb.pki().display())
    );
    let out = sb.ok(&[
        "init",
        "server",
        "--ips=10.96.10.96",
        "--ips",
        "127.0.0.1,::1",
        "--domains=guard.kube-system.svc,guard",
    ]);
    assert_eq!(
        out.trim(),
        format!("Wrote server certificates in {}", sb.pki().display())
    );
    let out = sb.ok(&["init", "client", "MyOrg", "-o", "GitHub"]);
    assert_eq!(
        out.trim(),
        format!("Wrote client certificates in {}", sb.pki().display())
    );

    let pki = sb.pki();
    let ca = pki.join("ca.crt");
    assert!(verifies(&ca, &pki.join("server.crt")));
    // File name lower-cased, CN as typed, O = the provider's canonical name.
    let client = pki.join("myorg@github.crt");
    assert!(verifies(&ca, &client));
    assert_eq!(subject(&client), "CN=MyOrg,O=github");
    assert_eq!(subject(&ca), "CN=ca");
    assert_eq!(subject(&pki.join("server.crt")), "CN=server");
}

#[test]
fn ca_has_the_extensions_guard_writes() {
    if common::require::missing(&[Peer::Openssl]) {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    let text = x509_text(&sb.pki().join("ca.crt"));
    assert!(
        text.contains("X509v3 Basic Constraints: critical\n                CA:TRUE, pathlen:0"),
        "{text}"
    );
    assert!(
        text.contains("X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment, Certificate Sign"),
        "{text}"
    );
    assert!(
        text.contains("Signature Algorithm: sha256WithRSAEncryption"),
        "{text}"
    );
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    // Ten years (3650 days), give or take the five-minute backdate.
    let days = validity_days(&sb.pki().join("ca.crt"));
    assert!((3649..=3651).contains(&days), "CA valid for {days} days");
}

/// pathLen 0: whoever gets hold of a CA certificate signed by guard's CA
/// (or makes one with its key) cannot issue certificates the server trusts.
#[test]
fn the_ca_signs_no_intermediate_authority() {
    if common::require::missing(&[Peer::Openssl]) {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    let pki = sb.pki();
    let dir = sb.home.path();
    let path = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    let ext = path("ext.cnf");
    std::fs::write(
        &ext,
        "[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,digitalSignature\n\
         [leaf]\nbasicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = common::openssl(args);
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (ca_crt, ca_key) = (
        pki.join("ca.crt").to_str().unwrap().to_owned(),
        pki.join("ca.key").to_str().unwrap().to_owned(),
    );
    // An intermediate CA signed with guard's CA key, and a client under it.
    run(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=intermediate",
        "-keyout",
        &path("int.key"),
        "-out",
        &path("int.csr"),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &path("int.csr"),
        "-CA",
        &ca_crt,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &ext,
        "-extensions",
        "ca",
        "-out",
        &path("int.crt"),
    ]);
    run(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/O=github/CN=acme",
        "-keyout",
        &path("leaf.key"),
        "-out",
        &path("leaf.csr"),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        &path("leaf.csr"),
        "-CA",
        &path("int.crt"),
        "-CAkey",
        &path("int.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &ext,
        "-extensions",
        "leaf",
        "-out",
        &path("leaf.crt"),
    ]);
    let out = common::openssl(&[
        "verify",
        "-CAfile",
        &ca_crt,
        "-untrusted",
        &path("int.crt"),
        &path("leaf.crt"),
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("path length constraint exceeded"), "{text}");
}

#[test]
fn leaf_certificates_have_the_right_usages_and_sans() {
    if common::require::missing(&[Peer::Openssl]) {
        return;
    }
    let sb = Sandbox::new();
    init_all(&sb);
    let server = x509_text(&sb.pki().join("server.crt"));
    assert!(server.contains("TLS Web Server Authentication"), "{server}");
    assert!(
        !server.contains("TLS Web Client Authentication"),
        "{server}"
    );
    assert!(
        server.contains("Digital Signature, Key Encipherment"),
        "{server}"
    );
    assert!(!server.contains("CA:TRUE"), "{server}");
    for san in [
        "IP Address:10.96.10.96",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
        "DNS:guard.kube-system.svc",
        "DNS:guard",
    ] {
        assert!(server.contains(san), "missing {san} in {server}");
    }
    assert!(
        server.contains("X509v3 Authority Key Identifier"),
        "{server}"
    );

    let client = x509_text(&sb.pki().join("myorg@github.crt"));
    assert!(client.contains("TLS Web Client Authentication"), "{client}");
    assert!(
        !client.contains("TLS Web Server Authentication"),
        "{client}"
    );
    let days = validity_days(&sb.pki().join("myorg@github.crt"));
    assert!((364..=366).contains(&days), "client valid for {days} days");
}

#[test]
fn serials_are_random_and_not_zero() {
    if common::require::missing(&[Peer::Openssl]) {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    let first = serial(&sb.pki().join("ca.crt"));
    sb.ok(&["init", "ca", "--force"]);
    let second = serial(&sb.pki().join("ca.crt"));
    assert_ne!(first, second);
    assert_ne!(first.trim_start_matches('0'), "");
    assert!(first.len() >= 16, "serial {first} is short");
}

#[test]
fn keys_are_private_and_the_directory_closed() {
    let sb = Sandbox::new();
    init_all(&sb);
    let pki = sb.pki();
    assert_eq!(mode(&pki), 0o700);
    for key in ["ca.key", "server.key", "myorg@github.key"] {
        assert_eq!(mode(&pki.join(key)), 0o600, "{key}");
    }
    for cert in ["ca.crt", "server.crt", "myorg@github.crt"] {
        assert_eq!(mode(&pki.join(cert)), 0o644, "{cert}");
    }
    // No temporary files are left behind.
    let names: Vec<_> = fs::read_dir(&pki)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 6, "{names:?}");
}

#[test]
fn existing_files_are_not_overwritten_without_force() {
    let sb = Sandbox::new();
    init_all(&sb);
    let pki = sb.pki();
    for (args, file) in [
        (vec!["init", "ca"], "ca.crt"),
        (vec!["init", "server"], "server.crt"),
        (
            vec!["init", "client", "myorg", "-o", "github"],
            "myorg@github.crt",
        ),
    ] {
        let before = fs::read(pki.join(file)).unwrap();
        let err = sb.fails(&args);
        assert!(
            err.contains("already exists") && err.contains("--force"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert_eq!(fs::read(pki.join(file)).unwrap(), before, "{file} changed");

        let mut forced = args.clone();
        forced.push("--force");
        sb.ok(&forced);
        assert_ne!(
            fs::read(pki.join(file)).unwrap(),
            before,
            "{file} not replaced"
        );
    }
}

#[test]
fn signs_with_a_ca_written_by_go_guard() {
    if common::require::missing(&[Peer::Openssl]) {
        return;
    }
    let sb = Sandbox::new();
    let pki = sb.pki();
    fs::create_dir_all(&pki).unwrap();
    for f in ["ca.crt", "ca.key"] {
        fs::copy(testdata().join("guard-go/pki").join(f), pki.join(f)).unwrap();
    }
    assert!(
        fs::read_to_string(pki.join("ca.key"))
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    sb.ok(&["init", "server", "--ips=10.96.10.96"]);
    sb.ok(&["init", "client", "appscode", "-o", "github"]);
    let go_ca = testdata().join("guard-go/pki/ca.crt");
    assert!(verifies(&go_ca, &pki.join("server.crt")));
    assert!(verifies(&go_ca, &pki.join("appscode@github.crt")));
    // The issuer is the Go CA's subject, byte for byte as openssl shows it.
    let issuer = openssl(&[
        "x509",
        "-noout",
        "-issuer",
        "-in",
        pki.join("server.crt").to_str().unwrap(),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&issuer.stdout).trim(),
        "issuer=CN = ca"
    );
}

#[test]
fn missing_ca_names_the_command_to_run() {
    let sb = Sandbox::new();
    for args in [
        vec!["init", "server"],
        vec!["init", "client", "acme", "-o", "github"],
    ] {
        let err = sb.fails(&args);
        assert!(err.contains("guard init ca"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn unknown_or_missing_provider_is_refused() {
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    let err = sb.fails(&["init", "client", "acme", "-o", "appscode"]);
    assert!(
        err.contains("unknown provider \"appscode\"") && err.contains("token-auth"),
        "{err}"
    );
    let err = sb.fails(&["init", "client", "acme"]);
    assert!(err.contains("-o PROVIDER"), "{err}");
    let err = sb.fails(&["init", "client", "-o", "github"]);
    assert!(err.contains("missing client name"), "{err}");
}

#[test]
fn name_defaults_to_the_provider_for_azure_and_ldap() {
    if common::require::missing(&[Peer::Openssl]) {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    for p in ["Azure", "LDAP"] {
        sb.ok(&["init", "client", "-o", p]);
        let lower = p.to_lowercase();
        let cert = sb.pki().join(format!("{lower}@{lower}.crt"));
        assert_eq!(subject(&cert), format!("CN={lower},O={lower}"));
    }
    sb.ok(&["init", "client", "team", "-o", "token-auth"]);
    assert_eq!(
        subject(&sb.pki().join("team@token-auth.crt")),
        "CN=team,O=token-auth"
    );
}

#[test]
fn broken_or_mismatched_ca_gives_one_clear_line() {
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    let pki = sb.pki();
    // A key from another CA.
    fs::copy(testdata().join("guard-go/pki/ca.key"), pki.join("ca.key")).unwrap();
    let err = sb.fails(&["init", "server"]);
    assert!(err.contains("does not match"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // A certificate file that is not a certificate.
    fs::write(pki.join("ca.crt"), "garbage\n").unwrap();
    let err = sb.fails(&["init", "server"]);
    assert!(
        err.contains("ca.crt") && err.contains("not a PEM certificate"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // A key file that is not a key.
    sb.ok(&["init", "ca", "--force"]);
    fs::write(
        pki.join("ca.key"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = sb.fails(&["init", "client", "x", "-o", "github"]);
    assert!(
        err.contains("ca.key") && err.contains("not a PEM private key"),
        "{err}"
    );
    assert!(!err.contains("AAAA"), "{err}");
}

#[test]
fn ecdsa_keys_on_request() {
    if common::require::missing(&[Peer::Openssl]) {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init", "ca", "--key-algorithm=ecdsa-p256"]);
    sb.ok(&["init", "server", "--key-algorithm", "ecdsa-p256"]);
    let text = x509_text(&sb.pki().join("server.crt"));
    assert!(
        text.contains("id-ecPublicKey") && text.contains("P-256"),
        "{text}"
    );
    assert!(text.contains("ecdsa-with-SHA256"), "{text}");
    assert!(verifies(
        &sb.pki().join("ca.crt"),
        &sb.pki().join("server.crt")
    ));
    // An RSA leaf under an ECDSA CA works too.
    sb.ok(&["init", "client", "acme", "-o", "github"]);
    assert!(verifies(
        &sb.pki().join("ca.crt"),
        &sb.pki().join("acme@github.crt")
    ));
}

#[test]
fn pki_dir_and_guard_data_dir_choose_the_location() {
    let sb = Sandbox::new();
    let elsewhere = sb.home.path().join("elsewhere");
    sb.ok(&["init", "ca", "--pki-dir", elsewhere.to_str().unwrap()]);
    assert!(elsewhere.join("pki/ca.crt").exists());
    let data = sb.home.path().join("data");
    let out = sb
        .guard()
        .args(["init", "ca"])
        .env("GUARD_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(data.join("pki/ca.key").exists());
    assert!(!sb.pki().exists());
}

#[test]
fn duration_sets_the_lifetime() {
    if common::require::missing(&[Peer::Openssl]) {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "server", "--duration=30d"]);
    let days = validity_days(&sb.pki().join("server.crt"));
    assert!((29..=31).contains(&days), "{days}");
    let err = sb.fails(&["init", "server", "--force", "--duration=forever"]);
    assert!(err.contains("--duration"), "{err}");
}

fn serial(cert: &std::path::Path) -> String {
    let out = openssl(&["x509", "-noout", "-serial", "-in", cert.to_str().unwrap()]);
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .trim_start_matches("serial=")
        .to_owned()
}

/// Days between notBefore and notAfter, from `openssl x509 -dates`.
fn validity_days(cert: &std::path::Path) -> i64 {
    let out = openssl(&[
        "x509",
        "-noout",
        "-startdate",
        "-enddate",
        "-dateopt",
        "iso_8601",
        "-in",
        cert.to_str().unwrap(),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut dates = text
        .lines()
        .map(|l| l.split_once('=').unwrap().1.trim().to_owned());
    let (start, end) = (dates.next().unwrap(), dates.next().unwrap());
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    let parse = |s: &str| time::PrimitiveDateTime::parse(s, &format).unwrap();
    (parse(&end) - parse(&start)).whole_days()
}

/// Runs `guard ARGS` on a real terminal (util-linux `script`), typing `input`.
fn on_a_terminal(sb: &Sandbox, args: &str, input: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} {args}", env!("CARGO_BIN_EXE_guard")),
            "/dev/null",
        ])
        .env("HOME", sb.home.path())
        .env_remove("GUARD_DATA_DIR")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn on_a_terminal_init_asks_before_replacing() {
    if common::require::missing(&[Peer::Script]) {
        return;
    }
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    let before = fs::read(sb.pki().join("ca.crt")).unwrap();

    // Enter (the default) keeps the files.
    let (ok, screen) = on_a_terminal(&sb, "init ca", "\n");
    assert!(!ok, "{screen}");
    assert!(
        screen.contains("already exist. Overwrite? [y/N]"),
        "{screen}"
    );
    assert_eq!(fs::read(sb.pki().join("ca.crt")).unwrap(), before);

    // A wrong answer asks again; "y" replaces.
    let (ok, screen) = on_a_terminal(&sb, "init ca", "maybe\ny\n");
    assert!(ok, "{screen}");
    assert!(screen.contains("please answer y or n"), "{screen}");
    assert_ne!(fs::read(sb.pki().join("ca.crt")).unwrap(), before);
}
