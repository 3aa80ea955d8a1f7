//! `--eks.*`.

use std::path::PathBuf;

use reqwest::Url;

use crate::ProviderError;

pub(crate) const FLAG_MAPPING_FILE: &str = "--eks.mapping-file";
const FLAG_STS_ENDPOINT: &str = "--eks.sts-endpoint";

/// Options of the `eks` provider.
#[derive(Debug, Clone, clap::Args)]
pub struct EksOptions {
    /// aws-auth-style mapping of IAM ARNs to users and groups (mapRoles,
    /// mapUsers, mapAccounts). Reloaded when it changes.
    #[arg(
        id = "eks.mapping-file",
        long = "eks.mapping-file",
        value_name = "FILE"
    )]
    pub mapping_file: Option<PathBuf>,

    /// One more STS endpoint tokens may point at (a VPC endpoint), e.g.
    /// https://vpce-123.sts.us-east-1.vpce.amazonaws.com.
    #[arg(id = "eks.sts-endpoint", long = "eks.sts-endpoint", value_name = "URL")]
    pub sts_endpoint: Option<String>,
}

impl EksOptions {
    /// Checks the options of the enabled provider.
    pub fn validate(&self) -> Result<(), ProviderError> {
        self.sts_endpoint().map(|_| ())
    }

    /// `--eks.sts-endpoint`, parsed.
    pub fn sts_endpoint(&self) -> Result<Option<Url>, ProviderError> {
        self.sts_endpoint
            .as_deref()
            .map(|e| {
                Url::parse(e).map_err(|source| ProviderError::BadUrl {
                    flag: FLAG_STS_ENDPOINT,
                    value: e.to_owned(),
                    source,
                })
            })
            .transpose()
    }
}
