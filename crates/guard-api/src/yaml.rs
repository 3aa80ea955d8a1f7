//! Kubernetes objects as YAML the way client-go and kubectl write them:
//! map keys in sorted order, plain scalars. Used by the installer's
//! manifests, the webhook config, and the kubeconfig `guard login` edits.

use serde::Serialize;

/// Why a value cannot be written as YAML (never holds the value).
#[derive(Debug, thiserror::Error)]
#[error("cannot write YAML: {0}")]
pub struct YamlError(String);

/// Serialises `value` through `serde_json::Value` (whose maps are sorted)
/// into YAML.
pub fn to_sorted_yaml<T: Serialize>(value: &T) -> Result<String, YamlError> {
    let sorted = serde_json::to_value(value).map_err(|e| YamlError(e.to_string()))?;
    // Plain scalars only: no folded `>-` blocks for long base64 values, so
    // the output reads like kubectl's and greps cleanly.
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_string_with_options(&sorted, options).map_err(|e| YamlError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_out_sorted() {
        #[derive(Serialize)]
        struct Unsorted {
            zeta: u8,
            alpha: &'static str,
        }
        let yaml = to_sorted_yaml(&Unsorted {
            zeta: 1,
            alpha: "a",
        })
        .unwrap();
        assert_eq!(yaml, "alpha: a\nzeta: 1\n");
    }
}
