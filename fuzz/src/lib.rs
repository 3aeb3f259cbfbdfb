//! What the fuzz targets share: a fuzz input read as an HTTP answer, the operator's AppFlow
//! client answering with it (no network), and the status invariants an answer must keep.

pub mod answer;
pub mod appflow;
pub mod steady;
pub mod targets;
