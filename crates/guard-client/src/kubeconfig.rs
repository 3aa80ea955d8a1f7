//! `guard login`: adds (or updates) a user that runs `guard get token` as a
//! kubectl exec credential plugin, and a context that uses it, to a
//! kubeconfig — keeping everything else in the file as it was. With a
//! server (`guard login --server https://PROXY`) also the cluster entry:
//! its address and the CA that signed its certificate.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use kube_client::config::{
    AuthInfo, Cluster, Context, ExecConfig, ExecInteractiveMode, Kubeconfig, NamedAuthInfo,
    NamedCluster, NamedContext,
};

use secrecy::{ExposeSecret as _, SecretString};

use crate::ClientError;

/// What to add.
#[derive(Debug, Clone)]
pub struct LoginSpec {
    /// The kubeconfig cluster entry the context points at.
    pub cluster: String,
    /// The user entry's name.
    pub user: String,
    /// The context's name.
    pub context: String,
    /// The program kubectl runs (guard's absolute path).
    pub command: String,
    /// Its arguments (`get token -o PROVIDER ... --exec-credential`).
    pub args: Vec<String>,
    /// Environment variables kubectl sets for it (secrets go here, not in
    /// the arguments, which every user of the machine can see in `ps`).
    pub env: Vec<(String, SecretString)>,
    /// The cluster entry to write too (`--server`), or `None` to leave
    /// the clusters alone.
    pub server: Option<ClusterEntry>,
}

/// A cluster entry: where kubectl connects and whom it trusts there.
#[derive(Debug, Clone)]
pub struct ClusterEntry {
    /// `https://HOST[:PORT]`: the proxy (or the API server).
    pub server: String,
    /// PEM of the CA(s) its serving certificate chains to, embedded as
    /// `certificate-authority-data`.
    pub ca_pem: Vec<u8>,
}

/// What `apply` changed, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginChanges {
    /// `added`, `updated` or `unchanged`.
    pub user: &'static str,
    /// `added`, `updated` or `unchanged`.
    pub context: &'static str,
    /// With a [`ClusterEntry`]: `added`, `updated` or `unchanged`; else
    /// `None`.
    pub cluster: Option<&'static str>,
    /// Whether the cluster entry exists in the file.
    pub cluster_known: bool,
}

impl LoginChanges {
    /// Whether the file stays as it was.
    pub fn nothing_changed(&self) -> bool {
        self.user == "unchanged"
            && self.context == "unchanged"
            && self.cluster.is_none_or(|c| c == "unchanged")
    }
}

/// Checks a server address (`guard login --server`): `https://` with a
/// host, no credentials, query or fragment. Returns the host (the default
/// name of the cluster entry) and the URL as kubectl is to hold it.
/// The refusal repeats the address without its credentials, query and
/// fragment (a password or token may be there), or not at all when it is
/// not a URL.
pub fn parse_server(url: &str) -> Result<(String, String), ClientError> {
    let parsed = url::Url::parse(url);
    let shown = match &parsed {
        Ok(u) => {
            let mut u = u.clone();
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            format!(" {u}")
        }
        Err(_) => String::new(),
    };
    let bad = || {
        ClientError::Invalid(format!(
            "--server{shown}: expected https://HOST[:PORT][/PATH], without credentials, query or fragment"
        ))
    };
    let parsed = parsed.map_err(|_| bad())?;
    if parsed.scheme() != "https"
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(bad());
    }
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(bad)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok((host, url.trim_end_matches('/').to_owned()))
}

/// Adds or replaces the cluster `name`: `entry`'s server and CA; a CA file
/// path or `insecure-skip-tls-verify` it had is dropped, other settings
/// (proxy-url, extensions, ...) are kept.
fn apply_cluster(config: &mut Kubeconfig, name: &str, entry: &ClusterEntry) -> &'static str {
    let ca = base64::engine::general_purpose::STANDARD.encode(&entry.ca_pem);
    let set = |cluster: &mut Cluster| {
        cluster.server = Some(entry.server.clone());
        cluster.certificate_authority = None;
        cluster.certificate_authority_data = Some(ca.clone());
        cluster.insecure_skip_tls_verify = None;
    };
    match config.clusters.iter_mut().find(|c| c.name == name) {
        Some(existing) => {
            let mut cluster = existing.cluster.clone().unwrap_or_default();
            set(&mut cluster);
            if same(&existing.cluster, &Some(cluster.clone())) {
                "unchanged"
            } else {
                existing.cluster = Some(cluster);
                "updated"
            }
        }
        None => {
            let mut cluster = Cluster::default();
            set(&mut cluster);
            config.clusters.push(NamedCluster {
                name: name.to_owned(),
                cluster: Some(cluster),
                ..NamedCluster::default()
            });
            "added"
        }
    }
}

/// Adds or replaces the user and context of `spec` in `config`, and the
/// cluster when `spec` has one.
pub fn apply(config: &mut Kubeconfig, spec: &LoginSpec) -> LoginChanges {
    let cluster = spec
        .server
        .as_ref()
        .map(|entry| apply_cluster(config, &spec.cluster, entry));
    let auth = AuthInfo {
        exec: Some(ExecConfig {
            api_version: Some("client.authentication.k8s.io/v1".into()),
            command: Some(spec.command.clone()),
            args: Some(spec.args.clone()),
            env: (!spec.env.is_empty()).then(|| {
                spec.env
                    .iter()
                    .map(|(name, value)| {
                        [
                            ("name".to_owned(), name.clone()),
                            ("value".to_owned(), value.expose_secret().to_owned()),
                        ]
                        .into_iter()
                        .collect()
                    })
                    .collect()
            }),
            drop_env: None,
            install_hint: Some(
                "guard is not installed: see https://github.com/guard-rs/guard".into(),
            ),
            interactive_mode: Some(ExecInteractiveMode::IfAvailable),
            provide_cluster_info: false,
            cluster: None,
            other: Default::default(),
        }),
        ..AuthInfo::default()
    };
    let user = match config.auth_infos.iter_mut().find(|u| u.name == spec.user) {
        Some(existing) if same(&existing.auth_info, &Some(auth.clone())) => "unchanged",
        Some(existing) => {
            existing.auth_info = Some(auth);
            "updated"
        }
        None => {
            config.auth_infos.push(NamedAuthInfo {
                name: spec.user.clone(),
                auth_info: Some(auth),
                ..NamedAuthInfo::default()
            });
            "added"
        }
    };
    let context = Context {
        cluster: spec.cluster.clone(),
        user: Some(spec.user.clone()),
        ..Context::default()
    };
    let context_change = match config.contexts.iter_mut().find(|c| c.name == spec.context) {
        Some(existing) if same(&existing.context, &Some(context.clone())) => "unchanged",
        Some(existing) => {
            existing.context = Some(context);
            "updated"
        }
        None => {
            config.contexts.push(NamedContext {
                name: spec.context.clone(),
                context: Some(context),
                ..NamedContext::default()
            });
            "added"
        }
    };
    LoginChanges {
        user,
        context: context_change,
        cluster,
        cluster_known: config.clusters.iter().any(|c| c.name == spec.cluster),
    }
}

/// Whether two kubeconfig entries hold the same (kube-client's types have
/// no `PartialEq`; their serialized forms are compared).
fn same<T: serde::Serialize>(a: &T, b: &T) -> bool {
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The kubeconfig `guard login` changes when none is named: the first file
/// of `$KUBECONFIG`, else `~/.kube/config`.
pub fn default_path() -> Result<PathBuf, ClientError> {
    match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(list) => std::env::split_paths(&list)
            .next()
            .ok_or_else(|| ClientError::Invalid("KUBECONFIG is empty".into())),
        None => dirs::home_dir()
            .map(|home| home.join(".kube/config"))
            .ok_or_else(|| {
                ClientError::Invalid("cannot find the home directory; pass --kubeconfig".into())
            }),
    }
}

/// The most symbolic links followed from the kubeconfig path (Linux's own
/// limit).
const MAX_LINKS: usize = 40;

/// The file `path` names once symbolic links are followed, so that the
/// kubeconfig is written where the link points and the link stays a link
/// (kubectl does the same). A link whose target does not exist yet resolves
/// to that target.
fn follow_links(path: &Path) -> Result<PathBuf, ClientError> {
    let mut current = path.to_owned();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&current).map_err(|source| ClientError::File {
                    action: "cannot follow the link",
                    path: current.clone(),
                    source,
                })?;
                current = match current.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(ClientError::File {
        action: "cannot follow the link",
        path: path.to_owned(),
        source: std::io::Error::other(format!("more than {MAX_LINKS} symbolic links")),
    })
}

/// Reads `path` (an empty config when it does not exist), applies `spec`,
/// and writes the file back (mode 0600, replaced atomically) unless
/// nothing changed. When `path` is a symbolic link, the file it points to
/// is updated and the link kept.
pub fn update_file(path: &Path, spec: &LoginSpec) -> Result<LoginChanges, ClientError> {
    let path = &follow_links(path)?;
    let io = |action: &'static str| {
        move |source: std::io::Error| ClientError::File {
            action,
            path: path.to_owned(),
            source,
        }
    };
    let mut config = match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => serde_saphyr::from_str::<Kubeconfig>(&text)
            .map_err(|e| ClientError::NotKubeconfig {
                path: path.to_owned(),
                position: e.location().map(|l| (l.line(), l.column())),
            })?,
        Ok(_) => Kubeconfig::default(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Kubeconfig::default(),
        Err(e) => return Err(io("cannot read")(e)),
    };
    config.api_version.get_or_insert_with(|| "v1".into());
    config.kind.get_or_insert_with(|| "Config".into());
    let changes = apply(&mut config, spec);
    if changes.nothing_changed() {
        return Ok(changes);
    }
    let yaml =
        guard_api::yaml::to_sorted_yaml(&config).map_err(|e| ClientError::Output(Box::new(e)))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io("cannot create the directory of"))?;
    }
    let tmp = path.with_extension("guard-tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("cannot write"))?;
        f.write_all(yaml.as_bytes()).map_err(io("cannot write"))?;
        f.sync_all().map_err(io("cannot write"))?;
    }
    std::fs::rename(&tmp, path).map_err(io("cannot write"))?;
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(args: &[&str]) -> LoginSpec {
        LoginSpec {
            cluster: "prod".into(),
            user: "prod-oidc".into(),
            context: "prod-oidc".into(),
            command: "/usr/local/bin/guard".into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: vec![(
                "GUARD_OIDC_CLIENT_SECRET".into(),
                SecretString::from("shh".to_owned()),
            )],
            server: None,
        }
    }

    #[test]
    fn adds_then_updates_and_keeps_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kube/config");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://10.0.0.1:6443\nusers:\n- name: other\n  user:\n    token: keep-me\n",
        )
        .unwrap();
        let first = update_file(&path, &spec(&["get", "token"])).unwrap();
        assert_eq!(
            (first.user, first.context, first.cluster_known),
            ("added", "added", true)
        );
        let same = update_file(&path, &spec(&["get", "token"])).unwrap();
        assert_eq!((same.user, same.context), ("unchanged", "unchanged"));
        let again = update_file(&path, &spec(&["get", "token", "-o", "oidc"])).unwrap();
        // Only the user's arguments changed; the context is the same.
        assert_eq!((again.user, again.context), ("updated", "unchanged"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("keep-me") && text.contains("https://10.0.0.1:6443"),
            "{text}"
        );
        assert_eq!(text.matches("name: prod-oidc").count(), 2, "{text}");
        assert!(text.contains("- oidc"), "{text}");
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_server_adds_or_updates_the_cluster_and_keeps_its_other_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority: /old/ca.crt\n    proxy-url: http://corp:3128\n",
        )
        .unwrap();
        let entry = |server: &str| LoginSpec {
            server: Some(ClusterEntry {
                server: server.into(),
                ca_pem: b"PEM".to_vec(),
            }),
            ..spec(&[])
        };
        let first = update_file(&path, &entry("https://proxy.example.com")).unwrap();
        assert_eq!(first.cluster, Some("updated"));
        let again = update_file(&path, &entry("https://proxy.example.com")).unwrap();
        assert!(again.nothing_changed(), "{again:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("server: https://proxy.example.com"), "{text}");
        assert!(text.contains("certificate-authority-data: UEVN"), "{text}");
        assert!(!text.contains("/old/ca.crt"), "{text}");
        assert!(text.contains("proxy-url: http://corp:3128"), "{text}");
        let other = update_file(
            &path,
            &LoginSpec {
                cluster: "staging".into(),
                ..entry("https://staging.example.com")
            },
        )
        .unwrap();
        assert_eq!((other.cluster, other.cluster_known), (Some("added"), true));
    }

    #[test]
    fn servers_are_https_urls_with_a_host() {
        assert_eq!(
            parse_server("https://proxy.example.com:8443/").unwrap(),
            (
                "proxy.example.com".into(),
                "https://proxy.example.com:8443".into()
            )
        );
        assert_eq!(parse_server("https://[::1]:8443").unwrap().0, "::1");
        for bad in [
            "http://proxy.example.com",
            "proxy.example.com",
            "https://u:p@proxy.example.com",
            "https://proxy.example.com/?x=1",
        ] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_file_that_is_no_kubeconfig_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "clusters: 42\n").unwrap();
        let e = update_file(&path, &spec(&[])).unwrap_err();
        assert!(matches!(e, ClientError::NotKubeconfig { .. }), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "clusters: 42\n");
    }

    #[test]
    fn links_are_followed_relative_chained_and_dangling() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real/config");
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("real/config", dir.path().join("one")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("one"), dir.path().join("two")).unwrap();
        assert_eq!(
            follow_links(&dir.path().join("two")).unwrap(),
            dir.path().join("real/config")
        );
        update_file(&dir.path().join("two"), &spec(&[])).unwrap();
        assert!(real.is_file());
        assert!(
            std::fs::symlink_metadata(dir.path().join("two"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        std::os::unix::fs::symlink("loop", dir.path().join("loop")).unwrap();
        assert!(follow_links(&dir.path().join("loop")).is_err());
    }
}
