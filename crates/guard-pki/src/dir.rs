use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{CertificateAuthority, IssuedPair, PkiError};

/// Whether an existing certificate or key may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Fail with [`PkiError::AlreadyExists`].
    Refuse,
    /// Replace it.
    Allow,
}

/// The `pki/` directory below guard's data directory (`--pki-dir`).
#[derive(Debug, Clone)]
pub struct PkiDir {
    dir: PathBuf,
}

/// Base name of the CA files.
pub const CA: &str = "ca";
/// Base name of the webhook server's files.
pub const SERVER: &str = "server";
/// Base name of `guard proxy`'s front-proxy client certificate and key.
pub const FRONT_PROXY_CLIENT: &str = "front-proxy-client";

impl PkiDir {
    /// The `pki` directory below `data_dir` (Guard's `--pki-dir` names the
    /// parent: `--pki-dir=/root/.guard` means `/root/.guard/pki/`).
    pub fn new(data_dir: impl AsRef<Path>) -> Self {
        PkiDir {
            dir: data_dir.as_ref().join("pki"),
        }
    }

    /// The directory holding the files.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `BASE.crt` in this directory.
    pub fn cert_path(&self, base: &str) -> PathBuf {
        self.dir.join(format!("{base}.crt"))
    }

    /// `BASE.key` in this directory.
    pub fn key_path(&self, base: &str) -> PathBuf {
        self.dir.join(format!("{base}.key"))
    }

    /// The base name of a client pair: `lower(NAME)@PROVIDER`, as Go Guard
    /// names it (the certificate's `CN` keeps the case as typed).
    pub fn client_base(name: &str, provider: &str) -> Result<String, PkiError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(PkiError::Generate("the client name is empty".into()));
        }
        if name.contains(['/', '\\', '\0']) || name.starts_with('.') {
            return Err(PkiError::Generate(format!(
                "client name {name:?} cannot be used as a file name (no '/', '\\' or leading '.')"
            )));
        }
        Ok(format!("{}@{provider}", name.to_lowercase()))
    }

    /// The files of `base` that already exist.
    pub fn existing(&self, base: &str) -> Vec<PathBuf> {
        [self.cert_path(base), self.key_path(base)]
            .into_iter()
            .filter(|p| p.exists())
            .collect()
    }

    /// Reads a file of this directory as text.
    pub fn read(&self, path: &Path) -> Result<String, PkiError> {
        fs::read_to_string(path).map_err(|e| PkiError::io("cannot read", path, e))
    }

    /// Loads the CA (`ca.crt` + `ca.key`).
    pub fn load_ca(&self) -> Result<CertificateAuthority, PkiError> {
        let (cert, key) = (self.cert_path(CA), self.key_path(CA));
        if !cert.exists() || !key.exists() {
            return Err(PkiError::CaMissing {
                dir: self.dir.clone(),
            });
        }
        CertificateAuthority::from_pem(&self.read(&cert)?, &self.read(&key)?, &cert, &key)
    }

    /// Writes `BASE.crt` (0644) and `BASE.key` (0600), creating the directory
    /// (0700) when needed. Each file is written to a temporary file and
    /// renamed into place, so a crash never leaves half a key behind.
    pub fn write_pair(
        &self,
        base: &str,
        pair: &IssuedPair,
        overwrite: Overwrite,
    ) -> Result<(), PkiError> {
        if overwrite == Overwrite::Refuse
            && let Some(path) = self.existing(base).into_iter().next()
        {
            return Err(PkiError::AlreadyExists { path });
        }
        self.create()?;
        write_atomic(&self.key_path(base), pair.key_pem.as_bytes(), 0o600)?;
        write_atomic(&self.cert_path(base), pair.cert_pem.as_bytes(), 0o644)?;
        Ok(())
    }

    /// Creates the directory with mode 0700, or tightens an existing one.
    fn create(&self) -> Result<(), PkiError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| PkiError::io("cannot create", &self.dir, e))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| PkiError::io("cannot set the mode of", &self.dir, e))
    }
}

fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // The mode given to open() is reduced by the umask; set it exactly.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        PkiError::io("cannot write", path, e)
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::{KeyAlgorithm, Validity};

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn client_files_are_named_like_go_guards() {
        assert_eq!(
            PkiDir::client_base(" Acme ", "github").unwrap(),
            "acme@github"
        );
        for bad in ["", "  ", "../x", "a/b", ".hidden"] {
            assert!(PkiDir::client_base(bad, "github").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pairs_are_written_0600_in_a_0700_directory_and_not_replaced_silently() {
        let data = tempfile::tempdir().unwrap();
        let pki = PkiDir::new(data.path());
        assert!(matches!(pki.load_ca(), Err(PkiError::CaMissing { .. })));
        let (_, pair) =
            CertificateAuthority::generate(KeyAlgorithm::EcdsaP256, Validity::CA_DEFAULT).unwrap();
        pki.write_pair(CA, &pair, Overwrite::Refuse).unwrap();
        assert_eq!(pki.path(), data.path().join("pki"));
        assert_eq!(mode(pki.path()), 0o700);
        assert_eq!(mode(&pki.key_path(CA)), 0o600);
        assert_eq!(mode(&pki.cert_path(CA)), 0o644);
        assert_eq!(pki.existing(CA).len(), 2);
        assert!(matches!(
            pki.write_pair(CA, &pair, Overwrite::Refuse),
            Err(PkiError::AlreadyExists { .. })
        ));
        pki.write_pair(CA, &pair, Overwrite::Allow).unwrap();
        assert_eq!(pki.load_ca().unwrap().cert_pem(), pair.cert_pem);
        let leftovers: Vec<_> = fs::read_dir(pki.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
