//! tcpscope: parse the command line, pick the mode, map errors to exit codes.

use clap::Parser;
use std::process::ExitCode;
use tcpscope::cli::{Cli, Command, DemoArgs, WatchArgs};
use tcpscope::demo;
use tcpscope::output;
use tcpscope::settings;
use tcpscope::source::{self, Cadence, Scope, SourceKind};
use tcpscope::ui;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.once || cli.json {
        return once(&cli);
    }
    if let Some(Command::Watch(args)) = cli.command {
        return watch(args);
    }
    if let Some(Command::Demo(args)) = &cli.command {
        if args.name.is_none() || args.check {
            return demo_headless(args);
        }
        // A scenario that does not load is bad input, whatever the terminal.
        if let Err(e) = demo::load(args.name.as_deref().unwrap_or_default()) {
            eprintln!("tcpscope: {e}");
            return ExitCode::from(2);
        }
    }
    if let Err(msg) = ui::require_tty() {
        eprintln!("tcpscope: {msg}");
        return ExitCode::from(2);
    }
    let (settings, kind) = match cli.command {
        Some(Command::Lab(args)) => {
            let kind = args.view.read.source;
            (settings::lab(args), kind)
        }
        Some(Command::Demo(args)) => (settings::demo(&args), SourceKind::Auto),
        _ => (Ok(settings::live(&cli)), cli.view.read.source),
    };
    match settings.and_then(|s| live(s, kind)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcpscope: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn live(settings: ui::Settings, kind: SourceKind) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut source = source::open(kind, Cadence::Live)?;
    let settings = ui::Settings {
        source: source.name(),
        ..settings
    };
    // Fail before the terminal switches mode if the table cannot be read.
    source.snapshot(&Scope { port: Some(1) })?;
    runtime.block_on(ui::run(source, settings))
}

/// `tcpscope watch`: events as lines until interrupted.
fn watch(args: WatchArgs) -> ExitCode {
    let opts = output::watch::WatchOptions {
        scope: Scope { port: args.port },
        filter: args.filter.unwrap_or_default(),
        interval: args.read.interval,
        json: args.json,
    };
    let run = source::open(args.read.source, Cadence::Live)
        .map_err(anyhow::Error::from)
        .and_then(|source| output::watch::run(source, opts));
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcpscope: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `tcpscope demo` lists the demos; `--check` plays one without a terminal.
fn demo_headless(args: &DemoArgs) -> ExitCode {
    let Some(name) = &args.name else {
        println!("demos (tcpscope demo NAME, or a scenario file):");
        for (name, text) in demo::BUILTIN {
            let title = demo::script::parse(name, text)
                .map(|s| s.title)
                .unwrap_or_default();
            println!("  {name:<22} {title}");
        }
        return ExitCode::SUCCESS;
    };
    match check_demo(name) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tcpscope: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Plays a demo headlessly, printing each step's result; true if all held.
fn check_demo(name: &str) -> anyhow::Result<bool> {
    let scenario = demo::load(name).map_err(|e| anyhow::anyhow!(e))?;
    let source = source::open(SourceKind::Auto, Cadence::Live)?;
    let traced = source.name().contains("trace");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let results = runtime.block_on(demo::runner::play(&scenario, source, traced));
    for r in &results {
        println!("{}", demo::runner::describe(r));
    }
    Ok(results.len() == scenario.steps.len() && results.iter().all(|r| r.result.is_ok()))
}

/// `--once`: one reading, printed as text or JSON.
fn once(cli: &Cli) -> ExitCode {
    let cadence = if cli.processes {
        Cadence::OnceWithOwners
    } else {
        Cadence::Once
    };
    let scope = Scope { port: cli.port };
    let snap =
        match source::open(cli.view.read.source, cadence).and_then(|mut s| s.snapshot(&scope)) {
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
    let mut rows = snap.rows;
    if !filter.is_empty() {
        rows.retain(|r| filter.matches(r));
    }
    let rows = output::sorted(&rows);
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let written = if cli.json {
        output::json::write(&rows, &mut out)
    } else {
        output::text::write(&rows, &mut out)
    };
    finish(written.and_then(|()| std::io::Write::flush(&mut out)))
}

/// A closed pipe (`| head`) is a normal end, not an error.
fn finish(written: std::io::Result<()>) -> ExitCode {
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcpscope: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}
