#!/usr/bin/env bash
# Measures what watching a busy machine costs: a ~26,000-socket loopback
# table (12,000 connections in two farms, 2,000 TIME_WAIT), the live view
# run in tmux the way a person runs it, its CPU share of one core over
# 10 s read from /proc, its resident memory, and `--once --json` timed
# against `ss` (alternating runs, medians of 11). "polling" is the view
# without the tracepoint (`--source sockdiag`), as a user without root
# runs it.
#
#   sudo scripts/perf-live.sh [BINARY]      # default target/release/tcpscope
#
# Root: the live view then uses the tracepoint, as a user's would; the
# farms need ~13,000 open files each. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/tcpscope}
SECONDS_MEASURED=${SECONDS_MEASURED:-10}
[ "${1:-}" ] || cargo build --release >&2
SESSION=tcpscope-perf FILES=14000
. scripts/perf-common.sh

# live LABEL ARGS...: the view in tmux; prints CPU % of one core and RSS.
live() {
    local label=$1; shift
    tmux kill-session -t tcpscope-perf 2>/dev/null || true
    tmux new-session -d -s tcpscope-perf -x 160 -y 45 "$BIN $*"
    sleep 3
    local pid
    pid=$(pgrep -n -f "^$BIN") || { echo "perf-live: $BIN did not start" >&2; return 1; }
    local a b
    a=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    sleep "$SECONDS_MEASURED"
    b=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    local rss
    rss=$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")
    awk -v l="$label" -v a="$a" -v b="$b" -v hz="$HZ" -v s="$SECONDS_MEASURED" -v r="$rss" \
        'BEGIN { printf "%-58s %6.1f%%  %4d MiB\n", l, (b - a) / hz / s * 100, r }'
    tmux send-keys -t tcpscope-perf q
    sleep 1
}

wait_for_old_time_waits
farm a 6000 1000 0 4
farm b 6000 1000 0 4
echo "table: $(ss -tanH | wc -l) TCP sockets; $(uname -r); $(nproc) cores"
echo
# Whole-table readings first, while the table holds still.
echo "one reading, whole process"
versus "--once --json, whole table, vs ss -tan" "$BIN --once --json" "ss -tan"
versus "--once (text), whole table, vs ss -tan" "$BIN --once" "ss -tan"
echo
echo "live view, whole table                                      cpu      rss"
live "default interval (250 ms)"
live "-i 100ms" -i 100ms
live "polling (no tracepoint, as without root), default" --source sockdiag
live "polling, -i 100ms" --source sockdiag -i 100ms
farm c 100 0 200 4
live "default, while 200 connections/s open and close elsewhere"
live "polling, while 200 connections/s open and close elsewhere" --source sockdiag
kill "${farms[2]}"; wait "${farms[2]}" 2>/dev/null || true
farm d 100 0 100 1
PORT=$(first_port d)
live "100 connections/s on the watched port, -i 100ms" -i 100ms "$PORT"
echo
versus "--once --json PORT vs ss -tan '( sport = :P or dport = :P )'" \
    "$BIN --once --json $PORT" "ss -tan ( sport = :$PORT or dport = :$PORT )"
