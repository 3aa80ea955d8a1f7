//! `guard get kubeadm-config` and `guard get authn-config`: golden outputs,
//! the files written (and their modes), merging into an existing kubeadm
//! configuration, refusals, and a check of every field name and enum value
//! against the upstream Go API types.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use common::*;

/// One invocation and what it must produce.
struct Case {
    name: &'static str,
    /// `get kubeadm-config` or `get authn-config`.
    command: &'static str,
    args: Vec<String>,
    /// The Kubernetes minor version the output is for.
    minor: u32,
    /// Files written besides the webhook kubeconfigs (kubeadm-config).
    files: &'static [&'static str],
    /// Webhook kubeconfigs written (kubeadm-config).
    webhooks: &'static [&'static str],
    /// Each must appear on standard error.
    notes: &'static [&'static str],
}

fn data(file: &str) -> String {
    testdata()
        .join("apiserver-config")
        .join(file)
        .display()
        .to_string()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

fn cases() -> Vec<Case> {
    const AUTHN: &[&str] = &["authentication-config.yaml"];
    const AUTHZ: &[&str] = &["authorization-config.yaml"];
    const BOTH: &[&str] = &["authentication-config.yaml", "authorization-config.yaml"];
    const WEBHOOK: &[&str] = &["guard-webhook.yaml"];
    const WEBHOOKS: &[&str] = &["guard-webhook.yaml", "guard-authz-webhook.yaml"];
    let kubeadm = |name, args: &[&str], minor, files, webhooks, notes| Case {
        name,
        command: "kubeadm-config",
        args: strings(args),
        minor,
        files,
        webhooks,
        notes,
    };
    let authn = |name, args: Vec<String>, minor, notes| Case {
        name,
        command: "authn-config",
        args,
        minor,
        files: &[],
        webhooks: &[],
        notes,
    };
    let merge_v1beta4 = format!("--merge={}", data("cluster-v1beta4.yaml"));
    let merge_v1beta3 = format!("--merge={}", data("init-v1beta3.yaml"));
    let ca_file = format!(
        "--oidc.ca-file={}",
        testdata().join("installer/proxy-ca.crt").display()
    );
    vec![
        kubeadm(
            "kubeadm-v1beta4",
            &["acme", "-o", "github"],
            34,
            AUTHN,
            WEBHOOK,
            &[],
        ),
        kubeadm(
            "kubeadm-v1beta4-authz",
            &["-o", "azure", "--authz"],
            34,
            BOTH,
            WEBHOOKS,
            &[],
        ),
        kubeadm(
            "kubeadm-1.33",
            &[
                "-o",
                "azure",
                "--kube-version=v1.33.4",
                "--dir=/srv/guard/",
                "--addr=guard.example:8443",
                "--webhook-cache-ttl=30s",
                "--anonymous-path=/livez,/readyz",
                "--authz",
            ],
            33,
            BOTH,
            WEBHOOKS,
            &[],
        ),
        kubeadm(
            "kubeadm-v1beta3",
            &["-o", "azure", "--kubeadm-api=v1beta3", "--authz"],
            30,
            AUTHZ,
            WEBHOOKS,
            &["cannot limit anonymous requests"],
        ),
        kubeadm(
            "kubeadm-v1beta3-1.29",
            &[
                "contoso",
                "-o",
                "azure",
                "--kubeadm-api=v1beta3",
                "--kube-version=1.29",
                "--authz",
                "--authn-config=false",
            ],
            29,
            &[],
            WEBHOOKS,
            &["no AuthorizationConfiguration"],
        ),
        kubeadm(
            "kubeadm-merge-v1beta4",
            &["-o", "azure", "--authz", &merge_v1beta4],
            34,
            BOTH,
            WEBHOOKS,
            &[],
        ),
        kubeadm(
            "kubeadm-merge-v1beta3",
            // 1.29: the file's kubernetesVersion.
            &["-o", "azure", "--authz", &merge_v1beta3],
            29,
            &[],
            WEBHOOKS,
            &["no AuthorizationConfiguration", "cannot limit anonymous"],
        ),
        authn(
            "authn-github",
            strings(&["--auth-providers=github"]),
            34,
            &["github: kube-apiserver has no in-tree authenticator"],
        ),
        authn(
            "authn-github-1.33",
            strings(&["--auth-providers=github,gitlab", "--kube-version=1.33"]),
            33,
            &["gitlab: kube-apiserver has no in-tree authenticator"],
        ),
        authn(
            "authn-1.30",
            strings(&["--auth-providers=ldap", "--kube-version=v1.30.4", "--ldap.server-address=ldap.example.com", "--ldap.user-search-dn=ou=people,dc=example,dc=com", "--ldap.group-search-dn=ou=groups,dc=example,dc=com"]),
            30,
            &["cannot limit anonymous requests to paths"],
        ),
        authn(
            "authn-oidc",
            vec![
                "--auth-providers=oidc".into(),
                "--oidc.issuer-url=https://login.example.com/realms/k8s".into(),
                "--oidc.discovery-url=https://idp.internal.example.com/realms/k8s".into(),
                "--oidc.client-id=kubernetes".into(),
                "--oidc.username-claim=preferred_username".into(),
                "--oidc.username-prefix=oidc:".into(),
                "--oidc.groups-claim=groups".into(),
                "--oidc.groups-prefix=oidc:".into(),
                "--oidc.required-claim=team=platform".into(),
                "--oidc.required-claim=env=prod".into(),
                ca_file,
                "--anonymous-path=/livez,/readyz,/healthz,/api/v1/namespaces/kube-public/configmaps/cluster-info".into(),
            ],
            34,
            &[],
        ),
        authn(
            "authn-google",
            strings(&[
                "--auth-providers=google",
                "--google.domain=Example.com",
                "--google.client-id=1234-abc.apps.googleusercontent.com",
            ]),
            34,
            &["not the older accounts.google.com"],
        ),
        authn(
            "authn-google-domains",
            strings(&[
                "--auth-providers=google",
                "--google.domain=a.example,b.example",
                "--google.client-id=1234-abc.apps.googleusercontent.com",
                "--kube-version=1.32",
            ]),
            32,
            &[],
        ),
        authn(
            "authn-azure",
            strings(&[
                "--auth-providers=azure",
                "--azure.tenant-id=0000-tenant",
                "--azure.client-id=6dae42f8-4368-4678-94ff-3960e28e3630",
                "--azure.environment=AzureChinaCloud",
                "--azure.skip-group-membership-resolution",
                "--azure.verify-clientID=false",
            ]),
            34,
            &["--azure.verify-clientID", "more than 200"],
        ),
        authn(
            "authn-azure-graph",
            strings(&[
                "--auth-providers=azure,oidc",
                "--azure.tenant-id=0000-tenant",
                "--azure.client-id=guard-app",
                "--azure.verify-clientID",
                "--oidc.issuer-url=https://dex.example.com",
                "--oidc.client-id=kubectl",
                "--oidc.username-claim=email",
                "--anonymous-path=",
            ]),
            34,
            &["reads groups from Microsoft Graph", "anonymous requests are off"],
        ),
    ]
}

/// A sandbox with a CA and the client certificates acme@github,
/// azure@azure and contoso@azure.
fn pki() -> Sandbox {
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "client", "acme", "-o", "github"]);
    sb.ok(&["init", "client", "-o", "azure"]);
    sb.ok(&["init", "client", "contoso", "-o", "azure"]);
    sb
}

/// The case's `[NAME] -o PROVIDER` arguments.
fn client_args(case: &Case) -> Vec<&str> {
    let o = case.args.iter().position(|a| a == "-o").unwrap();
    case.args[..o + 2].iter().map(String::as_str).collect()
}

/// Runs a case; returns (stdout, stderr, the directory written to).
fn run(sb: &Sandbox, case: &Case) -> (String, String, tempfile::TempDir) {
    let out_dir = tempfile::tempdir().unwrap();
    let out_arg = format!("--out-dir={}", out_dir.path().display());
    let mut args = vec!["get", case.command];
    args.extend(case.args.iter().map(String::as_str));
    if case.command == "kubeadm-config" {
        args.push(&out_arg);
    }
    let out = sb.run(&args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{}: {stderr}", case.name);
    (String::from_utf8(out.stdout).unwrap(), stderr, out_dir)
}

fn golden(name: &str) -> PathBuf {
    testdata().join("apiserver-config").join(name)
}

fn check_golden(name: &str, text: &str) {
    let path = golden(name);
    if std::env::var_os("GUARD_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (GUARD_UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        text,
        expected,
        "{name} differs from {} (GUARD_UPDATE_GOLDEN=1 to accept)",
        path.display()
    );
}

/// The files directly in `dir`.
fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

#[test]
fn outputs_and_files_match_the_golden_files() {
    let sb = pki();
    for case in cases() {
        let (stdout, stderr, dir) = run(&sb, &case);
        check_golden(&format!("{}.yaml", case.name), &stdout);
        for note in case.notes {
            assert!(
                stderr.contains(note),
                "{}: no {note:?} in {stderr}",
                case.name
            );
        }
        if case.command != "kubeadm-config" {
            continue;
        }
        let expected: BTreeSet<String> = case
            .files
            .iter()
            .chain(case.webhooks)
            .map(|f| (*f).to_owned())
            .collect();
        assert_eq!(listing(dir.path()), expected, "{}", case.name);
        for file in case.files {
            let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
            check_golden(&format!("{}.{file}", case.name), &text);
        }
        // The webhook kubeconfigs are exactly what `get webhook-config` prints.
        let addr = case
            .args
            .iter()
            .find_map(|a| a.strip_prefix("--addr="))
            .unwrap_or("10.96.10.96:443");
        for (file, mode) in [
            ("guard-webhook.yaml", "authn"),
            ("guard-authz-webhook.yaml", "authz"),
        ] {
            if !case.webhooks.contains(&file) {
                continue;
            }
            let addr = format!("--addr={addr}");
            let mode = format!("--mode={mode}");
            let mut args = vec!["get", "webhook-config"];
            args.extend(client_args(&case));
            args.extend([addr.as_str(), mode.as_str()]);
            let expected = sb.ok(&args);
            let written = std::fs::read_to_string(dir.path().join(file)).unwrap();
            assert_eq!(written, expected, "{}: {file}", case.name);
        }
        // Every path the configuration names is in the mounted directory.
        let mount = case
            .args
            .iter()
            .find_map(|a| a.strip_prefix("--dir="))
            .unwrap_or("/etc/kubernetes/guard")
            .trim_end_matches('/');
        let mut named = 0;
        for line in stdout.lines().chain(
            case.files
                .iter()
                .flat_map(|f| {
                    std::fs::read_to_string(dir.path().join(f))
                        .unwrap()
                        .lines()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str),
        ) {
            if let Some(i) = line.find(&format!("{mount}/")) {
                let file = line[i + mount.len() + 1..].trim();
                assert!(
                    expected.contains(file),
                    "{}: {line:?} names a file guard did not write",
                    case.name
                );
                named += 1;
            }
        }
        assert!(named >= case.webhooks.len(), "{}: {stdout}", case.name);
    }
}

#[test]
fn files_are_private_and_rewritten_only_when_asked() {
    let sb = pki();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("guard");
    let out_dir = format!("--out-dir={}", dir.display());
    let args = ["get", "kubeadm-config", "-o", "azure", "--authz", &out_dir];
    let first = sb.run(&args);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stderr = String::from_utf8(first.stderr).unwrap();
    assert!(stderr.contains("guard-webhook.yaml: written"), "{stderr}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for file in listing(&dir) {
        assert_eq!(mode(&dir.join(&file)), 0o600, "{file}");
    }
    // The same output again: nothing to replace.
    let again = sb.run(&args);
    assert!(again.status.success());
    let stderr = String::from_utf8(again.stderr).unwrap();
    assert!(stderr.contains("guard-webhook.yaml: unchanged"), "{stderr}");

    // A file changed by hand is not overwritten silently, and nothing is written.
    let authz = dir.join("authorization-config.yaml");
    std::fs::write(&authz, "edited by hand\n").unwrap();
    std::fs::remove_file(dir.join("guard-authz-webhook.yaml")).unwrap();
    let err = sb.fails(&args);
    assert!(
        err.contains("exists with other contents: pass --force"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!dir.join("guard-authz-webhook.yaml").exists());
    let mut forced = args.to_vec();
    forced.push("--force");
    let out = sb.run(&forced);
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("authorization-config.yaml: replaced"),
        "{stderr}"
    );
    assert!(
        std::fs::read_to_string(&authz)
            .unwrap()
            .contains("AuthorizationConfiguration")
    );
    assert_eq!(mode(&authz), 0o600);
}

#[test]
fn merge_reads_standard_input_and_keeps_the_rest() {
    let sb = pki();
    let dir = tempfile::tempdir().unwrap();
    let out = sb
        .guard()
        .args(["get", "kubeadm-config", "-o", "azure", "--merge=-"])
        .arg(format!("--out-dir={}", dir.path().display()))
        .stdin(std::fs::File::open(data("cluster-v1beta4.yaml")).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged: serde_json::Value =
        serde_saphyr::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    let original: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(data("cluster-v1beta4.yaml")).unwrap())
            .unwrap();
    // Everything outside apiServer is untouched.
    for (key, value) in original.as_object().unwrap() {
        if key != "apiServer" {
            assert_eq!(&merged[key], value, "{key}");
        }
    }
    assert_eq!(
        merged["apiServer"]["certSANs"],
        original["apiServer"]["certSANs"]
    );
    let args = merged["apiServer"]["extraArgs"].as_array().unwrap();
    let values = |name: &str| -> Vec<&str> {
        args.iter()
            .filter(|a| a["name"] == name)
            .map(|a| a["value"].as_str().unwrap())
            .collect()
    };
    assert_eq!(values("audit-log-path"), ["/var/log/kubernetes/audit.log"]);
    // guard's value replaces the operator's, once.
    assert_eq!(values("authentication-token-webhook-cache-ttl"), ["2m0s"]);
    let volumes: Vec<&str> = merged["apiServer"]["extraVolumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(volumes, ["audit", "guard"]);
}

#[test]
fn refusals_are_one_clear_line() {
    let sb = pki();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = format!("--out-dir={}", dir.path().display());
    let kubeadm = |extra: &[&str]| {
        let mut args = vec!["get", "kubeadm-config", "acme", "-o", "github", &out_dir];
        args.extend(extra);
        sb.fails(&args)
    };
    let authn = |extra: &[&str]| {
        let mut args = vec!["get", "authn-config"];
        args.extend(extra);
        sb.fails(&args)
    };
    let merge_anonymous = format!("--merge={}", data("cluster-anonymous-off.yaml"));
    let merge_v1beta3 = format!("--merge={}", data("init-v1beta3.yaml"));
    let merge_missing = format!("--merge={}", data("no-such-file.yaml"));
    let cases: Vec<(String, &str)> = vec![
        (
            kubeadm(&[&merge_anonymous]),
            "already sets --anonymous-auth=false",
        ),
        (
            kubeadm(&[&merge_v1beta3, "--kubeadm-api=v1beta4"]),
            "--merge file is kubeadm.k8s.io/v1beta3",
        ),
        (kubeadm(&[&merge_missing]), "cannot read --merge file"),
        (kubeadm(&["--dir=etc/guard"]), "must be an absolute path"),
        (kubeadm(&["--authz"]), "use -o azure, not -o github"),
        (
            kubeadm(&["--kubeadm-api=v1beta2"]),
            "expected v1beta4 or v1beta3",
        ),
        (
            kubeadm(&["--kube-version=2.0"]),
            "is not a Kubernetes version",
        ),
        (
            authn(&["--auth-providers=github", "--kube-version=1.29"]),
            "came in 1.30",
        ),
        (
            authn(&["--auth-providers=github", "--anonymous-path=livez"]),
            "must be a request path",
        ),
        (
            authn(&[
                "--auth-providers=oidc",
                "--oidc.issuer-url=http://127.0.0.1:5556",
                "--oidc.client-id=k",
            ]),
            "needs an https issuer URL",
        ),
        (authn(&["--auth-providers=google"]), "set --google.domain"),
        (
            authn(&["--auth-providers=google", "--google.domain=example.com"]),
            "set --google.client-id",
        ),
        (
            authn(&["--auth-providers=github", "--google.domain=example.com"]),
            "google is not in --auth-providers",
        ),
        (
            authn(&["--auth-providers=azure", "--azure.tenant-id=t"]),
            "set --azure.client-id",
        ),
        (
            authn(&["--auth-providers=oidc", "--oidc.client-id=k"]),
            "set --oidc.issuer-url",
        ),
        (
            authn(&[
                "--auth-providers=oidc",
                "--oidc.issuer-url=https://a.example",
                "--oidc.client-id=k",
                "--oidc.ca-file=/nonexistent/ca.crt",
            ]),
            "cannot read --oidc.ca-file",
        ),
    ];
    for (err, expected) in cases {
        // One line says what is wrong (clap adds a hint line to its own).
        let first = err.lines().next().unwrap_or_default();
        assert!(first.contains(expected), "expected {expected:?} in {err}");
        assert!(first.starts_with("error: "), "{err}");
        assert!(
            err.lines()
                .skip(1)
                .all(|l| l.is_empty() || l.starts_with("For more information")),
            "{err}"
        );
    }
    // Nothing was written by a refused run.
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    // Without the client certificate, the message names the command to run.
    let bare = Sandbox::new();
    bare.ok(&["init", "ca"]);
    let err = bare.fails(&["get", "kubeadm-config", "acme", "-o", "github", &out_dir]);
    assert!(
        err.contains("run `guard init client acme -o github`"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Field names and enum values, checked against the upstream Go API types.
//
// Transcribed from the Go sources (field `json` tags, and the values the
// types' constants and validation accept), read at:
// * k8s.io/apiserver/pkg/apis/apiserver/{v1beta1,v1}/types.go and
//   validation/validation.go: kubernetes/apiserver tags v0.30.0, v0.31.0,
//   v0.32.0, v0.33.0, v0.34.0 and v0.36.3 (Kubernetes 1.30 to 1.36.3).
//   `@N`: the field exists from Kubernetes 1.N on.
// * k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go at
//   kubernetes/kubernetes 1329935739c3aa007d23cb9a4dadfee9d59ff79b, and
//   v1beta3/types.go at 428c3fe9540a2cbe8daf4645879a87b30bbf1d02.
// * core/v1 HostPathType from k8s.io/api/core/v1/types.go.
// Types guard never writes into are `any`.
//
// This stands in for a real parser: kubeadm (`kubeadm config validate`) is
// packaged neither for Debian nor on PyPI, there is no kube-apiserver to
// load the files, and kubernetes-validate knows only the served kinds.
// ---------------------------------------------------------------------------

const UPSTREAM_APISERVER: &str = "
AuthenticationConfiguration apiVersion:string kind:string jwt:[]JWTAuthenticator anonymous:AnonymousAuthConfig@31
AnonymousAuthConfig enabled:bool conditions:[]AnonymousAuthCondition
AnonymousAuthCondition path:string
JWTAuthenticator issuer:Issuer claimValidationRules:[]ClaimValidationRule claimMappings:ClaimMappings userValidationRules:[]UserValidationRule
UserValidationRule expression:string message:string
Issuer url:string discoveryURL:string certificateAuthority:string audiences:[]string audienceMatchPolicy:AudienceMatchPolicyType egressSelectorType:EgressSelectorType@34
AudienceMatchPolicyType = MatchAny
EgressSelectorType = controlplane cluster
ClaimValidationRule claim:string requiredValue:string expression:string message:string
ClaimMappings username:PrefixedClaimOrExpression groups:PrefixedClaimOrExpression uid:ClaimOrExpression extra:[]ExtraMapping
PrefixedClaimOrExpression claim:string prefix:string expression:string
ClaimOrExpression claim:string expression:string
ExtraMapping key:string valueExpression:string
AuthorizationConfiguration apiVersion:string kind:string authorizers:[]AuthorizerConfiguration
AuthorizerConfiguration type:AuthorizerType name:string webhook:WebhookConfiguration
AuthorizerType = Node RBAC Webhook ABAC AlwaysAllow AlwaysDeny
WebhookConfiguration authorizedTTL:duration cacheAuthorizedRequests:bool@34 unauthorizedTTL:duration cacheUnauthorizedRequests:bool@34 timeout:duration subjectAccessReviewVersion:SubjectAccessReviewVersion matchConditionSubjectAccessReviewVersion:MatchConditionVersion failurePolicy:FailurePolicy connectionInfo:WebhookConnectionInfo matchConditions:[]WebhookMatchCondition
SubjectAccessReviewVersion = v1 v1beta1
MatchConditionVersion = v1
FailurePolicy = NoOpinion Deny
WebhookConnectionInfo type:ConnectionInfoType kubeConfigFile:string
ConnectionInfoType = KubeConfigFile InClusterConfig
WebhookMatchCondition expression:string
";

const UPSTREAM_KUBEADM_V1BETA4: &str = "
ClusterConfiguration apiVersion:string kind:string etcd:any networking:any kubernetesVersion:string controlPlaneEndpoint:string apiServer:APIServer controllerManager:ControlPlaneComponent scheduler:ControlPlaneComponent dns:any proxy:any certificatesDir:string imageRepository:string featureGates:any clusterName:string encryptionAlgorithm:EncryptionAlgorithmType certificateValidityPeriod:duration caCertificateValidityPeriod:duration
InitConfiguration any
APIServer extraArgs:[]Arg extraVolumes:[]HostPathMount extraEnvs:[]any certSANs:[]string
ControlPlaneComponent extraArgs:[]Arg extraVolumes:[]HostPathMount extraEnvs:[]any
Arg name:string value:string
HostPathMount name:string hostPath:string mountPath:string readOnly:bool pathType:HostPathType
HostPathType = DirectoryOrCreate Directory FileOrCreate File Socket CharDevice BlockDevice
EncryptionAlgorithmType = ECDSA-P256 RSA-2048 RSA-3072 RSA-4096
";

const UPSTREAM_KUBEADM_V1BETA3: &str = "
ClusterConfiguration apiVersion:string kind:string etcd:any networking:any kubernetesVersion:string controlPlaneEndpoint:string apiServer:APIServer controllerManager:ControlPlaneComponent scheduler:ControlPlaneComponent dns:any certificatesDir:string imageRepository:string featureGates:any clusterName:string
InitConfiguration any
APIServer extraArgs:map extraVolumes:[]HostPathMount certSANs:[]string timeoutForControlPlane:duration
ControlPlaneComponent extraArgs:map extraVolumes:[]HostPathMount
HostPathMount name:string hostPath:string mountPath:string readOnly:bool pathType:HostPathType
HostPathType = DirectoryOrCreate Directory FileOrCreate File Socket CharDevice BlockDevice
";

/// A struct's fields: name -> (type, the minor version it exists from);
/// `None` for a type guard never writes into.
type Fields = Option<BTreeMap<String, (String, u32)>>;

/// A parsed table: struct name -> fields; enum name -> values.
struct Schema {
    structs: BTreeMap<String, Fields>,
    enums: BTreeMap<String, BTreeSet<String>>,
}

fn schema(text: &str) -> Schema {
    let mut structs = BTreeMap::new();
    let mut enums = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap().to_owned();
        let rest: Vec<&str> = words.collect();
        if rest.first() == Some(&"=") {
            enums.insert(name, rest[1..].iter().map(|s| (*s).to_owned()).collect());
        } else if rest == ["any"] {
            structs.insert(name, None);
        } else {
            let fields = rest
                .iter()
                .map(|f| {
                    let (field, ty) = f.split_once(':').unwrap();
                    let (ty, since) = match ty.split_once('@') {
                        Some((ty, since)) => (ty, since.parse().unwrap()),
                        None => (ty, 0),
                    };
                    (field.to_owned(), (ty.to_owned(), since))
                })
                .collect();
            structs.insert(name, Some(fields));
        }
    }
    Schema { structs, enums }
}

/// Every place where `value` does not fit type `ty` for Kubernetes 1.`minor`.
fn check(
    schema: &Schema,
    ty: &str,
    value: &serde_json::Value,
    minor: u32,
    at: &str,
    errors: &mut Vec<String>,
) {
    use serde_json::Value;
    let mut wrong = |what: String| errors.push(format!("{at}: {what}"));
    if let Some(item) = ty.strip_prefix("[]") {
        match value {
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    check(schema, item, v, minor, &format!("{at}[{i}]"), errors);
                }
            }
            other => wrong(format!("expected a list, found {other}")),
        }
        return;
    }
    match ty {
        "any" => {}
        "string" => {
            if !value.is_string() {
                wrong(format!("expected a string, found {value}"));
            }
        }
        "bool" => {
            if !value.is_boolean() {
                wrong(format!("expected a bool, found {value}"));
            }
        }
        "duration" => {
            let ok = value.as_str().is_some_and(|s| {
                let mut rest = s;
                let mut parts = 0;
                while !rest.is_empty() {
                    let digits = rest
                        .find(|c: char| !c.is_ascii_digit() && c != '.')
                        .unwrap_or(rest.len());
                    let unit = ["ms", "h", "m", "s"]
                        .into_iter()
                        .find(|u| rest[digits..].starts_with(u));
                    match unit {
                        Some(u) if digits > 0 => rest = &rest[digits + u.len()..],
                        _ => return false,
                    }
                    parts += 1;
                }
                parts > 0
            });
            if !ok {
                wrong(format!("{value} is not a Go duration"));
            }
        }
        "map" => match value {
            Value::Object(map) => {
                if let Some((k, v)) = map.iter().find(|(_, v)| !v.is_string()) {
                    wrong(format!("{k}: {v} is not a string"));
                }
            }
            other => wrong(format!("expected a map, found {other}")),
        },
        name => {
            if let Some(values) = schema.enums.get(name) {
                match value.as_str() {
                    Some(v) if values.contains(v) => {}
                    _ => wrong(format!("{value} is not one of {name}: {values:?}")),
                }
                return;
            }
            let Some(fields) = schema.structs.get(name) else {
                wrong(format!("the table has no type {name}"));
                return;
            };
            let Some(fields) = fields else { return };
            let Value::Object(map) = value else {
                wrong(format!("expected a {name} mapping, found {value}"));
                return;
            };
            for (key, v) in map {
                match fields.get(key) {
                    None => errors.push(format!("{at}: {name} has no field {key:?}")),
                    Some((_, since)) if *since > minor => errors.push(format!(
                        "{at}: {name}.{key} exists from Kubernetes 1.{since} on, not in 1.{minor}"
                    )),
                    Some((ty, _)) => check(schema, ty, v, minor, &format!("{at}.{key}"), errors),
                }
            }
        }
    }
}

/// Checks every document of `yaml` whose apiVersion and kind the tables know.
fn check_documents(yaml: &str, minor: u32) -> (usize, Vec<String>) {
    let apiserver = schema(UPSTREAM_APISERVER);
    let v1beta4 = schema(UPSTREAM_KUBEADM_V1BETA4);
    let v1beta3 = schema(UPSTREAM_KUBEADM_V1BETA3);
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml).unwrap();
    let mut errors = Vec::new();
    let mut checked = 0;
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap_or_default().to_owned();
        let table = match doc["apiVersion"].as_str().unwrap_or_default() {
            "apiserver.config.k8s.io/v1" | "apiserver.config.k8s.io/v1beta1" => &apiserver,
            "kubeadm.k8s.io/v1beta4" => &v1beta4,
            "kubeadm.k8s.io/v1beta3" => &v1beta3,
            _ => continue,
        };
        checked += 1;
        check(table, &kind, &doc, minor, &kind, &mut errors);
    }
    (checked, errors)
}

#[test]
fn every_field_and_value_exists_in_the_upstream_types() {
    let mut checked = 0;
    for case in cases() {
        let mut files = vec![format!("{}.yaml", case.name)];
        files.extend(case.files.iter().map(|f| format!("{}.{f}", case.name)));
        for file in files {
            let text = std::fs::read_to_string(golden(&file)).unwrap();
            let (n, errors) = check_documents(&text, case.minor);
            assert!(errors.is_empty(), "{file}:\n{}", errors.join("\n"));
            checked += n;
        }
    }
    // The inputs of the merge cases are real kubeadm configurations: the
    // tables must accept them too.
    for input in ["cluster-v1beta4.yaml", "init-v1beta3.yaml"] {
        let (n, errors) = check_documents(&std::fs::read_to_string(data(input)).unwrap(), 29);
        assert!(errors.is_empty(), "{input}:\n{}", errors.join("\n"));
        assert!(n >= 1);
    }
    assert!(checked >= 20, "only {checked} documents checked");
}

#[test]
fn the_field_check_catches_mistakes() {
    let golden = |name: &str| std::fs::read_to_string(self::golden(name)).unwrap();
    let broken = [
        (
            golden("authn-oidc.yaml").replace("discoveryURL", "discoveryUrl"),
            34,
            "no field \"discoveryUrl\"",
        ),
        (
            golden("kubeadm-v1beta4-authz.authorization-config.yaml")
                .replace("NoOpinion", "NoOpnion"),
            34,
            "not one of FailurePolicy",
        ),
        (
            golden("authn-github-1.33.yaml"),
            30,
            "from Kubernetes 1.31 on",
        ),
        (
            golden("kubeadm-v1beta4.yaml").replace("pathType: Directory", "pathType: Dir"),
            34,
            "not one of HostPathType",
        ),
        (
            golden("kubeadm-v1beta3.yaml")
                .replace("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4"),
            34,
            "expected a list",
        ),
        (
            golden("kubeadm-v1beta4-authz.authorization-config.yaml")
                .replace("timeout: 30s", "timeout: 30"),
            34,
            "not a Go duration",
        ),
    ];
    for (text, minor, expected) in broken {
        let (_, errors) = check_documents(&text, minor);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "expected {expected:?} among {errors:?}"
        );
    }
}

/// `get kubeadm-config -o azure ARGS --merge=-` with `input` on stdin.
fn merge_stdin(sb: &Sandbox, input: &str, args: &[&str]) -> std::process::Output {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let mut child = sb
        .guard()
        .args(["get", "kubeadm-config", "-o", "azure", "--merge=-"])
        .arg(format!("--out-dir={}", dir.path().display()))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn merging_twice_changes_nothing() {
    let sb = pki();
    let original = std::fs::read_to_string(data("init-v1beta3.yaml")).unwrap();
    for args in [
        vec!["--authz", "--kube-version=1.29"],
        vec!["--kube-version=1.30", "--authz"],
    ] {
        let once = merge_stdin(&sb, &original, &args);
        assert!(
            once.status.success(),
            "{}",
            String::from_utf8_lossy(&once.stderr)
        );
        let once = String::from_utf8(once.stdout).unwrap();
        let twice = merge_stdin(&sb, &once, &args);
        assert!(
            twice.status.success(),
            "{}",
            String::from_utf8_lossy(&twice.stderr)
        );
        assert_eq!(String::from_utf8(twice.stdout).unwrap(), once, "{args:?}");
    }
}

#[test]
fn merge_refuses_settings_it_would_break() {
    let sb = pki();
    let v1beta4 = |args: &str| {
        format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  extraArgs:\n{args}"
        )
    };
    let cases = [
        // Another authorization mode than kubeadm's default.
        (
            v1beta4("  - name: authorization-mode\n    value: Node,RBAC,ABAC\n"),
            vec!["--authz"],
            "--authorization-mode=Node,RBAC,ABAC",
        ),
        // Someone else's configuration files.
        (
            v1beta4("  - name: authentication-config\n    value: /etc/kubernetes/oidc.yaml\n"),
            vec![],
            "--authentication-config=/etc/kubernetes/oidc.yaml",
        ),
        (
            v1beta4("  - name: authorization-config\n    value: /etc/kubernetes/authz.yaml\n"),
            vec!["--authz"],
            "--authorization-config=/etc/kubernetes/authz.yaml",
        ),
        // Flags kube-apiserver refuses next to guard's files.
        (
            v1beta4("  - name: authorization-webhook-config-file\n    value: /etc/other.yaml\n"),
            vec!["--authz"],
            "--authorization-webhook-config-file",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n".to_owned(),
            vec![],
            "kubeadm config migrate",
        ),
        (
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n".to_owned(),
            vec![],
            "expected one ClusterConfiguration, found 0",
        ),
        ("apiServer: [unclosed\n".to_owned(), vec![], "not YAML"),
    ];
    for (input, args, expected) in cases {
        let out = merge_stdin(&sb, &input, &args);
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(!out.status.success(), "{input} was merged");
        assert!(err.contains(expected), "expected {expected:?} in {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // Without --authz, an authorization mode of the operator's is left alone,
    // and the other settings are merged.
    let out = merge_stdin(
        &sb,
        &v1beta4("  - name: authorization-mode\n    value: Node,RBAC,ABAC\n"),
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = String::from_utf8(out.stdout).unwrap();
    assert!(merged.contains("value: Node,RBAC,ABAC"), "{merged}");
    assert!(
        merged.contains("authentication-token-webhook-config-file"),
        "{merged}"
    );
}

// ---------------------------------------------------------------------------
// CEL: every expression guard writes parses with the CEL grammar (cel-rust
// uses cel-go's ANTLR grammar), and decides as guard's own checks do.
// ---------------------------------------------------------------------------

/// Every CEL expression in a document.
fn expressions(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v.as_str()) {
                    ("expression" | "valueExpression", Some(e)) => out.push(e.to_owned()),
                    _ => expressions(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| expressions(v, out)),
        _ => {}
    }
}

/// Evaluates `expression` with `variable` bound to `value`.
fn cel(expression: &str, variable: &str, value: serde_json::Value) -> cel::Value {
    let program = cel::Program::compile(expression).unwrap();
    let mut context = cel::Context::default();
    context.add_variable(variable, value).unwrap();
    program
        .execute(&context)
        .unwrap_or_else(|e| panic!("{expression}: {e}"))
}

#[test]
fn every_cel_expression_parses() {
    let mut all = Vec::new();
    for case in cases() {
        let mut files = vec![format!("{}.yaml", case.name)];
        files.extend(case.files.iter().map(|f| format!("{}.{f}", case.name)));
        for file in files {
            let text = std::fs::read_to_string(golden(&file)).unwrap();
            let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
            docs.iter().for_each(|d| expressions(d, &mut all));
        }
    }
    all.sort();
    all.dedup();
    assert!(all.len() >= 5, "{all:?}");
    for expression in &all {
        if let Err(e) = cel::Program::compile(expression) {
            panic!("{expression:?} does not parse: {e}");
        }
    }
    // The parser is not lenient.
    assert!(cel::Program::compile("claims.hd in ['a'").is_err());
}

#[test]
fn cel_rules_decide_as_guard_does() {
    use serde_json::json;
    let doc = |name: &str| -> serde_json::Value {
        serde_saphyr::from_str(&std::fs::read_to_string(golden(name)).unwrap()).unwrap()
    };

    // azure: username = upn, else unique_name, else oid (guard's order, email aside).
    let azure = doc("authn-azure.yaml");
    let username = azure["jwt"][0]["claimMappings"]["username"]["expression"]
        .as_str()
        .unwrap();
    for (claims, expected) in [
        (
            json!({"upn": "u@x", "unique_name": "n@x", "oid": "o"}),
            "u@x",
        ),
        (json!({"unique_name": "n@x", "oid": "o"}), "n@x"),
        (json!({"oid": "o"}), "o"),
    ] {
        assert_eq!(
            cel(username, "claims", claims.clone()),
            cel::Value::String(expected.to_owned().into()),
            "{claims}"
        );
    }
    let oid_rule = azure["jwt"][0]["claimValidationRules"][0]["expression"]
        .as_str()
        .unwrap();
    assert_eq!(
        cel(oid_rule, "claims", json!({"oid": "o"})),
        cel::Value::Bool(true)
    );
    assert_eq!(
        cel(oid_rule, "claims", json!({"upn": "u"})),
        cel::Value::Bool(false)
    );

    // google: email_verified must be the boolean true; hd one of the domains.
    let google = doc("authn-google-domains.yaml");
    let rules = google["jwt"][0]["claimValidationRules"].as_array().unwrap();
    let rule = |i: usize| rules[i]["expression"].as_str().unwrap();
    for (claims, verified) in [
        (json!({"email_verified": true}), true),
        (json!({"email_verified": false}), false),
        (json!({"email_verified": "true"}), false),
        (json!({}), false),
    ] {
        assert_eq!(
            cel(rule(1), "claims", claims.clone()),
            cel::Value::Bool(verified),
            "{claims}"
        );
    }
    for (claims, allowed) in [
        (json!({"hd": "a.example"}), true),
        (json!({"hd": "b.example"}), true),
        (json!({"hd": "c.example"}), false),
        (json!({}), false),
    ] {
        assert_eq!(
            cel(rule(0), "claims", claims.clone()),
            cel::Value::Bool(allowed),
            "{claims}"
        );
    }

    // authz: system: users never reach guard.
    let authz = doc("kubeadm-v1beta4-authz.authorization-config.yaml");
    let condition = authz["authorizers"][2]["webhook"]["matchConditions"][0]["expression"]
        .as_str()
        .unwrap();
    for (user, asked) in [
        ("system:kube-controller-manager", false),
        ("system:serviceaccount:kube-system:default", false),
        ("system:anonymous", false),
        ("alice@contoso.com", true),
    ] {
        assert_eq!(
            cel(condition, "request", json!({"user": user, "groups": []})),
            cel::Value::Bool(asked),
            "{user}"
        );
    }
}
