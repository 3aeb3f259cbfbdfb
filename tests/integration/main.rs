//! One integration-test binary: the real AWS SDK and the `describe` process against the AppFlow
//! emulator, `reconcile` against a mocked API server, the release metadata, the docs' links, and
//! the end-to-end suite against a real kube-apiserver.

mod check_cli;
mod describe_cache;
mod describe_cli;
mod docs;
mod reconcile_mock;
mod release;
mod sdk;
