//! `cargo xtask`: project chores. Nothing here is needed by the `guard` binary.
//!
//! * `cargo xtask ci`: format check, clippy with warnings denied, every test.
//! * `cargo xtask demo`: builds guard and runs its main job on a scratch PKI.
//! * `cargo xtask codegen`: docs/cli.md from the command-line definitions.
//! * `cargo xtask bench`: release-mode measurements (see docs/performance.md).
//! * `cargo xtask fuzz`: the cargo-fuzz targets for a fixed time each.
//! * `cargo xtask soak`: steady load with rotation; RSS over time.
//! * `cargo xtask dist [--check]`: the release artefacts (docs/release.md).

mod authz;
mod bench;
mod codegen;
mod demo;
mod dist;
mod fuzz;
mod proxy_bench;
mod soak;
mod upstream;

use std::process::Command;

use anyhow::{Context, bail};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("ci") => ci(),
        Some("demo") => demo::run(),
        Some("bench") => bench::run(&args.collect::<Vec<_>>()),
        Some("fuzz") => fuzz::run(&args.collect::<Vec<_>>()),
        Some("soak") => soak::run(&args.collect::<Vec<_>>()),
        Some("dist") => dist::run(&args.collect::<Vec<_>>()),
        Some("codegen") => codegen::run(&args.collect::<Vec<_>>()),
        _ => {
            eprintln!("usage: cargo xtask <ci|demo|codegen|bench|fuzz|soak|dist>");
            eprintln!(
                "  ci    cargo fmt --check, codegen --check, cargo clippy -D warnings, cargo test (all crates), {FUZZ_SMOKE_SECONDS} s of each fuzz target"
            );
            eprintln!("  demo  build guard and run it end to end on a throw-away PKI");
            eprintln!(
                "  codegen [--check]  write docs/cli.md from the command-line definitions (--check: fail if stale)"
            );
            eprintln!(
                "  bench [token-file|kerberos|server|upstream|authz|proxy|all] [--seconds N]  release-mode measurements (docs/performance.md)"
            );
            eprintln!(
                "  soak [--minutes N]  steady load with rotation half way; fails on any failed review"
            );
            eprintln!(
                "  fuzz [TARGET...] [--seconds N] [--cmin]  run the fuzz targets (default 60 s each)"
            );
            eprintln!(
                "  dist [--check]  static binary, OCI image, docker-archive and SBOM in target/dist (docs/release.md); --check tests them and rebuilds to compare digests"
            );
            bail!("unknown or missing task")
        }
    }
}

fn ci() -> anyhow::Result<()> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    codegen::run(&["--check".to_owned()])?;
    // fuzz/ is its own workspace with its own lock file; cargo-fuzz would
    // rewrite a stale one in place, and `dist --check` then refuses the
    // dirty tree. Fail here instead, saying what to commit.
    let fuzz_lock = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--locked", "--format-version", "1"])
        .current_dir(workspace_root().join("fuzz"))
        .stdout(std::process::Stdio::null())
        .status()
        .context("cannot run cargo metadata in fuzz/")?;
    if !fuzz_lock.success() {
        bail!(
            "fuzz/Cargo.lock is out of date: run `cargo tree` in fuzz/ and commit fuzz/Cargo.lock"
        );
    }
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ])?;
    // Tests skip (and say so) when a third-party peer is missing; in CI a
    // missing peer is a failure (crates/guard/tests/common/require.rs).
    cargo_in(
        &workspace_root(),
        &["test", "--workspace", "--locked"],
        &[("GUARD_TEST_REQUIRE_PEERS", "1")],
    )?;
    let targets: Vec<String> = fuzz::TARGETS.iter().map(|t| (*t).to_owned()).collect();
    fuzz::run_all(&targets, FUZZ_SMOKE_SECONDS, false)?;
    Ok(())
}

/// How long `ci` runs each fuzz target.
const FUZZ_SMOKE_SECONDS: u64 = 10;

/// Runs `cargo ARGS` in `dir` with `env`, failing on a non-zero exit.
pub fn cargo_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .status()
        .with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs `cargo ARGS` from the workspace root, failing on a non-zero exit.
pub fn cargo(args: &[&str]) -> anyhow::Result<()> {
    cargo_in(&workspace_root(), args, &[])
}

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}
