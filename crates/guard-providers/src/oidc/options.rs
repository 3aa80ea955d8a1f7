//! `--oidc.*`: a generic OpenID Connect issuer, with kube-apiserver's
//! `--oidc-*` semantics.

use std::path::PathBuf;

use crate::{ProviderError, http};

pub(crate) const FLAG_CA_FILE: &str = "--oidc.ca-file";

/// Options of the `oidc` provider.
#[derive(Debug, Clone, clap::Args)]
pub struct OidcOptions {
    /// Issuer URL (https); the `iss` of the tokens.
    #[arg(
        id = "oidc.issuer-url",
        long = "oidc.issuer-url",
        value_name = "URL",
        default_value = "",
        hide_default_value = true
    )]
    pub issuer_url: String,
    /// Where discovery is fetched when it is not served at the issuer URL.
    #[arg(
        id = "oidc.discovery-url",
        long = "oidc.discovery-url",
        value_name = "URL"
    )]
    pub discovery_url: Option<String>,
    /// Client id: the audience tokens must carry.
    #[arg(
        id = "oidc.client-id",
        long = "oidc.client-id",
        value_name = "ID",
        default_value = "",
        hide_default_value = true
    )]
    pub client_id: String,
    /// Claim used as the username.
    #[arg(
        id = "oidc.username-claim",
        long = "oidc.username-claim",
        value_name = "CLAIM",
        default_value = "sub"
    )]
    pub username_claim: String,
    /// Prefix of usernames; `-` for none. Default: ISSUER# unless the claim is email.
    #[arg(
        id = "oidc.username-prefix",
        long = "oidc.username-prefix",
        value_name = "PREFIX"
    )]
    pub username_prefix: Option<String>,
    /// Claim holding the groups (a string or a list).
    #[arg(
        id = "oidc.groups-claim",
        long = "oidc.groups-claim",
        value_name = "CLAIM"
    )]
    pub groups_claim: Option<String>,
    /// Prefix of group names.
    #[arg(
        id = "oidc.groups-prefix",
        long = "oidc.groups-prefix",
        value_name = "PREFIX"
    )]
    pub groups_prefix: Option<String>,
    /// A claim that must be present with this value (repeatable).
    #[arg(id = "oidc.required-claim", long = "oidc.required-claim", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub required_claims: Vec<(String, String)>,
    /// CA certificate(s) of the issuer's HTTPS server.
    #[arg(id = "oidc.ca-file", long = "oidc.ca-file", value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Let reserved `system:` names (groups such as system:masters, and
    /// usernames) through. Default: such groups are dropped and logged, and
    /// such a username is not authenticated.
    #[arg(id = "oidc.allow-system-groups", long = "oidc.allow-system-groups", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub allow_system_groups: bool,
}

impl OidcOptions {
    /// Checks the options of the enabled provider; messages name the flag.
    pub fn validate(&self) -> Result<(), ProviderError> {
        if self.issuer_url.trim().is_empty() {
            return Err(ProviderError::Invalid(
                "oidc is enabled: set --oidc.issuer-url".into(),
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err(ProviderError::Invalid(
                "oidc is enabled: set --oidc.client-id (the audience of the tokens)".into(),
            ));
        }
        http::https_url(&self.issuer_url, "--oidc.issuer-url")?;
        if let Some(d) = &self.discovery_url {
            http::https_url(d, "--oidc.discovery-url")?;
        }
        Ok(())
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))?;
    if k.trim().is_empty() {
        return Err(format!("{s:?} has an empty key"));
    }
    Ok((k.trim().to_owned(), v.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_options;

    #[test]
    fn issuer_and_client_id_are_required_and_https() {
        let parse = |args: &[&str]| parse_options::<OidcOptions>(args).unwrap().validate();
        let e = parse(&[]).unwrap_err().to_string();
        assert!(e.contains("--oidc.issuer-url"), "{e}");
        let e = parse(&["--oidc.issuer-url=https://idp.example"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--oidc.client-id"), "{e}");
        let e = parse(&["--oidc.issuer-url=http://idp.example", "--oidc.client-id=k"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("https"), "{e}");
        assert!(
            parse(&[
                "--oidc.issuer-url=https://idp.example",
                "--oidc.client-id=k"
            ])
            .is_ok()
        );
        let o: OidcOptions = parse_options(&[
            "--oidc.required-claim=hd=example.com",
            "--oidc.required-claim=x=a=b",
        ])
        .unwrap();
        assert_eq!(
            o.required_claims,
            [
                ("hd".to_owned(), "example.com".to_owned()),
                ("x".to_owned(), "a=b".to_owned())
            ]
        );
        assert!(parse_options::<OidcOptions>(&["--oidc.required-claim=novalue"]).is_err());
    }
}
