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
[ "$BIN" != target/release/tcpscope ] || cargo build --release >&2
SESSION=tcpscope-scale FILES=12000
. scripts/perf-common.sh
wait_for_old_time_waits
for i in $(seq 1 9); do
    tw=0; [ "$i" = 1 ] && tw=1000
    start_farm "farm$i" 5500 "$tw" 0 4
done
for i in $(seq 1 9); do ready "farm$i"; done
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
versus "--once --json vs ss -tan" "$BIN --once --json" "ss -tan" 7
