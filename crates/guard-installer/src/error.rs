use guard_pki::PkiError;

/// Why a manifest or config cannot be generated.
#[derive(Debug, thiserror::Error)]
pub enum InstallerError {
    /// A PKI file is missing; the message names the `guard init` command to run.
    #[error("{what} not found in {dir}: run `{command}`")]
    Missing {
        /// What is missing ("CA certificate", "client certificate ...").
        what: String,
        /// The pki directory searched.
        dir: String,
        /// The command that creates it.
        command: String,
    },
    /// A PKI file exists but cannot be read.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The options do not make a working installation.
    #[error("{0}")]
    Invalid(String),
    /// A file named by a flag cannot be read.
    #[error("cannot read {flag} file {}", path.display())]
    File {
        /// The flag.
        flag: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file cannot be written.
    #[error("cannot write {path}: {source}{hint}")]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// What to do about it.
        hint: &'static str,
        /// The cause.
        source: std::io::Error,
    },
    /// Serialising the output failed.
    #[error("cannot serialise the output")]
    Serialize(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<guard_api::yaml::YamlError> for InstallerError {
    fn from(e: guard_api::yaml::YamlError) -> Self {
        InstallerError::Serialize(Box::new(e))
    }
}
