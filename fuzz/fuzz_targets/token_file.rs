//! The static token file (`--token-auth-file`): CSV the operator writes, or
//! a broken one. A file that parses must answer lookups for its own tokens.
#![no_main]

use guard_providers::token_auth::TokenFile;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(file) = TokenFile::parse(data) {
        for line in data.split(|b| *b == b'\n') {
            if let Some(token) = line.split(|b| *b == b',').next() {
                let _ = file.lookup(&String::from_utf8_lossy(token));
            }
        }
    }
});
