//! Installed like a real tool: `./capcom.sh install` into a fresh home, the completions
//! and the man page the binary generates, and the systemd user unit checked by systemd.
//!
//! The unit check needs `systemd-analyze`, the man page check `groff`; without them those
//! parts skip through `tests/common/skip.rs`, which fails them under CI.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_capcom");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

#[path = "common/skip.rs"]
mod skip;

/// True when `bin` is there; otherwise that part of the test skips (a failure under CI).
fn tool(bin: &str, package: &str) -> bool {
    skip::programs(&[bin], &format!("./capcom.sh test installs {package}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `./capcom.sh install` with `home` as HOME and `path` as PATH (no XDG folders of the user's).
fn install(home: &Path, path: &str) -> Output {
    Command::new("bash")
        .arg(Path::new(REPO).join("capcom.sh"))
        .arg("install")
        .env_clear()
        .env("HOME", home)
        .env("PATH", path)
        .env("CAPCOM_BIN", BIN)
        .output()
        .unwrap()
}

#[test]
fn capcom_sh_install_puts_capcom_on_path_with_completions_man_page_unit_and_desktop_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let system_path = std::env::var("PATH").unwrap_or_default();

    let out = install(&home, &system_path);
    let (said, warned) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}\n{warned}");
    let bin = home.join(".local/bin/capcom");
    assert!(said.contains(&format!("installed {}", bin.display())), "says where: {said}");
    assert!(warned.contains(".local/bin is not on your PATH"), "warns about PATH: {warned}");
    assert_eq!(std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777, 0o755);

    let exec = format!("Exec={} daemon", bin.display());
    let files: [(PathBuf, &str); 6] = [
        (home.join(".local/share/bash-completion/completions/capcom"), "_capcom"),
        (home.join(".local/share/zsh/site-functions/_capcom"), "#compdef capcom"),
        (home.join(".config/fish/completions/capcom.fish"), "complete -c capcom"),
        (home.join(".local/share/man/man1/capcom.1"), ".TH capcom 1"),
        (home.join(".config/systemd/user/capcom.service"), "Restart=on-failure"),
        (home.join(".local/share/applications/capcom.desktop"), &exec),
    ];
    for (file, marker) in &files {
        let body = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}\n{said}", file.display()));
        assert!(body.contains(marker), "{} lacks {marker:?}", file.display());
    }
    assert!(!home.join(".config/autostart/capcom.desktop").exists(), "autostart stays off until asked");

    // with ~/.local/bin on PATH: no warning, and `capcom` is the installed one
    let path = format!("{}:{system_path}", home.join(".local/bin").display());
    let out = install(&home, &path);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("not on your PATH"), "{}", text(&out.stderr));
    let out = Command::new("capcom").arg("--version").env("PATH", &path).output().unwrap();
    assert!(out.status.success());
    assert!(text(&out.stdout).starts_with("capcom "), "{}", text(&out.stdout));

    // bash loads the completion and completes subcommands
    let script = home.join(".local/share/bash-completion/completions/capcom");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p capcom && COMP_WORDS=(capcom li) COMP_CWORD=1 COMP_LINE='capcom li' COMP_POINT=9 ; _capcom capcom li capcom; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = text(&out.stdout);
    assert!(got.contains("-F _capcom") && got.lines().any(|l| l == "listen"), "{got}");
}

#[test]
fn the_completion_scripts_and_the_man_page_cover_every_command() {
    for (shell, marker) in [("bash", "_capcom()"), ("zsh", "#compdef capcom"), ("fish", "complete -c capcom")] {
        let out = Command::new(BIN).args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let s = text(&out.stdout);
        assert!(s.contains(marker), "{shell}");
        for word in ["daemon", "brief", "listen", "--pause", "--resume", "completions", "man"] {
            // fish names long options as `-l pause`
            let fish_form = word.strip_prefix("--").map(|w| format!("-l {w}"));
            assert!(s.contains(word) || (shell == "fish" && fish_form.is_some_and(|f| s.contains(&f))), "{shell} completion lacks {word}");
        }
    }
    let out = Command::new(BIN).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an unknown shell is a usage error: {}", text(&out.stderr));

    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN).args(["man", "--out"]).arg(tmp.path()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(tmp.path().join("capcom.1")).unwrap();
    assert!(page.contains(".TH capcom 1"));
    // the same page on stdout
    let out = Command::new(BIN).arg("man").output().unwrap();
    assert_eq!(text(&out.stdout), page);
    if tool("groff", "groff-base") {
        let out = Command::new("groff").args(["-man", "-Tutf8", "-ww", "-P-bcu"]).arg(tmp.path().join("capcom.1")).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stderr).trim().is_empty(), "groff warns: {}", text(&out.stderr));
        let rendered = text(&out.stdout);
        for word in ["NAME", "SYNOPSIS", "capcom", "listen", "dispatch for a fleet of coding agents"] {
            assert!(rendered.contains(word), "the rendered page lacks {word}:\n{rendered}");
        }
    }
}

#[test]
fn the_systemd_user_unit_passes_systemd_analyze_verify() {
    let unit = Path::new(REPO).join("config/capcom.service");
    let body = std::fs::read_to_string(&unit).unwrap();
    for line in ["ExecStart=%h/.local/bin/capcom daemon", "Restart=on-failure", "WantedBy=graphical-session.target"] {
        assert!(body.lines().any(|l| l == line), "the unit lacks {line}");
    }
    let desktop = std::fs::read_to_string(Path::new(REPO).join("config/capcom.desktop")).unwrap();
    assert!(desktop.starts_with("[Desktop Entry]\n"));
    for line in ["Type=Application", "Name=capcom", "Exec=capcom daemon", "Terminal=false"] {
        assert!(desktop.lines().any(|l| l == line), "the desktop entry lacks {line}");
    }
    if !tool("systemd-analyze", "systemd") {
        return;
    }
    // systemd checks that ExecStart= is executable and that `man capcom` finds the page
    let tmp = tempfile::tempdir().unwrap();
    let (home, run, man) = (tmp.path().join("home"), tmp.path().join("run"), tmp.path().join("man"));
    std::fs::create_dir_all(home.join(".local/bin")).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(BIN, home.join(".local/bin/capcom")).unwrap();
    let out = Command::new(BIN).args(["man", "--out"]).arg(man.join("man1")).output().unwrap();
    assert!(out.status.success());
    let verify = |unit: &Path| {
        Command::new("systemd-analyze")
            .args(["verify", "--user"])
            .arg(unit)
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &run)
            .env("MANPATH", &man)
            .output()
            .unwrap()
    };
    let out = verify(&unit);
    assert!(out.status.success() && text(&out.stderr).trim().is_empty(), "systemd-analyze: {}{}", text(&out.stdout), text(&out.stderr));
    // and it does find faults: a misspelt key
    let bad = tmp.path().join("capcom.service");
    std::fs::write(&bad, body.replace("Restart=on-failure", "Restrat=on-failure")).unwrap();
    let out = verify(&bad);
    assert!(text(&out.stderr).contains("Unknown key"), "{}", text(&out.stderr));
}

/// The skip helper (tests/common/skip.rs), run in a child copy of this test binary: under CI a
/// skip fails the test and names what is missing and how it is installed; elsewhere the test
/// passes, and the skip is a line in the list `./capcom.sh test` prints.
#[test]
fn a_skip_fails_under_ci_and_is_listed_elsewhere() {
    if let Ok(what) = std::env::var("CAPCOM_SKIP_PROBE") {
        skip::skip(&what, "the probe's own install line");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let me = std::env::current_exe().unwrap();
    let probe = |ci: Option<&str>| {
        let mut c = Command::new(&me);
        c.args(["--exact", "a_skip_fails_under_ci_and_is_listed_elsewhere", "--test-threads", "2"])
            .env("CAPCOM_SKIP_PROBE", "frobnicator")
            .env("CARGO_TARGET_DIR", tmp.path())
            .env_remove("CI");
        if let Some(v) = ci {
            c.env("CI", v);
        }
        c.output().unwrap()
    };
    let list = tmp.path().join("test-skips.txt");
    for ci in ["true", "1", "yes"] {
        let out = probe(Some(ci));
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!out.status.success(), "CI={ci}: a skip passed:\n{all}");
        assert!(all.contains("missing frobnicator (the probe's own install line)"), "{all}");
        assert!(!list.exists(), "a skip under CI is a failure, not a list entry");
    }
    for ci in [None, Some(""), Some("false"), Some("0")] {
        let out = probe(ci);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "CI={ci:?}: {all}");
    }
    let listed = std::fs::read_to_string(&list).unwrap();
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 4, "{listed}");
    for l in lines {
        assert_eq!(l, "install::a_skip_fails_under_ci_and_is_listed_elsewhere: missing frobnicator (the probe's own install line)");
    }
}
