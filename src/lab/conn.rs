//! One lab connection, in its own task: it connects (clients), reads and
//! echoes as its policy says, and carries out send / shutdown / close /
//! abort. It reports what happened to the lab's actor and never blocks
//! on a peer that stopped reading.

use super::explain::{Call, explain};
use super::{LabId, MAX_SEND_BYTES, READ_BUFFER};
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
    },
    ConnectFailed(String),
    Sent(usize),
    Received(usize),
    PeerClosed,
    /// A socket call was made; `result` is the line for the status bar.
    Called {
        call: String,
        result: Result<String, String>,
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

    fn called(&self, seq: Option<u64>, call: &str, result: Result<String, String>) {
        self.tell(
            seq,
            ReportKind::Called {
                call: call.to_string(),
                result,
            },
        );
    }
}

enum Flow {
    Continue,
    Stop,
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
                    ctx.called(Some(seq), "close()", Ok("close() while connecting: the SYN is abandoned".into()));
                    ctx.tell(None, ReportKind::Ended);
                    return;
                }
                Some((seq, _)) => ctx.called(Some(seq), "", Err("still connecting (SYN_SENT): wait for the handshake, or close it".into())),
                None => return,
            },
        }
    };
    match stream {
        Ok(stream) => {
            let local = stream.local_addr().unwrap_or(addr);
            ctx.tell(None, ReportKind::Connected { local });
            run_with(ctx, stream, cmds, policy).await;
        }
        Err(e) => {
            ctx.tell(
                None,
                ReportKind::ConnectFailed(explain(Call::Connect { addr }, &e)),
            );
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
                            ctx.called(None, "close()", Ok("the peer closed, so we closed too (hold is off)".into()));
                            break;
                        }
                    }
                    Ok(n) => {
                        ctx.tell(None, ReportKind::Received(n));
                        if policy.echo && !write_shut {
                            echo(&ctx, &mut stream, &buf[..n]).await;
                        }
                    }
                    Err(e) => {
                        // A reset: nothing more will arrive.
                        eof = true;
                        ctx.called(None, "recv()", Err(format!("recv() failed: {e}: the peer reset the connection")));
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
        ConnCmd::Send(text) => send(ctx, stream, seq, text.as_bytes(), *write_shut).await,
        ConnCmd::Fill => fill(ctx, stream, seq, *write_shut).await,
        ConnCmd::ShutdownWrite => {
            let result = stream.shutdown().await;
            *write_shut = result.is_ok();
            match result {
                Ok(()) => {
                    ctx.tell(None, ReportKind::WriteShut);
                    ctx.called(
                        seq,
                        "shutdown(SHUT_WR)",
                        Ok("shutdown(SHUT_WR): FIN sent; we can still receive".into()),
                    );
                }
                Err(e) => ctx.called(seq, "shutdown(SHUT_WR)", Err(explain(Call::Shutdown, &e))),
            }
        }
        ConnCmd::Close => {
            ctx.called(
                seq,
                "close()",
                Ok("close(): FIN sent, descriptor released".into()),
            );
            return Flow::Stop;
        }
        ConnCmd::Abort => {
            let call = "setsockopt(SO_LINGER, 0) + close()";
            match socket2::SockRef::from(&*stream).set_linger(Some(Duration::ZERO)) {
                Ok(()) => ctx.called(seq, call, Ok(format!("{call}: RST sent, no TIME_WAIT"))),
                Err(e) => ctx.called(
                    seq,
                    call,
                    Err(format!(
                        "setsockopt(SO_LINGER) failed: {e}; closed normally instead"
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
        ConnCmd::SetHold(on) => set_policy(
            ctx,
            seq,
            policy,
            Policy {
                hold: on,
                ..*policy
            },
        ),
    }
    Flow::Continue
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
    ctx.called(seq, "", Ok(text));
}

async fn send(ctx: &Ctx, stream: &mut TcpStream, seq: Option<u64>, data: &[u8], write_shut: bool) {
    if write_shut {
        let msg =
            "send() refused: this end already called shutdown(SHUT_WR), so it can only receive";
        return ctx.called(seq, "", Err(msg.into()));
    }
    let data = &data[..data.len().min(MAX_SEND_BYTES)];
    let (written, result) = write_within(stream, data).await;
    if written > 0 {
        ctx.tell(None, ReportKind::Sent(written));
    }
    let call = format!("send({written} bytes)");
    match result {
        Ok(()) => ctx.called(seq, &call, Ok(call.clone())),
        Err(Some(e)) => ctx.called(seq, &call, Err(explain(Call::Send, &e))),
        Err(None) => ctx.called(
            seq,
            &call,
            Err(format!("{call}: only {written} of {} bytes fit: the peer is not reading and its window is full", data.len())),
        ),
    }
}

/// Most one fill writes; enough for any buffer the lab sets, bounded so
/// a peer that keeps reading cannot keep us writing forever.
const FILL_LIMIT: usize = 64 * 1024 * 1024;

/// Writes zeros until nothing more fits within [`WRITE_PATIENCE`].
async fn fill(ctx: &Ctx, stream: &mut TcpStream, seq: Option<u64>, write_shut: bool) {
    if write_shut {
        let msg =
            "send() refused: this end already called shutdown(SHUT_WR), so it can only receive";
        return ctx.called(seq, "", Err(msg.into()));
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
            Err(Some(e)) => return ctx.called(seq, "send()", Err(explain(Call::Send, &e))),
        }
    }
    let call = format!("send({total} bytes)");
    let text = format!("{call}: the peer's receive window and our send buffer are full");
    ctx.called(seq, &call, Ok(text));
}

async fn echo(ctx: &Ctx, stream: &mut TcpStream, data: &[u8]) {
    let (written, result) = write_within(stream, data).await;
    if written > 0 {
        ctx.tell(None, ReportKind::Sent(written));
    }
    if result.is_err() {
        ctx.called(
            None,
            "send()",
            Err("echo stalled: the peer is not reading; the rest was dropped".into()),
        );
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
