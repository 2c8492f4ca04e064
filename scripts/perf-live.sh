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
HZ=$(getconf CLK_TCK)
command -v tmux >/dev/null || { echo "perf-live: needs tmux (apt-get install tmux)" >&2; exit 1; }
ulimit -n 14000 2>/dev/null || { echo "perf-live: cannot raise the open-files limit to 14000 (run as root)" >&2; exit 1; }
[ "${1:-}" ] || cargo build --release >&2
cargo build --release --example socket_farm >&2
FARM=target/release/examples/socket_farm
OUT=$(mktemp -d)
farms=()
cleanup() {
    tmux kill-session -t tcpscope-perf 2>/dev/null || true
    for f in "${farms[@]}"; do kill "$f" 2>/dev/null || true; done
    rm -rf "$OUT"
}
trap cleanup EXIT

# farm NAME ESTABLISHED TIME_WAIT CHURN LISTENERS: starts one, waits until ready.
farm() {
    "$FARM" "$2" "$3" 3600 "$4" "$5" > "$OUT/$1" 2>&1 &
    farms+=($!)
    until grep -q ready "$OUT/$1" 2>/dev/null; do sleep 0.5; done
}
first_port() { sed -n 's/.*ports=\([0-9]*\).*/\1/p' "$OUT/$1"; }

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

# versus LABEL CMD_A CMD_B: alternating runs, medians, ratio A/B.
versus() {
    python3 - "$@" <<'PY'
import shlex, statistics, subprocess, sys, time
label, a, b = sys.argv[1], shlex.split(sys.argv[2]), shlex.split(sys.argv[3])
def once(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t) * 1000
for _ in range(2):
    once(a); once(b)
ta, tb = [], []
for _ in range(11):
    ta.append(once(a)); tb.append(once(b))
ma, mb = statistics.median(ta), statistics.median(tb)
print(f"{label:<58} {ma:6.1f} ms vs {mb:6.1f} ms  {ma / mb:.2f}x")
PY
}

# TIME_WAITs left by an earlier run would make the table bigger than asked.
for _ in $(seq 1 70); do
    [ "$(ss -tanH state time-wait | wc -l)" -lt 100 ] && break
    sleep 1
done
farm a 6000 1000 0 4
farm b 6000 1000 0 4
echo "table: $(ss -tanH | wc -l) TCP sockets; $(uname -r); $(nproc) cores"
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
echo "one reading, whole process"
versus "--once --json, whole table, vs ss -tan" "$BIN --once --json" "ss -tan"
versus "--once (text), whole table, vs ss -tan" "$BIN --once" "ss -tan"
versus "--once --json PORT vs ss -tan '( sport = :P or dport = :P )'" \
    "$BIN --once --json $PORT" "ss -tan ( sport = :$PORT or dport = :$PORT )"
