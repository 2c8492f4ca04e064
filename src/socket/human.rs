//! Short human text for durations, shared by the printers and the TUI.

use std::time::Duration;

/// `850ms`, `12s`, `3m04s`, `2h03m`, `3d04h`.
pub fn age(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{}ms", d.as_millis()),
        1..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86400, secs % 86400 / 3600),
    }
}

/// An age that may have started before tcpscope was watching: `≥12s`.
pub fn age_at_least(d: Duration, entry_seen: bool) -> String {
    if entry_seen {
        age(d)
    } else {
        format!("≥{}", age(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(age(Duration::from_millis(850)), "850ms");
        assert_eq!(age(Duration::from_secs(12)), "12s");
        assert_eq!(age(Duration::from_secs(184)), "3m04s");
        assert_eq!(age(Duration::from_secs(7380)), "2h03m");
        assert_eq!(age(Duration::from_secs(3 * 86400 + 4 * 3600)), "3d04h");
        assert_eq!(age_at_least(Duration::from_secs(5), false), "≥5s");
    }
}
