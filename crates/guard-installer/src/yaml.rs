//! YAML output with map keys in sorted order, as client-go and kubectl
//! write Kubernetes objects.

use serde::Serialize;

use crate::InstallerError;

/// Serialises `value` through `serde_json::Value` (whose maps are sorted)
/// into YAML.
pub fn to_sorted_yaml<T: Serialize>(value: &T) -> Result<String, InstallerError> {
    let sorted =
        serde_json::to_value(value).map_err(|e| InstallerError::Serialize(e.to_string()))?;
    // Plain scalars only: no folded `>-` blocks for long base64 values, so
    // the output reads like kubectl's and greps cleanly.
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_string_with_options(&sorted, options)
        .map_err(|e| InstallerError::Serialize(e.to_string()))
}
