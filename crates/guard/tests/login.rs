//! `guard login -o PROVIDER --cluster NAME`: the kubeconfig it writes, read
//! back by real kubectl.
#![allow(clippy::unwrap_used)]

mod common;

use common::require::Peer;

use common::server::kubectl;
use common::*;

const EXISTING: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority-data: QUJD\nusers:\n- name: admin\n  user:\n    token: keep-this-token\ncontexts:\n- name: admin@prod\n  context: {cluster: prod, user: admin}\ncurrent-context: admin@prod\n";

fn view(config: &std::path::Path, jsonpath: &str) -> String {
    let out = std::process::Command::new(kubectl())
        .args([
            "config",
            "view",
            "--raw",
            "--kubeconfig",
            config.to_str().unwrap(),
            "-o",
            &format!("jsonpath={jsonpath}"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn login_adds_an_exec_user_and_a_context_and_keeps_the_rest() {
    if common::require::missing(&[Peer::Kubectl]) {
        return;
    }
    let sb = Sandbox::new();
    let config = sb.home.path().join("kubeconfig");
    std::fs::write(&config, EXISTING).unwrap();
    let path = config.to_str().unwrap();
    let out = sb.ok(&[
        "login",
        "-o",
        "ldap",
        "--cluster",
        "prod",
        "--ldap.username",
        "alice",
        "--kubeconfig",
        path,
    ]);
    assert!(
        out.contains("user prod-ldap added, context prod-ldap added"),
        "{out}"
    );
    // Again with the same flags: nothing changes, nothing is duplicated.
    let out = sb.ok(&[
        "login",
        "-o",
        "ldap",
        "--cluster",
        "prod",
        "--ldap.username",
        "alice",
        "--kubeconfig",
        path,
    ]);
    assert!(out.contains("nothing changed"), "{out}");
    assert!(!out.contains("updated"), "{out}");

    assert_eq!(view(&config, "{.users[*].name}"), "admin prod-ldap");
    assert_eq!(view(&config, "{.users[0].user.token}"), "keep-this-token");
    assert_eq!(view(&config, "{.current-context}"), "admin@prod");
    assert_eq!(
        view(
            &config,
            "{.contexts[?(@.name==\"prod-ldap\")].context.user}"
        ),
        "prod-ldap"
    );
    assert_eq!(
        view(&config, "{.users[1].user.exec.apiVersion}"),
        "client.authentication.k8s.io/v1"
    );
    assert_eq!(
        view(&config, "{.users[1].user.exec.args}"),
        r#"["get","token","-o","ldap","--ldap.username=alice","--exec-credential"]"#
    );
    assert_eq!(mode(&config), 0o600);

    // The command kubectl would run works.
    let command = view(&config, "{.users[1].user.exec.command}");
    let out = std::process::Command::new(&command)
        .args([
            "get",
            "token",
            "-o",
            "ldap",
            "--ldap.username=alice",
            "--exec-credential",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    // No password on a closed stdin: a clear refusal, not a hang or a panic.
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("password"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn login_creates_a_missing_kubeconfig_and_warns_about_an_unknown_cluster() {
    if common::require::missing(&[Peer::Kubectl]) {
        return;
    }
    let sb = Sandbox::new();
    let config = sb.home.path().join("new/kubeconfig");
    let out = sb.ok(&[
        "login",
        "-o",
        "eks",
        "--cluster",
        "staging",
        "--region",
        "eu-west-1",
        "--kubeconfig",
        config.to_str().unwrap(),
    ]);
    assert!(out.contains("no cluster named staging"), "{out}");
    assert_eq!(
        view(&config, "{.users[0].user.exec.args}"),
        r#"["get","token","-o","eks","--cluster-id=staging","--region=eu-west-1","--exec-credential"]"#
    );
    let err = sb.fails(&[
        "login",
        "-o",
        "google",
        "--cluster",
        "x",
        "--kubeconfig",
        config.to_str().unwrap(),
    ]);
    assert!(err.contains("--client-id"), "{err}");
}

/// A kubeconfig with most of what people keep in one.
const RICH: &str = r#"apiVersion: v1
kind: Config
preferences:
  colors: true
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: QUJD
    tls-server-name: api.prod.internal
    proxy-url: socks5://localhost:1080
    extensions:
    - name: client.authentication.k8s.io/exec
      extension:
        audience: prod
- name: staging
  cluster:
    server: https://10.0.0.2:6443
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
- name: eks-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token, --cluster-name, prod]
      env:
      - name: AWS_PROFILE
        value: prod
      interactiveMode: Never
      provideClusterInfo: true
- name: legacy-oidc
  user:
    auth-provider:
      name: oidc
      config:
        idp-issuer-url: https://issuer.example.com
        client-id: kubernetes
contexts:
- name: admin@prod
  context:
    cluster: prod
    user: admin
    namespace: kube-system
- name: eks@prod
  context: {cluster: prod, user: eks-user}
current-context: admin@prod
"#;

fn view_json(config: &std::path::Path) -> serde_json::Value {
    let out = std::process::Command::new(kubectl())
        .args(["config", "view", "--raw", "-o", "json", "--kubeconfig"])
        .arg(config)
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn login_keeps_every_untouched_entry_and_a_second_run_changes_no_byte() {
    if common::require::missing(&[Peer::Kubectl]) {
        return;
    }
    let sb = Sandbox::new();
    let config = sb.home.path().join("kubeconfig");
    std::fs::write(&config, RICH).unwrap();
    let before = view_json(&config);
    let login = || {
        sb.ok(&[
            "login",
            "-o",
            "oidc",
            "--cluster",
            "staging",
            "--issuer-url",
            "https://issuer.example.com",
            "--client-id",
            "kubernetes",
            "--kubeconfig",
            config.to_str().unwrap(),
        ])
    };
    login();
    let first = std::fs::read(&config).unwrap();
    let after = view_json(&config);
    // Every entry that was there reads back exactly as kubectl read it before.
    for list in ["clusters", "users", "contexts"] {
        for entry in before[list].as_array().unwrap() {
            let same = after[list]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == entry["name"]);
            assert_eq!(same, Some(entry), "{list} {} changed", entry["name"]);
        }
    }
    assert_eq!(after["preferences"], before["preferences"]);
    assert_eq!(after["current-context"], "admin@prod");
    assert_eq!(after["users"].as_array().unwrap().len(), 4);

    let out = login();
    assert!(
        out.contains("nothing changed") && !out.contains("updated"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&config).unwrap(),
        first,
        "a second run changed the file"
    );
}

/// A kubeconfig guard cannot parse is named with the position of the
/// problem, never quoted: it holds tokens and passwords.
#[test]
fn an_unparseable_kubeconfig_is_named_not_printed() {
    let sb = Sandbox::new();
    let config = sb.home.path().join("kubeconfig");
    let token = "kubeconfig-token-must-not-be-printed-4711";
    let password = "kubeconfig-password-must-not-be-printed";
    secrets::register(token);
    secrets::register(password);
    for broken in [
        // Not YAML at all (an unclosed flow mapping).
        format!(
            "apiVersion: v1\nusers:\n- name: a\n  user: {{token: {token}, password: {password}\n"
        ),
        // YAML, but not a kubeconfig (a token where a list must be).
        format!("apiVersion: v1\nkind: Config\nusers: {token}\nclusters: {password}\n"),
    ] {
        std::fs::write(&config, &broken).unwrap();
        let err = sb.fails(&[
            "login",
            "-o",
            "ldap",
            "--cluster",
            "prod",
            "--ldap.username",
            "alice",
            "--kubeconfig",
            config.to_str().unwrap(),
        ]);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains(config.to_str().unwrap()) && err.contains("line "),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&config).unwrap(), broken);
    }
}

/// `~/.kube/config` is often a link into a dotfiles repository: guard
/// writes the file it points to and leaves the link in place, as kubectl does.
#[test]
fn login_writes_through_a_symlinked_kubeconfig() {
    if common::require::missing(&[Peer::Kubectl]) {
        return;
    }
    let sb = Sandbox::new();
    let dotfiles = sb.home.path().join("dotfiles/kube");
    std::fs::create_dir_all(&dotfiles).unwrap();
    std::fs::write(dotfiles.join("config"), EXISTING).unwrap();
    let kube = sb.home.path().join(".kube");
    std::fs::create_dir_all(&kube).unwrap();
    std::os::unix::fs::symlink("../dotfiles/kube/config", kube.join("config")).unwrap();
    let out = sb
        .guard()
        .args([
            "login",
            "-o",
            "ldap",
            "--cluster",
            "prod",
            "--ldap.username",
            "alice",
        ])
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = std::fs::symlink_metadata(kube.join("config")).unwrap();
    assert!(link.file_type().is_symlink(), "the link was replaced");
    assert_eq!(
        std::fs::read_link(kube.join("config")).unwrap(),
        std::path::Path::new("../dotfiles/kube/config")
    );
    let target = dotfiles.join("config");
    assert_eq!(view(&target, "{.users[*].name}"), "admin prod-ldap");
    assert_eq!(view(&target, "{.users[0].user.token}"), "keep-this-token");
    assert!(!dotfiles.join("config.guard-tmp").exists());
    assert!(!kube.join("config.guard-tmp").exists());
}
