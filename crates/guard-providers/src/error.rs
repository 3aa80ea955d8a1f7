//! The one error type of this crate: why a provider cannot be configured,
//! built or installed. (Why a *token* is refused is
//! [`guard_auth::CheckError`], the answer of a review.)
//!
//! Messages name the flag to fix. Causes are chained with `#[source]` and
//! not repeated in the message: callers print the chain on one line.

use std::path::PathBuf;

/// Why a provider cannot be configured, built or installed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A name that is no registered provider.
    #[error("unknown provider {name:?}: expected one of {valid}")]
    UnknownProvider {
        /// The name as given (trimmed).
        name: String,
        /// The registered names, comma separated.
        valid: String,
    },
    /// `--auth-providers` names nothing.
    #[error("--auth-providers is empty: name at least one provider")]
    NoProvider,
    /// A flag of a provider that is not enabled.
    #[error("{flag} is set but {provider} is not in --auth-providers")]
    NotEnabled {
        /// The flag given (`--github.base-url`).
        flag: String,
        /// Its provider.
        provider: &'static str,
    },
    /// An option is missing, or options contradict each other. The message
    /// names the flags.
    #[error("{0}")]
    Invalid(String),
    /// A URL flag does not parse.
    #[error("invalid {flag} {value:?}")]
    BadUrl {
        /// The flag (or environment variable).
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// A URL flag that is not http(s).
    #[error("invalid {flag} {value:?}: expected an http(s) URL")]
    NotHttp {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
    },
    /// A URL flag that must be https (or http on loopback).
    #[error("{flag} {value:?} must use https")]
    NotHttps {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
    },
    /// A file named by a flag cannot be read.
    #[error("cannot read {flag} file {}", path.display())]
    ReadFile {
        /// The flag (`--ldap.ca-cert-file`).
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file named by a flag has contents guard cannot use.
    #[error("{flag} {}: {problem}", path.display())]
    BadFile {
        /// The flag.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong (never secret contents).
        problem: String,
        /// The parser's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A section of the EKS mapping is not aws-auth's shape.
    #[error("{section} is not in aws-auth's format")]
    Mapping {
        /// `mapRoles`, `mapUsers`, `mapAccounts` or `the mapping`.
        section: &'static str,
        /// The YAML parser's error.
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// A line of the token file is malformed.
    #[error("token file {}, line {line}: {problem}", path.display())]
    TokenFileLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number where the record starts.
        line: u64,
        /// What is wrong (never the token).
        problem: String,
    },
    /// The token file is empty (0 bytes) on a reload: most likely being
    /// rewritten in place, so the previous tokens stay.
    #[error(
        "token file {} is empty (0 bytes), as while it is being rewritten; to revoke \
         every token on purpose, write a file that holds only a newline",
        path.display()
    )]
    EmptyTokenFile {
        /// The file.
        path: PathBuf,
    },
    /// The shared HTTP client (or one trusting an extra CA) cannot be built.
    #[error("cannot set up the HTTP client")]
    HttpClient(#[source] reqwest::Error),
    /// A request failed, or its answer could not be read (the words of
    /// [`http::describe`](crate::http::describe): the origin, never the
    /// path or query).
    #[error("{0}")]
    Transport(String),
    /// An answer was larger than guard reads.
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
    /// An answer was not the JSON expected.
    #[error("unexpected answer")]
    UnexpectedAnswer(#[source] serde_json::Error),
    /// An answer had an unexpected HTTP status.
    #[error("{url} answered {status}")]
    Status {
        /// The URL asked, without its query.
        url: String,
        /// The status.
        status: reqwest::StatusCode,
    },
    /// A CA file for a TLS connection holds no usable certificate.
    #[error("{flag} {}: not a usable CA certificate", path.display())]
    BadCa {
        /// The flag.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// The TLS library's reason.
        #[source]
        source: Option<rustls::Error>,
    },
}

impl ProviderError {
    /// A [`ProviderError::BadFile`] with a parser error as its cause.
    pub fn bad_file(
        flag: &'static str,
        path: &std::path::Path,
        problem: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ProviderError::BadFile {
            flag,
            path: path.to_owned(),
            problem: problem.into(),
            source: Some(Box::new(source)),
        }
    }

    /// Reads a file named by `flag`.
    pub(crate) fn read(flag: &'static str, path: &std::path::Path) -> Result<Vec<u8>, Self> {
        std::fs::read(path).map_err(|source| ProviderError::ReadFile {
            flag,
            path: path.to_owned(),
            source,
        })
    }
}
