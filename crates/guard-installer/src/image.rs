//! Which container image the installer deploys.
//!
//! By default the image that `cargo xtask dist` builds and names
//! (docs/release.md): `ghcr.io/guard-rs/guard:VERSION`, VERSION being this
//! build's version without a `v`. `--private-registry` swaps the registry
//! part as in Go Guard; `--image` names any reference (a mirror, a digest).

/// The registry part of the default image.
pub const DEFAULT_REGISTRY: &str = "ghcr.io/guard-rs";

/// The image of this version of guard in `registry` (a trailing `/` is
/// ignored): `REGISTRY/guard:VERSION`.
pub fn in_registry(registry: &str) -> String {
    format!(
        "{}/guard:{}",
        registry.trim_end_matches('/'),
        env!("CARGO_PKG_VERSION")
    )
}

/// The image to deploy: `image` if given, else this version in `registry`,
/// else in [`DEFAULT_REGISTRY`].
pub fn reference(image: Option<&str>, registry: Option<&str>) -> String {
    match image {
        Some(image) => image.trim().to_owned(),
        None => in_registry(registry.unwrap_or(DEFAULT_REGISTRY)),
    }
}

/// The values Kubernetes accepts for `imagePullPolicy`.
pub const PULL_POLICIES: [&str; 3] = ["Always", "IfNotPresent", "Never"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_this_version_in_the_default_registry() {
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            reference(None, None),
            format!("ghcr.io/guard-rs/guard:{version}")
        );
        assert_eq!(
            reference(None, Some("my.registry/mirror/")),
            format!("my.registry/mirror/guard:{version}")
        );
        assert_eq!(
            reference(Some("localhost:5000/guard@sha256:00"), Some("ignored")),
            "localhost:5000/guard@sha256:00"
        );
    }
}
