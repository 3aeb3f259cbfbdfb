//! End-to-end: the real kube-apiserver (built from Go modules), the AppFlow emulator and the
//! operator binary as separate processes, driven with the real kubectl.

mod accounts;
mod budget;
mod changes;
mod check;
mod cluster;
mod compat;
mod failover;
mod helm;
mod hostile;
mod lanes;
mod lists;
mod metrics_auth;
mod monitoring;
mod node;
mod restarts;
mod scenarios;
mod soak;
mod upgrade;
mod versions;
