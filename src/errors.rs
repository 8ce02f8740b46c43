//! How errors reach the user: one line, each cause once (the `facetrack` binary and the
//! trainer print theirs so).

/// An error and its causes on one line, each cause once: a library error that already
/// shows its cause's text (`"{path}: {source}"`) is not followed by that text again.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let m = c.to_string();
        if !m.is_empty() && !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        cause = c.source();
    }
    out
}

/// The error of a command that stopped at the user's Ctrl-C before its end with nothing
/// to keep (`facetrack eval`: no report is written); the binary exits with 130 for it.
#[derive(Debug, thiserror::Error)]
#[error("interrupted: {0}")]
pub struct Interrupted(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(String, Option<std::io::Error>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for Wrap {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_ref().map(|e| e as _)
        }
    }

    #[test]
    fn each_cause_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        // a message that already shows its cause is not followed by it again
        assert_eq!(
            error_chain(&Wrap("a.pts: no such file".into(), Some(io()))),
            "a.pts: no such file"
        );
        // one that does not is
        assert_eq!(
            error_chain(&Wrap("reading a.pts".into(), Some(io()))),
            "reading a.pts: no such file"
        );
    }
}
