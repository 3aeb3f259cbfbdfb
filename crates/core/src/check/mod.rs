//! `check`'s offline parts: reading manifests, each document's verdict against the
//! requirements it names, and the reports (text, JSON, JUnit) built from the verdicts.
//! Describing and the command itself are the binary's (`src/commands/check.rs`).

pub mod input;
pub mod report;
pub mod verdict;
