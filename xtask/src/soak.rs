//! `cargo xtask soak [--minutes N]`: `guard run` (token-auth) under steady
//! load for N minutes (default 10), with the token file and the server
//! certificate rotated half way. Two load generators (oha, on CPU 1; guard
//! on CPU 0): HTTP/2 on one connection at 2,000 reviews/s, and 50 new
//! TLS connections/s without keep-alive (these see the new certificate).
//! Fails on any answer other than 200 or any transport error; reports the
//! RSS over time.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::bench::{self, Load, Server};
use crate::{cargo, workspace_root};

/// `cargo xtask soak [--minutes N]`
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let minutes: u64 = args
        .iter()
        .position(|a| a == "--minutes")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse())
        .transpose()
        .context("--minutes takes a number")?
        .unwrap_or(10);
    if Command::new("oha").arg("--version").output().is_err() {
        bail!("oha is missing: cargo install oha --locked");
    }
    cargo(&["build", "--release", "--quiet", "--package", "guard"])?;
    let root = workspace_root();
    let guard = root.join("target/release/guard");
    let work = root.join("target/soak");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    bench::guard_init(&guard, &work, "rsa2048", "token-auth")?;
    let pki = work.join("pki");
    let tokens = work.join("tokens.csv");
    write_tokens(&tokens, 0)?;
    let body = work.join("review.json");
    std::fs::write(
        &body,
        r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"soak-token-0123456789"}}"#,
    )?;

    let port = bench::free_port()?;
    let log = std::fs::File::create(work.join("guard.log"))?;
    let child = bench::guard_run(&guard, &pki, port)
        .args(["--auth-providers=token-auth", "--reload-interval=1s"])
        .arg(format!("--token-auth-file={}", tokens.display()))
        .env("RUST_LOG", "info")
        .stderr(log)
        .spawn()?;
    let server = Server {
        name: "guard (Rust)",
        child,
        port,
    };
    bench::wait_until_listening(port, Instant::now())?;
    let idle_rss = server.rss_kib("VmRSS");

    let length = format!("{}s", minutes * 60);
    let steady = load(
        port,
        &pki,
        &body,
        &length,
        &["--http2", "-c", "1", "-p", "16", "-q", "2000"],
    )?;
    let handshakes = load(
        port,
        &pki,
        &body,
        &length,
        &["-c", "2", "-q", "50", "--disable-keepalive"],
    )?;

    let started = Instant::now();
    let total = Duration::from_secs(minutes * 60);
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let mut rotated = false;
    let old_cert = std::fs::read(pki.join("server.crt"))?;
    while started.elapsed() < total {
        std::thread::sleep(Duration::from_secs(10).min(total.saturating_sub(started.elapsed())));
        samples.push((started.elapsed().as_secs(), server.rss_kib("VmRSS")));
        if !rotated && started.elapsed() >= total / 2 {
            write_tokens(&tokens, 1)?;
            let d = work.to_str().context("path")?;
            bench::guard_cli(
                &guard,
                &[
                    "init",
                    "server",
                    "--pki-dir",
                    d,
                    "--ips=127.0.0.1",
                    "--force",
                ],
            )?;
            rotated = true;
            println!(
                "{:>5} s: rotated the token file and the server certificate",
                started.elapsed().as_secs()
            );
        }
    }
    let steady = finish(steady)?;
    let handshakes = finish(handshakes)?;
    let new_cert = std::fs::read(pki.join("server.crt"))?;
    let served = served_certificate(port, &pki.join("ca.crt"))?;
    let served_new = pem_der(&new_cert)? == served && pem_der(&old_cert)? != served;
    let peak = server.rss_kib("VmHWM");

    println!("\nsoak: {minutes} min, guard on CPU 0, oha on CPU 1");
    println!("| load | req/s | p50 ms | p99 ms | p99.9 ms | non-200 | errors |");
    println!("|---|---|---|---|---|---|---|");
    for (label, l) in [
        ("HTTP/2, 1 connection, 16 streams, 2,000/s", &steady),
        ("new TLS connection per review, 50/s", &handshakes),
    ] {
        println!(
            "| {label} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} |",
            l.0.rps,
            l.0.p50,
            l.0.p99,
            l.0.p999,
            l.0.not_ok.iter().map(|(_, n)| n).sum::<u64>(),
            l.1
        );
    }
    let warm = samples
        .iter()
        .find(|(t, _)| *t >= 60)
        .or(samples.first())
        .map_or(0, |s| s.1);
    let end = samples.last().map_or(0, |s| s.1);
    println!(
        "\nRSS: idle {idle_rss} KiB, after 1 min {warm} KiB, end {end} KiB, peak {peak} KiB; \
         growth after the first minute {:+.1} %",
        (end as f64 - warm as f64) * 100.0 / warm.max(1) as f64
    );
    println!(
        "RSS samples (s: KiB): {}",
        samples
            .iter()
            .map(|(t, r)| format!("{t}: {r}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("after the rotation new connections get the new certificate: {served_new}");
    let bad = steady.0.not_ok.len()
        + handshakes.0.not_ok.len()
        + steady.1 as usize
        + handshakes.1 as usize;
    if bad > 0 || !served_new {
        bail!("the soak saw failed reviews or a stale certificate");
    }
    Ok(())
}

/// The token file: the soak's token and 1,000 others; `generation` changes
/// the others, as an edited file would.
fn write_tokens(path: &Path, generation: u32) -> anyhow::Result<()> {
    let mut text = String::from("soak-token-0123456789,alice,1,devs\n");
    for i in 0..1000 {
        text.push_str(&format!(
            "other-{generation}-{i:04}-abcdefgh,user{i},{},g{generation}\n",
            1000 + i
        ));
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn load(port: u16, pki: &Path, body: &Path, length: &str, shape: &[&str]) -> anyhow::Result<Child> {
    let mut cmd = bench::pinned("1", Path::new("oha"));
    cmd.args(["--no-tui", "--output-format", "json", "-z", length])
        .args(["-m", "POST", "-T", "application/json"])
        .args(shape)
        .arg("-D")
        .arg(body)
        .arg("--cacert")
        .arg(pki.join("ca.crt"))
        .arg("--cert")
        .arg(pki.join("bench@token-auth.crt"))
        .arg("--key")
        .arg(pki.join("bench@token-auth.key"))
        .arg(format!("https://127.0.0.1:{port}/tokenreviews"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().context("cannot start oha")
}

/// oha's summary and the number of transport errors (requests cut off by
/// the end of the run are not errors).
fn finish(child: Child) -> anyhow::Result<(Load, u64)> {
    let out = child.wait_with_output()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("oha output")?;
    let errors = v["errorDistribution"]
        .as_object()
        .map(|e| {
            e.iter()
                .filter(|(what, _)| !what.contains("deadline"))
                .map(|(what, n)| {
                    eprintln!("oha error: {what}: {n}");
                    n.as_u64().unwrap_or(0)
                })
                .sum()
        })
        .unwrap_or(0);
    let load = bench::parse_oha(&v);
    Ok((load, errors))
}

fn pem_der(pem: &[u8]) -> anyhow::Result<Vec<u8>> {
    use rustls_pki_types::pem::PemObject as _;
    Ok(rustls_pki_types::CertificateDer::from_pem_slice(pem)?.to_vec())
}

/// The certificate a new TLS connection is served.
fn served_certificate(port: u16, ca: &Path) -> anyhow::Result<Vec<u8>> {
    let config = bench::trusting(ca)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(rustls_pki_types::ServerName::try_from("127.0.0.1")?, tcp)
            .await?;
        let certs = tls
            .get_ref()
            .1
            .peer_certificates()
            .context("no certificate")?;
        Ok(certs[0].to_vec())
    })
}
