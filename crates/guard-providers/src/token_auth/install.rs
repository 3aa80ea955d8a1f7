//! What `token-auth` adds to the installer: the token file, checked, in
//! Secret `guard-token-auth` as `token.csv` (Go Guard's names).

use std::collections::BTreeMap;

use guard_api::{InstallerPart, InstallerSecret};

use super::options::FLAG;
use super::{TokenAuthOptions, TokenFile};
use crate::ProviderError;

const MOUNT: &str = "/etc/guard/auth/token";

/// The installer part.
pub fn part(options: &TokenAuthOptions) -> Result<InstallerPart, ProviderError> {
    let file = options.file()?;
    let data = ProviderError::read(FLAG, file)?;
    TokenFile::parse(&data).map_err(|(line, problem)| ProviderError::TokenFileLine {
        path: file.to_owned(),
        line,
        problem,
    })?;
    Ok(InstallerPart {
        args: vec![format!("{FLAG}={MOUNT}/token.csv")],
        secret: Some(InstallerSecret {
            name: "guard-token-auth".into(),
            mount_path: MOUNT.into(),
            files: BTreeMap::from([("token.csv".to_owned(), data)]),
            env: Vec::new(),
        }),
        ..InstallerPart::default()
    })
}
