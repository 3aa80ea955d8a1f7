//! Generators for what an operator feeds to Kubernetes:
//!
//! * [`webhook_config`]: the kubeconfig file for kube-apiserver's
//!   `--authentication-token-webhook-config-file`.

mod error;
mod yaml;
pub mod webhook_config;

pub use error::InstallerError;
