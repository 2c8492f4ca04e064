//! The Debian package, built by `scripts/deb.sh` around the binary under
//! test, installed into this machine with `dpkg -i`, run from where it
//! landed, and removed again. Root only (dpkg), and only with cargo-deb
//! (`.ci/run` installs it); elsewhere it says why it skips.

mod common;

use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes the package however the test ends.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["-r", "tcpscope"]).output();
    }
}

#[test]
fn the_package_installs_runs_and_goes() {
    if !common::is_root() {
        eprintln!("skipped: dpkg -i needs root (CI runs as root)");
        return;
    }
    let has_deb = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_deb || !Path::new("/usr/bin/dpkg").exists() {
        eprintln!("skipped: needs cargo-deb and dpkg (.ci/run installs cargo-deb)");
        return;
    }
    if Path::new("/usr/bin/tcpscope").exists() {
        eprintln!("skipped: /usr/bin/tcpscope is already installed; the test would replace it");
        return;
    }
    let staged = tempfile::tempdir().expect("temp dir");
    let built = run(Command::new("bash")
        .args(["scripts/deb.sh", env!("CARGO_BIN_EXE_tcpscope")])
        .env("CARGO_TARGET_DIR", staged.path()));
    let deb = built.trim();
    assert!(deb.ends_with(".deb"), "{built}");
    let listed = run(Command::new("dpkg").args(["-c", deb]));
    for path in [
        "./usr/bin/tcpscope",
        "./usr/share/man/man1/tcpscope.1.gz",
        "./usr/share/bash-completion/completions/tcpscope",
        "./usr/share/zsh/vendor-completions/_tcpscope",
        "./usr/share/fish/vendor_completions.d/tcpscope.fish",
        "./usr/share/doc/tcpscope/README.md",
    ] {
        assert!(listed.contains(path), "{path} in {listed}");
    }

    let _installed = Installed;
    run(Command::new("dpkg").args(["-i", deb]));
    let once = run(Command::new("/usr/bin/tcpscope").args(["--once", "--json", "1"]));
    let rows: serde_json::Value = serde_json::from_str(&once).expect("JSON");
    assert!(rows.is_array(), "{once}");
    let page = run(Command::new("man").args(["-w", "tcpscope"]));
    assert_eq!(page.trim(), "/usr/share/man/man1/tcpscope.1.gz");
    let complete = run(Command::new("bash").args([
        "-c",
        "source /usr/share/bash-completion/completions/tcpscope; complete -p tcpscope",
    ]));
    assert!(complete.contains("_tcpscope"), "{complete}");

    run(Command::new("dpkg").args(["-r", "tcpscope"]));
    assert!(!Path::new("/usr/bin/tcpscope").exists(), "removed");
}
