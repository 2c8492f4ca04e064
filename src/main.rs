//! tcpscope: parse the command line, pick the mode, map errors to exit codes.

use clap::Parser;
use std::process::ExitCode;
use tcpscope::cli::{Cli, Command, DemoArgs, LabArgs, WatchArgs};
use tcpscope::demo;
use tcpscope::lab::{AcceptMode, LabConfig, ServerOptions};
use tcpscope::output;
use tcpscope::socket::Filter;
use tcpscope::source::{self, Cadence, Scope, SourceKind};
use tcpscope::ui::{self, theme::Theme};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.once || cli.json {
        return once(&cli);
    }
    if let Some(Command::Watch(args)) = cli.command {
        return watch(args);
    }
    if let Some(Command::Demo(args)) = &cli.command
        && (args.name.is_none() || args.check)
    {
        return demo_headless(args);
    }
    if let Err(msg) = ui::require_tty() {
        eprintln!("tcpscope: {msg}");
        return ExitCode::from(2);
    }
    let (settings, kind) = match cli.command {
        Some(Command::Lab(args)) => {
            let kind = args.source;
            (lab_settings(args), kind)
        }
        Some(Command::Demo(args)) => (demo_settings(&args), SourceKind::Auto),
        _ => (Ok(live_settings(&cli)), cli.source),
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
        interval: args.interval,
        json: args.json,
    };
    let run = source::open(args.source, Cadence::Live)
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

fn live_settings(cli: &Cli) -> ui::Settings {
    ui::Settings {
        port: cli.port,
        filter: cli.filter.clone().unwrap_or_default(),
        interval: cli.interval,
        source: "",
        theme: Theme::from_env(),
        lab: LabConfig::default(),
        lab_visible: false,
        log_size: cli.log_size,
        classroom: cli.classroom,
        demo: None,
    }
}

/// `tcpscope lab`: every socket is read, the table is filtered to the
/// lab's port (picked now when none was given, so it can be shown).
fn lab_settings(args: LabArgs) -> anyhow::Result<ui::Settings> {
    let port = match args.port {
        Some(p) if p != 0 => p,
        _ => free_port(args.bind)?,
    };
    let server = ServerOptions {
        bind: args.bind,
        port,
        backlog: args.backlog,
        reuseaddr: args.reuseaddr,
        buffers: args.buffers,
    };
    let accept = if args.manual_accept {
        AcceptMode::Manual
    } else {
        AcceptMode::Auto
    };
    let lab = LabConfig {
        server,
        accept,
        hold: !args.no_hold,
        max_connections: args.max_connections,
    };
    Ok(ui::Settings {
        port: None,
        filter: Filter::parse(&port.to_string())?,
        interval: args.interval,
        source: "",
        theme: Theme::from_env(),
        lab,
        lab_visible: true,
        log_size: args.log_size,
        classroom: args.classroom,
        demo: None,
    })
}

/// `tcpscope demo NAME`: the lab, the diagram and the details pane, with
/// the scenario ready to play.
fn demo_settings(args: &DemoArgs) -> anyhow::Result<ui::Settings> {
    let name = args.name.as_deref().unwrap_or_default();
    let scenario = demo::load(name).map_err(|e| anyhow::anyhow!(e))?;
    let port = free_port(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))?;
    let server = ServerOptions {
        port,
        ..ServerOptions::default()
    };
    Ok(ui::Settings {
        port: None,
        filter: Filter::parse(&port.to_string())?,
        interval: args.interval,
        source: "",
        theme: Theme::from_env(),
        lab: LabConfig {
            server,
            ..LabConfig::default()
        },
        lab_visible: true,
        log_size: tcpscope::track::history::DEFAULT_LOG_SIZE,
        classroom: args.classroom,
        demo: Some(scenario),
    })
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
    let scenario = match demo::load(name) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tcpscope: {e}");
            return ExitCode::from(2);
        }
    };
    let source = match source::open(SourceKind::Auto, Cadence::Live) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tcpscope: {e}");
            return ExitCode::FAILURE;
        }
    };
    let traced = source.name().contains("trace");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tcpscope: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let results = runtime.block_on(demo::runner::play(&scenario, source, traced));
    for r in &results {
        println!("{}", demo::runner::describe(r));
    }
    let ok = results.len() == scenario.steps.len() && results.iter().all(|r| r.result.is_ok());
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Asks the kernel for a free port on `ip` (bind to port 0, read it back).
fn free_port(ip: std::net::IpAddr) -> anyhow::Result<u16> {
    let probe = std::net::TcpListener::bind((ip, 0)).map_err(|e| {
        anyhow::anyhow!(
            "cannot bind {ip} to pick a free port: {e}; choose --bind 127.0.0.1 or give --port"
        )
    })?;
    Ok(probe.local_addr()?.port())
}

/// `--once`: one reading, printed as text or JSON.
fn once(cli: &Cli) -> ExitCode {
    let cadence = if cli.processes {
        Cadence::OnceWithOwners
    } else {
        Cadence::Once
    };
    let scope = Scope { port: cli.port };
    let snap = match source::open(cli.source, cadence).and_then(|mut s| s.snapshot(&scope)) {
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
