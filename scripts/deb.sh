#!/usr/bin/env bash
# Builds the Debian package (target/debian/tcpscope_*.deb): the release
# binary, the manual page and shell completions it generates, the README.
#
#   scripts/deb.sh [BINARY]   # BINARY: package that build instead of making one
#
# Needs cargo-deb (`cargo install cargo-deb`). Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
if [ -n "${1:-}" ]; then
    mkdir -p "$target/release"
    [ "$1" -ef "$target/release/tcpscope" ] || cp "$1" "$target/release/tcpscope"
else
    cargo build --release --locked >&2
fi
bin=$target/release/tcpscope
mkdir -p "$target/release/completions"
"$bin" man | gzip -9n > "$target/release/tcpscope.1.gz"
"$bin" completions bash > "$target/release/completions/tcpscope"
"$bin" completions zsh > "$target/release/completions/_tcpscope"
"$bin" completions fish > "$target/release/completions/tcpscope.fish"
cargo deb --no-build --locked --quiet --output "$target/debian/" >&2
ls -t "$target"/debian/tcpscope_*.deb | head -1
