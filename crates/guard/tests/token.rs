//! `guard get token` for ldap, github and gitlab (eks: see eks.rs).
#![allow(clippy::unwrap_used)]

mod common;

use common::require::Peer;

use std::io::Write;
use std::process::Stdio;

use common::*;

#[test]
fn ldap_tokens_from_a_flag_standard_input_or_a_silent_prompt() {
    if common::require::missing(&[Peer::Script]) {
        return;
    }
    let sb = Sandbox::new();
    let out = sb.ok(&[
        "get",
        "token",
        "-o",
        "ldap",
        "--ldap.username",
        "alice",
        "--ldap.password",
        "alicepw",
    ]);
    assert_eq!(out.trim(), "YWxpY2U6YWxpY2Vwdw==");

    // Not a terminal: the first line of standard input.
    let mut child = sb
        .guard()
        .args([
            "get",
            "token",
            "-o",
            "ldap",
            "--ldap.username",
            "alice",
            "--exec-credential",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"alicepw\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let credential: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(credential["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(credential["kind"], "ExecCredential");
    assert_eq!(credential["status"]["token"], "YWxpY2U6YWxpY2Vwdw==");

    // A terminal: asked without echo. Type only once the prompt is shown.
    let mut child = std::process::Command::new("script")
        .args([
            "-qec",
            &format!(
                "{} get token -o ldap --ldap.username alice",
                env!("CARGO_BIN_EXE_guard")
            ),
            "/dev/null",
        ])
        .env("HOME", sb.home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script (util-linux) must be installed");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut screen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&screen).contains("LDAP password for alice:") {
        use std::io::Read;
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "no prompt: {}", String::from_utf8_lossy(&screen));
        screen.extend_from_slice(&buf[..n]);
    }
    stdin.write_all(b"s3cret-pw\n").unwrap();
    drop(stdin);
    let mut after = Vec::new();
    std::io::Read::read_to_end(&mut stdout, &mut after).unwrap();
    assert!(child.wait().unwrap().success());
    let after = String::from_utf8_lossy(&after);
    assert!(
        !after.contains("s3cret-pw"),
        "the password was echoed: {after}"
    );
    use base64::Engine as _;
    assert!(
        after.contains(&base64::engine::general_purpose::STANDARD.encode("alice:s3cret-pw")),
        "{after}"
    );

    let err = sb.fails(&["get", "token", "-o", "ldap"]);
    assert!(err.contains("--ldap.username"), "{err}");
}

#[test]
fn github_and_gitlab_explain_how_to_get_a_token() {
    let sb = Sandbox::new();
    // No browser is opened, so this works without a display.
    let out = sb
        .guard()
        .args(["get", "token", "-o", "github"])
        .env_remove("DISPLAY")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("https://github.com/settings/tokens/new") && text.contains("read:org"),
        "{text}"
    );
    assert!(text.contains("kubectl config set-credentials"), "{text}");
    let text = sb.ok(&["get", "token", "-o", "gitlab"]);
    assert!(text.contains("read_api"), "{text}");

    // Where a browser can open ($BROWSER here), it opens the page with the
    // scope filled in; --no-browser keeps it closed.
    let opened = sb.home.path().join("opened");
    let browser = sb.home.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\necho \"$1\" >> '{}'\n", opened.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for extra in [&["--no-browser"][..], &[]] {
        let out = sb
            .guard()
            .args(["get", "token", "-o", "github"])
            .args(extra)
            .env("BROWSER", &browser)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    // The browser is started in the background: wait for its whole line
    // (the file exists a moment before the shell has written into it).
    common::server::eventually(std::time::Duration::from_secs(10), "the browser", || {
        std::fs::read_to_string(&opened).is_ok_and(|s| s.ends_with('\n'))
    });
    let opened = std::fs::read_to_string(&opened).unwrap();
    assert_eq!(
        opened.trim(),
        "https://github.com/settings/tokens/new?scopes=read:org&description=guard"
    );

    let out = sb
        .guard()
        .args(["get", "token", "-o", "github", "--exec-credential"])
        .env("GITHUB_TOKEN", "ghp_example")
        .output()
        .unwrap();
    let credential: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(credential["status"]["token"], "ghp_example");
    let out = sb
        .guard()
        .args(["get", "token", "-o", "gitlab", "--exec-credential"])
        .env_remove("GITLAB_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("GITLAB_TOKEN"));

    let err = sb.fails(&["get", "token", "-o", "google"]);
    assert!(err.contains("--client-id"), "{err}");
}

/// kubectl tells the plugin which ExecCredential version it wants
/// (`KUBERNETES_EXEC_INFO`) and refuses any other; `guard get token
/// --exec-credential` answers in that version, for a kubeconfig written for
/// v1beta1 (as many still are) as for v1.
#[test]
fn kubectl_gets_the_exec_credential_version_its_kubeconfig_names() {
    if common::require::missing(&[Peer::Kubectl]) {
        return;
    }
    let sb = Sandbox::new();
    let token = "ghp_exec_credential_token_0123456789";
    secrets::register(token);
    // kubectl sends exec credentials over TLS only: an HTTPS API server
    // stand-in with a certificate from a guard CA.
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "server", "--ips=127.0.0.1"]);
    let pki = sb.pki();
    let api = common::peers::ApiServerStub::start(&pki.join("server.crt"), &pki.join("server.key"));
    let server = format!("https://127.0.0.1:{}", api.port);
    let seen = api.authorizations.clone();
    for version in ["v1beta1", "v1"] {
        let config = sb.home.path().join(format!("config-{version}"));
        std::fs::write(
            &config,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/{version}\n      command: {guard}\n      args: [get, token, -o, github, --exec-credential]\n      env:\n      - {{name: GITHUB_TOKEN, value: {token}}}\n      - {{name: HOME, value: {home}}}\n      interactiveMode: Never\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n",
                guard = env!("CARGO_BIN_EXE_guard"),
                home = sb.home.path().display(),
                ca = pki.join("ca.crt").display(),
            ),
        )
        .unwrap();
        let out = std::process::Command::new(common::server::kubectl())
            .args(["--kubeconfig", config.to_str().unwrap(), "get", "pods"])
            .env_remove("KUBERNETES_EXEC_INFO")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        secrets::assert_clean("kubectl (stderr)", &stderr);
        assert!(out.status.success(), "{version}: {stderr}");
        // Every request kubectl made carried the plugin's token.
        let requests = std::mem::take(&mut *seen.lock().unwrap());
        assert!(!requests.is_empty(), "{version}: no request");
        assert!(
            requests.iter().all(|a| *a == format!("Bearer {token}")),
            "{version}: {} requests, not all with the token",
            requests.len()
        );
    }

    // Without kubectl: v1; a version guard cannot write is refused in one line.
    let run = |info: Option<&str>| {
        let mut cmd = sb.guard();
        cmd.args(["get", "token", "-o", "github", "--exec-credential"])
            .env("GITHUB_TOKEN", token);
        match info {
            Some(info) => cmd.env("KUBERNETES_EXEC_INFO", info),
            None => cmd.env_remove("KUBERNETES_EXEC_INFO"),
        };
        cmd.output().unwrap()
    };
    let out = run(None);
    let credential: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(credential["apiVersion"], "client.authentication.k8s.io/v1");
    let out = run(Some(
        r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1","spec":{}}"#,
    ));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("v1alpha1"), "{err}");
}
