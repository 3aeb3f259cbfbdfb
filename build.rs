//! Build metadata for `--version`: the git commit and the build date.
//!
//! Release builds (hack/release/) set `SOURCE_DATE_EPOCH` to the commit's time, so the builds of
//! both architectures carry one date and a rebuild of the same commit is byte-for-byte the same;
//! `APPFLOW_BUILD_COMMIT` names the commit where there is no `.git` (a Docker build context).
//! Without them: `git rev-parse HEAD` and the time this script ran.

use std::path::Path;
use std::process::Command;

use jiff::Timestamp;

fn main() {
    println!("cargo:rerun-if-env-changed=APPFLOW_BUILD_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // HEAD moves when a commit is made or another one checked out.
    for path in [".git/HEAD", ".git/refs/heads", ".git/packed-refs"] {
        if Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rustc-env=APPFLOW_BUILD_COMMIT={}", commit());
    println!("cargo:rustc-env=APPFLOW_BUILD_DATE={}", date());
}

fn commit() -> String {
    if let Some(commit) = std::env::var("APPFLOW_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
    {
        return commit;
    }
    Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn date() -> String {
    let at = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|seconds| Timestamp::from_second(seconds).ok())
        .unwrap_or_else(Timestamp::now);
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}
