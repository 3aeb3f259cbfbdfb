//! What tests and the benchmark read about a child process, from /proc, and how they stop one.

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// (VmHWM, VmRSS) of a process in MiB (0 when it is gone).
pub fn memory_mib(pid: u32) -> (f64, f64) {
    (status_mib(pid, "VmHWM:"), status_mib(pid, "VmRSS:"))
}

/// (RssAnon, RssFile) of a process in MiB: its own memory, and the pages of files it maps
/// (its binary's code, shared and reclaimable), which VmRSS adds up.
pub fn rss_split_mib(pid: u32) -> (f64, f64) {
    (status_mib(pid, "RssAnon:"), status_mib(pid, "RssFile:"))
}

/// One `kB` field of /proc/PID/status, in MiB (0 when absent or the process is gone).
fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// Sends SIGTERM and returns the exit status once the process has stopped (30 s at most).
pub fn terminate(child: &mut Child) -> ExitStatus {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "process ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50)); // poll interval of an exit check
    }
}
