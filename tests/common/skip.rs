//! The one way a test skips: because something it needs from outside the crate (a program, the
//! speech model, root for a mount) is not on this machine.
//!
//! Under CI (the `CI` variable set, as GitHub Actions and `CI=true ./capcom.sh test` set it) a
//! skip is a failure: the test panics, naming what is missing and how `./capcom.sh test`
//! installs it, so a CI that lacks a tool cannot stay green. Elsewhere the test prints the
//! reason and appends a line to `target/test-skips.txt`; `./capcom.sh test` empties that list
//! first and prints it (or "0 skipped") at the end, since `cargo test` hides the output of a
//! test that passes.
//!
//! Included by path (`#[path = "common/skip.rs"] mod skip;`) in test binaries that do not use
//! `mod common`, so it depends on nothing else in `tests/common`.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

/// True under CI: `CI` set to anything but empty, `0` or `false`.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

/// True when `bin` is an executable file in a `PATH` directory.
pub fn on_path(bin: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| std::fs::metadata(d.join(bin)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
    })
}

/// The file the skips of this build are listed in: `$CARGO_TARGET_DIR/test-skips.txt`, else
/// `target/test-skips.txt` in the package (the same path `./capcom.sh test` reads).
pub fn list_path() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() { d } else { PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(d) }
        }
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
    }
    .join("test-skips.txt")
}

/// `binary::test`, from the test binary's file name (`voice_e2e-0123abcd`) and libtest's
/// thread name (the test's path; `main` when tests run on the main thread).
fn test_name() -> String {
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| match s.rsplit_once('-') {
            Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
            _ => s,
        })
        .unwrap_or_else(|| "?".into());
    let thread = std::thread::current();
    match thread.name() {
        Some(t) if t != "main" => format!("{bin}::{t}"),
        _ => bin,
    }
}

/// Skip the calling test because `missing` is not here; `install` says how `./capcom.sh test`
/// provides it. Panics under CI; otherwise prints and records the skip. The caller returns
/// right after.
pub fn skip(missing: &str, install: &str) {
    let line = format!("{}: missing {missing} ({install})", test_name());
    if under_ci() {
        panic!("CI is set and {line}; a test may not skip under CI");
    }
    eprintln!("\n!!!!! SKIPPED {line} !!!!!\n");
    let path = list_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // one short write per line with O_APPEND: lines from tests running side by side stay whole
    match std::fs::OpenOptions::new().create(true).append(true).open(&path) {
        Ok(mut f) => {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
        Err(e) => eprintln!("(could not add the skip to {}: {e})", path.display()),
    }
}

/// True when every program in `bins` is on `PATH`; otherwise skips (see [`skip`]) naming the
/// missing ones, and returns false.
pub fn programs(bins: &[&str], install: &str) -> bool {
    let missing: Vec<&str> = bins.iter().copied().filter(|b| !on_path(b)).collect();
    if missing.is_empty() {
        return true;
    }
    skip(&missing.join(", "), install);
    false
}

/// Skip the calling test because this machine cannot have what it needs, whatever is
/// installed: a kernel device such as `/dev/uinput`, which containers (CI's among them) lack
/// and no package provides. Not a failure under CI, since nothing could make it pass there;
/// listed apart from the skips (`./capcom.sh test` prints "not possible on this machine").
/// Only for what no install step can provide: a missing program goes through [`skip`].
pub fn impossible_here(missing: &str, why: &str) {
    let line = format!("IMPOSSIBLE {}: {missing} ({why})", test_name());
    eprintln!("\n!!!!! NOT RUN {line} !!!!!\n");
    let path = list_path();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(&path) {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}
