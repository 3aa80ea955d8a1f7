//! What the authorization webhook adds to `guard get installer`: its flags
//! (every one that differs from its default), and, for resource discovery,
//! the kubeconfig guard reads the cluster's API resources with, in Secret
//! `guard-azure-authz` (the installed pod mounts no service account token).

use std::collections::BTreeMap;
use std::path::Path;

use guard_api::{InstallerPart, InstallerSecret};

use crate::{AuthzArgs, AuthzError};

/// The Secret holding the discovery kubeconfig.
pub const SECRET: &str = "guard-azure-authz";
/// Where the installer mounts it.
pub const MOUNT: &str = "/etc/guard/authz/azure";

/// The installer part, `None` without `--authz-providers`. `read` reads the
/// discovery kubeconfig (`--azure.kubeconfig-file`). Checks the options
/// first ([`AuthzArgs::validate`]); `azure_authn` tells whether `azure` is
/// in `--auth-providers` (authorization decides for the users it logs in).
pub fn part(
    args: &AuthzArgs,
    shared: &crate::AzureShared,
    azure_authn: bool,
    read: impl FnOnce(&Path) -> std::io::Result<Vec<u8>>,
) -> Result<Option<InstallerPart>, AuthzError> {
    if !args.enabled() {
        return Ok(None);
    }
    args.validate(shared)
        .map_err(|e| AuthzError::Config(format!("--authz-providers: {e}")))?;
    if args.azure_enabled() && !azure_authn {
        return Err(AuthzError::Config(
            "--authz-providers=azure decides for Azure AD users, whom the azure provider logs in: add azure to --auth-providers".into(),
        ));
    }
    if args.azure_enabled() && args.discover_resources && args.kubeconfig_file.is_none() {
        return Err(AuthzError::Config(
            "--azure.discover-resources: the installed pod has no service account token, so give guard a kubeconfig to read the cluster's API resources with (--azure.kubeconfig-file; it goes into Secret guard-azure-authz)".into(),
        ));
    }
    let secret = match (&args.kubeconfig_file, args.discover_resources) {
        (Some(path), true) => {
            let kubeconfig = read(path).map_err(|e| {
                AuthzError::Config(format!("--azure.kubeconfig-file {}: {e}", path.display()))
            })?;
            Some(InstallerSecret {
                name: SECRET.into(),
                mount_path: MOUNT.into(),
                files: BTreeMap::from([("kubeconfig".to_owned(), kubeconfig)]),
                env: Vec::new(),
            })
        }
        _ => None,
    };
    let mounted = secret
        .as_ref()
        .map(|s| format!("{}/kubeconfig", s.mount_path));
    Ok(Some(InstallerPart {
        provider: "azure",
        args: args.installer_flags(mounted.as_deref()),
        secret,
    }))
}
