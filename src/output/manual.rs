//! Text about tcpscope itself, generated from its command line so it can
//! never disagree with it: shell completions and the manual page.

use crate::cli::Cli;
use clap::CommandFactory;
use std::io::Write;

/// The completion script for `shell`, to standard output.
pub fn completions(shell: clap_complete::Shell) -> std::io::Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "tcpscope", &mut out);
    std::io::stdout().lock().write_all(&out)
}

/// The manual page (roff): the options, then a section per subcommand
/// (what it does, its own options), then the exit status and files.
pub fn man_page() -> std::io::Result<()> {
    let mut out = Vec::new();
    render(&mut out)?;
    std::io::stdout().lock().write_all(&out)
}

fn render(out: &mut Vec<u8>) -> std::io::Result<()> {
    let command = Cli::command();
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    // One page: each subcommand is a section of it, not a page of its own.
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("tcpscope {}", sub.get_name());
        let page = clap_mangen::Man::new(sub.clone().bin_name(name));
        let mut section = Vec::new();
        page.render_synopsis_section(&mut section)?;
        page.render_description_section(&mut section)?;
        page.render_options_section(&mut section)?;
        out.extend_from_slice(&retitle(&section, sub.get_name()));
    }
    out.extend_from_slice(TAIL.as_bytes());
    man.render_version_section(out)?;
    Ok(())
}

/// A subcommand's sections as one, headed by its name.
fn retitle(section: &[u8], name: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(section);
    let upper = name.to_uppercase();
    text.replace(".SH SYNOPSIS", &format!(".SH \"{upper}\""))
        .replace(".SH DESCRIPTION", ".PP")
        .replace(".SH OPTIONS", ".SS Options")
        .into_bytes()
}

const TAIL: &str = r#".SH "EXIT STATUS"
0 ok; 2 bad usage (a port outside 1\-65535, an interval under 10ms, a malformed filter or demo
file, the live view without a terminal); 1 a runtime error, with its cause on one line.
.SH FILES
.TP
/sys/kernel/tracing/instances/tcpscope-*
the tracing instance of a running tcpscope (root only); removed at exit, and a killed run's at
the next start.
.SH "SEE ALSO"
ss(8), netstat(8), tcpdump(8)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_a_section_per_subcommand() {
        let mut out = Vec::new();
        render(&mut out).expect("rendered");
        let page = String::from_utf8(out).expect("text");
        assert!(
            page.starts_with(".ie") || page.contains(".TH tcpscope"),
            "{page}"
        );
        for name in [
            "WATCH", "LAB", "DEMO", "RECORD", "REPLAY", "SERVE", "DOCTOR",
        ] {
            assert!(
                page.contains(&format!(".SH \"{name}\"")),
                "{name} in {page}"
            );
        }
        assert!(page.contains("\\-\\-summary"), "watch's own options");
    }
}
