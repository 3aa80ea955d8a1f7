//! What `google` adds to the installer: its flags, and Secret
//! `guard-google-auth` with the service account key as `sa.json`.

use std::collections::BTreeMap;

use guard_api::{InstallerPart, InstallerSecret};

use super::options::{FLAG_SA_JSON_FILE, GoogleOptions};
use crate::ProviderError;

const MOUNT: &str = "/etc/guard/auth/google";

/// The installer part.
pub fn part(o: &GoogleOptions) -> Result<InstallerPart, ProviderError> {
    let mut args = Vec::new();
    if let Some(id) = o.client_id() {
        args.push(format!("--google.client-id={id}"));
    }
    let mut secret = None;
    if let (Some(file), Some(admin)) = (&o.sa_json_file, &o.admin_email) {
        let json = ProviderError::read(FLAG_SA_JSON_FILE, file)?;
        serde_json::from_slice::<serde_json::Value>(&json)
            .map_err(|e| ProviderError::bad_file(FLAG_SA_JSON_FILE, file, "not JSON", e))?;
        args.push(format!("{FLAG_SA_JSON_FILE}={MOUNT}/sa.json"));
        args.push(format!("--google.admin-email={admin}"));
        secret = Some(InstallerSecret {
            name: "guard-google-auth".into(),
            mount_path: MOUNT.into(),
            files: BTreeMap::from([("sa.json".to_owned(), json)]),
            env: Vec::new(),
        });
    }
    if o.allow_system_groups {
        args.push("--google.allow-system-groups=true".into());
    }
    Ok(InstallerPart {
        args,
        secret,
        ..InstallerPart::default()
    })
}
