//! One integration-test binary, no control plane: the real AWS SDK and the `describe` and
//! `check` processes against the AppFlow emulator, `reconcile` against a mocked API server, the
//! release metadata, the chart's files against their sources and the docs' links. The
//! end-to-end suite is its own target (tests/e2e).

mod chart;
mod check_cli;
mod describe_cache;
mod describe_cli;
mod docs;
mod fuzz_seeds;
mod previous_release;
mod reconcile_mock;
mod release;
mod sdk;
