//! Which headers a client may send, and which travel on.
//!
//! guard **refuses** (403) rather than strips a request that carries an
//! identity header of its own (`X-Remote-*`, or `Impersonate-*` unless
//! `--allow-impersonation`): such a request is an attempt to choose an
//! identity, and the refusal is visible to the client and in the audit log,
//! where a silent strip would hide it.

use std::net::IpAddr;

use hyper::HeaderMap;
use hyper::header::{
    AUTHORIZATION, CONNECTION, EXPECT, FORWARDED, HOST, HeaderName, HeaderValue,
    PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};

use crate::credentials::WEBSOCKET_TOKEN_PREFIX;

/// Why a request's headers are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderRefusal {
    /// A header that names a user to the API server.
    #[error(
        "the request carries the identity header {0}: guard sets the identity headers itself and refuses requests that bring their own"
    )]
    IdentityHeader(String),
    /// `Impersonate-*` while impersonation is off.
    #[error(
        "the request asks to impersonate ({0}, e.g. kubectl --as), which this proxy does not allow; the operator can enable it with --allow-impersonation"
    )]
    ImpersonationDisabled(String),
}

/// Refuses a request that brings identity headers: any `X-Remote-*`, and
/// `Impersonate-*` unless `allow_impersonation`. Header names arrive
/// lower-cased, whatever case the client used.
pub fn screen(headers: &HeaderMap, allow_impersonation: bool) -> Result<(), HeaderRefusal> {
    for name in headers.keys() {
        let n = name.as_str();
        if n.starts_with("x-remote-") {
            return Err(HeaderRefusal::IdentityHeader(display_name(n)));
        }
        if n.starts_with("impersonate-") && !allow_impersonation {
            return Err(HeaderRefusal::ImpersonationDisabled(display_name(n)));
        }
        // `X_Remote_User`: kube-apiserver does not read it, but a server or
        // gateway that maps `_` to `-` (CGI-style) would; never passed on.
        if n.contains('_') {
            let dashed = n.replace('_', "-");
            if dashed.starts_with("x-remote-") || dashed.starts_with("impersonate-") {
                return Err(HeaderRefusal::IdentityHeader(display_name(n)));
            }
        }
    }
    Ok(())
}

/// `x-remote-group` -> `X-Remote-Group`, for messages.
fn display_name(lower: &str) -> String {
    lower
        .split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Headers that only concern one hop (RFC 9110 §7.6.1), plus the ones a
/// proxy must not pass on: the user's credentials and client-chosen
/// forwarding information.
const DROPPED: [HeaderName; 12] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
    AUTHORIZATION,
    HOST,
    EXPECT,
];

/// Client-supplied forwarding headers: the API server would put them in its
/// audit log as the source address, so they are replaced, never trusted.
const FORWARDING: [HeaderName; 3] = [
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-real-ip"),
    FORWARDED,
];

/// The headers sent on to the API server: the client's, minus hop-by-hop,
/// credential and forwarding headers (and the `Impersonate-*` headers the
/// proxy has consumed), with `X-Forwarded-For` set to the client's real
/// address and the upgrade headers kept for a protocol switch.
pub fn upstream_headers(incoming: &HeaderMap, client: IpAddr, upgrade: bool) -> HeaderMap {
    let listed_in_connection: Vec<HeaderName> = incoming
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    let mut out = HeaderMap::with_capacity(incoming.len() + 8);
    for (name, value) in incoming {
        if DROPPED.contains(name)
            || FORWARDING.contains(name)
            || listed_in_connection.contains(name)
            || name.as_str().starts_with("impersonate-")
        {
            continue;
        }
        if name == SEC_WEBSOCKET_PROTOCOL {
            // The bearer-token subprotocol was the credential: consumed.
            if let Some(kept) = without_token_protocol(value) {
                out.append(name.clone(), kept);
            }
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out.insert(
        HeaderName::from_static("x-forwarded-for"),
        HeaderValue::from_str(&client.to_string()).unwrap_or(HeaderValue::from_static("unknown")),
    );
    if upgrade && let Some(value) = incoming.get(UPGRADE) {
        out.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        out.insert(UPGRADE, value.clone());
    }
    out
}

fn without_token_protocol(value: &HeaderValue) -> Option<HeaderValue> {
    let text = value.to_str().ok()?;
    if !text.contains(WEBSOCKET_TOKEN_PREFIX) {
        return Some(value.clone());
    }
    let kept: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && !p.starts_with(WEBSOCKET_TOKEN_PREFIX))
        .collect();
    (!kept.is_empty())
        .then(|| HeaderValue::from_str(&kept.join(", ")).ok())
        .flatten()
}

/// Removes the hop-by-hop headers of an API server answer, except the
/// ones that complete a protocol switch (`101`).
pub fn clean_response_headers(headers: &mut HeaderMap, switching: bool) {
    let listed: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !(switching && *n == UPGRADE))
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in [
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        PROXY_AUTHENTICATE,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
    ] {
        headers.remove(name);
    }
    if !switching {
        headers.remove(CONNECTION);
        headers.remove(UPGRADE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn identity_headers_are_refused_with_their_name() {
        let err = screen(&headers(&[("X-ReMoTe-GrOuP", "system:masters")]), true).unwrap_err();
        assert_eq!(err, HeaderRefusal::IdentityHeader("X-Remote-Group".into()));
        for spelled in ["x_remote_user", "X-Remote_Group", "impersonate_user"] {
            let err = screen(&headers(&[(spelled, "admin")]), true).unwrap_err();
            assert!(matches!(err, HeaderRefusal::IdentityHeader(_)), "{spelled}");
        }
        let err = screen(&headers(&[("impersonate-uid", "0")]), false).unwrap_err();
        assert!(err.to_string().contains("Impersonate-Uid"), "{err}");
        assert!(err.to_string().contains("--allow-impersonation"), "{err}");
        assert_eq!(
            screen(&headers(&[("impersonate-user", "bob")]), true),
            Ok(())
        );
        assert_eq!(
            screen(&headers(&[("accept", "application/json")]), false),
            Ok(())
        );
    }

    #[test]
    fn credentials_and_forwarding_are_not_passed_on() {
        let h = headers(&[
            ("authorization", "Bearer secret"),
            ("proxy-authorization", "Basic x"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-real-ip", "10.0.0.1"),
            ("forwarded", "for=10.0.0.1"),
            ("connection", "keep-alive, x-custom"),
            ("x-custom", "hop"),
            ("keep-alive", "timeout=5"),
            ("host", "proxy.example"),
            ("accept", "application/json"),
            ("impersonate-user", "bob"),
            (
                "sec-websocket-protocol",
                "v5.channel.k8s.io, base64url.bearer.authorization.k8s.io.dG9r",
            ),
        ]);
        let out = upstream_headers(&h, "192.0.2.7".parse().unwrap(), false);
        let names: Vec<_> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            ["accept", "sec-websocket-protocol", "x-forwarded-for"]
        );
        assert_eq!(out["x-forwarded-for"], "192.0.2.7");
        assert_eq!(out["sec-websocket-protocol"], "v5.channel.k8s.io");
    }

    #[test]
    fn upgrades_keep_their_headers() {
        let h = headers(&[("connection", "Upgrade"), ("upgrade", "SPDY/3.1")]);
        let out = upstream_headers(&h, "127.0.0.1".parse().unwrap(), true);
        assert_eq!(out["connection"], "Upgrade");
        assert_eq!(out["upgrade"], "SPDY/3.1");
        let mut resp = headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "SPDY/3.1"),
            ("keep-alive", "x"),
        ]);
        clean_response_headers(&mut resp, true);
        assert_eq!(resp.len(), 2);
        clean_response_headers(&mut resp, false);
        assert!(resp.is_empty());
    }
}
