//! Small conversions between Rust values and picky-krb's ASN.1 types.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use picky_asn1::bit_string::BitString;
use picky_asn1::date::Date;
use picky_asn1::restricted_string::Ia5String;
use picky_asn1::wrapper::{
    Asn1SequenceOf, ExplicitContextTag0, ExplicitContextTag1, GeneralizedTimeAsn1, IntegerAsn1,
};
use picky_krb::data_types::{KerberosFlags, KerberosStringAsn1, KerberosTime, PrincipalName};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{KerberosError, Result};

/// An ASN.1 INTEGER with the minimal encoding DER asks for.
pub(crate) fn int(value: i64) -> IntegerAsn1 {
    IntegerAsn1::from_bytes_be_signed(value.to_be_bytes().to_vec())
}

/// The value of an ASN.1 INTEGER that fits in an `i64`.
pub(crate) fn int_value(value: &IntegerAsn1) -> Option<i64> {
    let bytes = value.as_signed_bytes_be();
    if bytes.len() > 8 {
        // Allow a leading zero before 8 significant bytes only for values
        // that still fit: anything longer is out of range for Kerberos.
        return None;
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0x00 };
    let mut buf = [fill; 8];
    buf[8 - bytes.len()..].copy_from_slice(bytes);
    Some(i64::from_be_bytes(buf))
}

/// An Int32 field (enctype, name type, error code...).
pub(crate) fn int32(value: &IntegerAsn1) -> Option<i32> {
    int_value(value).and_then(|v| i32::try_from(v).ok())
}

/// A UInt32 field (kvno, nonce, sequence number).
pub(crate) fn uint32(value: &IntegerAsn1) -> Option<u32> {
    // Some implementations encode UInt32 values as negative Int32 (MS-KILE);
    // take the low 32 bits either way.
    int_value(value).and_then(|v| {
        if (-(1i64 << 31)..(1i64 << 32)).contains(&v) {
            Some(v as u32)
        } else {
            None
        }
    })
}

/// A KerberosString (IA5).
pub(crate) fn kstring(s: &str) -> Result<KerberosStringAsn1> {
    Ia5String::from_string(s.to_owned())
        .map(KerberosStringAsn1::from)
        .map_err(|_| KerberosError::BadPrincipal {
            name: s.to_owned(),
            reason: "only ASCII characters can be sent in Kerberos names",
        })
}

/// The text of a KerberosString.
pub(crate) fn kstring_value(s: &KerberosStringAsn1) -> String {
    String::from_utf8_lossy(s.0.as_bytes()).into_owned()
}

/// A PrincipalName.
pub(crate) fn principal_name(name_type: i32, components: &[String]) -> Result<PrincipalName> {
    let names = components
        .iter()
        .map(|c| kstring(c))
        .collect::<Result<Vec<_>>>()?;
    Ok(PrincipalName {
        name_type: ExplicitContextTag0::from(int(name_type.into())),
        name_string: ExplicitContextTag1::from(Asn1SequenceOf::from(names)),
    })
}

/// The components of a PrincipalName.
pub(crate) fn components(name: &PrincipalName) -> Vec<String> {
    name.name_string.0.0.iter().map(kstring_value).collect()
}

/// A KerberosTime (whole seconds, UTC).
pub(crate) fn ktime(t: SystemTime) -> Result<KerberosTime> {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    let bad = || KerberosError::Internal(format!("time out of range: {secs} s since 1970"));
    let dt = time::OffsetDateTime::from_unix_timestamp(secs).map_err(|_| bad())?;
    let year = u16::try_from(dt.year()).map_err(|_| bad())?;
    let date = Date::new(
        year,
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
    )
    .ok_or_else(bad)?;
    Ok(GeneralizedTimeAsn1::from(date))
}

/// The instant a KerberosTime names, if it is a valid date.
pub(crate) fn from_ktime(t: &KerberosTime) -> Option<SystemTime> {
    let d = &t.0;
    let month = time::Month::try_from(d.month()).ok()?;
    let date = time::Date::from_calendar_date(i32::from(d.year()), month, d.day()).ok()?;
    let tod = time::Time::from_hms(d.hour(), d.minute(), d.second()).ok()?;
    let secs = time::PrimitiveDateTime::new(date, tod)
        .assume_utc()
        .unix_timestamp();
    if secs >= 0 {
        Some(UNIX_EPOCH + Duration::from_secs(secs as u64))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

/// Seconds and microseconds of an instant, as Kerberos splits them.
pub(crate) fn split_micros(t: SystemTime) -> (SystemTime, u32) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let whole = UNIX_EPOCH + Duration::from_secs(since.as_secs());
    (whole, since.subsec_micros())
}

/// 32 Kerberos flags, bit 0 first (the most significant bit of `bits`).
pub(crate) fn flags(bits: u32) -> KerberosFlags {
    KerberosFlags::from(BitString::with_bytes(bits.to_be_bytes().to_vec()))
}

/// Whether flag `bit` (0 = the first) is set.
pub(crate) fn flag_set(flags: &KerberosFlags, bit: usize) -> bool {
    flags.0.is_set(bit)
}

/// DER of a value.
pub(crate) fn to_der<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    picky_asn1_der::to_vec(value).map_err(|e| KerberosError::Internal(format!("DER encoding: {e}")))
}

/// A value from DER, with the decoder's complaint on failure. Bytes after
/// the first element are ignored: decrypted plaintext may carry the
/// cipher's padding (des3-cbc-sha1).
pub(crate) fn from_der<T: DeserializeOwned>(der: &[u8]) -> std::result::Result<T, String> {
    let element = first_element(der);
    // picky-asn1-der trusts length fields (a huge one overflows its
    // arithmetic): only well-formed DER reaches it.
    check_structure(element, 0)?;
    picky_asn1_der::from_bytes(element).map_err(|e| {
        let mut text = e.to_string();
        text.truncate(200);
        text
    })
}

/// How deep constructed elements may nest; Kerberos messages need about 12.
const MAX_DEPTH: usize = 32;

/// Checks that `der` is exactly a sequence of complete TLV elements: tags
/// readable, definite lengths of at most 4 bytes that fit in what contains
/// them, constructed contents made of complete elements in turn.
fn check_structure(mut der: &[u8], depth: usize) -> std::result::Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("nested too deep".into());
    }
    while !der.is_empty() {
        let (constructed, header, len) = read_header(der)?;
        let end = header
            .checked_add(len)
            .filter(|end| *end <= der.len())
            .ok_or("an element longer than what contains it")?;
        if constructed {
            check_structure(&der[header..end], depth + 1)?;
        }
        der = &der[end..];
    }
    Ok(())
}

/// Whether an element is constructed, its header's size and its length.
fn read_header(der: &[u8]) -> std::result::Result<(bool, usize, usize), String> {
    let (&tag, _) = der.split_first().ok_or("truncated")?;
    let constructed = tag & 0x20 != 0;
    let mut at = 1;
    if tag & 0x1f == 0x1f {
        // High tag number: base-128 bytes, the last without bit 8.
        loop {
            let b = *der.get(at).ok_or("a truncated tag")?;
            at += 1;
            if at > 5 {
                return Err("a tag number too large".into());
            }
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let first = *der.get(at).ok_or("a truncated length")?;
    at += 1;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 {
            return Err("an indefinite length (not DER)".into());
        }
        if n > 4 {
            return Err("a length field of more than 4 bytes".into());
        }
        let bytes = der.get(at..at + n).ok_or("a truncated length")?;
        at += n;
        bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    Ok((constructed, at, len))
}

/// The first DER element (tag, length, contents) of `der`, or all of `der`
/// if its length cannot be read.
fn first_element(der: &[u8]) -> &[u8] {
    let Some(&len0) = der.get(1) else { return der };
    let (header, len) = if len0 < 0x80 {
        (2, usize::from(len0))
    } else {
        let n = usize::from(len0 & 0x7f);
        if n == 0 || n > 4 || der.len() < 2 + n {
            return der;
        }
        let len = der[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (2 + n, len)
    };
    match header.checked_add(len) {
        Some(end) if end <= der.len() => &der[..end],
        _ => der,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn integers_round_trip_with_minimal_encoding() {
        for v in [
            0i64,
            1,
            5,
            127,
            128,
            255,
            256,
            -1,
            -128,
            -129,
            2_147_483_647,
            4_294_967_295,
        ] {
            let i = int(v);
            assert_eq!(int_value(&i), Some(v), "{v}");
        }
        assert_eq!(int(5).0, vec![5]);
        assert_eq!(int(128).0, vec![0, 128]);
        assert_eq!(int(-1).0, vec![0xff]);
        // A kvno some encoders write as a negative Int32.
        assert_eq!(uint32(&int(-1)), Some(u32::MAX));
        assert_eq!(uint32(&int(1 << 33)), None);
    }

    #[test]
    fn times_round_trip_to_the_second() {
        let t = UNIX_EPOCH + Duration::from_secs(1_796_158_758);
        let k = ktime(t + Duration::from_millis(700)).unwrap();
        assert_eq!(from_ktime(&k), Some(t));
        let (whole, micros) = split_micros(t + Duration::from_micros(123_456));
        assert_eq!((whole, micros), (t, 123_456));
    }

    #[test]
    fn trailing_padding_after_an_element_is_ignored() {
        let der = to_der(&int(300)).unwrap();
        let mut padded = der.clone();
        padded.extend_from_slice(&[0, 0, 0]);
        let back: IntegerAsn1 = from_der(&padded).unwrap();
        assert_eq!(int_value(&back), Some(300));
        assert_eq!(first_element(&[0x30]), &[0x30]);
        assert_eq!(first_element(&[0x30, 0x85, 1, 2, 3, 4, 5]).len(), 7);
        assert_eq!(first_element(&[0x30, 0x81]).len(), 2);
    }

    #[test]
    fn malformed_structures_are_refused_before_decoding() {
        // A length of 8 bytes of 0xff (found by fuzzing: it overflows
        // picky-asn1-der's arithmetic).
        let huge = [
            0x6e, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x00,
        ];
        assert!(from_der::<IntegerAsn1>(&huge).is_err());
        // Inner elements longer than their container.
        assert!(check_structure(&[0x30, 0x03, 0x02, 0x05, 0x00], 0).is_err());
        // Indefinite length.
        assert!(check_structure(&[0x30, 0x80, 0x00, 0x00], 0).is_err());
        // Nesting beyond the limit.
        let mut deep = Vec::new();
        for _ in 0..40 {
            deep.insert(0, 0x30);
            let len = deep.len() - 1;
            deep.insert(1, len as u8);
        }
        assert!(check_structure(&deep, 0).is_err());
        // A well-formed message passes.
        let ok = to_der(&flags(0x4000_0000)).unwrap();
        assert!(check_structure(&ok, 0).is_ok());
        assert!(
            check_structure(&[0x7f, 0x81, 0x00, 0x00], 0).is_ok(),
            "a two-byte tag"
        );
    }

    #[test]
    fn flags_count_from_the_most_significant_bit() {
        let f = flags(0x4000_0000);
        assert!(flag_set(&f, 1));
        assert!(!flag_set(&f, 0));
        assert!(!flag_set(&f, 31));
    }
}
