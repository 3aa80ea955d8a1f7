//! Why a TLS handshake failed, in words an operator can act on, logged at
//! info without flooding the log.
//!
//! A refused client certificate is the first thing to look for when the API
//! server cannot reach guard (a webhook config with a certificate from
//! another CA, an expired one), so those are logged at info with the peer's
//! address: at most [`LOG_BURST`] lines per [`LOG_WINDOW`], then one line
//! saying how many were left out. Handshakes that fail for other reasons
//! (port scanners, plain HTTP on the TLS port, clients that hang up) are
//! logged at debug. Every failure is counted in
//! `guard_tls_handshake_failures_total{reason}`. Nothing from the
//! certificate beyond the verifier's verdict is logged, and never key
//! material.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustls::CertificateError;

/// Lines logged per window before the rest are only counted.
pub(crate) const LOG_BURST: u32 = 10;
/// The rate limit's window.
pub(crate) const LOG_WINDOW: Duration = Duration::from_secs(60);

/// Why a handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The client sent no certificate (and one is required).
    NoCertificate,
    /// The certificate does not chain to `--tls-ca-file` (an unknown
    /// issuer, or one with the CA's name but not its key: every `guard init
    /// ca` names its CA alike).
    UnknownCa,
    /// Past its notAfter.
    Expired,
    /// Before its notBefore.
    NotYetValid,
    /// Not for client authentication (extended key usage).
    WrongPurpose,
    /// Any other certificate problem (unreadable, revoked, unsupported).
    BadCertificate,
    /// The client refused guard's certificate (it sent an alert).
    ClientRefusedServer,
    /// Not TLS, or TLS guard does not speak.
    Protocol,
    /// The client went away mid-handshake.
    Aborted,
    /// The handshake did not finish within the first-request deadline.
    Timeout,
}

impl Refusal {
    /// Classifies the error returned by the TLS acceptor.
    pub(crate) fn of(error: &std::io::Error) -> Self {
        let Some(tls) = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        else {
            return Refusal::Aborted;
        };
        match tls {
            rustls::Error::NoCertificatesPresented => Refusal::NoCertificate,
            rustls::Error::InvalidCertificate(e) => match e {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    Refusal::UnknownCa
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    Refusal::Expired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    Refusal::NotYetValid
                }
                CertificateError::InvalidPurpose
                | CertificateError::InvalidPurposeContext { .. } => Refusal::WrongPurpose,
                _ => Refusal::BadCertificate,
            },
            rustls::Error::AlertReceived(_) => Refusal::ClientRefusedServer,
            _ => Refusal::Protocol,
        }
    }

    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Refusal::NoCertificate => "no_certificate",
            Refusal::UnknownCa => "unknown_ca",
            Refusal::Expired => "expired",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::WrongPurpose => "wrong_purpose",
            Refusal::BadCertificate => "bad_certificate",
            Refusal::ClientRefusedServer => "client_refused_server_certificate",
            Refusal::Protocol => "protocol",
            Refusal::Aborted => "aborted",
            Refusal::Timeout => "timeout",
        }
    }

    /// What the operator reads.
    fn explain(self) -> &'static str {
        match self {
            Refusal::NoCertificate => {
                "no client certificate (the API server's webhook config must carry one from guard's CA)"
            }
            Refusal::UnknownCa => {
                "client certificate not signed by the CA in --tls-ca-file (a webhook config made with another PKI?)"
            }
            Refusal::Expired => "client certificate expired (renew it with `guard init client`)",
            Refusal::NotYetValid => "client certificate not valid yet (check the clocks)",
            Refusal::WrongPurpose => {
                "client certificate not made for client authentication (extended key usage)"
            }
            Refusal::BadCertificate => "client certificate unusable",
            Refusal::ClientRefusedServer => {
                "the client refused guard's server certificate (does it trust guard's CA, and does the certificate name the address it dials?)"
            }
            Refusal::Protocol => "not a TLS handshake guard accepts",
            Refusal::Aborted => "the client closed the connection during the handshake",
            Refusal::Timeout => "the handshake did not finish within --first-request-timeout",
        }
    }

    /// Worth an operator's attention: a certificate was refused, either way.
    fn is_certificate_problem(self) -> bool {
        !matches!(
            self,
            Refusal::Protocol | Refusal::Aborted | Refusal::Timeout
        )
    }
}

/// Logs refused handshakes, at most [`LOG_BURST`] a window.
#[derive(Debug)]
pub(crate) struct RefusalLog {
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    logged: u32,
    left_out: u64,
}

impl Default for RefusalLog {
    fn default() -> Self {
        RefusalLog {
            window: Mutex::new(Window {
                started: Instant::now(),
                logged: 0,
                left_out: 0,
            }),
        }
    }
}

impl RefusalLog {
    /// Records one failed handshake.
    pub(crate) fn record(
        &self,
        peer: SocketAddr,
        refusal: Refusal,
        detail: &dyn std::fmt::Display,
    ) {
        if !refusal.is_certificate_problem() {
            tracing::debug!(%peer, reason = refusal.label(), "TLS handshake failed: {detail}");
            return;
        }
        let left_out = {
            let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let mut left_out = 0;
            if now.duration_since(w.started) >= LOG_WINDOW {
                left_out = w.left_out;
                *w = Window {
                    started: now,
                    logged: 0,
                    left_out: 0,
                };
            }
            if w.logged >= LOG_BURST {
                w.left_out += 1;
                return;
            }
            w.logged += 1;
            left_out
        };
        if left_out > 0 {
            tracing::info!(
                "{left_out} more refused TLS handshakes were not logged in the last {}s",
                LOG_WINDOW.as_secs()
            );
        }
        tracing::info!(
            %peer,
            reason = refusal.label(),
            "TLS handshake refused: {}",
            refusal.explain()
        );
        tracing::debug!(%peer, "TLS handshake error: {detail}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(e: rustls::Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn certificate_errors_get_their_own_reason() {
        let cases = [
            (
                rustls::Error::NoCertificatesPresented,
                Refusal::NoCertificate,
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
                Refusal::UnknownCa,
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::BadSignature),
                Refusal::UnknownCa,
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::Expired),
                Refusal::Expired,
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::NotValidYet),
                Refusal::NotYetValid,
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::Revoked),
                Refusal::BadCertificate,
            ),
            (
                rustls::Error::AlertReceived(rustls::AlertDescription::UnknownCA),
                Refusal::ClientRefusedServer,
            ),
            (
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
                Refusal::Protocol,
            ),
        ];
        for (error, want) in cases {
            assert_eq!(Refusal::of(&io(error)), want);
        }
        let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        assert_eq!(Refusal::of(&eof), Refusal::Aborted);
    }

    #[test]
    fn the_log_keeps_to_its_burst() {
        let log = RefusalLog::default();
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap_or_else(|_| unreachable!());
        for _ in 0..25 {
            log.record(peer, Refusal::UnknownCa, &"x");
        }
        let w = log.window.lock().unwrap_or_else(|p| p.into_inner());
        assert_eq!(w.logged, LOG_BURST);
        assert_eq!(w.left_out, 25 - u64::from(LOG_BURST));
    }
}
