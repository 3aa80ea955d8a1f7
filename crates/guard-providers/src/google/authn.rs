//! What `google` is as kube-apiserver's in-tree `jwt` authenticator (`guard
//! get authn-config`): Google's issuer, the client id as audience, `hd`
//! equal to the Workspace domain and `email_verified` true, the email as
//! username, the uid from `sub`. Groups come from the Directory API, which
//! the in-tree authenticator cannot ask.

use guard_api::{JwtAuthenticatorSpec, JwtAuthenticators, PrefixedClaim, UsernameMapping};

use super::GoogleOptions;
use super::provider::ISSUER;
use crate::ProviderError;

/// The authenticator for accounts of `domains` (`--google.domain`: the
/// NAME of guard's google client certificate).
pub fn jwt_authenticators(
    o: &GoogleOptions,
    domains: &[String],
) -> Result<JwtAuthenticators, ProviderError> {
    let invalid = |m: String| Err(ProviderError::Invalid(m));
    let mut notes = Vec::new();
    let mut domains: Vec<String> = domains
        .iter()
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    domains.dedup();
    if domains.is_empty() {
        return invalid(
            "google: set --google.domain (the Google Workspace domain whose accounts may log in: the NAME of guard's google client certificate)".into(),
        );
    }
    if domains.iter().any(|d| d.contains(['\'', '\\'])) {
        return invalid(format!("--google.domain: {domains:?} is not a domain name"));
    }
    let Some(client_id) = o.client_id() else {
        return invalid(
            "google: set --google.client-id (your OAuth client's id: the audience of your users' ID tokens)".into(),
        );
    };
    let (required_claims, mut claim_rules) = match &domains[..] {
        [one] => (vec![("hd".to_owned(), one.clone())], Vec::new()),
        many => {
            let list = many
                .iter()
                .map(|d| format!("'{d}'"))
                .collect::<Vec<_>>()
                .join(", ");
            (
                Vec::new(),
                vec![(
                    format!("has(claims.hd) && claims.hd in [{list}]"),
                    "the Google account is not in an allowed Workspace domain".to_owned(),
                )],
            )
        }
    };
    claim_rules.push((
        "has(claims.email_verified) && claims.email_verified == true".into(),
        "the Google account's email address is not verified".into(),
    ));
    if o.sa_json_file.is_some() {
        notes.push("google: guard reads groups from the Directory API; the in-tree authenticator maps none".into());
    }
    notes.push(format!(
        "google: the in-tree authenticator accepts only the issuer {ISSUER}, not the older accounts.google.com guard also takes"
    ));
    let authenticator = JwtAuthenticatorSpec {
        provider: super::NAME,
        issuer: ISSUER.into(),
        discovery_url: None,
        certificate_authority: None,
        audiences: vec![client_id.to_owned()],
        username: UsernameMapping::Claim(PrefixedClaim {
            claim: "email".into(),
            prefix: String::new(),
        }),
        groups: None,
        uid_claim: Some("sub".into()),
        required_claims,
        claim_rules,
    };
    Ok(JwtAuthenticators {
        authenticators: vec![authenticator],
        notes,
    })
}
