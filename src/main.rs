//! tcpscope: parse the command line, pick the mode, map errors to exit codes.

use clap::Parser;
use std::process::ExitCode;
use tcpscope::cli::Cli;
use tcpscope::output;
use tcpscope::source::{self, Cadence, Scope};
use tcpscope::ui::{self, theme::Theme};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.once || cli.json {
        return once(&cli);
    }
    if let Err(msg) = ui::require_tty() {
        eprintln!("tcpscope: {msg}");
        return ExitCode::from(2);
    }
    match live(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcpscope: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn live(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let source = source::default_source(Cadence::Live);
    let settings = ui::Settings {
        port: cli.port,
        filter: cli.filter.unwrap_or_default(),
        interval: cli.interval,
        source: source.name(),
        theme: Theme::from_env(),
    };
    runtime.block_on(ui::run(source, settings))
}

/// `--once`: one reading, printed as text or JSON.
fn once(cli: &Cli) -> ExitCode {
    let mut source = source::default_source(Cadence::Once);
    let scope = Scope { port: cli.port };
    let snap = match source.snapshot(&scope) {
        Ok(snap) => snap,
        Err(e) => {
            eprintln!("tcpscope: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(warning) = &snap.warning {
        eprintln!("tcpscope: warning: {warning}");
    }
    let filter = cli.filter.clone().unwrap_or_default();
    let mut rows: Vec<_> = snap
        .rows
        .into_iter()
        .filter(|r| filter.matches(r))
        .collect();
    output::sort_rows(&mut rows);
    let text = if cli.json {
        output::json::render(&rows)
    } else {
        output::text::render(&rows)
    };
    print_or_exit(&text)
}

/// Prints, treating a closed pipe (`| head`) as a normal end.
fn print_or_exit(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out
        .write_all(text.as_bytes())
        .and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcpscope: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}
