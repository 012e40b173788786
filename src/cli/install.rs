//! `capcom completions SHELL` and `capcom man`: generated from the command line's own
//! definition (clap), so they never drift from `--help`. `capcom.sh run` installs both.

use super::{Cli, exit};
use clap::CommandFactory;
use std::io::Write;
use std::path::Path;

/// Write the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> u8 {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "capcom", out);
    exit::OK
}

/// The man page (roff), capcom.1.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
    Ok(buf)
}

/// Write capcom.1 into `dir`, or to stdout without one.
pub fn man(dir: Option<&Path>) -> u8 {
    let page = match man_page() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("capcom: cannot render the man page: {e}");
            return exit::ERROR;
        }
    };
    match dir {
        None => match std::io::stdout().write_all(&page) {
            Ok(()) => exit::OK,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::OK,
            Err(e) => {
                eprintln!("capcom: cannot write the man page: {e}");
                exit::ERROR
            }
        },
        Some(dir) => {
            let file = dir.join("capcom.1");
            match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&file, &page)) {
                Ok(()) => {
                    println!("wrote {}", file.display());
                    exit::OK
                }
                Err(e) => {
                    eprintln!("capcom: cannot write {}: {e}", file.display());
                    exit::ERROR
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_that_names_the_subcommands() {
        for (shell, marker) in [
            (clap_complete::Shell::Bash, "complete -F"),
            (clap_complete::Shell::Zsh, "#compdef capcom"),
            (clap_complete::Shell::Fish, "complete -c capcom"),
        ] {
            let mut out = Vec::new();
            assert_eq!(completions(shell, &mut out), exit::OK);
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains(marker), "{shell}: {text:.200}");
            for sub in ["daemon", "brief", "listen", "completions", "man"] {
                assert!(text.contains(sub), "{shell} lacks {sub}");
            }
            assert!(text.contains("--pause"), "{shell} lacks listen --pause");
        }
    }

    #[test]
    fn the_man_page_is_roff_with_the_commands() {
        let page = String::from_utf8(man_page().unwrap()).unwrap();
        assert!(page.starts_with(".ie") || page.contains(".TH capcom"), "{page:.200}");
        assert!(page.contains(".TH capcom 1"), "{page:.300}");
        assert!(page.contains("capcom\\-daemon") || page.contains("daemon"));
        assert!(page.contains("SUBCOMMANDS"));
    }
}
