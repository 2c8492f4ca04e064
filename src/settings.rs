//! The settings and the session each mode of the live view starts with:
//! the plain view, `lab`, `demo` and `replay`.

use crate::cli::{Cli, DemoArgs, LabArgs};
use crate::demo;
use crate::lab::link::LabLink;
use crate::lab::{AcceptMode, LabConfig, ServerOptions};
use crate::pipeline::history::DEFAULT_LOG_SIZE;
use crate::socket::Filter;
use crate::ui::session::{DemoSession, LinkStatus, ReplaySession, Session};
use crate::ui::{self, theme::Theme};
use std::time::Duration;

pub fn live(cli: &Cli) -> anyhow::Result<ui::Settings> {
    if cli.view.pcap.is_some() && cli.port.is_none() {
        anyhow::bail!(
            "--pcap writes the segments of one port: give the port too, e.g. tcpscope 8080 --pcap out.pcap"
        );
    }
    Ok(ui::Settings {
        port: cli.port,
        filter: cli.filter.clone().unwrap_or_default(),
        interval: cli.view.read.interval,
        theme: Theme::from_env(),
        lab: LabConfig::default(),
        log_size: cli.view.log_size,
        classroom: cli.view.classroom,
        pcap: cli.view.pcap.clone(),
        record: cli.view.record.clone(),
        metrics: cli.view.metrics,
    })
}

/// `tcpscope lab`: every socket is read, the table is filtered to the
/// lab's port (picked now when none was given, so it can be shown).
pub fn lab(args: LabArgs, link: Option<&LabLink>) -> anyhow::Result<(ui::Settings, Session)> {
    let port = match args.port {
        Some(p) if p != 0 => p,
        // The link's namespaces hold nothing yet: any port free here is.
        _ if link.is_some() => free_port(std::net::Ipv4Addr::LOCALHOST.into())?,
        _ => free_port(args.bind)?,
    };
    let server = ServerOptions {
        // On the link, the server listens on its end of it.
        bind: link.map_or(args.bind, |_| LabLink::server_ip()),
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
        places: link.map(LabLink::places).unwrap_or_default(),
    };
    let view = &args.view;
    let mut settings = with_lab(lab, view.read.interval, view.log_size, view.classroom);
    settings.pcap = view.pcap.clone();
    settings.record = view.record.clone();
    settings.metrics = view.metrics;
    let link = link.map(link_status);
    Ok((settings, Session::Lab { link }))
}

/// `tcpscope demo NAME`: the lab, the diagram and the details pane, with
/// the scenario ready to play.
pub fn demo(
    args: &DemoArgs,
    scenario: demo::Scenario,
    link: Option<&LabLink>,
) -> anyhow::Result<(ui::Settings, Session)> {
    let port = free_port(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))?;
    let mut server = ServerOptions {
        port,
        ..ServerOptions::default()
    };
    if link.is_some() {
        server.bind = LabLink::server_ip();
    }
    let lab = LabConfig {
        server,
        places: link.map(LabLink::places).unwrap_or_default(),
        ..LabConfig::default()
    };
    let settings = with_lab(lab, args.interval, DEFAULT_LOG_SIZE, args.classroom);
    let session = Session::Demo(DemoSession::new(scenario, link.map(link_status)));
    Ok((settings, session))
}

/// The link as the view starts with it.
fn link_status(link: &LabLink) -> LinkStatus {
    LinkStatus::new(link.delay, link.step)
}

/// A lab's settings: every socket read (the session has the table
/// follow the lab server's port).
fn with_lab(lab: LabConfig, interval: Duration, log_size: usize, classroom: bool) -> ui::Settings {
    ui::Settings {
        port: None,
        filter: Filter::default(),
        interval,
        theme: Theme::from_env(),
        lab,
        log_size,
        classroom,
        pcap: None,
        record: None,
        metrics: None,
    }
}

/// Asks the kernel for a free port on `ip` (bind to port 0, read it back).
pub fn free_port(ip: std::net::IpAddr) -> anyhow::Result<u16> {
    let probe = std::net::TcpListener::bind((ip, 0)).map_err(|e| {
        anyhow::anyhow!(
            "cannot bind {ip} to pick a free port: {e}; choose --bind 127.0.0.1 or give --port"
        )
    })?;
    Ok(probe.local_addr()?.port())
}

/// `tcpscope replay FILE`: the live view on a recording, filtered as it
/// was recorded.
pub fn replay(
    args: &crate::cli::ReplayArgs,
    header: Option<&crate::stream::Header>,
    playback: crate::source::playback::Playback,
) -> (ui::Settings, Session) {
    let filter = header
        .and_then(|h| Filter::parse(&h.filter).ok())
        .unwrap_or_default();
    let settings = ui::Settings {
        port: header.and_then(|h| h.port),
        filter,
        interval: Duration::from_millis(100),
        theme: Theme::from_env(),
        lab: LabConfig::default(),
        log_size: DEFAULT_LOG_SIZE,
        classroom: args.classroom,
        pcap: None,
        record: None,
        metrics: None,
    };
    (settings, Session::Replay(ReplaySession { playback }))
}
