//! Measures guard-kerberos against a real MIT KDC (the tests' helper, so
//! Debian's krb5-kdc, krb5-admin-server and krb5-user must be installed):
//! verifying tokens with a keytab, making tokens, and getting service
//! tickets from the credential cache and with a password. `cargo xtask bench
//! kerberos` runs it in release mode. Usage: `kerberos_bench [TOKENS]`
//! (default 100,000).
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/common/kdc.rs"]
mod kdc;

use std::time::{Duration, Instant, SystemTime};

use guard_kerberos::client::Client;
use guard_kerberos::{Verifier, VerifierOptions};
use kdc::{Kdc, SPN};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")?
                    .trim()
                    .strip_suffix(" kB")?
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

fn per_call(total: Duration, n: usize) -> String {
    let us = total.as_secs_f64() * 1e6 / n as f64;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

fn main() {
    let tokens: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |n| n.parse().unwrap());
    let kdc = Kdc::start();
    let keytab = kdc.path("http.keytab");
    kdc.export_keytab(SPN, &keytab);
    let ccache = kdc.path("alice.ccache");
    kdc.kinit("alice", "alicepw", &ccache, &[]);
    let client = Client::new(&kdc.krb5_conf())
        .unwrap()
        .ccache(ccache.display().to_string());

    // The user's side.
    let rounds = 50;
    let started = Instant::now();
    let mut ticket = None;
    for _ in 0..rounds {
        ticket = Some(client.service_ticket_from_ccache(SPN).unwrap());
    }
    let from_ccache = started.elapsed();
    let ticket = ticket.unwrap();
    let started = Instant::now();
    for _ in 0..rounds {
        client
            .service_ticket_with_password("bob", None, "bobpw", SPN)
            .unwrap();
    }
    let with_password = started.elapsed();
    println!(
        "service ticket from the ccache (TGS exchange over loopback TCP): {} per ticket",
        per_call(from_ccache, rounds)
    );
    println!(
        "service ticket with a password (AS + TGS exchanges, aes256 string-to-key): {} per ticket",
        per_call(with_password, rounds)
    );

    // Tokens, each with its own authenticator time so none is a replay.
    let now = SystemTime::now();
    let started = Instant::now();
    let made: Vec<String> = (0..tokens)
        .map(|i| {
            ticket
                .token_at(now + Duration::from_micros(i as u64))
                .unwrap()
        })
        .collect();
    let making = started.elapsed();
    println!(
        "making a token (AP-REQ with a fresh subkey, base64): {} per token",
        per_call(making, tokens)
    );

    // The server's side.
    let options = VerifierOptions {
        spn: Some(SPN.into()),
        ..VerifierOptions::default()
    };
    let started = Instant::now();
    let verifier = Verifier::new(options).unwrap();
    let keytab = verifier.load_keytab(&keytab).unwrap();
    println!("loading the keytab: {}", per_call(started.elapsed(), 1));
    let rss_before = rss_kib();
    let at = now + Duration::from_secs(1);
    let started = Instant::now();
    for t in &made {
        verifier.verify_at(&keytab, t, at).unwrap();
    }
    let verifying = started.elapsed();
    let rss_after = rss_kib();
    println!(
        "verifying a token (one thread): {} per token, {:.0} tokens/s",
        per_call(verifying, tokens),
        tokens as f64 / verifying.as_secs_f64()
    );
    println!(
        "replay cache: {tokens} authenticators remembered, RSS +{} KiB ({:.0} bytes each)",
        rss_after.saturating_sub(rss_before),
        rss_after.saturating_sub(rss_before) as f64 * 1024.0 / tokens as f64
    );
    let started = Instant::now();
    let replays = made
        .iter()
        .take(10_000)
        .filter(|t| verifier.verify_at(&keytab, t, at).is_err())
        .count();
    assert_eq!(replays, made.len().min(10_000));
    println!(
        "refusing a replayed token: {} per token",
        per_call(started.elapsed(), replays)
    );
}
