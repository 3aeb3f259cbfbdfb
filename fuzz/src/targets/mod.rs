//! The fuzz targets: one function per parser of untrusted input, the input and the invariants
//! it must keep. libFuzzer calls them from fuzz_targets/ (`make fuzz`); the operator's
//! integration suite runs them on the committed seeds in fuzz/corpus/ (`make test`), from
//! these very files (`#[path]`), so paths between them are relative (`super::`), never `crate::`.

pub mod admission;
pub mod check_input;
pub mod describe_answer;
pub mod interval;
