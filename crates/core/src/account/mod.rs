//! Multi-account access: `AppFlowAccount` bindings chosen by the platform team map namespaces
//! to the AWS identity (an assumed IAM role, or the operator's own) and regions their
//! ConnectorInfos are described with. Tenants never choose the account.
//!
//! All pure: the CRD, identities, namespace resolution and binding status. The watches and
//! the controller writing the bindings' status are the runtime crate's
//! (`conninfo_runtime::accounts`, `conninfo_runtime::bindings`).

pub mod condition;
pub mod crd;
pub mod identity;
pub mod resolve;
pub mod status;

pub use condition::{AccountConditionType, AccountReason};
pub use crd::{AppFlowAccount, AppFlowAccountSpec, AppFlowAccountStatus};
pub use identity::Identity;
pub use resolve::{Access, Unmapped};
