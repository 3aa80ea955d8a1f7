//! Go Guard's token: the standard, padded base64 of a DER `KRB_AP_REQ`.
//!
//! Go Guard's client (gokrb5's `messages.APReq.Marshal`) sends the bare
//! AP-REQ, without the GSS-API framing (RFC 4121 4.1) that SPNEGO and
//! `gss_init_sec_context` add. Tokens are made in that form; tokens in the
//! GSS-API form (as MIT's or Heimdal's `gss_init_sec_context` makes them)
//! are accepted too.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

use crate::error::Denial;

/// The OID of the Kerberos 5 GSS-API mechanism, 1.2.840.113554.1.2.2, DER.
const KRB5_MECH_OID: [u8; 11] = [
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02,
];
/// TOK_ID of a GSS-API AP-REQ token.
const TOK_ID_AP_REQ: [u8; 2] = [0x01, 0x00];

/// The token for a DER AP-REQ: standard base64 with padding.
pub fn encode(ap_req: &[u8]) -> String {
    STANDARD.encode(ap_req)
}

/// The DER AP-REQ in a token: base64 (with or without padding), the
/// GSS-API framing removed if there is one.
pub fn decode(token: &str) -> Result<Vec<u8>, Denial> {
    let token = token.trim();
    let bytes = STANDARD
        .decode(token)
        .or_else(|_| STANDARD_NO_PAD.decode(token))
        .map_err(|_| Denial::Malformed("not standard base64".into()))?;
    match bytes.first() {
        Some(0x60) => unwrap_gss(&bytes).map(<[u8]>::to_vec),
        Some(0x6e) => Ok(bytes),
        Some(_) => Err(Denial::Malformed("not a DER AP-REQ".into())),
        None => Err(Denial::Malformed("empty".into())),
    }
}

/// Wraps a DER AP-REQ in the GSS-API InitialContextToken framing
/// (RFC 2743 3.1, RFC 4121 4.1), as `gss_init_sec_context` sends it.
pub fn wrap_gss(ap_req: &[u8]) -> Vec<u8> {
    let inner_len = KRB5_MECH_OID.len() + TOK_ID_AP_REQ.len() + ap_req.len();
    let mut out = vec![0x60];
    der_length(inner_len, &mut out);
    out.extend_from_slice(&KRB5_MECH_OID);
    out.extend_from_slice(&TOK_ID_AP_REQ);
    out.extend_from_slice(ap_req);
    out
}

/// The AP-REQ inside a GSS-API InitialContextToken.
pub fn unwrap_gss(token: &[u8]) -> Result<&[u8], Denial> {
    let bad = |why: &str| Denial::Malformed(format!("GSS-API framing: {why}"));
    let rest = token
        .strip_prefix(&[0x60])
        .ok_or_else(|| bad("no 0x60 tag"))?;
    let (len, rest) = read_der_length(rest).ok_or_else(|| bad("bad length"))?;
    if len != rest.len() {
        return Err(bad("length does not match"));
    }
    let rest = rest
        .strip_prefix(&KRB5_MECH_OID)
        .ok_or_else(|| bad("not the Kerberos 5 mechanism"))?;
    let rest = rest
        .strip_prefix(&TOK_ID_AP_REQ)
        .ok_or_else(|| bad("not an AP-REQ token"))?;
    Ok(rest)
}

fn der_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn read_der_length(b: &[u8]) -> Option<(usize, &[u8])> {
    let (&first, rest) = b.split_first()?;
    if first < 0x80 {
        return Some((usize::from(first), rest));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 || rest.len() < n {
        return None;
    }
    let len = rest[..n]
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Some((len, &rest[n..]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bare_and_gss_framed_tokens_decode_to_the_same_ap_req() {
        let ap_req: Vec<u8> = [0x6e, 0x82, 0x01, 0x00]
            .into_iter()
            .chain(std::iter::repeat_n(7u8, 300))
            .collect();
        let bare = encode(&ap_req);
        assert!(bare.ends_with('='), "padded like Go's StdEncoding");
        assert_eq!(decode(&bare).unwrap(), ap_req);
        assert_eq!(decode(bare.trim_end_matches('=')).unwrap(), ap_req);
        let framed = wrap_gss(&ap_req);
        assert_eq!(unwrap_gss(&framed).unwrap(), &ap_req[..]);
        assert_eq!(decode(&encode(&framed)).unwrap(), ap_req);
    }

    #[test]
    fn other_things_are_malformed() {
        for t in ["", "!!!", "YWxpY2U6YWxpY2Vwdw==", "YA==", "YAA="] {
            assert!(matches!(decode(t), Err(Denial::Malformed(_))), "{t:?}");
        }
        // GSS framing of another mechanism (SPNEGO's OID).
        let spnego = [0x60, 0x08, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
        assert!(unwrap_gss(&spnego).is_err());
    }
}
