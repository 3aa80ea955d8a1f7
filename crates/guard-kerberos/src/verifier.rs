//! The server's side: AP-REQ tokens verified with a keytab, no KDC involved.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use picky_krb::data_types::{Authenticator, EncTicketPart, EncryptedData};
use picky_krb::messages::ApReq;

use crate::crypto::{Key, enctype_name, is_supported};
use crate::der::{
    components, flag_set, from_der, from_ktime, int_value, int32, kstring_value, uint32,
};
use crate::error::{Denial, KerberosError, Result};
use crate::keytab::{Entry, Keytab};
use crate::principal::{Principal, PrincipalText};
use crate::replay::{ReplayCache, Seen};
use crate::token;

/// Key usage of a ticket's encrypted part (RFC 4120 7.5.1).
const USAGE_TICKET: i32 = 2;
/// Key usage of an AP-REQ authenticator.
const USAGE_AP_REQ_AUTHENTICATOR: i32 = 11;
/// TicketFlags bit `invalid`.
const FLAG_INVALID: usize = 7;

/// How tokens are checked.
#[derive(Debug, Clone)]
pub struct VerifierOptions {
    /// Accept tickets for this service principal only (`HTTP/host` or
    /// `HTTP/host@REALM`, compared ignoring ASCII case). When unset, a ticket
    /// for any principal the keytab has a key for is accepted.
    pub spn: Option<String>,
    /// Accept clients of this realm only (compared ignoring ASCII case). When
    /// unset, clients of any realm whose tickets the KDC issued for the
    /// service (cross-realm trusts included) are accepted.
    pub realm: Option<String>,
    /// The largest difference allowed between the client's and the server's
    /// clocks (MIT's and gokrb5's default: 5 minutes).
    pub clock_skew: Duration,
    /// Refuse an authenticator seen before (RFC 4120 3.2.3). The same token
    /// verified twice is then refused the second time: a webhook must answer
    /// repeated reviews of one token from its result cache.
    pub detect_replays: bool,
}

impl Default for VerifierOptions {
    fn default() -> Self {
        VerifierOptions {
            spn: None,
            realm: None,
            clock_skew: Duration::from_secs(300),
            detect_replays: true,
        }
    }
}

/// Verifies tokens with the keys of a keytab. The keytab is the caller's
/// (the LDAP provider reloads it when the file changes); the replay cache is
/// the verifier's, so it outlives keytab reloads. Cheap to share: every
/// method takes `&self`.
#[derive(Debug)]
pub struct Verifier {
    options: VerifierOptions,
    spn: Option<PrincipalText>,
    replay: Mutex<ReplayCache>,
}

impl Verifier {
    /// A verifier with these options (an error when `options.spn` is not a
    /// principal name).
    pub fn new(options: VerifierOptions) -> Result<Self> {
        let spn = options
            .spn
            .as_deref()
            .map(PrincipalText::parse)
            .transpose()?;
        Ok(Verifier {
            options,
            spn,
            replay: Mutex::new(ReplayCache::default()),
        })
    }

    /// Reads the keytab at `path` and checks it can serve this verifier
    /// (see [`Verifier::check_keytab`]).
    pub fn load_keytab(&self, path: &Path) -> Result<Keytab> {
        let keytab = Keytab::load(path)?;
        self.check_keytab(path, &keytab)?;
        Ok(keytab)
    }

    /// Checks that `keytab` (read from `path`) holds keys of a supported
    /// encryption type, for the configured SPN when one is set.
    pub fn check_keytab(&self, path: &Path, keytab: &Keytab) -> Result<()> {
        check_usable(path, keytab, self.spn.as_ref())
    }

    /// Verifies a token (Go Guard's base64 AP-REQ) now with the keys of
    /// `keytab`, and returns the client principal.
    pub fn verify(&self, keytab: &Keytab, token: &str) -> Result<Principal> {
        self.verify_at(keytab, token, SystemTime::now())
    }

    /// Verifies a token as if the time were `now` (the replay cache uses that
    /// time too).
    pub fn verify_at(&self, keytab: &Keytab, token: &str, now: SystemTime) -> Result<Principal> {
        let der = token::decode(token)?;
        // The token is untrusted input to third-party decoders: should one
        // of them panic, that is a malformed token, not a crashed review.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.verify_der_at(keytab, &der, now)
        }))
        .unwrap_or_else(|_| Err(Denial::Malformed("the token could not be decoded".into()).into()))
    }

    fn verify_der_at(&self, keytab: &Keytab, der: &[u8], now: SystemTime) -> Result<Principal> {
        let ap_req: ApReq =
            from_der(der).map_err(|e| Denial::Malformed(format!("not a DER AP-REQ: {e}")))?;
        let ap_req = ap_req.0;
        if int_value(&ap_req.pvno.0) != Some(5) || int_value(&ap_req.msg_type.0) != Some(14) {
            return Err(Denial::Malformed("not a Kerberos 5 AP-REQ".into()).into());
        }
        let ticket = &ap_req.ticket.0.0;
        let service = Principal::new(components(&ticket.sname.0), kstring_value(&ticket.realm.0));
        if let Some(spn) = &self.spn {
            let realm_ok = spn
                .realm
                .as_deref()
                .is_none_or(|r| r.eq_ignore_ascii_case(service.realm()));
            if !realm_ok || !service.same_name(&spn.components) {
                return Err(Denial::WrongService {
                    service: service.to_string(),
                    expected: spn_text(spn),
                }
                .into());
            }
        }

        // The ticket, decrypted with the service's key.
        let plain = decrypt_ticket(keytab, &service, &ticket.enc_part.0, self.spn.is_some())?;
        let enc_ticket: EncTicketPart = from_der(&plain)
            .map_err(|e| Denial::Malformed(format!("the ticket's encrypted part: {e}")))?;
        let enc_ticket = enc_ticket.0;
        let client = Principal::new(
            components(&enc_ticket.cname.0),
            kstring_value(&enc_ticket.crealm.0),
        );
        let session_key = Key::from_asn1(&enc_ticket.key.0)
            .ok_or_else(|| Denial::Malformed("the ticket's session key".into()))?;

        // The authenticator, decrypted with the session key.
        let enc_auth = &ap_req.authenticator.0;
        if int32(&enc_auth.etype.0) != Some(session_key.enctype()) {
            return Err(Denial::Undecryptable {
                what: "authenticator",
                key: "ticket's session key",
            }
            .into());
        }
        let plain = session_key
            .decrypt(USAGE_AP_REQ_AUTHENTICATOR, &enc_auth.cipher.0.0)
            .map_err(|_| Denial::Undecryptable {
                what: "authenticator",
                key: "ticket's session key",
            })?
            .ok_or(Denial::Undecryptable {
                what: "authenticator",
                key: "ticket's session key",
            })?;
        let auth: Authenticator =
            from_der(&plain).map_err(|e| Denial::Malformed(format!("the authenticator: {e}")))?;
        let auth = auth.0;
        let auth_client = Principal::new(components(&auth.cname.0), kstring_value(&auth.crealm.0));
        if auth_client != client {
            return Err(Denial::ClientMismatch.into());
        }

        // Times.
        let skew = self.options.clock_skew;
        if flag_set(&enc_ticket.flags.0, FLAG_INVALID) {
            return Err(Denial::Invalid.into());
        }
        let time =
            |t| from_ktime(t).ok_or_else(|| Denial::Malformed("a time in the ticket".into()));
        let start = match &enc_ticket.starttime.0 {
            Some(t) => time(&t.0)?,
            None => time(&enc_ticket.auth_time.0)?,
        };
        let end = time(&enc_ticket.endtime.0)?;
        if start > now + skew {
            return Err(Denial::NotYetValid.into());
        }
        if end + skew < now {
            return Err(Denial::Expired.into());
        }
        let ctime = time(&auth.ctime.0)?;
        let cusec = uint32(&auth.cusec.0).unwrap_or(0);
        let too_late = ctime + skew < now;
        let too_early = ctime > now + skew;
        if too_late || too_early {
            return Err(Denial::ClockSkew.into());
        }

        if let Some(realm) = &self.options.realm
            && !client.realm().eq_ignore_ascii_case(realm)
        {
            return Err(Denial::WrongRealm {
                principal: client.to_string(),
                expected: realm.clone(),
            }
            .into());
        }

        if !self.options.detect_replays {
            return Ok(client);
        }
        // Last, so that refused tokens do not fill the cache.
        let seen = Seen {
            client: client.to_string(),
            service: service.to_string(),
            ctime,
            cusec,
        };
        let fresh = self
            .replay
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(seen, ctime + skew, now);
        if !fresh {
            return Err(Denial::Replay.into());
        }
        Ok(client)
    }
}

fn spn_text(spn: &PrincipalText) -> String {
    let name = spn.components.join("/");
    match &spn.realm {
        Some(r) => format!("{name}@{r}"),
        None => name,
    }
}

/// A keytab the verifier can work with: some supported key, and one for the
/// configured service.
fn check_usable(path: &Path, keytab: &Keytab, spn: Option<&PrincipalText>) -> Result<()> {
    let bad = |reason: String| KerberosError::KeytabFormat {
        path: path.to_owned(),
        reason,
    };
    let usable: Vec<&Entry> = keytab
        .keys()
        .iter()
        .filter(|e| is_supported(e.key.enctype()))
        .collect();
    if usable.is_empty() {
        let kinds: Vec<String> = keytab
            .keys()
            .iter()
            .map(|e| enctype_name(e.key.enctype()))
            .collect();
        return Err(bad(if kinds.is_empty() {
            "it holds no keys".into()
        } else {
            format!(
                "it holds only keys of unsupported encryption types ({}); export aes256-cts-hmac-sha1-96 or aes128-cts-hmac-sha1-96 keys",
                kinds.join(", ")
            )
        }));
    }
    if let Some(spn) = spn {
        let found = usable.iter().any(|e| {
            e.principal.same_name(&spn.components)
                && spn
                    .realm
                    .as_deref()
                    .is_none_or(|r| r.eq_ignore_ascii_case(e.principal.realm()))
        });
        if !found {
            let mut have: Vec<String> = usable.iter().map(|e| e.principal.to_string()).collect();
            have.dedup();
            return Err(bad(format!(
                "it has no key for {} (it has keys for {})",
                spn_text(spn),
                have.join(", ")
            )));
        }
    }
    Ok(())
}

/// Finds the service's key and decrypts the ticket's encrypted part.
fn decrypt_ticket(
    keytab: &Keytab,
    service: &Principal,
    enc: &EncryptedData,
    spn_configured: bool,
) -> Result<Vec<u8>> {
    let enctype =
        int32(&enc.etype.0).ok_or_else(|| Denial::Malformed("the ticket's enctype".into()))?;
    let kvno = enc.kvno.0.as_ref().and_then(|k| uint32(&k.0));
    let cipher = &enc.cipher.0.0;
    if !is_supported(enctype) {
        return Err(Denial::UnsupportedEnctype { enctype }.into());
    }

    let for_service: Vec<&Entry> = keytab
        .keys()
        .iter()
        .filter(|e| e.principal.matches(service))
        .collect();
    if for_service.is_empty() {
        // Like MIT's acceptor without a name: a ticket for another name of
        // the same account (an Active Directory SPN alias) is encrypted
        // with a key the keytab holds under the account's other name. Only
        // when no service is configured.
        if !spn_configured {
            for e in keytab.keys() {
                if e.key.enctype() == enctype
                    && kvno.is_none_or(|k| k == e.kvno)
                    && let Some(plain) = e.key.decrypt(USAGE_TICKET, cipher)?
                {
                    return Ok(plain);
                }
            }
        }
        return Err(Denial::UnknownService {
            service: service.to_string(),
        }
        .into());
    }
    let of_type: Vec<&Entry> = for_service
        .iter()
        .copied()
        .filter(|e| e.key.enctype() == enctype)
        .collect();
    if of_type.is_empty() {
        return Err(Denial::NoKeyForEnctype { enctype }.into());
    }
    let candidates: Vec<&Entry> = of_type
        .iter()
        .copied()
        .filter(|e| kvno.is_none_or(|k| k == e.kvno))
        .collect();
    if candidates.is_empty() {
        let mut available: Vec<u32> = of_type.iter().map(|e| e.kvno).collect();
        available.sort_unstable();
        available.dedup();
        return Err(Denial::WrongKvno {
            service: service.to_string(),
            kvno: kvno.unwrap_or(0),
            available,
        }
        .into());
    }
    for e in candidates {
        if let Some(plain) = e.key.decrypt(USAGE_TICKET, cipher)? {
            return Ok(plain);
        }
    }
    Err(Denial::Undecryptable {
        what: "ticket",
        key: "service key",
    }
    .into())
}

#[cfg(test)]
mod tests;
