//! The pod's plain-HTTP probe port. guard requires a client certificate at
//! the TLS handshake, which kubelet's probes cannot present, so `guard run`
//! also serves `/healthz`, `/readyz` and `/metrics` over plain HTTP
//! (`--probe-addr`), and the probes (and Prometheus) use that port. The
//! Service does not expose it. `guard proxy` serves the same paths on
//! `--metrics-addr`.

use k8s_openapi::api::core::v1::{ContainerPort, HTTPGetAction, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The probe port, unless the review port already uses it.
pub const PROBE_PORT: i32 = 8080;
/// The container port's name.
const PORT_NAME: &str = "probes";

/// Where the probes reach guard.
#[derive(Debug, Clone)]
pub(crate) struct ProbePort {
    /// `Some(host)` on the host network (the probe dials that address);
    /// `None` in the pod's own network (every interface).
    host: Option<String>,
    port: i32,
}

impl ProbePort {
    /// The probe port of a pod whose review port is `review_port`.
    pub(crate) fn new(host_network: bool, host: &str, review_port: i32) -> Self {
        let port = if review_port == PROBE_PORT {
            PROBE_PORT + 1
        } else {
            PROBE_PORT
        };
        ProbePort {
            host: host_network.then(|| host.to_owned()),
            port,
        }
    }

    /// The probe port `port` in the pod's own network (`guard proxy`'s
    /// `--metrics-addr`).
    pub(crate) fn named(port: i32) -> Self {
        ProbePort { host: None, port }
    }

    /// `guard run`'s `--probe-addr`.
    pub(crate) fn arg(&self) -> String {
        match &self.host {
            Some(host) if host.contains(':') => format!("--probe-addr=[{host}]:{}", self.port),
            Some(host) => format!("--probe-addr={host}:{}", self.port),
            None => format!("--probe-addr=:{}", self.port),
        }
    }

    /// The container port entry.
    pub(crate) fn container_port(&self) -> ContainerPort {
        ContainerPort {
            name: Some(PORT_NAME.into()),
            container_port: self.port,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }
    }

    /// An HTTP GET of `/healthz` on the probe port.
    pub(crate) fn probe(&self, initial_delay: i32, period: i32) -> Probe {
        Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/healthz".into()),
                port: match self.host {
                    Some(_) => IntOrString::Int(self.port),
                    None => IntOrString::String(PORT_NAME.into()),
                },
                host: self.host.clone(),
                scheme: Some("HTTP".into()),
                ..HTTPGetAction::default()
            }),
            initial_delay_seconds: Some(initial_delay),
            period_seconds: Some(period),
            timeout_seconds: Some(5),
            failure_threshold: Some(3),
            ..Probe::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_port_never_takes_the_review_port() {
        assert_eq!(
            ProbePort::new(false, "10.96.10.96", 443).arg(),
            "--probe-addr=:8080"
        );
        assert_eq!(
            ProbePort::new(true, "127.0.0.1", 8080).arg(),
            "--probe-addr=127.0.0.1:8081"
        );
        assert_eq!(
            ProbePort::new(true, "::1", 8443).arg(),
            "--probe-addr=[::1]:8080"
        );
    }
}
