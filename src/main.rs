//! tcpscope: parse the command line, pick the mode, map errors to exit codes.

use clap::Parser;
use std::process::ExitCode;
use tcpscope::cli::{Cli, Command, DemoArgs, RecordArgs, WatchArgs};
use tcpscope::demo;
use tcpscope::lab::link::LabLink;
use tcpscope::output;
use tcpscope::settings;
use tcpscope::shutdown::Termination;
use tcpscope::source::confine::{self, HeldSignals, Needs};
use tcpscope::source::{self, Cadence, Scope, SourceKind, files, trace};
use tcpscope::ui;

/// How long `--once -r` waits for names before printing what it has.
const NAMES_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// Descriptors to ask for: the lab's connections (both ends) and room.
const WANTED_FILES: u64 = 8192;

fn main() -> ExitCode {
    source::memory::return_large_buffers();
    let mut cli = Cli::parse();
    // Text about the program itself: nothing to set up or clean.
    match &cli.command {
        Some(Command::Completions(args)) => {
            return finish(output::manual::completions(args.shell));
        }
        Some(Command::Man) => return finish(output::manual::man_page()),
        _ => {}
    }
    if let Err(code) = prepare(&cli) {
        return code;
    }
    let sandbox = !cli.no_sandbox;
    if cli.view.resolve || lab_resolves(&cli) {
        source::names::show(true);
    }
    if cli.once || cli.json {
        return once(&cli);
    }
    match cli.command.take() {
        Some(Command::Watch(args)) => watch(args, sandbox),
        Some(Command::Record(args)) => record(args, sandbox),
        Some(Command::Replay(args)) => replay(&args, sandbox),
        Some(Command::Doctor(args)) => doctor(args.json),
        Some(Command::Serve(args)) => serve(args, sandbox),
        Some(Command::Demo(args)) if args.name.is_none() || args.check => {
            demo_headless(&args, sandbox)
        }
        Some(Command::Demo(args)) => demo_view(&args, sandbox),
        Some(Command::Lab(args)) => lab_view(args, sandbox),
        // Printed above, before any setup.
        Some(Command::Completions(_) | Command::Man) => ExitCode::SUCCESS,
        None if cli.remote.is_some() => remote(&cli, sandbox),
        None => live_view(&cli, sandbox),
    }
}

/// `-r` given to the lab, which has a view of its own.
fn lab_resolves(cli: &Cli) -> bool {
    matches!(&cli.command, Some(Command::Lab(a)) if a.view.resolve)
}

/// Before any mode: descriptors enough, what a killed run left behind
/// removed, options that cannot work together refused.
fn prepare(cli: &Cli) -> Result<(), ExitCode> {
    if let Some(path) = &cli.log
        && let Err(msg) = tcpscope::debug_log::start(path)
    {
        eprintln!("tcpscope: {msg}");
        return Err(ExitCode::from(2));
    }
    if let Err(msg) = files::raise_open_files_limit(WANTED_FILES) {
        eprintln!("tcpscope: {msg}");
        return Err(ExitCode::FAILURE);
    }
    trace::clean_up_after_killed_runs();
    options_fit(cli).map_err(|msg| {
        eprintln!("tcpscope: {msg}");
        ExitCode::from(2)
    })
}

/// Options that cannot work together are refused, never ignored.
fn options_fit(cli: &Cli) -> Result<(), String> {
    use tcpscope::cli::source_fits;
    match &cli.command {
        Some(Command::Watch(a)) => source_fits(a.read.source, a.netns.option()),
        Some(Command::Record(a)) => source_fits(a.read.source, a.netns.option()),
        Some(Command::Lab(a)) => source_fits(a.view.read.source, a.wire.then_some("lab --wire")),
        _ => source_fits(cli.view.read.source, cli.netns.option()),
    }
}

/// The live view without a subcommand.
fn live_view(cli: &Cli, sandbox: bool) -> ExitCode {
    if let Err(code) = need_terminal() {
        return code;
    }
    let start = settings::live(cli).map(|s| (s, ui::Session::Live));
    let kind = cli.view.read.source;
    exit(start.and_then(|s| live(s, kind, None, cli.netns.clone(), sandbox)))
}

/// `tcpscope lab`, with the slow-motion link for `--wire`.
fn lab_view(args: tcpscope::cli::LabArgs, sandbox: bool) -> ExitCode {
    if let Err(code) = need_terminal() {
        return code;
    }
    let delay = args.delay.unwrap_or(tcpscope::lab::link::DEFAULT_DELAY);
    let link = match args.wire.then(|| make_link(delay, args.step)).transpose() {
        Ok(link) => link,
        Err(code) => return code,
    };
    let kind = args.view.read.source;
    let start = settings::lab(args, link.as_ref());
    exit(start.and_then(|s| live(s, kind, link, Default::default(), sandbox)))
}

/// `tcpscope demo NAME` in the live view; the scenario is read once.
fn demo_view(args: &DemoArgs, sandbox: bool) -> ExitCode {
    // A scenario that does not load is bad input, whatever the terminal.
    let scenario = match demo::load(args.name.as_deref().unwrap_or_default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tcpscope: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(code) = need_terminal() {
        return code;
    }
    let wire = scenario.wire;
    let made = wire.map(|w| make_link(std::time::Duration::from_millis(w.delay_ms), w.step));
    let link = match made.transpose() {
        Ok(link) => link,
        Err(code) => return code,
    };
    let start = settings::demo(args, scenario, link.as_ref());
    exit(start.and_then(|s| live(s, SourceKind::Auto, link, Default::default(), sandbox)))
}

fn need_terminal() -> Result<(), ExitCode> {
    ui::require_tty().map_err(|msg| {
        eprintln!("tcpscope: {msg}");
        ExitCode::from(2)
    })
}

/// The slow-motion link; a failure is said and ends the run.
fn make_link(delay: std::time::Duration, step: bool) -> Result<LabLink, ExitCode> {
    LabLink::create(delay, step).map_err(|e| {
        eprintln!("tcpscope: {e}");
        ExitCode::FAILURE
    })
}

fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("ended: {e:#}");
            eprintln!("tcpscope: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| {
            let why = source::error::explain_os(&e);
            anyhow::anyhow!("cannot start the async runtime: {why}")
        })
}

/// Drops what a mode no longer needs once it is set up. Runs on the main
/// thread before the runtime starts, so every later thread inherits it.
fn confine(needs: Needs, sandbox: bool) -> Option<source::Degradation> {
    confine::confine(&needs.with_tracing(), sandbox).degradation()
}

/// The same, for a mode without a header: the warning goes to stderr.
fn confine_or_warn(needs: Needs, sandbox: bool) {
    if let Some(note) = confine(needs, sandbox) {
        eprintln!("tcpscope: warning: {}", note.why);
    }
}

fn live(
    (settings, session): (ui::Settings, ui::Session),
    kind: SourceKind,
    link: Option<LabLink>,
    netns: tcpscope::cli::NetnsArgs,
    sandbox: bool,
) -> anyhow::Result<()> {
    // A signal arriving while the sources open (and make a tracing
    // instance, maybe a mount) waits for its handler and still ends in
    // the cleanup.
    let held = HeldSignals::hold();
    // The lab reads only its server's port, filtered in the kernel.
    let scope = Scope::on_port(settings.first_port(&session));
    let mut sources = match &link {
        Some(link) => link.sources(kind, &scope)?,
        None => open_sources(kind, Cadence::Live, &scope, &netns)?,
    };
    // Fail before the terminal switches mode if the table cannot be read.
    sources.table.dump(&Scope::on_port(Some(1)))?;
    let namespaces = link.is_some() || netns.wanted().is_some();
    let needs = lab_needs(namespaces, session.follows_lab())
        .writing(settings.pcap.as_deref())
        .writing(settings.record.as_deref());
    sources.notes.extend(confine(needs, sandbox));
    runtime(2)?.block_on(async {
        let signals = Termination::register()?;
        held.release();
        ui::run(sources, (settings, session), signals, link).await
    })
}

/// The sources for a mode: this namespace's (with the tracepoint where it
/// runs), or the namespaces `--netns` / `--all-netns` name, read whole
/// at every interval (the tracepoint cannot tell namespaces apart).
fn open_sources(
    kind: SourceKind,
    cadence: Cadence,
    scope: &Scope,
    netns: &tcpscope::cli::NetnsArgs,
) -> Result<source::Sources, source::SourceError> {
    match netns.wanted() {
        Some(wanted) => source::netns::open(&wanted, cadence),
        None => source::open(kind, cadence, scope),
    }
}

/// `tcpscope watch`: events as lines until interrupted.
fn watch(args: WatchArgs, sandbox: bool) -> ExitCode {
    // A summary's byte totals come from tcp_info, asked for in each dump.
    let scope = Scope {
        totals: args.summary,
        ..Scope::on_port(args.port)
    };
    let opts = output::watch::WatchOptions {
        scope,
        filter: args.filter.clone().unwrap_or_default(),
        interval: args.read.interval,
        json: args.json,
        record: false,
        summary: args.summary,
    };
    let held = HeldSignals::hold();
    let pcap = args.pcap.as_deref();
    let run = open_stream(
        &args.read,
        &scope,
        &args.netns,
        args.segments,
        pcap,
        sandbox,
    )
    .and_then(|(sources, segments)| {
        runtime(1)?.block_on(async {
            let signals = Termination::register()?;
            held.release();
            output::watch::run(sources, opts, segments, signals).await
        })
    });
    exit(run)
}

/// `watch` and `record` set up: the sources and the port's segments
/// opened, what they will miss said on stderr, then confined.
fn open_stream(
    read: &tcpscope::cli::ReadArgs,
    scope: &Scope,
    netns: &tcpscope::cli::NetnsArgs,
    segments: bool,
    pcap: Option<&std::path::Path>,
    sandbox: bool,
) -> anyhow::Result<(source::Sources, Option<output::watch::Segments>)> {
    let sources = open_sources(read.source, Cadence::Live, scope, netns)?;
    let segments = capture_segments(scope.port, segments, pcap)?;
    warn_limits(&sources);
    confine_or_warn(stream_needs(netns), sandbox);
    Ok((sources, segments))
}

/// The live view, the lab and demos after setup: owners, `K`, the
/// segments pane's capture, namespaces entered at each reading
/// (`--netns`, the lab's link), and for the lab a port below 1024.
fn lab_needs(namespaces: bool, low_port: bool) -> Needs {
    Needs {
        owners: true,
        destroy: true,
        capture: true,
        namespaces,
        low_port,
        ..Needs::default()
    }
}

/// What `watch` and `record` will miss, said once on stderr: without
/// root, exact transitions and other users' processes.
fn warn_limits(sources: &source::Sources) {
    let owners = source::ownership_limits();
    let limits = sources.notes.iter().chain(&owners);
    for note in limits.filter(|n| {
        matches!(
            n.limit,
            source::Limit::ExactTransitions | source::Limit::ProcessNames
        )
    }) {
        eprintln!("tcpscope: warning: {}: {}", note.limit.label(), note.why);
    }
}

/// `watch` and `record` after setup: owners for `-f proc`/`pid` and the
/// events' processes, namespaces entered at each reading.
fn stream_needs(netns: &tcpscope::cli::NetnsArgs) -> Needs {
    Needs {
        owners: true,
        namespaces: netns.wanted().is_some(),
        ..Needs::default()
    }
}

/// `--segments` / `--pcap`: the port's segments captured. Without the
/// privilege for it, everything else still runs, and stderr says why
/// there are no segments; a pcap file that cannot be written is an error.
fn capture_segments(
    port: Option<u16>,
    wanted: bool,
    pcap: Option<&std::path::Path>,
) -> anyhow::Result<Option<output::watch::Segments>> {
    let Some(port) = port.filter(|_| wanted || pcap.is_some()) else {
        return Ok(None);
    };
    let pcap = match pcap {
        Some(path) => Some(
            source::capture::pcap::PcapWriter::create(path).map_err(|e| {
                anyhow::anyhow!("cannot write the pcap file {}: {e}", path.display())
            })?,
        ),
        None => None,
    };
    match source::capture::start(port) {
        Ok(capture) => Ok(Some(output::watch::Segments { capture, pcap })),
        Err(e) => {
            eprintln!("tcpscope: no segments: {e}");
            Ok(None)
        }
    }
}

/// `tcpscope record FILE`: the event stream, to a file or stdout.
fn record(args: RecordArgs, sandbox: bool) -> ExitCode {
    let scope = Scope::on_port(args.port);
    let filter = args.filter.clone().unwrap_or_default();
    let opts = output::watch::WatchOptions {
        scope,
        filter: filter.clone(),
        interval: args.read.interval,
        json: true,
        record: true,
        summary: false,
    };
    let mut out = match output::record_file::open(&args.file) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("tcpscope: {e}");
            return ExitCode::FAILURE;
        }
    };
    let held = HeldSignals::hold();
    let run = open_stream(
        &args.read,
        &scope,
        &args.netns,
        args.segments,
        None,
        sandbox,
    )
    .and_then(|(sources, segments)| {
        let header = output::record_file::header(&sources.name(), filter.text(), args.port);
        std::io::Write::write_all(&mut out, tcpscope::stream::line(&header).as_bytes())?;
        runtime(1)?.block_on(async {
            let mut signals = Termination::register()?;
            held.release();
            if args.file.as_os_str() == "-" {
                signals = signals.or_when_stdout_closes();
            }
            output::watch::run_to(sources, opts, segments, signals, &mut out).await
        })
    });
    let run = run.and_then(|()| out.finish());
    exit(run.map_err(|e| output::record_file::explain_write(&args.file, e)))
}

/// `tcpscope --remote HOST [PORT]`: the live view on another host's
/// stream, over ssh, reconnecting when the link drops.
fn remote(cli: &Cli, sandbox: bool) -> ExitCode {
    if let Err(code) = need_terminal() {
        return code;
    }
    let host = cli.remote.clone().unwrap_or_default();
    let mut args: Vec<String> = cli.port.iter().map(u16::to_string).collect();
    if let Some(f) = &cli.filter {
        args.extend(["-f".to_string(), f.text().to_string()]);
    }
    let target = source::remote::Target {
        host: host.clone(),
        command: cli.remote_command.clone(),
        args,
        ssh_options: cli.ssh_option.clone(),
    };
    // Nothing here needs privilege: ssh runs without capabilities.
    let needs = Needs {
        runs_ssh: true,
        ..Needs::default()
    };
    let unconfined = confine(needs, sandbox);
    let playback = source::playback::Playback::live();
    playback.set_status(Some(format!("connecting to {host} over ssh…")));
    let feed = match source::remote::Remote::spawn(target, playback.clone()) {
        Ok(feed) => feed,
        Err(e) => {
            eprintln!("tcpscope: cannot start the remote feed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let settings = match settings::live(cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tcpscope: {e:#}");
            return ExitCode::from(2);
        }
    };
    let run = runtime(2).and_then(|rt| {
        rt.block_on(async {
            let signals = Termination::register()?;
            let mut sources = playback.sources();
            sources.notes.extend(unconfined);
            ui::run(sources, (settings, ui::Session::Live), signals, None).await
        })
    });
    drop(feed);
    exit(run)
}

/// `tcpscope serve --metrics ADDR [PORT…]`: Prometheus metrics.
fn serve(args: tcpscope::cli::ServeArgs, sandbox: bool) -> ExitCode {
    let scope = match args.ports.as_slice() {
        [one] => Scope::on_port(Some(*one)),
        _ => Scope::default(),
    };
    let held = HeldSignals::hold();
    let run = source::open(args.read.source, Cadence::Live, &scope)
        .map_err(anyhow::Error::from)
        .and_then(|sources| {
            let needs = Needs {
                low_port: args.metrics.port() < 1024,
                ..Needs::default()
            };
            confine_or_warn(needs, sandbox);
            let rt = runtime(1)?;
            rt.block_on(async {
                let signals = Termination::register()?;
                held.release();
                output::serve::run(
                    sources,
                    args.ports,
                    args.read.interval,
                    args.metrics,
                    signals,
                )
                .await
            })
        });
    exit(run)
}

/// `tcpscope replay FILE`: the live view on a recording.
fn replay(args: &tcpscope::cli::ReplayArgs, sandbox: bool) -> ExitCode {
    let read = match output::record_file::read(&args.file) {
        Ok(read) => read,
        Err(e) => {
            eprintln!("tcpscope: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(code) = need_terminal() {
        return code;
    }
    let playback = source::playback::Playback::new(&read.records, args.speed);
    let start = settings::replay(args, read.header.as_ref(), playback.clone());
    let mut sources = playback.sources();
    if let Some(d) = &read.damage {
        let why = format!(
            "{} ends at line {}: {}; played up to there",
            args.file.display(),
            d.line,
            d.why
        );
        sources
            .notes
            .push(source::Degradation::new(source::Limit::Recording, why));
    }
    // The recording is read: nothing after this needs any privilege.
    sources.notes.extend(confine(Needs::default(), sandbox));
    let run = runtime(2).and_then(|rt| {
        rt.block_on(async {
            let signals = Termination::register()?;
            ui::run(sources, start, signals, None).await
        })
    });
    exit(run)
}

/// `tcpscope demo` lists the demos; `--check` plays one without a terminal.
fn demo_headless(args: &DemoArgs, sandbox: bool) -> ExitCode {
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
    match check_demo(&scenario, sandbox) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tcpscope: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Plays a demo headlessly, printing each step's result; true if all held.
fn check_demo(scenario: &demo::Scenario, sandbox: bool) -> anyhow::Result<bool> {
    let port = settings::free_port(std::net::Ipv4Addr::LOCALHOST.into())?;
    let scope = Scope::on_port(Some(port));
    let link = match scenario.wire {
        Some(w) => Some(
            LabLink::create(std::time::Duration::from_millis(w.delay_ms), w.step)
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        ),
        None => None,
    };
    let sources = match &link {
        Some(link) => link.sources(SourceKind::Auto, &scope)?,
        None => source::open(SourceKind::Auto, Cadence::Live, &scope)?,
    };
    confine_or_warn(lab_needs(link.is_some(), true), sandbox);
    let runtime = runtime(2)?;
    let results = runtime
        .block_on(demo::runner::play(scenario, sources, port, link))
        .map_err(|e| anyhow::anyhow!(e))?;
    for r in &results {
        println!("{}", demo::runner::describe(r));
    }
    Ok(results.len() == scenario.steps.len() && results.iter().all(|r| r.result.is_ok()))
}

/// `--once`: one reading, printed as text or JSON. One reading has nothing
/// to merge, so its rows are the table as they are (routing them through
/// the pipeline's connection table measured 57% slower at 25k sockets).
/// A filter that names processes looks owners up even without `-p`.
fn once(cli: &Cli) -> ExitCode {
    let filter = cli.filter.clone().unwrap_or_default();
    let cadence = if cli.processes || filter.needs_owners() {
        Cadence::OnceWithOwners
    } else {
        Cadence::Once
    };
    // One reading has no history to keep: the kernel can skip the states
    // the filter rules out.
    let scope = Scope {
        port: cli.port,
        states: filter.states(),
        ..Scope::default()
    };
    let read = open_sources(cli.view.read.source, cadence, &scope, &cli.netns).and_then(|mut s| {
        for note in s
            .notes
            .iter()
            .filter(|d| d.limit == source::Limit::Namespaces)
        {
            eprintln!("tcpscope: warning: {}", note.why);
        }
        s.table.dump(&scope)
    });
    let dump = match read {
        Ok(dump) => dump,
        Err(e) => {
            tracing::error!("reading the table failed: {e}");
            eprintln!("tcpscope: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(rows = dump.rows.len(), warning = ?dump.warning, "one reading");
    if let Some(warning) = &dump.warning {
        eprintln!("tcpscope: warning: {warning}");
    }
    if cadence == Cadence::OnceWithOwners {
        for note in source::ownership_limits() {
            eprintln!("tcpscope: warning: {}: {}", note.limit.label(), note.why);
        }
    }
    if source::names::shown() {
        let ips = dump
            .rows
            .iter()
            .flat_map(|r| [r.key.local.ip(), r.key.remote.ip()]);
        source::names::resolve_all(ips, NAMES_WAIT);
    }
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let written = output::table(&dump.rows, &filter, cli.json, &mut out);
    finish(written.and_then(|()| std::io::Write::flush(&mut out)))
}

/// `tcpscope doctor`: each feature tried, its fix when it does not work.
fn doctor(json: bool) -> ExitCode {
    let checks = source::doctor::run();
    let mut out = std::io::stdout().lock();
    let written = if json {
        output::doctor::json(&checks, &mut out)
    } else {
        output::doctor::text(&checks, &source::doctor::who(), &mut out)
    };
    finish(written)
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
