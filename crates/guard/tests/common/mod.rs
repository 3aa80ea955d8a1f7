//! Helpers shared by the integration tests: run the real `guard` binary in a
#![allow(clippy::unwrap_used)]
//! scratch HOME, and inspect certificates with the real `openssl`.
#![allow(dead_code)]

pub mod azure;
pub mod client;
pub mod h2raw;
pub mod ldap;
pub mod peers;
pub mod require;
pub mod secrets;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A scratch HOME with no `GUARD_DATA_DIR`, removed on drop.
pub struct Sandbox {
    pub home: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Sandbox {
            home: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// `~/.guard/pki` of this sandbox.
    pub fn pki(&self) -> PathBuf {
        self.home.path().join(".guard/pki")
    }

    /// A `guard` command with HOME pointing into the sandbox and stdin closed.
    pub fn guard(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_guard"));
        cmd.env("HOME", self.home.path())
            .env_remove("GUARD_DATA_DIR")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `guard ARGS`, returning its output. Its standard error must
    /// hold no registered secret (see [`secrets`]).
    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.guard().args(args).output().expect("run guard");
        secrets::assert_clean(
            &format!("guard {args:?} (stderr)"),
            &String::from_utf8_lossy(&out.stderr),
        );
        out
    }

    /// Runs `guard ARGS` and fails the test unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "guard {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs `guard ARGS`, expects failure, returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "guard {args:?} unexpectedly succeeded"
        );
        String::from_utf8(out.stderr).expect("utf-8 stderr")
    }
}

/// The workspace's `testdata/` directory.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Runs `openssl ARGS`; the test fails if openssl is missing.
pub fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed (apt-get install openssl)")
}

/// `openssl x509 -noout -text` of a certificate file.
pub fn x509_text(cert: &Path) -> String {
    let out = openssl(&["x509", "-noout", "-text", "-in", cert.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "openssl x509 failed on {}",
        cert.display()
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One-line subject in RFC 2253 form (`O=github,CN=appscode` reversed as openssl prints it).
pub fn subject(cert: &Path) -> String {
    let out = openssl(&[
        "x509",
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
        "-in",
        cert.to_str().unwrap(),
    ]);
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .trim_start_matches("subject=")
        .to_owned()
}

/// `openssl verify -CAfile ca cert` succeeded.
pub fn verifies(ca: &Path, cert: &Path) -> bool {
    let out = openssl(&[
        "verify",
        "-CAfile",
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
    ]);
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains(": OK")
}

/// The Unix mode bits of a file.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}
