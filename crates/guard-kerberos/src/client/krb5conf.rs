//! The parts of krb5.conf (MIT's profile format) a client needs: the
//! default realm, each realm's KDCs, the host-to-realm mapping and the
//! default credential cache name.
//!
//! ```text
//! [libdefaults]
//!     default_realm = EXAMPLE.COM
//! [realms]
//!     EXAMPLE.COM = {
//!         kdc = kdc1.example.com
//!         kdc = tcp/kdc2.example.com:88
//!     }
//! [domain_realm]
//!     .example.com = EXAMPLE.COM
//! ```
//! `include FILE` and `includedir DIR` lines are followed. KDCs are not
//! looked up in DNS: list them in `[realms]`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{KerberosError, Result};

/// How deep `include`s may nest.
const MAX_INCLUDE_DEPTH: usize = 8;

/// The settings read from a krb5.conf file.
#[derive(Debug, Clone, Default)]
pub struct Krb5Config {
    path: PathBuf,
    default_realm: Option<String>,
    default_ccache_name: Option<String>,
    kdcs: HashMap<String, Vec<String>>,
    domain_realm: HashMap<String, String>,
}

impl Krb5Config {
    /// Reads a krb5.conf file (and the files it includes).
    pub fn load(path: &Path) -> Result<Self> {
        let mut config = Krb5Config {
            path: path.to_owned(),
            ..Krb5Config::default()
        };
        config.read(path, 0)?;
        Ok(config)
    }

    /// Parses krb5.conf text (includes are not followed).
    pub fn parse(text: &str) -> Self {
        let mut config = Krb5Config::default();
        config.apply(text, usize::MAX).ok();
        config
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `[libdefaults] default_realm`.
    pub fn default_realm(&self) -> Option<&str> {
        self.default_realm.as_deref()
    }

    /// `[libdefaults] default_ccache_name`, unexpanded.
    pub fn default_ccache_name(&self) -> Option<&str> {
        self.default_ccache_name.as_deref()
    }

    /// The `kdc` entries of a realm.
    pub fn kdcs(&self, realm: &str) -> &[String] {
        self.kdcs.get(realm).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The realm of a host from `[domain_realm]`: the host itself, then its
    /// parent domains written with a leading dot, most specific first.
    pub fn realm_of_host(&self, host: &str) -> Option<&str> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if let Some(r) = self.domain_realm.get(&host) {
            return Some(r);
        }
        let mut rest = host.as_str();
        loop {
            if let Some(r) = self.domain_realm.get(&format!(".{rest}")) {
                return Some(r);
            }
            match rest.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => rest = parent,
                _ => return None,
            }
        }
    }

    fn read(&mut self, path: &Path, depth: usize) -> Result<()> {
        let text = std::fs::read_to_string(path).map_err(|source| KerberosError::ConfigIo {
            path: path.to_owned(),
            source,
        })?;
        self.apply(&text, depth)
    }

    fn apply(&mut self, text: &str, depth: usize) -> Result<()> {
        let mut section = String::new();
        // The group a line is in: `[realms] EXAMPLE.COM = {` opens
        // ["EXAMPLE.COM"]; deeper groups only count their depth.
        let mut group: Vec<String> = Vec::new();
        for raw in text.lines() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if depth != usize::MAX
                && let Some(target) = include_target(line)
            {
                self.include(target, line.starts_with("includedir"), depth)?;
                continue;
            }
            if let Some(name) = line.strip_prefix('[') {
                section = name
                    .trim_end_matches([']', '*'])
                    .trim()
                    .to_ascii_lowercase();
                group.clear();
                continue;
            }
            if line.starts_with('}') {
                group.pop();
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let key = key.trim();
            let value = value.trim();
            if value == "{" {
                group.push(key.to_owned());
                continue;
            }
            let value = value.trim_end_matches('*').trim();
            let value = unquote(value);
            match (section.as_str(), group.as_slice()) {
                ("libdefaults", []) => match key {
                    "default_realm" if self.default_realm.is_none() => {
                        self.default_realm = Some(value.to_owned());
                    }
                    "default_ccache_name" if self.default_ccache_name.is_none() => {
                        self.default_ccache_name = Some(value.to_owned());
                    }
                    _ => {}
                },
                ("realms", [realm]) if key == "kdc" => {
                    self.kdcs
                        .entry(realm.clone())
                        .or_default()
                        .extend(value.split_whitespace().map(str::to_owned));
                }
                ("domain_realm", []) => {
                    self.domain_realm
                        .entry(key.to_ascii_lowercase())
                        .or_insert_with(|| value.to_owned());
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn include(&mut self, target: &str, dir: bool, depth: usize) -> Result<()> {
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(KerberosError::ConfigIo {
                path: PathBuf::from(target),
                source: std::io::Error::other("includes nest too deep"),
            });
        }
        let target = Path::new(target);
        if !dir {
            return self.read(target, depth + 1);
        }
        let entries = std::fs::read_dir(target).map_err(|source| KerberosError::ConfigIo {
            path: target.to_owned(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                // MIT's rule: names of letters, digits, '-' and '_', or
                // ending in ".conf"; no hidden or backup files.
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    !n.starts_with('.')
                        && (n.ends_with(".conf")
                            || n.chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                })
            })
            .collect();
        files.sort();
        for f in files {
            self.read(&f, depth + 1)?;
        }
        Ok(())
    }
}

fn include_target(line: &str) -> Option<&str> {
    for word in ["includedir", "include"] {
        if let Some(rest) = line.strip_prefix(word)
            && rest.starts_with([' ', '\t'])
        {
            return Some(rest.trim());
        }
    }
    None
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Where a `kdc` entry points: transport, host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KdcAddress {
    pub(crate) transport: Transport,
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// Which transport a KDC entry asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// TCP first, then UDP.
    Any,
    Tcp,
    Udp,
}

impl KdcAddress {
    /// Parses `[tcp/|udp/]host[:port]` and `[v6addr][:port]`; `None` for
    /// forms this client cannot use (`kkdcp` HTTPS proxies).
    pub(crate) fn parse(entry: &str) -> Option<Self> {
        let (transport, rest) = if let Some(r) = entry.strip_prefix("tcp/") {
            (Transport::Tcp, r)
        } else if let Some(r) = entry.strip_prefix("udp/") {
            (Transport::Udp, r)
        } else if entry.contains("://") {
            return None;
        } else {
            (Transport::Any, entry)
        };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().ok()?,
                None if after.is_empty() => 88,
                None => return None,
            };
            (host.to_owned(), port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h.to_owned(), p.parse().ok()?),
                Some(_) => (rest.to_owned(), 88), // a bare IPv6 address
                None => (rest.to_owned(), 88),
            }
        };
        if host.is_empty() {
            return None;
        }
        Some(KdcAddress {
            transport,
            host,
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const CONF: &str = r#"
# a comment
[libdefaults]
    default_realm = EXAMPLE.COM
    default_ccache_name = FILE:/tmp/krb5cc_%{uid}
    EXAMPLE.COM = {
        default_realm = NOT.THIS
    }
; another comment
[realms]
    EXAMPLE.COM = {
        kdc = kdc1.example.com
        kdc = tcp/kdc2.example.com:750
        admin_server = kdc1.example.com
        auth_to_local = {
            kdc = nested.example.com
        }
    }
    OTHER.ORG = {
        kdc = [::1]:8888
    }
[domain_realm]
    .example.com = EXAMPLE.COM
    example.com = EXAMPLE.COM
    special.example.com = SPECIAL.COM
    .dept.example.com = DEPT.EXAMPLE.COM
"#;

    #[test]
    fn reads_realms_kdcs_and_defaults() {
        let c = Krb5Config::parse(CONF);
        assert_eq!(c.default_realm(), Some("EXAMPLE.COM"));
        assert_eq!(c.default_ccache_name(), Some("FILE:/tmp/krb5cc_%{uid}"));
        assert_eq!(
            c.kdcs("EXAMPLE.COM"),
            ["kdc1.example.com", "tcp/kdc2.example.com:750"]
        );
        assert_eq!(c.kdcs("OTHER.ORG"), ["[::1]:8888"]);
        assert!(c.kdcs("NOPE").is_empty());
    }

    #[test]
    fn maps_hosts_to_realms_most_specific_first() {
        let c = Krb5Config::parse(CONF);
        assert_eq!(c.realm_of_host("guard.example.com"), Some("EXAMPLE.COM"));
        assert_eq!(c.realm_of_host("Special.Example.com"), Some("SPECIAL.COM"));
        assert_eq!(
            c.realm_of_host("a.b.dept.example.com"),
            Some("DEPT.EXAMPLE.COM")
        );
        assert_eq!(c.realm_of_host("example.com"), Some("EXAMPLE.COM"));
        assert_eq!(c.realm_of_host("example.org"), None);
    }

    #[test]
    fn parses_kdc_addresses() {
        let p = |s| KdcAddress::parse(s).unwrap();
        assert_eq!(p("kdc.example.com").port, 88);
        assert_eq!(p("kdc.example.com:750").port, 750);
        assert_eq!(p("tcp/kdc:1").transport, Transport::Tcp);
        assert_eq!(p("udp/kdc").transport, Transport::Udp);
        let v6 = p("[::1]:8888");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8888));
        assert_eq!(p("::1").host, "::1");
        assert!(KdcAddress::parse("https://proxy/KdcProxy").is_none());
        assert!(KdcAddress::parse("kdc:notaport").is_none());
    }

    #[test]
    fn follows_includes() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("conf.d");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(
            sub.join("realms.conf"),
            "[realms]\n  INC.TEST = {\n    kdc = 127.0.0.1:1\n  }\n",
        )
        .unwrap();
        std::fs::write(
            sub.join(".hidden"),
            "[libdefaults]\n default_realm = HIDDEN\n",
        )
        .unwrap();
        let main = dir.path().join("krb5.conf");
        std::fs::write(
            &main,
            format!(
                "includedir {}\n[libdefaults]\n default_realm = INC.TEST\n",
                sub.display()
            ),
        )
        .unwrap();
        let c = Krb5Config::load(&main).unwrap();
        assert_eq!(c.default_realm(), Some("INC.TEST"));
        assert_eq!(c.kdcs("INC.TEST"), ["127.0.0.1:1"]);
        let missing = Krb5Config::load(&dir.path().join("nope"));
        assert!(matches!(missing, Err(KerberosError::ConfigIo { .. })));
    }
}
