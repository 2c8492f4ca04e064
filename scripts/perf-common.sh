# Shared by perf-live.sh and perf-scale.sh (sourced, not run): socket
# farms that hold a loopback table, clean-up on exit, and timing against
# `ss`. Needs SESSION (the tmux session name) and FILES (the open-files
# limit each farm needs) set before it is sourced.
command -v tmux >/dev/null || { echo "$0: needs tmux (apt-get install tmux)" >&2; exit 1; }
ulimit -n "$FILES" 2>/dev/null || { echo "$0: cannot raise the open-files limit to $FILES (run as root)" >&2; exit 1; }
HZ=$(getconf CLK_TCK)
cargo build --release --example socket_farm >&2
FARM=target/release/examples/socket_farm
OUT=$(mktemp -d)
farms=()
cleanup() {
    tmux kill-session -t "$SESSION" 2>/dev/null || true
    for f in "${farms[@]}"; do kill "$f" 2>/dev/null || true; done
    rm -rf "$OUT"
}
trap cleanup EXIT

# TIME_WAITs left by an earlier run would make the table bigger than asked.
wait_for_old_time_waits() {
    for _ in $(seq 1 70); do
        [ "$(ss -tanH state time-wait | wc -l)" -lt 100 ] && break
        sleep 1
    done
}

# start_farm NAME ESTABLISHED TIME_WAIT CHURN LISTENERS; ready NAME waits for it.
start_farm() {
    "$FARM" "$2" "$3" 3600 "$4" "$5" > "$OUT/$1" 2>&1 &
    farms+=($!)
}
ready() { until grep -q ready "$OUT/$1" 2>/dev/null; do sleep 0.5; done; }
farm() { start_farm "$@"; ready "$1"; }
first_port() { sed -n 's/.*ports=\([0-9]*\).*/\1/p' "$OUT/$1"; }

# versus LABEL CMD_A CMD_B [RUNS]: alternating runs, medians, ratio A/B.
versus() {
    python3 - "$@" <<'PY'
import shlex, statistics, subprocess, sys, time
label, a, b = sys.argv[1], shlex.split(sys.argv[2]), shlex.split(sys.argv[3])
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 11
def once(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t) * 1000
for _ in range(2):
    once(a); once(b)
ta, tb = [], []
for _ in range(runs):
    ta.append(once(a)); tb.append(once(b))
ma, mb = statistics.median(ta), statistics.median(tb)
print(f"{label:<58} {ma:6.1f} ms vs {mb:6.1f} ms  {ma / mb:.2f}x")
PY
}
