//! The authorization webhook (`--authz-providers=azure`) through the real
//! binary, against an HTTPS stand-in for ARM CheckAccess, the AKS token
//! URL, Azure AD and a Kubernetes API server's discovery
//! (`common::azure`). SubjectAccessReviews are sent as the API server sends
//! them (`testdata/authz/`), over mutual TLS with the `azure@azure` client
//! certificate; one test sends them with the real kubectl through the
//! kubeconfig `guard get webhook-config --mode authz` prints.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::azure::{AzureSetup, AzureStandIn, Behaviour, CLIENT_SECRET, TENANT};
use common::client::{Call, send};
use common::server::{GuardServer, Reviewer, kubectl};
use common::{Sandbox, testdata};
use serde_json::{Value, json};

const OID: &str = "6f1a1d5e-6f3c-4b2e-9e1d-2f8f0b1c3d4e";
const GROUP: &str = "0b9d5f3c-1b8e-4a43-9c64-5a1e3f0c2d11";
const AKS: &str = "Microsoft.ContainerService/managedClusters";
const CLUSTER: &str = "/subscriptions/8ecadfc9-d1a3-4ea4-b844-0d9f87e4d7c8/resourceGroups/prod-rg/providers/Microsoft.ContainerService/managedClusters/prod";
const FLEET: &str = "/subscriptions/8ecadfc9-d1a3-4ea4-b844-0d9f87e4d7c8/resourceGroups/fleet-rg/providers/Microsoft.ContainerService/fleets/hub";
const ARC: &str = "Microsoft.Kubernetes/connectedClusters";
const ARC_CLUSTER: &str = "/subscriptions/8ecadfc9-d1a3-4ea4-b844-0d9f87e4d7c8/resourceGroups/edge-rg/providers/Microsoft.Kubernetes/connectedClusters/store-42";

/// A sandbox PKI, the Azure stand-in and `guard run` with authorization.
struct Authz {
    sb: Sandbox,
    azure: AzureStandIn,
    server: GuardServer,
    client: (PathBuf, PathBuf),
}

impl Authz {
    /// `guard run` with the azure provider, `--authz-providers=azure` and
    /// `args`; ARM is the stand-in.
    fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_after(args, env, |_| {})
    }

    /// Like [`start_with`](Self::start_with), with `setup` run on the
    /// stand-in before guard starts. In `args`, `{url}` is the stand-in's
    /// URL and `{kubeconfig}` a kubeconfig for its discovery endpoints.
    fn start_after(args: &[&str], env: &[(&str, &str)], setup: impl FnOnce(&AzureStandIn)) -> Self {
        let stand_in = AzureSetup::start();
        setup(&stand_in.azure);
        let kubeconfig = stand_in.sb.home.path().join("discovery.kubeconfig");
        std::fs::write(
            &kubeconfig,
            common::azure::kubeconfig(&stand_in.azure.url, &stand_in.sb.pki().join("ca.crt")),
        )
        .unwrap();
        let mut run = vec![
            "--azure.skip-group-membership-resolution".to_owned(),
            "--authz-providers=azure".to_owned(),
            "--azure.arm-url={url}/".to_owned(),
        ];
        run.extend(
            args.iter()
                .map(|a| a.replace("{kubeconfig}", &kubeconfig.display().to_string())),
        );
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (azure, Reviewer { sb, server, client }) = stand_in.start_guard(&run, &env);
        Authz {
            client,
            sb,
            azure,
            server,
        }
    }

    /// aks mode on [`CLUSTER`], ARM token from the stand-in's token URL.
    fn aks(extra: &[&str]) -> Self {
        let mut args = vec![
            "--azure.authz-mode=aks".to_owned(),
            format!("--azure.resource-id={CLUSTER}"),
            "--azure.aks-authz-token-url={url}/aks/authz/token".to_owned(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Self::start_with(&args, &[])
    }

    async fn post(&self, body: &str, identity: Option<(&PathBuf, &PathBuf)>) -> (u16, Value) {
        let mut call = Call::post("/subjectaccessreviews", body.to_owned());
        if let Some((cert, key)) = identity {
            call = call.with_identity(cert, key);
        }
        let answer = tokio::time::timeout(
            Duration::from_secs(60),
            send(self.server.port, &self.sb.pki().join("ca.crt"), call),
        )
        .await
        .expect("no answer within 60 s")
        .unwrap_or_else(|e| panic!("no answer: {e}"));
        let json = if answer.body.is_empty() {
            Value::Null
        } else {
            answer.json()
        };
        (answer.status, json)
    }

    /// Sends `body` with the azure client certificate; expects 200.
    async fn review(&self, body: &Value) -> Value {
        let (status, json) = self
            .post(&body.to_string(), Some((&self.client.0, &self.client.1)))
            .await;
        assert_eq!(status, 200, "{json}");
        json["status"].clone()
    }

    async fn metrics(&self) -> String {
        let answer = send(
            self.server.port,
            &self.sb.pki().join("ca.crt"),
            Call::get("/metrics").with_identity(&self.client.0, &self.client.1),
        )
        .await
        .unwrap();
        String::from_utf8(answer.body).unwrap()
    }

    async fn readyz(&self) -> u16 {
        send(
            self.server.port,
            &self.sb.pki().join("ca.crt"),
            Call::get("/readyz").with_identity(&self.client.0, &self.client.1),
        )
        .await
        .unwrap()
        .status
    }
}

/// The value of a metric line (`name{labels} value`), 0 when absent.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A fixture from `testdata/authz/`.
fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(testdata().join("authz").join(name)).unwrap())
        .unwrap()
}

/// A v1 SubjectAccessReview as the API server builds it, for alice.
fn sar(attributes: Value) -> Value {
    let mut body = fixture("sar-v1-pods-get.json");
    let spec = body["spec"].as_object_mut().unwrap();
    spec.remove("resourceAttributes");
    for (k, v) in attributes.as_object().unwrap() {
        spec.insert(k.clone(), v.clone());
    }
    body
}

fn resource(ns: &str, verb: &str, group: &str, resource: &str, sub: &str) -> Value {
    let mut attrs = json!({"verb": verb, "version": "v1", "resource": resource});
    for (k, v) in [("namespace", ns), ("group", group), ("subresource", sub)] {
        if !v.is_empty() {
            attrs[k] = json!(v);
        }
    }
    json!({"resourceAttributes": attrs})
}

fn assert_allowed(status: &Value) {
    assert_eq!(status["allowed"], true, "{status}");
    assert!(status.get("denied").is_none(), "{status}");
    assert!(status.get("evaluationError").is_none(), "{status}");
}

fn assert_denied(status: &Value) {
    assert_eq!(status["allowed"], false, "{status}");
    assert_eq!(status["denied"], true, "{status}");
    assert!(status.get("evaluationError").is_none(), "{status}");
}

/// No decision: the next authorizer decides.
fn assert_no_opinion(status: &Value) {
    assert_eq!(status["allowed"], false, "{status}");
    assert!(status.get("denied").is_none(), "{status}");
    assert!(status.get("evaluationError").is_none(), "{status}");
}

/// An outage: no decision, an evaluation error for the API server's log.
fn assert_outage(status: &Value, contains: &str) -> String {
    assert_eq!(status["allowed"], false, "{status}");
    assert!(status.get("denied").is_none(), "{status}");
    let error = status["evaluationError"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(error.contains(contains), "{contains:?} not in {status}");
    error
}

#[tokio::test]
async fn pods_exec_crds_and_paths_are_checked_as_azure_actions_on_the_right_scope() {
    let authz = Authz::aks(&[]);
    let a = &authz.azure;
    let dev = format!("{CLUSTER}/namespaces/dev");
    a.grant(OID, &dev, &format!("{AKS}/pods/read"));
    a.grant(OID, &dev, &format!("{AKS}/pods/exec/action"));
    a.grant(
        OID,
        &dev,
        &format!("{AKS}/stable.example.com/crontabs/read"),
    );
    a.grant(GROUP, CLUSTER, &format!("{AKS}/logs/read"));

    // get pods, exactly as the API server sends it.
    let status = authz.review(&fixture("sar-v1-pods-get.json")).await;
    assert_allowed(&status);
    assert!(
        status["reason"]
            .as_str()
            .unwrap()
            .contains("role assignment"),
        "{status}"
    );
    let checks = a.checks();
    assert_eq!(checks.len(), 1);
    let check = &checks[0];
    assert_eq!(
        check.path,
        format!("{dev}/providers/Microsoft.Authorization/checkaccess")
    );
    assert_eq!(check.query, "api-version=2018-09-01-preview");
    assert_eq!(check.authorization, "Bearer arm-token-aks-1");
    assert_eq!(
        check.body,
        json!({
            "Subject": {"Attributes": {"ObjectId": OID, "Groups": [GROUP]}},
            "Actions": [{"Id": format!("{AKS}/pods/read"), "IsDataAction": true, "Attributes": null}],
            "Resource": {"Id": dev}
        })
    );
    // The token URL was asked once, with the tenant.
    let token_requests = a.state.lock().unwrap().token_requests.clone();
    assert_eq!(token_requests.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(&token_requests[0]).unwrap(),
        json!({"tenantID": TENANT})
    );

    // exec arrives as create (1.35+) or get (older WebSocket clients): one action.
    assert_allowed(&authz.review(&fixture("sar-v1-pods-exec.json")).await);
    assert_eq!(
        a.checks()[1].action_ids(),
        [format!("{AKS}/pods/exec/action")]
    );
    let exec_get = sar(resource("dev", "get", "", "pods", "exec"));
    assert_allowed(&authz.review(&exec_get).await);
    assert_eq!(
        a.checks()[2].action_ids(),
        [format!("{AKS}/pods/exec/action")]
    );

    // delete is not granted; neither is another namespace.
    assert_denied(
        &authz
            .review(&sar(resource("dev", "delete", "", "pods", "")))
            .await,
    );
    assert_eq!(a.checks()[3].action_ids(), [format!("{AKS}/pods/delete")]);
    assert_denied(
        &authz
            .review(&sar(resource("prod", "get", "", "pods", "")))
            .await,
    );
    assert_eq!(
        a.checks()[4].resource_id(),
        format!("{CLUSTER}/namespaces/prod")
    );

    // A custom resource without discovery: its group and resource as they are.
    let crd = sar(resource(
        "dev",
        "list",
        "stable.example.com",
        "crontabs",
        "",
    ));
    assert_allowed(&authz.review(&crd).await);
    assert_eq!(
        a.checks()[5].action_ids(),
        [format!("{AKS}/stable.example.com/crontabs/read")]
    );

    // A non-resource path, allowed through the group's cluster-wide role.
    assert_allowed(&authz.review(&fixture("sar-v1-nonresource.json")).await);
    let check = &a.checks()[6];
    assert_eq!(check.action_ids(), [format!("{AKS}/logs/read")]);
    assert_eq!(check.resource_id(), CLUSTER);

    // Discovery paths need no call.
    let healthz = sar(json!({"nonResourceAttributes": {"path": "/healthz", "verb": "get"}}));
    assert_allowed(&authz.review(&healthz).await);
    let openapi = sar(json!({"nonResourceAttributes": {"path": "/openapi/v3", "verb": "get"}}));
    assert_allowed(&authz.review(&openapi).await);
    assert_eq!(a.check_count(), 7);
    // One ARM token for all of them.
    assert_eq!(a.state.lock().unwrap().token_requests.len(), 1);

    let log = authz.server.log();
    assert!(log.contains("subject access review"), "{log}");
}

#[tokio::test]
async fn system_and_non_azure_users_get_no_opinion_without_asking_azure() {
    let authz = Authz::aks(&[]);
    let status = authz.review(&fixture("sar-v1-serviceaccount.json")).await;
    assert_no_opinion(&status);
    assert!(
        status["reason"].as_str().unwrap().contains("system:"),
        "{status}"
    );

    // A user some other authenticator vouched for: no extra.oid.
    let mut cert_user = fixture("sar-v1-pods-get.json");
    cert_user["spec"]["user"] = json!("kubernetes-admin");
    cert_user["spec"]["groups"] = json!(["kubeadm:cluster-admins", "system:authenticated"]);
    cert_user["spec"].as_object_mut().unwrap().remove("extra");
    let status = authz.review(&cert_user).await;
    assert_no_opinion(&status);
    assert!(
        status["reason"].as_str().unwrap().contains("extra.oid"),
        "{status}"
    );

    // An oid that is not an object id is a denial, decided locally.
    let mut forged = fixture("sar-v1-pods-get.json");
    forged["spec"]["extra"]["oid"] = json!(["../../admin"]);
    assert_denied(&authz.review(&forged).await);

    assert_eq!(authz.azure.check_count(), 0);
    assert!(authz.azure.state.lock().unwrap().token_requests.is_empty());

    // Go Guard's strict setting: non-Azure users are denied.
    let strict = Authz::aks(&["--azure.skip-authz-for-non-aad-users=false"]);
    let status = strict.review(&cert_user).await;
    assert_denied(&status);
    assert_no_opinion(&strict.review(&fixture("sar-v1-serviceaccount.json")).await);
}

#[tokio::test]
async fn v1beta1_is_answered_in_v1beta1_with_the_spec_echoed() {
    let authz = Authz::aks(&[]);
    authz.azure.grant(
        GROUP,
        &format!("{CLUSTER}/namespaces/dev"),
        &format!("{AKS}/pods/read"),
    );
    let sent = fixture("sar-v1beta1-pods-list.json");
    let (status, answer) = authz
        .post(&sent.to_string(), Some((&authz.client.0, &authz.client.1)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["apiVersion"], "authorization.k8s.io/v1beta1");
    assert_eq!(answer["kind"], "SubjectAccessReview");
    assert_eq!(answer["spec"], sent["spec"]);
    assert_allowed(&answer["status"]);
    // v1beta1's `group` reached ARM as the subject's groups.
    assert_eq!(
        authz.azure.checks()[0].body["Subject"]["Attributes"]["Groups"],
        json!([GROUP])
    );

    // v1 with a 1.31+ label selector: echoed, and the answer is v1.
    let mut list = sar(resource("dev", "list", "", "pods", ""));
    list["spec"]["resourceAttributes"]["labelSelector"] =
        json!({"requirements": [{"key": "app", "operator": "In", "values": ["web"]}]});
    let (_, answer) = authz
        .post(&list.to_string(), Some((&authz.client.0, &authz.client.1)))
        .await;
    assert_eq!(answer["apiVersion"], "authorization.k8s.io/v1");
    assert_eq!(answer["spec"], list["spec"]);
    assert_allowed(&answer["status"]);
}

#[tokio::test]
async fn decisions_are_cached_refusals_too_and_outages_never() {
    let authz = Authz::aks(&["--azure.http-client-retry-count=1"]);
    let a = &authz.azure;
    a.grant(OID, CLUSTER, &format!("{AKS}/pods/read"));

    let get = fixture("sar-v1-pods-get.json");
    assert_allowed(&authz.review(&get).await);
    assert_allowed(&authz.review(&get).await);
    assert_eq!(a.check_count(), 1);
    let delete = sar(resource("dev", "delete", "", "pods", ""));
    assert_denied(&authz.review(&delete).await);
    assert_denied(&authz.review(&delete).await);
    assert_eq!(a.check_count(), 2);

    // ARM refuses the check (403): a denial, cached.
    a.set_behaviour(Behaviour::Status(403));
    let secrets = sar(resource("dev", "get", "", "secrets", ""));
    let status = authz.review(&secrets).await;
    assert_denied(&status);
    assert!(
        status["reason"].as_str().unwrap().contains("403"),
        "{status}"
    );
    assert_denied(&authz.review(&secrets).await);
    assert_eq!(a.check_count(), 3);

    // The cluster's ARM resource is gone (404): denied, cached.
    a.set_behaviour(Behaviour::Status(404));
    let cm = sar(resource("dev", "get", "", "configmaps", ""));
    assert_denied(&authz.review(&cm).await);
    assert_denied(&authz.review(&cm).await);
    assert_eq!(a.check_count(), 4);

    // ARM fails (500): retried once, an outage, and asked again next time.
    a.set_behaviour(Behaviour::Status(500));
    let services = sar(resource("dev", "get", "", "services", ""));
    let error = assert_outage(&authz.review(&services).await, "500");
    assert!(!error.contains("arm-token"), "{error}");
    assert_eq!(a.check_count(), 6);
    assert_outage(&authz.review(&services).await, "500");
    assert_eq!(a.check_count(), 8);
    a.set_behaviour(Behaviour::Normal);
    assert_denied(&authz.review(&services).await);
    assert_eq!(a.check_count(), 9);

    let m = authz.metrics().await;
    assert_eq!(metric(&m, "guard_azure_authz_cache_hits_total"), 4.0, "{m}");
    assert_eq!(
        metric(&m, "guard_azure_authz_cache_misses_total"),
        7.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "guard_azure_authz_cache_errors_cached_total"),
        1.0,
        "{m}"
    );
    assert_eq!(metric(&m, "guard_azure_authz_cache_entries"), 5.0, "{m}");
    assert_eq!(
        metric(
            &m,
            "guard_azure_authz_checkaccess_failure_total{code=\"500\"}"
        ),
        4.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "guard_azure_authz_checkaccess_failure_total{code=\"403\"}"
        ),
        1.0,
        "{m}"
    );
    // 200s and the 404.
    assert_eq!(
        metric(&m, "guard_azure_authz_checkaccess_success_total"),
        4.0,
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "subjectaccessreviews_handler_requests_total{code=\"200\",method=\"post\"}"
        ),
        11.0,
        "{m}"
    );
    assert!(
        m.contains("guard_azure_checkaccess_request_duration_seconds_bucket{"),
        "{m}"
    );
    assert!(
        m.contains(
            "request_duration_seconds_count{handler=\"subjectaccessreviews\",method=\"post\"} 11"
        ),
        "{m}"
    );
    assert!(
        m.contains("response_size_bytes_count{handler=\"subjectaccessreview\"} 11"),
        "{m}"
    );

    // ARM no longer takes guard's token (401): an outage, not a denial of
    // the user, and the next review fetches a new token.
    a.state.lock().unwrap().issued.clear();
    let pvc = sar(resource("dev", "get", "", "persistentvolumeclaims", ""));
    assert_outage(&authz.review(&pvc).await, "401");
    assert_allowed(
        &authz
            .review(&sar(resource("qa", "get", "", "pods", "")))
            .await,
    );
    assert_eq!(a.state.lock().unwrap().token_requests.len(), 2);

    // ARM timed out (408): an outage like a 5xx, retried, never cached.
    a.set_behaviour(Behaviour::Status(408));
    let endpoints = sar(resource("dev", "get", "", "endpoints", ""));
    let before = a.check_count();
    assert_outage(&authz.review(&endpoints).await, "408");
    assert_eq!(a.check_count(), before + 2);
    assert_outage(&authz.review(&endpoints).await, "408");
    assert_eq!(a.check_count(), before + 4);
    a.set_behaviour(Behaviour::Normal);
    assert_denied(&authz.review(&endpoints).await);
    assert_eq!(a.check_count(), before + 5);
}

#[tokio::test]
async fn throttling_renews_connections_and_is_an_outage_when_it_lasts() {
    let authz = Authz::aks(&["--azure.http-client-retry-count=2"]);
    let a = &authz.azure;
    a.grant(OID, CLUSTER, &format!("{AKS}/*"));
    let review = |resource: &str| sar(self::resource("dev", "get", "", resource, ""));

    // Plenty of reads left: one connection serves the token and the checks.
    assert_allowed(&authz.review(&review("pods")).await);
    assert_allowed(&authz.review(&review("services")).await);
    assert_eq!(a.connections(), 1);

    // Fewer reads left than --azure.arm-call-limit: the next call goes out
    // on a new connection (another ARM instance).
    a.state.lock().unwrap().remaining_reads = 1500;
    assert_allowed(&authz.review(&review("secrets")).await);
    assert_allowed(&authz.review(&review("configmaps")).await);
    assert_eq!(a.connections(), 2);
    a.state.lock().unwrap().remaining_reads = 11999;
    assert_allowed(&authz.review(&review("endpoints")).await);
    assert_eq!(a.connections(), 3);
    assert_allowed(&authz.review(&review("events")).await);
    assert_eq!(a.connections(), 3);

    // One 429: a new connection, and the retry succeeds.
    let before = a.check_count();
    a.set_behaviour(Behaviour::Throttle {
        n: 1,
        retry_after: 0,
    });
    assert_allowed(&authz.review(&review("nodes")).await);
    assert_eq!(a.check_count(), before + 2);
    assert_eq!(a.connections(), 4);

    // Throttled on every attempt: an outage, not cached.
    a.set_behaviour(Behaviour::Throttle {
        n: 3,
        retry_after: 0,
    });
    assert_outage(&authz.review(&review("leases")).await, "throttled");
    assert_eq!(a.check_count(), before + 5);
    assert_allowed(&authz.review(&review("leases")).await);

    // Asked to come back after the deadline: an outage at once.
    a.set_behaviour(Behaviour::Throttle {
        n: 1,
        retry_after: 120,
    });
    assert_outage(&authz.review(&review("jobs")).await, "retry after");

    let m = authz.metrics().await;
    assert_eq!(
        metric(&m, "guard_azure_authz_checkaccess_throttling_failure_total"),
        5.0,
        "{m}"
    );
    assert!(authz.server.log().contains("new ARM connections"));
}

#[tokio::test]
async fn a_slow_arm_is_an_outage_within_the_server_s_deadline() {
    let authz = Authz::aks(&["--server-write-timeout=5s"]);
    authz.azure.grant(OID, CLUSTER, &format!("{AKS}/pods/read"));
    // A first review fetches guard's ARM token and opens the connection.
    assert_allowed(
        &authz
            .review(&sar(resource("dev", "list", "", "pods", "")))
            .await,
    );
    authz.azure.set_behaviour(Behaviour::Hang);
    let get = fixture("sar-v1-pods-get.json");
    // "timed out" (the last attempt) or "in time" (the review's deadline).
    assert_outage(&authz.review(&get).await, "time");
    let first = authz.azure.check_count();
    assert!(first >= 2, "the hanging check never reached ARM");
    // Not cached: the next review asks again.
    assert_outage(&authz.review(&get).await, "time");
    assert!(authz.azure.check_count() > first);
}

#[tokio::test]
async fn namespaces_fall_back_to_managed_namespaces_and_the_fleet() {
    let authz = Authz::aks(&[
        "--azure.use-managed-namespace-resource-scope-format",
        &format!("--azure.fleet-resource-id={FLEET}"),
    ]);
    let a = &authz.azure;
    a.grant(
        OID,
        &format!("{CLUSTER}/managedNamespaces/team"),
        &format!("{AKS}/pods/read"),
    );
    a.grant(
        OID,
        &format!("{FLEET}/namespaces/web"),
        "Microsoft.ContainerService/fleets/members/apps/deployments/read",
    );

    assert_allowed(
        &authz
            .review(&sar(resource("team", "get", "", "pods", "")))
            .await,
    );
    let scopes: Vec<String> = a.checks().iter().map(|c| c.resource_id()).collect();
    assert_eq!(
        scopes,
        [
            format!("{CLUSTER}/namespaces/team"),
            format!("{CLUSTER}/managedNamespaces/team")
        ]
    );

    assert_allowed(
        &authz
            .review(&sar(resource("web", "list", "apps", "deployments", "")))
            .await,
    );
    let checks = a.checks();
    let fleet = &checks[4];
    assert_eq!(fleet.resource_id(), format!("{FLEET}/namespaces/web"));
    assert_eq!(
        fleet.action_ids(),
        ["Microsoft.ContainerService/fleets/members/apps/deployments/read"]
    );
    assert_eq!(checks[2].resource_id(), format!("{CLUSTER}/namespaces/web"));
    assert_eq!(
        checks[3].resource_id(),
        format!("{CLUSTER}/managedNamespaces/web")
    );

    // Nothing anywhere: the fleet's managed namespace is the last scope tried.
    assert_denied(
        &authz
            .review(&sar(resource("other", "get", "", "pods", "")))
            .await,
    );
    let checks = a.checks();
    assert_eq!(checks.len(), 9);
    assert_eq!(
        checks[8].resource_id(),
        format!("{FLEET}/managedNamespaces/other")
    );
    // Cluster scope: no namespace fallbacks, only the fleet itself.
    assert_denied(
        &authz
            .review(&sar(resource("", "get", "", "nodes", "")))
            .await,
    );
    let scopes: Vec<String> = a.checks()[9..].iter().map(|c| c.resource_id()).collect();
    assert_eq!(scopes, [CLUSTER.to_owned(), FLEET.to_owned()]);
}

#[tokio::test]
async fn arc_uses_client_credentials_the_skip_list_and_its_own_scope_format() {
    let args = [
        "--azure.authz-mode=arc",
        &format!("--azure.resource-id={ARC_CLUSTER}"),
        "--azure.login-url={url}/",
        "--azure.skip-authz-check=BreakGlass@Contoso.com",
        "--azure.use-ns-resource-scope-format",
    ];
    let authz = Authz::start_with(&args, &[("AZURE_CLIENT_SECRET", CLIENT_SECRET)]);
    let a = &authz.azure;
    let ns = format!("{ARC_CLUSTER}/providers/Microsoft.KubernetesConfiguration/namespaces/dev");
    a.grant(OID, &ns, &format!("{ARC}/pods/read"));

    assert_allowed(&authz.review(&fixture("sar-v1-pods-get.json")).await);
    let check = &a.checks()[0];
    assert_eq!(check.resource_id(), ns);
    assert_eq!(check.action_ids(), [format!("{ARC}/pods/read")]);
    assert_eq!(check.authorization, "Bearer arm-token-aad-1");
    assert_eq!(
        a.state.lock().unwrap().token_requests,
        [format!(
            "client_id=guard-app scope={}/.default grant_type=client_credentials content_type=application/x-www-form-urlencoded",
            a.url
        )]
    );

    let mut breakglass = fixture("sar-v1-pods-get.json");
    breakglass["spec"]["user"] = json!("breakglass@contoso.com");
    assert_no_opinion(&authz.review(&breakglass).await);
    assert_eq!(a.check_count(), 1);

    // Without a client secret: the Arc agent's managed identity, for ARM.
    let msi = Authz::start_with(
        &[
            &args[..],
            &["--azure.arc-msi-url={url}/metadata/identity/oauth2/token?api-version=2018-02-01"],
        ]
        .concat(),
        &[],
    );
    msi.azure.grant(OID, &ns, &format!("{ARC}/pods/read"));
    assert_allowed(&msi.review(&fixture("sar-v1-pods-get.json")).await);
    assert_eq!(
        msi.azure.checks()[0].authorization,
        "Bearer arm-token-msi-1"
    );
    let requests = msi.azure.state.lock().unwrap().token_requests.clone();
    let resource: String =
        url::form_urlencoded::byte_serialize(format!("{}/", msi.azure.url).as_bytes()).collect();
    assert_eq!(
        requests,
        [format!(
            "msi api-version=2018-02-01&resource={resource} metadata=true"
        )]
    );

    // A wrong secret: an outage naming Azure AD, and the secret stays out of the log.
    let wrong = Authz::start_with(&args, &[("AZURE_CLIENT_SECRET", "wrong-secret-not-real")]);
    common::secrets::register("wrong-secret-not-real");
    let error = assert_outage(
        &wrong.review(&fixture("sar-v1-pods-get.json")).await,
        "ARM token",
    );
    assert!(
        error.contains("401") && error.contains("invalid_client"),
        "{error}"
    );
    assert_eq!(wrong.azure.check_count(), 0);
}

#[tokio::test]
async fn discovery_enables_wildcards_custom_resources_and_batches_and_gates_readyz() {
    let bulk: Vec<String> = (0..250).map(|i| format!("widgets{i:03}")).collect();
    let authz = Authz::start_after(
        &[
            "--azure.authz-mode=aks",
            &format!("--azure.resource-id={CLUSTER}"),
            "--azure.aks-authz-token-url={url}/aks/authz/token",
            "--azure.discover-resources",
            "--azure.kubeconfig-file={kubeconfig}",
            "--azure.allow-custom-resource-type-check",
            "--azure.allow-subresource-type-check",
        ],
        &[],
        |a| {
            let mut s = a.state.lock().unwrap();
            s.discovery_up = false;
            // The API server knows a CRD group (unknown to Azure) and a big group.
            s.extra_groups
                .insert("stable.example.com".into(), vec!["crontabs".into()]);
            s.extra_groups
                .insert("bulk.example.com".into(), bulk.clone());
            let mut ops: Vec<String> = [
                "pods/read",
                "pods/write",
                "pods/delete",
                "pods/exec/action",
                "nodes/read",
                "apps/deployments/read",
                "apps/deployments/write",
            ]
            .iter()
            .map(|o| format!("{AKS}/{o}"))
            .collect();
            ops.extend(
                bulk.iter()
                    .map(|r| format!("{AKS}/bulk.example.com/{r}/read")),
            );
            s.operations = ops;
        },
    );
    let a = &authz.azure;
    a.grant(
        OID,
        &format!("{CLUSTER}/namespaces/dev"),
        &format!("{AKS}/*"),
    );

    // Not ready while the cluster's API does not answer.
    assert_eq!(authz.readyz().await, 503);
    a.state.lock().unwrap().discovery_up = true;
    // guard retries discovery after 2 s, doubling up to a minute.
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while authz.readyz().await != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(a.state.lock().unwrap().operations_calls >= 1);
    let before = a.check_count();

    // A custom resource: customresources/read with its group and resource.
    assert_allowed(
        &authz
            .review(&sar(resource(
                "dev",
                "get",
                "stable.example.com",
                "crontabs",
                "",
            )))
            .await,
    );
    let check = &a.checks()[before];
    assert_eq!(
        check.body["Actions"],
        json!([{"Id": format!("{AKS}/customresources/read"), "IsDataAction": true, "Attributes": {
            "Microsoft.ContainerService/managedClusters/customResources:group": "stable.example.com",
            "Microsoft.ContainerService/managedClusters/customResources:kind": "crontabs"
        }}])
    );

    // Every verb on pods: the four pod actions.
    assert_allowed(
        &authz
            .review(&sar(resource("dev", "*", "", "pods", "")))
            .await,
    );
    let mut ids = a.checks()[before + 1].action_ids();
    ids.sort();
    assert_eq!(
        ids,
        ["delete", "exec/action", "read", "write"].map(|v| format!("{AKS}/pods/{v}"))
    );

    // 250 resources of a group: two CheckAccess requests (200 + 50).
    assert_allowed(
        &authz
            .review(&sar(resource("dev", "get", "bulk.example.com", "*", "")))
            .await,
    );
    let mut sizes: Vec<usize> = a.checks()[before + 2..]
        .iter()
        .map(|c| c.action_ids().len())
        .collect();
    sizes.sort();
    assert_eq!(sizes, [50, 200]);

    // A subresource of interest travels as an attribute.
    assert_allowed(
        &authz
            .review(&sar(resource("dev", "get", "", "pods", "log")))
            .await,
    );
    let check = a.checks().last().unwrap().clone();
    assert_eq!(
        check.body["Actions"][0]["Attributes"]["Microsoft.ContainerService/managedClusters/resources:subresource"],
        "log"
    );

    // A wildcard nothing matches: no decision, and RBAC decides.
    assert_outage(
        &authz
            .review(&sar(resource("dev", "get", "*", "gadgets", "")))
            .await,
        "no Azure operation",
    );

    let m = authz.metrics().await;
    assert!(
        metric(&m, "guard_discover_requests_requests_total{code=\"200\"}") >= 1.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "guard_azure_get_operations_requests_total{code=\"200\"}"
        ) >= 1.0,
        "{m}"
    );
}

#[tokio::test]
async fn wildcards_without_discovery_leave_the_decision_to_rbac() {
    let authz = Authz::aks(&[]);
    assert_eq!(authz.readyz().await, 200);
    assert_outage(
        &authz
            .review(&sar(resource("dev", "*", "", "pods", "")))
            .await,
        "--azure.discover-resources",
    );
    assert_eq!(authz.azure.check_count(), 0);
}

#[tokio::test]
async fn five_hundred_identical_concurrent_checks_make_one_arm_call() {
    // ARM is held until all 500 reviews are inside guard, however long the
    // machine takes to deliver them: a held call is cut after 3 s and
    // retried within the review's deadline (23 s at most), so give the one
    // shared computation that many attempts. What is counted is reviews
    // computed by Azure (1), not the attempts it took.
    let authz = std::sync::Arc::new(Authz::aks(&[
        "--server-write-timeout=30s",
        "--azure.http-client-retry-count=7",
    ]));
    authz.azure.grant(OID, CLUSTER, &format!("{AKS}/pods/read"));
    authz.azure.set_behaviour(Behaviour::Hold);
    let body = fixture("sar-v1-pods-get.json").to_string();
    // Four HTTP/2 connections of 125 streams (guard allows 250 per connection).
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (authz, body) = (authz.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let call = Call::post("/subjectaccessreviews", body)
                .with_identity(&authz.client.0, &authz.client.1);
            common::client::send_streams(
                authz.server.port,
                &authz.sb.pki().join("ca.crt"),
                call,
                125,
            )
            .await
            .unwrap()
        }));
    }
    // Hold ARM until all 500 are inside guard.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let m = authz.metrics().await;
        if metric(&m, "subjectaccessreviews_handler_requests_in_flight") >= 500.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "500 reviews never arrived:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Normal first: a retry that starts after the release must not be held.
    authz.azure.set_behaviour(Behaviour::Normal);
    authz.azure.release();
    let mut answered = 0;
    for t in tasks {
        for (status, body) in t.await.unwrap() {
            assert_eq!(status, 200);
            let answer: Value = serde_json::from_slice(&body).unwrap();
            assert_allowed(&answer["status"]);
            answered += 1;
        }
    }
    assert_eq!(answered, 500);
    // One computation: its attempts are all the calls ARM saw.
    let calls = authz.azure.check_count();
    assert!((1..=8).contains(&calls), "{calls} CheckAccess calls");
    let m = authz.metrics().await;
    assert_eq!(
        metric(
            &m,
            "guard_authz_reviews_total{outcome=\"allowed\",source=\"azure\"}"
        ),
        1.0,
        "{m}"
    );
}

#[test]
fn kubectl_sends_a_review_through_the_authz_webhook_config() {
    let authz = Authz::aks(&[]);
    authz.azure.grant(OID, CLUSTER, &format!("{AKS}/pods/read"));
    let addr = format!("127.0.0.1:{}", authz.server.port);
    let yaml = authz.sb.ok(&[
        "get",
        "webhook-config",
        "-o",
        "azure",
        "--mode=authz",
        &format!("--addr={addr}"),
    ]);
    let config = authz.sb.home.path().join("authz-webhook.yaml");
    std::fs::write(&config, &yaml).unwrap();
    let server = std::process::Command::new(kubectl())
        .args([
            "config",
            "view",
            "--raw",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
            "--kubeconfig",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&server.stdout),
        format!("https://{addr}/subjectaccessreviews")
    );
    let body = testdata().join("authz/sar-v1-pods-get.json");
    let out = std::process::Command::new(kubectl())
        .args(["--kubeconfig", config.to_str().unwrap()])
        .args(["--server", &format!("https://{addr}")])
        .args(["create", "--raw", "/subjectaccessreviews", "-f"])
        .arg(&body)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["kind"], "SubjectAccessReview");
    assert_allowed(&answer["status"]);
}

#[tokio::test]
async fn wrong_callers_and_bodies_are_refused_with_4xx() {
    // Optional client certificates (Go Guard's behaviour), so that a caller
    // without one reaches the route and gets the 401.
    let authz = Authz::aks(&["--require-client-cert=false"]);
    let body = fixture("sar-v1-pods-get.json").to_string();
    let (status, answer) = authz.post(&body, None).await;
    assert_eq!(status, 401);
    assert!(
        answer["status"]["evaluationError"]
            .as_str()
            .unwrap()
            .contains("client certificate")
    );
    authz.sb.ok(&["init", "client", "acme", "-o", "github"]);
    let pki = authz.sb.pki();
    let github = (pki.join("acme@github.crt"), pki.join("acme@github.key"));
    let (status, answer) = authz.post(&body, Some((&github.0, &github.1))).await;
    assert_eq!(status, 403);
    assert!(
        answer["status"]["evaluationError"]
            .as_str()
            .unwrap()
            .contains("O=github"),
        "{answer}"
    );
    let me = Some((&authz.client.0, &authz.client.1));
    let (status, answer) = authz.post("{bad", me).await;
    assert_eq!(status, 400);
    assert!(
        answer["status"]["evaluationError"]
            .as_str()
            .unwrap()
            .contains("not a valid SubjectAccessReview")
    );
    let (status, _) = authz
        .post(&json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "x"}}).to_string(), me)
        .await;
    assert_eq!(status, 400);
    let answer = send(
        authz.server.port,
        &pki.join("ca.crt"),
        Call::get("/subjectaccessreviews").with_identity(&authz.client.0, &authz.client.1),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 405);
    assert_eq!(authz.azure.check_count(), 0);

    // Without --authz-providers the route does not exist.
    let sb = Sandbox::new();
    let tokens = common::server::prepare(&sb);
    let plain = GuardServer::start(
        &sb,
        &[
            "--auth-providers=token-auth",
            &format!("--token-auth-file={}", tokens.display()),
        ],
    );
    sb.ok(&["init", "client", "-o", "azure"]);
    let pki = sb.pki();
    let answer = send(
        plain.port,
        &pki.join("ca.crt"),
        Call::post("/subjectaccessreviews", body)
            .with_identity(&pki.join("azure@azure.crt"), &pki.join("azure@azure.key")),
    )
    .await
    .unwrap();
    assert_eq!(answer.status, 404);
}

#[tokio::test]
async fn an_unreachable_token_url_is_an_outage_not_a_5xx() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let authz = Authz::start_with(
        &[
            "--azure.authz-mode=fleet",
            &format!("--azure.resource-id={FLEET}"),
            &format!("--azure.aks-authz-token-url=https://127.0.0.1:{port}/token"),
        ],
        &[],
    );
    let error = assert_outage(
        &authz.review(&fixture("sar-v1-pods-get.json")).await,
        "ARM token",
    );
    assert!(error.contains("--azure.aks-authz-token-url"), "{error}");
    // Discovery paths still answer.
    let version = sar(json!({"nonResourceAttributes": {"path": "/version", "verb": "get"}}));
    assert_allowed(&authz.review(&version).await);
}

/// Outbound errors carry the origin only: the Arc agent's managed identity
/// URL has a query (`?api-version=...&resource=...`), and an unreachable
/// one must not put it into the log (reqwest's errors name the full URL).
#[tokio::test]
async fn an_unreachable_managed_identity_is_an_outage_logged_without_its_query() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let authz = Authz::start_with(
        &[
            "--azure.authz-mode=arc",
            &format!("--azure.resource-id={ARC_CLUSTER}"),
            &format!(
                "--azure.arc-msi-url=http://127.0.0.1:{port}/metadata/identity/oauth2/token?api-version=2018-02-01"
            ),
        ],
        &[],
    );
    assert_outage(
        &authz.review(&fixture("sar-v1-pods-get.json")).await,
        "ARM token",
    );
    assert_eq!(authz.azure.check_count(), 0);
    // guard logs the transport error at debug level (the tests' level).
    common::server::eventually(Duration::from_secs(30), "the ARM call's debug line", || {
        authz.server.log().contains("ARM call: cannot connect")
    });
    let log = authz.server.log();
    assert!(log.contains(&format!("127.0.0.1:{port}")), "{log}");
    common::secrets::assert_no_url_query("guard run", &log);
}

#[test]
fn bad_authz_options_stop_the_server_at_start_up() {
    let sb = Sandbox::new();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--tls-ca-file=x",
            "--tls-cert-file=y",
            "--tls-private-key-file=z",
            "--auth-providers=azure",
            "--azure.tenant-id=t",
            "--azure.skip-group-membership-resolution",
        ];
        args.extend(extra);
        sb.fails(&args)
    };
    let err = run(&["--authz-providers=azure", "--azure.authz-mode=aks"]);
    assert!(
        err.contains("--azure.resource-id") && err.contains("--azure.aks-authz-token-url"),
        "{err}"
    );
    let err = run(&["--authz-providers=github"]);
    assert!(
        err.contains("\"github\" is not an authorization provider"),
        "{err}"
    );
    let err = run(&[
        "--authz-providers=azure",
        "--azure.authz-mode=aks",
        &format!("--azure.resource-id={CLUSTER}"),
        "--azure.aks-authz-token-url=http://10.0.0.1/token",
    ]);
    assert!(err.contains("must be an https URL"), "{err}");
    let err = run(&[
        "--authz-providers=azure",
        "--azure.authz-mode=arc",
        &format!("--azure.resource-id={ARC_CLUSTER}"),
        "--azure.use-checkaccess-v2",
    ]);
    assert!(
        err.contains("not supported yet") && err.contains("--azure.client-id"),
        "{err}"
    );
}

#[tokio::test]
async fn the_user_the_azure_provider_returns_is_the_one_authorization_checks() {
    let issuer =
        common::peers::OidcIssuer::start(&[("OIDC_PATH_PREFIX", &format!("/{TENANT}/v2.0"))]);
    let authz = Authz::aks(&[&format!("--azure.discovery-url={}", issuer.discovery())]);
    authz.azure.grant(
        GROUP,
        &format!("{CLUSTER}/namespaces/dev"),
        &format!("{AKS}/apps/deployments/write"),
    );
    let token = issuer.sign(
        json!({"oid": OID, "upn": "alice@contoso.com", "tid": TENANT, "groups": [GROUP], "aud": "guard-app"}),
        "RS256",
    );
    // The TokenReview the API server sends first...
    let call = Call::post("/tokenreviews", common::server::review_body("v1", &token))
        .with_identity(&authz.client.0, &authz.client.1);
    let answer = send(authz.server.port, &authz.sb.pki().join("ca.crt"), call)
        .await
        .unwrap();
    let user = answer.json()["status"]["user"].clone();
    assert_eq!(user["extra"]["oid"], json!([OID]), "{user}");

    // ...then the SubjectAccessReview it builds from that user.
    let mut groups = user["groups"].as_array().unwrap().clone();
    groups.push(json!("system:authenticated"));
    let body = json!({
        "kind": "SubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": {
            "resourceAttributes": {"namespace": "dev", "verb": "patch", "group": "apps", "version": "v1", "resource": "deployments", "name": "web"},
            "user": user["username"],
            "uid": user["uid"],
            "groups": groups,
            "extra": user["extra"],
        },
        "status": {"allowed": false}
    });
    assert_allowed(&authz.review(&body).await);
    let check = &authz.azure.checks()[0];
    assert_eq!(check.body["Subject"]["Attributes"]["ObjectId"], OID);
    assert_eq!(
        check.action_ids(),
        [format!("{AKS}/apps/deployments/write")]
    );
}
