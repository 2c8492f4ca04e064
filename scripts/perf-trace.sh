#!/usr/bin/env bash
# Whether the live pipeline keeps up with the kernel: `tcpscope watch
# --json PORT` (event-driven, from the tracepoint) while examples/churn
# opens and closes connections on that port as fast as this machine can
# (ten transitions each). Prints the transitions per second the kernel
# made, the events tcpscope wrote, and what the kernel's trace buffer
# dropped (tcpscope says so on stderr).
#
#   sudo scripts/perf-trace.sh [BINARY]   # N=200000 THREADS=2 RATE=0 (conn/s, 0: flat out)
#
# With `perf` installed, the kernel's own count of transitions is read too
# (perf stat on the same tracepoint).
#
# Root (the tracepoint). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/tcpscope}
N=${N:-200000}
THREADS=${THREADS:-2}
RATE=${RATE:-0}
[ "$(id -u)" = 0 ] || { echo "perf-trace: needs root (the tracepoint)" >&2; exit 1; }
[ "${1:-}" ] || cargo build --release >&2
cargo build --release --example churn >&2
OUT=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$OUT"
}
trap cleanup EXIT

CHURN=(target/release/examples/churn "$N" "$THREADS" 3 "$RATE")
if command -v perf >/dev/null; then
    CHURN=(perf stat -e sock:inet_sock_set_state -a -x, -o "$OUT/perf" -- "${CHURN[@]}")
fi
"${CHURN[@]}" > "$OUT/churn" 2>&1 &
pids+=($!)
churn=$!
until grep -q port= "$OUT/churn" 2>/dev/null; do sleep 0.1; done
PORT=$(sed -n 's/^port=//p' "$OUT/churn")
"$BIN" watch --json "$PORT" > "$OUT/events" 2> "$OUT/stderr" &
pids+=($!)
watcher=$!
wait "$churn"
# Until every connection has ended in tcpscope's view (the slow
# reconciliation reading confirms what the tracepoint missed, if anything).
sleep 7
kill -INT "$watcher"
wait "$watcher" 2>/dev/null || true
python3 - "$OUT/churn" "$OUT/events" "$OUT/stderr" "$OUT/perf" <<'PY'
import json, os, re, sys
churn = open(sys.argv[1]).read()
stats = dict(re.findall(r"(\w+)=([\d.]+)", churn))
kinds = {}
for line in open(sys.argv[2]):
    try:
        kind = json.loads(line).get("event", "?")
    except ValueError:
        kind = "unparsable"
    kinds[kind] = kinds.get(kind, 0) + 1
lost = re.findall(r"(\d+) state changes were lost", open(sys.argv[3]).read())
print(f"connections: {stats.get('connections')} in {stats.get('seconds')} s ({stats.get('per_second')}/s)")
if os.path.exists(sys.argv[4]):
    counted = [l.split(",")[0] for l in open(sys.argv[4]) if "inet_sock_set_state" in l]
    if counted and counted[0].isdigit():
        n = int(counted[0])
        print(f"transitions the kernel made (perf stat, whole machine): {n}, "
              f"{n / float(stats.get('seconds', 1)):.0f}/s while the connections ran")
print("events written: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
print(f"lost by the kernel's trace buffer: {lost[-1] if lost else 0}")
PY
