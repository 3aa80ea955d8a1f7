//! Whether guard's server certificate (PKI_DIR/pki/server.crt) is one the
//! API server would accept when it dials a given host: `get installer`
//! refuses to deploy one that is not, `get webhook-config` warns.

use guard_pki::PkiDir;

use crate::InstallerError;

/// What is wrong with the server certificate for an API server that dials
/// `host` (not in its addresses, expired, not yet valid), with the command
/// that fixes it; `None` when nothing is. The certificate must exist.
pub fn problem(pki: &PkiDir, host: &str) -> Result<Option<String>, InstallerError> {
    let cert = pki.cert_path(guard_pki::SERVER);
    let pem = pki.read(&cert)?;
    let unreadable = |e: String| InstallerError::Invalid(format!("{}: {e}", cert.display()));
    let why = if !guard_pki::certificate_covers(&pem, host).map_err(unreadable)? {
        format!("is not valid for {host}")
    } else if let Some(why) = guard_pki::certificate_not_valid_now(&pem).map_err(unreadable)? {
        why
    } else {
        return Ok(None);
    };
    let flag = if host.parse::<std::net::IpAddr>().is_ok() {
        "--ips"
    } else {
        "--domains"
    };
    Ok(Some(format!(
        "{} {why}, so the API server would refuse it: run `guard init server {flag}={host} --force` (with the other IPs and names it needs)",
        cert.display()
    )))
}

/// The host of `HOST:PORT` (`[v6]:PORT` too), or `None` when `addr` has
/// no port.
pub fn host_of(addr: &str) -> Option<&str> {
    let (host, port) = addr.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    Some(host.trim_start_matches('[').trim_end_matches(']'))
}
