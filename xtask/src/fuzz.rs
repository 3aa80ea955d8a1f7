//! `cargo xtask fuzz`: runs the cargo-fuzz targets of `fuzz/` for a fixed
//! time each, on their committed corpora (`fuzz/corpus/TARGET`). Any crash,
//! panic or sanitizer report fails the task and leaves the input in
//! `fuzz/artifacts/TARGET`.
//!
//! cargo-fuzz builds with `-Zsanitizer=address`, a nightly flag. The
//! machine has one stable toolchain, so the build runs with
//! `RUSTC_BOOTSTRAP=1`, which lets that toolchain accept it.

use std::process::Command;

use anyhow::{Context, bail};

/// Every target, in `fuzz/Cargo.toml`.
pub const TARGETS: &[&str] = &[
    "token_review",
    "token_file",
    "ldap_token",
    "eks_token",
    "jwt",
    "kerberos_token",
    "keytab",
    "subject_access_review",
    "proxy_request",
];

/// `cargo xtask fuzz [TARGET...] [--seconds N] [--cmin]`
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut seconds = 60u64;
    let mut cmin = false;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .context("--seconds needs a number")?;
            }
            "--cmin" => cmin = true,
            t if TARGETS.contains(&t) => targets.push(t.to_owned()),
            other => bail!(
                "unknown fuzz target or flag {other}; targets: {}",
                TARGETS.join(", ")
            ),
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    run_all(&targets, seconds, cmin)
}

/// Runs `targets` for `seconds` each (then minimises their corpora if `cmin`).
pub fn run_all(targets: &[String], seconds: u64, cmin: bool) -> anyhow::Result<()> {
    let fuzz_dir = crate::workspace_root().join("fuzz");
    let available = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        bail!(
            "cargo-fuzz is missing: cargo install cargo-fuzz --locked (.ci/install-test-deps.sh does)"
        );
    }
    let mut summary = Vec::new();
    for target in targets {
        eprintln!("$ cargo fuzz run {target} -- -max_total_time={seconds}");
        let output = Command::new("cargo")
            .args(["fuzz", "run", target, "--"])
            .arg(format!("-max_total_time={seconds}"))
            .args(["-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1"])
            .current_dir(&fuzz_dir)
            .env("RUSTC_BOOTSTRAP", "1")
            .output()
            .with_context(|| format!("cannot run cargo fuzz for {target}"))?;
        let log = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            eprintln!("{log}");
            bail!(
                "fuzz target {target} failed ({}); the input is in fuzz/artifacts/{target}",
                output.status
            );
        }
        let runs = log
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("Done ").map(str::to_owned))
            .unwrap_or_else(|| "no summary".into());
        if cmin {
            crate::cargo_in(
                &fuzz_dir,
                &["fuzz", "cmin", target],
                &[("RUSTC_BOOTSTRAP", "1")],
            )?;
        }
        let corpus = std::fs::read_dir(fuzz_dir.join("corpus").join(target))
            .map(|d| d.count())
            .unwrap_or(0);
        summary.push(format!(
            "{target:>13}: {runs}, corpus {corpus} inputs, no crash"
        ));
    }
    for line in summary {
        println!("{line}");
    }
    Ok(())
}
