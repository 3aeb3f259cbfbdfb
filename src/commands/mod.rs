//! One module per subcommand.

pub mod check;
pub mod crd;
pub mod describe;
pub mod kubeconfig;
pub mod migrate;
pub mod run;
