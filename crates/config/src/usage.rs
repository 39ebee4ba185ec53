//! The error for bad input from the user: one line, exit code 2, nothing opened or written.

/// Bad input from the user: reported in one line with exit code 2, before anything is written.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}
