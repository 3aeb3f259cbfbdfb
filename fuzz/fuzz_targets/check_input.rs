//! libFuzzer's entry point for `conninfo_fuzz::targets::check_input` (fuzz/src/targets/check_input.rs),
//! where the target and its invariants live; the operator's test suite replays its seeds too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| conninfo_fuzz::targets::check_input::run(data));
