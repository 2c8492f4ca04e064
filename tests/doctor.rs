//! `tcpscope doctor` as root and as an unprivileged user, and the README's
//! setcap line: a copy of the binary with those capabilities, run as
//! nobody, has exact transitions, segments and every owner.

mod common;

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_tcpscope");

/// The capabilities the README's setcap line gives.
fn readme_caps() -> String {
    let readme = include_str!("../README.md");
    let line = readme
        .lines()
        .find(|l| l.contains("setcap cap_"))
        .expect("the README has a setcap line");
    let caps = line
        .split_whitespace()
        .find(|w| w.starts_with("cap_"))
        .expect("the capabilities on the line");
    caps.trim_matches('`').to_string()
}

/// Skips (with the reason) where root, setpriv or setcap are missing.
fn can_switch_users() -> bool {
    if !common::is_root() {
        eprintln!("skipped: running as another user and setcap need root");
        return false;
    }
    for tool in ["setpriv", "setcap"] {
        if Command::new(tool).arg("--help").output().is_err() {
            eprintln!("skipped: no {tool} (util-linux, libcap2-bin; installed by .ci/run)");
            return false;
        }
    }
    true
}

/// A copy of the binary that nobody may run, in a directory of its own.
fn copy_for_nobody() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a directory");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("open the directory to nobody");
    let bin = dir.path().join("tcpscope");
    std::fs::copy(BIN, &bin).expect("copy the binary");
    // A child another test forked while the copy was open for writing
    // holds that descriptor until it execs: until then, running the copy
    // fails with ETXTBSY.
    let runs = common::wait_for(Duration::from_secs(5), || {
        match Command::new(&bin).arg("--version").output() {
            Err(e) if e.raw_os_error() == Some(26) => None,
            other => Some(other),
        }
    });
    assert!(runs.is_some_and(|r| r.is_ok()), "the copy runs");
    (dir, bin)
}

fn as_nobody(bin: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(bin)
        .args(args)
        .current_dir(bin.parent().expect("its directory"));
    cmd
}

fn doctor(mut cmd: Command) -> Vec<serde_json::Value> {
    let out = cmd.output().expect("run tcpscope doctor");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
}

fn works(checks: &[serde_json::Value], feature: &str) -> bool {
    let check = checks
        .iter()
        .find(|c| {
            c["feature"]
                .as_str()
                .is_some_and(|f| f.starts_with(feature))
        })
        .unwrap_or_else(|| panic!("no check of {feature}: {checks:#?}"));
    check["works"] == true
}

const ROOT_FEATURES: [&str; 6] = [
    "exact transitions",
    "every process's owner",
    "destroying a socket",
    "segments",
    "the lab's link",
    "other namespaces",
];

#[test]
fn doctor_as_root_finds_every_feature() {
    if !common::is_root() {
        eprintln!("skipped: doctor as root needs root");
        return;
    }
    let mut cmd = Command::new(BIN);
    cmd.args(["doctor", "--json"]);
    let checks = doctor(cmd);
    for feature in ["the socket table", "confinement"]
        .iter()
        .chain(&ROOT_FEATURES)
    {
        assert!(works(&checks, feature), "{feature}: {checks:#?}");
    }
}

#[test]
fn doctor_as_nobody_says_what_is_missing_and_the_fix() {
    if !can_switch_users() {
        return;
    }
    let (_dir, bin) = copy_for_nobody();
    let checks = doctor(as_nobody(&bin, &["doctor", "--json"]));
    assert!(works(&checks, "the socket table"), "{checks:#?}");
    assert!(works(&checks, "confinement"), "{checks:#?}");
    for feature in ROOT_FEATURES {
        assert!(!works(&checks, feature), "{feature}: {checks:#?}");
    }
    let setcap = format!("sudo setcap {} {}", readme_caps(), bin.display());
    let fixes: Vec<&str> = checks.iter().filter_map(|c| c["fix"].as_str()).collect();
    assert!(fixes.iter().all(|f| f.contains(&setcap)), "{fixes:#?}");
    let out = as_nobody(&bin, &["doctor"])
        .output()
        .expect("doctor as text");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("for nobody (uid 65534)"), "{text}");
    assert!(text.contains("no   exact transitions"), "{text}");
}

/// The README's setcap line on a copy, run as nobody: everything root
/// has that capabilities can give, and nothing left behind at exit.
#[test]
fn the_setcap_line_gives_a_normal_user_the_root_features() {
    if !can_switch_users() {
        return;
    }
    let (_dir, bin) = copy_for_nobody();
    let set = Command::new("setcap")
        .arg(readme_caps())
        .arg(&bin)
        .status()
        .expect("run setcap");
    assert!(set.success(), "setcap on {}", bin.display());
    let checks = doctor(as_nobody(&bin, &["doctor", "--json"]));
    for feature in [
        "exact transitions",
        "every process's owner",
        "destroying a socket",
        "segments",
        "the lab's link",
    ] {
        assert!(works(&checks, feature), "{feature}: {checks:#?}");
    }

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let mut cmd = as_nobody(&bin, &["watch", &port, "--json", "--segments"]);
    let (mut child, rx) = common::spawn_lines(cmd.stderr(Stdio::null()));
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut clients = Vec::new();
    let mut last = Instant::now() - Duration::from_secs(1);
    while started.elapsed() < Duration::from_secs(15) {
        // A connection a second until one is seen whole (watch may still
        // be setting up for the first).
        if last.elapsed() >= Duration::from_secs(1) {
            let addr = listener.local_addr().expect("addr");
            clients.push(TcpStream::connect(addr).expect("connect"));
            last = Instant::now();
        }
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(serde_json::from_str::<serde_json::Value>(&line).expect("JSON"));
        }
        let syn_sent = seen.iter().any(|e| e["to"] == "SYN_SENT");
        let syn = seen
            .iter()
            .any(|e| e["event"] == "segment" && e["flags"] == serde_json::json!(["SYN"]));
        if syn_sent && syn {
            break;
        }
    }
    let pid = child.id();
    // setpriv execs tcpscope: the pid is tcpscope's.
    let leftover_before = common::instances_of(pid);
    common::terminate(&mut child);
    let me = u64::from(std::process::id());
    assert!(
        !leftover_before.is_empty(),
        "a tracing instance while it ran"
    );
    assert!(
        seen.iter().any(|e| e["to"] == "SYN_SENT" && e["pid"] == me),
        "SYN_SENT (only the tracepoint sees it), with the test as owner: {seen:#?}"
    );
    assert!(
        seen.iter().any(|e| e["event"] == "segment"),
        "segments captured: {seen:#?}"
    );
    assert!(
        common::instances_of(pid).is_empty(),
        "its tracing instance removed at exit"
    );
}

/// As a normal user, `watch` says that exact transitions and other
/// users' processes are missing, and `--once -p` that PIDs of other
/// users' sockets stay blank.
#[test]
fn a_normal_user_is_told_what_watch_and_once_miss() {
    if !can_switch_users() {
        return;
    }
    let (_dir, bin) = copy_for_nobody();
    let mut watch = as_nobody(&bin, &["watch", "1"]);
    let mut child = watch
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start watch as nobody");
    std::thread::sleep(Duration::from_millis(1500));
    common::terminate(&mut child);
    let out = child.wait_with_output().expect("its stderr");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: exact transitions: need root: "),
        "{err}"
    );
    assert!(
        err.contains("warning: process names: only your own processes"),
        "{err}"
    );

    let out = as_nobody(&bin, &["--once", "-p"])
        .output()
        .expect("--once -p");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("process names: only your own processes are shown"),
        "{err}"
    );
}
