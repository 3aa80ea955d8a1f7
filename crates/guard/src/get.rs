//! `guard get webhook-config`

use guard_installer::webhook_config::{self, WebhookConfigSpec};

use crate::cli::{GetCommand, WebhookConfigArgs};
use crate::init::{pki_dir, resolve_client};

pub fn run(cmd: GetCommand) -> anyhow::Result<()> {
    match cmd {
        GetCommand::WebhookConfig(args) => webhook(&args),
    }
}

fn webhook(args: &WebhookConfigArgs) -> anyhow::Result<()> {
    let pki = pki_dir(&args.pki)?;
    let (name, provider) = resolve_client(&args.client)?;
    let config = webhook_config::build(
        &pki,
        &WebhookConfigSpec {
            name: &name,
            provider,
            addr: &args.addr,
            mode: args.mode,
        },
    )?;
    print!("{}", webhook_config::to_yaml(&config)?);
    Ok(())
}
