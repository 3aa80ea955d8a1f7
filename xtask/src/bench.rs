//! `cargo xtask bench`: release-mode measurements, written up in
//! docs/performance.md.
//!
//! * `token-file`: loading a 1,000,000-line token file.
//! * `kerberos` (needs Debian's krb5-kdc, krb5-admin-server, krb5-user):
//!   verifying Kerberos tokens with a keytab, making them, getting service
//!   tickets from a real MIT KDC.
//! * `upstream` (needs `oha`): a review through GitLab with a 50 ms
//!   upstream: cache off, warm, and 500 identical concurrent reviews.
//! * `authz` (needs `oha`): SubjectAccessReviews through Azure RBAC with a
//!   50 ms CheckAccess: warm cache, and 500 identical concurrent reviews.
//! * `server` (needs `oha` and Go): `guard run` (token-auth) against the Go
//!   reference webhook (`xtask/bench/go-reference`, stdlib net/http +
//!   crypto/tls doing the same TokenReview work), same PKI, same request,
//!   same load generator. The servers run on CPU 0 and oha on CPU 1.
//!   `--seconds N` sets each run's length (default 5; CI smoke: 1).
//! * `proxy` (needs nginx): `guard proxy` against nginx with basic auth as
//!   a front proxy, both in front of the same API server stand-in.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{cargo, workspace_root};

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse::<u64>())
        .transpose()
        .context("--seconds takes a number")?
        .unwrap_or(5);
    match args.first().map(String::as_str) {
        None | Some("all") => {
            token_file()?;
            kerberos()?;
            server(seconds)?;
            upstream(seconds)?;
            authz(seconds)?;
            proxy(seconds)
        }
        Some("token-file") => token_file(),
        Some("kerberos") => kerberos(),
        Some("server") => server(seconds),
        Some("upstream") => upstream(seconds),
        Some("authz") => authz(seconds),
        Some("proxy") => proxy(seconds),
        Some(other) => {
            bail!(
                "unknown benchmark {other:?}: token-file, kerberos, server, upstream, authz, proxy or all"
            )
        }
    }
}

fn token_file() -> anyhow::Result<()> {
    cargo(&[
        "run",
        "--release",
        "--quiet",
        "--package",
        "guard-providers",
        "--example",
        "token_file_load",
        "--",
        "1000000",
    ])
}

fn kerberos() -> anyhow::Result<()> {
    cargo(&[
        "run",
        "--release",
        "--quiet",
        "--package",
        "guard-kerberos",
        "--example",
        "kerberos_bench",
    ])
}

/// A server under test, killed on drop.
pub struct Server {
    pub name: &'static str,
    pub child: Child,
    pub port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn rss_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix(field)?
                        .strip_prefix(':')?
                        .trim()
                        .strip_suffix(" kB")?
                        .parse()
                        .ok()
                })
            })
            .unwrap_or(0)
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `taskset -c CPU` when taskset exists (util-linux), so server and load
/// generator do not fight over one core.
pub fn pinned(cpu: &str, program: &Path) -> Command {
    if Command::new("taskset").arg("--version").output().is_ok() {
        let mut c = Command::new("taskset");
        c.args(["-c", cpu]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Time from spawning a server to its first accepted TCP connection (both
/// servers measured the same way).
pub fn wait_until_listening(port: u16, started: Instant) -> anyhow::Result<Duration> {
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the server on port {port} did not start within 30 s");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

pub struct Load {
    pub rps: f64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub success: f64,
    /// HTTP status codes other than 200, with their counts.
    pub not_ok: Vec<(String, u64)>,
}

#[allow(clippy::too_many_arguments)]
pub fn oha(
    port: u16,
    pki: &Path,
    client: &str,
    body: &Path,
    seconds: u64,
    connections: u32,
    http2: bool,
    keepalive: bool,
    path: &str,
) -> anyhow::Result<Load> {
    let mut cmd = pinned("1", Path::new("oha"));
    cmd.args([
        "--no-tui",
        "--output-format",
        "json",
        "-z",
        &format!("{seconds}s"),
        "-m",
        "POST",
        "-T",
        "application/json",
    ])
    .arg("-D")
    .arg(body)
    .arg("--cacert")
    .arg(pki.join("ca.crt"))
    .arg("--cert")
    .arg(pki.join(format!("{client}.crt")))
    .arg("--key")
    .arg(pki.join(format!("{client}.key")));
    if http2 {
        cmd.args(["--http2", "-c", "1", "-p", &connections.to_string()]);
    } else {
        cmd.args(["-c", &connections.to_string()]);
    }
    if !keepalive {
        cmd.arg("--disable-keepalive");
    }
    cmd.arg(format!("https://127.0.0.1:{port}{path}"));
    run_oha(cmd)
}

/// `n` requests at once over one HTTP/2 connection to `path`.
pub fn oha_burst(
    port: u16,
    pki: &Path,
    client: &str,
    body: &Path,
    n: u32,
    path: &str,
) -> anyhow::Result<Load> {
    let mut cmd = pinned("1", Path::new("oha"));
    cmd.args(["--no-tui", "--output-format", "json", "-n", &n.to_string()])
        .args(["-m", "POST", "-T", "application/json", "--http2", "-c", "1"])
        .args(["-p", &n.to_string(), "-D"])
        .arg(body)
        .arg("--cacert")
        .arg(pki.join("ca.crt"))
        .arg("--cert")
        .arg(pki.join(format!("{client}.crt")))
        .arg("--key")
        .arg(pki.join(format!("{client}.key")))
        .arg(format!("https://127.0.0.1:{port}{path}"));
    run_oha(cmd)
}

/// Runs oha (JSON output) and reads its summary.
pub fn run_oha(mut cmd: Command) -> anyhow::Result<Load> {
    let out = cmd
        .output()
        .context("cannot run oha (cargo install oha --locked)")?;
    if !out.status.success() {
        bail!("oha failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("oha output")?;
    Ok(parse_oha(&v))
}

/// Reads oha's JSON summary.
pub fn parse_oha(v: &serde_json::Value) -> Load {
    let ms = |k: &str| v["latencyPercentiles"][k].as_f64().unwrap_or(f64::NAN) * 1000.0;
    Load {
        rps: v["summary"]["requestsPerSec"].as_f64().unwrap_or(0.0),
        p50: ms("p50"),
        p99: ms("p99"),
        p999: ms("p99.9"),
        success: v["summary"]["successRate"].as_f64().unwrap_or(0.0) * 100.0,
        not_ok: v["statusCodeDistribution"]
            .as_object()
            .map(|codes| {
                codes
                    .iter()
                    .filter(|(code, _)| code.as_str() != "200")
                    .map(|(code, n)| (code.clone(), n.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Runs `guard ARGS` (output discarded), failing on a non-zero exit.
pub fn guard_cli(guard: &Path, args: &[&str]) -> anyhow::Result<()> {
    if !Command::new(guard)
        .args(args)
        .stdout(Stdio::null())
        .status()?
        .success()
    {
        bail!("guard {} failed", args.join(" "));
    }
    Ok(())
}

/// A PKI under `dir/pki`: a CA, a server certificate for 127.0.0.1 with a
/// key of `algorithm`, and the client certificate `bench@PROVIDER`.
pub fn guard_init(guard: &Path, dir: &Path, algorithm: &str, provider: &str) -> anyhow::Result<()> {
    let d = dir.to_str().context("path")?;
    guard_cli(guard, &["init", "ca", "--pki-dir", d])?;
    guard_cli(
        guard,
        &[
            "init",
            "server",
            "--pki-dir",
            d,
            "--ips=127.0.0.1",
            "--key-algorithm",
            algorithm,
        ],
    )?;
    guard_cli(
        guard,
        &["init", "client", "bench", "-o", provider, "--pki-dir", d],
    )
}

/// `guard run` on CPU 0 and 127.0.0.1:`port` with the TLS files of `pki`,
/// logging warnings only to nowhere; the caller adds the providers.
pub fn guard_run(guard: &Path, pki: &Path, port: u16) -> Command {
    let mut cmd = pinned("0", guard);
    cmd.args(["run", &format!("--secure-addr=127.0.0.1:{port}")])
        .arg(format!("--tls-ca-file={}", pki.join("ca.crt").display()))
        .arg(format!(
            "--tls-cert-file={}",
            pki.join("server.crt").display()
        ))
        .arg(format!(
            "--tls-private-key-file={}",
            pki.join("server.key").display()
        ))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// A rustls client configuration that trusts the CA certificates in `ca`.
pub fn trusting(ca: &Path) -> anyhow::Result<std::sync::Arc<rustls::ClientConfig>> {
    use rustls_pki_types::pem::PemObject as _;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    Ok(std::sync::Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

fn start_guard(guard: &Path, pki: &Path, tokens: &Path) -> anyhow::Result<(Server, Duration)> {
    let port = free_port()?;
    let started = Instant::now();
    let child = guard_run(guard, pki, port)
        .arg("--auth-providers=token-auth")
        .arg(format!("--token-auth-file={}", tokens.display()))
        .spawn()?;
    let server = Server {
        name: "guard (Rust)",
        child,
        port,
    };
    let startup = wait_until_listening(port, started)?;
    Ok((server, startup))
}

fn start_go(go_bin: &Path, pki: &Path) -> anyhow::Result<(Server, Duration)> {
    let port = free_port()?;
    let started = Instant::now();
    let child = pinned("0", go_bin)
        .args([
            "-addr",
            &format!("127.0.0.1:{port}"),
            "-token",
            "bench-token-0123456789",
        ])
        .arg("-cert")
        .arg(pki.join("server.crt"))
        .arg("-key")
        .arg(pki.join("server.key"))
        .arg("-ca")
        .arg(pki.join("ca.crt"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let server = Server {
        name: "Go reference",
        child,
        port,
    };
    // The Go reference has no /healthz and requires a client certificate: time its first TCP accept.
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("Go reference did not start");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok((server, started.elapsed()))
}

fn server(seconds: u64) -> anyhow::Result<()> {
    for tool in ["oha", "go"] {
        if Command::new(tool).arg("--version").output().is_err()
            && Command::new(tool).arg("version").output().is_err()
        {
            bail!("{tool} is missing: cargo install oha --locked; apt-get install golang-go");
        }
    }
    cargo(&["build", "--release", "--quiet", "--package", "guard"])?;
    let root = workspace_root();
    let guard = root.join("target/release/guard");
    let work = root.join("target/bench");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let go_bin = work.join("tr-server");
    let st = Command::new("go")
        .args(["build", "-o"])
        .arg(&go_bin)
        .arg(".")
        .current_dir(root.join("xtask/bench/go-reference"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOCACHE", work.join("gocache"))
        .status()?;
    if !st.success() {
        bail!("go build of the reference failed");
    }
    let tokens = work.join("tokens.csv");
    std::fs::write(&tokens, "bench-token-0123456789,alice,1,devs\n")?;
    let body = work.join("review.json");
    std::fs::write(
        &body,
        r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"bench-token-0123456789"}}"#,
    )?;

    println!(
        "machine: {} CPUs, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    println!("runs of {seconds} s; servers pinned to CPU 0, oha to CPU 1\n");
    for algorithm in ["rsa2048", "ecdsa-p256"] {
        let pki_parent = work.join(format!("pki-{algorithm}"));
        guard_init(&guard, &pki_parent, algorithm, "token-auth")?;
        let pki = pki_parent.join("pki");
        let (rust, rust_start) = start_guard(&guard, &pki, &tokens)?;
        let (go, go_start) = start_go(&go_bin, &pki)?;
        if algorithm == "rsa2048" {
            println!(
                "start-up to a listening socket: guard {:.1} ms, Go {:.1} ms",
                ms(rust_start),
                ms(go_start)
            );
            std::thread::sleep(Duration::from_millis(300));
            println!(
                "idle RSS: guard {} KiB, Go {} KiB\n",
                rust.rss_kib("VmRSS"),
                go.rss_kib("VmRSS")
            );
            println!(
                "| server | protocol | concurrency | req/s | p50 ms | p99 ms | p99.9 ms | ok % |"
            );
            println!("|---|---|---|---|---|---|---|---|");
            for (http2, label) in [
                (false, "HTTP/1.1 keep-alive"),
                (true, "HTTP/2, 1 connection"),
            ] {
                for c in [1u32, 16, 64] {
                    for s in [&rust, &go] {
                        let l = oha(
                            s.port,
                            &pki,
                            "bench@token-auth",
                            &body,
                            seconds,
                            c,
                            http2,
                            true,
                            "/tokenreviews",
                        )?;
                        println!(
                            "| {} | {label} | {c} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} |",
                            s.name, l.rps, l.p50, l.p99, l.p999, l.success
                        );
                    }
                }
            }
            println!(
                "\npeak RSS after the runs: guard {} KiB, Go {} KiB\n",
                rust.rss_kib("VmHWM"),
                go.rss_kib("VmHWM")
            );
        }
        println!("new TLS handshakes (no keep-alive, 16 clients), server key {algorithm}:");
        for s in [&rust, &go] {
            let l = oha(
                s.port,
                &pki,
                "bench@token-auth",
                &body,
                seconds,
                16,
                false,
                false,
                "/tokenreviews",
            )?;
            println!(
                "  {}: {:.0} handshakes+reviews/s, p99 {:.2} ms, ok {:.1} %",
                s.name, l.rps, l.p99, l.success
            );
        }
        println!();
    }
    Ok(())
}

fn upstream(seconds: u64) -> anyhow::Result<()> {
    if Command::new("oha").arg("--version").output().is_err() {
        bail!("oha is missing: cargo install oha --locked");
    }
    cargo(&["build", "--release", "--quiet", "--package", "guard"])?;
    let root = workspace_root();
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work)?;
    let _ = std::fs::remove_dir_all(work.join("pki-upstream"));
    crate::upstream::run(&root.join("target/release/guard"), &work, seconds)
}

fn authz(seconds: u64) -> anyhow::Result<()> {
    if Command::new("oha").arg("--version").output().is_err() {
        bail!("oha is missing: cargo install oha --locked");
    }
    cargo(&["build", "--release", "--quiet", "--package", "guard"])?;
    let root = workspace_root();
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work)?;
    crate::authz::run(&root.join("target/release/guard"), &work, seconds)
}

fn proxy(seconds: u64) -> anyhow::Result<()> {
    cargo(&["build", "--release", "--quiet", "--package", "guard"])?;
    let root = workspace_root();
    let work = root.join("target/bench");
    std::fs::create_dir_all(&work)?;
    crate::proxy_bench::run(&root.join("target/release/guard"), &work, seconds)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_default()
}

/// What a [`counting_stand_in`] answers to one request.
pub struct StandInAnswer {
    /// The JSON body.
    pub body: String,
    /// Whether the request is one the bench counts: it is counted and
    /// answered only after the stand-in's latency.
    pub counted: bool,
    /// Extra response headers.
    pub headers: &'static [(&'static str, &'static str)],
}

/// A plain-HTTP/1.1 upstream stand-in on 127.0.0.1 (guard accepts plain
/// HTTP on loopback), on its own thread and single-worker runtime, so its
/// work is not the measured server's. `answer(path, body)` decides each
/// answer; requests it marks counted wait `latency` and are counted in the
/// returned counter. Returns `http://127.0.0.1:PORT` and the counter.
pub fn counting_stand_in(
    latency: Duration,
    answer: impl Fn(&str, &[u8]) -> StandInAnswer + Send + Sync + 'static,
) -> anyhow::Result<(String, std::sync::Arc<std::sync::atomic::AtomicU64>)> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use http_body_util::{BodyExt as _, Full};

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}", listener.local_addr()?);
    let calls = Arc::new(AtomicU64::new(0));
    let counter = calls.clone();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            while let Ok((tcp, _)) = listener.accept().await {
                let (counter, answer) = (counter.clone(), answer.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (counter, answer) = (counter.clone(), answer.clone());
                            async move {
                                let path = req.uri().path().to_owned();
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let reply = answer(&path, &body);
                                if reply.counted {
                                    counter.fetch_add(1, Ordering::Relaxed);
                                    tokio::time::sleep(latency).await;
                                }
                                let mut response = hyper::Response::builder()
                                    .header("content-type", "application/json");
                                for (name, value) in reply.headers {
                                    response = response.header(*name, *value);
                                }
                                Ok::<_, std::convert::Infallible>(
                                    response
                                        .body(Full::new(bytes::Bytes::from(reply.body)))
                                        .unwrap_or_default(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
    });
    Ok((url, calls))
}

#[cfg(test)]
mod stand_in_tests {
    use std::io::{Read as _, Write as _};
    use std::time::Duration;

    use super::{StandInAnswer, counting_stand_in};

    fn get(url: &str, path: &str) -> String {
        let addr = url.trim_start_matches("http://");
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        write!(tcp, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn counts_only_what_it_is_told_to_and_sends_the_headers() {
        let (url, calls) = counting_stand_in(Duration::from_millis(1), |path, _| StandInAnswer {
            body: format!("{{\"path\":\"{path}\"}}"),
            counted: path != "/token",
            headers: &[("x-extra", "1")],
        })
        .unwrap();
        let answer = get(&url, "/user");
        assert!(answer.contains("{\"path\":\"/user\"}"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("x-extra: 1"),
            "{answer}"
        );
        get(&url, "/token");
        assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
