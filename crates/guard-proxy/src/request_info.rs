//! What a request asks the API server for, read from its method, path and
//! query the way kube-apiserver reads them: the verb for the audit line and
//! metrics, and whether it is long-running (no response deadline).

use hyper::{HeaderMap, Method, Uri};

/// The parts of a request that decide its handling and its audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// The Kubernetes verb (`get`, `list`, `watch`, `create`, `update`,
    /// `patch`, `delete`, `deletecollection`, `proxy`), or for paths outside
    /// the resource API the lower-cased method (`get`, `post`, ...).
    pub verb: &'static str,
    /// The subresource (`exec`, `log`, `status`...), if any.
    pub subresource: Option<String>,
    /// No response deadline: watches, proxy, and the attach, exec, proxy,
    /// log and portforward subresources (kube-apiserver's own list).
    pub long_running: bool,
}

impl RequestInfo {
    /// Reads `method` and `uri`.
    pub fn parse(method: &Method, uri: &Uri) -> Self {
        let parts: Vec<&str> = uri
            .path()
            .trim_matches('/')
            .split('/')
            .filter(|p| !p.is_empty())
            .collect();
        let rest = match parts.as_slice() {
            ["api", _version, rest @ ..] => Some(rest),
            ["apis", _group, _version, rest @ ..] => Some(rest),
            _ => None,
        };
        let Some(mut rest) = rest.filter(|r| !r.is_empty()) else {
            return RequestInfo {
                verb: method_verb(method),
                subresource: None,
                long_running: false,
            };
        };
        // The deprecated /watch/ and /proxy/ path prefixes.
        let mut verb_from_path = None;
        if let [first @ ("watch" | "proxy"), tail @ ..] = rest {
            verb_from_path = Some(if *first == "watch" { "watch" } else { "proxy" });
            rest = tail;
        }
        // namespaces/NS/RESOURCE/NAME/SUB, or RESOURCE/NAME/SUB.
        if let ["namespaces", _ns, tail @ ..] = rest
            && !tail.is_empty()
        {
            rest = tail;
        }
        let has_name = rest.len() >= 2;
        let subresource = rest.get(2).map(|s| (*s).to_owned());
        let watch_query = uri.query().is_some_and(|q| {
            q.split('&')
                .any(|kv| matches!(kv, "watch=true" | "watch=1" | "watch=True"))
        });
        let verb = match verb_from_path {
            Some(v) => v,
            None => match *method {
                Method::GET | Method::HEAD if watch_query => "watch",
                Method::GET | Method::HEAD if has_name => "get",
                Method::GET | Method::HEAD => "list",
                Method::POST => "create",
                Method::PUT => "update",
                Method::PATCH => "patch",
                Method::DELETE if has_name => "delete",
                Method::DELETE => "deletecollection",
                _ => method_verb(method),
            },
        };
        let long_running = matches!(verb, "watch" | "proxy")
            || matches!(
                subresource.as_deref(),
                Some("attach" | "exec" | "proxy" | "log" | "portforward")
            );
        RequestInfo {
            verb,
            subresource,
            long_running,
        }
    }
}

fn method_verb(method: &Method) -> &'static str {
    match *method {
        Method::GET => "get",
        Method::HEAD => "head",
        Method::POST => "post",
        Method::PUT => "put",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        Method::OPTIONS => "options",
        _ => "other",
    }
}

/// The protocol a request asks to switch to (`Connection: Upgrade` with an
/// `Upgrade` header), lower-cased, e.g. `websocket` or `spdy/3.1`.
pub fn upgrade_protocol(headers: &HeaderMap) -> Option<String> {
    let connection_upgrade = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if !connection_upgrade {
        return None;
    }
    let protocol = headers.get(hyper::header::UPGRADE)?.to_str().ok()?.trim();
    (!protocol.is_empty()).then(|| protocol.to_ascii_lowercase())
}

/// A short, fixed label for an upgrade protocol: `websocket`, `spdy` or `other`.
pub fn upgrade_label(protocol: &str) -> &'static str {
    if protocol.starts_with("websocket") {
        "websocket"
    } else if protocol.starts_with("spdy") {
        "spdy"
    } else {
        "other"
    }
}

/// Whether `path`, percent-decoded as the API server reads it, has a `.`
/// or `..` segment (`..`, `%2e%2e`, `.%2E`, `..%2f`...). Go's router
/// resolves such segments, so `/api/v1/namespaces/a/../b` would reach
/// another object than the one the path shows; no Kubernetes name can be
/// `.` or `..` (nor hold a `/`), so no legitimate request has one.
pub fn has_dot_segment(path: &str) -> bool {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .split('/')
        .any(|segment| segment == "." || segment == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: Method, uri: &str) -> RequestInfo {
        RequestInfo::parse(&method, &uri.parse().unwrap())
    }

    #[test]
    fn resource_verbs_follow_kube_apiserver() {
        assert_eq!(
            info(Method::GET, "/api/v1/namespaces/default/pods").verb,
            "list"
        );
        assert_eq!(
            info(Method::GET, "/api/v1/namespaces/default/pods/p1").verb,
            "get"
        );
        assert_eq!(info(Method::GET, "/api/v1/namespaces/default").verb, "get");
        assert_eq!(info(Method::GET, "/api/v1/nodes").verb, "list");
        assert_eq!(
            info(Method::POST, "/apis/apps/v1/namespaces/x/deployments").verb,
            "create"
        );
        assert_eq!(
            info(Method::DELETE, "/api/v1/namespaces/x/pods").verb,
            "deletecollection"
        );
        assert_eq!(
            info(Method::DELETE, "/api/v1/namespaces/x/pods/p").verb,
            "delete"
        );
        assert_eq!(info(Method::PATCH, "/api/v1/nodes/n1/status").verb, "patch");
        assert_eq!(info(Method::GET, "/healthz").verb, "get");
        assert_eq!(info(Method::GET, "/api").verb, "get");
    }

    #[test]
    fn watches_logs_exec_and_proxy_are_long_running() {
        let w = info(
            Method::GET,
            "/api/v1/namespaces/default/pods?watch=true&resourceVersion=1",
        );
        assert_eq!((w.verb, w.long_running), ("watch", true));
        let w = info(Method::GET, "/api/v1/watch/namespaces/default/pods");
        assert_eq!((w.verb, w.long_running), ("watch", true));
        for sub in ["exec", "attach", "log", "portforward", "proxy"] {
            let r = info(
                Method::GET,
                &format!("/api/v1/namespaces/d/pods/p/{sub}?x=1"),
            );
            assert!(r.long_running, "{sub}");
            assert_eq!(r.subresource.as_deref(), Some(sub));
        }
        assert!(info(Method::GET, "/api/v1/proxy/nodes/n1/x").long_running);
        assert!(!info(Method::GET, "/api/v1/namespaces/d/pods/p/status").long_running);
        assert!(!info(Method::GET, "/api/v1/namespaces/d/pods?watch=false").long_running);
        assert!(!info(Method::GET, "/watch").long_running);
    }

    #[test]
    fn upgrades_need_both_headers() {
        let mut h = HeaderMap::new();
        h.insert("upgrade", "websocket".parse().unwrap());
        assert_eq!(upgrade_protocol(&h), None);
        h.insert("connection", "keep-alive, Upgrade".parse().unwrap());
        assert_eq!(upgrade_protocol(&h).as_deref(), Some("websocket"));
        h.insert("upgrade", "SPDY/3.1".parse().unwrap());
        assert_eq!(upgrade_label(&upgrade_protocol(&h).unwrap()), "spdy");
    }

    #[test]
    fn dot_segments_are_found_in_every_spelling() {
        for path in [
            "/api/v1/namespaces/a/../b/pods",
            "/api/v1/namespaces/a/%2e%2e/b",
            "/api/v1/namespaces/a/%2E%2e",
            "/api/v1/namespaces/a/.%2e/b",
            "/api/./v1",
            "/api/v1/namespaces/a/..%2fb",
            "/api/v1/namespaces/a/%2e%2e%2F%2e%2e/secrets",
            "/api/v1/%2E/x",
            "/..",
        ] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in [
            "/api/v1/namespaces/default/pods",
            "/api/v1/namespaces/a/pods/p...x",
            "/api/v1/namespaces/a/pods/...",
            "/api/v1/namespaces/a/configmaps/%252e%252e",
            "/",
            "",
        ] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }
}
