#!/usr/bin/env bash
# Runs the live TUI (in tmux, polling every 100 ms) over the bench table
# with churn, and prints its CPU share and resident memory once a minute.
#
#   scripts/measure-tui.sh [MINUTES] [SOURCE]     # default 10, auto
#
# Needs tmux, and root (or a high open-files limit) for the table.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-10}
SOURCE=${2:-auto}
HZ=$(getconf CLK_TCK)
cargo build --release >&2
pkill -f 'examples/socket_farm' 2>/dev/null || true
ESTABLISHED=9000 TIME_WAIT=5000 HOLD=$((MINUTES * 60 + 120)) CHURN=${CHURN:-100} \
    scripts/bench-table.sh > /tmp/tcpscope-farm.out 2>&1 &
until grep -q ready /tmp/tcpscope-farm.out 2>/dev/null; do sleep 1; done
tmux kill-session -t tcpscope-measure 2>/dev/null || true
tmux new-session -d -s tcpscope-measure -x 160 -y 45 "target/release/tcpscope -i 100ms --source $SOURCE"
sleep 5
PID=$(pgrep -n -x tcpscope)
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
echo "minute  sockets  cpu%-of-one-core  rss-MiB"
prev=$(ticks)
for m in $(seq 1 "$MINUTES"); do
    sleep 60
    now=$(ticks)
    cpu=$(awk -v a="$prev" -v b="$now" -v hz="$HZ" 'BEGIN { printf "%.1f", (b - a) / hz / 60 * 100 }')
    rss=$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$PID/status")
    printf "%6d  %7d  %16s  %7s\n" "$m" "$(ss -tan | wc -l)" "$cpu" "$rss"
    prev=$now
done
tmux send-keys -t tcpscope-measure q
pkill -f 'examples/socket_farm' || true
