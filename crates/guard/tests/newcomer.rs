//! What a newcomer following the docs runs into (issue 21): file errors,
//! where the PKI is, the server certificate behind `--addr`, the review
//! log, the help text. Everything through the real `guard` binary.
#![allow(clippy::unwrap_used)]

mod common;

use common::client::{Call, send};
use common::server::{GuardServer, prepare, review_body};
use common::*;

#[test]
fn a_missing_file_names_the_flag_and_the_os_error_once() {
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "server", "--ips=10.96.10.96"]);
    for args in [
        &[
            "--auth-providers=token-auth",
            "--token-auth-file=tokens.csv",
        ][..],
        &[
            "--auth-providers=google",
            "--google.client-id=1234-abc.apps.googleusercontent.com",
            "--google.sa-json-file=sa.json",
            "--google.admin-email=admin@example.com",
        ],
        &[
            "--auth-providers=ldap",
            "--ldap.server-address=ldap.example.com",
            "--ldap.user-search-dn=ou=users,dc=example,dc=com",
            "--ldap.group-search-dn=ou=groups,dc=example,dc=com",
            "--ldap.ca-cert-file=ldap-ca.crt",
        ],
        &["--auth-providers=eks", "--eks.mapping-file=mapping.yaml"],
    ] {
        let file = args
            .iter()
            .find_map(|a| a.split_once("-file=").map(|(_, f)| f))
            .unwrap();
        let err = sb.fails(&[&["get", "installer"][..], args].concat());
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(file), "{err}");
        assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
        assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    }
}

#[test]
fn guard_run_says_where_guard_init_put_the_tls_files() {
    let sb = Sandbox::new();
    let tokens = prepare(&sb);
    let tokens = format!("--token-auth-file={}", tokens.display());
    let run = |sb: &Sandbox| {
        // As README.md once had it: names relative to the PKI directory,
        // run from somewhere else.
        sb.fails(&[
            "run",
            "--secure-addr=127.0.0.1:0",
            "--auth-providers=token-auth",
            &tokens,
            "--tls-ca-file=ca.crt",
            "--tls-cert-file=server.crt",
            "--tls-private-key-file=server.key",
        ])
    };
    let err = run(&sb);
    let pki = sb.pki();
    for (flag, file) in [
        ("--tls-ca-file", "ca.crt"),
        ("--tls-cert-file", "server.crt"),
        ("--tls-private-key-file", "server.key"),
    ] {
        assert!(
            err.contains(&format!("{flag}={}", pki.join(file).display())),
            "{err}"
        );
    }
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );

    // No PKI yet: which commands make it, and where.
    let empty = Sandbox::new();
    std::fs::write(empty.home.path().join("t.csv"), "x,y,1\n").unwrap();
    let err = empty.fails(&[
        "run",
        "--auth-providers=token-auth",
        &format!(
            "--token-auth-file={}",
            empty.home.path().join("t.csv").display()
        ),
        "--tls-ca-file=ca.crt",
        "--tls-cert-file=server.crt",
        "--tls-private-key-file=server.key",
    ]);
    assert!(
        err.contains("guard init ca") && err.contains(&empty.pki().display().to_string()),
        "{err}"
    );
}

/// Replaces the sandbox's server certificate with one for `ips`, signed by
/// its CA, valid from `from` to `to` seconds from now.
fn server_cert(sb: &Sandbox, ip: [u8; 4], from: i64, to: i64) {
    let pki = sb.pki();
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(pki.join("ca.key")).unwrap()).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(
        &std::fs::read_to_string(pki.join("ca.crt")).unwrap(),
        ca_key,
    )
    .unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "server");
    params.subject_alt_names = vec![rcgen::SanType::IpAddress(ip.into())];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::seconds(from);
    params.not_after = now + time::Duration::seconds(to);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(pki.join("server.crt"), cert.pem()).unwrap();
    std::fs::write(pki.join("server.key"), key.serialize_pem()).unwrap();
}

#[test]
fn a_server_certificate_the_api_server_would_refuse_is_caught() {
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "client", "team", "-o", "token-auth"]);
    std::fs::write(sb.home.path().join("t.csv"), "x,y,1\n").unwrap();
    let tokens = format!(
        "--token-auth-file={}",
        sb.home.path().join("t.csv").display()
    );
    let installer = ["get", "installer", "--auth-providers=token-auth", &tokens];
    let webhook = |addr: &str| {
        let out = sb
            .guard()
            .args(["get", "webhook-config", "team", "-o", "token-auth"])
            .arg(format!("--addr={addr}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("kind: Config"));
        String::from_utf8(out.stderr).unwrap()
    };

    // Valid for 10.96.10.96 and now: no complaint.
    server_cert(&sb, [10, 96, 10, 96], -60, 3600);
    sb.ok(&installer);
    assert_eq!(webhook("10.96.10.96:443"), "");
    // Another address: the webhook config is printed, with a warning.
    let warning = webhook("10.0.0.7:443");
    assert!(
        warning.starts_with("warning: ")
            && warning.contains("is not valid for 10.0.0.7")
            && warning.contains("guard init server --ips=10.0.0.7 --force"),
        "{warning}"
    );

    // Expired, or not valid yet: the installer refuses, the webhook config
    // warns.
    for (from, to, what) in [
        (-7200, -3600, "expired on"),
        (3600, 7200, "is not valid before"),
    ] {
        server_cert(&sb, [10, 96, 10, 96], from, to);
        let err = sb.fails(&installer);
        assert!(
            err.contains(what) && err.contains("guard init server --ips=10.96.10.96 --force"),
            "{err}"
        );
        let warning = webhook("10.96.10.96:443");
        assert!(warning.contains(what), "{warning}");
    }
}

#[tokio::test]
async fn review_logs_give_the_latency_in_whole_microseconds() {
    let sb = Sandbox::new();
    let tokens = prepare(&sb);
    let server = GuardServer::start(
        &sb,
        &[
            "--auth-providers=token-auth",
            &format!("--token-auth-file={}", tokens.display()),
        ],
    );
    let pki = sb.pki();
    for token in ["good-token-123", "not-a-known-token"] {
        let call = Call::post("/tokenreviews", review_body("v1", token)).with_identity(
            &pki.join("demo@token-auth.crt"),
            &pki.join("demo@token-auth.key"),
        );
        send(server.port, &pki.join("ca.crt"), call).await.unwrap();
    }
    common::server::eventually(
        std::time::Duration::from_secs(30),
        "two review logs",
        || server.log().matches("latency_ms=").count() == 2,
    );
    for value in server.log().split("latency_ms=").skip(1) {
        let value = value.split_whitespace().next().unwrap();
        let decimals = value.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(
            value.parse::<f64>().is_ok() && decimals <= 3,
            "latency_ms={value}"
        );
    }
}

#[test]
fn help_names_every_provider_whose_client_name_may_be_left_out() {
    let optional: Vec<&str> = guard_providers::registry::names()
        .filter(|name| {
            guard_providers::registry::find(name).unwrap().client_name()
                == guard_providers::spec::ClientName::Optional
        })
        .collect();
    assert!(optional.contains(&"oidc"), "{optional:?}");
    let sb = Sandbox::new();
    for command in [&["init", "client"][..], &["get", "webhook-config"]] {
        let help = sb.ok(&[command, &["--help"]].concat());
        // The sentence that lists them, with wrapped lines joined.
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        let listed = help
            .split("to the provider for ")
            .nth(1)
            .unwrap_or_else(|| panic!("no list in: {help}"));
        let end = [listed.find('.'), listed.find(')'), listed.find(" Options:")]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(listed.len());
        let listed = &listed[..end];
        let mut listed: Vec<&str> = listed
            .split([',', ' '])
            .filter(|w| !w.is_empty() && *w != "and")
            .collect();
        listed.sort_unstable();
        let mut expected = optional.clone();
        expected.sort_unstable();
        assert_eq!(listed, expected, "{command:?}: {help}");
    }
}
