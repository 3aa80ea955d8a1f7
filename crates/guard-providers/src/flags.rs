//! The provider flags of `guard run` and `guard get installer`, assembled
//! from the registry: `--auth-providers`, every provider's own flags, and
//! the flags they share.

use std::sync::Arc;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command};
use guard_api::{InstallerPart, JwtAuthenticators};
use guard_auth::Provider;

use crate::ProviderError;
use crate::registry::{PROVIDERS, ProviderName, valid_names};
use crate::spec::{AuthnContext, BuildContext, Configured, Registration};

const AUTH_PROVIDERS: &str = "auth-providers";
const JWT_LEEWAY: &str = "jwt-leeway";

/// `--auth-providers`, the options of every registered provider, and the
/// options they share. A clap [`Args`](clap::Args) built from the registry,
/// so the binary flattens it into `guard run` and `guard get installer`.
#[derive(Debug)]
pub struct ProviderFlags {
    auth_providers: Vec<ProviderName>,
    /// `--jwt-leeway`: clock skew tolerated on JWTs (oidc, google, azure).
    pub jwt_leeway: Duration,
    entries: Vec<Entry>,
}

/// One registered provider's options, and the first of its flags given on
/// the command line.
#[derive(Debug)]
struct Entry {
    name: &'static str,
    options: Box<dyn Configured>,
    flag_given: Option<String>,
}

/// The enabled providers, their options checked.
pub struct Enabled<'a> {
    entries: Vec<&'a Entry>,
    jwt_leeway: Duration,
}

/// The server-side providers of `guard run`, and their background tasks.
pub struct Built {
    /// The providers, in registry order.
    pub providers: Vec<Arc<dyn Provider>>,
    /// Reloaders; abort them when the server stops.
    pub background: Vec<tokio::task::JoinHandle<()>>,
}

impl ProviderFlags {
    /// `--auth-providers` as given (repeats kept).
    pub fn auth_providers(&self) -> &[ProviderName] {
        &self.auth_providers
    }

    /// Provider `T`'s options as read from the command line, enabled or
    /// not (the authorization webhook shares the azure provider's tenant,
    /// client and environment).
    pub fn options<T: crate::spec::ProviderSpec>(&self) -> Option<&T> {
        self.entries
            .iter()
            .find_map(|e| e.options.as_any().downcast_ref::<T>())
    }

    /// Checks the flags: at least one provider, no flag of a provider that
    /// is not enabled, and each enabled provider's own checks. Returns the
    /// enabled providers, each once, in registry order.
    pub fn enabled(&self) -> Result<Enabled<'_>, ProviderError> {
        let entries = self.enabled_entries()?;
        for entry in &entries {
            entry.options.validate()?;
        }
        Ok(Enabled {
            entries,
            jwt_leeway: self.jwt_leeway,
        })
    }

    /// `guard get authn-config`: each enabled provider (each once, in
    /// registry order) with its in-tree `jwt` authenticators, or `None`
    /// where kube-apiserver has none for it. The same checks as
    /// [`enabled`](Self::enabled), except that OpenID Connect style
    /// providers check only what their authenticators need.
    pub fn jwt_authenticators(
        &self,
        context: &AuthnContext<'_>,
    ) -> Result<Vec<(&'static str, Option<JwtAuthenticators>)>, ProviderError> {
        self.enabled_entries()?
            .into_iter()
            .map(|e| Ok((e.name, e.options.jwt_authenticators(context)?)))
            .collect()
    }

    /// The enabled providers' names, each once, in registry order, after
    /// the checks that need no provider's own options: at least one
    /// provider, no flag of a provider that is not enabled.
    pub fn enabled_names(&self) -> Result<Vec<&'static str>, ProviderError> {
        Ok(self.enabled_entries()?.iter().map(|e| e.name).collect())
    }

    /// At least one provider, no flag of a provider that is not enabled;
    /// the enabled providers' entries, each once, in registry order.
    fn enabled_entries(&self) -> Result<Vec<&Entry>, ProviderError> {
        if self.auth_providers.is_empty() {
            return Err(ProviderError::NoProvider);
        }
        let is_enabled = |name: &str| self.auth_providers.iter().any(|p| p.as_str() == name);
        for entry in &self.entries {
            if let Some(flag) = &entry.flag_given
                && !is_enabled(entry.name)
            {
                return Err(ProviderError::NotEnabled {
                    flag: flag.clone(),
                    provider: entry.name,
                });
            }
        }
        Ok(self.entries.iter().filter(|e| is_enabled(e.name)).collect())
    }

    fn read(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let auth_providers = matches
            .get_many::<ProviderName>(AUTH_PROVIDERS)
            .map(|v| v.copied().collect())
            .unwrap_or_default();
        let jwt_leeway = matches
            .get_one::<Duration>(JWT_LEEWAY)
            .copied()
            .unwrap_or(Duration::from_secs(30));
        let entries = PROVIDERS
            .iter()
            .map(|registration| {
                Ok(Entry {
                    name: registration.name(),
                    options: registration.read(matches)?,
                    flag_given: flag_given(*registration, matches),
                })
            })
            .collect::<Result<_, clap::Error>>()?;
        Ok(ProviderFlags {
            auth_providers,
            jwt_leeway,
            entries,
        })
    }
}

/// The first flag of `registration` that the command line sets (not a
/// default, not the environment).
fn flag_given(registration: &dyn Registration, matches: &ArgMatches) -> Option<String> {
    let own = registration.add_flags(Command::new("flags"));
    own.get_arguments()
        .filter(|arg| matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine))
        .find_map(|arg| arg.get_long().map(|long| format!("--{long}")))
}

impl Enabled<'_> {
    /// The enabled providers' names, in registry order.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.name).collect()
    }

    /// What each enabled provider adds to `guard get installer`, in
    /// registry order (Go Guard's).
    pub fn installer_parts(&self) -> Result<Vec<InstallerPart>, ProviderError> {
        self.entries
            .iter()
            .map(|e| e.options.installer_part())
            .collect()
    }

    /// Builds the enabled providers for `guard run`. Runs inside the async
    /// runtime (reloaders are spawned on it).
    pub fn build(&self, reload_interval: Duration) -> Result<Built, ProviderError> {
        let context = BuildContext::new(self.jwt_leeway, reload_interval);
        let providers = self
            .entries
            .iter()
            .map(|e| e.options.build(&context))
            .collect::<Result<_, _>>()?;
        Ok(Built {
            providers,
            background: context.into_background(),
        })
    }
}

/// Parses `90s`, `15m`, `8760h`, `365d`, `2m0s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{e} (examples: 30s, 15m, 8760h, 365d)"))
}

/// Reads a secret flag or environment variable into a type whose `Debug`
/// is redacted.
pub fn parse_secret(s: &str) -> Result<secrecy::SecretString, std::convert::Infallible> {
    Ok(secrecy::SecretString::from(s.to_owned()))
}

impl clap::FromArgMatches for ProviderFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Self::read(matches)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::read(matches)?;
        Ok(())
    }
}

impl clap::Args for ProviderFlags {
    fn augment_args(command: Command) -> Command {
        let mut command = command.arg(
            Arg::new(AUTH_PROVIDERS)
                .long(AUTH_PROVIDERS)
                .value_name("PROVIDERS")
                .value_delimiter(',')
                .action(clap::ArgAction::Append)
                .required(true)
                .value_parser(clap::value_parser!(ProviderName))
                .help(format!(
                    "Providers to serve, comma separated: {}. `guard run` refuses a client certificate whose O is not listed; `guard proxy` tries them in this order",
                    valid_names()
                )),
        );
        for registration in PROVIDERS {
            command = registration.add_flags(command);
        }
        command.arg(
            Arg::new(JWT_LEEWAY)
                .long(JWT_LEEWAY)
                .value_name("DURATION")
                .default_value("30s")
                .value_parser(parse_duration)
                .help("Clock skew tolerated on the exp, nbf and iat of JWTs (oidc, google, azure)"),
        )
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        providers: ProviderFlags,
    }

    fn parse(args: &[&str]) -> Result<ProviderFlags, String> {
        let mut all = vec!["guard"];
        all.extend(args);
        Cli::try_parse_from(all)
            .map(|c| c.providers)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_assembled_command_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_of_a_disabled_provider_are_refused() {
        let flags = parse(&[
            "--auth-providers=gitlab",
            "--github.base-url=https://x.example",
        ])
        .unwrap();
        let e = flags.enabled().err().unwrap().to_string();
        assert_eq!(
            e,
            "--github.base-url is set but github is not in --auth-providers"
        );
    }

    #[test]
    fn enabled_providers_come_once_in_registry_order_and_are_validated() {
        let flags = parse(&[
            "--auth-providers=GitLab,token-auth,gitlab",
            "--token-auth-file=/t.csv",
        ])
        .unwrap();
        assert_eq!(flags.auth_providers().len(), 3);
        assert_eq!(flags.enabled().unwrap().names(), ["token-auth", "gitlab"]);
        let flags = parse(&["--auth-providers=token-auth"]).unwrap();
        let e = flags.enabled().err().unwrap().to_string();
        assert!(e.contains("--token-auth-file"), "{e}");
        assert!(
            parse(&["--auth-providers=nope"])
                .unwrap_err()
                .contains("unknown provider")
        );
        assert_eq!(
            parse(&["--auth-providers=github", "--jwt-leeway=1m"])
                .unwrap()
                .jwt_leeway,
            Duration::from_secs(60)
        );
    }
}
