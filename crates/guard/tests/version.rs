//! `guard version`: the build information build.rs fixes from the sources
//! (the git revision and the commit's date, never the wall clock), in Go
//! Guard's `Key = value` shape. The release image's labels are read from
//! this output (`cargo xtask dist --check` compares them).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::Sandbox;

fn fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn git(args: &[&str]) -> Option<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("git")
        .args(args)
        .current_dir(&root)
        .output()
        .ok()?;
    let top = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .current_dir(&root)
        .output()
        .ok()?;
    let is_toplevel = Path::new(String::from_utf8_lossy(&top.stdout).trim())
        .canonicalize()
        .ok()?
        == root.canonicalize().ok()?;
    (out.status.success() && is_toplevel)
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn version_prints_the_commit_and_its_date() {
    let out = Sandbox::new().ok(&["version"]);
    let f = fields(&out);
    assert_eq!(
        f.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "BuildTimestamp",
            "CommitHash",
            "CommitTimestamp",
            "Platform",
            "RustVersion",
            "Version"
        ],
        "{out}"
    );
    assert_eq!(f["Version"], env!("CARGO_PKG_VERSION"));
    assert!(f["RustVersion"].starts_with("rustc 1."), "{out}");
    assert_eq!(
        f["Platform"],
        format!(
            "{}/{}",
            std::env::consts::OS,
            match std::env::consts::ARCH {
                "x86_64" => "amd64",
                "aarch64" => "arm64",
                other => other,
            }
        )
    );
    match git(&["log", "-1", "--format=%H %cI", "HEAD"]) {
        Some(head) => {
            // A git checkout (CI's is one): the commit hash and the commit
            // date in UTC, and the build date is that date too (unless
            // SOURCE_DATE_EPOCH says otherwise).
            let (hash, date) = head.split_once(' ').unwrap_or_default();
            assert_eq!(f["CommitHash"], hash, "{out}");
            let utc = Command::new("git")
                .args([
                    "log",
                    "-1",
                    "--date=iso-strict-local",
                    "--format=%cd",
                    "HEAD",
                ])
                .env("TZ", "UTC")
                .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .trim()
                        .replace("+00:00", "Z")
                })
                .unwrap_or_default();
            assert!(!date.is_empty());
            assert_eq!(f["CommitTimestamp"], utc, "{out}");
            if std::env::var_os("SOURCE_DATE_EPOCH").is_none() {
                assert_eq!(f["BuildTimestamp"], utc, "{out}");
            }
        }
        None => {
            // A source tarball: nothing made up.
            assert_eq!(f["CommitHash"], "unknown", "{out}");
            assert_eq!(f["CommitTimestamp"], "unknown", "{out}");
        }
    }
}

#[test]
fn version_short_prints_the_version_only() {
    let out = Sandbox::new().ok(&["version", "--short"]);
    assert_eq!(out, format!("{}\n", env!("CARGO_PKG_VERSION")));
}
