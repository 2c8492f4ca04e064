//! `tcpscope record` as a process on real loopback sockets: the stream it
//! writes reads back (header, snapshot, the connection's events in
//! order), compressed or not, and a file cut short reads up to the cut.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;
use tcpscope::socket::TcpState;
use tcpscope::stream::{self, ConnKind, Record};

/// Starts a recording of `port` into `file`; returns once it has written
/// its header and first snapshot.
fn start(file: &Path, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_tcpscope"))
        .args([
            "record",
            &file.to_string_lossy(),
            &port.to_string(),
            "-i",
            "20ms",
        ])
        .spawn()
        .expect("start tcpscope record");
    let plain = file.extension().is_none_or(|e| e != "zst");
    if plain {
        let started = common::wait_for(common::PATIENCE, || {
            let text = std::fs::read_to_string(file).ok()?;
            text.contains("\"snapshot\"").then_some(())
        });
        assert!(started.is_some(), "the recording started");
    } else {
        std::thread::sleep(Duration::from_millis(800));
    }
    child
}

/// A connection opened, used and closed on `port`, the client first.
fn one_connection(listener: &TcpListener) {
    let addr = listener.local_addr().expect("address");
    let mut client = TcpStream::connect(addr).expect("connect");
    let (mut server, _) = listener.accept().expect("accept");
    client.write_all(b"hello").expect("send");
    let mut got = [0u8; 5];
    server.read_exact(&mut got).expect("receive");
    drop(client);
    std::thread::sleep(Duration::from_millis(200));
    drop(server);
    std::thread::sleep(Duration::from_millis(300));
}

/// The states the client end went through, from the stream's events.
fn client_states(records: &[Record], port: u16) -> Vec<TcpState> {
    let suffix = format!(" -> 127.0.0.1:{port}");
    records
        .iter()
        .filter_map(|r| match r {
            Record::Conn(c) if c.key.ends_with(&suffix) && c.event != ConnKind::Gone => c.to,
            _ => None,
        })
        .collect()
}

fn check(text: &str, port: u16) {
    let back = stream::read(text);
    assert_eq!(back.damage, None, "{text}");
    let header = back.header.expect("a header line");
    assert_eq!(
        (header.format.as_str(), header.version),
        (stream::FORMAT, stream::VERSION)
    );
    assert_eq!(header.port, Some(port));
    assert!(!header.kernel.is_empty() && !header.host.is_empty());
    assert!(
        matches!(back.records.first(), Some(Record::Snapshot(_))),
        "{text}"
    );
    let states = client_states(&back.records, port);
    use TcpState::*;
    // Polling may miss the short ones; these it cannot miss.
    assert!(states.contains(&Established), "{states:?}\n{text}");
    assert!(
        states.contains(&FinWait2) || states.contains(&TimeWait),
        "{states:?}\n{text}"
    );
    if common::is_root() {
        // The tracepoint reports every change, in order.
        assert_eq!(
            states,
            [SynSent, Established, FinWait1, FinWait2, TimeWait],
            "{text}"
        );
    }
}

/// Records one connection into a file of this name; returns its bytes
/// and the port.
fn record_one(name: &str) -> (Vec<u8>, u16) {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let file = dir.path().join(name);
    let mut child = start(&file, port);
    one_connection(&listener);
    common::terminate(&mut child);
    (std::fs::read(&file).expect("the recording"), port)
}

#[test]
fn a_recording_holds_the_header_the_table_and_every_event() {
    let (bytes, port) = record_one("events.ndjson");
    let text = String::from_utf8(bytes).expect("UTF-8");
    check(&text, port);
    // Cut in the middle of its last line: read up to the cut, and say where.
    let cut = &text[..text.len() - 10];
    let back = stream::read(cut);
    let lines = cut.lines().count();
    assert_eq!(
        back.damage.map(|d| d.line),
        Some(lines),
        "the last line is damaged"
    );
    assert_eq!(
        back.records.len(),
        lines - 2,
        "every whole record before it"
    );
}

#[test]
fn a_zst_recording_is_compressed_and_whole_after_an_interrupt() {
    let (raw, port) = record_one("events.ndjson.zst");
    assert_eq!(&raw[..4], &[0x28, 0xb5, 0x2f, 0xfd], "a zstd frame");
    let text = zstd::decode_all(&raw[..]).expect("a whole zstd stream");
    check(&String::from_utf8(text).expect("UTF-8"), port);
}

#[test]
fn a_recording_that_cannot_be_written_says_which_and_why() {
    let out = Command::new(env!("CARGO_BIN_EXE_tcpscope"))
        .args(["record", "/nonexistent-dir/x.ndjson"])
        .output()
        .expect("run tcpscope record");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write the recording /nonexistent-dir/x.ndjson"),
        "{err}"
    );
}

/// `record FILE` with its error output, as this process's user or with
/// extra environment.
fn record_once(file: &Path, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tcpscope"));
    cmd.arg("record").arg(file).arg("1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run tcpscope record");
    // A recording that started runs until stopped.
    let ended = common::wait_for(Duration::from_secs(1), || child.try_wait().ok().flatten());
    if ended.is_none() {
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
    }
    let out = child.wait_with_output().expect("its output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A symbolic link where the recording goes is never followed: what it
/// points at is untouched. A full disk names the file and the fix.
#[test]
fn a_recording_never_writes_through_a_link_and_says_when_the_disk_is_full() {
    let dir = tempfile::tempdir().expect("tempdir");
    let precious = dir.path().join("precious");
    std::fs::write(&precious, "keep me\n").expect("write");
    let link = dir.path().join("link.ndjson");
    std::os::unix::fs::symlink(&precious, &link).expect("a symlink");
    let (code, err) = record_once(&link, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("is a symbolic link, which is never followed"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&precious).expect("read"),
        "keep me\n"
    );

    let (code, err) = record_once(Path::new("/dev/full"), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(
            "cannot write the recording /dev/full: No space left on device: free some space"
        ),
        "{err}"
    );
}

/// Under sudo, a recording belongs to the user who ran sudo, and a file
/// of another user is never overwritten.
#[test]
fn under_sudo_a_recording_belongs_to_the_user() {
    use std::os::unix::fs::MetadataExt;
    if !common::is_root() {
        eprintln!("skipped: needs root (as sudo would run it)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mine = dir.path().join("mine.ndjson");
    let sudo = [("SUDO_UID", "65534"), ("SUDO_GID", "65534")];
    let (code, err) = record_once(&mine, &sudo);
    assert_eq!(code, Some(0), "stopped by SIGINT, whole: {err}");
    let meta = std::fs::metadata(&mine).expect("the recording");
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert!(meta.len() > 0, "it was written");

    let theirs = dir.path().join("theirs.ndjson");
    std::fs::write(&theirs, "theirs\n").expect("write");
    std::os::unix::fs::chown(&theirs, Some(1234), Some(1234)).expect("chown");
    let (code, err) = record_once(&theirs, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("it belongs to uid 1234"), "{err}");
    assert_eq!(std::fs::read_to_string(&theirs).expect("read"), "theirs\n");
}
