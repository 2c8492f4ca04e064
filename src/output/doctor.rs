//! `tcpscope doctor` printed: one line per feature, then its fix.

use crate::source::doctor::Check;
use std::io::{self, Write};

/// `yes`/`no`, the feature, what was found; a fix under each `no`.
pub fn text(checks: &[Check], who: &str, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "tcpscope doctor: what works for {who} on this machine")?;
    let width = checks.iter().map(|c| c.feature.len()).max().unwrap_or(0);
    for c in checks {
        let mark = if c.works { "yes" } else { "no " };
        writeln!(out, "{mark}  {:<width$}  {}", c.feature, c.detail)?;
        if let Some(fix) = &c.fix {
            writeln!(out, "     {:<width$}  fix: {fix}", "")?;
        }
    }
    Ok(())
}

/// The same as a JSON array, for scripts.
pub fn json(checks: &[Check], out: &mut impl Write) -> io::Result<()> {
    let rows: Vec<serde_json::Value> = checks
        .iter()
        .map(|c| {
            serde_json::json!({
                "feature": c.feature,
                "works": c.works,
                "detail": c.detail,
                "fix": c.fix,
            })
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &rows)?;
    writeln!(out)
}
