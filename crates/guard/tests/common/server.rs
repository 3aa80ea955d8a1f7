//! Starts the real `guard run` on a free loopback port and talks to it.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Sandbox;

/// Tokens of the sample token file.
pub const TOKENS: &str = "good-token-123,alice,1001,\"dev, ops\"\nbob-token-456,bob,1002\n";

/// A PKI (CA, server for 127.0.0.1, client `demo@token-auth`) and a token file.
pub fn prepare(sb: &Sandbox) -> PathBuf {
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "server", "--ips=127.0.0.1"]);
    sb.ok(&["init", "client", "demo", "-o", "token-auth"]);
    let tokens = sb.home.path().join("token.csv");
    std::fs::write(&tokens, TOKENS).unwrap();
    tokens
}

/// A sandbox with a CA, a server certificate for 127.0.0.1 and the client
/// certificate `guard init client CLIENT...` makes (`client` is e.g.
/// `["demo", "-o", "eks"]`).
pub fn sandbox_with_client(client: &[&str]) -> Sandbox {
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "server", "--ips=127.0.0.1"]);
    let mut init = vec!["init", "client"];
    init.extend(client);
    sb.ok(&init);
    sb
}

/// `guard run` on a free loopback port with the sandbox's CA and server
/// certificate: the arguments every server of the tests starts with.
pub fn guard_run_args(sb: &Sandbox) -> Vec<String> {
    let pki = sb.pki();
    let path = |f: &str| pki.join(f).display().to_string();
    vec![
        "run".to_owned(),
        "--secure-addr=127.0.0.1:0".to_owned(),
        format!("--tls-ca-file={}", path("ca.crt")),
        format!("--tls-cert-file={}", path("server.crt")),
        format!("--tls-private-key-file={}", path("server.key")),
    ]
}

/// A running `guard run`, killed on drop.
pub struct GuardServer {
    child: Child,
    pub port: u16,
    pub log: Arc<Mutex<String>>,
}

impl GuardServer {
    /// Starts `guard run` with the sandbox's PKI and `extra` arguments,
    /// and waits for its "listening on" line (at most 30 s).
    pub fn start(sb: &Sandbox, extra: &[&str]) -> Self {
        let mut args = guard_run_args(sb);
        args.extend([
            "--reload-interval=100ms".to_owned(),
            "--probe-addr=127.0.0.1:0".to_owned(),
        ]);
        args.extend(extra.iter().map(|a| a.to_string()));
        Self::spawn(sb, &args, &[])
    }

    /// Starts `guard ARGS` (which must include `run` and a
    /// `--secure-addr` on 127.0.0.1 port 0) with extra environment variables.
    /// guard logs at debug unless `env` sets `RUST_LOG`; an empty value
    /// removes the variable (guard's default level).
    pub fn spawn(sb: &Sandbox, args: &[String], env: &[(String, String)]) -> Self {
        let mut cmd = sb.guard();
        cmd.args(args).env("RUST_LOG", "debug");
        for (k, v) in env {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let mut child = cmd
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start guard run");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let addr = addr.split_whitespace().next().unwrap_or_default();
                    let port = addr.rsplit(':').next().unwrap().parse::<u16>().unwrap();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(port);
                    }
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => GuardServer { child, port, log },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("guard run did not start:\n{}", log.lock().unwrap());
            }
        }
    }

    /// The plain probe port (`--probe-addr`), once guard has logged it.
    pub fn probe_port(&self) -> u16 {
        let mut port = None;
        eventually(Duration::from_secs(30), "the probe port in the log", || {
            port = self.log().lines().find_map(|l| {
                let addr = l.split("over plain HTTP on ").nth(1)?;
                addr.split_whitespace()
                    .next()?
                    .rsplit(':')
                    .next()?
                    .parse()
                    .ok()
            });
            port.is_some()
        });
        port.unwrap()
    }

    /// The `/metrics` text, from the probe port.
    pub fn metrics(&self) -> String {
        let (status, body) = super::client::plain_get(self.probe_port(), "/metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The process id of the running guard.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything guard has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "guard did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for GuardServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            super::secrets::assert_clean("guard run (log)", &self.log());
            super::secrets::assert_no_url_query("guard run (log)", &self.log());
        }
    }
}

/// Retries `check` until it returns true, failing after `limit`.
pub fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// kubectl (client-go) installed by `.ci/install-test-deps.sh`.
pub fn kubectl() -> PathBuf {
    if let Some(k) = std::env::var_os("GUARD_TEST_KUBECTL") {
        return k.into();
    }
    let k = super::testdata().join("../target/test-tools/venv/bin/kubectl");
    assert!(
        k.exists(),
        "kubectl not found at {}: run .ci/install-test-deps.sh (or set GUARD_TEST_KUBECTL)",
        k.display()
    );
    k
}

/// `kubectl --kubeconfig CONFIG --server https://127.0.0.1:PORT create --raw /tokenreviews -f BODY`.
pub fn kubectl_review(config: &Path, port: u16, body: &Path) -> std::process::Output {
    Command::new(kubectl())
        .args([
            "--kubeconfig",
            config.to_str().unwrap(),
            "--server",
            &format!("https://127.0.0.1:{port}"),
            "create",
            "--raw",
            "/tokenreviews",
            "-f",
            body.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A TokenReview request body. The token is registered as a secret.
pub fn review_body(version: &str, token: &str) -> String {
    super::secrets::register(token);
    serde_json::json!({
        "apiVersion": format!("authentication.k8s.io/{version}"),
        "kind": "TokenReview",
        "spec": {"token": token}
    })
    .to_string()
}

/// A PKI, a client certificate `NAME@PROVIDER` and a running `guard run`
/// with `args`, ready to send reviews through the real TLS path.
pub struct Reviewer {
    pub sb: Sandbox,
    pub server: GuardServer,
    pub client: (PathBuf, PathBuf),
}

impl Reviewer {
    pub fn start(name: &str, provider: &str, args: &[&str]) -> Self {
        let sb = sandbox_with_client(&[name, "-o", provider]);
        let base = format!("{}@{provider}", name.to_lowercase());
        let client = (
            sb.pki().join(format!("{base}.crt")),
            sb.pki().join(format!("{base}.key")),
        );
        let server = GuardServer::start(&sb, args);
        Reviewer { sb, server, client }
    }

    /// Sends a v1 TokenReview for `token`; returns (HTTP status, body).
    pub async fn review(&self, token: &str) -> (u16, serde_json::Value) {
        let call = super::client::Call::post("/tokenreviews", review_body("v1", token))
            .with_identity(&self.client.0, &self.client.1);
        let answer = tokio::time::timeout(
            Duration::from_secs(60),
            super::client::send(self.server.port, &self.sb.pki().join("ca.crt"), call),
        )
        .await
        .expect("no answer within 60 s")
        .unwrap();
        (answer.status, answer.json())
    }

    /// The server's /metrics text.
    pub async fn metrics(&self) -> String {
        self.server.metrics()
    }
}

/// Writes the installer's Secrets where its volumes would be mounted (below
/// `root`), and returns the container's args (paths moved below `root`,
/// listening addresses on 127.0.0.1 port 0) and Secret-backed environment.
pub fn materialise(yaml: &str, root: &Path) -> (Vec<String>, Vec<(String, String)>) {
    use base64::Engine as _;
    let docs: Vec<serde_json::Value> = serde_saphyr::from_str_multiple(yaml).unwrap();
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .cloned()
    };
    let workload = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" || d["kind"] == "DaemonSet")
        .unwrap();
    let pod = &workload["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    // Secret volumes only: a ConfigMap's files are the caller's to write.
    let secret_of_volume = |volume: &str| {
        let v = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == volume)
            .unwrap();
        v["secret"]["secretName"].as_str().map(str::to_owned)
    };
    let decode = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    for m in container["volumeMounts"].as_array().unwrap() {
        let Some(name) = secret_of_volume(m["name"].as_str().unwrap()) else {
            continue;
        };
        let secret = find("Secret", &name).unwrap();
        let dir = root.join(m["mountPath"].as_str().unwrap().trim_start_matches('/'));
        std::fs::create_dir_all(&dir).unwrap();
        for (file, data) in secret["data"].as_object().unwrap() {
            std::fs::write(dir.join(file), decode(data)).unwrap();
        }
    }
    let args = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a
                .as_str()
                .unwrap()
                .replace("=/etc/guard/", &format!("={}/etc/guard/", root.display()));
            match a.split_once('=') {
                Some((flag @ ("--secure-addr" | "--probe-addr" | "--metrics-addr"), _)) => {
                    format!("{flag}=127.0.0.1:0")
                }
                _ => a,
            }
        })
        .collect::<Vec<_>>();
    let env = container["env"]
        .as_array()
        .map(|vars| {
            vars.iter()
                .map(|var| {
                    let r = &var["valueFrom"]["secretKeyRef"];
                    let secret = find("Secret", r["name"].as_str().unwrap()).unwrap();
                    let value = decode(&secret["data"][r["key"].as_str().unwrap()]);
                    (
                        var["name"].as_str().unwrap().to_owned(),
                        String::from_utf8(value).unwrap(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (args, env)
}

/// `GET /healthz` on a plain probe port as kubelet sends it: the status code.
pub async fn probe_healthz(port: u16) -> Result<u16, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: kube-probe/1.31\r\nConnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))
}

/// Silent TCP connections to 127.0.0.1:`port`, each opened again as soon
/// as the other side closes it, until dropped.
pub struct Squatters {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    opened: Arc<std::sync::atomic::AtomicUsize>,
}

impl Squatters {
    /// Starts `count` of them (inside a tokio runtime).
    pub fn start(port: u16, count: usize) -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::AsyncReadExt;
        let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks = (0..count)
            .map(|_| {
                let opened = opened.clone();
                tokio::spawn(async move {
                    loop {
                        let Ok(mut tcp) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                        else {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        };
                        opened.fetch_add(1, Ordering::Relaxed);
                        let mut buf = [0u8; 64];
                        while let Ok(n) = tcp.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                    }
                })
            })
            .collect();
        Squatters { tasks, opened }
    }

    /// Waits (at most 60 s) until as many connections as there are
    /// squatters have been opened (the kernel completes them even when the
    /// server has not accepted them yet).
    pub async fn connected(&self) {
        self.opened_at_least(self.tasks.len(), || {}).await;
    }

    /// Runs `meanwhile` every 10 ms until `count` connections have been
    /// opened in all (at most 60 s).
    pub async fn opened_at_least(&self, count: usize, mut meanwhile: impl FnMut()) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.opened.load(std::sync::atomic::Ordering::Relaxed) < count {
            assert!(
                Instant::now() < deadline,
                "the squatters did not open {count} connections"
            );
            meanwhile();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Squatters {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
