//! Generators for what an operator feeds to Kubernetes:
//!
//! * [`webhook_config`]: the kubeconfig file for kube-apiserver's
//!   `--authentication-token-webhook-config-file`.
//! * [`installer`]: the manifests that deploy guard (`guard get installer`),
//!   running the [`image`] that `cargo xtask dist` builds.
//! * [`kubeadm`]: the kubeadm `ClusterConfiguration` that wires
//!   kube-apiserver to guard (`guard get kubeadm-config`), with
//!   [`authn_config`] (`guard get authn-config`) and [`authz_config`].
//!
//! This crate links no provider code. What each provider adds to the
//! deployment (flags, a Secret with its files, where it is mounted,
//! environment variables from it) arrives as plain data,
//! [`guard_api::InstallerPart`], which guard-providers' registry fills from
//! the provider's options and the binary hands over in
//! [`installer::InstallerSpec::providers`]. So the installer's dependency
//! tree holds no LDAP, HTTP or AWS client, and a new provider needs no change
//! here.

pub mod addr;
pub mod authn_config;
pub mod authz_config;
mod error;
pub mod image;
pub mod installer;
pub mod kube_version;
pub mod kubeadm;
mod probes;
pub mod server_cert;
pub mod webhook_config;

pub use error::InstallerError;
