//! `cargo xtask demo`: guard's main job, end to end, on a throw-away PKI.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

pub fn run() -> anyhow::Result<()> {
    crate::cargo(&["build", "--quiet", "--package", "guard"])?;
    let guard = crate::workspace_root().join("target/debug/guard");
    let scratch = std::env::temp_dir().join(format!("guard-demo-{}", std::process::id()));
    let result = demo(&guard, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn demo(guard: &Path, scratch: &Path) -> anyhow::Result<()> {
    let pki_dir = scratch.to_str().context("temp dir is not UTF-8")?;
    step(guard, &["init", "ca", "--pki-dir", pki_dir])?;
    step(
        guard,
        &["init", "server", "--pki-dir", pki_dir, "--ips=127.0.0.1"],
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
            pki_dir,
        ],
    )?;
    println!("\nFiles in {}:", scratch.join("pki").display());
    let mut entries: Vec<PathBuf> = std::fs::read_dir(scratch.join("pki"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
        println!(
            "  {:o}  {}",
            mode,
            path.file_name().unwrap_or_default().to_string_lossy()
        );
    }
    Ok(())
}

/// Runs `guard ARGS`, echoing the command and its output.
pub fn step(guard: &Path, args: &[&str]) -> anyhow::Result<String> {
    println!("$ guard {}", args.join(" "));
    let out = Command::new(guard)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", guard.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("guard {} failed ({})", args.join(" "), out.status);
    }
    Ok(stdout)
}
