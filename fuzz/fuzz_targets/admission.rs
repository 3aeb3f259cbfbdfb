//! libFuzzer's entry point for `conninfo_fuzz::targets::admission` (fuzz/src/targets/admission.rs),
//! where the target and its invariants live; the operator's test suite replays its seeds too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conninfo_fuzz::targets::admission::run(data));
