//! Principal names: `name/instance@REALM`.

use std::fmt;

use crate::error::{KerberosError, Result};

/// A Kerberos principal: its name components and its realm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    components: Vec<String>,
    realm: String,
}

impl Principal {
    /// A principal from its components and realm.
    pub fn new(components: Vec<String>, realm: impl Into<String>) -> Self {
        Principal {
            components,
            realm: realm.into(),
        }
    }

    /// Parses `name[/instance...][@REALM]` (with `\` escaping `/`, `@` and
    /// `\`). The realm is `default_realm` when the text has none; an error
    /// when neither has one.
    pub fn parse(text: &str, default_realm: Option<&str>) -> Result<Self> {
        let name = PrincipalText::parse(text)?;
        let realm = match (name.realm, default_realm) {
            (Some(r), _) => r,
            (None, Some(r)) if !r.is_empty() => r.to_owned(),
            (None, _) => {
                return Err(KerberosError::BadPrincipal {
                    name: text.to_owned(),
                    reason: "no realm given (name@REALM) and no default realm",
                });
            }
        };
        Ok(Principal::new(name.components, realm))
    }

    /// The name components (`["HTTP", "guard.example.com"]`).
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The name without the realm, components joined with `/`: the user name
    /// Go Guard reports for a client principal (`alice@EXAMPLE.COM` ->
    /// `alice`).
    pub fn name(&self) -> String {
        self.components.join("/")
    }

    /// Whether this is a ticket-granting service principal `krbtgt/X@Y`.
    pub(crate) fn is_tgs(&self) -> bool {
        self.components.len() == 2 && self.components[0] == "krbtgt"
    }

    /// Same components and realm, ignoring ASCII case (Active Directory
    /// treats names case-insensitively; MIT realms are upper case by
    /// convention).
    pub(crate) fn matches(&self, other: &Principal) -> bool {
        self.realm.eq_ignore_ascii_case(&other.realm) && self.same_name(&other.components)
    }

    /// Same components, ignoring ASCII case.
    pub(crate) fn same_name(&self, components: &[String]) -> bool {
        self.components.len() == components.len()
            && self
                .components
                .iter()
                .zip(components)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.components.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            for ch in c.chars() {
                if matches!(ch, '/' | '@' | '\\') {
                    f.write_str("\\")?;
                }
                write!(f, "{ch}")?;
            }
        }
        write!(f, "@{}", self.realm)
    }
}

/// A principal name as written, its realm optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrincipalText {
    pub(crate) components: Vec<String>,
    pub(crate) realm: Option<String>,
}

impl PrincipalText {
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let bad = |reason| KerberosError::BadPrincipal {
            name: text.to_owned(),
            reason,
        };
        let mut components = vec![String::new()];
        let mut realm: Option<String> = None;
        let mut chars = text.chars();
        while let Some(ch) = chars.next() {
            let in_realm = realm.is_some();
            match ch {
                '/' if !in_realm => {
                    components.push(String::new());
                    continue;
                }
                '@' if !in_realm => {
                    realm = Some(String::new());
                    continue;
                }
                '@' => return Err(bad("has more than one unescaped @")),
                _ => {}
            }
            let target = match realm.as_mut() {
                Some(r) => r,
                None => components.last_mut().ok_or_else(|| bad("empty"))?,
            };
            match ch {
                '\\' => match chars.next() {
                    Some('n') => target.push('\n'),
                    Some('t') => target.push('\t'),
                    Some('b') => target.push('\u{8}'),
                    Some('0') => target.push('\0'),
                    Some(c) => target.push(c),
                    None => return Err(bad("ends with a lone backslash")),
                },
                c => target.push(c),
            }
        }
        if components.iter().any(String::is_empty) {
            return Err(bad("has an empty component"));
        }
        if realm.as_deref() == Some("") {
            return Err(bad("has an empty realm after @"));
        }
        Ok(PrincipalText { components, realm })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_services_users_and_escapes() {
        let p = Principal::parse("HTTP/guard.example.com@EXAMPLE.COM", None).unwrap();
        assert_eq!(p.components(), ["HTTP", "guard.example.com"]);
        assert_eq!(p.realm(), "EXAMPLE.COM");
        assert_eq!(p.name(), "HTTP/guard.example.com");
        assert_eq!(p.to_string(), "HTTP/guard.example.com@EXAMPLE.COM");

        let p = Principal::parse("alice", Some("GUARD.TEST")).unwrap();
        assert_eq!((p.name(), p.realm()), ("alice".to_owned(), "GUARD.TEST"));

        let p = Principal::parse(r"we\/ird\@name@R", None).unwrap();
        assert_eq!(p.components(), ["we/ird@name"]);
        assert_eq!(p.to_string(), r"we\/ird\@name@R");
    }

    #[test]
    fn refuses_names_that_cannot_be_principals() {
        for bad in ["", "a//b", "/a", "a@", "a@B@C", "a\\", "@R"] {
            assert!(
                matches!(
                    Principal::parse(bad, Some("R")),
                    Err(KerberosError::BadPrincipal { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(Principal::parse("alice", None).is_err());
    }

    #[test]
    fn matching_ignores_ascii_case() {
        let a = Principal::parse("HTTP/Guard.Example.com@EXAMPLE.COM", None).unwrap();
        let b = Principal::parse("http/guard.example.com@example.com", None).unwrap();
        let c = Principal::parse("HTTP/other.example.com@EXAMPLE.COM", None).unwrap();
        assert!(a.matches(&b));
        assert!(!a.matches(&c));
    }
}
