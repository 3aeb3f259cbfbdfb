//! The AWS side of appflow-connector-operator: the AppFlow client (credentials, assumed roles,
//! retries, timeouts), the per-account rate limiter, the describe cache that makes one call per
//! connector key, and `observe`, the one path from an object to the status to write.
//!
//! Knows nothing of the Kubernetes API server; the pure decisions it applies come from
//! `conninfo-core`. See docs/design.md, "Architecture".

pub mod appflow;
pub mod cache;
pub mod observe;
pub mod ratelimit;
