//! Another host's connections, through the system `ssh` (its config,
//! keys, agent and jump hosts; no agent of ours, no port opened): `ssh
//! HOST tcpscope record - [PORT]` streams the host's events, which feed a
//! live playback. When the link drops, the view says why and the stream
//! is started again, waiting longer after each failure (1 s up to 30 s);
//! what was already shown stays.

use super::playback::Playback;
use crate::stream::{self, Line, Record};
use std::io::{BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The first wait before a reconnect, and the longest.
const FIRST_WAIT: Duration = Duration::from_secs(1);
const LONGEST_WAIT: Duration = Duration::from_secs(30);

/// What to run where.
#[derive(Clone, Debug)]
pub struct Target {
    /// `user@host`, or a name from the ssh config.
    pub host: String,
    /// The remote program (`tcpscope`, or a path).
    pub command: String,
    /// What `record` is given there: a port, a filter.
    pub args: Vec<String>,
    /// Extra `ssh` options (a test's key and port).
    pub ssh_options: Vec<String>,
}

/// The running ssh, so that a stop can end it (its output is read on
/// the feed's thread, which a blocked read would otherwise keep).
type Running = Arc<Mutex<Option<Child>>>;

/// The feed's thread; dropping it stops the stream and the thread.
pub struct Remote {
    stop: Arc<AtomicBool>,
    running: Running,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Remote {
    /// Never waits long: a process that ssh started (a wrapper, a
    /// ControlPersist master) may hold the pipe that the feed's thread
    /// reads, and quitting must not wait on it.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(child) = lock(&self.running).as_mut() {
            end_session(child);
        }
        if let Some(t) = self.thread.take() {
            for _ in 0..20 {
                if t.is_finished() {
                    let _ = t.join();
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Ends ssh and whatever it started in its process group.
fn end_session(child: &mut Child) {
    #[cfg(unix)]
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
}

fn lock(running: &Running) -> std::sync::MutexGuard<'_, Option<Child>> {
    running
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Remote {
    pub fn spawn(target: Target, playback: Playback) -> std::io::Result<Remote> {
        let stop = Arc::new(AtomicBool::new(false));
        let running: Running = Arc::default();
        let (flag, slot) = (stop.clone(), running.clone());
        let thread = std::thread::Builder::new()
            .name("tcpscope-remote".into())
            .spawn(move || feed(&target, &playback, &flag, &slot))?;
        Ok(Remote {
            stop,
            running,
            thread: Some(thread),
        })
    }
}

/// Streams, and streams again after each failure, until stopped.
fn feed(target: &Target, playback: &Playback, stop: &AtomicBool, running: &Running) {
    let mut wait = FIRST_WAIT;
    while !stop.load(Ordering::SeqCst) {
        let outcome = stream_once(target, playback, stop, running);
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if outcome.streamed {
            wait = FIRST_WAIT;
        }
        let retry = format!("{}; trying again in {}s", outcome.why, wait.as_secs());
        playback.set_status(Some(retry));
        sleep_unless_stopped(wait, stop);
        wait = (wait * 2).min(LONGEST_WAIT);
    }
}

fn sleep_unless_stopped(wait: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(100);
    let mut slept = Duration::ZERO;
    while slept < wait && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(step);
        slept += step;
    }
}

struct Outcome {
    /// At least the header came through.
    streamed: bool,
    why: String,
}

fn command(target: &Target) -> Command {
    let mut c = Command::new("ssh");
    c.args([
        "-o",
        "BatchMode=yes",
        "-o",
        "ServerAliveInterval=5",
        "-o",
        "ServerAliveCountMax=2",
    ]);
    c.args(&target.ssh_options);
    // After `--` the host cannot be an option; the remote side gets one
    // line for its shell, each word quoted so that a filter stays one word.
    c.arg("--").arg(&target.host).arg(remote_line(target));
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own group, so that ending the session ends what it started.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    c
}

/// `tcpscope record - ARGS…` as the remote shell must read it. ssh joins
/// its words with spaces for that shell, so each is quoted here; a word
/// that cannot be quoted (a NUL) cannot come from a command line.
fn remote_line(target: &Target) -> String {
    let words = [target.command.as_str(), "record", "-"]
        .into_iter()
        .chain(target.args.iter().map(String::as_str));
    let quoted: Vec<String> = words
        .map(|w| shlex::try_quote(w).map_or_else(|_| "''".into(), |q| q.into_owned()))
        .collect();
    quoted.join(" ")
}

/// One ssh session: its records into the playback until it ends.
fn stream_once(
    target: &Target,
    playback: &Playback,
    stop: &AtomicBool,
    running: &Running,
) -> Outcome {
    let mut child = match command(target).spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                streamed: false,
                why: format!("cannot run ssh: {e} (is the OpenSSH client installed?)"),
            };
        }
    };
    let (out, stderr) = (child.stdout.take(), child.stderr.take());
    let said = stderr.map(drain);
    *lock(running) = Some(child);
    let read = out.map_or_else(Session::default, |out| {
        read_records(out, playback, stop, &target.host)
    });
    let status = lock(running).take().and_then(|child| ended(child, stop));
    let mut err = said.map(|s| s.text()).unwrap_or_default();
    if let Some(why) = read.refused {
        err = why;
    }
    Outcome {
        streamed: read.started,
        why: explain(&target.host, &target.command, status, &err, read.started),
    }
}

/// ssh's standard error, read while it streams (a chatty wrapper would
/// otherwise stall on a full pipe); the last few KiB kept.
struct Said(Arc<Mutex<Vec<u8>>>);

const SAID_KEPT: usize = 4096;

fn drain(mut from: std::process::ChildStderr) -> Said {
    let kept = Arc::new(Mutex::new(Vec::new()));
    let into = kept.clone();
    let _ = std::thread::Builder::new()
        .name("tcpscope-ssh-stderr".into())
        .spawn(move || {
            let mut chunk = [0u8; 1024];
            while let Ok(n @ 1..) = from.read(&mut chunk) {
                let mut k = into
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                k.extend_from_slice(&chunk[..n]);
                let over = k.len().saturating_sub(SAID_KEPT);
                k.drain(..over);
            }
        });
    Said(kept)
}

impl Said {
    /// What was said so far, given a moment to arrive after ssh ended.
    fn text(&self) -> String {
        std::thread::sleep(Duration::from_millis(50));
        let k = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::socket::printable(&String::from_utf8_lossy(&k))
    }
}

/// Its exit code, given a moment to exit by itself once its output
/// closed (then, or at a stop, it is killed).
fn ended(mut child: Child, stop: &AtomicBool) -> Option<i32> {
    for _ in 0..30 {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    end_session(&mut child);
    child.wait().ok().and_then(|s| s.code())
}

/// What a session's stream gave.
#[derive(Default)]
struct Session {
    /// The header came and was one this program reads.
    started: bool,
    /// Why the stream was not taken, when its header was refused.
    refused: Option<String>,
}

/// Feeds records until the stream ends or a stop. A bad line (too long,
/// not text, not a record) is skipped and counted in the status.
fn read_records(
    out: std::process::ChildStdout,
    playback: &Playback,
    stop: &AtomicBool,
    host: &str,
) -> Session {
    let mut reader = BufReader::new(out);
    let (mut buf, mut session, mut skipped) = (Vec::new(), Session::default(), 0u64);
    let mut announced = false;
    while !stop.load(Ordering::SeqCst) {
        let Ok(Some(line)) = stream::next_line(&mut reader, &mut buf) else {
            break;
        };
        let text = match line {
            Line::Text(text) => Ok(text),
            Line::TooLong => match stream::skip_line(&mut reader) {
                Ok(()) => Err(format!(
                    "a line longer than {} KiB",
                    stream::MAX_LINE / 1024
                )),
                Err(_) => break,
            },
            Line::NotText => Err("a line that is not text (UTF-8)".to_string()),
        };
        let taken = text.and_then(|text| take(&text, &mut session, playback));
        match taken {
            Ok(()) if !announced => {
                announced = true;
                playback.set_status(Some(format!("live from {host} over ssh")));
            }
            Ok(()) => {}
            Err(why) if session.started => {
                skipped += 1;
                let lines = if skipped == 1 { "line" } else { "lines" };
                let note = format!(
                    "live from {host} over ssh; skipped {skipped} bad {lines} (the last: {why})"
                );
                playback.set_status(Some(note));
            }
            Err(why) => {
                session.refused = Some(why);
                break;
            }
        }
    }
    session
}

/// One line of the stream into the playback: the header first.
fn take(text: &str, session: &mut Session, playback: &Playback) -> Result<(), String> {
    if !session.started {
        stream::check_header(text)?;
        session.started = true;
        return Ok(());
    }
    let record = serde_json::from_str::<Record>(text).map_err(|_| "not a record".to_string())?;
    playback.push(&record);
    Ok(())
}

/// Why a session ended, in words that say what to do.
fn explain(host: &str, cmd: &str, status: Option<i32>, err: &str, streamed: bool) -> String {
    let last = err
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let said = if last.is_empty() {
        String::new()
    } else {
        format!(": {last}")
    };
    let missing = matches!(status, Some(126 | 127))
        || err.contains("command not found")
        || err.contains("No such file");
    match status {
        _ if streamed => format!("the stream from {host} ended{said}"),
        _ if missing => format!(
            "{cmd} is not installed on {host} (or not on its PATH): install it there, or name it with --remote-command"
        ),
        Some(255) => format!("ssh to {host} failed{said}"),
        _ => format!("{cmd} on {host} did not start a stream{said}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn failures_say_what_to_do() {
        let missing = super::explain(
            "h",
            "tcpscope",
            Some(127),
            "bash: tcpscope: command not found",
            false,
        );
        assert!(missing.contains("not installed on h"), "{missing}");
        let ssh = super::explain(
            "h",
            "tcpscope",
            Some(255),
            "ssh: connect to host h port 22: Connection refused\n",
            false,
        );
        assert_eq!(
            ssh,
            "ssh to h failed: ssh: connect to host h port 22: Connection refused"
        );
    }
}
