//! `--ldap.*`: Go Guard's flags, plus posixGroup, nested groups and uid.

use std::path::PathBuf;

use secrecy::{ExposeSecret as _, SecretString};

use crate::ProviderError;

pub(crate) const FLAG_CA_CERT_FILE: &str = "--ldap.ca-cert-file";
pub(crate) const FLAG_KEYTAB_FILE: &str = "--ldap.keytab-file";

/// What the group member attribute holds (`--ldap.group-member-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MemberValue {
    /// The user's DN (`groupOfNames`/`member`, Active Directory `member`).
    #[default]
    Dn,
    /// The username (`posixGroup`/`memberUid`).
    Username,
}

/// How users authenticate (`--ldap.auth-choice`): Go Guard's spellings
/// (`Simple`/`simple`, `Kerberos`/`kerberos`; any case), and the numbers
/// its `get token` takes (0, 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AuthChoice {
    /// `base64(username:password)` tokens and a simple bind.
    #[default]
    #[value(name = "Simple", alias = "0")]
    Simple,
    /// Kerberos service tickets (base64 of a DER KRB_AP_REQ), verified with
    /// a keytab.
    #[value(name = "Kerberos", alias = "1")]
    Kerberos,
}

/// Options of the `ldap` provider.
#[derive(Debug, Clone, clap::Args)]
pub struct LdapOptions {
    /// LDAP server host name or IP.
    #[arg(
        id = "ldap.server-address",
        long = "ldap.server-address",
        value_name = "HOST",
        default_value = "",
        hide_default_value = true
    )]
    pub server_address: String,
    /// LDAP server port.
    #[arg(
        id = "ldap.server-port",
        long = "ldap.server-port",
        value_name = "PORT",
        default_value_t = 389
    )]
    pub server_port: u16,
    /// DN of the service account that searches users and groups. Prefer the
    /// environment variable, which stays out of the process list.
    #[arg(
        id = "ldap.bind-dn",
        long = "ldap.bind-dn",
        value_name = "DN",
        env = "LDAP_BIND_DN"
    )]
    pub bind_dn: Option<String>,
    /// Password of the service account (prefer LDAP_BIND_PASSWORD).
    #[arg(
        id = "ldap.bind-password",
        long = "ldap.bind-password",
        value_name = "PASSWORD",
        env = "LDAP_BIND_PASSWORD",
        hide_env_values = true,
        value_parser = crate::flags::parse_secret
    )]
    pub bind_password: Option<SecretString>,
    /// Base DN under which users are searched.
    #[arg(
        id = "ldap.user-search-dn",
        long = "ldap.user-search-dn",
        value_name = "DN",
        default_value = "",
        hide_default_value = true
    )]
    pub user_search_dn: String,
    /// Filter every user entry matches.
    #[arg(
        id = "ldap.user-search-filter",
        long = "ldap.user-search-filter",
        value_name = "FILTER",
        default_value = "(objectClass=person)"
    )]
    pub user_search_filter: String,
    /// Attribute that holds the username (uid; sAMAccountName on Active Directory).
    #[arg(
        id = "ldap.user-attribute",
        long = "ldap.user-attribute",
        value_name = "ATTR",
        default_value = "uid"
    )]
    pub user_attribute: String,
    /// Attribute reported as the user's uid (e.g. entryUUID, objectGUID);
    /// the entry's DN when unset.
    #[arg(
        id = "ldap.uid-attribute",
        long = "ldap.uid-attribute",
        value_name = "ATTR"
    )]
    pub uid_attribute: Option<String>,
    /// Base DN under which groups are searched.
    #[arg(
        id = "ldap.group-search-dn",
        long = "ldap.group-search-dn",
        value_name = "DN",
        default_value = "",
        hide_default_value = true
    )]
    pub group_search_dn: String,
    /// Filter every group entry matches.
    #[arg(
        id = "ldap.group-search-filter",
        long = "ldap.group-search-filter",
        value_name = "FILTER",
        default_value = "(objectClass=groupOfNames)"
    )]
    pub group_search_filter: String,
    /// Attribute of a group that lists its members.
    #[arg(
        id = "ldap.group-member-attribute",
        long = "ldap.group-member-attribute",
        value_name = "ATTR",
        default_value = "member"
    )]
    pub group_member_attribute: String,
    /// What the member attribute holds: dn (groupOfNames, Active Directory)
    /// or username (posixGroup's memberUid).
    #[arg(
        id = "ldap.group-member-value",
        long = "ldap.group-member-value",
        value_name = "dn|username",
        default_value = "dn"
    )]
    pub group_member_value: MemberValue,
    /// Attribute whose first value names the group.
    #[arg(
        id = "ldap.group-name-attribute",
        long = "ldap.group-name-attribute",
        value_name = "ATTR",
        default_value = "cn"
    )]
    pub group_name_attribute: String,
    /// Levels of nested groups (groups that are members of groups) to follow; 0 = none.
    #[arg(id = "ldap.nested-group-depth", long = "ldap.nested-group-depth", value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10))]
    pub nested_group_depth: u32,
    /// Do not verify the LDAP server's certificate (testing only).
    #[arg(id = "ldap.skip-tls-verification", long = "ldap.skip-tls-verification", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub skip_tls_verification: bool,
    /// Connect with LDAPS (TLS from the first byte, usually port 636).
    #[arg(id = "ldap.is-secure-ldap", long = "ldap.is-secure-ldap", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub is_secure_ldap: bool,
    /// Upgrade the plain connection with StartTLS.
    #[arg(id = "ldap.start-tls", long = "ldap.start-tls", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub start_tls: bool,
    /// CA certificate(s) that sign the LDAP server's certificate.
    #[arg(
        id = "ldap.ca-cert-file",
        long = "ldap.ca-cert-file",
        value_name = "FILE"
    )]
    pub ca_cert_file: Option<PathBuf>,
    /// Simple (tokens are base64 of user:password, checked with a bind) or
    /// Kerberos (tokens are service tickets, checked with --ldap.keytab-file).
    #[arg(
        id = "ldap.auth-choice",
        long = "ldap.auth-choice",
        value_name = "CHOICE",
        default_value = "Simple",
        ignore_case = true
    )]
    pub auth_choice: AuthChoice,
    /// Kerberos: the keytab with the service's keys (reloaded when it
    /// changes).
    #[arg(
        id = "ldap.keytab-file",
        long = "ldap.keytab-file",
        value_name = "FILE"
    )]
    pub keytab_file: Option<PathBuf>,
    /// Kerberos: accept tickets for this service principal only
    /// (HTTP/guard.example.com, or with @REALM) [default: --ldap.service-account,
    /// else any service the keytab has keys for].
    #[arg(id = "ldap.spn", long = "ldap.spn", value_name = "PRINCIPAL")]
    pub spn: Option<String>,
    /// Kerberos: Go Guard's name of the service principal whose key
    /// verifies tickets; --ldap.spn when that is unset.
    #[arg(
        id = "ldap.service-account",
        long = "ldap.service-account",
        value_name = "NAME"
    )]
    pub service_account: Option<String>,
    /// Kerberos: accept users of this realm only [default: the realm of the
    /// keytab's service principals; users of trusted foreign realms are
    /// refused unless named here].
    #[arg(id = "ldap.realm", long = "ldap.realm", value_name = "REALM")]
    pub realm: Option<String>,
    /// Kerberos: the largest difference allowed between a client's clock
    /// and guard's (MIT's and Active Directory's default: 5 minutes).
    #[arg(id = "ldap.clock-skew", long = "ldap.clock-skew", value_name = "DURATION", default_value = "5m", value_parser = crate::flags::parse_duration)]
    pub clock_skew: std::time::Duration,
    /// Let reserved `system:` names (groups such as system:masters, and
    /// usernames) through. Default: such groups are dropped and logged, and
    /// such a username is not authenticated.
    #[arg(id = "ldap.allow-system-groups", long = "ldap.allow-system-groups", value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_value_t = false, default_missing_value = "true")]
    pub allow_system_groups: bool,
}

impl LdapOptions {
    /// The service account's DN, unless unset or empty.
    pub fn bind_dn(&self) -> Option<&str> {
        self.bind_dn.as_deref().filter(|s| !s.is_empty())
    }

    /// The service account's password, unless unset or empty.
    pub fn bind_password(&self) -> Option<&SecretString> {
        self.bind_password
            .as_ref()
            .filter(|s| !s.expose_secret().is_empty())
    }

    /// The keytab file, unless unset or empty.
    pub fn keytab_file(&self) -> Option<&std::path::Path> {
        self.keytab_file
            .as_deref()
            .filter(|p| !p.as_os_str().is_empty())
    }

    /// The service principal tickets must be for: `--ldap.spn`, else Go
    /// Guard's `--ldap.service-account`; none when both are unset or empty.
    pub fn spn(&self) -> Option<&str> {
        [&self.spn, &self.service_account]
            .into_iter()
            .find_map(|v| v.as_deref().map(str::trim).filter(|s| !s.is_empty()))
    }

    /// The realm users must be in, unless unset or empty.
    pub fn realm(&self) -> Option<&str> {
        self.realm
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// Checks the options of the enabled provider; the messages name the
    /// flag to fix.
    pub fn validate(&self) -> Result<(), ProviderError> {
        let invalid = |m: String| Err(ProviderError::Invalid(m));
        let required = [
            (&self.server_address, "--ldap.server-address"),
            (&self.user_search_dn, "--ldap.user-search-dn"),
            (&self.user_attribute, "--ldap.user-attribute"),
            (&self.group_search_dn, "--ldap.group-search-dn"),
            (
                &self.group_member_attribute,
                "--ldap.group-member-attribute",
            ),
            (&self.group_name_attribute, "--ldap.group-name-attribute"),
        ];
        if let Some((_, flag)) = required.iter().find(|(v, _)| v.trim().is_empty()) {
            return invalid(format!("ldap is enabled: set {flag}"));
        }
        if self.is_secure_ldap && self.start_tls {
            return invalid("--ldap.is-secure-ldap and --ldap.start-tls cannot both be set: pick LDAPS or StartTLS".into());
        }
        match self.auth_choice {
            // Go Guard's check was inverted (its issue #238): here a set
            // keytab is what Kerberos needs.
            AuthChoice::Kerberos if self.keytab_file().is_none() => {
                return invalid("--ldap.auth-choice=Kerberos needs --ldap.keytab-file (the keytab with the service's keys)".into());
            }
            AuthChoice::Kerberos => {
                if let Some(spn) = self.spn()
                    && let Err(e) = guard_kerberos::Principal::parse(spn, Some("-"))
                {
                    return invalid(format!("--ldap.spn: {e}"));
                }
                if self.realm().is_some_and(|r| r.contains(['@', '/'])) {
                    return invalid(
                        "--ldap.realm is a realm name (EXAMPLE.COM), without @ or /".into(),
                    );
                }
            }
            // Go Guard's installer writes --ldap.keytab-file and
            // --ldap.service-account whenever they were given, whatever the
            // choice: its manifests must start, so those two are ignored
            // here; guard's own Kerberos flags are refused.
            AuthChoice::Simple => {
                let kerberos_only = [
                    (
                        self.spn.as_deref().is_some_and(|s| !s.trim().is_empty()),
                        "--ldap.spn",
                    ),
                    (self.realm().is_some(), "--ldap.realm"),
                ];
                if let Some((_, flag)) = kerberos_only.iter().find(|(set, _)| *set) {
                    return invalid(format!(
                        "{flag} is only used with --ldap.auth-choice=Kerberos; add that flag or drop this one"
                    ));
                }
            }
        }
        if self.bind_dn().is_some() != self.bind_password().is_some() {
            return invalid("set both --ldap.bind-dn and --ldap.bind-password (or LDAP_BIND_DN and LDAP_BIND_PASSWORD), or neither".into());
        }
        for (filter, flag) in [
            (&self.user_search_filter, "--ldap.user-search-filter"),
            (&self.group_search_filter, "--ldap.group-search-filter"),
        ] {
            let f = filter.trim();
            if !(f.starts_with('(') && f.ends_with(')')) {
                return invalid(format!(
                    "{flag} {filter:?} is not an LDAP filter: it must be enclosed in parentheses"
                ));
            }
        }
        Ok(())
    }

    /// `ldap://HOST:PORT` or `ldaps://HOST:PORT`.
    pub(crate) fn url(&self) -> String {
        let scheme = if self.is_secure_ldap { "ldaps" } else { "ldap" };
        let host = if self.server_address.contains(':') && !self.server_address.starts_with('[') {
            format!("[{}]", self.server_address)
        } else {
            self.server_address.clone()
        };
        format!("{scheme}://{host}:{}", self.server_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_options;

    fn options(extra: &[&str]) -> Result<LdapOptions, ProviderError> {
        let mut args = vec![
            "--ldap.server-address=ldap.example.com",
            "--ldap.user-search-dn=ou=users,dc=example,dc=com",
            "--ldap.group-search-dn=ou=groups,dc=example,dc=com",
        ];
        args.extend(extra);
        let o: LdapOptions = parse_options(&args).unwrap();
        o.validate().map(|()| o)
    }

    fn error(extra: &[&str]) -> String {
        options(extra).unwrap_err().to_string()
    }

    #[test]
    fn the_defaults_are_go_guards() {
        let o = options(&[]).unwrap();
        assert_eq!(o.server_port, 389);
        assert_eq!(o.user_search_filter, "(objectClass=person)");
        assert_eq!(o.user_attribute, "uid");
        assert_eq!(o.group_search_filter, "(objectClass=groupOfNames)");
        assert_eq!(o.group_member_attribute, "member");
        assert_eq!(o.group_member_value, MemberValue::Dn);
        assert_eq!(o.group_name_attribute, "cn");
        assert_eq!(o.auth_choice, AuthChoice::Simple);
        assert_eq!(o.url(), "ldap://ldap.example.com:389");
    }

    #[test]
    fn validation_names_the_flag() {
        let o: LdapOptions = parse_options(&[]).unwrap();
        let e = o.validate().unwrap_err().to_string();
        assert!(e.contains("--ldap.server-address"), "{e}");
        assert!(error(&["--ldap.is-secure-ldap", "--ldap.start-tls"]).contains("cannot both"));
        let e = error(&["--ldap.auth-choice=kerberos"]);
        assert_eq!(
            e,
            "--ldap.auth-choice=Kerberos needs --ldap.keytab-file (the keytab with the service's keys)"
        );
        // Go Guard's manifests carry the keytab flag in simple mode too.
        let go_guard = options(&[
            "--ldap.keytab-file=/etc/guard/auth/ldap/krb5.keytab",
            "--ldap.service-account=x",
            "--ldap.auth-choice=Simple",
        ])
        .unwrap();
        assert_eq!(go_guard.auth_choice, AuthChoice::Simple);
        assert!(error(&["--ldap.realm=R"]).starts_with("--ldap.realm is only used"));
        let bad_spn = error(&[
            "--ldap.auth-choice=Kerberos",
            "--ldap.keytab-file=/k",
            "--ldap.spn=HTTP//x",
        ]);
        assert!(
            bad_spn.starts_with("--ldap.spn: invalid Kerberos principal name"),
            "{bad_spn}"
        );
        assert!(
            error(&[
                "--ldap.auth-choice=1",
                "--ldap.keytab-file=/k",
                "--ldap.realm=a@B"
            ])
            .contains("without @")
        );
        assert!(error(&["--ldap.user-search-filter=objectClass=person"]).contains("parentheses"));
        assert!(error(&["--ldap.bind-dn=cn=svc"]).contains("--ldap.bind-password"));
        let o: LdapOptions =
            parse_options(&["--ldap.server-address=::1", "--ldap.is-secure-ldap=true"]).unwrap();
        assert_eq!(o.url(), "ldaps://[::1]:389");
    }

    #[test]
    fn kerberos_is_chosen_with_go_guards_spellings_and_the_keytab() {
        // Go Guard #238: its check refused a keytab that was set.
        for choice in ["Kerberos", "kerberos", "1"] {
            let o = options(&[
                &format!("--ldap.auth-choice={choice}"),
                "--ldap.keytab-file=/etc/guard/auth/ldap/krb5.keytab",
            ])
            .unwrap();
            assert_eq!(o.auth_choice, AuthChoice::Kerberos, "{choice}");
        }
        for choice in ["Simple", "simple", "0"] {
            let o = options(&[&format!("--ldap.auth-choice={choice}")]).unwrap();
            assert_eq!(o.auth_choice, AuthChoice::Simple, "{choice}");
        }
        let kerberos = ["--ldap.auth-choice=Kerberos", "--ldap.keytab-file=/k"];
        let o = options(&[&kerberos[..], &["--ldap.service-account=HTTP/a"]].concat()).unwrap();
        assert_eq!(o.spn(), Some("HTTP/a"));
        let o = options(
            &[
                &kerberos[..],
                &["--ldap.service-account=HTTP/a", "--ldap.spn=HTTP/b@R"],
            ]
            .concat(),
        )
        .unwrap();
        assert_eq!(o.spn(), Some("HTTP/b@R"));
        assert_eq!(options(&kerberos).unwrap().spn(), None);
    }

    #[test]
    fn the_bind_password_never_shows_in_debug() {
        let o = options(&["--ldap.bind-dn=cn=svc", "--ldap.bind-password=hunter2-xyz"]).unwrap();
        let text = format!("{o:?}");
        assert!(!text.contains("hunter2-xyz"), "{text}");
        assert_eq!(o.bind_password().unwrap().expose_secret(), "hunter2-xyz");
    }
}
