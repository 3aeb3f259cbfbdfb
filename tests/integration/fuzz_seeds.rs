//! Every fuzz target (fuzz/src/targets/) on every committed seed (fuzz/corpus/TARGET/), with
//! the stable toolchain and no libFuzzer: the invariants `make fuzz` explores from hold on the
//! inputs it starts with. Fuzzing itself (nightly, instrumented) is `make fuzz` and
//! `make fuzz-smoke`, a job of its own in CI (docs/testing.md, "Fuzzing").

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

// The fuzz crate's own files: it is a workspace of its own (nightly, libFuzzer), so it is
// compiled into this test rather than depended on.
#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod conninfo_fuzz;

use conninfo_fuzz::targets;

/// The committed seeds of `target`, by file name.
fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a corpus entry").path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let data = std::fs::read(&path).expect("a seed file");
            (name.unwrap_or_default(), data)
        })
        .collect();
    seeds.sort();
    seeds
}

/// Runs `target` on each of its seeds; a failure names every seed that broke an invariant.
fn replay(target: &str, run: fn(&[u8])) {
    let seeds = seeds(target);
    assert!(!seeds.is_empty(), "fuzz/corpus/{target} has no seeds");
    let broken: Vec<String> = seeds
        .iter()
        .filter(|(_, data)| catch_unwind(AssertUnwindSafe(|| run(data))).is_err())
        .map(|(name, _)| format!("fuzz/corpus/{target}/{name}"))
        .collect();
    assert!(broken.is_empty(), "seeds breaking an invariant: {broken:?}");
}

#[test]
fn admission_seeds_keep_the_invariants() {
    replay("admission", targets::admission::run);
}

#[test]
fn check_input_seeds_keep_the_invariants() {
    replay("check_input", targets::check_input::run);
}

#[test]
fn interval_seeds_keep_the_invariants() {
    replay("interval", targets::interval::run);
}

#[test]
fn describe_answer_seeds_keep_the_invariants() {
    replay("describe_answer", targets::describe_answer::run);
}

#[test]
fn a_seed_that_breaks_an_invariant_fails_the_replay() {
    let failed = catch_unwind(|| replay("interval", |_| panic!("an invariant broken")));
    assert!(failed.is_err(), "a panicking target passed the replay");
}
