//! The AS and TGS exchanges (RFC 4120 3.1, 3.3) and the AP-REQ a client
//! sends (3.2).

use std::time::{Duration, SystemTime};

use picky_asn1::wrapper::{
    Asn1SequenceOf, ExplicitContextTag0, ExplicitContextTag1, ExplicitContextTag2,
    ExplicitContextTag3, ExplicitContextTag4, ExplicitContextTag5, ExplicitContextTag6,
    ExplicitContextTag7, ExplicitContextTag8, ExplicitContextTag9, ExplicitContextTag10,
    ExplicitContextTag11, ExplicitContextTag12, IntegerAsn1, OctetStringAsn1, Optional,
};
use picky_asn1_der::application_tag::ApplicationTag;
use picky_krb::data_types::{
    Authenticator, AuthenticatorInner, Checksum, EncryptedData, EtypeInfo2, KerberosStringAsn1,
    KerberosTime, PaData, PaEncTsEnc, PrincipalName, Realm, Ticket,
};
use picky_krb::messages::{
    ApReq, ApReqInner, AsRep, AsReq, EncAsRepPart, EncKdcRepPart, EncTgsRepPart, KdcRep, KdcReq,
    KdcReqBody, TgsRep, TgsReq,
};
use serde::{Deserialize, Serialize};

use super::krb5conf::Krb5Config;
use super::transport;
use crate::crypto::{Key, REQUESTED_ENCTYPES, enctype_name};
use crate::der::{
    components, flags, from_der, from_ktime, int, int32, kstring, kstring_value, principal_name,
    split_micros, to_der, uint32,
};
use crate::error::{KerberosError, Result};
use crate::principal::Principal;

/// NT-PRINCIPAL.
const NT_PRINCIPAL: i32 = 1;
/// NT-SRV-INST.
const NT_SRV_INST: i32 = 2;
/// KDC option `canonicalize` (bit 15).
const KDC_OPT_CANONICALIZE: u32 = 0x0001_0000;
/// PA-TGS-REQ.
const PA_TGS_REQ: i64 = 1;
/// PA-ENC-TIMESTAMP.
const PA_ENC_TIMESTAMP: i64 = 2;
/// PA-PW-SALT.
const PA_PW_SALT: i32 = 3;
/// PA-ETYPE-INFO2.
const PA_ETYPE_INFO2: i32 = 19;
/// KDC_ERR_PREAUTH_FAILED: the pre-authentication (the password) is wrong.
const KDC_ERR_PREAUTH_FAILED: u32 = 24;
/// KDC_ERR_PREAUTH_REQUIRED.
const KDC_ERR_PREAUTH_REQUIRED: u32 = 25;
/// The ticket lifetime asked for in an AS-REQ; the KDC shortens it to its
/// policy.
const REQUESTED_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Referrals followed at most.
const MAX_REFERRALS: usize = 5;

/// Key usages (RFC 4120 7.5.1).
const USAGE_PA_ENC_TIMESTAMP: i32 = 1;
const USAGE_AS_REP: i32 = 3;
const USAGE_TGS_REQ_CHECKSUM: i32 = 6;
const USAGE_TGS_REQ_AUTHENTICATOR: i32 = 7;
const USAGE_TGS_REP: i32 = 8;
const USAGE_AP_REQ_AUTHENTICATOR: i32 = 11;

/// A ticket with its session key: a TGT or a service ticket.
#[derive(Clone, Debug)]
pub(crate) struct Credential {
    pub(crate) client: Principal,
    pub(crate) server: Principal,
    pub(crate) ticket: Ticket,
    pub(crate) key: Key,
    pub(crate) endtime: SystemTime,
}

/// KRB-ERROR (RFC 4120 5.9.1), with `cusec` as the integer it is.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct KrbErrorBody {
    pvno: ExplicitContextTag0<IntegerAsn1>,
    msg_type: ExplicitContextTag1<IntegerAsn1>,
    #[serde(default)]
    ctime: Optional<Option<ExplicitContextTag2<KerberosTime>>>,
    #[serde(default)]
    cusec: Optional<Option<ExplicitContextTag3<IntegerAsn1>>>,
    stime: ExplicitContextTag4<KerberosTime>,
    susec: ExplicitContextTag5<IntegerAsn1>,
    error_code: ExplicitContextTag6<IntegerAsn1>,
    #[serde(default)]
    crealm: Optional<Option<ExplicitContextTag7<Realm>>>,
    #[serde(default)]
    cname: Optional<Option<ExplicitContextTag8<PrincipalName>>>,
    realm: ExplicitContextTag9<Realm>,
    sname: ExplicitContextTag10<PrincipalName>,
    #[serde(default)]
    e_text: Optional<Option<ExplicitContextTag11<KerberosStringAsn1>>>,
    #[serde(default)]
    e_data: Optional<Option<ExplicitContextTag12<OctetStringAsn1>>>,
}

type KrbError = ApplicationTag<KrbErrorBody, 30>;

/// The error code of a KRB-ERROR message, if `reply` is one.
pub(crate) fn error_code(reply: &[u8]) -> Option<u32> {
    if reply.first() != Some(&0x7e) {
        return None;
    }
    let e: KrbError = from_der(reply).ok()?;
    uint32(&e.0.error_code.0)
}

fn error_name(code: u32) -> &'static str {
    match code {
        6 => "the client is unknown to the KDC (KDC_ERR_C_PRINCIPAL_UNKNOWN)",
        7 => "the service principal is unknown to the KDC (KDC_ERR_S_PRINCIPAL_UNKNOWN)",
        12 => "the KDC policy refuses the request (KDC_ERR_POLICY)",
        14 => "no common encryption type (KDC_ERR_ETYPE_NOSUPP)",
        18 => "the client's credentials are revoked or locked (KDC_ERR_CLIENT_REVOKED)",
        23 => "the password has expired (KDC_ERR_KEY_EXPIRED)",
        24 => "wrong password (KDC_ERR_PREAUTH_FAILED)",
        25 => "pre-authentication required (KDC_ERR_PREAUTH_REQUIRED)",
        31 => "the ticket-granting ticket does not decrypt (KRB_AP_ERR_BAD_INTEGRITY)",
        32 => "the ticket-granting ticket expired (KRB_AP_ERR_TKT_EXPIRED): run kinit",
        37 => "the clocks differ too much (KRB_AP_ERR_SKEW)",
        41 => "the message was modified (KRB_AP_ERR_MODIFIED)",
        68 => "wrong realm (KDC_ERR_WRONG_REALM)",
        _ => "Kerberos error",
    }
}

/// A KRB-ERROR as an error, or `None` if `reply` is not one.
fn kdc_error(realm: &str, reply: &[u8]) -> Option<(u32, KerberosError, Option<Vec<u8>>)> {
    if reply.first() != Some(&0x7e) {
        return None;
    }
    let e: KrbError = match from_der(reply) {
        Ok(e) => e,
        Err(why) => {
            return Some((
                0,
                KerberosError::KdcResponse {
                    realm: realm.to_owned(),
                    reason: format!("an unreadable KRB-ERROR: {why}"),
                },
                None,
            ));
        }
    };
    let e = e.0;
    let code = uint32(&e.error_code.0).unwrap_or(0);
    let text = e.e_text.0.as_ref().map(|t| kstring_value(&t.0));
    let mut message = format!("{} (code {code})", error_name(code));
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        message.push_str(": ");
        message.push_str(&text);
    }
    let data = e.e_data.0.map(|d| d.0.0);
    Some((
        code,
        KerberosError::Kdc {
            realm: realm.to_owned(),
            code,
            message,
        },
        data,
    ))
}

fn bad_reply(realm: &str, reason: impl Into<String>) -> KerberosError {
    KerberosError::KdcResponse {
        realm: realm.to_owned(),
        reason: reason.into(),
    }
}

fn nonce() -> Result<u32> {
    let n = getrandom::u32().map_err(|e| KerberosError::Internal(format!("no randomness: {e}")))?;
    // Positive as a signed Int32, as MIT and Windows read it.
    Ok(n & 0x7fff_ffff)
}

fn etypes() -> Asn1SequenceOf<IntegerAsn1> {
    Asn1SequenceOf::from(
        REQUESTED_ENCTYPES
            .iter()
            .map(|e| int((*e).into()))
            .collect::<Vec<_>>(),
    )
}

fn pa_data(kind: i64, value: Vec<u8>) -> PaData {
    PaData {
        padata_type: ExplicitContextTag1::from(int(kind)),
        padata_data: ExplicitContextTag2::from(OctetStringAsn1::from(value)),
    }
}

/// The default salt of a principal: the realm, then the components.
fn default_salt(client: &Principal) -> Vec<u8> {
    let mut salt = client.realm().as_bytes().to_vec();
    for c in client.components() {
        salt.extend_from_slice(c.as_bytes());
    }
    salt
}

/// Salt and parameters for the password key, from PA-ETYPE-INFO2 (or
/// PA-PW-SALT) in a list of PA-DATA.
struct KeyHint {
    enctype: i32,
    salt: Option<Vec<u8>>,
    s2kparams: Option<Vec<u8>>,
}

fn key_hints(padata: &[PaData]) -> Vec<KeyHint> {
    let mut hints = Vec::new();
    let mut pw_salt = None;
    for pa in padata {
        match int32(&pa.padata_type.0) {
            Some(PA_ETYPE_INFO2) => {
                if let Ok(info) = from_der::<EtypeInfo2>(&pa.padata_data.0.0) {
                    for entry in info.0 {
                        let Some(enctype) = int32(&entry.etype.0) else {
                            continue;
                        };
                        hints.push(KeyHint {
                            enctype,
                            salt: entry.salt.0.map(|s| s.0.0.as_bytes().to_vec()),
                            s2kparams: entry.s2kparams.0.map(|p| p.0.0),
                        });
                    }
                }
            }
            Some(PA_PW_SALT) => pw_salt = Some(pa.padata_data.0.0.clone()),
            _ => {}
        }
    }
    if hints.is_empty()
        && let Some(salt) = pw_salt
    {
        hints.push(KeyHint {
            enctype: 0,
            salt: Some(salt),
            s2kparams: None,
        });
    }
    hints
}

/// The METHOD-DATA (a sequence of PA-DATA) in a KRB-ERROR's e-data.
fn method_data(e_data: Option<&[u8]>) -> Vec<PaData> {
    e_data
        .and_then(|d| from_der::<Asn1SequenceOf<PaData>>(d).ok())
        .map(|s| s.0)
        .unwrap_or_default()
}

/// The decrypted part of a KDC reply (KDCs send either tag for either
/// exchange); `None` if it does not decrypt with `key`.
fn decrypt_rep_part(
    realm: &str,
    key: &Key,
    usage: i32,
    enc: &EncryptedData,
) -> Result<Option<EncKdcRepPart>> {
    if int32(&enc.etype.0) != Some(key.enctype()) {
        return Ok(None);
    }
    let Some(plain) = key.decrypt(usage, &enc.cipher.0.0)? else {
        return Ok(None);
    };
    if let Ok(part) = from_der::<EncAsRepPart>(&plain) {
        return Ok(Some(part.0));
    }
    from_der::<EncTgsRepPart>(&plain)
        .map(|p| Some(p.0))
        .map_err(|e| bad_reply(realm, format!("the reply's encrypted part: {e}")))
}

fn credential_from_rep(
    realm: &str,
    rep: KdcRep,
    part: EncKdcRepPart,
    nonce: u32,
) -> Result<Credential> {
    if uint32(&part.nonce.0) != Some(nonce) {
        return Err(bad_reply(
            realm,
            "the reply's nonce does not match the request's",
        ));
    }
    let key = Key::from_asn1(&part.key.0).ok_or_else(|| bad_reply(realm, "the session key"))?;
    let endtime =
        from_ktime(&part.end_time.0).ok_or_else(|| bad_reply(realm, "the ticket's end time"))?;
    Ok(Credential {
        client: Principal::new(components(&rep.cname.0), kstring_value(&rep.crealm.0)),
        server: Principal::new(components(&part.sname.0), kstring_value(&part.srealm.0)),
        ticket: rep.ticket.0,
        key,
        endtime,
    })
}

fn wrong_password() -> KerberosError {
    KerberosError::WrongPassword
}

/// Logs in with a password: AS-REQ, the KDC's pre-authentication request,
/// AS-REQ with PA-ENC-TIMESTAMP, AS-REP. Returns the TGT.
pub(crate) fn as_exchange(
    config: &Krb5Config,
    client: &Principal,
    password: &str,
    timeout: Duration,
) -> Result<Credential> {
    let realm = client.realm();
    let now = SystemTime::now();
    let tgs = Principal::new(vec!["krbtgt".into(), realm.to_owned()], realm);
    let nonce = nonce()?;
    let body = KdcReqBody {
        kdc_options: ExplicitContextTag0::from(flags(0)),
        cname: Optional::from(Some(ExplicitContextTag1::from(principal_name(
            NT_PRINCIPAL,
            client.components(),
        )?))),
        realm: ExplicitContextTag2::from(kstring(realm)?),
        sname: Optional::from(Some(ExplicitContextTag3::from(principal_name(
            NT_SRV_INST,
            tgs.components(),
        )?))),
        from: Optional::from(None),
        till: ExplicitContextTag5::from(crate::der::ktime(now + REQUESTED_LIFETIME)?),
        rtime: Optional::from(None),
        nonce: ExplicitContextTag7::from(int(nonce.into())),
        etype: ExplicitContextTag8::from(etypes()),
        addresses: Optional::from(None),
        enc_authorization_data: Optional::from(None),
        additional_tickets: Optional::from(None),
    };
    let request = |padata: Option<Vec<PaData>>| -> Result<Vec<u8>> {
        to_der(&AsReq::from(KdcReq {
            pvno: ExplicitContextTag1::from(int(5)),
            msg_type: ExplicitContextTag2::from(int(10)),
            padata: Optional::from(
                padata.map(|p| ExplicitContextTag3::from(Asn1SequenceOf::from(p))),
            ),
            req_body: ExplicitContextTag4::from(body.clone()),
        }))
    };

    // First without pre-authentication: the KDC answers with the salt and
    // key types to use (or, for principals that do not require it, with
    // the ticket).
    let mut reply = transport::exchange(config, realm, &request(None)?, timeout)?;
    let mut password_key: Option<Key> = None;
    if let Some((code, err, e_data)) = kdc_error(realm, &reply) {
        if code != KDC_ERR_PREAUTH_REQUIRED {
            return Err(err);
        }
        let hints = key_hints(&method_data(e_data.as_deref()));
        let key = password_key_for(client, password, &hints, None)?;
        let (ts, usec) = split_micros(SystemTime::now());
        let ts_enc = to_der(&PaEncTsEnc {
            patimestamp: ExplicitContextTag0::from(crate::der::ktime(ts)?),
            pausec: Optional::from(Some(ExplicitContextTag1::from(int(usec.into())))),
        })?;
        let enc = to_der(&EncryptedData {
            etype: ExplicitContextTag0::from(int(key.enctype().into())),
            kvno: Optional::from(None),
            cipher: ExplicitContextTag2::from(OctetStringAsn1::from(
                key.encrypt(USAGE_PA_ENC_TIMESTAMP, &ts_enc)?,
            )),
        })?;
        reply = transport::exchange(
            config,
            realm,
            &request(Some(vec![pa_data(PA_ENC_TIMESTAMP, enc)]))?,
            timeout,
        )?;
        if let Some((code, err, _)) = kdc_error(realm, &reply) {
            return Err(match code {
                KDC_ERR_PREAUTH_FAILED => wrong_password(),
                _ => err,
            });
        }
        password_key = Some(key);
    }
    let rep: AsRep =
        from_der(&reply).map_err(|e| bad_reply(realm, format!("not an AS-REP: {e}")))?;
    let rep = rep.0;
    let enc_type = int32(&rep.enc_part.0.etype.0).unwrap_or(0);
    let key = match password_key {
        Some(k) if k.enctype() == enc_type => k,
        _ => {
            let hints = rep
                .padata
                .0
                .as_ref()
                .map(|p| key_hints(&p.0.0))
                .unwrap_or_default();
            password_key_for(client, password, &hints, Some(enc_type))?
        }
    };
    // Without pre-authentication a wrong password shows only here.
    let part =
        decrypt_rep_part(realm, &key, USAGE_AS_REP, &rep.enc_part.0)?.ok_or_else(wrong_password)?;
    credential_from_rep(realm, rep, part, nonce)
}

/// The password's key for the first supported type in `hints` (the KDC's
/// order), or for `enctype` when the reply names it.
fn password_key_for(
    client: &Principal,
    password: &str,
    hints: &[KeyHint],
    enctype: Option<i32>,
) -> Result<Key> {
    let chosen = match enctype {
        Some(e) => hints.iter().find(|h| h.enctype == e || h.enctype == 0),
        None => hints
            .iter()
            .find(|h| REQUESTED_ENCTYPES.contains(&h.enctype)),
    };
    let enctype = match (enctype, chosen) {
        (Some(e), _) => e,
        (None, Some(h)) => h.enctype,
        (None, None) => {
            if hints.is_empty() {
                REQUESTED_ENCTYPES[0]
            } else {
                let offered: Vec<String> = hints.iter().map(|h| enctype_name(h.enctype)).collect();
                return Err(KerberosError::Unsupported(format!(
                    "the KDC offers only {} for this user's password",
                    offered.join(", ")
                )));
            }
        }
    };
    let salt = chosen
        .and_then(|h| h.salt.clone())
        .unwrap_or_else(|| default_salt(client));
    let params = chosen.and_then(|h| h.s2kparams.as_deref());
    Key::from_password(enctype, password, &salt, params)
}

/// Asks the KDC of `realm` for a ticket for `service` with the TGT `tgt`.
fn tgs_request(
    config: &Krb5Config,
    realm: &str,
    tgt: &Credential,
    service: &Principal,
    timeout: Duration,
) -> Result<Credential> {
    let nonce = nonce()?;
    let body = KdcReqBody {
        kdc_options: ExplicitContextTag0::from(flags(KDC_OPT_CANONICALIZE)),
        cname: Optional::from(None),
        realm: ExplicitContextTag2::from(kstring(service.realm())?),
        sname: Optional::from(Some(ExplicitContextTag3::from(principal_name(
            NT_SRV_INST,
            service.components(),
        )?))),
        from: Optional::from(None),
        till: ExplicitContextTag5::from(crate::der::ktime(tgt.endtime)?),
        rtime: Optional::from(None),
        nonce: ExplicitContextTag7::from(int(nonce.into())),
        etype: ExplicitContextTag8::from(etypes()),
        addresses: Optional::from(None),
        enc_authorization_data: Optional::from(None),
        additional_tickets: Optional::from(None),
    };
    let (cksum_type, cksum) = tgt.key.checksum(USAGE_TGS_REQ_CHECKSUM, &to_der(&body)?)?;
    let checksum = Checksum {
        cksumtype: ExplicitContextTag0::from(int(cksum_type.into())),
        checksum: ExplicitContextTag1::from(OctetStringAsn1::from(cksum)),
    };
    let ap_req = ap_req(
        tgt,
        SystemTime::now(),
        Some(checksum),
        false,
        USAGE_TGS_REQ_AUTHENTICATOR,
    )?;
    let request = to_der(&TgsReq::from(KdcReq {
        pvno: ExplicitContextTag1::from(int(5)),
        msg_type: ExplicitContextTag2::from(int(12)),
        padata: Optional::from(Some(ExplicitContextTag3::from(Asn1SequenceOf::from(vec![
            pa_data(PA_TGS_REQ, ap_req),
        ])))),
        req_body: ExplicitContextTag4::from(body),
    }))?;
    let reply = transport::exchange(config, realm, &request, timeout)?;
    if let Some((_, err, _)) = kdc_error(realm, &reply) {
        return Err(err);
    }
    let rep: TgsRep =
        from_der(&reply).map_err(|e| bad_reply(realm, format!("not a TGS-REP: {e}")))?;
    let rep = rep.0;
    let part =
        decrypt_rep_part(realm, &tgt.key, USAGE_TGS_REP, &rep.enc_part.0)?.ok_or_else(|| {
            bad_reply(
                realm,
                "the reply does not decrypt with the TGT's session key",
            )
        })?;
    credential_from_rep(realm, rep, part, nonce)
}

/// A ticket for `service` from the TGT `tgt`: through the cross-realm TGT
/// `krbtgt/SERVICE-REALM@CLIENT-REALM` when the service is in another realm,
/// and following referrals the KDC answers with.
pub(crate) fn service_ticket(
    config: &Krb5Config,
    tgt: &Credential,
    service: &Principal,
    timeout: Duration,
) -> Result<Credential> {
    let mut tgt = tgt.clone();
    for _ in 0..MAX_REFERRALS {
        // The realm whose KDC the TGT is for: krbtgt/THAT@ISSUER.
        let kdc_realm = tgt
            .server
            .components()
            .get(1)
            .cloned()
            .unwrap_or_else(|| tgt.server.realm().to_owned());
        let target = if kdc_realm.eq_ignore_ascii_case(service.realm()) {
            service.clone()
        } else {
            Principal::new(
                vec!["krbtgt".into(), service.realm().to_owned()],
                kdc_realm.clone(),
            )
        };
        let cred = tgs_request(config, &kdc_realm, &tgt, &target, timeout)?;
        if cred.server.matches(service) || (!cred.server.is_tgs() && target == *service) {
            return Ok(cred);
        }
        if cred.server.is_tgs() {
            // A cross-realm TGT (asked for or a referral): go on with it.
            tgt = cred;
            continue;
        }
        return Err(bad_reply(
            &kdc_realm,
            format!("asked for {service}, got a ticket for {}", cred.server),
        ));
    }
    Err(bad_reply(
        service.realm(),
        format!("more than {MAX_REFERRALS} referrals on the way to {service}"),
    ))
}

/// A DER AP-REQ presenting `cred` at `now`. For a service (usage 11) the
/// authenticator carries a fresh subkey and sequence number and no checksum,
/// as gokrb5 (Go Guard's client) makes it.
pub(crate) fn ap_req(
    cred: &Credential,
    now: SystemTime,
    checksum: Option<Checksum>,
    with_subkey: bool,
    usage: i32,
) -> Result<Vec<u8>> {
    let (ctime, cusec) = split_micros(now);
    let (subkey, seq) = if with_subkey {
        let seq = getrandom::u32()
            .map_err(|e| KerberosError::Internal(format!("no randomness: {e}")))?
            & 0x3fff_ffff;
        (
            Some(ExplicitContextTag6::from(
                Key::random(cred.key.enctype())?.to_asn1(),
            )),
            Some(ExplicitContextTag7::from(int(seq.into()))),
        )
    } else {
        (None, None)
    };
    let authenticator = Authenticator::from(AuthenticatorInner {
        authenticator_vno: ExplicitContextTag0::from(int(5)),
        crealm: ExplicitContextTag1::from(kstring(cred.client.realm())?),
        cname: ExplicitContextTag2::from(principal_name(NT_PRINCIPAL, cred.client.components())?),
        cksum: Optional::from(checksum.map(ExplicitContextTag3::from)),
        cusec: ExplicitContextTag4::from(int(cusec.into())),
        ctime: ExplicitContextTag5::from(crate::der::ktime(ctime)?),
        subkey: Optional::from(subkey),
        seq_number: Optional::from(seq),
        authorization_data: Optional::from(None),
    });
    let encrypted = cred.key.encrypt(usage, &to_der(&authenticator)?)?;
    to_der(&ApReq::from(ApReqInner {
        pvno: ExplicitContextTag0::from(int(5)),
        msg_type: ExplicitContextTag1::from(int(14)),
        ap_options: ExplicitContextTag2::from(flags(0)),
        ticket: ExplicitContextTag3::from(cred.ticket.clone()),
        authenticator: ExplicitContextTag4::from(EncryptedData {
            etype: ExplicitContextTag0::from(int(cred.key.enctype().into())),
            kvno: Optional::from(None),
            cipher: ExplicitContextTag2::from(OctetStringAsn1::from(encrypted)),
        }),
    }))
}

/// The AP-REQ a service receives (usage 11, with a subkey).
pub(crate) fn service_ap_req(cred: &Credential, now: SystemTime) -> Result<Vec<u8>> {
    ap_req(cred, now, None, true, USAGE_AP_REQ_AUTHENTICATOR)
}
