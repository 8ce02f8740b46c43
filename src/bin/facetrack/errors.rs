//! How errors reach the user: one line, each cause once.

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
