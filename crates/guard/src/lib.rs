//! The `guard` command line as a library: its clap definitions ([`cli`]),
//! so that `cargo xtask codegen` writes docs/cli.md from the same
//! definitions the binary parses. The binary (`src/main.rs` and the
//! wiring modules next to it) turns parsed commands into calls of the
//! library crates.

pub mod cli;
