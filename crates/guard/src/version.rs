//! `guard version`

use crate::cli::VersionArgs;

pub fn run(args: &VersionArgs) -> anyhow::Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    if args.short {
        println!("{version}");
    } else {
        println!("Version = {version}");
        println!(
            "Platform = {}/{}",
            std::env::consts::OS,
            std::env::consts::ARCH
        );
    }
    Ok(())
}
