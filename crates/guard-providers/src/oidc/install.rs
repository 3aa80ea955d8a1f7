//! What `oidc` adds to the installer: its flags, and Secret
//! `guard-oidc-auth` with the issuer's CA certificate when one is given.

use std::collections::BTreeMap;

use guard_api::{InstallerPart, InstallerSecret};

use super::options::{FLAG_CA_FILE, OidcOptions};
use crate::ProviderError;

const MOUNT: &str = "/etc/guard/auth/oidc";

/// The installer part.
pub fn part(o: &OidcOptions) -> Result<InstallerPart, ProviderError> {
    let mut args = vec![
        format!("--oidc.issuer-url={}", o.issuer_url),
        format!("--oidc.client-id={}", o.client_id),
        format!("--oidc.username-claim={}", o.username_claim),
    ];
    let optional = [
        ("--oidc.discovery-url", &o.discovery_url),
        ("--oidc.username-prefix", &o.username_prefix),
        ("--oidc.groups-claim", &o.groups_claim),
        ("--oidc.groups-prefix", &o.groups_prefix),
    ];
    for (flag, value) in optional {
        if let Some(v) = value {
            args.push(format!("{flag}={v}"));
        }
    }
    for (k, v) in &o.required_claims {
        args.push(format!("--oidc.required-claim={k}={v}"));
    }
    let secret = match &o.ca_file {
        Some(path) => {
            args.push(format!("{FLAG_CA_FILE}={MOUNT}/ca.crt"));
            Some(InstallerSecret {
                name: "guard-oidc-auth".into(),
                mount_path: MOUNT.into(),
                files: BTreeMap::from([(
                    "ca.crt".to_owned(),
                    ProviderError::read(FLAG_CA_FILE, path)?,
                )]),
                env: Vec::new(),
            })
        }
        None => None,
    };
    if o.allow_system_groups {
        args.push("--oidc.allow-system-groups=true".into());
    }
    Ok(InstallerPart {
        args,
        secret,
        ..InstallerPart::default()
    })
}
