//! What `azure` is as kube-apiserver's in-tree `jwt` authenticator (`guard
//! get authn-config`): the tenant's v2 and v1 issuers (one authenticator
//! each), the client id as audience, the username from `upn`, else
//! `unique_name`, else `oid`, the uid from `oid`; groups from the token's
//! `groups` claim when guard reads them from there too. None with
//! `--azure.enable-pop`: the in-tree authenticator cannot check PoP tokens.

use guard_api::{JwtAuthenticatorSpec, JwtAuthenticators, PrefixedClaim, UsernameMapping};

use super::AzureOptions;
use crate::ProviderError;

/// The authenticators, one per issuer.
pub fn jwt_authenticators(o: &AzureOptions) -> Result<JwtAuthenticators, ProviderError> {
    let invalid = |m: &str| Err(ProviderError::Invalid(m.to_owned()));
    let mut notes = Vec::new();
    if o.tenant_id.trim().is_empty() {
        return invalid("azure is enabled: set --azure.tenant-id");
    }
    if o.enable_pop {
        // The in-tree authenticator reads bare JWTs: it would refuse every
        // envelope kubelogin sends and accept the access token without the
        // proof of its key, which is what --azure.enable-pop refuses.
        o.token_issuers()?;
        return Ok(JwtAuthenticators {
            authenticators: Vec::new(),
            notes: vec!["azure: with --azure.enable-pop guard accepts only proof-of-possession tokens, which kube-apiserver's in-tree authenticator cannot check (it would accept the access token without its key's proof and refuse the PoP envelopes kubelogin sends), so none is written for azure; keep guard's token webhook (--authentication-token-webhook-config-file, see guard get kubeadm-config)".into()],
        });
    }
    let client_id = o.client_id.trim();
    if client_id.is_empty() {
        return invalid(
            "azure: set --azure.client-id: the in-tree authenticator always checks the tokens' audience",
        );
    }
    if !o.verify_client_id {
        notes.push(format!(
            "azure: the in-tree authenticator checks that the tokens' audience is {client_id}, which guard does not with --azure.verify-clientID=false"
        ));
    }
    let from_token = o.skip_group_membership_resolution || o.graph_call_on_overage_claim;
    let groups = if from_token {
        notes.push("azure: a token whose groups overflowed (more than 200) is refused by the in-tree authenticator, where guard asks Microsoft Graph".into());
        Some(PrefixedClaim {
            claim: "groups".into(),
            prefix: String::new(),
        })
    } else {
        notes.push("azure: guard reads groups from Microsoft Graph, which the in-tree authenticator cannot; it maps no groups (with --azure.skip-group-membership-resolution it maps the token's groups claim)".into());
        None
    };
    notes.push("azure: the in-tree authenticator cannot set guard's extra oid (keys must be domain-prefixed), which guard's Azure authorization webhook needs, and does not fall back to the email of guests without upn".into());
    let issuers = o.token_issuers()?;
    let authenticator = |issuer: String, discovery_url: Option<String>| {
        JwtAuthenticatorSpec {
        provider: super::NAME,
        issuer,
        discovery_url,
        certificate_authority: None,
        audiences: vec![client_id.to_owned()],
        username: UsernameMapping::Expression(
            "has(claims.upn) ? claims.upn : has(claims.unique_name) ? claims.unique_name : claims.oid"
                .into(),
        ),
        groups: groups.clone(),
        uid_claim: Some("oid".into()),
        required_claims: Vec::new(),
        claim_rules: vec![(
            "has(claims.oid)".into(),
            "the Azure AD token has no oid claim".into(),
        )],
    }
    };
    Ok(JwtAuthenticators {
        authenticators: vec![
            authenticator(issuers.v2, None),
            authenticator(issuers.v1, Some(issuers.v1_discovery)),
        ],
        notes,
    })
}
