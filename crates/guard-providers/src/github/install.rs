//! What `github` adds to the installer: its flags (no files).

use guard_api::InstallerPart;

use super::GithubOptions;

/// The installer part.
pub fn part(options: &GithubOptions) -> InstallerPart {
    let mut args = Vec::new();
    if let Some(url) = &options.base_url {
        args.push(format!("--github.base-url={url}"));
    }
    if options.use_team_slug {
        args.push("--github.use-team-slug=true".into());
    }
    if options.allow_system_groups {
        args.push("--github.allow-system-groups=true".into());
    }
    InstallerPart {
        args,
        ..InstallerPart::default()
    }
}
