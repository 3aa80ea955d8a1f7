//! Asking before replacing files.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::bail;
use guard_pki::Overwrite;

/// Decides whether existing files may be replaced: `--force` says yes; on a
/// terminal the user is asked; otherwise the answer is no and the command
/// fails, naming the file and `--force`.
pub fn confirm_overwrite(existing: &[PathBuf], force: bool) -> anyhow::Result<Overwrite> {
    let Some(first) = existing.first() else {
        return Ok(Overwrite::Refuse);
    };
    if force {
        return Ok(Overwrite::Allow);
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "{} already exists; pass --force to replace it",
            first.display()
        );
    }
    let names: Vec<_> = existing.iter().map(|p| p.display().to_string()).collect();
    let verb = if names.len() == 1 { "exists" } else { "exist" };
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        eprint!("{} already {verb}. Overwrite? [y/N] ", names.join(" and "));
        std::io::stderr().flush()?;
        let answer = match lines.next() {
            Some(line) => line?,
            None => String::new(),
        };
        match answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => return Ok(Overwrite::Allow),
            "" | "n" | "no" => bail!("kept the existing files; nothing written"),
            _ => eprintln!("please answer y or n"),
        }
    }
}
