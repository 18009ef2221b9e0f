//! Records the git commit the binary is built from, for the lab's run records.
use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .is_some_and(|o| o.status.success() && !o.stdout.is_empty());
    if let Some(commit) = commit {
        let suffix = if dirty { "-dirty" } else { "" };
        println!("cargo:rustc-env=IOMUX_GIT_COMMIT={commit}{suffix}");
    }
    // Run again when HEAD moves (a commit, a checkout), when something is staged, and when a
    // source the binary is built from changes: an edit that is not staged yet touches neither
    // HEAD nor the index, and a binary built from it must still say "-dirty" (run records and
    // calibration trust this mark). Each crate's `src` and manifest, not whole crate folders:
    // tests and Python caches change without changing the binary.
    for path in [
        "../../.git/HEAD",
        "../../.git/index",
        "../../Cargo.toml",
        "../../Cargo.lock",
    ] {
        watch(Path::new(path));
    }
    if let Ok(crates) = std::fs::read_dir("..") {
        for krate in crates.flatten() {
            watch(&krate.path().join("src"));
            watch(&krate.path().join("Cargo.toml"));
        }
    }
}

/// Asks cargo to run this script again when `path` (a file, or any file under a folder)
/// changes, if it exists.
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
