//! The exec credential entries guard prints (`get token -o github|gitlab`)
//! and writes (`guard login`), run by real kubectl (client-go) against a
//! stand-in API server (HTTPS on a free loopback port) that records the
//! bearer token it is sent.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::peers::ApiServerStub;
use common::require::Peer;
use common::server::kubectl;
use common::*;

/// The stand-in API server (HTTPS with a certificate from the sandbox's
/// own CA) and the kubectl arguments that add it as cluster `name`.
fn api_server(sb: &Sandbox, name: &str) -> (ApiServerStub, Vec<String>) {
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "server", "--ips=127.0.0.1"]);
    let pki = sb.pki();
    let api = ApiServerStub::start(&pki.join("server.crt"), &pki.join("server.key"));
    let args = vec![
        "config".to_owned(),
        "set-cluster".to_owned(),
        name.to_owned(),
        format!("--server=https://127.0.0.1:{}", api.port),
        format!("--certificate-authority={}", pki.join("ca.crt").display()),
    ];
    (api, args)
}

fn seen(api: &ApiServerStub) -> Vec<String> {
    api.authorizations.lock().unwrap().clone()
}

/// A directory holding only a `guard` symlink to the binary under test, as
/// a package manager installs it.
fn guard_on_path(sb: &Sandbox) -> PathBuf {
    let bin = sb.home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_guard"), bin.join("guard")).unwrap();
    bin
}

/// kubectl with `config` and `PATH` = `path` + the system's.
fn kubectl_with(config: &Path, path: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(config)
        .args(args)
        .env("PATH", format!("{}:/usr/bin:/bin", path.display()))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_printed_recipe_for_github_and_gitlab_works_in_kubectl() {
    if common::require::missing(&[Peer::Kubectl]) {
        return;
    }
    for (provider, variable, token) in [
        ("github", "GITHUB_TOKEN", "ghp_docsRecipeToken1"),
        ("gitlab", "GITLAB_TOKEN", "glpat-docsRecipeToken2"),
    ] {
        secrets::register(token);
        let sb = Sandbox::new();
        let bin = guard_on_path(&sb);
        let (api, cluster) = api_server(&sb, "test");
        let config = sb.home.path().join("kubeconfig");
        let hint = sb.ok(&["get", "token", "-o", provider, "--no-browser"]);
        let recipe = hint
            .lines()
            .find(|l| l.contains("--exec-command=guard"))
            .unwrap_or_else(|| panic!("no exec recipe in:\n{hint}"));
        let words: Vec<&str> = recipe
            .split_whitespace()
            .map(|w| if w == "<user-name>" { "dev" } else { w })
            .collect();
        assert_eq!(words[0], "kubectl", "{recipe}");
        ok(kubectl_with(&config, &bin, &words[1..], &[]));
        let cluster: Vec<&str> = cluster.iter().map(String::as_str).collect();
        ok(kubectl_with(&config, &bin, &cluster, &[]));
        ok(kubectl_with(
            &config,
            &bin,
            &[
                "config",
                "set-context",
                "test",
                "--cluster=test",
                "--user=dev",
            ],
            &[],
        ));
        // kubectl runs guard, which reads the token from the environment.
        ok(kubectl_with(
            &config,
            &bin,
            &["--context", "test", "get", "pods"],
            &[(variable, token)],
        ));
        assert!(
            seen(&api).iter().all(|a| *a == format!("Bearer {token}")) && !seen(&api).is_empty(),
            "{provider}: {:?}",
            seen(&api)
        );
    }
}

#[test]
fn login_writes_guard_when_path_finds_this_binary_and_kubectl_runs_it() {
    if common::require::missing(&[Peer::Kubectl]) {
        return;
    }
    let token = "ghp_docsLoginToken3";
    secrets::register(token);
    let sb = Sandbox::new();
    let bin = guard_on_path(&sb);
    let (api, cluster) = api_server(&sb, "prod");
    let config = sb.home.path().join("kubeconfig");
    let cluster: Vec<&str> = cluster.iter().map(String::as_str).collect();
    ok(kubectl_with(&config, &bin, &cluster, &[]));
    let login = |path: &str| {
        let out = sb
            .guard()
            .args(["login", "-o", "github", "--cluster", "prod", "--kubeconfig"])
            .arg(&config)
            .env("PATH", path)
            .output()
            .unwrap();
        ok(out)
    };
    let command = |config: &Path| {
        ok(kubectl_with(
            config,
            &bin,
            &[
                "config",
                "view",
                "-o",
                "jsonpath={.users[0].user.exec.command}",
            ],
            &[],
        ))
    };

    // Not on PATH: pinned to this binary's absolute path.
    let out = login("/usr/bin:/bin");
    assert!(out.contains("user prod-github added"), "{out}");
    assert_eq!(
        command(&config),
        std::fs::canonicalize(env!("CARGO_BIN_EXE_guard"))
            .unwrap()
            .to_str()
            .unwrap()
    );

    // On PATH (through a symlink): plain `guard`, so an upgrade carries over.
    let out = login(&format!("{}:/usr/bin:/bin", bin.display()));
    assert!(out.contains("user prod-github updated"), "{out}");
    assert_eq!(command(&config), "guard");
    let before = std::fs::read(&config).unwrap();
    let out = login(&format!("{}:/usr/bin:/bin", bin.display()));
    assert!(
        out.contains("nothing changed") && !out.contains("updated"),
        "{out}"
    );
    assert_eq!(std::fs::read(&config).unwrap(), before);

    // Another program called guard first on PATH: not that one.
    let other = sb.home.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("guard"), "#!/bin/sh\nexit 1\n").unwrap();
    std::fs::set_permissions(
        other.join("guard"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    login(&format!(
        "{}:{}:/usr/bin:/bin",
        other.display(),
        bin.display()
    ));
    assert_ne!(command(&config), "guard");

    // kubectl runs what login wrote and sends the token.
    login(&format!("{}:/usr/bin:/bin", bin.display()));
    ok(kubectl_with(
        &config,
        &bin,
        &["--context", "prod-github", "get", "pods"],
        &[("GITHUB_TOKEN", token)],
    ));
    assert!(
        seen(&api).iter().all(|a| *a == format!("Bearer {token}")) && !seen(&api).is_empty(),
        "{:?}",
        seen(&api)
    );
}
