//! The fuzz corpora replayed on stable Rust: every input kept in
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through
//! the same driver the fuzz target runs (fuzz/drive.rs), so a parser
//! change that breaks on an input once found is caught by `cargo test`,
//! without nightly or libFuzzer.

#[path = "../fuzz/drive.rs"]
mod drive;

use std::path::{Path, PathBuf};

/// The files of one directory, sorted; none if it does not exist (a
/// target without regressions has no directory for them).
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

#[test]
fn every_kept_input_goes_through_its_parser_without_a_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failed = Vec::new();
    for &(target, run) in drive::TARGETS {
        let corpus = files(&root.join("corpus").join(target));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{target}/ is missing or empty"
        );
        let regressions = files(&root.join("regressions").join(target));
        for path in corpus.iter().chain(&regressions) {
            let input = std::fs::read(path).expect("a corpus file reads");
            if std::panic::catch_unwind(|| run(&input)).is_err() {
                failed.push(path.display().to_string());
            }
        }
    }
    assert!(failed.is_empty(), "inputs that panicked: {failed:#?}");
}
