//! What `gitlab` adds to the installer: its flags (no files).

use guard_api::InstallerPart;

use super::GitlabOptions;

/// The installer part.
pub fn part(options: &GitlabOptions) -> InstallerPart {
    let mut args = Vec::new();
    if let Some(url) = &options.base_url {
        args.push(format!("--gitlab.base-url={url}"));
    }
    args.push(format!("--gitlab.use-group-id={}", options.use_group_id));
    if options.allow_system_groups {
        args.push("--gitlab.allow-system-groups=true".into());
    }
    if options.allow_any_user {
        args.push("--gitlab.allow-any-user=true".into());
    }
    InstallerPart {
        args,
        ..InstallerPart::default()
    }
}
