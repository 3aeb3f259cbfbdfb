//! The pure core of appflow-connector-operator: the CRD types, the mirror of DescribeConnector's
//! answer, status computation, conditions and reasons, requirements, diffs, intervals, pacing,
//! key error budgets, policy, offline admission, account resolution and binding status.
//!
//! This crate has no AWS SDK, no Kubernetes client and no async runtime among its dependencies,
//! and is unit-tested without a network. What the operator keeps per object at run time
//! (pacing, pending refresh requests) lives in `conninfo-runtime`. Everything here is a function
//! of its inputs but for three things, each named in docs/design.md ("Architecture"): the
//! process-wide string interner (`intern.rs`), offline admission's validators compiled once
//! from the generated CRD (`admission.rs`, read-only), and `check`'s reading of the files and
//! folders it is given (`check/input.rs`). The layers above it are `conninfo-aws` (AppFlow) and
//! `conninfo-runtime` (the API server).

pub mod account;
pub mod admission;
pub mod backoff;
pub mod budget;
pub mod check;
pub mod circuit;
pub mod condition;
pub mod crd;
pub mod diff;
pub mod intern;
pub mod interval;
pub mod lanes;
pub mod mirror;
pub mod outcome;
pub mod pacing;
pub mod policy;
pub mod reason;
pub mod refresh;
pub mod requirements;
pub mod status;
pub mod versions;

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
