//! The README tells the truth about the keys: every line of the key table
//! that drives the program is in it.

#[test]
fn every_key_in_the_key_table_is_documented() {
    let readme = include_str!("../README.md");
    for b in tcpscope::ui::keymap::KEYMAP {
        if let Some(label) = b.label {
            assert!(
                readme.contains(&format!("| `{label}` |")),
                "README.md has no key table row for `{label}` ({})",
                b.help
            );
        }
    }
}
