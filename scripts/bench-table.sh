#!/usr/bin/env bash
# Builds a ~25k-socket table on loopback (9000 established connections =
# 18k sockets, 5000 TIME_WAIT) and holds it for HOLD seconds (default 300)
# so tcpscope and ss can be timed against the same table.
#
#   scripts/bench-table.sh &          # wait for "ready ports=..."
#   ss -tan | wc -l                   # ~23k rows
#
# It raises the open-files limit for itself (root can; otherwise run
# `ulimit -n 65536` as a user allowed to).
set -euo pipefail
cd "$(dirname "$0")/.."
ESTABLISHED=${ESTABLISHED:-9000}
TIME_WAIT=${TIME_WAIT:-5000}
HOLD=${HOLD:-300}
CHURN=${CHURN:-0}   # connections replaced per second while holding
if ! ulimit -n $((ESTABLISHED * 2 + 1024)) 2>/dev/null; then
    echo "bench-table: cannot raise the open-files limit to $((ESTABLISHED * 2 + 1024)); run as root or raise 'ulimit -n'" >&2
    exit 1
fi
cargo build --release --example socket_farm >&2
exec target/release/examples/socket_farm "$ESTABLISHED" "$TIME_WAIT" "$HOLD" "$CHURN"
