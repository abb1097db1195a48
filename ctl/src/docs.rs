//! Shell completions (clap_complete) and man pages (clap_mangen), generated
//! from the command-line definition so they never drift from it.

use super::cli::{Cli, CompletionsArgs, ManpageArgs, ShellKind};
use anyhow::Context as _;
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::Path;
use std::process::ExitCode;

/// Runs `rosterctl completions SHELL`.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let shell = match args.shell {
        ShellKind::Bash => Shell::Bash,
        ShellKind::Zsh => Shell::Zsh,
        ShellKind::Fish => Shell::Fish,
    };
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "rosterctl", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Runs `rosterctl manpage [--dir DIR]`.
pub fn manpage(args: &ManpageArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    cmd.build();
    match &args.dir {
        None => {
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let mut written = Vec::new();
            write_pages(&cmd, "rosterctl", dir, &mut written)?;
            for w in written {
                println!("{w}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `NAME.1` for `cmd` and `NAME-SUB.1` for each subcommand, recursively.
fn write_pages(
    cmd: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut Vec<String>,
) -> anyhow::Result<()> {
    // clap wants a 'static name; a few bytes per page for the process's life.
    let static_name: &'static str = Box::leak(name.to_string().into_boxed_str());
    let page = cmd.clone().name(static_name);
    let mut buf = Vec::new();
    clap_mangen::Man::new(page).render(&mut buf)?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path.display().to_string());
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_command() {
        let d = tempfile::tempdir().unwrap();
        let mut cmd = Cli::command();
        cmd.build();
        let mut written = Vec::new();
        write_pages(&cmd, "rosterctl", d.path(), &mut written).unwrap();
        for page in [
            "rosterctl.1",
            "rosterctl-test.1",
            "rosterctl-cache-flush.1",
            "rosterctl-domain-remove.1",
        ] {
            let text = std::fs::read_to_string(d.path().join(page)).unwrap();
            assert!(text.contains(".TH"), "{page}: {text}");
        }
        let flush = std::fs::read_to_string(d.path().join("rosterctl-cache-flush.1")).unwrap();
        assert!(
            flush.contains("\\-\\-all") || flush.contains("--all"),
            "{flush}"
        );
    }
}
