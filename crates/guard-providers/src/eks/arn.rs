//! Callers as STS names them, and their canonical ARNs (as
//! aws-iam-authenticator canonicalises them).

use guard_auth::CheckError;

/// A caller as STS names it, and its canonical (role) ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The ARN STS returned.
    pub arn: String,
    /// The user ARN, or the role ARN of an assumed-role session.
    pub canonical_arn: String,
    /// The account.
    pub account: String,
    /// The principal's unique id: STS's `UserId`, without the session name
    /// of an assumed role (`AROA…`, not `AROA…:session`), as
    /// aws-iam-authenticator puts it in the uid.
    pub user_id: String,
    /// The role session name, for assumed roles.
    pub session_name: Option<String>,
    /// The access key id that signed the token.
    pub access_key_id: String,
}

/// Canonicalises an STS ARN: `arn:P:sts::A:assumed-role/R/S` becomes
/// `arn:P:iam::A:role/R` (as aws-iam-authenticator does, role paths are not
/// part of the session ARN).
pub fn canonicalize(arn: &str) -> Result<(String, Option<String>), CheckError> {
    let unsupported = || CheckError::Denied(format!("unsupported ARN {arn}"));
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return Err(CheckError::Denied(format!("not an ARN: {arn}")));
    }
    let (partition, service, account, resource) = (parts[1], parts[2], parts[4], parts[5]);
    match (service, resource.split('/').collect::<Vec<_>>().as_slice()) {
        ("sts", ["assumed-role", role, session]) => Ok((
            format!("arn:{partition}:iam::{account}:role/{role}"),
            Some((*session).to_owned()),
        )),
        ("iam", ["user", ..]) | ("iam", ["role", ..]) => Ok((arn.to_owned(), None)),
        ("sts", ["federated-user", ..]) => Ok((arn.to_owned(), None)),
        _ => Err(unsupported()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_canonicalize_like_aws_iam_authenticator() {
        assert_eq!(
            canonicalize("arn:aws:sts::111122223333:assumed-role/k8s-admins/alice@example.com")
                .unwrap(),
            (
                "arn:aws:iam::111122223333:role/k8s-admins".into(),
                Some("alice@example.com".into())
            )
        );
        assert_eq!(
            canonicalize("arn:aws:iam::111122223333:user/bob")
                .unwrap()
                .0,
            "arn:aws:iam::111122223333:user/bob"
        );
        assert!(canonicalize("nonsense").is_err());
    }
}
