//! What `azure` adds to the installer: its flags (all of them, unlike Go
//! Guard's installer, which drops the PoP flags and rewrites arc and
//! passthrough to client-credential), and Secret `guard-azure-auth` with
//! `client-secret`, passed as `AZURE_CLIENT_SECRET` (when a secret is given:
//! aks and passthrough need none).

use std::collections::BTreeMap;

use guard_api::{InstallerPart, InstallerSecret, SecretEnv};
use secrecy::ExposeSecret as _;

use super::AzureOptions;

/// The installer part.
pub fn part(o: &AzureOptions) -> InstallerPart {
    let mut args = Vec::new();
    if !o.environment.is_empty() {
        args.push(format!("--azure.environment={}", o.environment));
    }
    if !o.client_id.is_empty() {
        args.push(format!("--azure.client-id={}", o.client_id));
    }
    args.push(format!("--azure.tenant-id={}", o.tenant_id));
    args.push(format!(
        "--azure.auth-mode={}",
        o.auth_mode.trim().to_ascii_lowercase()
    ));
    if let Some(url) = o.aks_token_url.as_deref().filter(|u| !u.trim().is_empty()) {
        args.push(format!("--azure.aks-token-url={}", url.trim()));
    }
    args.push(format!("--azure.use-group-uid={}", o.use_group_uid));
    args.push(format!(
        "--azure.graph-call-on-overage-claim={}",
        o.graph_call_on_overage_claim
    ));
    args.push(format!("--azure.verify-clientID={}", o.verify_client_id));
    args.push(format!(
        "--azure.skip-group-membership-resolution={}",
        o.skip_group_membership_resolution
    ));
    if !o.auth_resource_id.trim().is_empty() {
        args.push(format!(
            "--azure.auth-resource-id={}",
            o.auth_resource_id.trim()
        ));
    }
    if !o.region.trim().is_empty() {
        args.push(format!("--azure.region={}", o.region.trim()));
    }
    for (flag, value) in [
        ("arc-msi-url", &o.arc_msi_url),
        ("arc-obo-url", &o.arc_obo_url),
    ] {
        if let Some(v) = value {
            args.push(format!("--azure.{flag}={}", v.trim()));
        }
    }
    if o.enable_pop {
        args.push("--azure.enable-pop=true".into());
        args.push(format!("--azure.pop-hostname={}", o.pop_hostname.trim()));
        args.push(format!(
            "--azure.pop-token-validity-duration={}",
            humantime::format_duration(o.pop_token_validity_duration)
        ));
    }
    let secret = o.client_secret().map(|value| InstallerSecret {
        name: "guard-azure-auth".into(),
        mount_path: "/etc/guard/auth/azure".into(),
        files: BTreeMap::from([(
            "client-secret".to_owned(),
            value.expose_secret().as_bytes().to_vec(),
        )]),
        env: vec![SecretEnv::new("AZURE_CLIENT_SECRET", "client-secret")],
    });
    if o.allow_system_groups {
        args.push("--azure.allow-system-groups=true".into());
    }
    InstallerPart {
        args,
        secret,
        ..InstallerPart::default()
    }
}
