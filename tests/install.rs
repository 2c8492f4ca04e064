//! What an install puts beside the binary: shell completions that the
//! shells themselves load and answer with, and a manual page that `man`
//! renders.

use std::process::{Command, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tcpscope")
}

fn generated(args: &[&str]) -> String {
    let out = Command::new(bin()).args(args).output().expect("tcpscope");
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("text")
}

/// The file a shell sources, written where a test can point the shell.
fn script(shell: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), generated(&["completions", shell])).expect("write");
    file
}

fn have(shell: &str) -> bool {
    let there = Command::new(shell)
        .arg("-c")
        .arg("true")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !there {
        eprintln!("skipped: {shell} is not installed (.ci/run installs it)");
    }
    there
}

fn shell_says(shell: &str, program: &str) -> String {
    let out = Command::new(shell)
        .arg("-c")
        .arg(program)
        .output()
        .expect("the shell");
    assert!(out.status.success(), "{shell}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bash_completes_subcommands_and_options() {
    let file = script("bash");
    let path = file.path().display();
    let said = shell_says("bash", &format!("source {path}; complete -p tcpscope"));
    assert!(said.contains("-F _tcpscope tcpscope"), "{said}");
    // As bash calls it: the words so far, the command, the word being
    // completed and the one before it.
    let complete = |words: &str| {
        let all: Vec<&str> = words.split(' ').collect();
        let (cur, prev) = (all[all.len() - 1], all[all.len() - 2]);
        shell_says(
            "bash",
            &format!(
                "source {path}; COMP_WORDS=({words}); COMP_CWORD={}; \
                 COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; _tcpscope tcpscope {cur} {prev}; \
                 printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                all.len() - 1
            ),
        )
    };
    let said = complete("tcpscope wat");
    assert_eq!(said.trim(), "watch", "{said}");
    let said = complete("tcpscope watch --su");
    assert!(said.lines().any(|l| l == "--summary"), "{said}");
}

#[test]
fn zsh_and_fish_load_their_scripts() {
    if have("zsh") {
        let file = script("zsh");
        let path = file.path().display();
        shell_says("zsh", &format!("zsh -n {path}"));
        let said = shell_says(
            "zsh",
            &format!(
                "autoload -U compinit; compinit -u; source {path}; print ${{_comps[tcpscope]}}"
            ),
        );
        assert_eq!(said.trim(), "_tcpscope", "{said}");
    }
    if have("fish") {
        let file = script("fish");
        let path = file.path().display();
        let said = shell_says(
            "fish",
            &format!("source {path}; complete -C 'tcpscope wat'"),
        );
        assert!(said.starts_with("watch\t"), "{said}");
    }
}

#[test]
fn an_unknown_shell_is_refused_with_the_ones_there_are() {
    let out = Command::new(bin())
        .args(["completions", "tcsh"])
        .output()
        .expect("tcpscope");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
    assert!(err.contains("bash, elvish, fish, powershell, zsh"), "{err}");
}

#[test]
fn man_renders_the_page_with_every_subcommand() {
    let page = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(page.path(), generated(&["man"])).expect("write");
    let out = Command::new("man")
        .arg("-l")
        .arg(page.path())
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output();
    let Ok(out) = out else {
        eprintln!("skipped: man is not installed (.ci/run installs man-db)");
        return;
    };
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for heading in [
        "NAME",
        "SYNOPSIS",
        "OPTIONS",
        "WATCH",
        "DEMO",
        "EXIT STATUS",
    ] {
        assert!(
            text.lines().any(|l| l.trim() == heading),
            "{heading}: {text}"
        );
    }
    assert!(text.contains("--summary"), "watch's own options: {text}");
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let mut child = Command::new(bin())
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpscope");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What `cargo install tcpscope` would download: the sources, the demos
/// it embeds, the README; not the fuzz corpora or CI scripts.
#[test]
fn the_published_crate_holds_what_a_build_needs_and_no_more() {
    let out = Command::new(env!("CARGO"))
        .args(["package", "--list", "--allow-dirty", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo");
    assert!(out.status.success(), "{out:?}");
    let files = String::from_utf8_lossy(&out.stdout);
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "src/main.rs",
        "assets/demos/handshake.demo",
    ] {
        assert!(files.lines().any(|f| f == needed), "{needed} in {files}");
    }
    for left_out in ["fuzz/", ".ci/", "target/"] {
        assert!(
            !files.lines().any(|f| f.starts_with(left_out)),
            "{left_out} in {files}"
        );
    }
}
