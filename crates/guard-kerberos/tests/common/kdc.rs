//! A real MIT KDC (Debian's `krb5-kdc` and `krb5-admin-server` packages):
//! realms created from scratch in a temp dir with `kdb5_util create -s`,
//! principals added and keytabs exported with `kadmin.local`, and `krb5kdc`
//! run in the foreground (`-n`) as a child on a free loopback port, with its
//! own `KRB5_CONFIG` and `KRB5_KDC_PROFILE`. Killed on drop.
//!
//! `krb5-user` gives the client tools the tests compare against (`kinit`,
//! `kvno`, `klist`). `.ci/install-test-deps.sh` installs all three.
#![allow(clippy::unwrap_used, dead_code)]

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The realm services live in.
pub const REALM: &str = "GUARD.TEST";
/// A second realm, trusted by `REALM` when the KDC is started with
/// [`Kdc::start_with_trust`].
pub const OTHER_REALM: &str = "OTHER.TEST";
/// The service principal the tests use.
pub const SPN: &str = "HTTP/guard.example.com";

const KDB5_UTIL: &str = "/usr/sbin/kdb5_util";
const KADMIN_LOCAL: &str = "/usr/sbin/kadmin.local";
const KRB5KDC: &str = "/usr/sbin/krb5kdc";
const KINIT: &str = "/usr/bin/kinit";
const KVNO: &str = "/usr/bin/kvno";

/// A running krb5kdc serving one or two realms.
pub struct Kdc {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// The KDC's TCP and UDP port on 127.0.0.1.
    pub port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require(tool: &str) {
    assert!(
        Path::new(tool).exists(),
        "{tool} is not installed: run .ci/install-test-deps.sh \
         (apt-get install krb5-kdc krb5-admin-server krb5-user)"
    );
}

impl Kdc {
    /// A KDC for `REALM` with users `alice` (password `alicepw`; requires
    /// pre-authentication, as Active Directory does for everyone) and `bob`
    /// (`bobpw`; does not), and the service `SPN` (random key).
    pub fn start() -> Self {
        Kdc::start_realms(false)
    }

    /// Also `OTHER_REALM` with user `erin` (`erinpw`), whose users `REALM`
    /// trusts (a shared `krbtgt/GUARD.TEST@OTHER.TEST` key).
    pub fn start_with_trust() -> Self {
        Kdc::start_realms(true)
    }

    fn start_realms(trust: bool) -> Self {
        for tool in [KDB5_UTIL, KADMIN_LOCAL, KRB5KDC, KINIT, KVNO] {
            require(tool);
        }
        let dir = tempfile::tempdir().unwrap();
        let mut kdc = Kdc {
            dir,
            child: None,
            port: free_port(),
        };
        let realms: &[&str] = if trust {
            &[REALM, OTHER_REALM]
        } else {
            &[REALM]
        };
        kdc.write_config(realms);
        for realm in realms {
            kdc.run_ok(
                Command::new(KDB5_UTIL)
                    .args(["-r", realm, "create", "-s", "-P"])
                    .arg(format!("master-{realm}")),
            );
        }
        kdc.kadmin(
            REALM,
            &format!("addprinc +requires_preauth -pw alicepw alice\naddprinc -pw bobpw bob\naddprinc -randkey {SPN}\n"),
        );
        if trust {
            kdc.kadmin(OTHER_REALM, "addprinc -pw erinpw erin\n");
            let trust = format!("addprinc -pw cross-realm-pw krbtgt/{REALM}@{OTHER_REALM}\n");
            kdc.kadmin(REALM, &trust);
            kdc.kadmin(OTHER_REALM, &trust);
        }
        kdc.run(realms);
        kdc
    }

    fn write_config(&self, realms: &[&str]) {
        let d = self.dir.path().display();
        let port = self.port;
        let mut kdc_conf = format!(
            "[kdcdefaults]\n kdc_listen = 127.0.0.1:{port}\n kdc_tcp_listen = 127.0.0.1:{port}\n[realms]\n"
        );
        let mut krb5_conf = format!(
            "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n \
             dns_canonicalize_hostname = false\n rdns = false\n udp_preference_limit = 1\n \
             default_ccache_name = FILE:{d}/ccache-default\n[realms]\n"
        );
        for realm in realms {
            let lower = realm.to_ascii_lowercase();
            kdc_conf.push_str(&format!(
                " {realm} = {{\n  database_name = {d}/{lower}.db\n  key_stash_file = {d}/{lower}.stash\n  \
                 acl_file = {d}/kadm5.acl\n  max_life = 10h\n  max_renewable_life = 0\n  \
                 supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n }}\n"
            ));
            krb5_conf.push_str(&format!(" {realm} = {{\n  kdc = 127.0.0.1:{port}\n }}\n"));
        }
        kdc_conf.push_str(&format!("[logging]\n kdc = FILE:{d}/kdc.log\n"));
        krb5_conf.push_str(&format!("[domain_realm]\n guard.example.com = {REALM}\n"));
        std::fs::write(self.dir.path().join("kdc.conf"), kdc_conf).unwrap();
        std::fs::write(self.dir.path().join("krb5.conf"), krb5_conf).unwrap();
        std::fs::write(self.dir.path().join("kadm5.acl"), "").unwrap();
    }

    /// The krb5.conf clients use.
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    /// A path inside the KDC's temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The environment MIT's tools need to use this KDC and not the machine's.
    pub fn env(&self, cmd: &mut Command) {
        cmd.env("KRB5_CONFIG", self.krb5_conf())
            .env("KRB5_KDC_PROFILE", self.dir.path().join("kdc.conf"))
            .env("KRB5RCACHEDIR", self.dir.path())
            .env(
                "KRB5CCNAME",
                format!("FILE:{}", self.path("ccache-default").display()),
            );
    }

    fn run_ok(&self, cmd: &mut Command) -> Output {
        self.env(cmd);
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `cmd` (its environment already set) with `input` on stdin.
    fn with_stdin(&self, cmd: &mut Command, input: &str) -> Output {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs kadmin.local commands (one a line) on a realm's database.
    pub fn kadmin(&self, realm: &str, commands: &str) {
        let mut cmd = Command::new(KADMIN_LOCAL);
        cmd.args(["-r", realm]);
        self.env(&mut cmd);
        let out = self.with_stdin(&mut cmd, commands);
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !text.contains("kadmin.local: ") && !text.contains("while "),
            "kadmin.local -r {realm} failed on\n{commands}\n{text}"
        );
    }

    /// Exports `principal`'s current keys to `keytab` (appending), without
    /// changing them.
    pub fn export_keytab(&self, principal: &str, keytab: &Path) {
        let realm = principal.rsplit_once('@').map_or(REALM, |(_, r)| r);
        self.kadmin(
            realm,
            &format!("ktadd -k {} -norandkey {principal}\n", keytab.display()),
        );
    }

    /// Gives `principal` a new random key (a new kvno) in the KDC.
    pub fn rotate_key(&self, principal: &str) {
        self.kadmin(REALM, &format!("cpw -randkey {principal}\n"));
    }

    /// `kinit principal` with the password on standard input, into `ccache`,
    /// with extra kinit arguments (e.g. `-l 1h`).
    pub fn kinit(&self, principal: &str, password: &str, ccache: &Path, extra: &[&str]) {
        let mut cmd = Command::new(KINIT);
        cmd.args(extra).arg(principal);
        self.env(&mut cmd);
        cmd.env("KRB5CCNAME", format!("FILE:{}", ccache.display()));
        let out = self.with_stdin(&mut cmd, &format!("{password}\n"));
        assert!(
            out.status.success(),
            "kinit {principal} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `kvno spn` with `ccache`: MIT's client puts a service ticket into it.
    pub fn kvno(&self, spn: &str, ccache: &Path) -> String {
        let mut cmd = Command::new(KVNO);
        cmd.arg(spn);
        self.env(&mut cmd);
        cmd.env("KRB5CCNAME", format!("FILE:{}", ccache.display()));
        let out = cmd.stdin(Stdio::null()).output().unwrap();
        assert!(
            out.status.success(),
            "kvno {spn} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The KDC's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kdc.log")).unwrap_or_default()
    }

    fn run(&mut self, realms: &[&str]) {
        let mut cmd = Command::new(KRB5KDC);
        cmd.arg("-n");
        for realm in realms {
            cmd.args(["-r", realm]);
        }
        self.env(&mut cmd);
        let out = std::fs::File::create(self.dir.path().join("krb5kdc.out")).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "krb5kdc exited ({status}): {}\n{}",
                    std::fs::read_to_string(self.dir.path().join("krb5kdc.out"))
                        .unwrap_or_default(),
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "krb5kdc did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the KDC (to show that something works without it).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        self.stop();
    }
}
