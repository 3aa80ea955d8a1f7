//! Sending a message to a realm's KDCs: TCP (a 4-byte length before each
//! message, RFC 4120 7.2.2) or UDP, with a deadline on every step.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use super::krb5conf::{KdcAddress, Krb5Config, Transport};
use crate::error::{KerberosError, Result};

/// The largest reply accepted over TCP.
const MAX_REPLY: usize = 1 << 20;
/// KRB_ERR_RESPONSE_TOO_BIG: the reply does not fit UDP; ask over TCP.
const RESPONSE_TOO_BIG: u32 = 52;

/// Sends `message` to the KDCs of `realm` in krb5.conf order until one
/// answers; returns the answer.
pub(crate) fn exchange(
    config: &Krb5Config,
    realm: &str,
    message: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>> {
    let entries = config.kdcs(realm);
    if entries.is_empty() {
        return Err(KerberosError::NoKdc {
            path: config.path().to_owned(),
            realm: realm.to_owned(),
        });
    }
    let mut failures = Vec::new();
    for entry in entries {
        let Some(kdc) = KdcAddress::parse(entry) else {
            failures.push(format!("{entry}: not a host[:port] this client can use"));
            continue;
        };
        match send(&kdc, message, timeout) {
            Ok(reply) => return Ok(reply),
            Err(e) => failures.push(format!("{entry}: {e}")),
        }
    }
    Err(KerberosError::KdcUnreachable {
        realm: realm.to_owned(),
        detail: failures.join("; "),
    })
}

fn send(kdc: &KdcAddress, message: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    let addrs: Vec<SocketAddr> = (kdc.host.as_str(), kdc.port).to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(std::io::Error::other("the name has no address"));
    }
    let mut last = std::io::Error::other("not tried");
    for addr in addrs {
        let attempt = match kdc.transport {
            Transport::Tcp => tcp(addr, message, timeout),
            Transport::Udp => udp(addr, message, timeout),
            // TCP first: no size limit, and every KDC in use serves it.
            Transport::Any => tcp(addr, message, timeout).or_else(|e| {
                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    udp(addr, message, timeout)
                } else {
                    Err(e)
                }
            }),
        };
        match attempt {
            Ok(reply) => return Ok(reply),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn tcp(addr: SocketAddr, message: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let len = u32::try_from(message.len()).map_err(std::io::Error::other)?;
    let mut framed = Vec::with_capacity(message.len() + 4);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    stream.write_all(&framed)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len);
    if len & 0x8000_0000 != 0 || len as usize > MAX_REPLY {
        return Err(std::io::Error::other(format!(
            "a reply of {len} bytes (at most {MAX_REPLY})"
        )));
    }
    let mut reply = vec![0u8; len as usize];
    stream.read_exact(&mut reply)?;
    Ok(reply)
}

fn udp(addr: SocketAddr, message: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().map_err(std::io::Error::other)?
    } else {
        "[::]:0".parse().map_err(std::io::Error::other)?
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(addr)?;
    socket.set_read_timeout(Some(timeout))?;
    socket.set_write_timeout(Some(timeout))?;
    socket.send(message)?;
    let mut buf = vec![0u8; 65536];
    let n = socket.recv(&mut buf)?;
    buf.truncate(n);
    if super::kdc::error_code(&buf) == Some(RESPONSE_TOO_BIG) {
        return tcp(addr, message, timeout);
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::TcpListener;

    fn config(kdcs: &[String]) -> Krb5Config {
        let mut text = String::from("[realms]\n R = {\n");
        for k in kdcs {
            text.push_str(&format!("  kdc = {k}\n"));
        }
        text.push_str(" }\n");
        Krb5Config::parse(&text)
    }

    #[test]
    fn frames_messages_over_tcp_and_tries_the_next_kdc() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut len = [0u8; 4];
            s.read_exact(&mut len).unwrap();
            let mut msg = vec![0u8; u32::from_be_bytes(len) as usize];
            s.read_exact(&mut msg).unwrap();
            let mut reply = vec![0, 0, 0, msg.len() as u8];
            reply.extend(msg.iter().rev());
            s.write_all(&reply).unwrap();
        });
        // A closed port first: its failure is reported only if all fail.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let c = config(&[
            format!("tcp/127.0.0.1:{closed_port}"),
            format!("127.0.0.1:{port}"),
        ]);
        let reply = exchange(&c, "R", b"abc", Duration::from_secs(5)).unwrap();
        assert_eq!(reply, b"cba");
        server.join().unwrap();
    }

    #[test]
    fn a_silent_kdc_times_out_and_none_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let c = config(&[format!("tcp/127.0.0.1:{port}")]);
        let err = exchange(&c, "R", b"abc", Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, KerberosError::KdcUnreachable { .. }), "{err}");
        drop(listener);
        let err = exchange(&config(&[]), "R", b"abc", Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, KerberosError::NoKdc { .. }), "{err}");
    }
}
