//! The small Kubernetes objects every manifest is built from: labels,
//! metadata, Secrets, Secret volumes and mounts.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Secret, SecretVolumeSource, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::InstallerError;

/// Secret volumes are readable by the owner and the pod's fsGroup only.
const SECRET_MODE: i32 = 0o440;

pub(super) fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_owned(), "guard".to_owned())])
}

pub(super) fn meta(name: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels()),
        ..ObjectMeta::default()
    }
}

pub(super) fn secret(name: &str, namespace: &str, data: BTreeMap<String, Vec<u8>>) -> Secret {
    Secret {
        metadata: meta(name, namespace),
        type_: Some("Opaque".into()),
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
        ..Secret::default()
    }
}

pub(super) fn secret_volume(name: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(name.to_owned()),
            default_mode: Some(SECRET_MODE),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

pub(super) fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

/// A typed object as a JSON value (whose maps keep keys sorted).
pub(super) fn value<T: Serialize>(object: &T) -> Result<serde_json::Value, InstallerError> {
    serde_json::to_value(object).map_err(|e| InstallerError::Serialize(Box::new(e)))
}
