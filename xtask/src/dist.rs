//! `cargo xtask dist [--check]`: the release artefacts, from the repository
//! alone and without a container daemon (docs/release.md):
//!
//! * `target/dist/guard-VERSION-x86_64-linux` (+ `.sha256`): guard for
//!   x86_64-unknown-linux-musl, statically linked, stripped;
//! * `target/dist/oci/`: an OCI image layout with one image tagged VERSION
//!   (the binary, a CA bundle, passwd/group, nothing else), written by
//!   [`image`];
//! * `target/dist/guard-VERSION-image.tar`: the same image as a
//!   docker-archive named after the installer's default image, by skopeo;
//! * `target/dist/guard-VERSION.cdx.json`: a CycloneDX SBOM of the
//!   binary's crates ([`sbom`]).
//!
//! Every timestamp is the commit's (or `SOURCE_DATE_EPOCH`), build paths
//! are remapped, so the same commit gives the same digests; `--check`
//! proves it with a second build from a fresh clone and runs the image's
//! root filesystem in an isolated root ([`check`]).

mod check;
pub mod image;
mod sbom;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use sha2::Digest as _;

use crate::workspace_root;

/// The Rust target of the release binary.
pub const TARGET: &str = "x86_64-unknown-linux-musl";
/// The cargo profile of the release binary (release + stripped).
const PROFILE: &str = "dist";
/// Where the image is published; the installer's default image is
/// `REGISTRY/guard:VERSION` (`guard_installer::DEFAULT_REGISTRY`; `--check`
/// compares the two).
pub const REGISTRY: &str = "ghcr.io/guard-rs";

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut check = false;
    for arg in args {
        match arg.as_str() {
            "--check" => check = true,
            other => bail!("unknown argument {other:?}; usage: cargo xtask dist [--check]"),
        }
    }
    let root = workspace_root();
    let started = std::time::Instant::now();
    if check {
        check::require_clean_tree(&root)?;
    }
    let dist = build(&root, &root.join("target/dist"))?;
    eprintln!("dist: built in {:.0} s", started.elapsed().as_secs_f64());
    dist.print_summary();
    if check {
        check::run(&dist)?;
        eprintln!(
            "dist --check: passed, {:.0} s in all",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// The artefacts of one build.
#[derive(Debug)]
pub struct Dist {
    /// The workspace built.
    pub root: PathBuf,
    /// The cargo target directory used.
    pub target_dir: PathBuf,
    /// Where the artefacts are.
    pub out: PathBuf,
    pub version: String,
    pub binary: PathBuf,
    pub oci: PathBuf,
    pub archive: PathBuf,
    pub sbom: PathBuf,
    /// What the image says about itself (read from `guard version`).
    pub info: image::ImageInfo,
    /// `guard version` of the binary, as `Key -> value`.
    pub version_fields: BTreeMap<String, String>,
    pub digests: image::Written,
    /// The file list of the root filesystem.
    pub rootfs: Vec<image::Entry>,
}

impl Dist {
    fn print_summary(&self) {
        let rel = |p: &Path| {
            p.strip_prefix(&self.root)
                .unwrap_or(p)
                .display()
                .to_string()
        };
        println!("binary   {}", rel(&self.binary));
        println!("image    {} (tag {})", rel(&self.oci), self.version);
        println!("         manifest {}", self.digests.manifest);
        println!("archive  {} ({})", rel(&self.archive), self.info.reference);
        println!("sbom     {}", rel(&self.sbom));
        println!(
            "revision {}, created {}",
            self.info.revision,
            self.info.created.as_deref().unwrap_or("unknown")
        );
    }
}

/// Builds the binary in the workspace `root` and writes every artefact
/// into `out` (emptied first).
pub fn build(root: &Path, out: &Path) -> anyhow::Result<Dist> {
    preflight()?;
    let target_dir = Metadata::read(root)?.target_dir;
    build_with(root, &target_dir, out)
}

/// [`build`] with the given cargo target directory.
pub fn build_with(root: &Path, target_dir: &Path, out: &Path) -> anyhow::Result<Dist> {
    let meta = Metadata::read(root)?;
    let epoch = source_date_epoch(root)?;

    compile(root, target_dir)?;
    let built = target_dir.join(TARGET).join(PROFILE).join("guard");

    // What the binary says it is: the labels are made from this.
    let version_fields = version_fields(&built)?;
    let field = |k: &str| {
        version_fields
            .get(k)
            .cloned()
            .with_context(|| format!("`guard version` printed no {k}"))
    };
    if field("Version")? != meta.version {
        bail!(
            "the binary says version {}, Cargo.toml {}",
            field("Version")?,
            meta.version
        );
    }
    let created = Some(field("BuildTimestamp")?).filter(|t| t != "unknown");
    // The layer's file times and the binary's build date are one date.
    let epoch_text = epoch
        .map(|e| -> anyhow::Result<String> {
            let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(e)?)?;
            Ok(t.format(&time::format_description::well_known::Rfc3339)?)
        })
        .transpose()?;
    if epoch_text != created {
        bail!("the binary's build date {created:?} is not the source date {epoch_text:?}");
    }
    let info = image::ImageInfo {
        version: meta.version.clone(),
        revision: field("CommitHash")?,
        created,
        source: meta.repository.clone(),
        licenses: meta.license.clone(),
        reference: format!("{REGISTRY}/guard:{}", meta.version),
    };

    if out.exists() {
        std::fs::remove_dir_all(out).with_context(|| format!("cannot empty {}", out.display()))?;
    }
    std::fs::create_dir_all(out)?;

    // The binary and its checksum (sha256sum's format).
    let name = format!("guard-{}-x86_64-linux", meta.version);
    let binary = out.join(&name);
    let bytes =
        std::fs::read(&built).with_context(|| format!("cannot read {}", built.display()))?;
    std::fs::write(&binary, &bytes)?;
    set_mode(&binary, 0o755)?;
    let sha = image::hex(&sha2::Sha256::digest(&bytes));
    std::fs::write(
        out.join(format!("{name}.sha256")),
        format!("{sha}  {name}\n"),
    )?;

    // The image.
    let rootfs = image::rootfs(bytes, image::ca_bundle());
    let tar = image::layer_tar(&rootfs, epoch.unwrap_or(0))?;
    let oci = out.join("oci");
    let digests = image::write_layout(&oci, &info, &tar)?;

    // The docker-archive, named as the installer's default image.
    let archive = out.join(format!("guard-{}-image.tar", meta.version));
    run_tool(
        Command::new("skopeo").args([
            "copy".to_owned(),
            "--quiet".to_owned(),
            format!("oci:{}:{}", oci.display(), meta.version),
            format!("docker-archive:{}:{}", archive.display(), info.reference),
        ]),
        "skopeo copy",
    )?;

    let sbom = out.join(format!("guard-{}.cdx.json", meta.version));
    sbom::write(root, TARGET, &sbom, info.created.as_deref())?;

    Ok(Dist {
        root: root.to_owned(),
        target_dir: target_dir.to_owned(),
        out: out.to_owned(),
        version: meta.version,
        binary,
        oci,
        archive,
        sbom,
        info,
        version_fields,
        digests,
        rootfs: rootfs
            .into_iter()
            .map(|e| image::Entry {
                contents: e.contents.map(|_| Vec::new()),
                ..e
            })
            .collect(),
    })
}

/// The tools dist needs, with a pointer to the script that installs them.
fn preflight() -> anyhow::Result<()> {
    let sysroot = output(Command::new(rustc()).args(["--print", "sysroot"]))?;
    let mut missing = Vec::new();
    if !Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(TARGET)
        .is_dir()
    {
        missing.push(format!(
            "the Rust target {TARGET} (rustup target add {TARGET})"
        ));
    }
    for (tool, what) in [
        (
            "musl-gcc",
            "musl-gcc (Debian's musl-tools), the C compiler for aws-lc",
        ),
        ("skopeo", "skopeo (Debian's skopeo)"),
    ] {
        if Command::new(tool).arg("--version").output().is_err() {
            missing.push(what.to_owned());
        }
    }
    if !missing.is_empty() {
        bail!(
            "missing: {}; .ci/install-test-deps.sh installs them",
            missing.join(", ")
        );
    }
    Ok(())
}

/// The parts of `cargo metadata` dist needs.
struct Metadata {
    version: String,
    repository: String,
    license: String,
    target_dir: PathBuf,
}

impl Metadata {
    fn read(root: &Path) -> anyhow::Result<Self> {
        let json = output(
            Command::new(cargo())
                .args(["metadata", "--format-version=1", "--no-deps", "--locked"])
                .current_dir(root),
        )?;
        let meta: serde_json::Value = serde_json::from_str(&json)?;
        let guard = meta["packages"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["name"] == "guard"))
            .context("cargo metadata lists no package guard")?;
        let text = |v: &serde_json::Value, what: &str| {
            v.as_str()
                .map(str::to_owned)
                .with_context(|| format!("cargo metadata: guard has no {what}"))
        };
        Ok(Metadata {
            version: text(&guard["version"], "version")?,
            license: text(&guard["license"], "license")?,
            repository: text(&guard["repository"], "repository")?,
            target_dir: PathBuf::from(text(&meta["target_directory"], "target directory")?),
        })
    }
}

/// `SOURCE_DATE_EPOCH` if set, else the time of the commit checked out in
/// `root`, else none (a source tarball without it).
fn source_date_epoch(root: &Path) -> anyhow::Result<Option<u64>> {
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        return Ok(Some(epoch.trim().parse().with_context(|| {
            format!("SOURCE_DATE_EPOCH={epoch:?} is not a number of seconds")
        })?));
    }
    if !is_git_toplevel(root) {
        return Ok(None);
    }
    let time = output(
        Command::new("git")
            .args(["log", "-1", "--format=%ct", "HEAD"])
            .current_dir(root),
    )?;
    Ok(Some(
        time.trim()
            .parse()
            .context("git log printed no commit time")?,
    ))
}

/// Whether `root` is the top level of a git checkout.
pub fn is_git_toplevel(root: &Path) -> bool {
    let Ok(top) = output(
        Command::new("git")
            .args(["rev-parse", "--show-toplevel"])
            .current_dir(root),
    ) else {
        return false;
    };
    match (Path::new(top.trim()).canonicalize(), root.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `cargo build` of the release binary, with every build path remapped
/// (Rust and C) so that none ends up in the binary.
fn compile(root: &Path, target_dir: &Path) -> anyhow::Result<()> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    // Workspace crates are compiled with paths relative to the workspace
    // root already; dependencies live in CARGO_HOME, generated code in the
    // target directory. The workspace root itself is not remapped so that a
    // clone elsewhere (the --check rebuild) passes the same flags.
    let maps = [(cargo_home, "/cargo"), (target_dir.to_owned(), "/target")];
    let rustflags: Vec<String> = maps
        .iter()
        .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
        .collect();
    let cflags: Vec<String> = maps
        .iter()
        .map(|(from, to)| format!("-ffile-prefix-map={}={to}", from.display()))
        .collect();
    let target_env = TARGET.replace('-', "_");
    let args = [
        "build",
        "--locked",
        "--package",
        "guard",
        "--bin",
        "guard",
        "--profile",
        PROFILE,
        "--target",
        TARGET,
    ];
    eprintln!("$ cargo {}", args.join(" "));
    let mut cmd = Command::new(cargo());
    cmd.args(args)
        .current_dir(root)
        .env("CARGO_TARGET_DIR", target_dir)
        .env("RUSTFLAGS", rustflags.join(" "))
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env(format!("CFLAGS_{target_env}"), cflags.join(" "))
        .env(format!("CC_{target_env}"), "musl-gcc");
    // SOURCE_DATE_EPOCH passes through as it is: build.rs falls back to the
    // commit's time by itself, and setting it per commit would rebuild
    // aws-lc (its build script watches the variable) after every commit.
    let status = cmd.status().context("cannot run cargo build")?;
    if !status.success() {
        bail!("cargo build of the release binary failed ({status})");
    }
    Ok(())
}

/// `guard version` of `binary` as `Key -> value`.
pub fn version_fields(binary: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text = output(Command::new(binary).arg("version"))?;
    Ok(parse_version(&text))
}

/// Parses `Key = value` lines.
pub fn parse_version(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

/// Runs a tool, failing with its stderr.
pub fn run_tool(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Runs a command and returns its stdout, failing with its stderr.
pub fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn rustc() -> String {
    std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())
}
