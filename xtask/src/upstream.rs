//! `cargo xtask bench upstream`: a review through a network provider whose
//! upstream answers after 50 ms: a GitLab API stand-in on 127.0.0.1 (every
//! review costs two calls, `/user` and `/groups`). Measures the review with
//! the cache off (every review goes upstream), with a warm cache, and a
//! burst of 500 identical concurrent reviews on a cold cache (how many
//! upstream calls they cost).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};

use crate::bench::{self, Load, Server};

/// The upstream's answer time.
const LATENCY: Duration = Duration::from_millis(50);

/// The GitLab stand-in, on its own thread and runtime.
struct SlowGitlab {
    url: String,
    calls: Arc<AtomicU64>,
}

/// Every call (`/user`, then `/groups`) is counted and answered after
/// [`LATENCY`].
fn start_stub() -> anyhow::Result<SlowGitlab> {
    let (url, calls) = bench::counting_stand_in(LATENCY, |path, _| bench::StandInAnswer {
        body: if path.ends_with("/user") {
            r#"{"id":42,"username":"alice","state":"active"}"#
        } else {
            r#"[{"id":7,"name":"devs","path":"devs","full_path":"acme/devs"}]"#
        }
        .to_owned(),
        counted: true,
        headers: &[],
    })?;
    Ok(SlowGitlab { url, calls })
}

/// `guard run` for GitLab on a free port, with its plain probe port on
/// another (returned too).
fn start_guard(
    guard: &Path,
    pki: &Path,
    base_url: &str,
    cache: bool,
) -> anyhow::Result<(Server, u16)> {
    let (port, probe_port) = (bench::free_port()?, bench::free_port()?);
    let mut cmd = bench::guard_run(guard, pki, port);
    cmd.arg("--auth-providers=gitlab")
        .arg(format!("--gitlab.base-url={base_url}"))
        .arg(format!("--probe-addr=127.0.0.1:{probe_port}"));
    if !cache {
        cmd.arg("--cache-size=0");
    }
    let server = Server {
        name: "guard (Rust)",
        child: cmd.spawn()?,
        port,
    };
    bench::wait_until_listening(port, Instant::now())?;
    Ok((server, probe_port))
}

/// GET `path` over plain HTTP on the probe port, for /metrics.
async fn probe_get(port: u16, path: &str) -> anyhow::Result<String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let request = hyper::Request::get(path)
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::new()))?;
    let response = sender.send_request(request).await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn metric(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn row(label: &str, load: &Load, upstream: u64) {
    println!(
        "| {label} | {:.0} | {:.1} | {:.1} | {:.1} | {upstream} |",
        load.rps, load.p50, load.p99, load.success
    );
}

/// Runs the three measurements.
pub fn run(guard: &Path, work: &Path, seconds: u64) -> anyhow::Result<()> {
    let dir = work.join("pki-upstream");
    bench::guard_init(guard, &dir, "rsa2048", "gitlab")?;
    let pki = dir.join("pki");
    let body = work.join("review-gitlab.json");
    std::fs::write(
        &body,
        r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"glpat-bench-0123456789"}}"#,
    )?;
    let stub = start_stub()?;
    let client = "bench@gitlab";
    println!(
        "review through GitLab with a {} ms upstream (2 calls per review), HTTP/2 on one connection, {seconds} s:\n",
        LATENCY.as_millis()
    );
    println!("| cache | streams | req/s | p50 ms | p99 ms | ok % | upstream calls |");
    println!("|---|---|---|---|---|---|---|");
    for (cache, streams, label) in [
        (false, 1, "off"),
        (false, 16, "off (identical reviews in flight coalesce)"),
        (true, 16, "warm"),
    ] {
        let (server, _) = start_guard(guard, &pki, &stub.url, cache)?;
        if cache {
            // Warm it.
            bench::oha(
                server.port,
                &pki,
                client,
                &body,
                1,
                1,
                true,
                true,
                "/tokenreviews",
            )?;
        }
        let before = stub.calls.load(Ordering::Relaxed);
        let load = bench::oha(
            server.port,
            &pki,
            client,
            &body,
            seconds,
            streams,
            true,
            true,
            "/tokenreviews",
        )?;
        row(
            &format!("{label} | {streams}"),
            &load,
            stub.calls.load(Ordering::Relaxed) - before,
        );
    }

    // 500 identical reviews at once on a cold cache: one HTTP/2 connection,
    // as the API server sends them.
    let (server, probe_port) = start_guard(guard, &pki, &stub.url, true)?;
    let before = stub.calls.load(Ordering::Relaxed);
    let load = bench::oha_burst(server.port, &pki, client, &body, 500, "/tokenreviews")?;
    let calls = stub.calls.load(Ordering::Relaxed) - before;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let metrics = runtime.block_on(probe_get(probe_port, "/metrics"))?;
    let source = |s: &str| {
        metric(
            &metrics,
            &format!("guard_review_cache_total{{provider=\"gitlab\",result=\"{s}\"}}"),
        )
    };
    println!(
        "\n500 identical concurrent reviews, cold cache: {calls} upstream calls; reviews: {} miss, {} coalesced, {} cache hit; p50 {:.1} ms, p99 {:.1} ms, ok {:.1} %",
        source("miss"),
        source("coalesced"),
        source("hit"),
        load.p50,
        load.p99,
        load.success
    );
    Ok(())
}
