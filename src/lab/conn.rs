//! One lab connection, in its own task: it connects (clients), reads and
//! echoes as its policy says, and carries out send / shutdown / close /
//! abort. It reports what happened to the lab's actor and never blocks
//! on a peer that stopped reading.

use super::explain::{Attempt, LabError};
use super::{Done, LabId, MAX_SEND_BYTES, READ_BUFFER, SocketCall};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// How long a send or an echo may wait for room in the send buffer.
const WRITE_PATIENCE: Duration = Duration::from_millis(500);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnCmd {
    Send(String),
    Fill,
    ShutdownWrite,
    Close,
    Abort,
    SetReading(bool),
    SetEcho(bool),
    SetHold(bool),
    /// SO_KEEPALIVE with idle, interval (seconds) and probe count.
    Keepalive([u32; 3]),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub reading: bool,
    pub echo: bool,
    pub hold: bool,
}

#[derive(Debug)]
pub struct Report {
    pub id: LabId,
    /// The command this answers, if any.
    pub seq: Option<u64>,
    pub kind: ReportKind,
}

#[derive(Debug)]
pub enum ReportKind {
    Connected {
        local: SocketAddr,
        cookie: Option<u64>,
    },
    ConnectFailed(LabError),
    Sent(usize),
    Received(usize),
    PeerClosed,
    /// A socket call was made (or a setting changed, with no call); the
    /// result is the line for the status bar.
    Called {
        call: Option<SocketCall>,
        result: Result<Done, LabError>,
    },
    Policy(Policy),
    WriteShut,
    /// The task has dropped its socket.
    Ended,
}

pub type Commands = mpsc::UnboundedReceiver<(u64, ConnCmd)>;

struct Ctx {
    id: LabId,
    report: mpsc::UnboundedSender<Report>,
}

impl Ctx {
    fn tell(&self, seq: Option<u64>, kind: ReportKind) {
        let _ = self.report.send(Report {
            id: self.id,
            seq,
            kind,
        });
    }

    fn called(&self, seq: Option<u64>, call: Option<SocketCall>, result: Result<Done, LabError>) {
        self.tell(seq, ReportKind::Called { call, result });
    }

    fn done(&self, seq: Option<u64>, call: SocketCall, text: impl Into<String>) {
        let fin_from = call.sends_fin().then_some(self.id);
        let done = Done {
            text: text.into(),
            fin_from,
        };
        self.called(seq, Some(call), Ok(done));
    }

    fn failed(&self, seq: Option<u64>, call: Option<SocketCall>, err: LabError) {
        self.called(seq, call, Err(err.on(self.id)));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// A write that failed because the peer reset the connection ends it.
fn reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
    )
}

/// A client: connect() first (cancellable by close/abort while in
/// SYN_SENT), then the same life as any connection.
pub async fn connect_and_run(
    id: LabId,
    socket: TcpSocket,
    addr: SocketAddr,
    mut cmds: Commands,
    report: mpsc::UnboundedSender<Report>,
    policy: Policy,
) {
    let ctx = Ctx { id, report };
    let connect = socket.connect(addr);
    tokio::pin!(connect);
    let stream = loop {
        tokio::select! {
            result = &mut connect => break result,
            cmd = cmds.recv() => match cmd {
                Some((seq, ConnCmd::Close | ConnCmd::Abort)) => {
                    ctx.done(Some(seq), SocketCall::Close, "close() while connecting: the SYN is abandoned");
                    ctx.tell(None, ReportKind::Ended);
                    return;
                }
                Some((seq, _)) => ctx.failed(Some(seq), None, LabError::refused("still connecting (SYN_SENT): wait for the handshake, or close it")),
                None => return,
            },
        }
    };
    match stream {
        Ok(stream) => {
            let local = stream.local_addr().unwrap_or(addr);
            let cookie = crate::source::identity::socket_cookie(socket2::SockRef::from(&stream));
            ctx.tell(None, ReportKind::Connected { local, cookie });
            run_with(ctx, stream, cmds, policy).await;
        }
        Err(e) => {
            let err = LabError::os(Attempt::Connect { addr }, &e).on(id);
            ctx.tell(None, ReportKind::ConnectFailed(err));
            ctx.tell(None, ReportKind::Ended);
        }
    }
}

/// An accepted connection.
pub async fn run(
    id: LabId,
    stream: TcpStream,
    cmds: Commands,
    report: mpsc::UnboundedSender<Report>,
    policy: Policy,
) {
    run_with(Ctx { id, report }, stream, cmds, policy).await;
}

async fn run_with(ctx: Ctx, mut stream: TcpStream, mut cmds: Commands, mut policy: Policy) {
    let mut buf = vec![0u8; READ_BUFFER];
    let mut eof = false;
    let mut write_shut = false;
    loop {
        tokio::select! {
            cmd = cmds.recv() => {
                let Some((seq, cmd)) = cmd else { break };
                let flow = command(&ctx, &mut stream, seq, cmd, &mut policy, &mut write_shut).await;
                if let Flow::Stop = flow {
                    break;
                }
            }
            read = stream.read(&mut buf), if policy.reading && !eof => {
                match read {
                    Ok(0) => {
                        eof = true;
                        ctx.tell(None, ReportKind::PeerClosed);
                        if !policy.hold {
                            ctx.done(None, SocketCall::Close, "the peer closed, so we closed too (hold is off)");
                            break;
                        }
                    }
                    Ok(n) => {
                        ctx.tell(None, ReportKind::Received(n));
                        if policy.echo && !write_shut && echo(&ctx, &mut stream, &buf[..n]).await == Flow::Stop {
                            break;
                        }
                    }
                    Err(e) => {
                        // A reset: the connection is over; keeping the
                        // descriptor would only hold a lab slot.
                        ctx.failed(None, Some(SocketCall::Close), LabError::os(Attempt::Recv, &e));
                        break;
                    }
                }
            }
        }
    }
    drop(stream);
    ctx.tell(None, ReportKind::Ended);
}

async fn command(
    ctx: &Ctx,
    stream: &mut TcpStream,
    seq: u64,
    cmd: ConnCmd,
    policy: &mut Policy,
    write_shut: &mut bool,
) -> Flow {
    let seq = Some(seq);
    match cmd {
        ConnCmd::Send(text) => return send(ctx, stream, seq, text.as_bytes(), *write_shut).await,
        ConnCmd::Fill => return fill(ctx, stream, seq, *write_shut).await,
        ConnCmd::ShutdownWrite => match stream.shutdown().await {
            Ok(()) => {
                *write_shut = true;
                ctx.tell(None, ReportKind::WriteShut);
                let text = "shutdown(SHUT_WR): our FIN is queued; we can still receive";
                ctx.done(seq, SocketCall::ShutdownWrite, text);
            }
            Err(e) => ctx.failed(
                seq,
                Some(SocketCall::ShutdownWrite),
                LabError::os(Attempt::Shutdown, &e),
            ),
        },
        ConnCmd::Close => {
            ctx.done(
                seq,
                SocketCall::Close,
                "close(): descriptor released, our FIN is queued",
            );
            return Flow::Stop;
        }
        ConnCmd::Abort => {
            match socket2::SockRef::from(&*stream).set_linger(Some(Duration::ZERO)) {
                Ok(()) => ctx.done(
                    seq,
                    SocketCall::Abort,
                    "setsockopt(SO_LINGER, 0) + close(): RST sent, no TIME_WAIT",
                ),
                Err(e) => ctx.failed(
                    seq,
                    Some(SocketCall::Close),
                    LabError::refused(format!(
                        "setsockopt(SO_LINGER) failed: {}; closed normally instead",
                        crate::source::error::os_words(&e)
                    )),
                ),
            }
            return Flow::Stop;
        }
        ConnCmd::SetReading(on) => set_policy(
            ctx,
            seq,
            policy,
            Policy {
                reading: on,
                ..*policy
            },
        ),
        ConnCmd::SetEcho(on) => set_policy(
            ctx,
            seq,
            policy,
            Policy {
                echo: on,
                ..*policy
            },
        ),
        ConnCmd::Keepalive(values) => keepalive(ctx, stream, seq, values),
        ConnCmd::SetHold(on) => {
            // A lab-wide setting: the actor reports it, once.
            *policy = Policy {
                hold: on,
                ..*policy
            };
        }
    }
    Flow::Continue
}

fn keepalive(ctx: &Ctx, stream: &TcpStream, seq: Option<u64>, [idle, interval, count]: [u32; 3]) {
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    let params = socket2::TcpKeepalive::new()
        .with_time(secs(idle))
        .with_interval(secs(interval))
        .with_retries(count);
    match socket2::SockRef::from(stream).set_tcp_keepalive(&params) {
        Ok(()) => {
            let text = format!(
                "setsockopt(SO_KEEPALIVE): a probe after {idle}s of silence, then every {interval}s; {count} unanswered and the kernel gives up (ETIMEDOUT)"
            );
            ctx.called(seq, None, Ok(Done::text(text)));
        }
        Err(e) => ctx.failed(
            seq,
            None,
            LabError::refused(format!(
                "setsockopt(SO_KEEPALIVE) failed: {}",
                crate::source::error::os_words(&e)
            )),
        ),
    }
}

fn set_policy(ctx: &Ctx, seq: Option<u64>, policy: &mut Policy, next: Policy) {
    *policy = next;
    ctx.tell(None, ReportKind::Policy(next));
    let onoff = |b: bool| if b { "on" } else { "off" };
    let text = format!(
        "reading {}, echo {}, hold {}",
        onoff(next.reading),
        onoff(next.echo),
        onoff(next.hold)
    );
    ctx.called(seq, None, Ok(Done::text(text)));
}

const SHUT_REFUSAL: &str =
    "send() refused: this end already called shutdown(SHUT_WR), so it can only receive";

async fn send(
    ctx: &Ctx,
    stream: &mut TcpStream,
    seq: Option<u64>,
    data: &[u8],
    write_shut: bool,
) -> Flow {
    if write_shut {
        ctx.failed(seq, None, LabError::refused(SHUT_REFUSAL));
        return Flow::Continue;
    }
    let data = &data[..data.len().min(MAX_SEND_BYTES)];
    let (written, result) = write_within(stream, data).await;
    if written > 0 {
        ctx.tell(None, ReportKind::Sent(written));
    }
    let call = SocketCall::Send(written);
    match result {
        Ok(()) => ctx.done(seq, call.clone(), call.to_string()),
        Err(Some(e)) => {
            ctx.failed(seq, Some(call), LabError::os(Attempt::Send, &e));
            if reset(&e) {
                return Flow::Stop;
            }
        }
        Err(None) => ctx.failed(
            seq,
            Some(call.clone()),
            LabError::refused(format!(
                "{call}: only {written} of {} bytes fit: the peer is not reading and its window is full",
                data.len()
            )),
        ),
    }
    Flow::Continue
}

/// Most one fill writes; enough for any buffer the lab sets, bounded so
/// a peer that keeps reading cannot keep us writing forever.
const FILL_LIMIT: usize = 64 * 1024 * 1024;

/// Writes zeros until nothing more fits within [`WRITE_PATIENCE`].
async fn fill(ctx: &Ctx, stream: &mut TcpStream, seq: Option<u64>, write_shut: bool) -> Flow {
    if write_shut {
        ctx.failed(seq, None, LabError::refused(SHUT_REFUSAL));
        return Flow::Continue;
    }
    let chunk = vec![0u8; 16 * 1024];
    let mut total = 0;
    while total < FILL_LIMIT {
        let (written, result) = write_within(stream, &chunk).await;
        total += written;
        if written > 0 {
            ctx.tell(None, ReportKind::Sent(written));
        }
        match result {
            Ok(()) => continue,
            Err(None) => break,
            Err(Some(e)) => {
                ctx.failed(
                    seq,
                    Some(SocketCall::Send(total)),
                    LabError::os(Attempt::Send, &e),
                );
                return if reset(&e) {
                    Flow::Stop
                } else {
                    Flow::Continue
                };
            }
        }
    }
    let call = SocketCall::Send(total);
    let text = format!("{call}: the peer's receive window and our send buffer are full");
    ctx.done(seq, call, text);
    Flow::Continue
}

async fn echo(ctx: &Ctx, stream: &mut TcpStream, data: &[u8]) -> Flow {
    let (written, result) = write_within(stream, data).await;
    if written > 0 {
        ctx.tell(None, ReportKind::Sent(written));
    }
    match result {
        Ok(()) => Flow::Continue,
        Err(Some(e)) if reset(&e) => {
            ctx.failed(
                None,
                Some(SocketCall::Close),
                LabError::os(Attempt::Send, &e),
            );
            Flow::Stop
        }
        Err(_) => {
            let text = "echo stalled: the peer is not reading; the rest was dropped";
            ctx.failed(
                None,
                Some(SocketCall::Send(written)),
                LabError::refused(text),
            );
            Flow::Continue
        }
    }
}

/// Writes as much as fits within [`WRITE_PATIENCE`]. `Err(None)` means it
/// ran out of time (the peer's window is full).
async fn write_within(
    stream: &mut TcpStream,
    data: &[u8],
) -> (usize, Result<(), Option<std::io::Error>>) {
    let mut written = 0;
    let deadline = tokio::time::Instant::now() + WRITE_PATIENCE;
    while written < data.len() {
        match tokio::time::timeout_at(deadline, stream.write(&data[written..])).await {
            Ok(Ok(0)) => return (written, Err(None)),
            Ok(Ok(n)) => written += n,
            Ok(Err(e)) => return (written, Err(Some(e))),
            Err(_) => return (written, Err(None)),
        }
    }
    (written, Ok(()))
}
