//! Build information for `guard version`, fixed by the sources alone so that
//! the same commit always builds the same binary (see docs/release.md):
//!
//! * `GUARD_GIT_REVISION`: the commit hash of `HEAD`, or `unknown` when the
//!   workspace is not a git checkout (a source tarball);
//! * `GUARD_COMMIT_EPOCH`: the commit's time (seconds since 1970), or empty;
//! * `GUARD_BUILD_EPOCH`: `SOURCE_DATE_EPOCH` when set (the reproducible-builds
//!   convention), else the commit's time, else empty: never the wall clock;
//! * `GUARD_RUSTC_VERSION`: `rustc --version` of the compiler.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=build.rs");

    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest_dir.join("../..");
    let git = Git::at(&workspace);

    let revision = git
        .as_ref()
        .and_then(|g| g.output(&["rev-parse", "--verify", "HEAD"]))
        .filter(|r| r.len() >= 40 && r.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| "unknown".to_owned());
    let commit_epoch = git
        .as_ref()
        .and_then(|g| g.output(&["log", "-1", "--format=%ct", "HEAD"]))
        .filter(|e| e.parse::<i64>().is_ok())
        .unwrap_or_default();
    let build_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(epoch) if epoch.trim().parse::<i64>().is_ok() => epoch.trim().to_owned(),
        Ok(epoch) if !epoch.is_empty() => {
            println!("cargo:warning=SOURCE_DATE_EPOCH={epoch:?} is not a number; ignored");
            commit_epoch.clone()
        }
        _ => commit_epoch.clone(),
    };
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());

    if let Some(git) = &git {
        git.watch_head();
    }
    println!("cargo:rustc-env=GUARD_GIT_REVISION={revision}");
    println!("cargo:rustc-env=GUARD_COMMIT_EPOCH={commit_epoch}");
    println!("cargo:rustc-env=GUARD_BUILD_EPOCH={build_epoch}");
    println!("cargo:rustc-env=GUARD_RUSTC_VERSION={rustc_version}");
}

/// The git checkout whose top level is the workspace (and not some
/// repository that happens to contain an unpacked tarball).
struct Git {
    workspace: PathBuf,
}

impl Git {
    fn at(workspace: &Path) -> Option<Self> {
        let workspace = workspace.canonicalize().ok()?;
        let git = Git { workspace };
        let toplevel = git.output(&["rev-parse", "--show-toplevel"])?;
        (Path::new(&toplevel).canonicalize().ok()? == git.workspace).then_some(git)
    }

    /// `git ARGS` in the workspace; its trimmed output when it succeeds.
    fn output(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.workspace)
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        Some(String::from_utf8(out.stdout).ok()?.trim().to_owned())
    }

    /// Reruns this script when `HEAD` moves: a checkout changes `HEAD`, a
    /// commit changes the branch's ref file or `packed-refs`. Only files that
    /// exist are named (a missing one would rerun the script on every build).
    fn watch_head(&self) {
        let mut files = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
        if let Some(branch) = self.output(&["symbolic-ref", "-q", "HEAD"]) {
            files.push(branch);
        }
        for file in files {
            if let Some(path) =
                self.output(&["rev-parse", "--path-format=absolute", "--git-path", &file])
                && Path::new(&path).is_file()
            {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}
