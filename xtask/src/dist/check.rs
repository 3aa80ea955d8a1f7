//! `cargo xtask dist --check`: proof that the artefacts are what docs/release.md
//! says, read back with the tools a user has (skopeo, umoci, ldd) and run
//! from the image's own root filesystem in an isolated root:
//!
//! 1. the binary has no dynamic dependencies and no build paths;
//! 2. the image's config (entrypoint, user, labels) as `skopeo inspect`
//!    reads it, the docker-archive's name and config, the SBOM;
//! 3. `umoci unpack` of the image: exactly the expected files; then, in a
//!    new mount and PID namespace chrooted into it as user 65532,
//!    `guard version` (which must agree with the labels), `guard run` with a
//!    token file answering TokenReviews over mTLS, and a GitLab review over
//!    HTTPS to `gitlab.test` (a stand-in on 127.0.0.1), resolved from the
//!    root's /etc/hosts by the binary's own (musl) resolver and trusted only
//!    once its CA is in the image's CA bundle;
//! 4. the installer's default image is the archive's name;
//! 5. a second build from a fresh clone of the same commit (another path)
//!    gives the same binary, image digest, archive and SBOM.

use std::convert::Infallible;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::{Context as _, ensure};
use bytes::Bytes;
use http_body_util::Full;
use kube_client::config::Kubeconfig;

use super::{Dist, image, output, run_tool};

const TOKEN: &str = "dist-check-token-0123456789";
const GITLAB_TOKEN: &str = "glpat-dist-check-0123456789";

/// --check compares two builds of one commit: the tree must be that commit.
pub fn require_clean_tree(root: &Path) -> anyhow::Result<()> {
    ensure!(
        super::is_git_toplevel(root),
        "dist --check rebuilds the checked-out commit from a clone: run it in a git checkout"
    );
    let status = output(
        Command::new("git")
            .args(["status", "--porcelain", "--untracked-files=no"])
            .current_dir(root),
    )?;
    ensure!(
        status.trim().is_empty(),
        "dist --check compares two builds of one commit; commit or stash these changes first:\n{status}"
    );
    Ok(())
}

pub fn run(dist: &Dist) -> anyhow::Result<()> {
    let work = dist.out.join("check");
    std::fs::create_dir_all(&work)?;
    let mut passed = 0;
    let result = checks(dist, &work, &mut passed);
    // The closing line CI reads, like a test runner's.
    println!(
        "dist: {passed} passed, {} failed",
        u32::from(result.is_err())
    );
    result
}

fn checks(dist: &Dist, work: &Path, passed: &mut u32) -> anyhow::Result<()> {
    let mut step = |what: &str, f: &mut dyn FnMut() -> anyhow::Result<()>| {
        let started = std::time::Instant::now();
        f().with_context(|| format!("dist --check: {what}"))?;
        *passed += 1;
        eprintln!(
            "dist --check: ok   {what} ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        anyhow::Ok(())
    };
    step("the binary is static", &mut || static_binary(&dist.binary))?;
    step("no build path in the binary", &mut || no_build_paths(dist))?;
    step("image config read back by skopeo", &mut || {
        image_config(dist)
    })?;
    step("docker-archive name and config", &mut || archive(dist))?;
    step("SBOM", &mut || sbom(dist))?;
    let rootfs = work.join("bundle/rootfs");
    step("umoci unpack: exactly the image's files", &mut || {
        unpack(dist, work).map(drop)
    })?;
    let mut made = None;
    step("a PKI made by the release binary", &mut || {
        made = Some(pki(dist, work)?);
        Ok(())
    })?;
    let pki = made.context("no PKI")?;
    step("guard version in the isolated root", &mut || {
        version_in_image(dist, &rootfs)
    })?;
    step(
        "guard run in the isolated root answers TokenReviews",
        &mut || reviews_in_image(dist, &rootfs, &pki),
    )?;
    step(
        "the installer's default image is the archive's name",
        &mut || installer_image(dist, &pki),
    )?;
    step(
        "a second build from a clone gives the same digests",
        &mut || reproduce(dist, work),
    )?;
    Ok(())
}

/// No interpreter (PT_INTERP), nothing needed (ldd), statically linked.
fn static_binary(binary: &Path) -> anyhow::Result<()> {
    let elf = std::fs::read(binary)?;
    ensure!(
        elf.starts_with(b"\x7fELF\x02\x01"),
        "not a 64-bit little-endian ELF file"
    );
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into()?) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let p_type = u32::from_le_bytes(elf[phoff + i * phentsize..][..4].try_into()?);
        ensure!(
            p_type != 3,
            "the binary names a program interpreter (PT_INTERP)"
        );
    }
    // ldd says "not a dynamic executable" for a static binary and
    // "statically linked" for a static PIE (ours: ASLR for the binary too).
    let ldd = Command::new("ldd").arg(binary).output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ldd.stdout),
        String::from_utf8_lossy(&ldd.stderr)
    );
    ensure!(
        said.contains("not a dynamic executable") || said.contains("statically linked"),
        "ldd lists dependencies: {said}"
    );
    Ok(())
}

/// The binary names none of the build's directories.
fn no_build_paths(dist: &Dist) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(&std::fs::read(&dist.binary)?).into_owned();
    let mut paths = vec![dist.root.display().to_string()];
    for var in ["CARGO_HOME", "HOME", "RUSTUP_HOME"] {
        if let Some(v) = std::env::var_os(var) {
            paths.push(PathBuf::from(v).display().to_string());
        }
    }
    paths.push(std::env::current_dir()?.display().to_string());
    for path in paths.iter().filter(|p| p.len() > 1) {
        ensure!(
            !text.contains(path.as_str()),
            "the binary contains the build path {path}"
        );
    }
    Ok(())
}

/// `skopeo inspect --config` of the OCI layout: entrypoint, user, labels
/// (agreeing with `guard version`), platform.
fn image_config(dist: &Dist) -> anyhow::Result<()> {
    let reference = format!("oci:{}:{}", dist.oci.display(), dist.version);
    let config: serde_json::Value = serde_json::from_str(&output(
        Command::new("skopeo").args(["inspect", "--config", &reference]),
    )?)?;
    let c = &config["config"];
    ensure!(
        c["Entrypoint"] == serde_json::json!([format!("/{}", image::BINARY_PATH)]),
        "entrypoint {}",
        c["Entrypoint"]
    );
    ensure!(c["Cmd"].is_null(), "the image has a Cmd: {}", c["Cmd"]);
    ensure!(c["User"] == "65532:65532", "user {}", c["User"]);
    ensure!(
        config["architecture"] == "amd64" && config["os"] == "linux",
        "platform {}/{}",
        config["os"],
        config["architecture"]
    );
    let labels = &c["Labels"];
    let label = |k: &str| {
        labels[format!("org.opencontainers.image.{k}")]
            .as_str()
            .map(str::to_owned)
    };
    let field = |k: &str| dist.version_fields.get(k).cloned();
    ensure!(
        label("version") == field("Version"),
        "version label {labels}"
    );
    ensure!(
        label("revision") == field("CommitHash"),
        "revision label {labels}"
    );
    ensure!(
        label("created") == field("BuildTimestamp").filter(|t| t != "unknown"),
        "created label {labels}"
    );
    ensure!(
        label("licenses").as_deref() == Some("Apache-2.0"),
        "licenses label {labels}"
    );
    ensure!(
        label("source").is_some_and(|s| s.starts_with("https://")),
        "source label {labels}"
    );
    ensure!(
        config["created"].as_str().map(str::to_owned) == label("created"),
        "created {} vs its label",
        config["created"]
    );
    // The manifest digest skopeo computes is the one we wrote in index.json.
    let digest =
        output(Command::new("skopeo").args(["inspect", "--format", "{{.Digest}}", &reference]))?;
    ensure!(
        digest.trim() == dist.digests.manifest,
        "skopeo sees manifest {} instead of {}",
        digest.trim(),
        dist.digests.manifest
    );
    Ok(())
}

/// The docker-archive is named after the installer's image and holds the
/// same config (hence the same image ID).
fn archive(dist: &Dist) -> anyhow::Result<()> {
    let mut tar = tar::Archive::new(std::fs::File::open(&dist.archive)?);
    let mut manifest = None;
    for entry in tar.entries()? {
        let mut entry = entry?;
        if entry.path()?.as_os_str() == "manifest.json" {
            let mut text = String::new();
            entry.read_to_string(&mut text)?;
            manifest = Some(serde_json::from_str::<serde_json::Value>(&text)?);
        }
    }
    let manifest = manifest.context("the archive has no manifest.json")?;
    ensure!(
        manifest[0]["RepoTags"] == serde_json::json!([dist.info.reference]),
        "archive tags {}",
        manifest[0]["RepoTags"]
    );
    let config: serde_json::Value = serde_json::from_str(&output(Command::new("skopeo").args([
        "inspect".to_owned(),
        "--config".to_owned(),
        format!("docker-archive:{}", dist.archive.display()),
    ]))?)?;
    let expected = std::fs::read(
        dist.oci
            .join("blobs/sha256")
            .join(dist.digests.config.trim_start_matches("sha256:")),
    )?;
    let expected: serde_json::Value = serde_json::from_slice(&expected)?;
    ensure!(
        config["config"] == expected["config"] && config["rootfs"] == expected["rootfs"],
        "the archive's config differs from the OCI image's"
    );
    Ok(())
}

/// The SBOM describes guard and lists its crates, the TLS stack among them.
fn sbom(dist: &Dist) -> anyhow::Result<()> {
    let sbom: serde_json::Value = serde_json::from_slice(&std::fs::read(&dist.sbom)?)?;
    ensure!(sbom["bomFormat"] == "CycloneDX", "not CycloneDX");
    ensure!(
        sbom["metadata"]["component"]["name"] == "guard",
        "describes {}",
        sbom["metadata"]["component"]["name"]
    );
    let names: Vec<&str> = sbom["components"]
        .as_array()
        .context("no components")?
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for expected in ["rustls", "aws-lc-sys", "tokio", "hyper"] {
        ensure!(names.contains(&expected), "the SBOM lacks {expected}");
    }
    for unexpected in ["tempfile", "cc", "libfuzzer-sys"] {
        ensure!(
            !names.contains(&unexpected),
            "the SBOM lists {unexpected}, which is not in the binary"
        );
    }
    let text = String::from_utf8(std::fs::read(&dist.sbom)?)?;
    ensure!(
        !text.contains(&dist.root.display().to_string()),
        "the SBOM contains the build path"
    );
    Ok(())
}

/// `umoci unpack` into `work/bundle`; the root filesystem must hold exactly
/// the image's entries.
fn unpack(dist: &Dist, work: &Path) -> anyhow::Result<PathBuf> {
    let bundle = work.join("bundle");
    let _ = std::fs::remove_dir_all(&bundle);
    let mut cmd = Command::new("umoci");
    cmd.arg("unpack");
    if !is_root()? {
        cmd.arg("--rootless");
    }
    run_tool(
        cmd.arg("--image")
            .arg(format!("{}:{}", dist.oci.display(), dist.version))
            .arg(&bundle),
        "umoci unpack",
    )?;
    let rootfs = bundle.join("rootfs");
    let mut found = Vec::new();
    list(&rootfs, &rootfs, &mut found)?;
    found.sort();
    let expected: Vec<String> = dist.rootfs.iter().map(|e| e.path.clone()).collect();
    ensure!(
        found == expected,
        "the unpacked image holds {found:?}, expected {expected:?}"
    );
    let bin = std::fs::read(rootfs.join(image::BINARY_PATH))?;
    ensure!(
        bin == std::fs::read(&dist.binary)?,
        "the image's binary is not the release binary"
    );
    Ok(rootfs)
}

fn list(root: &Path, dir: &Path, found: &mut Vec<String>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let rel = entry.path().strip_prefix(root)?.display().to_string();
        if entry.file_type()?.is_dir() {
            found.push(format!("{rel}/"));
            list(root, &entry.path(), found)?;
        } else {
            found.push(rel);
        }
    }
    Ok(())
}

/// A PKI (CA, server for 127.0.0.1, clients for token-auth and gitlab) and
/// an upstream PKI for the GitLab stand-in (server for gitlab.test), made
/// with the release binary on the host.
struct Pki {
    dir: PathBuf,
    upstream: PathBuf,
    tokens: PathBuf,
}

fn pki(dist: &Dist, work: &Path) -> anyhow::Result<Pki> {
    let dir = work.join("pki-home");
    let upstream = work.join("upstream-home");
    for d in [&dir, &upstream] {
        let _ = std::fs::remove_dir_all(d);
    }
    let guard = |args: &[&str]| run_tool(Command::new(&dist.binary).args(args), "guard init");
    let d = dir.to_str().context("path is not UTF-8")?;
    let u = upstream.to_str().context("path is not UTF-8")?;
    guard(&["init", "ca", "--pki-dir", d])?;
    guard(&["init", "server", "--pki-dir", d, "--ips=127.0.0.1"])?;
    guard(&[
        "init",
        "client",
        "check",
        "-o",
        "token-auth",
        "--pki-dir",
        d,
    ])?;
    guard(&["init", "client", "check", "-o", "gitlab", "--pki-dir", d])?;
    guard(&["init", "ca", "--pki-dir", u])?;
    guard(&["init", "server", "--pki-dir", u, "--domains=gitlab.test"])?;
    let tokens = work.join("token.csv");
    std::fs::write(
        &tokens,
        format!("{TOKEN},jane,1000,\"developers,admins\"\n"),
    )?;
    Ok(Pki {
        dir,
        upstream,
        tokens,
    })
}

/// `command` run by the image's guard in an isolated root: new mount and
/// PID namespaces, chrooted into `rootfs`, as user 65532 (as root; without
/// root, in a user namespace as its root).
fn in_image(rootfs: &Path, args: &[&str]) -> anyhow::Result<Command> {
    let mut cmd = Command::new("unshare");
    if is_root()? {
        cmd.args([
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "chroot",
            "--userspec=65532:65532",
        ]);
    } else {
        cmd.args([
            "--user",
            "--map-root-user",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "chroot",
        ]);
    }
    cmd.arg(rootfs)
        .arg(format!("/{}", image::BINARY_PATH))
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin");
    Ok(cmd)
}

fn version_in_image(dist: &Dist, rootfs: &Path) -> anyhow::Result<()> {
    let text = output(&mut in_image(rootfs, &["version"])?)?;
    let fields = super::parse_version(&text);
    ensure!(
        fields == dist.version_fields,
        "in the image: {fields:?}\non the host: {:?}",
        dist.version_fields
    );
    ensure!(
        fields.get("CommitHash") == Some(&dist.info.revision),
        "revision"
    );
    Ok(())
}

/// Copies `from` to `rootfs/to` readable by 65532 (as a Secret volume is).
fn mount_file(rootfs: &Path, from: &Path, to: &str) -> anyhow::Result<()> {
    let dest = rootfs.join(to.trim_start_matches('/'));
    std::fs::create_dir_all(dest.parent().context("no parent")?)?;
    std::fs::copy(from, &dest).with_context(|| format!("cannot copy {}", from.display()))?;
    if is_root()? {
        std::os::unix::fs::chown(&dest, Some(65532), Some(65532))?;
    }
    Ok(())
}

fn reviews_in_image(dist: &Dist, rootfs: &Path, pki: &Pki) -> anyhow::Result<()> {
    let p = pki.dir.join("pki");
    mount_file(rootfs, &p.join("ca.crt"), "/etc/guard/pki/ca.crt")?;
    mount_file(rootfs, &p.join("server.crt"), "/etc/guard/pki/tls.crt")?;
    mount_file(rootfs, &p.join("server.key"), "/etc/guard/pki/tls.key")?;
    mount_file(rootfs, &pki.tokens, "/etc/guard/auth/token.csv")?;
    // What Kubernetes mounts into every container: /etc/hosts.
    std::fs::write(
        rootfs.join("etc/hosts"),
        "127.0.0.1 localhost\n127.0.0.1 gitlab.test\n",
    )?;

    let stub = GitlabStub::start(&pki.upstream.join("pki"))?;
    let runtime = tokio::runtime::Runtime::new()?;
    let review = |port: u16, provider: &str, token: &str| -> anyhow::Result<serde_json::Value> {
        let addr = format!("--addr=127.0.0.1:{port}");
        let config = webhook_config(&dist.binary, &pki.dir, provider, &addr)?;
        let body = serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": token}
        });
        let (status, answer) = runtime.block_on(crate::demo::post(&config, body.to_string()))?;
        ensure!(status == 200, "HTTP {status}: {answer}");
        Ok(answer)
    };

    // 1. The image's CA bundle as built: the stand-in's private CA is not
    //    in it, so the GitLab review fails (an outage answer, not a denial).
    let mut server = start_guard(rootfs, &stub)?;
    let port = crate::demo::wait_until_listening(&mut server.0)?;
    let answer = review(port, "token-auth", TOKEN)?;
    ensure!(
        answer["status"]["authenticated"] == true
            && answer["status"]["user"]["username"] == "jane"
            && answer["status"]["user"]["groups"] == serde_json::json!(["developers", "admins"]),
        "token-auth review: {answer}"
    );
    let answer = review(port, "token-auth", "not-the-token")?;
    ensure!(
        answer["status"]["authenticated"] != true && answer["status"]["error"].is_null(),
        "a wrong token: {answer}"
    );
    let answer = review(port, "gitlab", GITLAB_TOKEN)?;
    ensure!(
        answer["status"]["authenticated"] != true && answer["status"]["error"].is_string(),
        "GitLab behind an untrusted CA: {answer}"
    );
    stop(server)?;
    ensure!(
        stub.calls() == 0,
        "the stand-in answered a request over a TLS connection guard should have refused"
    );

    // 2. Its CA appended to the bundle (what the installer's --proxy-cert
    //    init container does): gitlab.test resolves from /etc/hosts and
    //    the review succeeds.
    let bundle = rootfs.join(image::CA_BUNDLE_PATH);
    let mut pem = std::fs::read(&bundle)?;
    pem.extend(std::fs::read(pki.upstream.join("pki/ca.crt"))?);
    std::fs::write(&bundle, pem)?;
    let mut server = start_guard(rootfs, &stub)?;
    let port = crate::demo::wait_until_listening(&mut server.0)?;
    let answer = review(port, "gitlab", GITLAB_TOKEN)?;
    ensure!(
        answer["status"]["authenticated"] == true
            && answer["status"]["user"]["username"] == "alice"
            && answer["status"]["user"]["groups"] == serde_json::json!(["acme/devs", "check"]),
        "GitLab review through the image's CA bundle and /etc/hosts: {answer}"
    );
    ensure!(
        stub.calls() >= 2,
        "the stand-in saw {} requests",
        stub.calls()
    );
    stop(server)
}

/// `guard get webhook-config` for the client `check@PROVIDER`.
fn webhook_config(
    binary: &Path,
    pki_dir: &Path,
    provider: &str,
    addr: &str,
) -> anyhow::Result<Kubeconfig> {
    let yaml = output(
        Command::new(binary)
            .args([
                "get",
                "webhook-config",
                "check",
                "-o",
                provider,
                "--pki-dir",
            ])
            .arg(pki_dir)
            .arg(addr),
    )?;
    Ok(serde_saphyr::from_str(&yaml)?)
}

struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_guard(rootfs: &Path, stub: &GitlabStub) -> anyhow::Result<Guard> {
    let base = format!("--gitlab.base-url=https://gitlab.test:{}/", stub.port);
    let mut cmd = in_image(
        rootfs,
        &[
            "run",
            "--secure-addr=127.0.0.1:0",
            "--tls-ca-file=/etc/guard/pki/ca.crt",
            "--tls-cert-file=/etc/guard/pki/tls.crt",
            "--tls-private-key-file=/etc/guard/pki/tls.key",
            "--auth-providers=token-auth,gitlab",
            "--token-auth-file=/etc/guard/auth/token.csv",
            &base,
        ],
    )?;
    Ok(Guard(
        cmd.stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start guard run in the isolated root")?,
    ))
}

/// SIGTERM to guard (unshare's child, PID 1 of its namespace), then a
/// clean exit of guard and so of unshare.
fn stop(mut server: Guard) -> anyhow::Result<()> {
    let pid = server.0.id();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))?;
    let guard = children
        .split_whitespace()
        .next()
        .context("unshare has no child")?;
    run_tool(Command::new("kill").args(["-TERM", guard]), "kill")?;
    let status = server.0.wait()?;
    ensure!(status.success(), "guard run exited with {status}");
    Ok(())
}

/// `guard get installer` names the archive's image by default.
fn installer_image(dist: &Dist, pki: &Pki) -> anyhow::Result<()> {
    let yaml = output(
        Command::new(&dist.binary)
            .args(["get", "installer", "--auth-providers=token-auth"])
            // The check's server certificate is for 127.0.0.1.
            .arg("--addr=127.0.0.1:443")
            .arg(format!("--token-auth-file={}", pki.tokens.display()))
            .arg("--pki-dir")
            .arg(&pki.dir),
    )?;
    let images: Vec<&str> = yaml
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .collect();
    ensure!(
        images == [dist.info.reference.as_str()],
        "the installer's images are {images:?}, the archive is {}",
        dist.info.reference
    );
    Ok(())
}

/// A second build, from a clone of the commit in another directory (same
/// target directory, so only the workspace's own crates are rebuilt): every
/// artefact must be byte for byte the same.
fn reproduce(dist: &Dist, work: &Path) -> anyhow::Result<()> {
    let src = work.join("clone");
    let _ = std::fs::remove_dir_all(&src);
    run_tool(
        Command::new("git")
            .args(["clone", "--quiet", "--shared", "--no-checkout"])
            .arg(&dist.root)
            .arg(&src),
        "git clone",
    )?;
    run_tool(
        Command::new("git")
            .args(["checkout", "--quiet", "--detach", &dist.info.revision])
            .current_dir(&src),
        "git checkout",
    )?;
    let again = super::build_with(&src, &dist.target_dir, &work.join("again"))?;
    let sha = |p: &Path| -> anyhow::Result<String> { Ok(image::digest(&std::fs::read(p)?)) };
    let mut differ = Vec::new();
    for (what, a, b) in [
        ("binary", &dist.binary, &again.binary),
        ("docker-archive", &dist.archive, &again.archive),
        ("SBOM", &dist.sbom, &again.sbom),
    ] {
        if sha(a)? != sha(b)? {
            differ.push(what);
        }
    }
    if again.digests != dist.digests {
        differ.push("image");
    }
    ensure!(
        differ.is_empty(),
        "the rebuild differs: {differ:?} (first image {}, second {})",
        dist.digests.manifest,
        again.digests.manifest
    );
    eprintln!(
        "dist --check: both builds: image {}, binary {}",
        dist.digests.manifest,
        sha(&dist.binary)?
    );
    let _ = std::fs::remove_dir_all(&src);
    Ok(())
}

fn is_root() -> anyhow::Result<bool> {
    Ok(output(Command::new("id").arg("-u"))?.trim() == "0")
}

/// A GitLab API stand-in over HTTPS (certificate for gitlab.test from
/// `pki/server.*`), on its own thread and runtime, counting requests.
struct GitlabStub {
    port: u16,
    calls: Arc<std::sync::atomic::AtomicU64>,
}

impl GitlabStub {
    fn start(pki: &Path) -> anyhow::Result<Self> {
        use rustls_pki_types::pem::PemObject as _;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(pki.join("server.crt"))?
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_file(pki.join("server.key"))?;
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = calls.clone();
        std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                while let Ok((tcp, _)) = listener.accept().await {
                    let (acceptor, counter) = (acceptor.clone(), counter.clone());
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let service = hyper::service::service_fn(
                            move |req: hyper::Request<hyper::body::Incoming>| {
                                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let authorized = req
                                    .headers()
                                    .get("authorization")
                                    .is_some_and(|v| v.as_bytes() == format!("Bearer {GITLAB_TOKEN}").as_bytes());
                                let body = match (authorized, req.uri().path().ends_with("/user")) {
                                    (false, _) => r#"{"message":"401 Unauthorized"}"#,
                                    (true, true) => r#"{"id":42,"username":"alice","state":"active"}"#,
                                    (true, false) => {
                                        // The client certificate's CN ("check") names the
                                        // group whose members may log in.
                                        r#"[{"id":7,"name":"devs","path":"devs","full_path":"acme/devs"},{"id":8,"name":"check","path":"check","full_path":"check"}]"#
                                    }
                                };
                                let status = if authorized { 200 } else { 401 };
                                async move {
                                    Ok::<_, Infallible>(
                                        hyper::Response::builder()
                                            .status(status)
                                            .header("content-type", "application/json")
                                            .body(Full::new(Bytes::from_static(body.as_bytes())))
                                            .unwrap_or_default(),
                                    )
                                }
                            },
                        );
                        let _ = hyper_util::server::conn::auto::Builder::new(
                            hyper_util::rt::TokioExecutor::new(),
                        )
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                    });
                }
            });
        });
        Ok(GitlabStub { port, calls })
    }

    fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }
}
