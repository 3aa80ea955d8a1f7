//! `guard get webhook-config`
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

#[test]
fn prints_guards_kubeconfig() {
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "client", "appscode", "-o", "github"]);
    let yaml = sb.ok(&["get", "webhook-config", "appscode", "-o", "github"]);
    let lines: Vec<&str> = yaml.lines().collect();
    // Keys sorted, as client-go writes them.
    assert_eq!(lines[0], "apiVersion: v1");
    assert_eq!(lines[1], "clusters:");
    assert!(
        yaml.contains("    server: https://10.96.10.96:443/tokenreviews\n  name: guard-server\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains(
            "- context:\n    cluster: guard-server\n    user: appscode@github\n  name: webhook\n"
        ),
        "{yaml}"
    );
    assert!(yaml.contains("current-context: webhook\nkind: Config\npreferences: {}\nusers:\n- name: appscode@github\n"), "{yaml}");
    let b64 = |key: &str| {
        let line = lines
            .iter()
            .find(|l| l.trim_start().starts_with(key))
            .unwrap();
        line.split_once(": ").unwrap().1.to_owned()
    };
    let decode = |s: String| {
        let out = std::process::Command::new("base64")
            .arg("-d")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        out.stdin.as_ref().unwrap().write_all(s.as_bytes()).unwrap();
        String::from_utf8(out.wait_with_output().unwrap().stdout).unwrap()
    };
    assert_eq!(
        decode(b64("certificate-authority-data:")),
        std::fs::read_to_string(sb.pki().join("ca.crt")).unwrap()
    );
    assert_eq!(
        decode(b64("client-certificate-data:")),
        std::fs::read_to_string(sb.pki().join("appscode@github.crt")).unwrap()
    );
    assert_eq!(
        decode(b64("client-key-data:")),
        std::fs::read_to_string(sb.pki().join("appscode@github.key")).unwrap()
    );
}

#[test]
fn addr_mode_and_default_names() {
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "client", "-o", "ldap"]);
    let yaml = sb.ok(&[
        "get",
        "webhook-config",
        "-o",
        "LDAP",
        "--addr=guard.example:8443",
        "--mode=authz",
    ]);
    assert!(
        yaml.contains("server: https://guard.example:8443/subjectaccessreviews"),
        "{yaml}"
    );
    assert!(yaml.contains("user: ldap@ldap"), "{yaml}");
    let err = sb.fails(&["get", "webhook-config", "-o", "ldap", "--mode=authx"]);
    assert!(err.contains("authn or authz"), "{err}");
}

#[test]
fn missing_files_name_the_init_command() {
    let sb = Sandbox::new();
    let err = sb.fails(&["get", "webhook-config", "acme", "-o", "github"]);
    assert!(err.contains("run `guard init ca`"), "{err}");
    sb.ok(&["init", "ca"]);
    let err = sb.fails(&["get", "webhook-config", "acme", "-o", "github"]);
    assert!(
        err.contains("run `guard init client acme -o github`"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// `--addr` is a host and a port, nothing else: it becomes the `server` URL
/// the API server dials with its client certificate, so a path, query,
/// fragment, user name or scheme slipped in would send it elsewhere. The
/// same parser serves every command that takes `--addr`.
#[test]
fn addr_is_a_host_and_a_port_and_nothing_else() {
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "server", "--ips=10.96.10.96"]);
    sb.ok(&["init", "client", "acme", "-o", "github"]);
    let out_dir = sb.home.path().join("kubeadm");
    let out_dir = format!("--out-dir={}", out_dir.display());
    let tokens = testdata().join("installer/token.csv");
    let tokens = format!("--token-auth-file={}", tokens.display());
    for bad in [
        "evil.com:443/x?y#",
        "user@evil:443",
        "https://evil.com:443",
        "evil.com",
        "evil.com:0",
        "evil.com:65536",
        "::1:443",
        "evil com:443",
    ] {
        let addr = format!("--addr={bad}");
        let commands: [Vec<&str>; 3] = [
            vec!["get", "webhook-config", "acme", "-o", "github", &addr],
            vec![
                "get",
                "kubeadm-config",
                "acme",
                "-o",
                "github",
                &addr,
                &out_dir,
            ],
            vec![
                "get",
                "installer",
                "--auth-providers=token-auth",
                &tokens,
                &addr,
            ],
        ];
        for args in commands {
            let out = sb.run(&args);
            assert!(!out.status.success(), "{args:?} accepted");
            assert!(out.stdout.is_empty(), "{args:?} printed output");
            let err = String::from_utf8(out.stderr).unwrap();
            assert!(err.contains("invalid --addr"), "{args:?}: {err}");
            assert!(err.contains("HOST:PORT"), "{args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        }
    }
    // IPv4, [IPv6] and DNS names pass.
    for (good, server) in [
        ("10.96.10.96:443", "https://10.96.10.96:443/tokenreviews"),
        ("[fd00::10]:8443", "https://[fd00::10]:8443/tokenreviews"),
        (
            "guard.kube-system.svc:443",
            "https://guard.kube-system.svc:443/tokenreviews",
        ),
    ] {
        let yaml = sb.ok(&[
            "get",
            "webhook-config",
            "acme",
            "-o",
            "github",
            &format!("--addr={good}"),
        ]);
        assert!(yaml.contains(&format!("server: {server}\n")), "{yaml}");
    }
}
