//! MIT's FILE: credential cache (what `kinit` writes), versions 3 and 4.
//!
//! ```text
//! file       = uint16 version (0x0503 | 0x0504), [v4: uint16 header length, header],
//!              principal default_principal, credential*
//! credential = principal client, principal server, keyblock,
//!              uint32 authtime, starttime, endtime, renew_till,
//!              uint8 is_skey, uint32 ticket_flags,
//!              uint32 count, address*count, uint32 count, authdata*count,
//!              data ticket, data second_ticket
//! principal  = uint32 name_type, uint32 count, data realm, data component*count
//! keyblock   = uint16 enctype, [v3: uint16 enctype again], data key
//! data       = uint32 length, bytes
//! ```
//! Everything is big-endian. Entries whose server realm is `X-CACHECONF:`
//! are settings, not tickets.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::crypto::Key;
use crate::error::{KerberosError, Result};
use crate::principal::Principal;

/// The realm MIT uses for configuration entries in a cache.
const CONFIG_REALM: &str = "X-CACHECONF:";
/// The default cache name when neither KRB5CCNAME nor krb5.conf names one.
const DEFAULT_CCACHE_NAME: &str = "FILE:/tmp/krb5cc_%{uid}";

/// One ticket in the cache.
#[derive(Clone, Debug)]
pub(crate) struct CachedCredential {
    pub(crate) client: Principal,
    pub(crate) server: Principal,
    pub(crate) key: Key,
    pub(crate) starttime: SystemTime,
    pub(crate) endtime: SystemTime,
    pub(crate) is_skey: bool,
    pub(crate) ticket: Vec<u8>,
}

/// A parsed FILE: credential cache.
#[derive(Clone, Debug)]
pub(crate) struct Ccache {
    pub(crate) principal: Principal,
    pub(crate) credentials: Vec<CachedCredential>,
}

/// The path of the FILE: cache a cache name points to.
///
/// `name` is what KRB5CCNAME holds (or krb5.conf's `default_ccache_name`, or
/// MIT's default `FILE:/tmp/krb5cc_%{uid}` when `name` is `None`).
/// `FILE:path`, a bare path and `DIR:dir` (the collection's primary cache)
/// are supported; `KEYRING:`, `KCM:`, `MEMORY:` and `API:` are not.
pub(crate) fn resolve(name: Option<&str>) -> Result<PathBuf> {
    let name = name
        .filter(|n| !n.is_empty())
        .unwrap_or(DEFAULT_CCACHE_NAME);
    let expanded = expand(name);
    let (kind, rest) = match expanded.split_once(':') {
        Some((kind, rest)) if !kind.contains('/') => (kind.to_ascii_uppercase(), rest),
        _ => ("FILE".to_owned(), expanded.as_str()),
    };
    match kind.as_str() {
        "FILE" => Ok(PathBuf::from(rest)),
        "DIR" => {
            // `DIR::path` names one cache file of a collection.
            if let Some(file) = rest.strip_prefix(':') {
                return Ok(PathBuf::from(file));
            }
            let dir = Path::new(rest);
            let primary = std::fs::read_to_string(dir.join("primary"))
                .ok()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty() && !p.contains('/'))
                .unwrap_or_else(|| "tkt".to_owned());
            Ok(dir.join(primary))
        }
        _ => Err(KerberosError::UnsupportedCcache {
            name: name.to_owned(),
        }),
    }
}

/// Expands MIT's `%{uid}`, `%{euid}`, `%{USERID}`, `%{TEMP}` and `%{null}`.
fn expand(name: &str) -> String {
    let uid = rustix::process::getuid().as_raw().to_string();
    let euid = rustix::process::geteuid().as_raw().to_string();
    let temp = std::env::var("TMPDIR").unwrap_or_else(|_| "/tmp".to_owned());
    name.replace("%{uid}", &uid)
        .replace("%{USERID}", &uid)
        .replace("%{euid}", &euid)
        .replace("%{TEMP}", &temp)
        .replace("%{null}", "")
}

impl Ccache {
    /// Reads the cache file at `path`.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| KerberosError::CcacheIo {
            path: path.to_owned(),
            source,
        })?;
        Ccache::parse(&bytes).map_err(|reason| KerberosError::CcacheFormat {
            path: path.to_owned(),
            reason,
        })
    }

    fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        let mut r = Reader { bytes, pos: 0 };
        let version = r.u16()?;
        if version != 0x0503 && version != 0x0504 {
            return Err(format!(
                "format version {version:#06x} (only 0x0503 and 0x0504 are supported)"
            ));
        }
        if version == 0x0504 {
            let len = r.u16()? as usize;
            r.take(len)?;
        }
        let principal = r.principal()?;
        let mut credentials = Vec::new();
        while r.remaining() > 0 {
            let client = r.principal()?;
            let server = r.principal()?;
            let enctype = r.u16()?;
            if version == 0x0503 {
                r.u16()?;
            }
            let key = r.data()?.to_vec();
            let authtime = r.time()?;
            let starttime = r.time()?;
            let endtime = r.time()?;
            let _renew_till = r.time()?;
            let is_skey = r.u8()? != 0;
            let _flags = r.u32()?;
            for _ in 0..r.u32()? {
                r.u16()?;
                r.data()?;
            }
            for _ in 0..r.u32()? {
                r.u16()?;
                r.data()?;
            }
            let ticket = r.data()?.to_vec();
            let _second_ticket = r.data()?;
            if server.realm() == CONFIG_REALM {
                continue;
            }
            credentials.push(CachedCredential {
                client,
                server,
                key: Key::new(i32::from(enctype as i16), key),
                starttime: if starttime == UNIX_EPOCH {
                    authtime
                } else {
                    starttime
                },
                endtime,
                is_skey,
                ticket,
            });
        }
        Ok(Ccache {
            principal,
            credentials,
        })
    }

    /// The newest credential of the cache's principal for `server` still
    /// valid `margin` after `now`.
    pub(crate) fn find(
        &self,
        server: &Principal,
        now: SystemTime,
        margin: Duration,
    ) -> Option<&CachedCredential> {
        self.credentials
            .iter()
            .filter(|c| {
                !c.is_skey
                    && c.client == self.principal
                    && c.server.matches(server)
                    && c.starttime <= now + margin
                    && c.endtime > now + margin
            })
            .max_by_key(|c| c.endtime)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!("truncated at offset {}", self.pos));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> std::result::Result<u16, String> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn time(&mut self) -> std::result::Result<SystemTime, String> {
        // Unsigned, so that times after 2038 read right (as MIT reads them).
        Ok(UNIX_EPOCH + Duration::from_secs(u64::from(self.u32()?)))
    }

    fn data(&mut self) -> std::result::Result<&'a [u8], String> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn text(&mut self) -> std::result::Result<String, String> {
        String::from_utf8(self.data()?.to_vec()).map_err(|_| "a name that is not UTF-8".to_owned())
    }

    fn principal(&mut self) -> std::result::Result<Principal, String> {
        let _name_type = self.u32()?;
        let count = self.u32()? as usize;
        let realm = self.text()?;
        let mut components = Vec::with_capacity(count.min(8));
        for _ in 0..count {
            components.push(self.text()?);
        }
        Ok(Principal::new(components, realm))
    }
}

/// Writes a version 4 cache (for tests that shape caches).
#[cfg(test)]
pub(crate) fn write_for_test(principal: &Principal, creds: &[CachedCredential]) -> Vec<u8> {
    fn data(out: &mut Vec<u8>, d: &[u8]) {
        out.extend_from_slice(&(d.len() as u32).to_be_bytes());
        out.extend_from_slice(d);
    }
    fn principal_bytes(out: &mut Vec<u8>, p: &Principal) {
        out.extend_from_slice(&1u32.to_be_bytes());
        out.extend_from_slice(&(p.components().len() as u32).to_be_bytes());
        data(out, p.realm().as_bytes());
        for c in p.components() {
            data(out, c.as_bytes());
        }
    }
    fn secs(t: SystemTime) -> [u8; 4] {
        (t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as u32).to_be_bytes()
    }
    let mut out = vec![0x05, 0x04, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x08];
    out.extend_from_slice(&[0; 8]);
    principal_bytes(&mut out, principal);
    for c in creds {
        principal_bytes(&mut out, &c.client);
        principal_bytes(&mut out, &c.server);
        out.extend_from_slice(&(c.key.enctype() as u16).to_be_bytes());
        data(&mut out, c.key.bytes());
        for t in [c.starttime, c.starttime, c.endtime, UNIX_EPOCH] {
            out.extend_from_slice(&secs(t));
        }
        out.push(u8::from(c.is_skey));
        out.extend_from_slice(&0x0040_0000u32.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&0u32.to_be_bytes());
        data(&mut out, &c.ticket);
        data(&mut out, &[]);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cred(server: &str, end_in: u64, now: SystemTime) -> CachedCredential {
        CachedCredential {
            client: Principal::parse("alice@R", None).unwrap(),
            server: Principal::parse(server, None).unwrap(),
            key: Key::new(18, vec![1; 32]),
            starttime: now,
            endtime: now + Duration::from_secs(end_in),
            is_skey: false,
            ticket: vec![0x61, 0x00],
        }
    }

    #[test]
    fn reads_what_it_wrote_and_finds_valid_tickets() {
        let now = UNIX_EPOCH + Duration::from_secs(1_796_158_758);
        let alice = Principal::parse("alice@R", None).unwrap();
        let creds = [
            cred("krbtgt/R@R", 3600, now),
            cred("HTTP/a@R", 30, now),
            cred("HTTP/a@R", 600, now),
            cred("cfg@X-CACHECONF:", 600, now),
        ];
        let bytes = write_for_test(&alice, &creds);
        let cc = Ccache::parse(&bytes).unwrap();
        assert_eq!(cc.principal, alice);
        assert_eq!(cc.credentials.len(), 3, "the config entry is skipped");
        let margin = Duration::from_secs(60);
        let http = Principal::parse("HTTP/a@R", None).unwrap();
        let found = cc.find(&http, now, margin).unwrap();
        assert_eq!(found.endtime, now + Duration::from_secs(600));
        assert!(
            cc.find(&http, now + Duration::from_secs(600), margin)
                .is_none()
        );
        let tgt = Principal::parse("krbtgt/R@R", None).unwrap();
        assert_eq!(cc.find(&tgt, now, margin).unwrap().key.bytes(), &[1; 32]);
    }

    #[test]
    fn damaged_caches_are_errors_not_panics() {
        let now = UNIX_EPOCH + Duration::from_secs(1_796_158_758);
        let alice = Principal::parse("alice@R", None).unwrap();
        let bytes = write_for_test(&alice, &[cred("krbtgt/R@R", 3600, now)]);
        for cut in 0..bytes.len() {
            let _ = Ccache::parse(&bytes[..cut]);
        }
        assert!(Ccache::parse(&[0x05, 0x02]).is_err());
        let mut huge = bytes.clone();
        // The default principal's component count.
        huge[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(Ccache::parse(&huge).is_err());
    }

    #[test]
    fn resolves_cache_names() {
        assert_eq!(resolve(Some("FILE:/x/cc")).unwrap(), PathBuf::from("/x/cc"));
        assert_eq!(resolve(Some("/x/cc")).unwrap(), PathBuf::from("/x/cc"));
        assert_eq!(
            resolve(Some("DIR::/x/tkt7")).unwrap(),
            PathBuf::from("/x/tkt7")
        );
        let uid = rustix::process::getuid().as_raw();
        assert_eq!(
            resolve(None).unwrap(),
            PathBuf::from(format!("/tmp/krb5cc_{uid}"))
        );
        for other in ["KEYRING:persistent:1000", "KCM:", "MEMORY:x", "API:"] {
            assert!(matches!(
                resolve(Some(other)),
                Err(KerberosError::UnsupportedCcache { .. })
            ));
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("primary"), "tktABC\n").unwrap();
        let name = format!("DIR:{}", dir.path().display());
        assert_eq!(resolve(Some(&name)).unwrap(), dir.path().join("tktABC"));
    }
}
