//! The `appflow-connector-operator` binary's library: its command line and its commands
//! (`run`, `describe`, `check`, `crd`), each composed from the layers below it
//! (`conninfo-core`, `conninfo-aws`, `conninfo-runtime`; docs/design.md, "Architecture").

pub mod cli;
pub mod commands;
mod logging;
