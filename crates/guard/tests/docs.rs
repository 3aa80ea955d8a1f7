//! Docs that run: every shell block of README.md and docs/**/*.md is executed
//! against the real `guard` binary, so that a doc change that breaks a
//! command fails `cargo xtask ci`.
//!
//! Each Markdown file runs in its own scratch directory: a fresh `HOME`
//! (so `~/.guard` and `~/.kube/config` are the test's own), the working
//! directory `HOME/work`, `PATH` = the `guard` just built, the test venv's
//! kubectl, and the system's tools; nothing else from the caller's
//! environment. Its blocks run in order, each with `bash -e -o pipefail`;
//! what a block exports (and where it `cd`s) the next one sees, as in one
//! terminal session.
//!
//! What a fence's info string means:
//!
//! * `sh`, `bash`, `shell`: run; the block must exit 0.
//! * `console`: `$ COMMAND` lines, each followed by the output it shows
//!   (standard output and error); the command must exit 0 and print that.
//! * anything else (`yaml`, `text`, `rust`, none): not a command; not run.
//!
//! An HTML comment on the line right before a fence changes that:
//!
//! * `<!-- docs-test: skip: REASON -->`: not run (a cluster, a browser, the
//!   internet, root on a control-plane node); the test prints the block's
//!   place, its first command and the reason. Never silent.
//! * `<!-- docs-test: server -->`: the block is one command that starts a
//!   server (`guard run`). It runs in a private network namespace (`unshare -rn`, so its fixed
//!   port is free), must log `listening on` within the deadline, and must
//!   exit 0 on SIGTERM.
//! * `<!-- docs-test: output of COMMAND -->`: the block (any info string)
//!   is the standard output of COMMAND, which is run at that point.
//!
//! and a comment of its own, invisible on the page, runs setup the reader
//! already has (the PKI of the install guide, a file the page assumes):
//!
//! ```text
//! <!-- docs-test: setup
//! guard init ca
//! -->
//! ```
//!
//! Shown output is compared with snapbox: `[..]` matches any text within a
//! line, a line `...` any number of lines, and `[HOME]` the scratch home
//! (for paths, times and keys). A `docs-test:` comment that is not right
//! before a fence, or that the test does not know, is an error.
#![allow(clippy::unwrap_used)]

mod common;

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::require::{self, Peer};

/// How long one block may run (the debug build of guard is slow to start
/// RSA key generation).
const BLOCK_DEADLINE: Duration = Duration::from_secs(120);

/// What the harness does with a fenced block.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Run it as a script; it must exit 0.
    Run,
    /// `$ COMMAND` lines with their output.
    Console,
    /// Hidden setup (a `docs-test: setup` comment).
    Setup,
    /// Not run, for this reason.
    Skip(String),
    /// Start it as a server, wait until it listens, stop it.
    Server,
    /// The block is the standard output of this command.
    OutputOf(String),
    /// Not a command.
    Ignore,
}

/// A fenced block (or a setup comment) of a Markdown file.
#[derive(Debug, Clone)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    action: Action,
    body: String,
}

impl Block {
    /// The first command of the block, for messages.
    fn first_command(&self) -> String {
        let text = match &self.action {
            Action::OutputOf(command) => command.as_str(),
            _ => self
                .body
                .lines()
                .map(|l| l.trim().trim_start_matches("$ "))
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .unwrap_or(""),
        };
        text.to_owned()
    }
}

const MARK: &str = "<!-- docs-test:";

/// Parses the blocks of a Markdown file; errors name the line.
fn parse(markdown: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut blocks = Vec::new();
    let mut pending: Option<(usize, Action)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(MARK) {
            if let Some((at, _)) = pending {
                return Err(format!(
                    "line {}: the docs-test comment of line {at} is not followed by a fence",
                    i + 1
                ));
            }
            let rest = rest.trim();
            if let Some(setup) = rest.strip_prefix("setup") {
                let mut body = String::new();
                let first = setup.trim();
                if !first.is_empty() && first != "-->" {
                    return Err(format!(
                        "line {}: a setup comment holds its commands on the lines below it",
                        i + 1
                    ));
                }
                let start = i + 1;
                if first != "-->" {
                    i += 1;
                    while i < lines.len() && lines[i].trim() != "-->" {
                        body.push_str(lines[i]);
                        body.push('\n');
                        i += 1;
                    }
                    if i == lines.len() {
                        return Err(format!("line {start}: setup comment without `-->`"));
                    }
                }
                blocks.push(Block {
                    line: start,
                    action: Action::Setup,
                    body,
                });
                i += 1;
                continue;
            }
            let directive = rest
                .strip_suffix("-->")
                .ok_or_else(|| format!("line {}: a docs-test comment ends on its line", i + 1))?
                .trim();
            let action = if let Some(reason) = directive.strip_prefix("skip:") {
                let reason = reason.trim();
                if reason.is_empty() {
                    return Err(format!("line {}: skip without a reason", i + 1));
                }
                Action::Skip(reason.to_owned())
            } else if directive == "server" {
                Action::Server
            } else if let Some(command) = directive.strip_prefix("output of ") {
                Action::OutputOf(command.trim().to_owned())
            } else {
                return Err(format!(
                    "line {}: unknown docs-test comment {directive:?} (skip: REASON, server, output of COMMAND, setup)",
                    i + 1
                ));
            };
            pending = Some((i + 1, action));
            i += 1;
            continue;
        }
        if let Some(info) = trimmed.strip_prefix("```") {
            let fence_line = i + 1;
            let info = info.split_whitespace().next().unwrap_or("").to_owned();
            let mut body = String::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                body.push_str(lines[i]);
                body.push('\n');
                i += 1;
            }
            if i == lines.len() {
                return Err(format!("line {fence_line}: fence never closed"));
            }
            let runnable = matches!(info.as_str(), "sh" | "bash" | "shell");
            let action = match pending.take() {
                Some((_, Action::OutputOf(command))) => Action::OutputOf(command),
                Some((at, action @ (Action::Skip(_) | Action::Server))) => {
                    if !runnable && info != "console" {
                        return Err(format!(
                            "line {at}: {action:?} on a block that is not run (```{info})"
                        ));
                    }
                    action
                }
                Some((at, other)) => return Err(format!("line {at}: unexpected {other:?}")),
                None if runnable => Action::Run,
                None if info == "console" => Action::Console,
                None => Action::Ignore,
            };
            blocks.push(Block {
                line: fence_line,
                action,
                body,
            });
            i += 1;
            continue;
        }
        if let Some((at, _)) = pending {
            return Err(format!(
                "line {at}: a docs-test comment must be right before a fence"
            ));
        }
        i += 1;
    }
    if let Some((at, _)) = pending {
        return Err(format!(
            "line {at}: a docs-test comment must be right before a fence"
        ));
    }
    Ok(blocks)
}

/// The `$ COMMAND` lines of a console block with the output each shows.
fn console_steps(body: &str) -> Result<Vec<(String, String)>, String> {
    let mut steps: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        if let Some(command) = line.strip_prefix("$ ") {
            steps.push((command.to_owned(), String::new()));
        } else if let Some((_, output)) = steps.last_mut() {
            output.push_str(line);
            output.push('\n');
        } else {
            return Err(format!("output {line:?} before the first `$ ` command"));
        }
    }
    Ok(steps)
}

/// One Markdown file's scratch session.
struct Session {
    _dir: tempfile::TempDir,
    home: PathBuf,
    /// `export -p` and the working directory of the last block.
    state: PathBuf,
    path: String,
}

/// What a command did.
struct Ran {
    success: bool,
    status: String,
    stdout: String,
    stderr: String,
}

impl Session {
    fn new() -> Session {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("work")).unwrap();
        let state = dir.path().join("state.sh");
        std::fs::write(&state, format!("cd {}\n", shell_quote(&home.join("work")))).unwrap();
        let guard = Path::new(env!("CARGO_BIN_EXE_guard"));
        let mut path = vec![guard.parent().unwrap().to_path_buf()];
        match std::env::var_os("GUARD_TEST_KUBECTL") {
            Some(kubectl) => path.push(Path::new(&kubectl).parent().unwrap().to_path_buf()),
            None => path.push(require::venv_bin("kubectl").parent().unwrap().to_path_buf()),
        }
        path.extend(
            ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(PathBuf::from),
        );
        let path = std::env::join_paths(path).unwrap().into_string().unwrap();
        Session {
            _dir: dir,
            home,
            state,
            path,
        }
    }

    /// `bash` running `script` after the previous blocks' exports, saving
    /// its own for the next.
    fn command(&self, script: &str, namespace: bool) -> Command {
        let state = shell_quote(&self.state);
        let wrapped = format!(
            ". {state}\n\
             trap 'export -p > {state}; echo \"cd $(printf %q \"$PWD\")\" >> {state}' EXIT\n\
             set -e -o pipefail\n\
             {script}\n"
        );
        let mut command = if namespace {
            let mut c = Command::new("unshare");
            c.args(["-rn", "bash", "--noprofile", "--norc", "-c", &wrapped]);
            c
        } else {
            let mut c = Command::new("bash");
            c.args(["--noprofile", "--norc", "-c", &wrapped]);
            c
        };
        command
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", &self.path)
            .env("LANG", "C.UTF-8")
            .env("TERM", "dumb")
            .stdin(Stdio::null());
        command
    }

    /// Runs `script` to the end (or the deadline).
    fn run(&self, script: &str) -> Ran {
        let out = tempfile::tempdir().unwrap();
        let (stdout, stderr) = (out.path().join("stdout"), out.path().join("stderr"));
        let mut child = self
            .command(script, false)
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .process_group(0)
            .spawn()
            .unwrap();
        let status = wait_until(&mut child, Instant::now() + BLOCK_DEADLINE, || false);
        let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
        Ran {
            success: status.as_ref().is_some_and(|s| s.success()),
            status: match status {
                Some(s) => s.to_string(),
                None => format!("still running after {BLOCK_DEADLINE:?}: stopped"),
            },
            stdout: read(&stdout),
            stderr: read(&stderr),
        }
    }

    /// Starts `script` as a server in a private network namespace, waits
    /// for `listening on`, stops it with SIGTERM. `Err` says what went wrong.
    fn serve(&self, script: &str) -> Result<String, String> {
        let out = tempfile::tempdir().unwrap();
        let log = out.path().join("log");
        let file = std::fs::File::create(&log).unwrap();
        // bash (which `unshare` becomes) runs the block's one command in the
        // background and hands SIGTERM on to it, so the exit status is the
        // server's.
        let script = format!(
            "{{ exec {}\n}} &\nserver=$!\ntrap 'kill -TERM $server; wait $server; exit $?' TERM\nwait $server\n",
            script.trim_start()
        );
        let mut child = self
            .command(&script, true)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .process_group(0)
            .spawn()
            .unwrap();
        let listening =
            || std::fs::read_to_string(&log).is_ok_and(|l| l.contains(" listening on "));
        let deadline = Instant::now() + BLOCK_DEADLINE;
        let early = wait_until(&mut child, deadline, listening);
        let text = || std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(status) = early {
            return Err(format!("exited ({status}) without listening:\n{}", text()));
        }
        if !listening() {
            return Err(format!(
                "did not listen within {BLOCK_DEADLINE:?}:\n{}",
                text()
            ));
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        match wait_until(&mut child, Instant::now() + BLOCK_DEADLINE, || false) {
            Some(status) if status.success() => Ok(text()),
            Some(status) => Err(format!("exited {status} on SIGTERM:\n{}", text())),
            None => Err(format!("did not stop on SIGTERM:\n{}", text())),
        }
    }
}

/// Waits for `child` to exit (its status) or `ready()` (None), up to
/// `deadline` (then the process group is killed and None returned).
fn wait_until(
    child: &mut Child,
    deadline: Instant,
    ready: impl Fn() -> bool,
) -> Option<std::process::ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if ready() {
            return None;
        }
        if Instant::now() > deadline {
            signal_group(child, "KILL");
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal_group(child: &Child, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{}", child.id())])
        .status();
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// `expected` (with snapbox's wildcards and `[HOME]`) against `actual`.
fn compare(session: &Session, actual: &str, expected: &str) -> Result<(), String> {
    let mut redactions = snapbox::Redactions::new();
    redactions
        .insert("[HOME]", session.home.display().to_string())
        .unwrap();
    snapbox::Assert::new()
        .normalize_paths(false)
        .redact_with(redactions)
        .try_eq(
            Some(&"actual"),
            snapbox::Data::text(actual),
            snapbox::Data::text(expected),
        )
        .map_err(|e| format!("{e}\n--- shown\n{expected}--- printed\n{actual}"))
}

/// What running a file's blocks found.
#[derive(Default)]
struct Report {
    run: usize,
    skipped: Vec<String>,
    failures: Vec<String>,
}

/// Runs the blocks of one Markdown file (`name` for messages).
fn run_file(name: &str, markdown: &str, report: &mut Report) {
    let blocks = match parse(markdown) {
        Ok(blocks) => blocks,
        Err(e) => {
            report.failures.push(format!("{name}: {e}"));
            return;
        }
    };
    if blocks.iter().all(|b| b.action == Action::Ignore) {
        return;
    }
    let session = Session::new();
    for block in &blocks {
        let place = format!("{name}:{} `{}`", block.line, block.first_command());
        let fail =
            |report: &mut Report, what: String| report.failures.push(format!("{place}: {what}"));
        let script = match &block.action {
            Action::Ignore => continue,
            Action::Skip(reason) => {
                report.skipped.push(format!("{place}: {reason}"));
                continue;
            }
            Action::Console => None,
            Action::OutputOf(command) => Some(command.clone()),
            Action::Run | Action::Setup | Action::Server => Some(block.body.clone()),
        };
        if script.as_deref().unwrap_or(&block.body).contains("kubectl")
            && require::missing(&[Peer::Kubectl])
        {
            report.skipped.push(format!("{place}: kubectl is missing"));
            continue;
        }
        report.run += 1;
        match &block.action {
            Action::Server => {
                if unshare_missing() {
                    report.skipped.push(format!(
                        "{place}: `unshare -rn` (a private network) does not work here"
                    ));
                    continue;
                }
                match session.serve(&block.body) {
                    Ok(log) => common::secrets::assert_clean(&place, &log),
                    Err(e) => fail(report, e),
                }
            }
            Action::Console => match console_steps(&block.body) {
                Err(e) => fail(report, e),
                Ok(steps) => {
                    for (command, expected) in steps {
                        let ran = session.run(&format!("{{ {command}\n}} 2>&1"));
                        let shown = format!("{}{}", ran.stdout, ran.stderr);
                        if !ran.success {
                            fail(
                                report,
                                format!("`{command}` failed ({}):\n{shown}", ran.status),
                            );
                            break;
                        }
                        if let Err(diff) = compare(&session, &shown, &expected) {
                            fail(
                                report,
                                format!("`{command}` printed other than shown:\n{diff}"),
                            );
                        }
                    }
                }
            },
            Action::OutputOf(command) => {
                let ran = session.run(command);
                if !ran.success {
                    fail(
                        report,
                        format!("failed ({}):\n{}{}", ran.status, ran.stdout, ran.stderr),
                    );
                } else if let Err(diff) = compare(&session, &ran.stdout, &block.body) {
                    fail(
                        report,
                        format!("printed other than the block shows:\n{diff}"),
                    );
                }
            }
            _ => {
                let ran = session.run(&block.body);
                if !ran.success {
                    fail(
                        report,
                        format!(
                            "failed ({}):\n--- stdout\n{}--- stderr\n{}",
                            ran.status, ran.stdout, ran.stderr
                        ),
                    );
                }
            }
        }
    }
}

/// Whether `unshare -rn` cannot make a private network here (printed, or
/// a failure where peers are required).
fn unshare_missing() -> bool {
    static WORKS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let works = *WORKS.get_or_init(|| {
        Command::new("unshare")
            .args(["-rn", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let required =
        std::env::var_os("GUARD_TEST_REQUIRE_PEERS").is_some_and(|v| !v.is_empty() && v != "0");
    assert!(
        works || !required,
        "`unshare -rn` does not work here (util-linux, unprivileged user namespaces), and GUARD_TEST_REQUIRE_PEERS is set"
    );
    !works
}

/// README.md and every Markdown file under docs/, sorted.
fn markdown_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![root.join("README.md")];
    let mut dirs = vec![root.join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files[1..].sort();
    files
}

fn relative(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Prints past the harness's capture, so skips always show.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

fn summary(report: &Report) -> String {
    let mut text = String::new();
    for skip in &report.skipped {
        writeln!(text, "SKIPPED {skip}").unwrap();
    }
    write!(
        text,
        "docs: {} blocks run, {} skipped, {} failed",
        report.run,
        report.skipped.len(),
        report.failures.len()
    )
    .unwrap();
    text
}

#[test]
fn every_command_in_the_docs_runs() {
    let mut report = Report::default();
    for file in markdown_files() {
        let markdown = std::fs::read_to_string(&file).unwrap();
        run_file(&relative(&file), &markdown, &mut report);
    }
    say(&summary(&report));
    assert!(report.run > 0, "no block ran");
    assert!(
        report.failures.is_empty(),
        "{} doc block(s) fail:\n\n{}",
        report.failures.len(),
        report.failures.join("\n\n")
    );
}

/// The harness itself: a broken command, a wrong shown output, a misplaced
/// or unknown marker all fail; a skip is reported with its reason.
#[test]
fn a_broken_doc_fails_and_a_skip_is_named() {
    let doc = "\
<!-- docs-test: setup
guard init ca
-->

```sh
export NAME=acme
guard init client \"$NAME\" -o github
```

```console
$ ls ~/.guard/pki
acme@github.crt
acme@github.key
ca.crt
ca.key
$ echo $HOME/x
[HOME]/x
```

<!-- docs-test: output of guard init client -o ldap --force -->
```text
Wrote client certificates in [..]
```

<!-- docs-test: skip: needs a cluster -->
```sh
kubectl apply -f installer.yaml
```
";
    let mut good = Report::default();
    run_file("good.md", doc, &mut good);
    assert!(good.failures.is_empty(), "{:?}", good.failures);
    assert_eq!(good.run, 4);
    assert_eq!(
        good.skipped,
        ["good.md:26 `kubectl apply -f installer.yaml`: needs a cluster"]
    );

    // A flag that does not exist: the block fails, with guard's error.
    let mut bad = Report::default();
    run_file(
        "bad.md",
        &doc.replace("-o github", "--organisation github"),
        &mut bad,
    );
    assert_eq!(bad.failures.len(), 2, "{:?}", bad.failures);
    assert!(
        bad.failures[0].starts_with("bad.md:5 `export NAME=acme`: failed"),
        "{}",
        bad.failures[0]
    );
    assert!(
        bad.failures[0].contains("--organisation"),
        "{}",
        bad.failures[0]
    );
    // ... and so does the listing that expected its files.
    assert!(
        bad.failures[1].contains("printed other than shown"),
        "{}",
        bad.failures[1]
    );

    // Shown output that the command does not print.
    let mut wrong = Report::default();
    run_file(
        "wrong.md",
        &doc.replace("Wrote client", "Made client"),
        &mut wrong,
    );
    assert_eq!(wrong.failures.len(), 1, "{:?}", wrong.failures);
    assert!(
        wrong.failures[0].contains("Made client"),
        "{}",
        wrong.failures[0]
    );

    for (broken, message) in [
        (
            "<!-- docs-test: skip -->\n```sh\ntrue\n```\n",
            "unknown docs-test comment",
        ),
        (
            "<!-- docs-test: skip: -->\n```sh\ntrue\n```\n",
            "skip without a reason",
        ),
        (
            "<!-- docs-test: skip: x -->\n\n```sh\ntrue\n```\n",
            "right before a fence",
        ),
        (
            "<!-- docs-test: server -->\n```yaml\na: 1\n```\n",
            "not run",
        ),
    ] {
        let mut report = Report::default();
        run_file("marker.md", broken, &mut report);
        assert_eq!(report.failures.len(), 1, "{broken}");
        assert!(
            report.failures[0].contains(message),
            "{}",
            report.failures[0]
        );
    }
}
