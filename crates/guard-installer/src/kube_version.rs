//! The Kubernetes minor version an output is made for, and what each
//! version of kube-apiserver accepts.

use std::fmt;
use std::str::FromStr;

/// A Kubernetes release, `1.MINOR` (the patch level does not matter here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    /// The minor version: 34 for Kubernetes 1.34.
    pub minor: u32,
}

impl KubeVersion {
    /// The newest release whose behaviour the outputs follow when no
    /// version is given: `apiserver.config.k8s.io/v1` for authentication
    /// (GA in 1.34) and authorization (GA in 1.32).
    pub const LATEST: KubeVersion = KubeVersion { minor: 34 };

    /// `AuthenticationConfiguration` exists (v1beta1, on by default).
    pub const STRUCTURED_AUTHN: KubeVersion = KubeVersion { minor: 30 };
    /// `AuthenticationConfiguration` is served as `v1`.
    pub const STRUCTURED_AUTHN_V1: KubeVersion = KubeVersion { minor: 34 };
    /// `anonymous` with `conditions` works without a feature gate
    /// (AnonymousAuthConfigurableEndpoints: alpha in 1.31, beta and on in 1.32).
    pub const ANONYMOUS_CONDITIONS: KubeVersion = KubeVersion { minor: 32 };
    /// `AuthorizationConfiguration` exists (v1beta1, on by default), and
    /// kubeadm leaves out its own `--authorization-mode` when
    /// `--authorization-config` is given.
    pub const STRUCTURED_AUTHZ: KubeVersion = KubeVersion { minor: 30 };
    /// `AuthorizationConfiguration` is served as `v1`.
    pub const STRUCTURED_AUTHZ_V1: KubeVersion = KubeVersion { minor: 32 };
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor)
    }
}

impl FromStr for KubeVersion {
    type Err = String;

    /// Accepts `1.33`, `v1.33`, `1.33.2` and `v1.33.0-rc.1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a Kubernetes version (examples: 1.33, v1.34.1)");
        let trimmed = s.trim();
        let trimmed = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let mut parts = trimmed.splitn(3, '.');
        let major = parts.next().ok_or_else(bad)?;
        let minor = parts.next().ok_or_else(bad)?;
        if major != "1" || minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if let Some(rest) = parts.next()
            && !rest.bytes().next().is_some_and(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let minor = minor.parse().map_err(|_| bad())?;
        Ok(KubeVersion { minor })
    }
}

#[cfg(test)]
mod tests {
    use super::KubeVersion;

    #[test]
    fn parses_the_forms_people_write() {
        for (text, minor) in [
            ("1.33", 33),
            ("v1.30", 30),
            ("1.34.2", 34),
            ("v1.31.0-rc.1", 31),
        ] {
            assert_eq!(text.parse::<KubeVersion>(), Ok(KubeVersion { minor }));
        }
        for bad in ["2.1", "1", "1.x", "v1.", "1.30.x", "", "1.3a"] {
            assert!(bad.parse::<KubeVersion>().is_err(), "{bad}");
        }
        assert_eq!(KubeVersion { minor: 29 }.to_string(), "1.29");
    }
}
