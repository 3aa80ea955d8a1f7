//! The LDAP token: `base64(username:password)`, what guard's LDAP provider
//! (and Go Guard's) reads from the bearer token.

use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};

use crate::ClientError;

/// The token for `username` and `password`.
pub fn basic_token(username: &str, password: &SecretString) -> Result<SecretString, ClientError> {
    if username.is_empty() {
        return Err(ClientError::Invalid("set --ldap.username".into()));
    }
    if password.expose_secret().is_empty() {
        return Err(ClientError::Invalid("the password is empty".into()));
    }
    Ok(SecretString::from(
        base64::engine::general_purpose::STANDARD
            .encode(format!("{username}:{}", password.expose_secret())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_reads_what_the_client_writes() {
        let token = basic_token("alice", &SecretString::from("pa:ss".to_owned())).unwrap();
        let (user, password) = guard_providers::ldap::decode_token(token.expose_secret()).unwrap();
        assert_eq!((user.as_str(), password.as_str()), ("alice", "pa:ss"));
        assert!(basic_token("alice", &SecretString::from(String::new())).is_err());
    }
}
