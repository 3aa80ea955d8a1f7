//! What guard knows about logging in to each OpenID Connect provider: the
//! issuer, the scopes and the parameters Google and Azure AD need, turned
//! with the user's settings into a [`LoginConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};

use super::{Grant, LoginConfig};
use crate::ClientError;

/// A provider's login preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Google: `https://accounts.google.com`, `email`, and the parameters
    /// that make Google hand out refresh tokens.
    Google,
    /// Azure AD: the tenant's v2.0 issuer, `profile email offline_access`.
    Azure,
    /// Any issuer: `email offline_access`.
    Generic,
}

/// The user's login settings (`guard get token`'s flags).
#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// `--issuer-url`.
    pub issuer_url: Option<String>,
    /// `--azure.tenant-id`.
    pub azure_tenant_id: Option<String>,
    /// `--client-id`.
    pub client_id: Option<String>,
    /// `--client-secret`.
    pub client_secret: Option<SecretString>,
    /// `--scope`: more scopes.
    pub scopes: Vec<String>,
    /// `--grant-type`.
    pub grant: Grant,
    /// `--listen-address`.
    pub listen: SocketAddr,
    /// `--redirect-host`.
    pub redirect_host: String,
    /// `--no-browser`.
    pub no_browser: bool,
    /// `--login-timeout`.
    pub login_timeout: Duration,
    /// `--token-cache-dir` (default: the user cache directory).
    pub token_cache_dir: Option<PathBuf>,
}

impl Preset {
    /// The scopes always asked for.
    fn scopes(self) -> &'static [&'static str] {
        match self {
            Preset::Google => &["email"],
            Preset::Azure => &["profile", "email", "offline_access"],
            Preset::Generic => &["email", "offline_access"],
        }
    }

    /// Extra authorization parameters. Google gives refresh tokens to
    /// `access_type=offline`, and again on later logins only with
    /// `prompt=consent`.
    fn auth_params(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Preset::Google => &[("access_type", "offline"), ("prompt", "consent")],
            Preset::Azure | Preset::Generic => &[],
        }
    }

    /// The issuer when `--issuer-url` is not given.
    fn default_issuer(self, settings: &LoginSettings) -> Option<String> {
        match self {
            Preset::Google => Some("https://accounts.google.com".into()),
            Preset::Azure => settings
                .azure_tenant_id
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(|t| format!("https://login.microsoftonline.com/{t}/v2.0")),
            Preset::Generic => None,
        }
    }

    /// The login for `settings`, checked (so `guard login` fails now, not
    /// when kubectl first runs the plugin).
    pub fn login_config(self, settings: &LoginSettings) -> Result<LoginConfig, ClientError> {
        let invalid = |m: &str| ClientError::Invalid(m.to_owned());
        let client_id = settings
            .client_id
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                invalid("set --client-id (the OAuth client ID of the login application; ask your cluster operator)")
            })?;
        let issuer = settings
            .issuer_url
            .clone()
            .filter(|i| !i.is_empty())
            .or_else(|| self.default_issuer(settings))
            .ok_or_else(|| match self {
                Preset::Azure => invalid("set --azure.tenant-id (or --issuer-url)"),
                _ => invalid("set --issuer-url (the issuer the guard server trusts)"),
            })?;
        let issuer = url::Url::parse(&issuer)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http"))
            .ok_or_else(|| {
                ClientError::Invalid(format!("--issuer-url {issuer} is not an http(s) URL"))
            })?;
        let mut scopes: Vec<String> = self.scopes().iter().map(|s| (*s).to_owned()).collect();
        for scope in &settings.scopes {
            if !scope.is_empty() && !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
        let cache_dir = match &settings.token_cache_dir {
            Some(dir) => dir.clone(),
            None => dirs::cache_dir()
                .ok_or_else(|| {
                    invalid("cannot find the user cache directory; pass --token-cache-dir")
                })?
                .join("guard/oidc"),
        };
        Ok(LoginConfig {
            issuer,
            client_id,
            client_secret: settings
                .client_secret
                .clone()
                .filter(|s| !s.expose_secret().is_empty()),
            scopes,
            auth_params: self
                .auth_params()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            grant: settings.grant,
            listen: settings.listen,
            redirect_host: settings.redirect_host.clone(),
            open_browser: crate::browser::can_open(settings.no_browser),
            login_timeout: settings.login_timeout,
            cache_dir,
            min_validity: Duration::from_secs(60),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LoginSettings {
        LoginSettings {
            issuer_url: None,
            azure_tenant_id: None,
            client_id: Some("app".into()),
            client_secret: None,
            scopes: vec!["groups".into(), "email".into()],
            grant: Grant::Auto,
            listen: "127.0.0.1:0".parse().unwrap(),
            redirect_host: "127.0.0.1".into(),
            no_browser: true,
            login_timeout: Duration::from_secs(300),
            token_cache_dir: Some("/tmp/cache".into()),
        }
    }

    #[test]
    fn presets_fill_in_issuers_scopes_and_parameters() {
        let google = Preset::Google.login_config(&settings()).unwrap();
        assert_eq!(google.issuer.as_str(), "https://accounts.google.com/");
        assert_eq!(google.scopes, ["email", "groups"]);
        assert!(
            google
                .auth_params
                .contains(&("prompt".into(), "consent".into()))
        );
        let azure = Preset::Azure.login_config(&LoginSettings {
            azure_tenant_id: Some("t1".into()),
            ..settings()
        });
        assert_eq!(
            azure.unwrap().issuer.as_str(),
            "https://login.microsoftonline.com/t1/v2.0"
        );
        let e = Preset::Azure
            .login_config(&settings())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--azure.tenant-id"), "{e}");
        let e = Preset::Generic
            .login_config(&settings())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--issuer-url"), "{e}");
        let e = Preset::Google
            .login_config(&LoginSettings {
                client_id: None,
                ..settings()
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("--client-id"), "{e}");
    }
}
