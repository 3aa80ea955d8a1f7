//! Generators for what an operator feeds to Kubernetes:
//!
//! * [`webhook_config`]: the kubeconfig file for kube-apiserver's
//!   `--authentication-token-webhook-config-file`.
//! * [`installer`]: the manifests that deploy guard (`guard get installer`),
//!   running the [`image`] that `cargo xtask dist` builds.

mod error;
pub mod image;
pub mod installer;
pub mod login;
mod probes;
pub mod webhook_config;
mod yaml;

pub use error::InstallerError;
