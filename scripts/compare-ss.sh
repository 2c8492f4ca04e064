#!/usr/bin/env bash
# Times `tcpscope --once --json` against `ss -tan` over the same ~25k-socket
# loopback table, whole process, alternating runs. Uses hyperfine
# (apt-get install hyperfine); builds the table with scripts/bench-table.sh.
#
#   scripts/compare-ss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "compare-ss: needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
cargo build --release >&2
pkill -f 'examples/socket_farm' 2>/dev/null || true
HOLD=600 scripts/bench-table.sh > /tmp/tcpscope-farm.out 2>&1 &
until grep -q ready /tmp/tcpscope-farm.out 2>/dev/null; do sleep 1; done
PORT=$(sed -n 's/.*ports=\([0-9]*\),.*/\1/p' /tmp/tcpscope-farm.out)
SMALL=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "table: $(ss -tan | wc -l) TCP sockets; busy port $PORT; quiet port $SMALL"
hyperfine -N -w 3 -r 20 \
    'target/release/tcpscope --once --json' 'ss -tan' \
    "target/release/tcpscope --once --json $PORT" "ss -tan ( sport = :$PORT or dport = :$PORT )" \
    "target/release/tcpscope --once --json $SMALL" "ss -tan ( sport = :$SMALL or dport = :$SMALL )" \
    'netstat -tan'
pkill -f 'examples/socket_farm' || true
