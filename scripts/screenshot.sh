#!/usr/bin/env bash
# Regenerates assets/screenshot.svg from the real TUI: opens a few loopback
# connections in different states, runs tcpscope on their port in tmux,
# closes one connection so a state change is on screen, and captures it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
PORT=${PORT:-18080}
python3 - "$PORT" <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(8)
def conn():
    c = socket.create_connection(("127.0.0.1", port)); s, _ = srv.accept(); return c, s
keep = [conn() for _ in range(3)]
for _ in range(2):            # client closes first: client TIME_WAIT
    c, s = conn(); c.close(); time.sleep(0.05); s.close()
half = conn(); half[0].close()  # client FIN_WAIT_2, server CLOSE_WAIT
time.sleep(4)
late = conn(); keep[0][0].close()  # a new row and a state change, live
time.sleep(30)
PY
FARM=$!
sleep 1
tmux kill-session -t shot 2>/dev/null || true
tmux new-session -d -s shot -x 140 -y 24 "target/release/tcpscope $PORT -i 100ms"
sleep 4.6
tmux capture-pane -e -p -t shot > /tmp/tcpscope-shot.txt
tmux kill-session -t shot
kill "$FARM" 2>/dev/null || true
python3 scripts/ansi2svg.py < /tmp/tcpscope-shot.txt > assets/screenshot.svg
echo "wrote assets/screenshot.svg"
