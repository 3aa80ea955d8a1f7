//! A real OpenLDAP `slapd` (Debian's package), configured from scratch in a
//! temp dir with TLS from guard's own PKI, loaded from
//! `testdata/ldap/directory.ldif`, and run in the foreground as a child.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Sandbox, testdata};

pub const BASE: &str = "dc=example,dc=com";

/// A running slapd, killed on drop.
pub struct Slapd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Plain LDAP (StartTLS available).
    pub port: u16,
    /// LDAPS.
    pub ldaps_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Slapd {
    pub fn start() -> Self {
        assert!(
            Path::new("/usr/sbin/slapd").exists(),
            "slapd is not installed: run .ci/install-test-deps.sh (apt-get install slapd ldap-utils)"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // TLS with our own CA: guard init ca + server for 127.0.0.1.
        let sb = Sandbox::new();
        let pki = d.join("tls");
        sb.ok(&["init", "ca", "--pki-dir", pki.to_str().unwrap()]);
        sb.ok(&[
            "init",
            "server",
            "--ips=127.0.0.1",
            "--pki-dir",
            pki.to_str().unwrap(),
        ]);
        let p = |f: &str| pki.join("pki").join(f).display().to_string();
        std::fs::create_dir_all(d.join("db")).unwrap();
        let conf = format!(
            r#"include   /etc/ldap/schema/core.schema
include   /etc/ldap/schema/cosine.schema
include   /etc/ldap/schema/nis.schema
include   /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile   {dir}/slapd.pid
TLSCACertificateFile  {ca}
TLSCertificateFile    {cert}
TLSCertificateKeyFile {key}
database  mdb
maxsize   104857600
suffix    "{BASE}"
rootdn    "cn=admin,{BASE}"
rootpw    adminpw
directory {dir}/db
index objectClass eq
index uid,cn,member,memberUid eq
access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to *
  by users read
  by * none
"#,
            dir = d.display(),
            ca = p("ca.crt"),
            cert = p("server.crt"),
            key = p("server.key"),
        );
        std::fs::write(d.join("slapd.conf"), conf).unwrap();
        let out = Command::new("/usr/sbin/slapadd")
            .args(["-q", "-f"])
            .arg(d.join("slapd.conf"))
            .arg("-l")
            .arg(testdata().join("ldap/directory.ldif"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "slapadd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut slapd = Slapd {
            dir,
            child: None,
            port: free_port(),
            ldaps_port: free_port(),
        };
        slapd.run();
        slapd
    }

    /// The CA that signed slapd's certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("tls/pki/ca.crt")
    }

    /// Starts slapd (again) on the same ports and waits until it answers.
    pub fn run(&mut self) {
        let urls = format!(
            "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/",
            self.port, self.ldaps_port
        );
        let child = Command::new("/usr/sbin/slapd")
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .args(["-h", &urls, "-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = Command::new("ldapsearch")
                .args([
                    "-x",
                    "-H",
                    &format!("ldap://127.0.0.1:{}", self.port),
                    "-b",
                    "",
                    "-s",
                    "base",
                    "namingContexts",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "slapd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops slapd and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `guard run` flags for this directory (groupOfNames, service account).
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--auth-providers=ldap".into(),
            "--ldap.server-address=127.0.0.1".into(),
            format!("--ldap.server-port={}", self.port),
            format!("--ldap.bind-dn=cn=guard,ou=svc,{BASE}"),
            "--ldap.bind-password=guardpw".into(),
            format!("--ldap.user-search-dn={BASE}"),
            format!("--ldap.group-search-dn=ou=groups,{BASE}"),
            "--server-write-timeout=4s".into(),
        ]
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The LDAP token for `user:password`.
pub fn token(credentials: &str) -> String {
    use base64::Engine as _;
    if let Some((_, password)) = credentials.split_once(':') {
        super::secrets::register(password);
    }
    let token = base64::engine::general_purpose::STANDARD.encode(credentials);
    super::secrets::register(&token);
    token
}
