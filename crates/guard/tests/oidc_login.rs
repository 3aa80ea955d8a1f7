//! `guard get token -o oidc|google|azure` against a certified OpenID
//! Provider (npm oidc-provider): the browser flow (authorization code + PKCE
//! on a loopback redirect), the device flow, the token cache, silent refresh,
//! an expired refresh token, and real kubectl running guard as its exec
//! credential plugin. The "user at the browser" is `tests/peers/browser.py`,
//! started by guard itself through $BROWSER.
#![allow(clippy::unwrap_used)]

mod common;

use common::require::Peer;

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use common::peers::{ApiServerStub, OidcProvider};
use common::server::{Reviewer, kubectl};
use common::*;

fn browser() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/browser.py")
}

/// A user's machine: a HOME, a token cache, a log of what the browser opened.
struct User {
    sb: Sandbox,
    cache: PathBuf,
    browser_log: PathBuf,
}

impl User {
    fn new() -> Self {
        let sb = Sandbox::new();
        let cache = sb.home.path().join("token-cache");
        let browser_log = sb.home.path().join("browser.log");
        User {
            sb,
            cache,
            browser_log,
        }
    }

    /// `guard get token -o oidc ...` with the browser stand-in as $BROWSER.
    fn command(&self, op: &OidcProvider, client: &str, extra: &[&str]) -> Command {
        let mut cmd = self.sb.guard();
        cmd.args(["get", "token", "-o", "oidc", "--issuer-url", &op.issuer])
            .args(["--client-id", client, "--token-cache-dir"])
            .arg(&self.cache)
            .args(extra)
            .env("BROWSER", browser())
            .env("FAKE_BROWSER_LOG", &self.browser_log)
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        cmd
    }

    fn token(&self, op: &OidcProvider, client: &str, extra: &[&str]) -> Output {
        let out = self.command(op, client, extra).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn browser_opened(&self) -> Vec<String> {
        std::fs::read_to_string(&self.browser_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The one cache file's content.
    fn cached(&self) -> serde_json::Value {
        let file = self.cache_file();
        serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
    }

    fn cache_file(&self) -> PathBuf {
        let files: Vec<_> = std::fs::read_dir(&self.cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        files[0].clone()
    }
}

fn claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[tokio::test]
async fn the_browser_flow_gives_a_token_the_guard_server_accepts_and_caches_it() {
    if common::require::missing(&[Peer::Node("oidc-provider"), Peer::Python3]) {
        return;
    }
    let op = OidcProvider::start();
    let user = User::new();
    let out = user.token(
        &op,
        "guard-cli",
        &["--scope", "groups", "--exec-credential"],
    );
    let credential: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(credential["kind"], "ExecCredential");
    assert_eq!(credential["apiVersion"], "client.authentication.k8s.io/v1");
    let token = credential["status"]["token"].as_str().unwrap().to_owned();
    let c = claims(&token);
    assert_eq!(c["sub"], "alice");
    assert_eq!(c["aud"], "guard-cli");
    assert_eq!(c["iss"], op.issuer.as_str());
    // The credential expires with the ID token.
    let expires = time::OffsetDateTime::parse(
        credential["status"]["expirationTimestamp"]
            .as_str()
            .unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expires.unix_timestamp(), c["exp"].as_i64().unwrap());

    // The browser was sent to the provider once, with PKCE (S256), a nonce
    // and a loopback redirect; the provider requires PKCE of this client.
    let opened = user.browser_opened();
    assert_eq!(opened.len(), 1, "{opened:?}");
    let url = &opened[0];
    assert!(url.starts_with(&format!("{}/auth?", op.issuer)), "{url}");
    for part in [
        "code_challenge_method=S256",
        "redirect_uri=http%3A%2F%2F127.0.0.1%3A",
        "nonce=",
        "offline_access",
    ] {
        assert!(url.contains(part), "{part} missing from {url}");
    }
    assert_eq!(op.calls()["authorization_code"], 1);

    // The cache: 0600 in a 0700 directory, with a refresh token; nothing
    // secret on the terminal.
    let cached = user.cached();
    assert_eq!(cached["id_token"], token.as_str());
    let refresh = cached["refresh_token"].as_str().unwrap();
    assert_eq!(mode(&user.cache_file()), 0o600);
    assert_eq!(mode(&user.cache), 0o700);
    let err = stderr(&out);
    assert!(!err.contains(&token) && !err.contains(refresh), "{err}");

    // The guard server (oidc provider, same issuer and client) accepts it.
    let issuer = format!("--oidc.issuer-url={}", op.issuer);
    let reviewer = Reviewer::start(
        "oidc",
        "oidc",
        &[
            "--auth-providers=oidc",
            &issuer,
            "--oidc.client-id=guard-cli",
            "--oidc.username-claim=email",
            "--oidc.groups-claim=groups",
        ],
    );
    let (status, json) = reviewer.review(&token).await;
    assert_eq!(status, 200);
    assert_eq!(json["status"]["authenticated"], true, "{json}");
    assert_eq!(json["status"]["user"]["username"], "alice@example.com");
    assert_eq!(
        json["status"]["user"]["groups"],
        serde_json::json!(["admins", "devs"])
    );

    // Again: the cached token, without a browser or a single request.
    let before = op.calls();
    let again = user.token(&op, "guard-cli", &["--scope", "groups"]);
    assert_eq!(stdout(&again).trim(), token);
    assert_eq!(op.calls(), before);
    assert_eq!(user.browser_opened().len(), 1);
}

#[test]
fn an_expiring_token_is_refreshed_silently_and_an_expired_refresh_token_means_a_new_login() {
    if common::require::missing(&[Peer::Node("oidc-provider"), Peer::Python3]) {
        return;
    }
    let op = OidcProvider::start();
    let user = User::new();
    // guard-cli-short's ID tokens live 10 s: always within guard's margin.
    let first = stdout(&user.token(&op, "guard-cli-short", &[]));
    assert_eq!(claims(first.trim())["aud"], "guard-cli-short");
    let first_refresh = user.cached()["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(user.browser_opened().len(), 1);

    let out = user.token(&op, "guard-cli-short", &[]);
    // (Within the same second the refreshed token may equal the first one
    // byte for byte; the provider's counter tells that it was refreshed.)
    assert_eq!(
        op.calls()["refresh_token"],
        1,
        "the token was not refreshed"
    );
    assert_eq!(claims(stdout(&out).trim())["sub"], "alice");
    assert_eq!(
        user.browser_opened().len(),
        1,
        "a refresh must not open the browser"
    );
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    // The provider rotates refresh tokens; the cache keeps the new one.
    let second_refresh = user.cached()["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh);

    op.expire_refresh_token(&second_refresh);
    let out = user.token(&op, "guard-cli-short", &[]);
    assert!(
        stderr(&out).contains("logging in again"),
        "{}",
        stderr(&out)
    );
    assert_eq!(user.browser_opened().len(), 2);
    assert_eq!(op.calls()["authorization_code"], 2);
    assert_eq!(claims(stdout(&out).trim())["sub"], "alice");
    assert_ne!(user.cached()["refresh_token"], second_refresh.as_str());
}

#[test]
fn the_device_flow_serves_machines_without_a_browser() {
    if common::require::missing(&[Peer::Node("oidc-provider"), Peer::Python3]) {
        return;
    }
    let op = OidcProvider::start();
    let user = User::new();
    let mut child = user
        .command(&op, "guard-cli", &["--exec-credential"])
        .env_remove("BROWSER")
        .env("FAKE_BROWSER_LOGIN", "bob")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // guard prints where to go; the "user" goes there on another device.
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let instructions = lines.next().unwrap().unwrap();
    let url = instructions
        .split_whitespace()
        .find(|w| w.contains("user_code="))
        .unwrap_or_else(|| panic!("no verification URL in {instructions:?}"))
        .to_owned();
    let code = url.rsplit('=').next().unwrap();
    assert!(instructions.contains(code), "{instructions}");
    let visit = Command::new(browser()).arg(&url).output().unwrap();
    assert!(
        visit.status.success(),
        "{}",
        String::from_utf8_lossy(&visit.stderr)
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let credential: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = credential["status"]["token"].as_str().unwrap();
    assert_eq!(claims(token)["aud"], "guard-cli");
    assert_eq!(op.calls()["device_code"], 1);
    assert!(user.browser_opened().is_empty());
    assert!(user.cached()["refresh_token"].is_string());
}

#[test]
fn kubectl_gets_its_token_from_guard_login_s_exec_plugin() {
    if common::require::missing(&[Peer::Node("oidc-provider"), Peer::Python3, Peer::Kubectl]) {
        return;
    }
    let op = OidcProvider::start();
    let user = User::new();
    // An API server on 127.0.0.1 with a certificate from a guard CA.
    user.sb.ok(&["init", "ca"]);
    user.sb.ok(&["init", "server", "--ips=127.0.0.1"]);
    let pki = user.sb.pki();
    let api = ApiServerStub::start(&pki.join("server.crt"), &pki.join("server.key"));
    let config = user.sb.home.path().join("kubeconfig");
    let cfg = config.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(kubectl())
            .args(args)
            .env("HOME", user.sb.home.path())
            .env("BROWSER", browser())
            .env("FAKE_BROWSER_LOG", &user.browser_log)
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        assert!(out.status.success(), "kubectl {args:?}: {}", stderr(&out));
        stdout(&out)
    };
    run(&[
        "config",
        "set-cluster",
        "dev",
        &format!("--server=https://127.0.0.1:{}", api.port),
        &format!("--certificate-authority={}", pki.join("ca.crt").display()),
        "--kubeconfig",
        cfg,
    ]);
    let out = user.sb.ok(&[
        "login",
        "-o",
        "oidc",
        "--cluster",
        "dev",
        "--issuer-url",
        &op.issuer,
        "--client-id",
        "guard-cli",
        "--token-cache-dir",
        user.cache.to_str().unwrap(),
        "--kubeconfig",
        cfg,
    ]);
    assert!(out.contains("user dev-oidc added"), "{out}");
    let listed = run(&["--kubeconfig", cfg, "--context", "dev-oidc", "get", "pods"]);
    assert!(listed.is_empty(), "{listed}");

    // kubectl ran guard, guard logged in through the browser, and kubectl
    // presented the ID token as a bearer token.
    let token = user.cached()["id_token"].as_str().unwrap().to_owned();
    let seen = api.authorizations.lock().unwrap().clone();
    assert!(!seen.is_empty(), "kubectl sent no Authorization header");
    assert!(
        seen.iter().all(|a| *a == format!("Bearer {token}")),
        "{seen:?}"
    );
    assert_eq!(user.browser_opened().len(), 1);
    assert_eq!(claims(&token)["sub"], "alice");
}

#[test]
fn clear_errors() {
    if common::require::missing(&[Peer::Node("oidc-provider"), Peer::Python3]) {
        return;
    }
    let user = User::new();
    let err = user.sb.fails(&["get", "token", "-o", "oidc"]);
    assert!(err.contains("--client-id"), "{err}");
    let err = user
        .sb
        .fails(&["get", "token", "-o", "oidc", "--client-id", "c"]);
    assert!(err.contains("--issuer-url"), "{err}");
    let err = user
        .sb
        .fails(&["get", "token", "-o", "azure", "--client-id", "c"]);
    assert!(err.contains("--azure.tenant-id"), "{err}");
    let err = user.sb.fails(&[
        "get",
        "token",
        "-o",
        "oidc",
        "--client-id",
        "c",
        "--issuer-url",
        "ftp://x",
    ]);
    assert!(err.contains("not an http(s) URL"), "{err}");

    // An issuer that is not there.
    let mut op = OidcProvider::start();
    let issuer = op.issuer.clone();
    op.stop();
    let out = user
        .sb
        .guard()
        .args(["get", "token", "-o", "oidc", "--client-id", "c"])
        .args(["--issuer-url", &issuer, "--token-cache-dir"])
        .arg(&user.cache)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot read the OpenID configuration"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn nobody_at_the_browser_ends_in_a_timeout() {
    if common::require::missing(&[Peer::Node("oidc-provider"), Peer::Python3]) {
        return;
    }
    let op = OidcProvider::start();
    let user = User::new();
    let out = user
        .command(
            &op,
            "guard-cli",
            &["--grant-type", "browser", "--login-timeout", "1s"],
        )
        .env("BROWSER", "/bin/true")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("nobody logged in within 1s"), "{err}");
    assert!(err.contains("/auth?"), "the URL was not printed: {err}");
}

#[test]
fn login_passes_the_client_secret_through_the_plugin_environment_not_its_arguments() {
    if common::require::missing(&[Peer::Node("oidc-provider"), Peer::Python3]) {
        return;
    }
    let user = User::new();
    let config = user.sb.home.path().join("kubeconfig");
    let out = user
        .sb
        .guard()
        .args(["login", "-o", "google", "--cluster", "prod"])
        .args(["--client-id", "123.apps.googleusercontent.com"])
        .args(["--kubeconfig", config.to_str().unwrap()])
        .env("GUARD_OIDC_CLIENT_SECRET", "not-in-the-file")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // The secret is handed to the plugin through its environment (the
    // kubeconfig is 0600), never as an argument that `ps` would show.
    let text = std::fs::read_to_string(&config).unwrap();
    let parsed: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let exec = &parsed["users"][0]["user"]["exec"];
    assert!(
        !exec["args"].to_string().contains("not-in-the-file"),
        "{text}"
    );
    assert_eq!(
        exec["env"],
        serde_json::json!([{"name": "GUARD_OIDC_CLIENT_SECRET", "value": "not-in-the-file"}])
    );
    assert_eq!(mode(&config), 0o600);
    assert!(
        text.contains("--client-id=123.apps.googleusercontent.com"),
        "{text}"
    );
    let err = user.sb.fails(&[
        "login",
        "-o",
        "azure",
        "--cluster",
        "prod",
        "--client-id",
        "c",
        "--kubeconfig",
        config.to_str().unwrap(),
    ]);
    assert!(err.contains("--azure.tenant-id"), "{err}");
}
