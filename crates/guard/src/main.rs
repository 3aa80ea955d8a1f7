//! `guard`: the command line. The definitions are in the library part
//! (`guard::cli`); these modules wire each command to the library crates:
//!
//! * `init`: `guard init` (guard-pki).
//! * `get`: `guard get installer|webhook-config` (guard-providers'
//!   registry, guard-installer).
//! * `apiserver`: `guard get kubeadm-config|authn-config` (guard-installer,
//!   the OpenID Connect style providers' in-tree authenticators).
//! * `token`, `login`: `guard get token`, `guard login` (guard-client).
//! * `run`: `guard run` (the registry, guard-auth, guard-server); `authz`:
//!   its authorization webhook and that webhook's installer part (guard-authz).
//! * `proxy`: `guard proxy` (the registry, guard-auth, guard-proxy).
//! * `prompt`: questions on the terminal.

mod apiserver;
mod authz;
mod get;
mod init;
mod login;
mod prompt;
mod proxy;
mod run;
mod token;
mod version;

use std::process::ExitCode;

use clap::Parser;
use guard::cli;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbosity.unwrap_or(0));
    let result = match cli.command {
        cli::Command::Init(cmd) => init::run(cmd),
        cli::Command::Get(cmd) => get::run(cmd, cli.verbosity),
        cli::Command::Run(args) => {
            raise_open_file_limit();
            run::run(*args)
        }
        cli::Command::Login(args) => login::run(&args),
        cli::Command::Proxy(args) => {
            raise_open_file_limit();
            proxy::run(*args)
        }
        cli::Command::Version(args) => version::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the error and its causes, most specific last.
            eprintln!("error: {}", guard_auth::ErrorChain(err.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// Raises the soft open-file limit to the hard one, as every Go program
/// (Go Guard included) does at start-up: each connection and each call to
/// a provider takes a descriptor, and the usual soft limit (1024 under
/// systemd) is below `--max-connections`. Past it, accept fails and every
/// outbound call with it.
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(current), Some(maximum)) = (limit.current, limit.maximum) else {
        return; // unlimited already, or no hard limit to raise to
    };
    if current >= maximum {
        return;
    }
    let raised = rustix::process::Rlimit {
        current: Some(maximum),
        maximum: Some(maximum),
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => tracing::debug!("open-file limit raised from {current} to {maximum}"),
        Err(e) => tracing::debug!("open-file limit stays at {current}: {e}"),
    }
}

/// The AWS SDK's crates (`get token -o eks`): their failures reach the user
/// as guard's one-line error, and their own log lines print whole responses,
/// temporary credentials included; aws-sigv4's trace lines print the
/// canonical request of the token, session token included. Only `RUST_LOG`
/// turns them on. (Targets match by prefix: `aws_sdk` is every `aws_sdk_*`,
/// `aws_smithy` every `aws_smithy_*`.)
const AWS_SDK_QUIET: &str = "aws_config=off,aws_runtime=off,aws_sdk=off,aws_smithy=off,\
    aws_sigv4=off,aws_credential_types=off,aws_types=off";

/// Logs go to stderr; `-v` picks the level (RUST_LOG, when set, wins).
fn init_logging(verbosity: u8) {
    let level = match verbosity {
        0..=3 => "info",
        4..=5 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{level},h2=info,rustls=info,hyper=info,{AWS_SDK_QUIET}"
        ))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
