//! The third-party programs the tests drive, and what a test does when one
//! is missing on this machine.
//!
//! Under plain `cargo test` a test whose peer is missing is skipped: it
//! prints why (past the test harness's capture, so the reason shows) and
//! returns. With `GUARD_TEST_REQUIRE_PEERS=1`, which `cargo xtask ci` sets,
//! a missing peer fails the test instead: CI never passes by skipping.
//! `.ci/install-test-deps.sh` installs every peer.
//!
//! The file is self-contained so that other crates' integration tests use
//! the same rule (guard-kerberos includes it with `#[path]`).
//!
//! ```ignore
//! if common::require::missing(&[Peer::Slapd]) {
//!     return;
//! }
//! ```
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// A third-party program a test needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// `openssl` (certificate checks).
    Openssl,
    /// `curl` built with HTTP/2 (nghttp2): how a real HTTP/2 client reads
    /// guard's refusals.
    Curl,
    /// OpenLDAP: `slapd`, `slapadd` and `ldapsearch`.
    Slapd,
    /// kubectl in the test venv (or `GUARD_TEST_KUBECTL`).
    Kubectl,
    /// kubernetes-validate in the test venv.
    KubernetesValidate,
    /// The AWS CLI in the test venv.
    AwsCli,
    /// botocore in the test venv (the STS stub checks SigV4 with it).
    Botocore,
    /// Node.js and this npm package in `target/test-tools/peers`.
    Node(&'static str),
    /// `python3` (the scripted browser user).
    Python3,
    /// `script` from util-linux (a terminal for prompts).
    Script,
    /// An MIT Kerberos KDC and its tools (krb5-kdc, krb5-admin-server,
    /// krb5-user).
    MitKdc,
    /// Debian's python3 with python3-gssapi (MIT's GSS-API from Python).
    PythonGssapi,
}

/// Where `.ci/install-test-deps.sh` puts the tools (every test crate is
/// `crates/<name>`, two levels below the workspace).
pub fn test_tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-tools")
}

/// The test venv's `bin/NAME`.
pub fn venv_bin(name: &str) -> PathBuf {
    test_tools().join("venv/bin").join(name)
}

fn runs(program: &Path, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn on_path(program: &str, args: &[&str]) -> bool {
    runs(Path::new(program), args)
}

impl Peer {
    /// Why the peer is missing, or `None` when it is here.
    fn missing(self) -> Option<String> {
        let here = match self {
            Peer::Openssl => on_path("openssl", &["version"]),
            Peer::Curl => Command::new("curl")
                .arg("--version")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("HTTP2")),
            Peer::Slapd => {
                Path::new("/usr/sbin/slapd").exists()
                    && Path::new("/usr/sbin/slapadd").exists()
                    && Path::new("/etc/ldap/schema/core.schema").exists()
                    && on_path("ldapsearch", &["-VV"])
            }
            Peer::Kubectl => match std::env::var_os("GUARD_TEST_KUBECTL") {
                Some(k) => Path::new(&k).exists(),
                None => venv_bin("kubectl").exists(),
            },
            Peer::KubernetesValidate => venv_bin("kubernetes-validate").exists(),
            Peer::AwsCli => venv_bin("aws").exists(),
            Peer::Botocore => {
                static BOTOCORE: OnceLock<bool> = OnceLock::new();
                *BOTOCORE.get_or_init(|| runs(&venv_bin("python"), &["-c", "import botocore"]))
            }
            Peer::Node(package) => {
                on_path("node", &["--version"])
                    && test_tools()
                        .join("peers/node_modules")
                        .join(package)
                        .exists()
            }
            Peer::Python3 => on_path("python3", &["--version"]),
            Peer::Script => on_path("script", &["--version"]),
            Peer::MitKdc => [
                "/usr/sbin/krb5kdc",
                "/usr/sbin/kdb5_util",
                "/usr/sbin/kadmin.local",
                "/usr/bin/kinit",
                "/usr/bin/kvno",
            ]
            .iter()
            .all(|tool| Path::new(tool).exists()),
            Peer::PythonGssapi => runs(Path::new("/usr/bin/python3"), &["-c", "import gssapi"]),
        };
        (!here).then(|| match self {
            Peer::Node(package) => format!("node or the npm package {package} is missing"),
            Peer::Slapd => "OpenLDAP (slapd, slapadd, ldapsearch) is missing".to_owned(),
            Peer::Curl => "curl with HTTP/2 is missing".to_owned(),
            Peer::MitKdc => {
                "the MIT KDC (krb5kdc, kdb5_util, kadmin.local, kinit, kvno) is missing".to_owned()
            }
            other => format!("{other:?} is missing"),
        })
    }
}

/// Whether peers CI requires (`GUARD_TEST_REQUIRE_PEERS=1`).
fn required() -> bool {
    std::env::var_os("GUARD_TEST_REQUIRE_PEERS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// True when one of `peers` is missing and the test should return: the
/// reason is printed. Under `GUARD_TEST_REQUIRE_PEERS=1` a missing peer
/// fails the test instead.
pub fn missing(peers: &[Peer]) -> bool {
    let reasons: Vec<String> = peers.iter().filter_map(|p| p.missing()).collect();
    if reasons.is_empty() {
        return false;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_owned();
    let reasons = reasons.join("; ");
    assert!(
        !required(),
        "{test}: {reasons}: run .ci/install-test-deps.sh (GUARD_TEST_REQUIRE_PEERS is set, so a missing peer is a failure)"
    );
    // Straight to stderr: the harness captures only print!/eprint!.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {reasons} (run .ci/install-test-deps.sh)"
    );
    true
}
