//! What `ldap` adds to the installer: its flags, and Secret
//! `guard-ldap-auth` with the service account (as `LDAP_BIND_DN` and
//! `LDAP_BIND_PASSWORD`, never in the arguments), the CA certificate and,
//! for Kerberos, the keytab (`krb5.keytab`, where Go Guard mounts it).

use std::collections::BTreeMap;

use guard_api::{InstallerPart, InstallerSecret, SecretEnv};
use secrecy::ExposeSecret as _;

use super::options::{AuthChoice, FLAG_CA_CERT_FILE, FLAG_KEYTAB_FILE, LdapOptions, MemberValue};
use crate::ProviderError;

const MOUNT: &str = "/etc/guard/auth/ldap";

/// The installer part.
pub fn part(o: &LdapOptions) -> Result<InstallerPart, ProviderError> {
    let mut args = vec![
        format!("--ldap.server-address={}", o.server_address),
        format!("--ldap.server-port={}", o.server_port),
        format!("--ldap.user-search-dn={}", o.user_search_dn),
        format!("--ldap.user-search-filter={}", o.user_search_filter),
        format!("--ldap.user-attribute={}", o.user_attribute),
        format!("--ldap.group-search-dn={}", o.group_search_dn),
        format!("--ldap.group-search-filter={}", o.group_search_filter),
        format!("--ldap.group-member-attribute={}", o.group_member_attribute),
        format!("--ldap.group-name-attribute={}", o.group_name_attribute),
    ];
    if o.group_member_value == MemberValue::Username {
        args.push("--ldap.group-member-value=username".into());
    }
    if o.nested_group_depth > 0 {
        args.push(format!(
            "--ldap.nested-group-depth={}",
            o.nested_group_depth
        ));
    }
    if let Some(a) = &o.uid_attribute {
        args.push(format!("--ldap.uid-attribute={a}"));
    }
    for (on, flag) in [
        (o.skip_tls_verification, "--ldap.skip-tls-verification"),
        (o.is_secure_ldap, "--ldap.is-secure-ldap"),
        (o.start_tls, "--ldap.start-tls"),
    ] {
        if on {
            args.push(flag.into());
        }
    }
    let mut files = BTreeMap::new();
    let mut env = Vec::new();
    if let (Some(dn), Some(pw)) = (o.bind_dn(), o.bind_password()) {
        files.insert("bind-dn".to_owned(), dn.as_bytes().to_vec());
        files.insert(
            "bind-password".to_owned(),
            pw.expose_secret().as_bytes().to_vec(),
        );
        env.push(SecretEnv::new("LDAP_BIND_DN", "bind-dn"));
        env.push(SecretEnv::new("LDAP_BIND_PASSWORD", "bind-password"));
    }
    if let Some(path) = &o.ca_cert_file {
        files.insert(
            "ca.crt".to_owned(),
            ProviderError::read(FLAG_CA_CERT_FILE, path)?,
        );
        args.push(format!("{FLAG_CA_CERT_FILE}={MOUNT}/ca.crt"));
    }
    match o.auth_choice {
        AuthChoice::Simple => args.push("--ldap.auth-choice=Simple".into()),
        AuthChoice::Kerberos => {
            let path = o
                .keytab_file()
                .ok_or_else(|| ProviderError::Invalid(format!("set {FLAG_KEYTAB_FILE}")))?;
            // The keytab must serve the options now, not in a crashing pod.
            super::kerberos::KerberosCheck::load(o)?;
            files.insert(
                "krb5.keytab".to_owned(),
                ProviderError::read(FLAG_KEYTAB_FILE, path)?,
            );
            args.push("--ldap.auth-choice=Kerberos".into());
            args.push(format!("{FLAG_KEYTAB_FILE}={MOUNT}/krb5.keytab"));
            if let Some(spn) = o.spn() {
                args.push(format!("--ldap.spn={spn}"));
            }
            if let Some(realm) = o.realm() {
                args.push(format!("--ldap.realm={realm}"));
            }
            if o.clock_skew != std::time::Duration::from_secs(300) {
                args.push(format!(
                    "--ldap.clock-skew={}",
                    humantime::format_duration(o.clock_skew)
                ));
            }
        }
    }
    if o.allow_system_groups {
        args.push("--ldap.allow-system-groups=true".into());
    }
    Ok(InstallerPart {
        args,
        secret: (!files.is_empty()).then(|| InstallerSecret {
            name: "guard-ldap-auth".into(),
            mount_path: MOUNT.into(),
            files,
            env,
        }),
        ..InstallerPart::default()
    })
}
