//! `cargo xtask bench authz`: SubjectAccessReviews through
//! `--authz-providers=azure` against an ARM stand-in on 127.0.0.1 that
//! answers CheckAccess after 50 ms (and the AKS token URL at once).
//! Measures reviews with a warm cache, and a burst of 500 identical
//! concurrent reviews on a cold cache (how many CheckAccess calls they cost).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::bench::{self, Server};

/// CheckAccess's answer time.
const LATENCY: Duration = Duration::from_millis(50);
const CLUSTER: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/bench";
const REVIEW: &str = r#"{"kind":"SubjectAccessReview","apiVersion":"authorization.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"resourceAttributes":{"namespace":"dev","verb":"get","version":"v1","resource":"pods","name":"web"},"user":"alice@contoso.com","groups":["0b9d5f3c-1b8e-4a43-9c64-5a1e3f0c2d11","system:authenticated"],"extra":{"oid":["6f1a1d5e-6f3c-4b2e-9e1d-2f8f0b1c3d4e"]}},"status":{"allowed":false}}"#;

/// The ARM stand-in: CheckAccess answers every action Allowed after
/// [`LATENCY`] and is counted; the AKS token URL answers at once.
fn start_arm() -> anyhow::Result<(String, Arc<AtomicU64>)> {
    bench::counting_stand_in(LATENCY, |path, body| {
        if path.ends_with("/token") {
            return bench::StandInAnswer {
                body: format!(
                    r#"{{"token_type":"Bearer","access_token":"bench-arm-token","expires_on":{}}}"#,
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs())
                        + 3600
                ),
                counted: false,
                headers: &[],
            };
        }
        let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let decisions: Vec<serde_json::Value> = request["Actions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| serde_json::json!({"accessDecision": "Allowed", "actionId": a["Id"], "isDataAction": true, "roleAssignment": {"id": "ra", "roleDefinitionId": "rd"}, "timeToLiveInMs": 300000}))
            .collect();
        bench::StandInAnswer {
            body: serde_json::Value::Array(decisions).to_string(),
            counted: true,
            headers: &[("x-ms-ratelimit-remaining-subscription-reads", "11999")],
        }
    })
}

fn start_guard(guard: &Path, pki: &Path, arm: &str) -> anyhow::Result<Server> {
    let port = bench::free_port()?;
    let mut cmd = bench::guard_run(guard, pki, port);
    cmd.args([
        "--auth-providers=azure",
        "--azure.tenant-id=00000000-0000-0000-0000-000000000002",
        "--azure.client-id=00000000-0000-0000-0000-000000000003",
        "--azure.skip-group-membership-resolution",
        "--authz-providers=azure",
        "--azure.authz-mode=aks",
    ])
    .arg(format!("--azure.resource-id={CLUSTER}"))
    .arg(format!("--azure.aks-authz-token-url={arm}/aks/authz/token"))
    .arg(format!("--azure.arm-url={arm}/"));
    let server = Server {
        name: "guard (Rust)",
        child: cmd.spawn()?,
        port,
    };
    bench::wait_until_listening(port, Instant::now())?;
    Ok(server)
}

/// Runs both measurements.
pub fn run(guard: &Path, work: &Path, seconds: u64) -> anyhow::Result<()> {
    let dir = work.join("pki-authz");
    let _ = std::fs::remove_dir_all(&dir);
    bench::guard_init(guard, &dir, "rsa2048", "azure")?;
    let pki = dir.join("pki");
    let body = work.join("review-authz.json");
    std::fs::write(&body, REVIEW)?;
    let (arm, calls) = start_arm()?;
    let client = "bench@azure";
    let path = "/subjectaccessreviews";

    println!(
        "SubjectAccessReview (get pods) through Azure RBAC with a {} ms CheckAccess, HTTP/2 on one connection, {seconds} s:\n",
        LATENCY.as_millis()
    );
    println!("| cache | streams | reviews/s | p50 ms | p99 ms | ok % | CheckAccess calls |");
    println!("|---|---|---|---|---|---|---|");
    let server = start_guard(guard, &pki, &arm)?;
    bench::oha(server.port, &pki, client, &body, 1, 1, true, true, path)?;
    for streams in [1, 16, 64] {
        let before = calls.load(Ordering::Relaxed);
        let load = bench::oha(
            server.port,
            &pki,
            client,
            &body,
            seconds,
            streams,
            true,
            true,
            path,
        )?;
        println!(
            "| warm | {streams} | {:.0} | {:.2} | {:.2} | {:.1} | {} |",
            load.rps,
            load.p50,
            load.p99,
            load.success,
            calls.load(Ordering::Relaxed) - before
        );
    }
    drop(server);

    // 500 identical reviews at once on a cold cache, one HTTP/2 connection.
    let server = start_guard(guard, &pki, &arm)?;
    let before = calls.load(Ordering::Relaxed);
    let load = bench::oha_burst(server.port, &pki, client, &body, 500, path)?;
    println!(
        "\n500 identical concurrent reviews, cold cache: {} CheckAccess call(s); p50 {:.1} ms, p99 {:.1} ms, ok {:.1} %",
        calls.load(Ordering::Relaxed) - before,
        load.p50,
        load.p99,
        load.success
    );
    Ok(())
}
