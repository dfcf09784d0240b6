//! Small helpers for error messages shared by modules that talk to remote peers.

/// An error with all its sources ("client error (Connect): tcp connect error: Connection
/// refused"): transport errors hide the useful part in their sources.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
