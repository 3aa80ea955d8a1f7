//! The one error type of guard-client. Messages never hold a token, a
//! password or a response body; causes are chained with `#[source]`.

use std::path::PathBuf;
use std::time::Duration;

use guard_providers::ProviderError;

/// Why the user's side could not get a token or update a kubeconfig.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The settings are incomplete or contradict each other; the message
    /// names the flag to set.
    #[error("{0}")]
    Invalid(String),
    /// The issuer's discovery document cannot be read.
    #[error("cannot read the OpenID configuration of {issuer}")]
    Discovery {
        /// The issuer.
        issuer: String,
        /// What went wrong.
        #[source]
        source: Box<ProviderError>,
    },
    /// The discovery document names another issuer.
    #[error(
        "cannot read the OpenID configuration of {issuer}: it names the issuer {named}; pass exactly that"
    )]
    IssuerMismatch {
        /// The issuer asked for.
        issuer: String,
        /// The issuer the document names.
        named: String,
    },
    /// The device flow was asked for, but the issuer offers none.
    #[error(
        "{0} offers no device authorization endpoint: log in with the browser flow (--grant-type browser)"
    )]
    NoDeviceEndpoint(String),
    /// The identity provider answered with an OAuth error.
    #[error("the identity provider refused: {0}")]
    Refused(String),
    /// The identity provider could not be reached.
    #[error("cannot reach the identity provider: {0}")]
    Unreachable(String),
    /// The identity provider answered something this client cannot use.
    #[error("unexpected answer from the identity provider: {0}")]
    BadAnswer(String),
    /// The login itself failed (denied, wrong state, listener problems).
    #[error("login failed: {0}")]
    Login(String),
    /// The user did not finish in time.
    #[error("nobody logged in within {}s: run the command again", .0.as_secs())]
    Timeout(Duration),
    /// The token cache could not be read or written.
    #[error("token cache {}", path.display())]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// No AWS credentials were found.
    #[error("no AWS credentials: {0}")]
    NoAwsCredentials(String),
    /// AWS STS refused or failed a call.
    #[error("AWS STS: {0}")]
    Sts(String),
    /// A request could not be signed with SigV4.
    #[error("cannot sign the AWS request")]
    Signing(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A kubeconfig cannot be read or written.
    #[error("{action} {}", path.display())]
    File {
        /// What was being done ("cannot read", "cannot write", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A kubeconfig is not one. Only the position is kept: the parser's
    /// message may quote the file, which holds tokens and passwords.
    #[error("{} is not a kubeconfig{}; fix or move it, guard left it unchanged", path.display(), position.map(|(line, column)| format!(" (line {line}, column {column})")).unwrap_or_default())]
    NotKubeconfig {
        /// The file.
        path: PathBuf,
        /// Where the parser stopped: line and column, from 1.
        position: Option<(u64, u64)>,
    },
    /// Output could not be written as JSON or YAML.
    #[error("cannot write the output")]
    Output(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The HTTP client cannot be built, or a URL flag is wrong.
    #[error(transparent)]
    Provider(Box<ProviderError>),
    /// No Kerberos service ticket (its messages already carry their cause,
    /// so it is not chained again).
    #[error("{0}")]
    Kerberos(guard_kerberos::KerberosError),
    /// The credential cache holds no ticket the user can use.
    #[error("{0}")]
    NeedsKinit(String),
}

impl From<ProviderError> for ClientError {
    fn from(e: ProviderError) -> Self {
        ClientError::Provider(Box::new(e))
    }
}
