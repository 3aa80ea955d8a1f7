//! What `oidc` is as kube-apiserver's in-tree `jwt` authenticator (`guard
//! get authn-config`): kube-apiserver's own `--oidc-*` semantics, which
//! guard's oidc provider follows. The username claim is prefixed with
//! `ISSUER#` unless the claim is `email` or a prefix is given (`-` for
//! none), groups get their prefix, the uid comes from `sub`, and required
//! claims become claim rules.

use guard_api::{JwtAuthenticatorSpec, JwtAuthenticators, PrefixedClaim, UsernameMapping};

use super::options::{FLAG_CA_FILE, OidcOptions};
use crate::{ProviderError, http};

/// The authenticator.
pub fn jwt_authenticators(o: &OidcOptions) -> Result<JwtAuthenticators, ProviderError> {
    o.validate()?;
    let claim = o.username_claim.clone();
    let prefix = match o.username_prefix.as_deref() {
        Some("-") => String::new(),
        Some(p) => p.to_owned(),
        None if claim == "email" => String::new(),
        None => format!("{}#", o.issuer_url),
    };
    let discovery_url = match &o.discovery_url {
        Some(url) => {
            let flag = "--oidc.discovery-url";
            let joined = http::base_url(url, flag)?
                .join(".well-known/openid-configuration")
                .map_err(|source| ProviderError::BadUrl {
                    flag,
                    value: url.clone(),
                    source,
                })?;
            Some(joined.to_string())
        }
        None => None,
    };
    let certificate_authority = match &o.ca_file {
        Some(file) => {
            Some(
                std::fs::read_to_string(file).map_err(|source| ProviderError::ReadFile {
                    flag: FLAG_CA_FILE,
                    path: file.clone(),
                    source,
                })?,
            )
        }
        None => None,
    };
    let authenticator = JwtAuthenticatorSpec {
        provider: super::NAME,
        issuer: o.issuer_url.clone(),
        discovery_url,
        certificate_authority,
        audiences: vec![o.client_id.clone()],
        username: UsernameMapping::Claim(PrefixedClaim { claim, prefix }),
        groups: o.groups_claim.as_ref().map(|claim| PrefixedClaim {
            claim: claim.clone(),
            prefix: o.groups_prefix.clone().unwrap_or_default(),
        }),
        uid_claim: Some("sub".into()),
        required_claims: o.required_claims.clone(),
        claim_rules: Vec::new(),
    };
    Ok(JwtAuthenticators {
        authenticators: vec![authenticator],
        notes: Vec::new(),
    })
}
