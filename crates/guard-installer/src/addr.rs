//! `--addr HOST:PORT`, the address at which the API server reaches guard,
//! parsed strictly: it becomes the `server` URL of the webhook kubeconfig,
//! the Service's ClusterIP and port, and the name the server certificate
//! must be valid for, so nothing but a host and a port may get through (no
//! path, query, user name or scheme).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::InstallerError;

/// A parsed `--addr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// A DNS name, an IPv4 address, or an IPv6 address (without brackets).
    pub host: String,
    /// 1-65535.
    pub port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses `HOST:PORT`: HOST a DNS name, an IPv4 address or `[IPv6]`, PORT
/// 1-65535; nothing else.
pub fn parse(addr: &str) -> Result<HostPort, InstallerError> {
    let bad = |why: &str| {
        InstallerError::Invalid(format!(
            "invalid --addr {addr:?}: {why}; expected HOST:PORT (a DNS name, an IPv4 address \
             or [IPv6], and a port 1-65535), e.g. 10.96.10.96:443"
        ))
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the port is not a number"));
    }
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ => return Err(bad("the port is out of range")),
    };
    let host = if let Some(inner) = host.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| bad("an unclosed ["))?;
        inner
            .parse::<Ipv6Addr>()
            .map_err(|_| bad("not an IPv6 address inside [ ]"))?;
        inner.to_owned()
    } else if host.contains(':') {
        return Err(bad("an IPv6 address must be written in [ ]"));
    } else if host.parse::<Ipv4Addr>().is_ok() {
        host.to_owned()
    } else if is_dns_name(host) {
        host.to_ascii_lowercase()
    } else {
        return Err(bad("the host is not a DNS name or an IP address"));
    };
    Ok(HostPort { host, port })
}

/// A DNS host name: dot-separated labels of 1-63 letters, digits and
/// hyphens, not starting or ending with a hyphen, at most 253 characters,
/// and not all-numeric in its last label (that would be a broken IPv4
/// address).
fn is_dns_name(host: &str) -> bool {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(label_ok)
        && !host
            .rsplit('.')
            .next()
            .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports_only() {
        let ok = |a: &str| parse(a).unwrap().to_string();
        assert_eq!(ok("10.96.10.96:443"), "10.96.10.96:443");
        assert_eq!(ok("[::1]:8443"), "[::1]:8443");
        assert_eq!(ok("guard.kube-system.svc:443"), "guard.kube-system.svc:443");
        assert_eq!(ok("Guard.Example:1"), "guard.example:1");
        assert_eq!(ok("localhost:65535"), "localhost:65535");
        for bad in [
            "evil.com:443/x?y#",
            "user@evil:443",
            "https://evil:443",
            "10.96.10.96",
            ":443",
            "host:0",
            "host:99999",
            "host:+443",
            "host: 443",
            "::1:443",
            "[::1:443",
            "[nope]:443",
            "999.1.1.1:443",
            "-host:443",
            "a..b:443",
            "host name:443",
            "host\n:443",
            "évil:443",
        ] {
            let err = parse(bad).err().unwrap_or_else(|| panic!("{bad} parsed"));
            assert_eq!(err.to_string().lines().count(), 1, "{err}");
        }
    }
}
