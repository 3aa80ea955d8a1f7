//! `cargo xtask codegen [--check]`: files generated from the code.
//!
//! * docs/cli.md, the CLI reference: every command's `--help`, rendered
//!   from the clap definitions the binary parses (`guard::cli`), so it
//!   cannot drift from them. `--check` fails when the file is stale
//!   (`cargo xtask ci` runs it).

use anyhow::{Context, bail};
use clap::CommandFactory;

/// The reference's path below the workspace root.
const CLI_MD: &str = "docs/cli.md";
/// The width help is wrapped at (the binary's `max_term_width`).
const WIDTH: usize = 100;

/// `cargo xtask codegen [--check]`
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        other => bail!("usage: cargo xtask codegen [--check] (got {other:?})"),
    };
    let path = crate::workspace_root().join(CLI_MD);
    let generated = cli_reference();
    if check {
        let current = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if current != generated {
            bail!("{CLI_MD} is stale: run `cargo xtask codegen` and commit the result");
        }
        eprintln!("{CLI_MD} is up to date");
    } else {
        std::fs::write(&path, generated)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {CLI_MD}");
    }
    Ok(())
}

/// docs/cli.md: a section per command, in the order `guard --help` lists
/// them, each with its long help.
pub fn cli_reference() -> String {
    let mut root = guard::cli::Cli::command().term_width(WIDTH);
    root.build();
    let mut out = String::from(
        "# CLI reference\n\nGenerated from the command-line definitions by `cargo xtask codegen`; \
         `guard <command> --help` prints the same.\n",
    );
    section(&mut out, &root, "guard");
    out
}

fn section(out: &mut String, command: &clap::Command, path: &str) {
    let help = command
        .clone()
        .term_width(WIDTH)
        .render_long_help()
        .to_string();
    out.push_str(&format!(
        "\n## {path}\n\n```text\n{}\n```\n",
        help.trim_end()
    ));
    for sub in command.get_subcommands() {
        if sub.get_name() == "help" || sub.is_hide_set() {
            continue;
        }
        section(out, sub, &format!("{path} {}", sub.get_name()));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_command_has_a_section() {
        let md = super::cli_reference();
        for command in [
            "## guard\n",
            "## guard init ca\n",
            "## guard get installer\n",
            "## guard get token\n",
            "## guard run\n",
            "## guard login\n",
        ] {
            assert!(md.contains(command), "{command:?} missing");
        }
        assert!(
            md.contains("--ldap.server-address"),
            "provider flags missing"
        );
        assert!(!md.contains("\u{1b}["), "no terminal escapes");
    }
}
