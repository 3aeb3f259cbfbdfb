//! What the test suites and the benchmark share: the real control plane (`controlplane`), the
//! AppFlow emulator in process (`emulator`), facts about child processes (`process`), the built
//! tools (`tools`) and builders for test objects (`builders`). Never linked into the operator.

pub mod builders;
pub mod check_report;
pub mod controlplane;
pub mod emulator;
pub mod process;
pub mod tools;
pub mod wait;

pub use emulator::{DATA, Emulator};
