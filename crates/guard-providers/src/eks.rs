//! AWS identities (`eks`): aws-iam-authenticator tokens, verified on the
//! server and minted on the client.
//!
//! A token is `k8s-aws-v1.` + base64url (no padding) of a presigned `GET`
//! URL for STS `GetCallerIdentity` whose signed headers include
//! `x-k8s-aws-id: <cluster ID>`. guard checks the URL **before** any request
//! (this is an SSRF boundary: nothing but that one STS call may ever be made
//! from a token), then calls it with `x-k8s-aws-id` set to the cluster ID
//! of the client certificate (`CN`), so STS's signature check also proves
//! the token was made for this cluster. The caller's ARN is mapped to a
//! username and groups through an `aws-auth`-style mapping file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use guard_api::{AuthProvider, BearerToken};
use guard_auth::reload::Reloading;
use guard_auth::{BoxFuture, CheckError, Identity, Provider};
use reqwest::Url;
use serde::Deserialize;

use crate::http;

/// The token prefix.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The header that binds a token to a cluster.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";
/// How long a token is accepted after its `X-Amz-Date`: aws-iam-authenticator's
/// rule, which kubectl relies on (the aws CLI hands it a 14-minute expiry).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Longest token accepted (aws-iam-authenticator's limit).
const MAX_TOKEN_LEN: usize = 4096;
/// Clock skew tolerated on `X-Amz-Date` in the future.
const SKEW: Duration = Duration::from_secs(60);

/// Options (`--eks.*`).
#[derive(Debug, Clone, Default)]
pub struct EksOptions {
    /// `--eks.mapping-file`: `mapRoles`, `mapUsers`, `mapAccounts`.
    pub mapping_file: Option<PathBuf>,
    /// `--eks.sts-endpoint`: one more accepted STS endpoint (a private VPC
    /// endpoint, or a local STS in tests), e.g. `https://sts.internal:443`.
    pub sts_endpoint: Option<String>,
}

// ---------------------------------------------------------------- the token

/// A validated token: the URL to call and what it says about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedToken {
    /// The presigned URL, exactly as signed.
    pub url: Url,
    /// The access key id from `X-Amz-Credential`.
    pub access_key_id: String,
}

/// Why a token is refused before any request is made.
fn refuse(why: impl Into<String>) -> CheckError {
    CheckError::Denied(format!("invalid EKS token: {}", why.into()))
}

/// Whether `host` is an AWS STS host: `sts.amazonaws.com`,
/// `sts.REGION.amazonaws.com`, `sts-fips.REGION.amazonaws.com`, and the
/// China partition's `sts.REGION.amazonaws.com.cn`.
pub fn is_sts_host(host: &str) -> bool {
    if host == "sts.amazonaws.com" {
        return true;
    }
    let rest = host
        .strip_prefix("sts.")
        .or_else(|| host.strip_prefix("sts-fips."));
    let Some(rest) = rest else { return false };
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"));
    region.is_some_and(|r| {
        !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// Checks a token without calling anything: prefix, encoding, an https URL
/// to an STS host (or the configured endpoint), `GetCallerIdentity` and
/// nothing else, `x-k8s-aws-id` signed, the date window.
pub fn validate_token(
    token: &str,
    extra_endpoint: Option<&Url>,
    now: SystemTime,
) -> Result<ValidatedToken, CheckError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(refuse("too long"));
    }
    let encoded = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or_else(|| refuse(format!("it does not start with {TOKEN_PREFIX}")))?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|_| refuse("not base64url"))?;
    let text = String::from_utf8(raw).map_err(|_| refuse("not a URL"))?;
    let url = Url::parse(&text).map_err(|_| refuse("not a URL"))?;

    let allowed_extra = extra_endpoint.is_some_and(|e| {
        e.scheme() == url.scheme()
            && e.host_str() == url.host_str()
            && e.port_or_known_default() == url.port_or_known_default()
    });
    if !allowed_extra {
        if url.scheme() != "https" {
            return Err(refuse("the URL is not https"));
        }
        if url.port().is_some() || !url.host_str().is_some_and(is_sts_host) {
            return Err(refuse("the URL is not an AWS STS endpoint"));
        }
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(refuse("the URL has user info or a fragment"));
    }
    if url.path() != "/" {
        return Err(refuse("the URL path is not /"));
    }

    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in url.query_pairs() {
        let key = key.to_ascii_lowercase();
        const ALLOWED: [&str; 9] = [
            "action",
            "version",
            "x-amz-algorithm",
            "x-amz-credential",
            "x-amz-date",
            "x-amz-expires",
            "x-amz-signedheaders",
            "x-amz-signature",
            "x-amz-security-token",
        ];
        if !ALLOWED.contains(&key.as_str()) {
            return Err(refuse(format!("unexpected query parameter {key}")));
        }
        if params.insert(key.clone(), value.into_owned()).is_some() {
            return Err(refuse(format!("query parameter {key} repeated")));
        }
    }
    let get = |k: &str| {
        params
            .get(k)
            .map(String::as_str)
            .ok_or_else(|| refuse(format!("missing {k}")))
    };
    if get("action")? != "GetCallerIdentity" {
        return Err(refuse("the action is not GetCallerIdentity"));
    }
    get("version")?;
    get("x-amz-signature")?;
    if get("x-amz-algorithm")? != "AWS4-HMAC-SHA256" {
        return Err(refuse("unsupported signing algorithm"));
    }
    let signed: Vec<&str> = get("x-amz-signedheaders")?.split(';').collect();
    if !signed
        .iter()
        .any(|h| h.eq_ignore_ascii_case(CLUSTER_ID_HEADER))
    {
        return Err(refuse("x-k8s-aws-id is not a signed header"));
    }
    let expires: u64 = get("x-amz-expires")?
        .parse()
        .map_err(|_| refuse("invalid X-Amz-Expires"))?;
    if expires == 0 || expires > TOKEN_LIFETIME.as_secs() {
        return Err(refuse("X-Amz-Expires out of range"));
    }
    let date = parse_amz_date(get("x-amz-date")?).ok_or_else(|| refuse("invalid X-Amz-Date"))?;
    if date > now + SKEW {
        return Err(refuse("X-Amz-Date is in the future"));
    }
    if now > date + TOKEN_LIFETIME {
        return Err(refuse("expired"));
    }
    let credential = get("x-amz-credential")?;
    let access_key_id = credential.split('/').next().unwrap_or_default().to_owned();
    Ok(ValidatedToken { url, access_key_id })
}

fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(s, &format)
        .ok()?
        .assume_utc();
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.unix_timestamp()).ok()?))
}

// ---------------------------------------------------------------- mapping

/// `mapRoles` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct RoleMapping {
    /// The role ARN (`arn:aws:iam::ACCOUNT:role/NAME`).
    pub rolearn: String,
    /// Username template.
    pub username: String,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// `mapUsers` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct UserMapping {
    /// The user ARN.
    pub userarn: String,
    /// Username template.
    pub username: String,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The mapping file: the three lists of aws-iam-authenticator's `aws-auth`
/// ConfigMap, either at the top level or as the YAML strings of a ConfigMap's
/// `data`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Mapping {
    /// `mapRoles`
    #[serde(default, rename = "mapRoles")]
    pub roles: Vec<RoleMapping>,
    /// `mapUsers`
    #[serde(default, rename = "mapUsers")]
    pub users: Vec<UserMapping>,
    /// `mapAccounts`
    #[serde(default, rename = "mapAccounts")]
    pub accounts: Vec<String>,
}

impl Mapping {
    /// Parses a mapping file.
    pub fn parse(text: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct ConfigMap {
            data: BTreeMap<String, String>,
        }
        if let Ok(cm) = serde_saphyr::from_str::<ConfigMap>(text) {
            let list = |key: &str| {
                cm.data
                    .get(key)
                    .map(String::as_str)
                    .unwrap_or("[]")
                    .to_owned()
            };
            return Ok(Mapping {
                roles: serde_saphyr::from_str(&list("mapRoles"))
                    .map_err(|e| format!("mapRoles: {e}"))?,
                users: serde_saphyr::from_str(&list("mapUsers"))
                    .map_err(|e| format!("mapUsers: {e}"))?,
                accounts: serde_saphyr::from_str(&list("mapAccounts"))
                    .map_err(|e| format!("mapAccounts: {e}"))?,
            });
        }
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Mapping::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// A caller as STS names it, and its canonical (role) ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The ARN STS returned.
    pub arn: String,
    /// The user ARN, or the role ARN of an assumed-role session.
    pub canonical_arn: String,
    /// The account.
    pub account: String,
    /// STS's `UserId`.
    pub user_id: String,
    /// The role session name, for assumed roles.
    pub session_name: Option<String>,
}

/// Canonicalises an STS ARN: `arn:P:sts::A:assumed-role/R/S` becomes
/// `arn:P:iam::A:role/R` (as aws-iam-authenticator does, role paths are not
/// part of the session ARN).
pub fn canonicalize(arn: &str) -> Result<(String, Option<String>), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return Err(format!("not an ARN: {arn}"));
    }
    let (partition, service, account, resource) = (parts[1], parts[2], parts[4], parts[5]);
    match (service, resource.split('/').collect::<Vec<_>>().as_slice()) {
        ("sts", ["assumed-role", role, session]) => Ok((
            format!("arn:{partition}:iam::{account}:role/{role}"),
            Some((*session).to_owned()),
        )),
        ("iam", ["user", ..]) | ("iam", ["role", ..]) => Ok((arn.to_owned(), None)),
        ("sts", ["federated-user", ..]) => Ok((arn.to_owned(), None)),
        _ => Err(format!("unsupported ARN {arn}")),
    }
}

impl Mapping {
    /// The identity of `caller`, or `None` when unmapped.
    pub fn map(&self, caller: &Caller) -> Option<(String, Vec<String>)> {
        let render = |template: &str| {
            let session = caller.session_name.clone().unwrap_or_default();
            template
                .replace("{{AccountID}}", &caller.account)
                .replace("{{SessionNameRaw}}", &session)
                .replace("{{SessionName}}", &session.replace('@', "-"))
        };
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        if let Some(r) = self
            .roles
            .iter()
            .find(|r| same(&r.rolearn, &caller.canonical_arn))
        {
            return Some((render(&r.username), r.groups.clone()));
        }
        if let Some(u) = self
            .users
            .iter()
            .find(|u| same(&u.userarn, &caller.canonical_arn))
        {
            return Some((render(&u.username), u.groups.clone()));
        }
        self.accounts
            .iter()
            .any(|a| a == &caller.account)
            .then(|| (caller.canonical_arn.clone(), Vec::new()))
    }
}

// ---------------------------------------------------------------- provider

/// The EKS provider.
pub struct EksProvider {
    client: reqwest::Client,
    extra_endpoint: Option<Url>,
    mapping: Option<Arc<Reloading<Mapping, String>>>,
}

impl EksProvider {
    /// Loads the mapping file; fails if it is missing or malformed.
    pub fn new(client: reqwest::Client, options: &EksOptions) -> Result<Arc<Self>, String> {
        let extra_endpoint = options
            .sts_endpoint
            .as_deref()
            .map(|e| {
                Url::parse(e).map_err(|err| format!("invalid --eks.sts-endpoint {e:?}: {err}"))
            })
            .transpose()?;
        let mapping = match &options.mapping_file {
            Some(path) => {
                let file = path.clone();
                Some(Reloading::load(vec![path.clone()], move || {
                    Mapping::load(&file)
                })?)
            }
            None => None,
        };
        Ok(Arc::new(EksProvider {
            client,
            extra_endpoint,
            mapping,
        }))
    }

    /// Re-reads the mapping file when it changed; a broken one keeps the old.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        match &self.mapping {
            Some(mapping) => mapping.spawn_reloader(interval, |mapping, result| match result {
                Ok(_) => tracing::info!(
                    file = %mapping.paths()[0].display(),
                    "EKS mapping file reloaded"
                ),
                Err(e) => tracing::error!("{e}; keeping the previous mapping"),
            }),
            None => tokio::spawn(async {}),
        }
    }

    async fn check_token(
        &self,
        cluster_id: &str,
        token: &BearerToken,
    ) -> Result<Identity, CheckError> {
        let token = validate_token(
            token.expose(),
            self.extra_endpoint.as_ref(),
            SystemTime::now(),
        )?;
        let response = self
            .client
            .get(token.url.clone())
            .header(CLUSTER_ID_HEADER, cluster_id)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| http::transport("AWS STS", &e))?;
        let status = response.status();
        if status.is_client_error() && status != reqwest::StatusCode::TOO_MANY_REQUESTS {
            // Bad signature, expired, unknown key, wrong cluster id.
            return Err(CheckError::Denied(format!(
                "AWS STS refused the token ({status})"
            )));
        }
        if !status.is_success() {
            return Err(http::classify(
                "AWS STS",
                status,
                response.headers(),
                String::new,
            ));
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Envelope {
            get_caller_identity_response: Response,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Response {
            get_caller_identity_result: Result_,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Result_ {
            arn: String,
            account: String,
            user_id: String,
        }
        let body: Envelope = http::json("AWS STS", response).await?;
        let r = body.get_caller_identity_response.get_caller_identity_result;
        let (canonical_arn, session_name) = canonicalize(&r.arn).map_err(CheckError::Denied)?;
        let caller = Caller {
            arn: r.arn,
            canonical_arn,
            account: r.account,
            user_id: r.user_id,
            session_name,
        };
        let mapping = self
            .mapping
            .as_ref()
            .map(|m| m.current())
            .unwrap_or_default();
        let (username, groups) = mapping.map(&caller).ok_or_else(|| {
            CheckError::Denied(format!(
                "{} is not in the EKS mapping",
                caller.canonical_arn
            ))
        })?;
        let mut extra = BTreeMap::from([
            ("arn".to_owned(), vec![caller.arn.clone()]),
            (
                "canonicalArn".to_owned(),
                vec![caller.canonical_arn.clone()],
            ),
            ("accessKeyId".to_owned(), vec![token.access_key_id]),
        ]);
        if let Some(s) = &caller.session_name {
            extra.insert("sessionName".to_owned(), vec![s.clone()]);
        }
        Ok(Identity {
            username,
            uid: format!(
                "aws-iam-authenticator:{}:{}",
                caller.account, caller.user_id
            ),
            groups,
            extra,
        })
    }
}

impl Provider for EksProvider {
    fn kind(&self) -> AuthProvider {
        AuthProvider::Eks
    }

    fn check<'a>(
        &'a self,
        org: &'a str,
        token: &'a BearerToken,
    ) -> BoxFuture<'a, Result<Identity, CheckError>> {
        Box::pin(self.check_token(org, token))
    }
}

// ---------------------------------------------------------------- client

/// AWS credentials for minting a token.
#[derive(Clone)]
pub struct AwsCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The STS endpoint a token is presigned for: `AWS_ENDPOINT_URL_STS` (as
/// the aws CLI honours it), else the regional endpoint, else the global one.
pub fn sts_endpoint(region: Option<&str>, override_url: Option<&str>) -> Result<Url, String> {
    if let Some(u) = override_url.filter(|u| !u.is_empty()) {
        return http::base_url(u, "AWS_ENDPOINT_URL_STS");
    }
    let host = match region {
        None | Some("") => "sts.amazonaws.com".to_owned(),
        Some(r) if r.starts_with("cn-") => format!("sts.{r}.amazonaws.com.cn"),
        Some(r) => format!("sts.{r}.amazonaws.com"),
    };
    Url::parse(&format!("https://{host}/")).map_err(|e| e.to_string())
}

/// Mints a token for `cluster_id`, presigned for 60 s (as the aws CLI does).
pub fn mint_token(
    credentials: &AwsCredentials,
    cluster_id: &str,
    region: Option<&str>,
    endpoint: &Url,
    now: SystemTime,
) -> Result<String, String> {
    use aws_sigv4::http_request::{
        SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
    };
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "guard",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region.filter(|r| !r.is_empty()).unwrap_or("us-east-1"))
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let url = format!(
        "{}?Action=GetCallerIdentity&Version=2011-06-15",
        endpoint.as_str()
    );
    let headers = [(CLUSTER_ID_HEADER, cluster_id)];
    let signable = SignableRequest::new("GET", &url, headers.into_iter(), SignableBody::Bytes(&[]))
        .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let mut request = ::http::Request::builder()
        .uri(&url)
        .header(CLUSTER_ID_HEADER, cluster_id)
        .body(())
        .map_err(|e| e.to_string())?;
    instructions.apply_to_request_http1x(&mut request);
    let presigned = request.uri().to_string();
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(presigned)
    ))
}

/// Credentials from the environment (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), else from the shared
/// credentials file (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`)
/// for `AWS_PROFILE` (default `default`).
pub fn credentials_from_environment(home: Option<&Path>) -> Result<AwsCredentials, String> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        return Ok(AwsCredentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: env("AWS_SESSION_TOKEN"),
        });
    }
    let file = env("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".aws/credentials")))
        .ok_or("no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or configure ~/.aws/credentials")?;
    let profile = env("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let text = std::fs::read_to_string(&file).map_err(|e| {
        format!(
            "no AWS credentials in the environment, and {}: {e}",
            file.display()
        )
    })?;
    let mut section = String::new();
    let mut values = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().trim_start_matches("profile ").to_owned();
        } else if section == profile
            && let Some((k, v)) = line.split_once('=')
        {
            values.insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    match (
        values.get("aws_access_key_id"),
        values.get("aws_secret_access_key"),
    ) {
        (Some(id), Some(secret)) => Ok(AwsCredentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            session_token: values.get("aws_session_token").cloned(),
        }),
        _ => Err(format!(
            "profile {profile} in {} has no aws_access_key_id/aws_secret_access_key",
            file.display()
        )),
    }
}

/// Assumes `role_arn` with `credentials` (STS `AssumeRole`, SigV4-signed),
/// returning the temporary credentials.
pub async fn assume_role(
    client: &reqwest::Client,
    credentials: &AwsCredentials,
    role_arn: &str,
    session_name: &str,
    region: Option<&str>,
    endpoint: &Url,
) -> Result<AwsCredentials, String> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let body = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName={}",
        urlencode(role_arn),
        urlencode(session_name)
    );
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "guard",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region.filter(|r| !r.is_empty()).unwrap_or("us-east-1"))
        .name("sts")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let headers = [
        ("content-type", content_type),
        ("accept", "application/json"),
    ];
    let signable = SignableRequest::new(
        "POST",
        endpoint.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let mut request = ::http::Request::builder()
        .method("POST")
        .uri(endpoint.as_str())
        .header("content-type", content_type)
        .header("accept", "application/json")
        .body(())
        .map_err(|e| e.to_string())?;
    instructions.apply_to_request_http1x(&mut request);
    let mut call = client.post(endpoint.clone()).body(body);
    for (name, value) in request.headers() {
        call = call.header(name.as_str(), value.as_bytes());
    }
    let response = call
        .send()
        .await
        .map_err(|e| format!("cannot reach AWS STS: {e}"))?;
    if !response.status().is_success() {
        return Err(format!(
            "AWS STS refused AssumeRole for {role_arn} ({})",
            response.status()
        ));
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Envelope {
        assume_role_response: Inner,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Inner {
        assume_role_result: Result_,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Result_ {
        credentials: Creds,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Creds {
        access_key_id: String,
        secret_access_key: String,
        session_token: String,
    }
    let body: Envelope = response
        .json()
        .await
        .map_err(|e| format!("unexpected AssumeRole answer: {e}"))?;
    let c = body.assume_role_response.assume_role_result.credentials;
    Ok(AwsCredentials {
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        session_token: Some(c.session_token),
    })
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(url: &str) -> String {
        format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
        )
    }

    fn url_at(host: &str, date: &str, extra: &str) -> String {
        format!(
            "https://{host}/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261122%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date={date}&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=abc{extra}"
        )
    }

    fn at(s: &str) -> SystemTime {
        parse_amz_date(s).unwrap()
    }

    #[test]
    fn sts_hosts_only() {
        for ok in [
            "sts.amazonaws.com",
            "sts.us-west-2.amazonaws.com",
            "sts.cn-north-1.amazonaws.com.cn",
            "sts-fips.us-east-1.amazonaws.com",
        ] {
            assert!(is_sts_host(ok), "{ok}");
        }
        for bad in [
            "sts.amazonaws.com.evil.com",
            "evil.com",
            "sts..amazonaws.com",
            "s3.amazonaws.com",
            "sts.us-west-2.amazonaws.com:444",
            "xsts.amazonaws.com",
            "sts.US-WEST-2.amazonaws.com",
        ] {
            assert!(!is_sts_host(bad), "{bad}");
        }
    }

    #[test]
    fn a_well_formed_token_passes() {
        let t = validate_token(
            &encode(&url_at("sts.amazonaws.com", "20261122T120000Z", "")),
            None,
            at("20261122T120030Z"),
        )
        .unwrap();
        assert_eq!(t.access_key_id, "AKID");
        assert_eq!(t.url.host_str(), Some("sts.amazonaws.com"));
    }

    #[test]
    fn no_other_host_action_or_parameter_gets_through() {
        let now = at("20261122T120030Z");
        let d = "20261122T120000Z";
        let cases = [
            ("k8s-aws-v2.abc".to_owned(), "start with"),
            (format!("{TOKEN_PREFIX}!!!"), "base64"),
            (
                encode(&url_at("evil.example.com", d, "")),
                "not an AWS STS endpoint",
            ),
            (
                encode(&url_at("sts.amazonaws.com:8443", d, "")),
                "not an AWS STS endpoint",
            ),
            (
                encode(&url_at("169.254.169.254", d, "")),
                "not an AWS STS endpoint",
            ),
            (
                encode(&url_at("sts.amazonaws.com", d, "").replace("https://", "http://")),
                "not https",
            ),
            (
                encode(
                    &url_at("sts.amazonaws.com", d, "").replace("GetCallerIdentity", "AssumeRole"),
                ),
                "not GetCallerIdentity",
            ),
            (
                encode(&url_at("sts.amazonaws.com", d, "&RoleArn=x")),
                "unexpected query parameter",
            ),
            (
                encode(&url_at("sts.amazonaws.com", d, "&Action=GetCallerIdentity")),
                "repeated",
            ),
            (
                encode(&url_at("sts.amazonaws.com", d, "").replace("host%3Bx-k8s-aws-id", "host")),
                "not a signed header",
            ),
            (
                encode(
                    &url_at("sts.amazonaws.com", d, "")
                        .replace("https://sts.amazonaws.com/", "https://sts.amazonaws.com/x"),
                ),
                "path",
            ),
            (
                encode(&url_at("user:pw@sts.amazonaws.com", d, "")),
                "user info",
            ),
            (
                encode(&url_at("sts.amazonaws.com", "20261122T100000Z", "")),
                "expired",
            ),
            (
                encode(&url_at("sts.amazonaws.com", "20261122T130000Z", "")),
                "future",
            ),
            (
                encode(
                    &url_at("sts.amazonaws.com", d, "")
                        .replace("X-Amz-Expires=60", "X-Amz-Expires=86400"),
                ),
                "X-Amz-Expires",
            ),
        ];
        for (token, needle) in cases {
            match validate_token(&token, None, now) {
                Err(CheckError::Denied(m)) => assert!(m.contains(needle), "{token}: {m}"),
                other => panic!("{needle}: {other:?}"),
            }
        }
        // The configured endpoint (a local STS in tests) is accepted exactly.
        let local = Url::parse("http://127.0.0.1:5002").unwrap();
        let token = encode(
            &url_at("sts.amazonaws.com", d, "")
                .replace("https://sts.amazonaws.com/", "http://127.0.0.1:5002/"),
        );
        assert!(validate_token(&token, Some(&local), now).is_ok());
        let other_port = encode(
            &url_at("sts.amazonaws.com", d, "")
                .replace("https://sts.amazonaws.com/", "http://127.0.0.1:5003/"),
        );
        assert!(validate_token(&other_port, Some(&local), now).is_err());
    }

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

    #[test]
    fn mapping_with_templates_and_configmap_shape() {
        let direct = "mapRoles:\n- rolearn: arn:aws:iam::111122223333:role/k8s-admins\n  username: admin:{{SessionName}}\n  groups: [system:masters]\nmapUsers:\n- userarn: arn:aws:iam::111122223333:user/bob\n  username: bob-{{AccountID}}\n  groups: [devs]\nmapAccounts: [\"444455556666\"]\n";
        let configmap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: aws-auth, namespace: kube-system}\ndata:\n  mapRoles: |\n    - rolearn: arn:aws:iam::111122223333:role/k8s-admins\n      username: admin:{{SessionName}}\n      groups: [system:masters]\n  mapUsers: |\n    - userarn: arn:aws:iam::111122223333:user/bob\n      username: bob-{{AccountID}}\n      groups: [devs]\n  mapAccounts: |\n    - \"444455556666\"\n";
        for text in [direct, configmap] {
            let m = Mapping::parse(text).unwrap();
            let role = Caller {
                arn: "arn:aws:sts::111122223333:assumed-role/k8s-admins/alice@example.com".into(),
                canonical_arn: "arn:aws:iam::111122223333:role/k8s-admins".into(),
                account: "111122223333".into(),
                user_id: "AROA:alice".into(),
                session_name: Some("alice@example.com".into()),
            };
            assert_eq!(
                m.map(&role),
                Some((
                    "admin:alice-example.com".into(),
                    vec!["system:masters".into()]
                ))
            );
            let user = Caller {
                arn: "arn:aws:iam::111122223333:user/bob".into(),
                canonical_arn: "arn:aws:iam::111122223333:user/bob".into(),
                account: "111122223333".into(),
                user_id: "AIDA".into(),
                session_name: None,
            };
            assert_eq!(
                m.map(&user),
                Some(("bob-111122223333".into(), vec!["devs".into()]))
            );
            let account = Caller {
                arn: "arn:aws:iam::444455556666:user/x".into(),
                canonical_arn: "arn:aws:iam::444455556666:user/x".into(),
                account: "444455556666".into(),
                user_id: "AIDX".into(),
                session_name: None,
            };
            assert_eq!(
                m.map(&account),
                Some(("arn:aws:iam::444455556666:user/x".into(), vec![]))
            );
            let stranger = Caller {
                account: "999999999999".into(),
                canonical_arn: "arn:aws:iam::999999999999:user/x".into(),
                ..account.clone()
            };
            assert_eq!(m.map(&stranger), None);
        }
    }

    #[test]
    fn minted_tokens_pass_our_own_validation() {
        let creds = AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: Some("session".into()),
        };
        let now = SystemTime::now();
        let endpoint = sts_endpoint(Some("us-west-2"), None).unwrap();
        let token = mint_token(&creds, "demo", Some("us-west-2"), &endpoint, now).unwrap();
        let t = validate_token(&token, None, now).unwrap();
        assert_eq!(t.url.host_str(), Some("sts.us-west-2.amazonaws.com"));
        let q: BTreeMap<_, _> = t.url.query_pairs().into_owned().collect();
        assert_eq!(q["X-Amz-Expires"], "60");
        assert_eq!(q["X-Amz-SignedHeaders"], "host;x-k8s-aws-id");
        assert!(q.contains_key("X-Amz-Security-Token"));
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    #[test]
    fn arbitrary_tokens_never_panic_and_never_validate() {
        let mut seed: u64 = 0x1234_5678_9abc_def1;
        let now = SystemTime::now();
        for i in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let junk: Vec<u8> = (0..(seed % 300) as usize)
                .map(|j| (seed >> (j % 57)) as u8 ^ j as u8)
                .collect();
            let body = if i % 2 == 0 {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&junk)
            } else {
                String::from_utf8_lossy(&junk).into_owned()
            };
            let token = format!("{TOKEN_PREFIX}{body}");
            assert!(validate_token(&token, None, now).is_err());
        }
    }
}
