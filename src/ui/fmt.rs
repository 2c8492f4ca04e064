//! Numbers as the status line and header write them.

/// `0.001`, `2`, `0.5`: a speed without trailing zeros.
pub fn fmt_speed(speed: f64) -> String {
    let text = format!("{speed:.5}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `250ms`, `2s`.
pub fn fmt_ms(ms: u64) -> String {
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}
