//! `cargo xtask bench proxy`: `guard proxy` against nginx (Debian's
//! package) set up as operators set it up today: a TLS front proxy with
//! basic auth that forwards to kube-apiserver with a front-proxy client
//! certificate and `X-Remote-User`. Both sit in front of the same API
//! server stand-in (in this process), on CPU 0; the stand-in and the load
//! generator share CPU 1.
//!
//! Measured: the latency a proxy adds to a plain GET (against the stand-in
//! reached directly), at 1 and 16 connections, and to the events of watch
//! streams (each event carries the time it was sent), plus the proxy's CPU
//! time per request or event (from /proc/PID/task/*/schedstat).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};

use crate::bench::{free_port, guard_cli, pinned, wait_until_listening};

/// The user token (guard) and password (nginx) of the load.
const TOKEN: &str = "bench-proxy-token-0123456789";
/// Watch streams open at once.
const WATCHES: usize = 100;
/// Time between two events of one watch stream.
const EVENT_EVERY: Duration = Duration::from_millis(20);

/// The common time base of the stand-in (which stamps events) and the
/// load generator (which reads them): both live in this process.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

const POD_LIST: &str = r#"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"12345"},"items":[{"metadata":{"name":"web-7d4b9c8f6d-x2x9k","namespace":"default","uid":"5f1c1a9e-2f5e-4c1e-9d7a-3b8f2a1c0d11","resourceVersion":"12340","labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx:1.27"}],"nodeName":"node-1"},"status":{"phase":"Running","podIP":"10.244.1.7"}}]}"#;

/// The API server stand-in: a pod list, and watches that send an event
/// every [`EVENT_EVERY`] for `watch_for`.
/// TLS connections the stand-ins accepted.
static UPSTREAM_CONNECTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn start_stand_in(dir: &Path, http2: bool, watch_for: Duration) -> anyhow::Result<u16> {
    use rustls_pki_types::pem::PemObject as _;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let certs =
        rustls_pki_types::CertificateDer::pem_file_iter(dir.join("cluster/pki/server.crt"))?
            .collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(dir.join("cluster/pki/server.key"))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(dir.join("front-proxy/pki/ca.crt"))? {
        roots.add(c?)?;
    }
    // A front proxy must present a certificate of the front-proxy CA.
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots)).build()?;
    let mut config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)?;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
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
                let _ = tcp.set_nodelay(true);
                UPSTREAM_CONNECTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| async move {
                        let has_user = req.headers().contains_key("x-remote-user");
                        let watch = req.uri().query().is_some_and(|q| q.contains("watch=true"));
                        let resp = if !has_user {
                            hyper::Response::builder().status(401).body(Full::new(Bytes::new()).map_err(|n| match n {}).boxed())
                        } else if watch {
                            let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
                            tokio::spawn(async move {
                                let end = tokio::time::Instant::now() + watch_for;
                                let mut tick = tokio::time::interval(EVENT_EVERY);
                                let mut n = 0u64;
                                while tokio::time::Instant::now() < end {
                                    tick.tick().await;
                                    n += 1;
                                    let event = format!(
                                        "{{\"type\":\"MODIFIED\",\"object\":{{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{{\"name\":\"web\",\"resourceVersion\":\"{n}\",\"annotations\":{{\"sent-ns\":\"{}\"}}}}}}}}\n",
                                        now_ns()
                                    );
                                    if tx.send(Bytes::from(event)).await.is_err() {
                                        return;
                                    }
                                }
                            });
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(ChannelBody(rx).boxed())
                        } else {
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(POD_LIST.as_bytes())).map_err(|n| match n {}).boxed())
                        };
                        Ok::<_, std::convert::Infallible>(resp.unwrap_or_default())
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    });
    Ok(port)
}

/// A channel as a response body.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

/// A proxy (or the stand-in itself) the load is sent to.
struct Target {
    name: &'static str,
    port: u16,
    /// The processes whose CPU time counts.
    pids: Vec<u32>,
    /// Headers every request carries.
    headers: Vec<(&'static str, String)>,
    /// Present the front-proxy client certificate (the stand-in directly).
    client_cert: bool,
    _children: Vec<ChildGuard>,
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // SIGTERM first: nginx's master then stops its workers.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU time of `pids` and their threads, in nanoseconds.
fn cpu_ns(pids: &[u32]) -> u64 {
    pids.iter()
        .flat_map(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/task"))
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The children of `pid` (nginx's workers).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| {
                    let after = s.rsplit_once(')')?.1;
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn p(&self, rel: &str) -> String {
        self.dir.join(rel).display().to_string()
    }
}

fn make_pki(guard: &Path, dir: &Path) -> anyhow::Result<Pki> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let d = |rel: &str| dir.join(rel).display().to_string();
    guard_cli(guard, &["init", "ca", "--pki-dir", &d("proxy")])?;
    guard_cli(
        guard,
        &[
            "init",
            "server",
            "--pki-dir",
            &d("proxy"),
            "--ips=127.0.0.1",
        ],
    )?;
    guard_cli(guard, &["init", "ca", "--pki-dir", &d("cluster")])?;
    guard_cli(
        guard,
        &[
            "init",
            "server",
            "--pki-dir",
            &d("cluster"),
            "--ips=127.0.0.1",
            // nginx checks the upstream certificate's DNS names only.
            "--domains=kubernetes.default.svc",
        ],
    )?;
    guard_cli(guard, &["init", "ca", "--pki-dir", &d("front-proxy")])?;
    guard_cli(
        guard,
        &[
            "init",
            "front-proxy-client",
            "--pki-dir",
            &d("proxy"),
            "--ca-cert-file",
            &d("front-proxy/pki/ca.crt"),
            "--ca-key-file",
            &d("front-proxy/pki/ca.key"),
        ],
    )?;
    std::fs::write(
        dir.join("tokens.csv"),
        format!("{TOKEN},alice,1001,\"dev,ops\"\n"),
    )?;
    // nginx's {PLAIN} scheme: no hashing, as cheap as guard's token lookup.
    std::fs::write(dir.join("htpasswd"), format!("alice:{{PLAIN}}{TOKEN}\n"))?;
    Ok(Pki {
        dir: dir.to_owned(),
    })
}

fn start_guard(
    guard: &Path,
    pki: &Pki,
    upstream: u16,
    name: &'static str,
) -> anyhow::Result<Target> {
    let port = free_port()?;
    let started = Instant::now();
    let child = pinned("0", guard)
        .args([
            "proxy",
            &format!("--secure-addr=127.0.0.1:{port}"),
            "--metrics-addr=",
        ])
        .arg(format!("--tls-cert-file={}", pki.p("proxy/pki/server.crt")))
        .arg(format!(
            "--tls-private-key-file={}",
            pki.p("proxy/pki/server.key")
        ))
        .args([
            "--mode=front-proxy",
            &format!("--apiserver-url=https://127.0.0.1:{upstream}"),
        ])
        .arg(format!(
            "--apiserver-ca-file={}",
            pki.p("cluster/pki/ca.crt")
        ))
        .arg(format!(
            "--apiserver-client-cert-file={}",
            pki.p("proxy/pki/front-proxy-client.crt")
        ))
        .arg(format!(
            "--apiserver-client-key-file={}",
            pki.p("proxy/pki/front-proxy-client.key")
        ))
        .args([
            "--auth-providers=token-auth",
            &format!("--token-auth-file={}", pki.p("tokens.csv")),
        ])
        // The audit line is written, to nowhere, as nginx's access log.
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id();
    wait_until_listening(port, started)?;
    Ok(Target {
        name,
        port,
        pids: vec![pid],
        headers: vec![("authorization", format!("Bearer {TOKEN}"))],
        client_cert: false,
        _children: vec![ChildGuard(child)],
    })
}

fn start_nginx(pki: &Pki, upstream: u16) -> anyhow::Result<Target> {
    let nginx = Path::new("/usr/sbin/nginx");
    if !nginx.exists() {
        bail!("nginx is missing: sudo apt-get install -y nginx");
    }
    let port = free_port()?;
    let dir = pki.dir.join("nginx");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let root = std::env::var("USER").is_ok_and(|u| u == "root")
        || std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        });
    let conf = format!(
        r#"{user}
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 4096; }}
http {{
  access_log /dev/null combined;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream apiserver {{
    server 127.0.0.1:{upstream};
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    keepalive_requests 1000000;
    location / {{
      auth_basic "kubernetes";
      auth_basic_user_file {htpasswd};
      proxy_pass https://apiserver;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "";
      proxy_set_header X-Remote-User $remote_user;
      proxy_set_header X-Remote-Group system:authenticated;
      proxy_ssl_certificate {fp_cert};
      proxy_ssl_certificate_key {fp_key};
      proxy_ssl_trusted_certificate {cluster_ca};
      proxy_ssl_verify on;
      proxy_ssl_name kubernetes.default.svc;
      proxy_ssl_session_reuse on;
      proxy_buffering off;
      proxy_read_timeout 1h;
    }}
  }}
}}
"#,
        user = if root { "user root;" } else { "" },
        dir = dir.display(),
        cert = pki.p("proxy/pki/server.crt"),
        key = pki.p("proxy/pki/server.key"),
        htpasswd = pki.p("htpasswd"),
        fp_cert = pki.p("proxy/pki/front-proxy-client.crt"),
        fp_key = pki.p("proxy/pki/front-proxy-client.key"),
        cluster_ca = pki.p("cluster/pki/ca.crt"),
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let started = Instant::now();
    let child = pinned("0", nginx)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg("stderr")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start nginx")?;
    let master = child.id();
    wait_until_listening(port, started)?;
    // The master listens before it forks its worker: wait for the worker.
    let mut pids = vec![master];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let workers = children(master);
        if !workers.is_empty() {
            pids.extend(workers);
            break;
        }
        if Instant::now() > deadline {
            bail!("nginx started no worker process");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("alice:{TOKEN}"));
    Ok(Target {
        name: "nginx (basic auth)",
        port,
        pids,
        headers: vec![("authorization", format!("Basic {basic}"))],
        client_cert: false,
        _children: vec![ChildGuard(child)],
    })
}

/// A TLS client configuration for `target`.
fn client_config(pki: &Pki, target: &Target) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls_pki_types::pem::PemObject as _;
    let ca = if target.client_cert {
        pki.p("cluster/pki/ca.crt")
    } else {
        pki.p("proxy/pki/ca.crt")
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(ca)? {
        roots.add(c?)?;
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let mut config = if target.client_cert {
        builder.with_client_auth_cert(
            rustls_pki_types::CertificateDer::pem_file_iter(
                pki.p("proxy/pki/front-proxy-client.crt"),
            )?
            .collect::<Result<Vec<_>, _>>()?,
            rustls_pki_types::PrivateKeyDer::from_pem_file(
                pki.p("proxy/pki/front-proxy-client.key"),
            )?,
        )?
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(port: u16, config: Arc<rustls::ClientConfig>) -> anyhow::Result<Sender> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    tcp.set_nodelay(true)?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(rustls_pki_types::ServerName::try_from("127.0.0.1")?, tcp)
        .await?;
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

fn request(
    headers: &[(&'static str, String)],
    path: &str,
) -> anyhow::Result<hyper::Request<Full<Bytes>>> {
    let mut req = hyper::Request::get(path).header("host", "127.0.0.1");
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    Ok(req.body(Full::new(Bytes::new()))?)
}

struct Measured {
    count: u64,
    /// New TLS connections the stand-in accepted during the run.
    upstream_connections: u64,
    p50_us: f64,
    p99_us: f64,
    per_second: f64,
    cpu_us_each: f64,
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64
}

/// `connections` clients sending GETs back to back for `seconds`.
async fn gets(
    pki: &Pki,
    target: &Target,
    connections: usize,
    seconds: f64,
) -> anyhow::Result<Measured> {
    let config = client_config(pki, target)?;
    let mut senders = Vec::new();
    for _ in 0..connections {
        senders.push(connect(target.port, config.clone()).await?);
    }
    // Warm up the connections and the proxy's upstream pool.
    for s in &mut senders {
        for _ in 0..20 {
            let resp = s
                .send_request(request(&target.headers, "/api/v1/namespaces/default/pods")?)
                .await?;
            if resp.status() != 200 {
                bail!("{}: status {}", target.name, resp.status());
            }
            resp.into_body().collect().await?;
        }
    }
    let cpu_before = cpu_ns(&target.pids);
    let connections_before = UPSTREAM_CONNECTIONS.load(std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for mut s in senders {
        let headers = target.headers.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let req = request(&headers, "/api/v1/namespaces/default/pods")?;
                let t = Instant::now();
                let resp = s.send_request(req).await?;
                let ok = resp.status() == 200;
                resp.into_body().collect().await?;
                if !ok {
                    bail!("status not 200");
                }
                latencies.push(t.elapsed().as_micros() as u64);
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_ns(&target.pids) - cpu_before;
    all.sort_unstable();
    Ok(Measured {
        count: all.len() as u64,
        upstream_connections: UPSTREAM_CONNECTIONS.load(std::sync::atomic::Ordering::Relaxed)
            - connections_before,
        p50_us: percentile(&all, 0.5),
        p99_us: percentile(&all, 0.99),
        per_second: all.len() as f64 / elapsed,
        cpu_us_each: cpu as f64 / 1000.0 / all.len().max(1) as f64,
    })
}

/// [`WATCHES`] watch streams at once; the latency of each event from the
/// stand-in's send to the client's read.
async fn watches(pki: &Pki, target: &Target) -> anyhow::Result<Measured> {
    let config = client_config(pki, target)?;
    let cpu_before = cpu_ns(&target.pids);
    let connections_before = UPSTREAM_CONNECTIONS.load(std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..WATCHES {
        let mut sender = connect(target.port, config.clone()).await?;
        let req = request(
            &target.headers,
            "/api/v1/namespaces/default/pods?watch=true",
        )?;
        tasks.push(tokio::spawn(async move {
            let resp = sender.send_request(req).await?;
            if resp.status() != 200 {
                bail!("watch status {}", resp.status());
            }
            let mut body = resp.into_body();
            let mut pending = Vec::new();
            let mut latencies = Vec::new();
            while let Some(frame) = body.frame().await {
                let at = now_ns();
                let Ok(data) = frame?.into_data() else {
                    continue;
                };
                pending.extend_from_slice(&data);
                while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=i).collect();
                    let text = String::from_utf8_lossy(&line);
                    if let Some(sent) = text
                        .split("\"sent-ns\":\"")
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                        .and_then(|n| n.parse::<u64>().ok())
                    {
                        latencies.push(at.saturating_sub(sent) / 1000);
                    }
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_ns(&target.pids) - cpu_before;
    all.sort_unstable();
    Ok(Measured {
        count: all.len() as u64,
        upstream_connections: UPSTREAM_CONNECTIONS.load(std::sync::atomic::Ordering::Relaxed)
            - connections_before,
        p50_us: percentile(&all, 0.5),
        p99_us: percentile(&all, 0.99),
        per_second: all.len() as f64 / elapsed,
        cpu_us_each: cpu as f64 / 1000.0 / all.len().max(1) as f64,
    })
}

/// Prints one result table; the first row is the baseline the others add to.
fn table(count: &str, unit: &str, rows: &[(&Target, Measured)], count_of: fn(&Measured) -> String) {
    println!(
        "| path | {count} | p50 µs | p99 µs | added p50 µs | added p99 µs | proxy CPU µs/{unit} | new upstream connections |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let Some((_, base)) = rows.first() else {
        return;
    };
    for (i, (t, m)) in rows.iter().enumerate() {
        let (added50, added99, cpu) = if i == 0 {
            ("-".to_owned(), "-".to_owned(), "-".to_owned())
        } else {
            (
                format!("{:.0}", m.p50_us - base.p50_us),
                format!("{:.0}", m.p99_us - base.p99_us),
                format!("{:.1}", m.cpu_us_each),
            )
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {added50} | {added99} | {cpu} | {} |",
            t.name,
            count_of(m),
            m.p50_us,
            m.p99_us,
            m.upstream_connections
        );
    }
    println!();
}

/// Pins this process (every thread) to CPU 1, when taskset is there.
fn pin_self() {
    let _ = Command::new("taskset")
        .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

pub fn run(guard: &Path, work: &Path, seconds: u64) -> anyhow::Result<()> {
    let _ = epoch();
    pin_self();
    let pki = make_pki(guard, &work.join("proxy-bench"))?;
    let watch_for = Duration::from_secs(seconds.max(1));
    let upstream_h2 = start_stand_in(&pki.dir, true, watch_for)?;
    let upstream_h1 = start_stand_in(&pki.dir, false, watch_for)?;
    let direct = Target {
        name: "the stand-in directly",
        port: upstream_h2,
        pids: Vec::new(),
        headers: vec![("x-remote-user", "alice".into())],
        client_cert: true,
        _children: Vec::new(),
    };
    let targets = [
        direct,
        start_guard(guard, &pki, upstream_h2, "guard proxy (HTTP/2 upstream)")?,
        start_guard(guard, &pki, upstream_h1, "guard proxy (HTTP/1.1 upstream)")?,
        start_nginx(&pki, upstream_h1)?,
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "proxies on CPU 0; the stand-in and the load generator on CPU 1; {seconds} s per run; clients speak HTTP/1.1 with keep-alive\n"
    );
    for connections in [1usize, 16] {
        println!("plain GET of a one-pod list, {connections} connection(s):\n");
        let mut rows = Vec::new();
        for t in &targets {
            rows.push((
                t,
                runtime.block_on(gets(&pki, t, connections, seconds as f64))?,
            ));
        }
        table("req/s", "request", &rows, |m| {
            format!("{:.0}", m.per_second)
        });
    }
    println!(
        "{WATCHES} watch streams at once, an event every {} ms on each, for {} s:\n",
        EVENT_EVERY.as_millis(),
        watch_for.as_secs()
    );
    let mut rows = Vec::new();
    for t in &targets {
        rows.push((t, runtime.block_on(watches(&pki, t))?));
    }
    table("events", "event", &rows, |m| m.count.to_string());
    Ok(())
}
