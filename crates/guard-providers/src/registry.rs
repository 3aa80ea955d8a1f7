//! The registry: every provider guard knows, one line each.
//!
//! The command line (`--auth-providers`, `-o`, every provider's flags),
//! `guard run`, `guard get installer`, `guard get webhook-config` and
//! `guard init client` walk this list; nothing else names providers.

use std::fmt;
use std::str::FromStr;

use crate::ProviderError;
use crate::spec::{ClientName, Register, Registration};
use crate::{azure, eks, github, gitlab, google, ldap, oidc, token_auth};

/// Every provider, in Go Guard's order (the order of the installer's
/// provider flags and Secrets).
pub static PROVIDERS: &[&dyn Registration] = &[
    &Register::<token_auth::TokenAuthOptions>::NEW,
    &Register::<google::GoogleOptions>::NEW,
    &Register::<azure::AzureOptions>::NEW,
    &Register::<ldap::LdapOptions>::NEW,
    &Register::<github::GithubOptions>::NEW,
    &Register::<gitlab::GitlabOptions>::NEW,
    &Register::<oidc::OidcOptions>::NEW,
    &Register::<eks::EksOptions>::NEW,
];

/// The registered provider called `name` (case-insensitive, surrounding
/// whitespace ignored, as Go Guard reads it).
pub fn find(name: &str) -> Option<&'static dyn Registration> {
    let name = name.trim();
    PROVIDERS
        .iter()
        .copied()
        .find(|p| p.name().eq_ignore_ascii_case(name))
}

/// Every registered name, in registry order.
pub fn names() -> impl Iterator<Item = &'static str> {
    PROVIDERS.iter().map(|p| p.name())
}

/// The registered names, comma separated, for help texts and errors.
pub fn valid_names() -> String {
    names().collect::<Vec<_>>().join(", ")
}

/// A registered provider's name, as `-o` and `--auth-providers` take it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProviderName(&'static str);

impl ProviderName {
    /// The canonical (lower-case) name.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The provider's registration.
    pub fn registration(self) -> &'static dyn Registration {
        // Only `from_str` makes a ProviderName, from a registered name.
        find(self.0).unwrap_or(PROVIDERS[0])
    }

    /// The client certificate's name for this provider: `name` trimmed, or
    /// the provider's name where the name may be left out.
    pub fn client_name(self, name: Option<&str>) -> Result<String, ProviderError> {
        match (
            name.map(str::trim).filter(|n| !n.is_empty()),
            self.registration().client_name(),
        ) {
            (Some(name), _) => Ok(name.to_owned()),
            (None, ClientName::Optional) => Ok(self.0.to_owned()),
            (None, ClientName::Required(meaning)) => Err(ProviderError::Invalid(format!(
                "missing client name: give it before -o ({meaning}), e.g. `NAME -o {self}`"
            ))),
        }
    }
}

/// The providers of one client certificate, in the order a review tries
/// them (`-o github,token-auth`: one `O` each). Not empty, no repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientProviders(Vec<ProviderName>);

impl ClientProviders {
    /// The list as given; refuses an empty one and a repeated provider.
    pub fn new(providers: Vec<ProviderName>) -> Result<Self, ProviderError> {
        if providers.is_empty() {
            return Err(ProviderError::Invalid(format!(
                "missing provider: pass -o PROVIDER ({})",
                valid_names()
            )));
        }
        for (i, p) in providers.iter().enumerate() {
            if providers[..i].contains(p) {
                return Err(ProviderError::Invalid(format!(
                    "-o names {p} twice: list each provider once, in the order to try them"
                )));
            }
        }
        Ok(ClientProviders(providers))
    }

    /// The providers, in order.
    pub fn providers(&self) -> &[ProviderName] {
        &self.0
    }

    /// The client certificate's name: `name` trimmed, or, where every
    /// provider lets it be left out, the providers as `-o` spells them.
    pub fn client_name(&self, name: Option<&str>) -> Result<String, ProviderError> {
        if let [one] = self.0.as_slice() {
            return one.client_name(name);
        }
        if let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) {
            return Ok(name.to_owned());
        }
        for p in &self.0 {
            if let ClientName::Required(meaning) = p.registration().client_name() {
                return Err(ProviderError::Invalid(format!(
                    "missing client name: give it before -o ({p} reads {meaning} from it), e.g. `NAME -o {self}`"
                )));
            }
        }
        Ok(self.to_string())
    }
}

impl fmt::Display for ClientProviders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(p.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for ProviderName {
    type Err = ProviderError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        find(s)
            .map(|p| ProviderName(p.name()))
            .ok_or_else(|| ProviderError::UnknownProvider {
                name: s.trim().to_owned(),
                valid: valid_names(),
            })
    }
}

impl fmt::Display for ProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for ProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lower_case_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for name in names() {
            assert_eq!(name, name.to_ascii_lowercase());
            assert!(seen.insert(name), "{name} registered twice");
            assert_eq!(name.parse::<ProviderName>().unwrap().as_str(), name);
        }
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn parses_case_insensitively_and_trims() {
        assert_eq!("Github".parse::<ProviderName>().unwrap().as_str(), "github");
        assert_eq!(
            " TOKEN-AUTH ".parse::<ProviderName>().unwrap().as_str(),
            "token-auth"
        );
        let err = "appscode".parse::<ProviderName>().unwrap_err().to_string();
        assert!(
            err.contains("\"appscode\"") && err.contains("token-auth"),
            "{err}"
        );
    }

    #[test]
    fn client_names_default_only_where_they_carry_no_meaning() {
        let optional: Vec<_> = names()
            .filter(|n| find(n).unwrap().client_name() == ClientName::Optional)
            .collect();
        assert_eq!(optional, ["azure", "ldap", "oidc"]);
        let github: ProviderName = "github".parse().unwrap();
        let e = github.client_name(Some("  ")).unwrap_err().to_string();
        assert!(e.contains("GitHub organisation"), "{e}");
        assert_eq!(github.client_name(Some(" acme ")).unwrap(), "acme");
        let gitlab: ProviderName = "gitlab".parse().unwrap();
        let e = gitlab.client_name(None).unwrap_err().to_string();
        assert!(e.contains("GitLab group"), "{e}");
        let ldap: ProviderName = "ldap".parse().unwrap();
        assert_eq!(ldap.client_name(None).unwrap(), "ldap");
    }

    #[test]
    fn a_client_may_name_several_providers_once_each() {
        let list = |names: &[&str]| {
            ClientProviders::new(names.iter().map(|n| n.parse().unwrap()).collect())
        };
        let both = list(&["GitHub", "token-auth"]).unwrap();
        assert_eq!(both.to_string(), "github,token-auth");
        assert_eq!(both.client_name(Some(" acme ")).unwrap(), "acme");
        let e = both.client_name(None).unwrap_err().to_string();
        assert!(e.contains("github reads the GitHub organisation"), "{e}");
        assert_eq!(
            list(&["ldap", "oidc"]).unwrap().client_name(None).unwrap(),
            "ldap,oidc"
        );
        let e = list(&["github", "token-auth", "github"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("names github twice"), "{e}");
        assert!(list(&[]).is_err());
    }
}
