//! The container image as files: a root filesystem in one tar layer and an
//! OCI image layout (oci-layout, index.json, blobs/sha256/...) around it.
//!
//! Everything here is a pure function of its inputs, so the same binary,
//! CA bundle and build information always give the same digests: entries
//! sorted by path, one fixed mtime (the commit's time), uid/gid 0 (the home
//! directory 65532), no user or group names, gzip without a name or time,
//! JSON with sorted keys.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use oci_spec::image::{
    ConfigBuilder, Descriptor, DescriptorBuilder, HistoryBuilder, ImageConfigurationBuilder,
    ImageIndexBuilder, ImageManifestBuilder, MediaType, PlatformBuilder, RootFsBuilder,
};
use sha2::{Digest as _, Sha256};

/// The user guard runs as in the image (the distroless `nonroot` convention).
pub const USER_ID: u64 = 65532;
/// Where the binary lives in the image (the entrypoint).
pub const BINARY_PATH: &str = "usr/local/bin/guard";
/// Where the CA bundle lives: the path OpenSSL, Go and rustls-native-certs
/// probe first on Debian-like systems, and the path the installer's
/// `--proxy-cert` init container regenerates.
pub const CA_BUNDLE_PATH: &str = "etc/ssl/certs/ca-certificates.crt";

/// One entry of the root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path without a leading `/`; directories end with `/`.
    pub path: String,
    pub mode: u32,
    pub uid: u64,
    /// Contents of a regular file; `None` for a directory.
    pub contents: Option<Vec<u8>>,
}

impl Entry {
    fn dir(path: &str, mode: u32, uid: u64) -> Self {
        Entry {
            path: path.to_owned(),
            mode,
            uid,
            contents: None,
        }
    }

    fn file(path: &str, mode: u32, contents: Vec<u8>) -> Self {
        Entry {
            path: path.to_owned(),
            mode,
            uid: 0,
            contents: Some(contents),
        }
    }
}

/// The image's whole root filesystem: the binary, the CA bundle, passwd and
/// group with `root` and `nonroot` (65532), and nonroot's home directory.
/// Nothing else: no shell, no libc, no package manager.
pub fn rootfs(binary: Vec<u8>, ca_bundle: Vec<u8>) -> Vec<Entry> {
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{USER_ID}:{USER_ID}:nonroot:/home/nonroot:/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nnonroot:x:{USER_ID}:\n");
    let mut entries = vec![
        Entry::dir("etc/", 0o755, 0),
        Entry::file("etc/group", 0o644, group.into_bytes()),
        Entry::file("etc/passwd", 0o644, passwd.into_bytes()),
        Entry::dir("etc/ssl/", 0o755, 0),
        Entry::dir("etc/ssl/certs/", 0o755, 0),
        Entry::file(CA_BUNDLE_PATH, 0o644, ca_bundle),
        Entry::dir("home/", 0o755, 0),
        Entry::dir("home/nonroot/", 0o700, USER_ID),
        Entry::dir("usr/", 0o755, 0),
        Entry::dir("usr/local/", 0o755, 0),
        Entry::dir("usr/local/bin/", 0o755, 0),
        Entry::file(BINARY_PATH, 0o755, binary),
    ];
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries
}

/// The CA bundle for outbound TLS as PEM: the Mozilla root program's
/// server-authentication roots, as the `webpki-root-certs` crate ships them
/// (its version is pinned by Cargo.lock, so the bundle is a function of the
/// commit, unlike the build host's /etc/ssl/certs).
pub fn ca_bundle() -> Vec<u8> {
    use base64::Engine as _;
    let mut pem = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

/// The entries as an uncompressed tar (ustar), in the given order, every
/// entry with modification time `mtime`.
pub fn layer_tar(entries: &[Entry], mtime: u64) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_ustar();
        header.set_path(&entry.path)?;
        header.set_mode(entry.mode);
        header.set_uid(entry.uid);
        header.set_gid(entry.uid);
        header.set_mtime(mtime);
        match &entry.contents {
            Some(data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(data.len() as u64);
                header.set_cksum();
                tar.append(&header, data.as_slice())?;
            }
            None => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                header.set_cksum();
                tar.append(&header, std::io::empty())?;
            }
        }
    }
    Ok(tar.into_inner()?)
}

/// gzip at the default level, with no file name and time 0 in the header.
pub fn gzip(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(data)?;
    Ok(gz.finish()?)
}

/// `sha256:HEX` of `data`.
pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(data)))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the image says about itself.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    /// `org.opencontainers.image.version` and the tag, e.g. `0.1.0`.
    pub version: String,
    /// The git commit, or `unknown`.
    pub revision: String,
    /// RFC 3339 build time (the commit's), if known.
    pub created: Option<String>,
    /// Where the source lives.
    pub source: String,
    /// SPDX license expression.
    pub licenses: String,
    /// The full reference the image is published as (registry/guard:version).
    pub reference: String,
}

impl ImageInfo {
    /// The `org.opencontainers.image.*` labels.
    pub fn labels(&self) -> HashMap<String, String> {
        let mut labels = HashMap::from([
            (
                "org.opencontainers.image.title".to_owned(),
                "guard".to_owned(),
            ),
            (
                "org.opencontainers.image.version".to_owned(),
                self.version.clone(),
            ),
            (
                "org.opencontainers.image.revision".to_owned(),
                self.revision.clone(),
            ),
            (
                "org.opencontainers.image.source".to_owned(),
                self.source.clone(),
            ),
            (
                "org.opencontainers.image.licenses".to_owned(),
                self.licenses.clone(),
            ),
        ]);
        if let Some(created) = &self.created {
            labels.insert(
                "org.opencontainers.image.created".to_owned(),
                created.clone(),
            );
        }
        labels
    }
}

/// The digests of what [`write_layout`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub manifest: String,
    pub config: String,
    pub layer: String,
}

/// Writes an OCI image layout into `dir` (which must not exist) holding one
/// image for linux/amd64 made of `layer_tar`, tagged `info.version`.
pub fn write_layout(dir: &Path, info: &ImageInfo, layer_tar: &[u8]) -> anyhow::Result<Written> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs)
        .with_context(|| format!("cannot create {}", blobs.display()))?;
    let put = |data: &[u8]| -> anyhow::Result<(String, u64)> {
        let digest = digest(data);
        let file = blobs.join(digest.trim_start_matches("sha256:"));
        std::fs::write(&file, data).with_context(|| format!("cannot write {}", file.display()))?;
        Ok((digest, data.len() as u64))
    };

    let layer_gz = gzip(layer_tar)?;
    let (layer_digest, layer_size) = put(&layer_gz)?;
    let diff_id = digest(layer_tar);

    let mut config = ConfigBuilder::default()
        .user(format!("{USER_ID}:{USER_ID}"))
        .env(vec!["PATH=/usr/local/bin".to_owned()])
        .entrypoint(vec![format!("/{BINARY_PATH}")])
        .working_dir("/".to_owned())
        .labels(info.labels())
        .build()?;
    config.set_cmd(None);
    let mut history = HistoryBuilder::default()
        .created_by("cargo xtask dist".to_owned())
        .comment(format!(
            "guard {} (static binary), CA bundle, passwd and group",
            info.version
        ));
    let mut image = ImageConfigurationBuilder::default()
        .architecture(oci_spec::image::Arch::Amd64)
        .os(oci_spec::image::Os::Linux)
        .config(config)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers".to_owned())
                .diff_ids(vec![diff_id])
                .build()?,
        );
    if let Some(created) = &info.created {
        history = history.created(created.clone());
        image = image.created(created.clone());
    }
    let image = image.history(vec![history.build()?]).build()?;
    let (config_digest, config_size) = put(&canonical_json(&image)?)?;

    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            MediaType::ImageConfig,
            &config_digest,
            config_size,
        )?)
        .layers(vec![descriptor(
            MediaType::ImageLayerGzip,
            &layer_digest,
            layer_size,
        )?])
        .build()?;
    let (manifest_digest, manifest_size) = put(&canonical_json(&manifest)?)?;

    let mut manifest_descriptor =
        descriptor(MediaType::ImageManifest, &manifest_digest, manifest_size)?;
    manifest_descriptor.set_platform(Some(
        PlatformBuilder::default()
            .architecture(oci_spec::image::Arch::Amd64)
            .os(oci_spec::image::Os::Linux)
            .build()?,
    ));
    manifest_descriptor.set_annotations(Some(HashMap::from([
        (
            "org.opencontainers.image.ref.name".to_owned(),
            info.version.clone(),
        ),
        // The name `ctr images import` gives the image.
        (
            "io.containerd.image.name".to_owned(),
            info.reference.clone(),
        ),
    ])));
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![manifest_descriptor])
        .build()?;
    std::fs::write(dir.join("index.json"), canonical_json(&index)?)?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    Ok(Written {
        manifest: manifest_digest,
        config: config_digest,
        layer: layer_digest,
    })
}

fn descriptor(media_type: MediaType, digest: &str, size: u64) -> anyhow::Result<Descriptor> {
    Ok(DescriptorBuilder::default()
        .media_type(media_type)
        .digest(digest.parse::<oci_spec::image::Digest>()?)
        .size(size)
        .build()?)
}

/// JSON with every object's keys sorted (oci-spec keeps labels and
/// annotations in hash maps, whose order changes from run to run).
pub fn canonical_json<T: serde::Serialize>(value: &T) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec(&sorted(serde_json::to_value(value)?))?)
}

/// `value` with every object's keys in sorted order.
pub fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ImageInfo {
        ImageInfo {
            version: "1.2.3".into(),
            revision: "0123456789abcdef0123456789abcdef01234567".into(),
            created: Some("2024-05-06T07:08:09Z".into()),
            source: "https://example.invalid/guard".into(),
            licenses: "Apache-2.0".into(),
            reference: "registry.test/guard:1.2.3".into(),
        }
    }

    #[test]
    fn the_layer_is_sorted_root_owned_and_stamped_with_the_given_time() -> anyhow::Result<()> {
        let tar = layer_tar(
            &rootfs(b"binary".to_vec(), b"bundle".to_vec()),
            1_700_000_000,
        )?;
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut paths = Vec::new();
        for entry in archive.entries()? {
            let entry = entry?;
            let header = entry.header();
            let path = entry.path()?.to_string_lossy().into_owned();
            assert_eq!(header.mtime()?, 1_700_000_000, "{path}");
            let owner = if path == "home/nonroot/" { USER_ID } else { 0 };
            assert_eq!((header.uid()?, header.gid()?), (owner, owner), "{path}");
            assert_eq!(header.username()?, Some(""), "{path}");
            paths.push(path);
        }
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted);
        assert!(paths.contains(&BINARY_PATH.to_owned()));
        assert!(!paths.iter().any(|p| p.contains("bin/sh")));
        Ok(())
    }

    #[test]
    fn the_same_inputs_give_the_same_digests() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("xtask-image-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tar = layer_tar(&rootfs(b"binary".to_vec(), ca_bundle()), 1_700_000_000)?;
        let first = write_layout(&dir.join("a"), &info(), &tar)?;
        let second = write_layout(&dir.join("b"), &info(), &tar)?;
        let index = |d: &str| std::fs::read(dir.join(d).join("index.json"));
        assert_eq!(first, second);
        assert_eq!(index("a")?, index("b")?);
        // A different revision is a different image.
        let other = ImageInfo {
            revision: "f".repeat(40),
            ..info()
        };
        assert_ne!(
            write_layout(&dir.join("c"), &other, &tar)?.manifest,
            first.manifest
        );
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    /// The layout as the tools read it: skopeo (config, digest, a copy to a
    /// docker-archive) and umoci (the unpacked root filesystem). Needs both
    /// (.ci/install-test-deps.sh); the full image is tested by `dist --check`.
    #[test]
    fn skopeo_and_umoci_read_the_layout_back() -> anyhow::Result<()> {
        use std::process::Command;
        // The peer rule of crates/guard/tests/common/require.rs: skipped
        // with the reason under plain cargo test, a failure in CI.
        let here = |tool: &str| {
            Command::new(tool)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !(here("skopeo") && here("umoci")) {
            let required = std::env::var_os("GUARD_TEST_REQUIRE_PEERS")
                .is_some_and(|v| !v.is_empty() && v != "0");
            anyhow::ensure!(
                !required,
                "skopeo or umoci is missing: run .ci/install-test-deps.sh (GUARD_TEST_REQUIRE_PEERS is set, so a missing peer is a failure)"
            );
            eprintln!(
                "SKIPPED skopeo_and_umoci_read_the_layout_back: skopeo or umoci is missing (run .ci/install-test-deps.sh)"
            );
            return Ok(());
        }
        let dir = std::env::temp_dir().join(format!("xtask-tools-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let entries = rootfs(b"#!not really a binary\n".to_vec(), ca_bundle());
        let written = write_layout(
            &dir.join("oci"),
            &info(),
            &layer_tar(&entries, 1_700_000_000)?,
        )?;
        let reference = format!("oci:{}:1.2.3", dir.join("oci").display());
        let run = |cmd: &mut Command| -> anyhow::Result<String> {
            let out = cmd.output()?;
            anyhow::ensure!(
                out.status.success(),
                "{cmd:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Ok(String::from_utf8(out.stdout)?)
        };

        let config: serde_json::Value = serde_json::from_str(&run(
            Command::new("skopeo").args(["inspect", "--config", &reference])
        )?)?;
        assert_eq!(
            config["config"]["Entrypoint"],
            serde_json::json!(["/usr/local/bin/guard"])
        );
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(
            config["config"]["Labels"]["org.opencontainers.image.revision"],
            info().revision
        );
        assert_eq!(config["created"], "2024-05-06T07:08:09Z");
        let digest =
            run(Command::new("skopeo").args(["inspect", "--format", "{{.Digest}}", &reference]))?;
        assert_eq!(digest.trim(), written.manifest);

        let archive = dir.join("image.tar");
        run(Command::new("skopeo").args([
            "copy".to_owned(),
            "--quiet".to_owned(),
            reference.clone(),
            format!("docker-archive:{}:{}", archive.display(), info().reference),
        ]))?;
        let inspect: serde_json::Value =
            serde_json::from_str(&run(Command::new("skopeo").args([
                "inspect".to_owned(),
                format!("docker-archive:{}", archive.display()),
            ]))?)?;
        assert_eq!(
            inspect["Labels"]["org.opencontainers.image.version"],
            "1.2.3"
        );
        let mut names = None;
        for entry in tar::Archive::new(std::fs::File::open(&archive)?).entries()? {
            let entry = entry?;
            if entry.path()?.as_os_str() == "manifest.json" {
                let manifest: serde_json::Value = serde_json::from_reader(entry)?;
                names = Some(manifest[0]["RepoTags"].clone());
            }
        }
        assert_eq!(names, Some(serde_json::json!([info().reference])));

        let bundle = dir.join("bundle");
        let mut umoci = Command::new("umoci");
        umoci.arg("unpack");
        if run(Command::new("id").arg("-u"))?.trim() != "0" {
            umoci.arg("--rootless");
        }
        run(umoci
            .arg("--image")
            .arg(format!("{}:1.2.3", dir.join("oci").display()))
            .arg(&bundle))?;
        let passwd = std::fs::read_to_string(bundle.join("rootfs/etc/passwd"))?;
        assert!(passwd.contains("nonroot:x:65532:65532:"), "{passwd}");
        assert!(bundle.join("rootfs").join(BINARY_PATH).is_file());
        assert!(!bundle.join("rootfs/bin").exists());
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn the_ca_bundle_holds_every_webpki_root_as_pem() {
        let pem = String::from_utf8(ca_bundle()).unwrap_or_default();
        assert_eq!(
            pem.matches("-----BEGIN CERTIFICATE-----").count(),
            webpki_root_certs::TLS_SERVER_ROOT_CERTS.len()
        );
        assert!(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() > 100);
        assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() -> anyhow::Result<()> {
        let value = serde_json::json!({"b": {"z": 1, "a": [{"y": 2, "x": 3}]}, "a": 0});
        assert_eq!(
            String::from_utf8(canonical_json(&value)?)?,
            r#"{"a":0,"b":{"a":[{"x":3,"y":2}],"z":1}}"#
        );
        Ok(())
    }
}
