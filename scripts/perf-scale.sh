#!/usr/bin/env bash
# The live view at 100,000 sockets: nine socket farms of 5,500 loopback
# connections each (11,000 sockets per process, under the open-files
# limit) plus 1,000 TIME_WAITs, the view run in tmux as a person runs it.
# Prints its memory, its CPU share while the table holds still, how long
# a key press takes to show on screen (ten presses of Down, read back with
# capture-pane), and `--once --json` against `ss -tan`.
#
#   sudo scripts/perf-scale.sh [BINARY] [ARGS...]   # ARGS: e.g. --source sockdiag
#
# Root: the farms need 12,000 open files each. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/tcpscope}
shift || true
HZ=$(getconf CLK_TCK)
command -v tmux >/dev/null || { echo "perf-scale: needs tmux (apt-get install tmux)" >&2; exit 1; }
ulimit -n 12000 2>/dev/null || { echo "perf-scale: cannot raise the open-files limit to 12000 (run as root)" >&2; exit 1; }
[ "$BIN" != target/release/tcpscope ] || cargo build --release >&2
cargo build --release --example socket_farm >&2
OUT=$(mktemp -d)
farms=()
cleanup() {
    tmux kill-session -t tcpscope-scale 2>/dev/null || true
    for f in "${farms[@]}"; do kill "$f" 2>/dev/null || true; done
    rm -rf "$OUT"
}
trap cleanup EXIT
for _ in $(seq 1 70); do
    [ "$(ss -tanH state time-wait | wc -l)" -lt 100 ] && break
    sleep 1
done
for i in $(seq 1 9); do
    tw=0; [ "$i" = 1 ] && tw=1000
    target/release/examples/socket_farm 5500 "$tw" 3600 0 4 > "$OUT/farm$i" 2>&1 &
    farms+=($!)
done
for i in $(seq 1 9); do
    until grep -q ready "$OUT/farm$i" 2>/dev/null; do sleep 0.5; done
done
echo "table: $(ss -tanH | wc -l) TCP sockets; $(uname -r); $(nproc) cores"
tmux new-session -d -s tcpscope-scale -x 160 -y 45 "$BIN $*"
started=$(date +%s.%N)
# Ready when the header counts the whole table.
until tmux capture-pane -p -t tcpscope-scale | grep -Eq "\b(9[0-9]{4}|1[0-9]{5}) sockets"; do
    sleep 0.05
done
ready=$(date +%s.%N)
sleep 3
pid=$(pgrep -n -f "^$BIN")
a=$(awk '{print $14 + $15}' "/proc/$pid/stat")
sleep 10
b=$(awk '{print $14 + $15}' "/proc/$pid/stat")
awk -v s="$started" -v r="$ready" 'BEGIN { printf "first screen with the whole table: %.2f s\n", r - s }'
awk -v a="$a" -v b="$b" -v hz="$HZ" 'BEGIN { printf "cpu while the table holds still: %.1f%% of one core\n", (b - a) / hz / 10 * 100 }'
awk '/VmRSS/ { printf "rss: %.0f MiB\n", $2 / 1024 } /VmHWM/ { printf "peak rss: %.0f MiB\n", $2 / 1024 }' "/proc/$pid/status"
python3 - <<'PY'
import statistics, subprocess, time
def screen():
    return subprocess.run(["tmux", "capture-pane", "-p", "-e", "-t", "tcpscope-scale"],
                          capture_output=True, text=True).stdout
times = []
for _ in range(10):
    before = screen()
    t = time.perf_counter()
    subprocess.run(["tmux", "send-keys", "-t", "tcpscope-scale", "Down"])
    while screen() == before:
        if time.perf_counter() - t > 5:
            break
    times.append((time.perf_counter() - t) * 1000)
    time.sleep(0.3)
print(f"key press to screen (Down, 10 presses, incl. ~2 ms per capture): "
      f"median {statistics.median(times):.0f} ms, max {max(times):.0f} ms")
PY
tmux send-keys -t tcpscope-scale q
sleep 1
python3 - "$BIN" <<'PY'
import statistics, subprocess, sys, time
def once(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t) * 1000
a, b = [sys.argv[1], "--once", "--json"], ["ss", "-tan"]
once(a); once(b)
ta, tb = [], []
for _ in range(7):
    ta.append(once(a)); tb.append(once(b))
ma, mb = statistics.median(ta), statistics.median(tb)
print(f"--once --json vs ss -tan: {ma:.1f} ms vs {mb:.1f} ms  {ma / mb:.2f}x")
PY
