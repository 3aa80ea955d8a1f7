//! `guard get installer`: golden outputs, offline schema validation with
//! `kubernetes-validate --strict`, `kubectl label --local`, and the real
//! `guard run` started with the Deployment's own arguments.
#![allow(clippy::unwrap_used)]

mod common;

use common::require::Peer;

use std::path::PathBuf;
use std::process::Command;

use base64::Engine as _;
use common::client::{Call, plain_get, send};
use common::server::*;
use common::*;

/// Golden cases: name, extra arguments, expected objects.
fn cases() -> Vec<(&'static str, Vec<String>, Vec<&'static str>)> {
    let data = testdata().join("installer");
    let tokens = format!("--token-auth-file={}", data.join("token.csv").display());
    let base = |extra: &[&str]| {
        let mut args = vec!["--auth-providers=token-auth".to_owned(), tokens.clone()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let standard = vec![
        "deployment.apps/guard",
        "secret/guard-pki",
        "secret/guard-token-auth",
        "service/guard",
    ];
    vec![
        ("token-auth", base(&[]), standard.clone()),
        (
            "namespace",
            base(&["-n", "guard-system"]),
            vec![
                "namespace/guard-system",
                "deployment.apps/guard",
                "secret/guard-pki",
                "secret/guard-token-auth",
                "service/guard",
            ],
        ),
        (
            "proxy",
            base(&[
                "--proxy-https=http://proxy.internal:3128",
                "--proxy-skip-range=10.0.0.0/8,.svc",
                &format!("--proxy-cert={}", data.join("proxy-ca.crt").display()),
            ]),
            vec![
                "secret/guard-proxy",
                "secret/guard-proxy-cert",
                "deployment.apps/guard",
                "secret/guard-pki",
                "secret/guard-token-auth",
                "service/guard",
            ],
        ),
        (
            "replicas-3",
            base(&["--replicas=3"]),
            vec![
                "deployment.apps/guard",
                "secret/guard-pki",
                "secret/guard-token-auth",
                "service/guard",
                "poddisruptionbudget.policy/guard",
            ],
        ),
        (
            "host-network",
            base(&["--host-network", "--addr=127.0.0.1:8443"]),
            vec![
                "daemonset.apps/guard",
                "secret/guard-pki",
                "secret/guard-token-auth",
            ],
        ),
        (
            "github",
            vec![
                "--auth-providers=github".to_owned(),
                "--github.base-url=https://ghe.example.com".to_owned(),
            ],
            vec!["deployment.apps/guard", "secret/guard-pki", "service/guard"],
        ),
        (
            "gitlab",
            vec![
                "--auth-providers=gitlab".to_owned(),
                "--gitlab.use-group-id".to_owned(),
            ],
            vec!["deployment.apps/guard", "secret/guard-pki", "service/guard"],
        ),
        (
            "ldap",
            vec![
                "--auth-providers=ldap".to_owned(),
                "--ldap.server-address=ldap.example.com".to_owned(),
                "--ldap.user-search-dn=ou=users,dc=example,dc=com".to_owned(),
                "--ldap.group-search-dn=ou=groups,dc=example,dc=com".to_owned(),
                "--ldap.bind-dn=cn=guard,ou=svc,dc=example,dc=com".to_owned(),
                "--ldap.bind-password=bind-placeholder-not-a-secret".to_owned(),
                "--ldap.start-tls".to_owned(),
                format!(
                    "--ldap.ca-cert-file={}",
                    data.join("proxy-ca.crt").display()
                ),
            ],
            vec![
                "deployment.apps/guard",
                "secret/guard-pki",
                "secret/guard-ldap-auth",
                "service/guard",
            ],
        ),
        (
            // Go Guard's Kerberos mode: the keytab in Secret guard-ldap-auth,
            // mounted at /etc/guard/auth/ldap/krb5.keytab.
            "ldap-kerberos",
            vec![
                "--auth-providers=ldap".to_owned(),
                "--ldap.server-address=ldap.example.com".to_owned(),
                "--ldap.user-search-dn=ou=users,dc=example,dc=com".to_owned(),
                "--ldap.group-search-dn=ou=groups,dc=example,dc=com".to_owned(),
                "--ldap.bind-dn=cn=guard,ou=svc,dc=example,dc=com".to_owned(),
                "--ldap.bind-password=bind-placeholder-not-a-secret".to_owned(),
                "--ldap.auth-choice=Kerberos".to_owned(),
                format!("--ldap.keytab-file={}", data.join("krb5.keytab").display()),
                "--ldap.spn=HTTP/guard.example.com".to_owned(),
                "--ldap.realm=GUARD.TEST".to_owned(),
            ],
            vec![
                "deployment.apps/guard",
                "secret/guard-pki",
                "secret/guard-ldap-auth",
                "service/guard",
            ],
        ),
        (
            "google",
            vec![
                "--auth-providers=google".to_owned(),
                "--google.client-id=1234-guard.apps.googleusercontent.com".to_owned(),
                format!(
                    "--google.sa-json-file={}",
                    data.join("google-sa.json").display()
                ),
                "--google.admin-email=admin@example.com".to_owned(),
            ],
            vec![
                "deployment.apps/guard",
                "secret/guard-pki",
                "secret/guard-google-auth",
                "service/guard",
            ],
        ),
        (
            "azure",
            vec![
                "--auth-providers=azure".to_owned(),
                "--azure.tenant-id=00000000-0000-0000-0000-000000000001".to_owned(),
                "--azure.client-id=00000000-0000-0000-0000-000000000002".to_owned(),
                "--azure.client-secret=azure-placeholder-not-a-secret".to_owned(),
                "--azure.graph-call-on-overage-claim".to_owned(),
            ],
            vec![
                "deployment.apps/guard",
                "secret/guard-pki",
                "secret/guard-azure-auth",
                "service/guard",
            ],
        ),
        (
            // The modes without a client secret (no Secret guard-azure-auth),
            // with PoP tokens: every flag is passed on.
            "azure-aks-pop",
            vec![
                "--auth-providers=azure".to_owned(),
                "--azure.tenant-id=00000000-0000-0000-0000-000000000001".to_owned(),
                "--azure.client-id=00000000-0000-0000-0000-000000000002".to_owned(),
                "--azure.auth-mode=aks".to_owned(),
                "--azure.aks-token-url=https://127.0.0.1:8090/authn/token".to_owned(),
                "--azure.enable-pop".to_owned(),
                "--azure.pop-hostname=prod-dns-4f2a.hcp.westeurope.azmk8s.io".to_owned(),
                "--azure.pop-token-validity-duration=5m".to_owned(),
            ],
            vec!["deployment.apps/guard", "secret/guard-pki", "service/guard"],
        ),
        (
            "azure-arc",
            vec![
                "--auth-providers=azure".to_owned(),
                "--azure.tenant-id=00000000-0000-0000-0000-000000000001".to_owned(),
                "--azure.client-id=00000000-0000-0000-0000-000000000002".to_owned(),
                "--azure.auth-mode=arc".to_owned(),
                "--azure.auth-resource-id=/subscriptions/00000000-0000-0000-0000-000000000003/resourceGroups/edge-rg/providers/Microsoft.Kubernetes/connectedClusters/store-42".to_owned(),
                "--azure.region=westeurope".to_owned(),
                "--azure.graph-call-on-overage-claim".to_owned(),
            ],
            vec!["deployment.apps/guard", "secret/guard-pki", "service/guard"],
        ),
        (
            "oidc",
            vec![
                "--auth-providers=oidc".to_owned(),
                "--oidc.issuer-url=https://idp.example.com/realms/k8s".to_owned(),
                "--oidc.client-id=kubernetes".to_owned(),
                "--oidc.username-claim=email".to_owned(),
                "--oidc.groups-claim=groups".to_owned(),
                "--oidc.groups-prefix=oidc:".to_owned(),
                format!("--oidc.ca-file={}", data.join("proxy-ca.crt").display()),
            ],
            vec![
                "deployment.apps/guard",
                "secret/guard-pki",
                "secret/guard-oidc-auth",
                "service/guard",
            ],
        ),
        (
            "eks",
            vec![
                "--auth-providers=eks".to_owned(),
                format!(
                    "--eks.mapping-file={}",
                    data.join("eks-mapping.yaml").display()
                ),
            ],
            vec![
                "deployment.apps/guard",
                "secret/guard-pki",
                "secret/guard-eks-auth",
                "service/guard",
            ],
        ),
        (
            "all-providers",
            vec![
                "--auth-providers=token-auth,google,azure,ldap,github,gitlab,oidc".to_owned(),
                tokens.clone(),
                format!(
                    "--google.sa-json-file={}",
                    data.join("google-sa.json").display()
                ),
                "--google.admin-email=admin@example.com".to_owned(),
                "--google.client-id=1234-guard.apps.googleusercontent.com".to_owned(),
                "--azure.tenant-id=00000000-0000-0000-0000-000000000001".to_owned(),
                "--azure.client-id=00000000-0000-0000-0000-000000000002".to_owned(),
                "--azure.client-secret=azure-placeholder-not-a-secret".to_owned(),
                "--ldap.server-address=ldap.example.com".to_owned(),
                "--ldap.user-search-dn=ou=users,dc=example,dc=com".to_owned(),
                "--ldap.group-search-dn=ou=groups,dc=example,dc=com".to_owned(),
                "--ldap.bind-dn=cn=guard,ou=svc,dc=example,dc=com".to_owned(),
                "--ldap.bind-password=bind-placeholder-not-a-secret".to_owned(),
                format!(
                    "--ldap.ca-cert-file={}",
                    data.join("proxy-ca.crt").display()
                ),
                "--github.base-url=https://ghe.example.com".to_owned(),
                "--gitlab.base-url=https://gitlab.example.com".to_owned(),
                "--oidc.issuer-url=https://idp.example.com".to_owned(),
                "--oidc.client-id=kubernetes".to_owned(),
            ],
            vec![
                "deployment.apps/guard",
                "secret/guard-pki",
                "secret/guard-token-auth",
                "secret/guard-google-auth",
                "secret/guard-azure-auth",
                "secret/guard-ldap-auth",
                "service/guard",
            ],
        ),
        (
            "azure-authz",
            vec![
                "--auth-providers=azure".to_owned(),
                "--azure.tenant-id=00000000-0000-0000-0000-000000000001".to_owned(),
                "--azure.client-id=00000000-0000-0000-0000-000000000002".to_owned(),
                "--azure.client-secret=azure-placeholder-not-a-secret".to_owned(),
                "--authz-providers=azure".to_owned(),
                "--azure.authz-mode=aks".to_owned(),
                "--azure.resource-id=/subscriptions/00000000-0000-0000-0000-000000000003/resourceGroups/prod-rg/providers/Microsoft.ContainerService/managedClusters/prod".to_owned(),
                "--azure.aks-authz-token-url=https://127.0.0.1:8090/authz/token".to_owned(),
                "--azure.skip-authz-check=breakglass@example.com".to_owned(),
                "--azure.use-managed-namespace-resource-scope-format".to_owned(),
                "--azure.discover-resources".to_owned(),
                format!(
                    "--azure.kubeconfig-file={}",
                    data.join("authz-kubeconfig.yaml").display()
                ),
                "--azure.allow-custom-resource-type-check".to_owned(),
                "--azure.cache-ttl-minutes=5".to_owned(),
            ],
            vec![
                "deployment.apps/guard",
                "secret/guard-pki",
                "secret/guard-azure-auth",
                "secret/guard-azure-authz",
                "service/guard",
            ],
        ),
        (
            "registry-and-scheduling",
            base(&[
                "--private-registry=registry.example.com/mirror/",
                "--image-pull-secret=regcred",
                "--run-on-master=false",
                "--v=5",
                "--addr=guard.kube-system.svc:443",
            ]),
            standard.clone(),
        ),
        (
            // The image loaded into kind or pushed to a local registry
            // (docs/install.md), never pulled.
            "image",
            base(&[
                "--image=localhost:5001/guard@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "--image-pull-policy=Never",
            ]),
            standard.clone(),
        ),
        (
            // Only the monitoring namespace may scrape the probe port.
            "network-policy",
            base(&["--network-policy", "--metrics-namespace=monitoring"]),
            [&standard[..], &["networkpolicy.networking.k8s.io/guard"]].concat(),
        ),
    ]
}

fn golden_path(name: &str) -> PathBuf {
    testdata().join("installer").join(format!("{name}.yaml"))
}

fn generate(sb: &Sandbox, args: &[String]) -> String {
    let mut all = vec!["get", "installer"];
    let pki_dir = format!("--pki-dir={}", testdata().join("installer").display());
    all.push(&pki_dir);
    all.extend(args.iter().map(String::as_str));
    sb.ok(&all)
}

#[test]
fn outputs_match_the_golden_files() {
    let sb = Sandbox::new();
    let update = std::env::var_os("GUARD_UPDATE_GOLDEN").is_some();
    for (name, args, _) in cases() {
        let yaml = generate(&sb, &args);
        // Deterministic: the same input gives the same bytes.
        assert_eq!(
            yaml,
            generate(&sb, &args),
            "{name}: output differs between runs"
        );
        let path = golden_path(name);
        if update {
            std::fs::write(&path, &yaml).unwrap();
            continue;
        }
        let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (GUARD_UPDATE_GOLDEN=1 writes it)", path.display())
        });
        assert_eq!(
            yaml,
            golden,
            "{name} differs from {} (GUARD_UPDATE_GOLDEN=1 to accept)",
            path.display()
        );
    }
}

/// `kubernetes-validate`, installed by `.ci/install-test-deps.sh`.
fn kubernetes_validate() -> PathBuf {
    let tool = kubectl().with_file_name("kubernetes-validate");
    assert!(
        tool.exists(),
        "{} missing: run .ci/install-test-deps.sh",
        tool.display()
    );
    tool
}

#[test]
fn golden_files_pass_strict_schema_validation() {
    if common::require::missing(&[Peer::KubernetesValidate]) {
        return;
    }
    let files: Vec<PathBuf> = cases()
        .into_iter()
        .map(|(name, _, _)| golden_path(name))
        .collect();
    for version in ["1.29.0", "1.37.0"] {
        let out = Command::new(kubernetes_validate())
            .args(["--strict", "--quiet", "-k", version])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubernetes-validate {version} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_validator_catches_a_broken_manifest() {
    if common::require::missing(&[Peer::KubernetesValidate]) {
        return;
    }
    // Guard against a validator that passes everything.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    let golden = std::fs::read_to_string(golden_path("token-auth")).unwrap();
    std::fs::write(&broken, golden.replace("replicas: 1", "replicas: one")).unwrap();
    let out = Command::new(kubernetes_validate())
        .args(["--strict", "--quiet"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a broken manifest passed validation");
}

#[test]
fn kubectl_reads_the_expected_objects() {
    if common::require::missing(&[Peer::Kubectl]) {
        return;
    }
    for (name, _, expected) in cases() {
        let out = Command::new(kubectl())
            .args(["label", "--local", "-o", "name", "checked=yes", "-f"])
            .arg(golden_path(name))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let names: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(names, expected, "{name}");
    }
}

#[test]
fn secrets_stay_in_secrets() {
    for (name, _, _) in cases() {
        let yaml = std::fs::read_to_string(golden_path(name)).unwrap();
        assert!(
            !yaml.contains("placeholder-not-a-secret"),
            "{name}: a token appears in clear text"
        );
        assert!(!yaml.contains("BEGIN"), "{name}: PEM in clear text");
        let docs: Vec<serde_json::Value> = serde_saphyr::from_str_multiple(&yaml).unwrap();
        for doc in docs {
            let text = doc.to_string();
            if doc["kind"] != "Secret" {
                assert!(
                    !text.contains("kube-placeholder"),
                    "{name}: a kubeconfig token outside a Secret"
                );
                let key = base64::engine::general_purpose::STANDARD.encode("tok1-placeholder");
                assert!(
                    !text.contains(&key[..12]),
                    "{name}: secret data outside a Secret"
                );
            }
        }
    }
}

#[test]
fn bad_options_fail_before_printing() {
    let sb = Sandbox::new();
    let data = testdata().join("installer");
    let tokens = format!("--token-auth-file={}", data.join("token.csv").display());
    let pki = format!("--pki-dir={}", data.display());
    let fails = |args: &[&str], needle: &str| {
        let mut all = vec!["get", "installer", pki.as_str()];
        all.extend(args);
        let out = sb.run(&all);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?} printed something");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    fails(&["--auth-providers=token-auth"], "--token-auth-file");
    fails(
        &[
            "--auth-providers=token-auth",
            &tokens,
            "--host-network",
            "--addr=127.0.0.1:8443",
            "--network-policy",
        ],
        "--network-policy does not apply with --host-network",
    );
    fails(
        &["--auth-providers=github", &tokens],
        "token-auth is not in --auth-providers",
    );
    fails(
        &[
            "--auth-providers=token-auth",
            "--token-auth-file=/nonexistent/tokens.csv",
        ],
        "/nonexistent/tokens.csv",
    );
    fails(
        &[
            "--auth-providers=token-auth",
            &tokens,
            "--addr=10.1.2.3:443",
        ],
        "guard init server --ips=10.1.2.3",
    );
    fails(
        &["--auth-providers=token-auth", &tokens, "--addr=nonsense"],
        "HOST:PORT",
    );
    fails(
        &[
            "--auth-providers=token-auth",
            &tokens,
            "--host-network",
            "--addr=10.96.10.96:443",
        ],
        "127.0.0.1",
    );
    fails(
        &["--auth-providers=token-auth", &tokens, "--replicas=0"],
        "at least 1",
    );
    fails(
        &[
            "--auth-providers=token-auth",
            &tokens,
            "--image=my.registry/guard:1",
            "--private-registry=other.registry",
        ],
        "cannot be used with",
    );
    fails(
        &[
            "--auth-providers=token-auth",
            &tokens,
            "--image-pull-policy=Sometimes",
        ],
        "IfNotPresent",
    );
    fails(
        &[
            "--auth-providers=token-auth",
            &tokens,
            &format!("--proxy-cert={}", data.join("proxy-ca.crt").display()),
        ],
        "--proxy-cert needs",
    );
    let azure = [
        "--auth-providers=github",
        "--authz-providers=azure",
        "--azure.tenant-id=t",
        "--azure.authz-mode=aks",
        "--azure.resource-id=/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/c",
        "--azure.aks-authz-token-url=https://127.0.0.1:8090/authz/token",
    ];
    fails(&azure, "add azure to --auth-providers");
    fails(
        &[
            &[
                "--auth-providers=azure",
                "--azure.skip-group-membership-resolution",
            ],
            &azure[1..],
            &["--azure.discover-resources"],
        ]
        .concat(),
        "--azure.kubeconfig-file",
    );
    let mut gke = azure;
    gke[3] = "--azure.authz-mode=gke";
    fails(&gke, "expected aks, arc, fleet or aimanager");
    let broken = sb.home.path().join("broken.csv");
    std::fs::write(&broken, "secret-token-xyz,alice\n").unwrap();
    let err = sb.fails(&[
        "get",
        "installer",
        &pki,
        "--auth-providers=token-auth",
        &format!("--token-auth-file={}", broken.display()),
    ]);
    assert!(
        err.contains("line 1") && !err.contains("secret-token-xyz"),
        "{err}"
    );
    let err = sb.fails(&[
        "get",
        "installer",
        "--pki-dir=/nonexistent",
        "--auth-providers=token-auth",
        &tokens,
    ]);
    assert!(err.contains("guard init ca"), "{err}");
}

/// The readiness and liveness probes of the installer's container: each as
/// (scheme, path, port number), named ports resolved; and the port of
/// `--probe-addr`.
fn probes(yaml: &str) -> (Vec<(String, String, i64)>, i64) {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_str_multiple(yaml).unwrap();
    let workload = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" || d["kind"] == "DaemonSet")
        .unwrap();
    let container = &workload["spec"]["template"]["spec"]["containers"][0];
    let port_of = |port: &serde_json::Value| {
        port.as_i64().unwrap_or_else(|| {
            container["ports"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| &p["name"] == port)
                .unwrap()["containerPort"]
                .as_i64()
                .unwrap()
        })
    };
    let probes = ["readinessProbe", "livenessProbe"]
        .iter()
        .map(|probe| {
            let get = &container[probe]["httpGet"];
            (
                get["scheme"].as_str().unwrap().to_owned(),
                get["path"].as_str().unwrap().to_owned(),
                port_of(&get["port"]),
            )
        })
        .collect();
    let probe_addr = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|a| a.as_str()?.strip_prefix("--probe-addr="))
        .expect("no --probe-addr in the container's args");
    (
        probes,
        probe_addr.rsplit(':').next().unwrap().parse().unwrap(),
    )
}

#[tokio::test]
async fn the_server_starts_with_the_installers_own_arguments() {
    for host_network in [false, true] {
        let sb = Sandbox::new();
        let tokens = prepare(&sb);
        sb.ok(&["init", "server", "--ips=127.0.0.1,10.96.10.96", "--force"]);
        let mut args = vec!["get", "installer", "--auth-providers=token-auth"];
        let tokens_arg = format!("--token-auth-file={}", tokens.display());
        args.push(&tokens_arg);
        if host_network {
            args.extend(["--host-network", "--addr=127.0.0.1:8443"]);
        }
        let yaml = sb.ok(&args);
        let root = sb.home.path().join("container");
        let (mut run_args, env) = materialise(&yaml, &root);
        assert_eq!(run_args[0], "run");
        if !run_args.iter().any(|a| a.starts_with("--secure-addr=")) {
            run_args.push("--secure-addr=127.0.0.1:0".into());
        }
        let server = GuardServer::spawn(&sb, &run_args, &env);
        let pki = sb.pki();
        // kubelet's probes: plain HTTP to the port guard serves them on.
        let (probes, probe_port) = probes(&yaml);
        for (scheme, path, port) in probes {
            assert_eq!((scheme.as_str(), port), ("HTTP", probe_port));
            let (status, _) = plain_get(server.probe_port(), &path);
            assert_eq!(status, 200, "{path}");
        }
        let call = Call::post("/tokenreviews", review_body("v1", "good-token-123")).with_identity(
            &pki.join("demo@token-auth.crt"),
            &pki.join("demo@token-auth.key"),
        );
        let answer = send(server.port, &pki.join("ca.crt"), call).await.unwrap();
        assert_eq!(
            answer.json()["status"]["user"]["username"],
            "alice",
            "host_network={host_network}"
        );
    }
}

#[tokio::test]
async fn the_server_answers_subject_access_reviews_with_the_installers_arguments() {
    use common::azure::{AzureStandIn, TENANT};
    let cluster = "/subscriptions/8ecadfc9-d1a3-4ea4-b844-0d9f87e4d7c8/resourceGroups/prod-rg/providers/Microsoft.ContainerService/managedClusters/prod";
    let sb = Sandbox::new();
    sb.ok(&["init", "ca"]);
    sb.ok(&["init", "server", "--ips=127.0.0.1,10.96.10.96"]);
    sb.ok(&["init", "client", "-o", "azure"]);
    let pki = sb.pki();
    let azure = AzureStandIn::start(&pki.join("server.crt"), &pki.join("server.key"));
    azure.grant(
        "6f1a1d5e-6f3c-4b2e-9e1d-2f8f0b1c3d4e",
        cluster,
        "Microsoft.ContainerService/managedClusters/pods/read",
    );
    let yaml = sb.ok(&[
        "get",
        "installer",
        "--auth-providers=azure",
        &format!("--azure.tenant-id={TENANT}"),
        "--azure.client-id=guard-app",
        "--azure.skip-group-membership-resolution",
        "--authz-providers=azure",
        "--azure.authz-mode=aks",
        &format!("--azure.resource-id={cluster}"),
        &format!("--azure.aks-authz-token-url={}/aks/authz/token", azure.url),
        &format!("--azure.arm-url={}/", azure.url),
    ]);
    let root = sb.home.path().join("container");
    let (mut run_args, mut env) = materialise(&yaml, &root);
    run_args.push("--secure-addr=127.0.0.1:0".into());
    env.push((
        "SSL_CERT_FILE".into(),
        pki.join("ca.crt").display().to_string(),
    ));
    let server = GuardServer::spawn(&sb, &run_args, &env);
    let body = std::fs::read_to_string(testdata().join("authz/sar-v1-pods-get.json")).unwrap();
    let call = Call::post("/subjectaccessreviews", body)
        .with_identity(&pki.join("azure@azure.crt"), &pki.join("azure@azure.key"));
    let answer = send(server.port, &pki.join("ca.crt"), call).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json()["status"]["allowed"],
        true,
        "{}",
        answer.json()
    );
    assert_eq!(azure.check_count(), 1);
}
