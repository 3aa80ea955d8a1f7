//! What `eks` adds to the installer: the mapping file, checked, in Secret
//! `guard-eks-auth`.

use std::collections::BTreeMap;

use guard_api::{InstallerPart, InstallerSecret};

use super::mapping::Mapping;
use super::options::{EksOptions, FLAG_MAPPING_FILE};
use crate::ProviderError;

const MOUNT: &str = "/etc/guard/auth/eks";

/// The installer part.
pub fn part(o: &EksOptions) -> Result<InstallerPart, ProviderError> {
    let mut args = Vec::new();
    let mut secret = None;
    if let Some(path) = &o.mapping_file {
        let text = ProviderError::read(FLAG_MAPPING_FILE, path)?;
        Mapping::parse(&String::from_utf8_lossy(&text)).map_err(|e| {
            ProviderError::bad_file(FLAG_MAPPING_FILE, path, "not an aws-auth mapping", e)
        })?;
        args.push(format!("{FLAG_MAPPING_FILE}={MOUNT}/mapping.yaml"));
        secret = Some(InstallerSecret {
            name: "guard-eks-auth".into(),
            mount_path: MOUNT.into(),
            files: BTreeMap::from([("mapping.yaml".to_owned(), text)]),
            env: Vec::new(),
        });
    }
    if let Some(e) = &o.sts_endpoint {
        args.push(format!("--eks.sts-endpoint={e}"));
    }
    Ok(InstallerPart {
        args,
        secret,
        ..InstallerPart::default()
    })
}
