//! Measures loading a large token file: `cargo xtask bench` runs it in
//! release mode. Usage: `token_file_load [LINES]` (default 1,000,000).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::time::Instant;

use guard_providers::token_auth::TokenFile;

fn main() {
    let lines: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |n| n.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..lines {
        writeln!(
            out,
            "token-{i:016x}-{:016x},user{},{},\"group-{},everyone\"",
            i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            i % 50_000,
            i % 50_000,
            i % 100
        )
        .unwrap();
    }
    out.flush().unwrap();
    drop(out);
    let bytes = std::fs::metadata(&path).unwrap().len();
    let rss_before = rss_kib("VmRSS");

    let started = Instant::now();
    let file = TokenFile::load(&path).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(file.len(), lines);
    let probe = format!(
        "token-{:016x}-{:016x}",
        lines / 2,
        (lines / 2).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    );
    assert!(file.lookup(&probe).is_some());

    println!(
        "token file: {lines} lines, {:.1} MiB, loaded in {:.0} ms; resident memory +{:.0} MiB (peak {:.0} MiB)",
        bytes as f64 / (1 << 20) as f64,
        elapsed.as_secs_f64() * 1000.0,
        (rss_kib("VmRSS") - rss_before) as f64 / 1024.0,
        rss_kib("VmHWM") as f64 / 1024.0,
    );
}

/// A field of /proc/self/status, in KiB.
fn rss_kib(field: &str) -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')?
                .trim()
                .strip_suffix(" kB")?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}
