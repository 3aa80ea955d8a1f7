//! Asking the user: before replacing files, and for a password.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use guard_pki::Overwrite;
use secrecy::SecretString;

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

/// Reads a password: on a terminal, with echo off from before the prompt
/// is shown (so nothing typed is ever echoed); otherwise the first line of
/// standard input.
pub fn read_password(prompt: &str) -> anyhow::Result<SecretString> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        return Ok(SecretString::from(
            line.trim_end_matches(['\n', '\r']).to_owned(),
        ));
    }
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context("cannot open the terminal to ask for the password")?;
    let saved = tcgetattr(&tty).context("cannot read the terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(&tty, OptionalActions::Now, &quiet).context("cannot turn off the echo")?;
    let read = (|| -> std::io::Result<String> {
        (&tty).write_all(prompt.as_bytes())?;
        (&tty).flush()?;
        let mut line = String::new();
        std::io::BufReader::new(&tty).read_line(&mut line)?;
        Ok(line)
    })();
    let restored = tcsetattr(&tty, OptionalActions::Now, &saved);
    let line = read.context("cannot read the password")?;
    restored.context("cannot restore the terminal settings")?;
    Ok(SecretString::from(
        line.trim_end_matches(['\n', '\r']).to_owned(),
    ))
}
