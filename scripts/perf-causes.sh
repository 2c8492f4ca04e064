#!/usr/bin/env bash
# What knowing each transition's cause costs: CPU share of one core of
# `tcpscope watch --json PORT` and of the live view on PORT while
# examples/churn opens and closes RATE connections/s on it (ten transitions
# each), next to a shell loop of `ss` on the same port (every 250 ms, its
# children counted) and, with BEFORE=BINARY, an older build. Rounds
# alternate the tools; medians are printed. Also checks that every event
# `watch` printed has a cause.
#
#   sudo scripts/perf-causes.sh [BINARY]   # RATE=5000 SECONDS_MEASURED=10 ROUNDS=3 BEFORE=
#
# Root (the tracepoints). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/tcpscope}
RATE=${RATE:-5000}
SECS=${SECONDS_MEASURED:-10}
ROUNDS=${ROUNDS:-3}
BEFORE=${BEFORE:-}
[ "$(id -u)" = 0 ] || { echo "perf-causes: needs root (the tracepoints)" >&2; exit 1; }
command -v tmux >/dev/null || { echo "perf-causes: needs tmux (apt-get install tmux)" >&2; exit 1; }
[ "${1:-}" ] || cargo build --release >&2
cargo build --release --example churn >&2
OUT=$(mktemp -d)
TMUX_SOCKET="perf-causes-$$"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    tmux -L "$TMUX_SOCKET" kill-server 2>/dev/null || true
    rm -rf "$OUT"
}
trap cleanup EXIT
HZ=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 + $14 + $15 }'; }

# start TOOL PORT: starts it; prints the PID whose ticks count.
start() {
    case "$1" in
        watch) "$BIN" watch --json "$2" > "$OUT/events" 2> /dev/null & echo $! ;;
        before) "$BEFORE" watch --json "$2" > "$OUT/events-before" 2> /dev/null & echo $! ;;
        view | view-before)
            local bin=$BIN
            [ "$1" = view ] || bin=$BEFORE
            tmux -L "$TMUX_SOCKET" new-session -d -x 200 -y 50 "$bin $2"
            sleep 0.5
            tmux -L "$TMUX_SOCKET" list-panes -F '#{pane_pid}' ;;
        ss) bash -c "while :; do ss -tanoi '( sport = :$2 or dport = :$2 )' > /dev/null; sleep 0.25; done" > /dev/null 2>&1 &
            echo $! ;;
    esac
}

# one TOOL: CPU % of one core while the churn runs at RATE.
one() {
    local n=$((RATE * (SECS + 2)))
    target/release/examples/churn "$n" 2 2 "$RATE" > "$OUT/churn" 2>&1 &
    local churn=$!
    until grep -q port= "$OUT/churn" 2>/dev/null; do sleep 0.05; done
    local port pid
    port=$(sed -n 's/^port=//p' "$OUT/churn")
    pid=$(start "$1" "$port")
    sleep 3 # the churn's wait, then a second of load before measuring
    local t0 t1
    t0=$(cpu_ticks "$pid")
    sleep "$SECS"
    t1=$(cpu_ticks "$pid")
    wait "$churn" || true
    case "$1" in
        view | view-before) tmux -L "$TMUX_SOCKET" kill-server 2>/dev/null || true ;;
        *) kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true ;;
    esac
    awk -v d=$((t1 - t0)) -v hz="$HZ" -v s="$SECS" 'BEGIN { printf "%.1f\n", 100 * d / hz / s }'
}

tools=(watch view ss)
[ -n "$BEFORE" ] && tools=(watch before view view-before ss)
for r in $(seq 1 "$ROUNDS"); do
    for t in "${tools[@]}"; do
        echo "$t $(one "$t")" >> "$OUT/results"
        if [ "$t" = watch ]; then
            python3 - "$OUT/events" >> "$OUT/causes" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
moves = [e for e in events if e.get("event") in ("new", "state", "gone")]
unknown = sum(1 for e in moves if e.get("cause", {}).get("kind", "unknown") == "unknown")
print(f"events {len(moves)} without a cause {unknown}")
PY
        fi
    done
done
echo "CPU share of one core at $RATE connections/s ($SECS s, median of $ROUNDS):"
for t in "${tools[@]}"; do
    awk -v t="$t" '$1 == t { print $2 }' "$OUT/results" | sort -n |
        awk -v t="$t" '{ v[NR] = $1 } END { printf "  %-12s %5.1f%%  (runs: ", t, v[int((NR + 1) / 2)]; for (i = 1; i <= NR; i++) printf "%s%s", v[i], (i < NR ? " " : ")\n") }'
done
echo "watch --json, each round: $(paste -sd';' "$OUT/causes")"
