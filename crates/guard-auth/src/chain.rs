//! Errors on one line.

/// Shows an error and its causes on one line, `error: cause: cause`, for
/// logs and for the binary's last word. A cause that spans several lines
/// (a parser's snippet of the input) contributes its first line only.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first_line = |e: &dyn std::error::Error| {
            let text = e.to_string();
            text.lines()
                .next()
                .unwrap_or_default()
                .trim_end()
                .to_owned()
        };
        f.write_str(&first_line(self.0))?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {}", first_line(cause))?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_lists_every_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot load the token file")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("permission denied"));
        assert_eq!(
            ErrorChain(&e).to_string(),
            "cannot load the token file: permission denied"
        );
        let e = Outer(std::io::Error::other("line 1: bad\n  | snippet"));
        assert_eq!(
            ErrorChain(&e).to_string(),
            "cannot load the token file: line 1: bad"
        );
    }
}
