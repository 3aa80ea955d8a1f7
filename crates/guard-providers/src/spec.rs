//! What a provider folder implements, and how the registry holds it.
//!
//! A provider's options type is its clap [`Args`](clap::Args) (Go Guard's
//! flag names, the one set of defaults) and implements [`ProviderSpec`]:
//! its name, what its client certificate's `CN` means, `validate()`, its
//! installer part and its server-side constructor. The registry keeps one
//! [`Register`] per provider, seen through the object-safe
//! [`Registration`], so that the command line, `guard run`, `guard get
//! installer` and `guard init client` can all walk one list.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use guard_api::{InstallerPart, JwtAuthenticators};
use guard_auth::Provider;

use crate::ProviderError;

/// What the client certificate's common name (`CN`) holds for a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientName {
    /// It carries meaning and must be given: the text says what it is
    /// ("the GitHub organisation").
    Required(&'static str),
    /// It may be left out; it then defaults to the provider's name.
    Optional,
}

/// A provider, as its folder defines it. Implemented by the provider's
/// options type.
pub trait ProviderSpec:
    clap::Args + clap::FromArgMatches + std::fmt::Debug + Send + Sync + 'static
{
    /// The name: the value of `--auth-providers` and `-o`, the `O` of client
    /// certificates, the suffix of `NAME@PROVIDER.crt`.
    const NAME: &'static str;
    /// What the client certificate's `CN` holds.
    const CLIENT_NAME: ClientName;

    /// Checks the options of an enabled provider (files are read later);
    /// the messages name the flags to fix.
    fn validate(&self) -> Result<(), ProviderError>;

    /// What the provider adds to `guard get installer`: flags for `guard
    /// run` (with file paths inside the pod), a Secret, environment
    /// variables. Called after [`validate`](Self::validate).
    fn installer_part(&self) -> Result<InstallerPart, ProviderError>;

    /// The server-side provider for `guard run`. Called after
    /// [`validate`](Self::validate), inside the async runtime.
    fn build(&self, context: &BuildContext) -> Result<Arc<dyn Provider>, ProviderError>;

    /// What the provider is as kube-apiserver's in-tree `jwt` authenticator
    /// (`guard get authn-config`), from the same options: `None` where
    /// kube-apiserver has none for it. Checks the options itself (an
    /// OpenID Connect style provider needs less here than `guard run`
    /// does, e.g. no Graph credentials); the default runs
    /// [`validate`](Self::validate) and returns `None`.
    fn jwt_authenticators(
        &self,
        context: &AuthnContext<'_>,
    ) -> Result<Option<JwtAuthenticators>, ProviderError> {
        let _ = context;
        self.validate()?;
        Ok(None)
    }
}

/// What `guard get authn-config` gives the providers besides their own
/// options.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthnContext<'a> {
    /// `--google.domain`: the Google Workspace domains whose accounts may
    /// log in (the NAME of guard's google client certificate).
    pub google_domains: &'a [String],
}

/// What building a provider may use: the options the providers share, the
/// one HTTP client, and a place for background tasks (file reloaders).
pub struct BuildContext {
    /// Clock skew tolerated on JWTs (`--jwt-leeway`).
    pub jwt_leeway: Duration,
    /// How often watched files are checked (`--reload-interval`).
    pub reload_interval: Duration,
    http: OnceLock<reqwest::Client>,
    background: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl BuildContext {
    /// A context with these shared settings.
    pub fn new(jwt_leeway: Duration, reload_interval: Duration) -> Self {
        BuildContext {
            jwt_leeway,
            reload_interval,
            http: OnceLock::new(),
            background: Mutex::new(Vec::new()),
        }
    }

    /// The HTTP client (and connection pool) every network provider shares,
    /// built on first use.
    pub fn http(&self) -> Result<reqwest::Client, ProviderError> {
        if let Some(client) = self.http.get() {
            return Ok(client.clone());
        }
        let client = crate::http::client()?;
        Ok(self.http.get_or_init(|| client).clone())
    }

    /// Keeps a background task (a reloader) until the server stops.
    pub fn keep_running(&self, task: tokio::task::JoinHandle<()>) {
        self.background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    /// The background tasks, for the caller to abort at shutdown.
    pub fn into_background(self) -> Vec<tokio::task::JoinHandle<()>> {
        self.background
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// A registered provider, seen without its options type.
pub trait Registration: Sync {
    /// [`ProviderSpec::NAME`].
    fn name(&self) -> &'static str;
    /// [`ProviderSpec::CLIENT_NAME`].
    fn client_name(&self) -> ClientName;
    /// Adds the provider's flags to a command.
    fn add_flags(&self, command: clap::Command) -> clap::Command;
    /// Reads the provider's options from parsed flags.
    fn read(&self, matches: &clap::ArgMatches) -> Result<Box<dyn Configured>, clap::Error>;
}

/// A provider's options, read from the command line, seen without their
/// type.
pub trait Configured: std::fmt::Debug + Send + Sync {
    /// [`ProviderSpec::validate`].
    fn validate(&self) -> Result<(), ProviderError>;
    /// [`ProviderSpec::installer_part`], with the provider's name filled in.
    fn installer_part(&self) -> Result<InstallerPart, ProviderError>;
    /// [`ProviderSpec::build`].
    fn build(&self, context: &BuildContext) -> Result<Arc<dyn Provider>, ProviderError>;
    /// [`ProviderSpec::jwt_authenticators`].
    fn jwt_authenticators(
        &self,
        context: &AuthnContext<'_>,
    ) -> Result<Option<JwtAuthenticators>, ProviderError>;
    /// The options themselves, for [`ProviderFlags::options`](crate::ProviderFlags::options).
    fn as_any(&self) -> &dyn std::any::Any;
}

/// The registry's handle on provider `T`: `&Register::<T>::NEW` is its
/// line in [`PROVIDERS`](crate::registry::PROVIDERS).
pub struct Register<T>(PhantomData<fn() -> T>);

impl<T> Register<T> {
    /// The handle.
    pub const NEW: Self = Register(PhantomData);
}

impl<T: ProviderSpec> Registration for Register<T> {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn client_name(&self) -> ClientName {
        T::CLIENT_NAME
    }

    fn add_flags(&self, command: clap::Command) -> clap::Command {
        T::augment_args(command)
    }

    fn read(&self, matches: &clap::ArgMatches) -> Result<Box<dyn Configured>, clap::Error> {
        Ok(Box::new(Options(T::from_arg_matches(matches)?)))
    }
}

/// `T`'s options behind [`Configured`].
#[derive(Debug)]
struct Options<T>(T);

impl<T: ProviderSpec> Configured for Options<T> {
    fn validate(&self) -> Result<(), ProviderError> {
        self.0.validate()
    }

    fn as_any(&self) -> &dyn std::any::Any {
        &self.0
    }

    fn installer_part(&self) -> Result<InstallerPart, ProviderError> {
        Ok(InstallerPart {
            provider: T::NAME,
            ..self.0.installer_part()?
        })
    }

    fn build(&self, context: &BuildContext) -> Result<Arc<dyn Provider>, ProviderError> {
        self.0.build(context)
    }

    fn jwt_authenticators(
        &self,
        context: &AuthnContext<'_>,
    ) -> Result<Option<JwtAuthenticators>, ProviderError> {
        self.0.jwt_authenticators(context)
    }
}

/// Parses `args` (flags only, no program name) into options `T`, with the
/// defaults of its flag definitions: for tests and examples.
pub fn parse_options<T>(args: &[&str]) -> Result<T, clap::Error>
where
    T: clap::Args + clap::FromArgMatches,
{
    let command = T::augment_args(clap::Command::new("guard").no_binary_name(true));
    T::from_arg_matches(&command.try_get_matches_from(args)?)
}
