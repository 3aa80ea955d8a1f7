//! `guard version`: the version and the build information that build.rs
//! fixed from the sources (git revision, commit date, `SOURCE_DATE_EPOCH`),
//! in Go Guard's `Key = value` shape. The release image's labels are read
//! from this output (`cargo xtask dist`), so the two always agree.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use guard::cli::VersionArgs;

/// The crate version, e.g. `0.1.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The commit hash the binary was built from, or `unknown`.
pub const REVISION: &str = env!("GUARD_GIT_REVISION");

pub fn run(args: &VersionArgs) -> anyhow::Result<()> {
    if args.short {
        println!("{VERSION}");
        return Ok(());
    }
    println!("Version = {VERSION}");
    println!("CommitHash = {REVISION}");
    println!(
        "CommitTimestamp = {}",
        timestamp(env!("GUARD_COMMIT_EPOCH"))
    );
    println!("BuildTimestamp = {}", timestamp(env!("GUARD_BUILD_EPOCH")));
    println!("RustVersion = {}", env!("GUARD_RUSTC_VERSION"));
    println!("Platform = {}/{}", std::env::consts::OS, go_arch());
    Ok(())
}

/// Seconds since 1970 as RFC 3339 in UTC, or `unknown`.
fn timestamp(epoch: &str) -> String {
    epoch
        .parse::<i64>()
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The architecture as Go (and OCI image configs) name it, as Go Guard
/// prints it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        other => other,
    }
}
