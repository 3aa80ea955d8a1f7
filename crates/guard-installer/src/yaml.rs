//! YAML output with map keys in sorted order, as client-go and kubectl
//! write Kubernetes objects.

use serde::Serialize;

use crate::InstallerError;

/// Serialises `value` through `serde_json::Value` (whose maps are sorted)
/// into YAML.
pub fn to_sorted_yaml<T: Serialize>(value: &T) -> Result<String, InstallerError> {
    let sorted =
        serde_json::to_value(value).map_err(|e| InstallerError::Serialize(e.to_string()))?;
    serde_saphyr::to_string(&sorted).map_err(|e| InstallerError::Serialize(e.to_string()))
}
