//! Errors on one line.

/// Shows an error and its causes on one line, `error: cause: cause`, for
/// logs (the binary prints errors the same way).
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
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
    }
}
