//! Generators for what an operator feeds to Kubernetes:
//!
//! * [`webhook_config`]: the kubeconfig file for kube-apiserver's
//!   `--authentication-token-webhook-config-file`.
//! * [`installer`]: the manifests that deploy guard (`guard get installer`),
//!   running the [`image`] that `cargo xtask dist` builds.
//! * [`kubeadm`]: the kubeadm `ClusterConfiguration` that wires
//!   kube-apiserver to guard (`guard get kubeadm-config`), with
//!   [`authn_config`] (`guard get authn-config`) and [`authz_config`].

pub mod authn_config;
pub mod authz_config;
mod error;
pub mod image;
pub mod installer;
pub mod kube_version;
pub mod kubeadm;
mod probes;
pub mod webhook_config;

pub use error::InstallerError;
