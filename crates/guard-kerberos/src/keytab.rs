//! MIT keytab files (the format `kadmin ktadd`, `ktutil` and Active
//! Directory's `ktpass` write).
//!
//! ```text
//! file    = 0x05 version(0x01|0x02) entry*
//! entry   = int32 size, then size bytes (a negative size is a hole to skip)
//!           uint16 count, data realm, data component*count,
//!           uint32 name_type (version 2 only), uint32 timestamp, uint8 kvno,
//!           uint16 enctype, data key, [uint32 kvno, when 4 bytes remain]
//! data    = uint16 length, bytes
//! ```
//! Version 2 is big-endian; version 1 (in its count the realm is included)
//! is in the writer's byte order, little-endian on every machine in use.

use std::path::Path;

use crate::crypto::Key;
use crate::error::{KerberosError, Result};
use crate::principal::Principal;

/// One key in a keytab.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) principal: Principal,
    pub(crate) kvno: u32,
    pub(crate) key: Key,
}

/// What a keytab entry is, without its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeytabEntry {
    /// The service principal.
    pub principal: Principal,
    /// The key version number.
    pub kvno: u32,
    /// The encryption type number (18 = aes256-cts-hmac-sha1-96, ...).
    pub enctype: i32,
}

/// The keys of a keytab file.
#[derive(Clone)]
pub struct Keytab {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Keytab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries()).finish()
    }
}

impl Keytab {
    /// Reads and parses a keytab file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| KerberosError::KeytabIo {
            path: path.to_owned(),
            source,
        })?;
        Keytab::from_bytes(&bytes).map_err(|reason| KerberosError::KeytabFormat {
            path: path.to_owned(),
            reason,
        })
    }

    /// Parses the bytes of a keytab file.
    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<Self, String> {
        let mut r = Reader {
            bytes,
            pos: 0,
            little: false,
        };
        if r.u8()? != 5 {
            return Err("it does not start with the keytab marker 0x05".into());
        }
        let version = r.u8()?;
        let v1 = match version {
            1 => {
                r.little = true;
                true
            }
            2 => false,
            other => return Err(format!("unknown keytab version {other}")),
        };
        let mut entries = Vec::new();
        while r.remaining() > 0 {
            if r.remaining() < 4 {
                // Trailing bytes too short for a size: nothing more to read.
                break;
            }
            let size = r.i32()?;
            if size == 0 {
                break;
            }
            if size < 0 {
                r.skip(size.unsigned_abs() as usize)?;
                continue;
            }
            let body = r.take(size as usize)?;
            let mut e = Reader {
                bytes: body,
                pos: 0,
                little: r.little,
            };
            entries.push(
                read_entry(&mut e, v1)
                    .map_err(|why| format!("entry {} is damaged: {why}", entries.len() + 1))?,
            );
        }
        Ok(Keytab { entries })
    }

    /// The entries, without their keys.
    pub fn entries(&self) -> impl Iterator<Item = KeytabEntry> + '_ {
        self.entries.iter().map(|e| KeytabEntry {
            principal: e.principal.clone(),
            kvno: e.kvno,
            enctype: e.key.enctype(),
        })
    }

    /// The number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the keytab holds no key.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn keys(&self) -> &[Entry] {
        &self.entries
    }

    /// The keytab in version 2 format (for tests that shape keytabs).
    #[cfg(test)]
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![5u8, 2];
        for e in &self.entries {
            let mut b = Vec::new();
            let data = |b: &mut Vec<u8>, d: &[u8]| {
                b.extend_from_slice(&(d.len() as u16).to_be_bytes());
                b.extend_from_slice(d);
            };
            b.extend_from_slice(&(e.principal.components().len() as u16).to_be_bytes());
            data(&mut b, e.principal.realm().as_bytes());
            for c in e.principal.components() {
                data(&mut b, c.as_bytes());
            }
            b.extend_from_slice(&1u32.to_be_bytes());
            b.extend_from_slice(&0u32.to_be_bytes());
            b.push(e.kvno as u8);
            b.extend_from_slice(&(e.key.enctype() as u16).to_be_bytes());
            data(&mut b, e.key.bytes());
            b.extend_from_slice(&e.kvno.to_be_bytes());
            out.extend_from_slice(&(b.len() as i32).to_be_bytes());
            out.extend_from_slice(&b);
        }
        out
    }

    #[cfg(test)]
    pub(crate) fn from_entries(entries: Vec<Entry>) -> Self {
        Keytab { entries }
    }
}

fn read_entry(e: &mut Reader<'_>, v1: bool) -> std::result::Result<Entry, String> {
    let mut count = e.u16()? as usize;
    if v1 {
        count = count.checked_sub(1).ok_or("a name without a realm")?;
    }
    if count == 0 {
        return Err("a principal without a name".into());
    }
    let realm = e.text()?;
    let mut components = Vec::with_capacity(count.min(8));
    for _ in 0..count {
        components.push(e.text()?);
    }
    if !v1 {
        let _name_type = e.u32()?;
    }
    let _timestamp = e.u32()?;
    let kvno8 = e.u8()?;
    let enctype = e.u16()?;
    let key_len = e.u16()? as usize;
    let key = e.take(key_len)?.to_vec();
    // Since krb5 1.4 a 32-bit kvno may follow; zero means "use the 8-bit one".
    let kvno = match e.remaining() >= 4 {
        true => match e.u32()? {
            0 => u32::from(kvno8),
            v => v,
        },
        false => u32::from(kvno8),
    };
    Ok(Entry {
        principal: Principal::new(components, realm),
        kvno,
        key: Key::new(i32::from(enctype as i16), key),
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    little: bool,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!(
                "truncated: {n} bytes wanted at offset {}, {} left",
                self.pos,
                self.remaining()
            ));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn skip(&mut self, n: usize) -> std::result::Result<(), String> {
        self.take(n).map(|_| ())
    }

    fn array<const N: usize>(&mut self) -> std::result::Result<[u8; N], String> {
        let mut a: [u8; N] = self
            .take(N)?
            .try_into()
            .map_err(|_| "internal: slice size".to_owned())?;
        if self.little {
            a.reverse();
        }
        Ok(a)
    }

    fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> std::result::Result<u16, String> {
        self.array::<2>().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> std::result::Result<u32, String> {
        self.array::<4>().map(u32::from_be_bytes)
    }

    fn i32(&mut self) -> std::result::Result<i32, String> {
        self.array::<4>().map(i32::from_be_bytes)
    }

    fn text(&mut self) -> std::result::Result<String, String> {
        let len = self.u16()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "a name that is not UTF-8".into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn entry(name: &str, kvno: u32, enctype: i32) -> Entry {
        let key_len = if enctype == 17 { 16 } else { 32 };
        Entry {
            principal: Principal::parse(name, None).unwrap(),
            kvno,
            key: Key::new(enctype, vec![kvno as u8; key_len]),
        }
    }

    #[test]
    fn round_trips_several_principals_kvnos_and_enctypes() {
        let kt = Keytab::from_entries(vec![
            entry("HTTP/a.example.com@EXAMPLE.COM", 2, 18),
            entry("HTTP/a.example.com@EXAMPLE.COM", 2, 17),
            entry("HTTP/a.example.com@EXAMPLE.COM", 300, 18),
            entry("host/b.example.com@EXAMPLE.COM", 1, 18),
        ]);
        let parsed = Keytab::from_bytes(&kt.to_bytes()).unwrap();
        let seen: Vec<_> = parsed
            .entries()
            .map(|e| (e.principal.to_string(), e.kvno, e.enctype))
            .collect();
        assert_eq!(
            seen,
            [
                ("HTTP/a.example.com@EXAMPLE.COM".to_owned(), 2, 18),
                ("HTTP/a.example.com@EXAMPLE.COM".to_owned(), 2, 17),
                // 300 does not fit the 8-bit kvno: the 32-bit one wins.
                ("HTTP/a.example.com@EXAMPLE.COM".to_owned(), 300, 18),
                ("host/b.example.com@EXAMPLE.COM".to_owned(), 1, 18),
            ]
        );
        assert_eq!(parsed.keys()[2].key.bytes(), &[44u8; 32][..]);
    }

    #[test]
    fn skips_holes_and_stops_at_a_zero_size() {
        let kt = Keytab::from_entries(vec![entry("a@R", 1, 18)]);
        let mut bytes = vec![5, 2];
        bytes.extend_from_slice(&(-6i32).to_be_bytes());
        bytes.extend_from_slice(&[0; 6]);
        bytes.extend_from_slice(&kt.to_bytes()[2..]);
        bytes.extend_from_slice(&0i32.to_be_bytes());
        bytes.extend_from_slice(&[0xff; 9]);
        let parsed = Keytab::from_bytes(&bytes).unwrap();
        assert_eq!(parsed.len(), 1);
    }

    #[test]
    fn reads_version_1_little_endian_with_the_realm_counted() {
        let mut b = Vec::new();
        b.extend_from_slice(&2u16.to_le_bytes()); // realm + 1 component
        for d in [&b"R"[..], b"svc"] {
            b.extend_from_slice(&(d.len() as u16).to_le_bytes());
            b.extend_from_slice(d);
        }
        b.extend_from_slice(&0u32.to_le_bytes()); // timestamp
        b.push(7); // kvno
        b.extend_from_slice(&17u16.to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(&[9; 16]);
        let mut file = vec![5, 1];
        file.extend_from_slice(&(b.len() as i32).to_le_bytes());
        file.extend_from_slice(&b);
        let kt = Keytab::from_bytes(&file).unwrap();
        let e: Vec<_> = kt.entries().collect();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].principal.to_string(), "svc@R");
        assert_eq!((e[0].kvno, e[0].enctype), (7, 17));
    }

    #[test]
    fn damaged_files_are_errors_not_panics() {
        let good = Keytab::from_entries(vec![entry("HTTP/x@R", 1, 18)]).to_bytes();
        assert!(Keytab::from_bytes(b"").is_err());
        assert!(Keytab::from_bytes(b"\x06\x02").is_err());
        assert!(Keytab::from_bytes(b"\x05\x09").is_err());
        for cut in 3..good.len() {
            // Every truncation is either an error or (cut inside the size
            // field) an empty keytab; none panics.
            let _ = Keytab::from_bytes(&good[..cut]);
        }
        let mut huge = good.clone();
        huge[2..6].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(Keytab::from_bytes(&huge).unwrap_err().contains("truncated"));
    }
}
