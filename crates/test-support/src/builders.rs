//! Builders for test objects, so that a test names only what it is about.

pub use conninfo_core::fixtures::*;
