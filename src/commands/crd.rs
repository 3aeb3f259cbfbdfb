//! `crd`: the CRDs as YAML, rendered from the Rust types.

use conninfo_core::crd;

use crate::cli::CrdName;

/// The named CRD, or both as one multi-document stream (`crd | kubectl apply -f -`).
pub fn render(name: Option<CrdName>) -> Result<String, serde_yaml_ng::Error> {
    Ok(match name {
        Some(CrdName::Connectorinfos) => crd::crd_yaml()?,
        Some(CrdName::Appflowaccounts) => crd::account_crd_yaml()?,
        None => format!("{}---\n{}", crd::crd_yaml()?, crd::account_crd_yaml()?),
    })
}
