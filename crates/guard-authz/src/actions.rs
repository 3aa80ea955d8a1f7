//! From a SubjectAccessReview to Azure RBAC data actions.
//!
//! An action id is `TYPE[/GROUP]/RESOURCE/ACTION` (the core API group is
//! left out), where TYPE is the cluster's ARM resource type
//! (`Microsoft.ContainerService/managedClusters`, ...) and ACTION follows
//! the verb: get/list/watch → `read`; create/update/patch → `write`;
//! delete/deletecollection → `delete`; bind/escalate/use/impersonate →
//! `VERB/action`. `pods/exec` is `pods/exec/action` whatever the verb (the
//! API server sends exec as `create` from Kubernetes 1.35 on, `get` for
//! older WebSocket clients). Non-resource requests are `TYPE/PATH/ACTION`.
//!
//! With the [operations map](Operations) from resource discovery, wildcard
//! requests (`*` verb, resource or group) expand to every matching action,
//! and resources Azure does not know are checked as custom resources
//! (`TYPE/customresources/read|write|delete` with the group and resource as
//! attributes).

use std::collections::BTreeMap;

use serde::Serialize;

/// Attribute naming a custom resource's API group.
pub const CUSTOM_RESOURCE_GROUP: &str =
    "Microsoft.ContainerService/managedClusters/customResources:group";
/// Attribute naming a custom resource (its plural name).
pub const CUSTOM_RESOURCE_KIND: &str =
    "Microsoft.ContainerService/managedClusters/customResources:kind";
/// Attribute naming the subresource, for role conditions.
pub const SUBRESOURCE: &str = "Microsoft.ContainerService/managedClusters/resources:subresource";

/// Subresources sent as [`SUBRESOURCE`] with
/// `--azure.allow-subresource-type-check` (Go Guard lists `pods/logs`,
/// which Kubernetes never sends; `pods/log` is the real one).
const SUBRESOURCE_ALLOW_LIST: [&str; 10] = [
    "pods/log",
    "pods/logs",
    "pods/exec",
    "pods/portforward",
    "pods/proxy",
    "pods/ephemeralcontainers",
    "pods/attach",
    "deployments/scale",
    "statefulsets/scale",
    "replicasets/scale",
];

/// One data action of a CheckAccess request, as ARM reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Action {
    /// The action id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Always true: Kubernetes actions are data actions.
    #[serde(rename = "IsDataAction")]
    pub is_data_action: bool,
    /// Attributes for role conditions (custom resources, subresources).
    #[serde(rename = "Attributes")]
    pub attributes: Option<BTreeMap<String, String>>,
}

impl Action {
    fn new(id: String) -> Self {
        Action {
            id,
            is_data_action: true,
            attributes: None,
        }
    }

    fn set(&mut self, key: &str, value: &str) {
        self.attributes
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_owned(), value.to_owned());
    }
}

/// What a review asks about, with empty strings for absent fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Request {
    /// A resource request.
    Resource {
        /// Namespace, empty for cluster-scoped requests.
        namespace: String,
        /// The verb.
        verb: String,
        /// API group, empty for the core group.
        group: String,
        /// Resource (plural).
        resource: String,
        /// Subresource.
        subresource: String,
    },
    /// A non-resource request (`/healthz`, `/api`, ...).
    NonResource {
        /// The path.
        path: String,
        /// The verb (`get`, `post`...).
        verb: String,
    },
}

impl Request {
    /// The attributes of a review (`None` when it has neither kind).
    pub fn from_spec(
        spec: &k8s_openapi::api::authorization::v1::SubjectAccessReviewSpec,
    ) -> Option<Self> {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        if let Some(r) = &spec.resource_attributes {
            return Some(Request::Resource {
                namespace: s(&r.namespace),
                verb: s(&r.verb),
                group: s(&r.group),
                resource: s(&r.resource),
                subresource: s(&r.subresource),
            });
        }
        spec.non_resource_attributes
            .as_ref()
            .map(|n| Request::NonResource {
                path: s(&n.path),
                verb: s(&n.verb),
            })
    }

    /// The namespace, if the request is namespaced.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Request::Resource { namespace, .. } if !namespace.is_empty() => Some(namespace),
            _ => None,
        }
    }
}

/// Why a request cannot be expressed as Azure actions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// A wildcard without the operations map.
    #[error(
        "wildcard requests (group {group:?}, resource {resource:?}, verb {verb:?}) need --azure.discover-resources"
    )]
    WildcardNeedsDiscovery {
        /// The API group.
        group: String,
        /// The resource.
        resource: String,
        /// The verb.
        verb: String,
    },
    /// Nothing in the operations map matches.
    #[error("no Azure operation matches {0}")]
    NoOperations(String),
    /// A custom resource with a verb that has no custom-resource action.
    #[error("verb {0:?} has no custom-resource action")]
    CustomResourceVerb(String),
    /// A non-resource path with `.` or `..` segments.
    #[error("non-resource path {0:?} has . or .. segments")]
    UnsafePath(String),
}

/// One discovered action of the operations map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataAction {
    /// The action id.
    pub id: String,
    /// Whether the resource is namespaced.
    pub namespaced: bool,
}

/// API group (`v1` for the core group) → resource → action (`read`,
/// `exec/action`...) → the discovered action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operations {
    /// The map.
    pub groups: BTreeMap<String, BTreeMap<String, BTreeMap<String, DataAction>>>,
}

/// The key of the core API group in [`Operations`].
pub const CORE: &str = "v1";

impl Operations {
    /// Whether nothing was discovered.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    fn has_group(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    fn has_resource(&self, group: &str, resource: &str) -> bool {
        self.groups
            .get(group)
            .is_some_and(|g| g.contains_key(resource))
    }
}

/// The Azure action for a verb (`""` for verbs Azure has none for).
pub fn verb_action(verb: &str) -> &'static str {
    match verb {
        "get" | "list" | "watch" => "read",
        "create" | "update" | "patch" => "write",
        "delete" | "deletecollection" => "delete",
        "bind" => "bind/action",
        "escalate" => "escalate/action",
        "use" => "use/action",
        "impersonate" => "impersonate/action",
        "*" => "*",
        _ => "",
    }
}

/// `RESOURCE/ACTION`, or `pods/exec/action` for exec.
pub fn resource_action(resource: &str, subresource: &str, verb: &str) -> String {
    if resource == "pods" && subresource == "exec" {
        "pods/exec/action".to_owned()
    } else {
        join(&[resource, verb_action(verb)])
    }
}

/// Joins path parts with single slashes, skipping empty ones.
pub fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .flat_map(|p| p.split('/'))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// What the request needs, for `resource_type`.
pub struct Options<'a> {
    /// The cluster's ARM resource type.
    pub resource_type: &'a str,
    /// Discovered operations (may be empty).
    pub operations: &'a Operations,
    /// `--azure.allow-custom-resource-type-check`
    pub custom_resources: bool,
    /// `--azure.allow-subresource-type-check`
    pub subresources: bool,
}

/// The actions to check for `request`.
pub fn data_actions(request: &Request, o: &Options<'_>) -> Result<Vec<Action>, ActionError> {
    let (namespace, verb, group, resource, subresource) = match request {
        Request::NonResource { path, verb } => {
            if path.split('/').any(|s| s == "." || s == "..") {
                return Err(ActionError::UnsafePath(path.clone()));
            }
            return Ok(vec![Action::new(join(&[
                o.resource_type,
                path,
                verb_action(verb),
            ]))]);
        }
        Request::Resource {
            namespace,
            verb,
            group,
            resource,
            subresource,
        } => (namespace, verb, group, resource, subresource),
    };
    let custom = o.custom_resources
        && !o.operations.is_empty()
        && is_custom_resource(group, resource, o.operations);
    let mut actions = if resource != "*" && group != "*" && verb != "*" {
        if custom {
            return custom_resource_actions(o.resource_type, group, resource, verb);
        }
        vec![Action::new(join(&[
            o.resource_type,
            group,
            &resource_action(resource, subresource, verb),
        ]))]
    } else {
        if o.operations.is_empty() {
            return Err(ActionError::WildcardNeedsDiscovery {
                group: group.clone(),
                resource: resource.clone(),
                verb: verb.clone(),
            });
        }
        if custom && group != "*" {
            return custom_resource_actions(o.resource_type, group, resource, verb);
        }
        wildcard_actions(namespace, verb, group, resource, o.operations)?
    };
    if o.subresources
        && SUBRESOURCE_ALLOW_LIST.contains(&format!("{resource}/{subresource}").as_str())
    {
        for action in &mut actions {
            action.set(SUBRESOURCE, subresource);
        }
    }
    Ok(actions)
}

fn is_custom_resource(group: &str, resource: &str, operations: &Operations) -> bool {
    if group.is_empty() || group == "*" {
        return false;
    }
    if resource.is_empty() || resource == "*" {
        !operations.has_group(group)
    } else {
        !operations.has_resource(group, resource)
    }
}

fn custom_resource_actions(
    resource_type: &str,
    group: &str,
    resource: &str,
    verb: &str,
) -> Result<Vec<Action>, ActionError> {
    let verbs: Vec<&str> = if verb == "*" {
        vec!["read", "write", "delete"]
    } else {
        match verb_action(verb) {
            a @ ("read" | "write" | "delete") => vec![a],
            _ => return Err(ActionError::CustomResourceVerb(verb.to_owned())),
        }
    };
    Ok(verbs
        .into_iter()
        .map(|v| {
            let mut action = Action::new(join(&[resource_type, "customresources", v]));
            action.set(CUSTOM_RESOURCE_GROUP, group);
            if !resource.is_empty() {
                action.set(CUSTOM_RESOURCE_KIND, resource);
            }
            action
        })
        .collect())
}

type ResourceMap = BTreeMap<String, BTreeMap<String, DataAction>>;

fn wildcard_actions(
    namespace: &str,
    verb: &str,
    group: &str,
    resource: &str,
    operations: &Operations,
) -> Result<Vec<Action>, ActionError> {
    let mut selected: BTreeMap<String, ResourceMap> = BTreeMap::new();
    if resource == "*" {
        let groups: BTreeMap<String, ResourceMap> = if group == "*" {
            operations.groups.clone()
        } else {
            let key = if group.is_empty() { CORE } else { group };
            let resources = operations.groups.get(key).ok_or_else(|| {
                ActionError::NoOperations(format!("API group {:?}", group_name(group)))
            })?;
            BTreeMap::from([(key.to_owned(), resources.clone())])
        };
        for (g, resources) in groups {
            for (r, verbs) in resources {
                // A namespaced request covers namespaced resources only.
                if namespace.is_empty() || verbs.values().any(|a| a.namespaced) {
                    selected.entry(g.clone()).or_default().insert(r, verbs);
                }
            }
        }
    } else if group == "*" {
        for (g, resources) in &operations.groups {
            if let Some(verbs) = resources.get(resource) {
                selected
                    .entry(g.clone())
                    .or_default()
                    .insert(resource.to_owned(), verbs.clone());
            }
        }
    } else {
        let key = if group.is_empty() { CORE } else { group };
        let resources = operations.groups.get(key).ok_or_else(|| {
            ActionError::NoOperations(format!(
                "API group {:?} and resource {resource:?}",
                group_name(group)
            ))
        })?;
        if let Some(verbs) = resources.get(resource) {
            selected
                .entry(key.to_owned())
                .or_default()
                .insert(resource.to_owned(), verbs.clone());
        }
    }
    if selected.is_empty() {
        return Err(ActionError::NoOperations(format!(
            "group {:?}, resource {resource:?}",
            group_name(group)
        )));
    }
    let all = selected.values().flat_map(|r| r.values());
    let actions: Vec<Action> = if verb == "*" {
        all.flat_map(|verbs| verbs.values())
            .map(|a| Action::new(a.id.clone()))
            .collect()
    } else {
        let wanted = verb_action(verb);
        all.filter_map(|verbs| verbs.get(wanted))
            .map(|a| Action::new(a.id.clone()))
            .collect()
    };
    if actions.is_empty() {
        return Err(ActionError::NoOperations(format!("verb {verb:?}")));
    }
    Ok(actions)
}

fn group_name(group: &str) -> &str {
    if group.is_empty() { "core" } else { group }
}

/// Builds the operations map from discovered API resources
/// (`(group or "v1", resource, namespaced)`, subresources left out) and
/// ARM's data actions for `resource_type`.
pub fn operations_map(
    resource_type: &str,
    resources: &[(String, String, bool)],
    actions: &[String],
) -> Operations {
    let mut map = Operations::default();
    for (group, resource, namespaced) in resources {
        if resource.contains('/') {
            continue;
        }
        let prefix = if group == CORE {
            join(&[resource_type, resource])
        } else {
            join(&[resource_type, group, resource])
        };
        for id in actions {
            let Some(rest) = id.strip_prefix(&prefix).and_then(|r| r.strip_prefix('/')) else {
                continue;
            };
            if rest.is_empty() {
                continue;
            }
            // `read`, or `exec/action` for `.../pods/exec/action`.
            map.groups
                .entry(group.clone())
                .or_default()
                .entry(resource.clone())
                .or_default()
                .insert(
                    rest.to_owned(),
                    DataAction {
                        id: id.clone(),
                        namespaced: *namespaced,
                    },
                );
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    const AKS: &str = "Microsoft.ContainerService/managedClusters";

    fn res(ns: &str, verb: &str, group: &str, resource: &str, sub: &str) -> Request {
        Request::Resource {
            namespace: ns.into(),
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
        }
    }

    fn ids(r: Result<Vec<Action>, ActionError>) -> Vec<String> {
        r.unwrap().into_iter().map(|a| a.id).collect()
    }

    fn operations() -> Operations {
        let t = AKS;
        let actions: Vec<String> = [
            "pods/read",
            "pods/write",
            "pods/delete",
            "pods/exec/action",
            "apps/deployments/read",
            "apps/deployments/write",
            "apps/deployments/delete",
            "persistentvolumes/read",
            "events.k8s.io/events/read",
            "events/read",
        ]
        .iter()
        .map(|a| format!("{t}/{a}"))
        .collect();
        let resources = [
            (CORE, "pods", true),
            (CORE, "pods/exec", true),
            (CORE, "persistentvolumes", false),
            (CORE, "events", true),
            ("apps", "deployments", true),
            ("events.k8s.io", "events", true),
        ]
        .map(|(g, r, n)| (g.to_owned(), r.to_owned(), n));
        operations_map(t, &resources, &actions)
    }

    fn opts<'a>(ops: &'a Operations, custom: bool, sub: bool) -> Options<'a> {
        Options {
            resource_type: AKS,
            operations: ops,
            custom_resources: custom,
            subresources: sub,
        }
    }

    #[test]
    fn verbs_groups_exec_and_non_resource_paths() {
        let none = Operations::default();
        let o = opts(&none, false, false);
        let one = |r: Request| ids(data_actions(&r, &o));
        assert_eq!(
            one(res("dev", "list", "", "pods", "")),
            [format!("{AKS}/pods/read")]
        );
        assert_eq!(
            one(res("dev", "patch", "apps", "deployments", "scale")),
            [format!("{AKS}/apps/deployments/write")]
        );
        for verb in ["create", "get"] {
            assert_eq!(
                one(res("dev", verb, "", "pods", "exec")),
                [format!("{AKS}/pods/exec/action")]
            );
        }
        assert_eq!(
            one(res("", "impersonate", "", "users", "")),
            [format!("{AKS}/users/impersonate/action")]
        );
        assert_eq!(
            one(res(
                "",
                "deletecollection",
                "rbac.authorization.k8s.io",
                "roles",
                ""
            )),
            [format!("{AKS}/rbac.authorization.k8s.io/roles/delete")]
        );
        assert_eq!(
            one(Request::NonResource {
                path: "/healthz/etcd".into(),
                verb: "get".into()
            }),
            [format!("{AKS}/healthz/etcd/read")]
        );
        assert!(matches!(
            data_actions(
                &Request::NonResource {
                    path: "/api/../../x".into(),
                    verb: "get".into()
                },
                &o
            ),
            Err(ActionError::UnsafePath(_))
        ));
        assert!(matches!(
            data_actions(&res("", "*", "", "pods", ""), &o),
            Err(ActionError::WildcardNeedsDiscovery { .. })
        ));
    }

    #[test]
    fn the_operations_map_keeps_groups_apart() {
        let ops = operations();
        assert_eq!(ops.groups[CORE]["events"].len(), 1);
        assert_eq!(ops.groups["events.k8s.io"]["events"].len(), 1);
        assert_eq!(
            ops.groups[CORE]["pods"]["exec/action"].id,
            format!("{AKS}/pods/exec/action")
        );
        assert!(!ops.groups[CORE].contains_key("pods/exec"));
    }

    #[test]
    fn wildcards_expand_through_the_operations_map() {
        let ops = operations();
        let o = opts(&ops, false, false);
        // Every verb on pods.
        assert_eq!(
            ids(data_actions(&res("dev", "*", "", "pods", ""), &o)).len(),
            4
        );
        // Every core resource a namespaced request can touch, read only.
        let namespaced = ids(data_actions(&res("dev", "get", "", "*", ""), &o));
        assert_eq!(
            namespaced,
            [format!("{AKS}/events/read"), format!("{AKS}/pods/read")]
        );
        // Cluster scope includes persistentvolumes.
        assert_eq!(ids(data_actions(&res("", "get", "", "*", ""), &o)).len(), 3);
        // events in every group.
        assert_eq!(
            ids(data_actions(&res("", "get", "*", "events", ""), &o)).len(),
            2
        );
        // Everything.
        assert_eq!(ids(data_actions(&res("", "*", "*", "*", ""), &o)).len(), 10);
        assert!(matches!(
            data_actions(&res("", "get", "nope.io", "*", ""), &o),
            Err(ActionError::NoOperations(_))
        ));
    }

    #[test]
    fn unknown_resources_are_custom_resources_when_allowed() {
        let ops = operations();
        let with = opts(&ops, true, false);
        let actions = data_actions(
            &res("dev", "get", "stable.example.com", "crontabs", ""),
            &with,
        )
        .unwrap();
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].id, format!("{AKS}/customresources/read"));
        let attrs = actions[0].attributes.as_ref().unwrap();
        assert_eq!(attrs[CUSTOM_RESOURCE_GROUP], "stable.example.com");
        assert_eq!(attrs[CUSTOM_RESOURCE_KIND], "crontabs");
        assert_eq!(
            ids(data_actions(
                &res("dev", "*", "stable.example.com", "crontabs", ""),
                &with
            ))
            .len(),
            3
        );
        // Known resources stay as they are; without the flag nothing changes.
        assert_eq!(
            ids(data_actions(
                &res("dev", "get", "apps", "deployments", ""),
                &with
            )),
            [format!("{AKS}/apps/deployments/read")]
        );
        let without = opts(&ops, false, false);
        assert_eq!(
            ids(data_actions(
                &res("dev", "get", "stable.example.com", "crontabs", ""),
                &without
            )),
            [format!("{AKS}/stable.example.com/crontabs/read")]
        );
    }

    #[test]
    fn allowed_subresources_become_an_attribute() {
        let ops = operations();
        let o = opts(&ops, false, true);
        let exec = data_actions(&res("dev", "create", "", "pods", "exec"), &o).unwrap();
        assert_eq!(exec[0].attributes.as_ref().unwrap()[SUBRESOURCE], "exec");
        let log = data_actions(&res("dev", "get", "", "pods", "log"), &o).unwrap();
        assert_eq!(log[0].id, format!("{AKS}/pods/read"));
        assert_eq!(log[0].attributes.as_ref().unwrap()[SUBRESOURCE], "log");
        let status = data_actions(&res("dev", "get", "", "pods", "status"), &o).unwrap();
        assert_eq!(status[0].attributes, None);
    }

    #[test]
    fn actions_serialise_as_arm_reads_them() {
        let a = Action::new("T/pods/read".into());
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"Id":"T/pods/read","IsDataAction":true,"Attributes":null}"#
        );
    }
}
