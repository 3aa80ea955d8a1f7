//! The LDAP provider through the real webhook path, against a real OpenLDAP
//! slapd over plain LDAP, StartTLS and LDAPS (TLS from guard's own CA).
#![allow(clippy::unwrap_used)]

mod common;

use common::require::Peer;

use common::ldap::{BASE, Slapd, token};
use common::server::*;

fn guard_for(slapd: &Slapd, extra: &[&str]) -> Reviewer {
    // An extra flag replaces the base flag of the same name.
    let name = |a: &str| a.split('=').next().unwrap_or_default().to_owned();
    let mut args: Vec<String> = slapd
        .flags()
        .into_iter()
        .filter(|a| !extra.iter().any(|e| name(e) == name(a)))
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Reviewer::start("ldap", "ldap", &args)
}

fn sorted_groups(json: &serde_json::Value) -> Vec<String> {
    let mut groups: Vec<String> = json["status"]["user"]["groups"]
        .as_array()
        .map(|a| a.iter().map(|g| g.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    groups.sort();
    groups
}

#[tokio::test]
async fn users_with_none_one_and_many_groups() {
    if common::require::missing(&[Peer::Slapd]) {
        return;
    }
    let slapd = Slapd::start();
    let guard = guard_for(&slapd, &[]);
    let (status, json) = guard.review(&token("alice:alicepw")).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], true, "{json}");
    assert_eq!(json["status"]["user"]["username"], "alice");
    assert_eq!(
        json["status"]["user"]["uid"],
        format!("uid=alice,ou=users,{BASE}")
    );
    assert_eq!(sorted_groups(&json), ["admins", "devs"]);

    let (_, json) = guard.review(&token("carol:carolpw")).await;
    assert_eq!(json["status"]["authenticated"], true);
    assert!(sorted_groups(&json).is_empty());

    let (_, json) = guard.review(&token("dave:davepw")).await;
    let groups = sorted_groups(&json);
    assert_eq!(groups.len(), 30);
    assert_eq!(groups[0], "team-01");
    assert!(
        !guard.server.log().contains("alicepw")
            && !guard.server.log().contains(&token("alice:alicepw"))
    );
}

#[tokio::test]
async fn posix_groups_nested_groups_and_the_uid_attribute() {
    if common::require::missing(&[Peer::Slapd]) {
        return;
    }
    let slapd = Slapd::start();
    let posix = guard_for(
        &slapd,
        &[
            "--ldap.group-search-filter=(objectClass=posixGroup)",
            "--ldap.group-member-attribute=memberUid",
            "--ldap.group-member-value=username",
        ],
    );
    let (_, json) = posix.review(&token("bob:bobpw")).await;
    assert_eq!(sorted_groups(&json), ["posix-devs"]);

    let nested = guard_for(
        &slapd,
        &[
            "--ldap.nested-group-depth=2",
            "--ldap.uid-attribute=uidNumber",
        ],
    );
    let (_, json) = nested.review(&token("alice:alicepw")).await;
    assert_eq!(
        sorted_groups(&json),
        ["admins", "company", "devs", "engineering"]
    );
    assert_eq!(json["status"]["user"]["uid"], "1001");
    let one_level = guard_for(&slapd, &["--ldap.nested-group-depth=1"]);
    let (_, json) = one_level.review(&token("alice:alicepw")).await;
    assert_eq!(sorted_groups(&json), ["admins", "devs", "engineering"]);
}

#[tokio::test]
async fn the_directory_spells_the_username_and_reserved_groups_are_dropped() {
    if common::require::missing(&[Peer::Slapd]) {
        return;
    }
    let slapd = Slapd::start();
    let guard = guard_for(&slapd, &[]);
    // The directory matches uid ignoring case and surrounding spaces; the
    // Kubernetes user is the directory's spelling, one user for all three.
    for typed in ["ALICE", " alice ", "Alice", "alice"] {
        let (status, json) = guard.review(&token(&format!("{typed}:alicepw"))).await;
        assert_eq!(status, 200);
        assert_eq!(json["status"]["authenticated"], true, "{typed:?}: {json}");
        assert_eq!(json["status"]["user"]["username"], "alice", "{typed:?}");
        // alice is also in cn=system:masters: dropped.
        assert_eq!(sorted_groups(&json), ["admins", "devs"], "{typed:?}");
    }
    let log = guard.server.log();
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("WARN") && l.contains("reserved group \"system:masters\""))
            .count(),
        1,
        "{log}"
    );

    let allowed = guard_for(&slapd, &["--ldap.allow-system-groups"]);
    let (_, json) = allowed.review(&token("alice:alicepw")).await;
    assert_eq!(sorted_groups(&json), ["admins", "devs", "system:masters"]);
}

#[tokio::test]
async fn wrong_password_unknown_ambiguous_and_injected_users_are_denied_without_a_hint() {
    if common::require::missing(&[Peer::Slapd]) {
        return;
    }
    let slapd = Slapd::start();
    let guard = guard_for(&slapd, &[]);
    for credentials in [
        "alice:wrong",
        "nobody:x",
        "twin:twinpw", // two entries match: ambiguous
        "al*:alicepw", // a wildcard must not match alice
        "*:alicepw",
        "alice)(uid=*:alicepw", // filter injection
        "alice)(|(uid=*:alicepw",
        "alice\\2a:alicepw",
        "alice:", // empty password: an unauthenticated bind
        "cn=guard,ou=svc,dc=example,dc=com:guardpw", // a DN is not a username
    ] {
        let (status, json) = guard.review(&token(credentials)).await;
        assert_eq!(status, 200, "{credentials}");
        assert_eq!(
            json["status"]["authenticated"], false,
            "{credentials} got in: {json}"
        );
        assert!(
            json["status"].get("error").is_none(),
            "{credentials}: the answer hints why: {json}"
        );
    }
    for garbage in ["not-base64!", "YWxpY2U="] {
        let (_, json) = guard.review(garbage).await;
        assert_eq!(json["status"]["authenticated"], false);
    }
    let log = guard.server.log();
    assert!(log.contains("more than one LDAP entry"), "{log}");
    assert!(
        !log.contains("alicepw") && !log.contains("twinpw"),
        "a password reached the log"
    );
}

#[tokio::test]
async fn start_tls_and_ldaps_with_our_ca() {
    if common::require::missing(&[Peer::Slapd]) {
        return;
    }
    let slapd = Slapd::start();
    let ca = format!("--ldap.ca-cert-file={}", slapd.ca().display());
    let start_tls = guard_for(&slapd, &["--ldap.start-tls", &ca]);
    let (_, json) = start_tls.review(&token("alice:alicepw")).await;
    assert_eq!(json["status"]["authenticated"], true, "StartTLS: {json}");

    let ldaps_port = format!("--ldap.server-port={}", slapd.ldaps_port);
    let ldaps = guard_for(&slapd, &["--ldap.is-secure-ldap", &ca, &ldaps_port]);
    let (_, json) = ldaps.review(&token("bob:bobpw")).await;
    assert_eq!(json["status"]["authenticated"], true, "LDAPS: {json}");

    // Without our CA the server certificate is not trusted: an outage, not a login.
    let untrusted = guard_for(&slapd, &["--ldap.is-secure-ldap", &ldaps_port]);
    let (status, json) = untrusted.review(&token("bob:bobpw")).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false);
    assert!(json["status"]["error"].as_str().is_some(), "{json}");
    let skip = guard_for(
        &slapd,
        &[
            "--ldap.is-secure-ldap",
            &ldaps_port,
            "--ldap.skip-tls-verification",
        ],
    );
    let (_, json) = skip.review(&token("bob:bobpw")).await;
    assert_eq!(json["status"]["authenticated"], true, "{json}");
}

#[tokio::test]
async fn an_ldap_outage_is_an_error_and_the_next_review_after_it_succeeds() {
    if common::require::missing(&[Peer::Slapd]) {
        return;
    }
    let mut slapd = Slapd::start();
    // No cache, so every review reaches slapd.
    let guard = guard_for(&slapd, &["--cache-ttl=0", "--cache-failure-ttl=0"]);
    let (_, json) = guard.review(&token("alice:alicepw")).await;
    assert_eq!(json["status"]["authenticated"], true);

    slapd.stop();
    let (status, json) = guard.review(&token("alice:alicepw")).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], false);
    let error = json["status"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {json}"));
    assert!(error.contains("LDAP"), "{error}");

    slapd.run();
    let (_, json) = guard.review(&token("alice:alicepw")).await;
    assert_eq!(
        json["status"]["authenticated"], true,
        "after slapd came back: {json}"
    );
}

#[tokio::test]
async fn a_wrong_service_password_is_an_outage_naming_the_service_account() {
    if common::require::missing(&[Peer::Slapd]) {
        return;
    }
    let slapd = Slapd::start();
    let guard = guard_for(&slapd, &["--ldap.bind-password=not-the-password"]);
    let (_, json) = guard.review(&token("alice:alicepw")).await;
    let error = json["status"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {json}"));
    assert!(error.contains("service account"), "{error}");
    assert!(!guard.server.log().contains("not-the-password"));
}

#[test]
fn bad_ldap_options_fail_at_start_up() {
    let sb = common::Sandbox::new();
    let base = [
        "run",
        "--tls-ca-file=x",
        "--tls-cert-file=y",
        "--tls-private-key-file=z",
        "--auth-providers=ldap",
    ];
    let fails = |extra: &[&str], needle: &str| {
        let mut args = base.to_vec();
        args.extend(extra);
        let err = sb.fails(&args);
        assert!(err.contains(needle), "{extra:?}: {err}");
    };
    fails(&[], "--ldap.server-address");
    let full = [
        "--ldap.server-address=h",
        "--ldap.user-search-dn=ou=u",
        "--ldap.group-search-dn=ou=g",
    ];
    fails(
        &[&full[..], &["--ldap.auth-choice=Kerberos"]].concat(),
        "--ldap.auth-choice=Kerberos needs --ldap.keytab-file",
    );
    fails(
        &[&full[..], &["--ldap.start-tls", "--ldap.is-secure-ldap"]].concat(),
        "cannot both",
    );
    let err = sb.fails(&[
        "run",
        "--tls-ca-file=x",
        "--tls-cert-file=y",
        "--tls-private-key-file=z",
        "--auth-providers=github",
        "--ldap.server-address=h",
    ]);
    assert!(err.contains("ldap is not in --auth-providers"), "{err}");
}
