//! `guard get authn-config -o oidc` promises an in-tree jwt authenticator
//! that maps a token to the same user as guard's oidc provider configured
//! with the same flags. For several flag sets and tokens, this asks the
//! real `guard run` (against a local issuer signing real RS256 tokens) and
//! applies the generated claim mappings the way kube-apiserver's JWT
//! authenticator does (k8s.io/apiserver plugin/pkg/authenticator/token/oidc:
//! claim validation rules with required values, the username claim with
//! `email_verified` checked for `email`, the prefix, a groups claim that is
//! a string or a list, the uid claim), and compares.
#![allow(clippy::unwrap_used)]

mod common;

use common::peers::OidcIssuer;
use common::require::Peer;
use common::server::Reviewer;
use serde_json::{Value, json};

/// The user kube-apiserver would derive from `claims` with `authenticator`,
/// or `None` when it would refuse the token. Issuer, audience and signature
/// are not evaluated here: every token below passes them.
fn in_tree(authenticator: &Value, claims: &Value) -> Option<(String, Vec<String>, String)> {
    for rule in authenticator["claimValidationRules"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let claim = rule["claim"].as_str().expect("only claim rules for oidc");
        if claims[claim].as_str()? != rule["requiredValue"].as_str().unwrap() {
            return None;
        }
    }
    let mappings = &authenticator["claimMappings"];
    let username_claim = mappings["username"]["claim"].as_str().unwrap();
    let name = claims[username_claim].as_str()?;
    // With the email claim, email_verified must be true when present.
    if username_claim == "email"
        && claims.get("email_verified").is_some()
        && !claims["email_verified"].as_bool()?
    {
        return None;
    }
    let username = format!("{}{name}", mappings["username"]["prefix"].as_str().unwrap());
    let mut groups = Vec::new();
    if let Some(claim) = mappings["groups"]["claim"].as_str()
        && let Some(value) = claims.get(claim)
    {
        let prefix = mappings["groups"]["prefix"].as_str().unwrap();
        let values: Vec<&str> = match value {
            Value::String(s) => vec![s.as_str()],
            Value::Array(list) => list.iter().map(Value::as_str).collect::<Option<_>>()?,
            _ => return None,
        };
        groups = values.iter().map(|g| format!("{prefix}{g}")).collect();
    }
    let uid = claims[mappings["uid"]["claim"].as_str().unwrap()]
        .as_str()?
        .to_owned();
    Some((username, groups, uid))
}

#[tokio::test]
async fn the_in_tree_authenticator_maps_tokens_as_guard_does() {
    if common::require::missing(&[Peer::Node("oauth2-mock-server")]) {
        return;
    }
    // kube-apiserver needs an https issuer: the issuer names itself so, and
    // guard fetches its discovery from the loopback address.
    const ISSUER: &str = "https://issuer.example.com/realms/k8s";
    let issuer = OidcIssuer::start(&[("OIDC_ISSUER", ISSUER)]);
    let flag_sets: Vec<Vec<&str>> = vec![
        vec![],
        vec!["--oidc.username-prefix=-"],
        vec!["--oidc.username-claim=email"],
        vec![
            "--oidc.username-claim=email",
            "--oidc.username-prefix=corp:",
        ],
        vec![
            "--oidc.username-claim=preferred_username",
            "--oidc.username-prefix=oidc:",
        ],
        vec!["--oidc.groups-claim=groups", "--oidc.groups-prefix=oidc:"],
        vec!["--oidc.groups-claim=role"],
        vec![
            "--oidc.required-claim=team=platform",
            "--oidc.required-claim=env=prod",
        ],
    ];
    let tokens = [
        json!({"sub": "u-1", "aud": "guard", "email": "jane@example.com", "email_verified": true,
               "preferred_username": "jane", "groups": ["dev", "ops"], "role": "admin",
               "team": "platform", "env": "prod"}),
        json!({"sub": "u-2", "aud": "guard", "email": "bob@example.com", "email_verified": false,
               "preferred_username": "bob", "groups": "solo", "team": "other", "env": "prod"}),
        json!({"sub": "u-3", "aud": "guard", "groups": []}),
        json!({"sub": "u-4", "aud": "guard", "email": "ann@example.com", "role": ["viewer", "auditor"],
               "team": "platform", "env": "prod"}),
    ];
    let signed: Vec<String> = tokens
        .iter()
        .map(|claims| issuer.sign(claims.clone(), "RS256"))
        .collect();
    let (mut compared, mut accepted, mut with_groups) = (0, 0, 0);
    for flags in &flag_sets {
        let mut common = vec![
            format!("--oidc.issuer-url={ISSUER}"),
            "--oidc.client-id=guard".to_owned(),
        ];
        common.extend(flags.iter().map(|f| (*f).to_owned()));

        let mut config_args = vec!["get", "authn-config", "--auth-providers=oidc"];
        config_args.extend(common.iter().map(String::as_str));
        let sandbox = common::Sandbox::new();
        let yaml = sandbox.ok(&config_args);
        let config: Value = serde_saphyr::from_str(&yaml).unwrap();
        let authenticator = &config["jwt"][0];
        assert_eq!(authenticator["issuer"]["url"], ISSUER, "{yaml}");
        assert_eq!(
            authenticator["issuer"]["audiences"],
            json!(["guard"]),
            "{yaml}"
        );

        let discovery = format!("--oidc.discovery-url={}", issuer.discovery());
        let mut run_args = vec!["--auth-providers=oidc", discovery.as_str()];
        run_args.extend(common.iter().map(String::as_str));
        let guard = Reviewer::start("oidc", "oidc", &run_args);
        for (claims, token) in tokens.iter().zip(&signed) {
            let (status, review) = guard.review(token).await;
            assert_eq!(status, 200, "{review}");
            assert!(
                review["status"].get("error").is_none(),
                "{review}\n{}",
                guard.server.log()
            );
            let by_guard = (review["status"]["authenticated"] == true).then(|| {
                let user = &review["status"]["user"];
                (
                    user["username"].as_str().unwrap().to_owned(),
                    user["groups"]
                        .as_array()
                        .map(|g| g.iter().map(|g| g.as_str().unwrap().to_owned()).collect())
                        .unwrap_or_default(),
                    user["uid"].as_str().unwrap_or_default().to_owned(),
                )
            });
            assert_eq!(
                in_tree(authenticator, claims),
                by_guard,
                "flags {flags:?}, claims {claims}: the in-tree mapping differs from guard's"
            );
            compared += 1;
            if let Some((_, groups, _)) = &by_guard {
                accepted += 1;
                with_groups += usize::from(!groups.is_empty());
            }
        }
    }
    assert_eq!(compared, flag_sets.len() * tokens.len());
    // Both outcomes, and groups, were compared: not a vacuous agreement.
    assert!(
        accepted > 0 && accepted < compared,
        "{accepted} of {compared} accepted"
    );
    assert!(with_groups >= 3, "{with_groups} answers with groups");
}
