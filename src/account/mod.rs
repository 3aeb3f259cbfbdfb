//! Multi-account access: `AppFlowAccount` bindings chosen by the platform team map namespaces
//! to the AWS identity (an assumed IAM role, or the operator's own) and regions their
//! ConnectorInfos are described with. Tenants never choose the account.
//!
//! `crd`, `identity`, `resolve` and `status` are pure; `watch` is the I/O: the bindings and
//! namespaces the operator watches and the binding status writer.

pub mod crd;
pub mod identity;
pub mod resolve;
pub mod status;
pub mod watch;

pub use crd::{AppFlowAccount, AppFlowAccountSpec, AppFlowAccountStatus};
pub use identity::Identity;
pub use resolve::{Access, Unmapped};
