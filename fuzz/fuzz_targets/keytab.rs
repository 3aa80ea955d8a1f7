//! Keytab files: `--ldap.keytab-file` is read from a mounted Secret at
//! start-up and on every change.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(keytab) = guard_kerberos::Keytab::from_bytes(data) {
        assert_eq!(keytab.entries().count(), keytab.len());
    }
});
