//! Build metadata for `--version`: the git commit and the build date.
//!
//! The date is `SOURCE_DATE_EPOCH` when set, else the commit's time, else now: a build of a
//! commit says the same date on every machine and architecture and is reproducible (the
//! reproducible-builds convention). The release scripts leave `SOURCE_DATE_EPOCH` unset for cargo
//! on purpose: cc-rs tracks it, so setting it per commit would recompile aws-lc's C sources for
//! every commit. `APPFLOW_BUILD_COMMIT` names the commit where there is no `.git` (a Docker
//! build context).

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
    git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".to_owned())
}

fn date() -> String {
    let at = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .or_else(|| git(&["log", "-1", "--format=%ct"]))
        .and_then(|s| s.trim().parse::<i64>().ok())
        .and_then(|seconds| Timestamp::from_second(seconds).ok())
        .unwrap_or_else(Timestamp::now);
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A git command's output in this checkout, trimmed; None outside one.
fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}
