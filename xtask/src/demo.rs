//! `cargo xtask demo`: guard's main job, end to end, on a throw-away PKI.
//!
//! It builds guard, makes a PKI, writes a token file, starts `guard run`,
//! prints the webhook config kube-apiserver would use, then sends a valid
//! and an invalid TokenReview *through that config* (its server URL, CA and
//! client certificate), prints both answers and stops the server.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use kube_client::config::Kubeconfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

const VALID: &str = "demo-token-0123456789abcdef";

pub fn run() -> anyhow::Result<()> {
    crate::cargo(&["build", "--quiet", "--package", "guard"])?;
    let guard = crate::workspace_root().join("target/debug/guard");
    let scratch = std::env::temp_dir().join(format!("guard-demo-{}", std::process::id()));
    let result = demo(&guard, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn demo(guard: &Path, scratch: &Path) -> anyhow::Result<()> {
    let dir = scratch.to_str().context("temp dir is not UTF-8")?;
    println!("== 1. PKI in {dir}/pki");
    step(guard, &["init", "ca", "--pki-dir", dir])?;
    step(
        guard,
        &["init", "server", "--pki-dir", dir, "--ips=127.0.0.1"],
    )?;
    step(
        guard,
        &[
            "init",
            "client",
            "demo",
            "-o",
            "token-auth",
            "--pki-dir",
            dir,
        ],
    )?;

    println!("\n== 2. A token file");
    let tokens = scratch.join("token.csv");
    std::fs::write(
        &tokens,
        format!("{VALID},jane,1000,\"developers,admins\"\n"),
    )?;
    println!(
        "{}: {VALID},jane,1000,\"developers,admins\"",
        tokens.display()
    );

    println!("\n== 3. guard run");
    let pki = scratch.join("pki");
    let args = [
        "run".to_owned(),
        "--secure-addr=127.0.0.1:0".to_owned(),
        format!("--tls-ca-file={}", pki.join("ca.crt").display()),
        format!("--tls-cert-file={}", pki.join("server.crt").display()),
        format!(
            "--tls-private-key-file={}",
            pki.join("server.key").display()
        ),
        "--auth-providers=token-auth".to_owned(),
        format!("--token-auth-file={}", tokens.display()),
    ];
    println!("$ guard {}", args.join(" "));
    let mut server = Server(
        Command::new(guard)
            .args(&args)
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start guard run")?,
    );
    let port = wait_until_listening(&mut server.0)?;

    println!("\n== 4. The webhook config for kube-apiserver");
    let addr = format!("--addr=127.0.0.1:{port}");
    let yaml = step_quiet(
        guard,
        &[
            "get",
            "webhook-config",
            "demo",
            "-o",
            "token-auth",
            "--pki-dir",
            dir,
            &addr,
        ],
    )?;
    for line in yaml.lines() {
        // Shorten the base64 blobs for display.
        match line.split_once("-data: ") {
            Some((key, value)) => println!("{key}-data: {}...", &value[..value.len().min(24)]),
            None => println!("{line}"),
        }
    }

    println!("\n== 5. TokenReviews through that config");
    let config: Kubeconfig =
        serde_saphyr::from_str(&yaml).context("cannot parse the webhook config")?;
    let runtime = tokio::runtime::Runtime::new()?;
    for (what, token, expected) in [
        ("a valid token", VALID, true),
        ("an invalid token", "not-a-valid-token", false),
    ] {
        let body = serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token}
        });
        let (status, answer) = runtime.block_on(post(&config, body.to_string()))?;
        println!("-- {what}: HTTP {status}");
        println!("{}", serde_json::to_string_pretty(&answer)?);
        if status != 200 || answer["status"]["authenticated"] != expected {
            bail!("unexpected answer for {what}");
        }
    }

    println!("\n== 6. Stop (SIGTERM)");
    Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()?;
    let status = server.0.wait()?;
    println!("guard run exited: {status}");
    Ok(())
}

/// Kills the server if the demo fails half way.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Echoes guard's log until it says where it listens; returns the port.
pub fn wait_until_listening(child: &mut Child) -> anyhow::Result<u16> {
    let stderr = child.stderr.take().context("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("   guard| {line}");
            if let Some(rest) = line.split("listening on ").nth(1) {
                let port = rest
                    .split_whitespace()
                    .next()
                    .and_then(|a| a.rsplit(':').next())
                    .and_then(|p| p.parse::<u16>().ok());
                let _ = tx.send(port);
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Some(port)) => Ok(port),
        _ => bail!("guard run did not start listening within 30 s"),
    }
}

/// POSTs `body` to the cluster of `config`, as the API server would.
pub async fn post(config: &Kubeconfig, body: String) -> anyhow::Result<(u16, serde_json::Value)> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s);
    let cluster = config.clusters[0].cluster.as_ref().context("no cluster")?;
    let user = config.auth_infos[0].auth_info.as_ref().context("no user")?;
    let server: hyper::Uri = cluster.server.as_deref().context("no server")?.parse()?;
    let ca = b64(cluster
        .certificate_authority_data
        .as_deref()
        .context("no CA")?)?;
    let cert = b64(user
        .client_certificate_data
        .as_deref()
        .context("no client cert")?)?;
    let key = user.client_key_data.as_ref().context("no client key")?;
    let key = b64(secrecy::ExposeSecret::expose_secret(key))?;

    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&ca) {
        roots.add(c?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_client_auth_cert(
        CertificateDer::pem_slice_iter(&cert).collect::<Result<_, _>>()?,
        PrivateKeyDer::from_pem_slice(&key)?,
    )?;
    let host = server.host().context("no host")?.to_owned();
    let port = server.port_u16().unwrap_or(443);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
        .connect(ServerName::try_from(host.clone())?, tcp)
        .await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::post(server)
        .header("content-type", "application/json")
        .header("host", host)
        .body(Full::new(bytes::Bytes::from(body)))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&bytes)?))
}

/// Runs `guard ARGS`, echoing the command and its output.
pub fn step(guard: &Path, args: &[&str]) -> anyhow::Result<String> {
    println!("$ guard {}", args.join(" "));
    let out = step_quiet(guard, args)?;
    print!("{out}");
    Ok(out)
}

fn step_quiet(guard: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(guard)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", guard.display()))?;
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("guard {} failed ({})", args.join(" "), out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
