#!/usr/bin/env bash
# What watching costs next to what people run instead: each tool in turn
# under the same load, in tmux (160x45) as a person runs it, its CPU share
# of one core over 10 s after a 3 s warm-up, read from /proc/PID/stat with
# the children it has reaped (utime stime cutime cstime, so a `watch ss`
# loop counts its ss runs), its resident memory, and the connections/s the
# machine accepted meanwhile (the load's achieved rate). Cases:
#
#   nginx      nginx on 127.0.0.1 (one worker, keepalive_timeout 0) under
#              wrk -t1 -c8 -H 'Connection: close': `tcpscope PORT`,
#              `watch -n0.25 ss -tan '( sport = :P or dport = :P )'`, rustnet
#   even500    500 connections/s, evenly spaced (examples/churn), on the
#              watched port: the same three, and `tcpscope -i 1s PORT`
#   elsewhere  200 connections/s elsewhere, the whole 26k-socket table:
#              tcpscope, rustnet
#   idle26k    26k sockets, nothing changing, the whole table
#   emptyport  26k sockets, a port with no sockets: `tcpscope 1`, `watch -n1 ss`
#   idle100k   100k sockets, nothing changing, the whole table
#   once       `--once --json` against `ss -tan` at 26k and 100k sockets and
#              against `netstat -tan` at 100k (alternating runs, medians)
#
#   sudo scripts/perf-peers.sh [BINARY]      # default target/release/tcpscope
#   sudo CASES="nginx once" SECONDS_MEASURED=5 scripts/perf-peers.sh
#   sudo BEFORE=old/tcpscope scripts/perf-peers.sh   # an older build beside it
#
# The load on the watched port runs FILL seconds (default 60, TIME_WAIT's
# lifetime) before the first tool, so every tool sees the same table: the
# server's TIME_WAITs at their steady number. Installs what it lacks from
# Debian (nginx, wrk, procps, net-tools, tmux) and, when `rustnet` is not on
# PATH, tries `cargo install rustnet-monitor` (without it, rustnet's rows
# are left out). rustnet runs with --show-localhost: without it, it shows
# nothing on lo. The 26k table is perf-live's two farms, the 100k one seven
# more. Root: the tracepoint, capture, the farms' open files. Loopback
# only; every load is bounded in time; about 7 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/tcpscope}
SECONDS_MEASURED=${SECONDS_MEASURED:-10}
FILL=${FILL:-60}
CASES=${CASES:-nginx even500 elsewhere idle26k emptyport idle100k once}
[ "$(id -u)" = 0 ] || { echo "perf-peers: needs root" >&2; exit 1; }
[ "${1:-}" ] || cargo build --release >&2
SESSION=tcpscope-peers FILES=14000
. scripts/perf-common.sh
cargo build --release --example churn >&2
CHURN=$PWD/target/release/examples/churn
BIN=$(realpath "$(command -v "$BIN")")
BEFORE=${BEFORE:+$(realpath "$BEFORE")}
has() { [[ " $CASES " == *" $1 "* ]]; }
began=$(date +%s)
need nginx:nginx wrk:wrk procps:watch net-tools:netstat

# rustnet, from crates.io when missing (it needs libpcap and libelf to build).
RUSTNET=
if has nginx || has even500 || has elsewhere; then
    RUSTNET=$(command -v rustnet || true)
    [ "$RUSTNET" ] || [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/rustnet" ] || RUSTNET=${CARGO_HOME:-$HOME/.cargo}/bin/rustnet
    if [ -z "$RUSTNET" ]; then
        echo "perf-peers: rustnet is not installed; building it (cargo install rustnet-monitor)" >&2
        if need libpcap-dev libelf-dev clang pkg-config &&
            cargo install rustnet-monitor --no-default-features --features linux-default >&2; then
            RUSTNET=${CARGO_HOME:-$HOME/.cargo}/bin/rustnet
        else
            echo "perf-peers: rustnet could not be built; going on without it" >&2
        fi
    fi
fi

rows=$OUT/rows
: > "$rows"
notes=()
# row CASE TOOL FIELDS...: one line of the table, shown as it comes too.
row() {
    local IFS=$'\t'
    echo "$*" >> "$rows"
    echo "  $*" >&2
}

# measure CASE TOOL QUIT CMD: CMD in tmux; QUIT is q (a key) or kill.
# $expect: the connections/s the case's load makes (empty: not known).
expect=0
measure() {
    local case=$1 tool=$2 quit=$3 cmd=$4 pid sockets a b o1 o2 t1 t2 rss drops rate
    tmux kill-session -t "$SESSION" 2>/dev/null || true
    tmux new-session -d -s "$SESSION" -x 160 -y 45 "cd $OUT && exec $cmd"
    pid=$(tmux display-message -p -t "$SESSION" '#{pane_pid}' 2>/dev/null) || pid=
    [ "$pid" ] && pids+=("$pid")
    sleep 3
    if [ -z "$pid" ] || [ ! -e "/proc/$pid" ]; then
        echo "perf-peers: $tool did not start ($cmd)" >&2
        row "$case" "$tool" "-" "-" "-" "-"
        return 0
    fi
    sockets=$(ss -tanH | wc -l)
    a=$(cpu_ticks "$pid"); o1=$(passive_opens); t1=$(date +%s.%N)
    sleep "$SECONDS_MEASURED"
    b=$(cpu_ticks "$pid"); o2=$(passive_opens); t2=$(date +%s.%N)
    rss=$(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")
    # What rustnet says it could not keep up with.
    drops=$(tmux capture-pane -p -t "$SESSION" | grep -o 'Queue Drops: [0-9]*' || true)
    [ -z "$drops" ] || notes+=("$case, $tool: rustnet's screen at the end: $drops")
    if [ "$quit" = q ]; then tmux send-keys -t "$SESSION" q; else kill "$pid" 2>/dev/null || true; fi
    gone "$pid"
    tmux kill-session -t "$SESSION" 2>/dev/null || true
    rate=$(awk -v a="$o1" -v b="$o2" -v s="$t1" -v e="$t2" 'BEGIN { printf "%.0f", (b - a) / (e - s) }')
    row "$case" "$tool" \
        "$(awk -v a="$a" -v b="$b" -v hz="$HZ" -v s="$t1" -v e="$t2" 'BEGIN { printf "%.1f", (b - a) / hz / (e - s) * 100 }')" \
        "$rss" "$rate" "$sockets"
    # The machine is shared: say so when the rate is not the load's.
    if [ "$expect" ] && awk -v r="$rate" -v x="$expect" 'BEGIN { d = r - x; exit !(d * d > (x / 10 + 10) ^ 2) }'; then
        notes+=("$case, $tool: $rate connections/s where the load makes $expect (other connections on this machine, or the load fell behind)")
    fi
}

# ours CASE LABEL [ARGS]: tcpscope ARGS, and the BEFORE build's row after it.
ours() {
    measure "$1" "$2" q "$BIN ${*:3}"
    [ -z "$BEFORE" ] || measure "$1" "$2 (before)" q "$BEFORE ${*:3}"
}

# The other tools on PORT: `watch ss` every 250 ms and rustnet.
ss_port() { echo "ss -tan '( sport = :$1 or dport = :$1 )'"; }
peers_on_port() {
    local case=$1 port=$2
    measure "$case" "watch -n0.25 ss PORT" kill "watch -n0.25 \"$(ss_port "$port")\""
    [ -z "$RUSTNET" ] || measure "$case" "rustnet -i lo -f 'tcp port PORT'" kill \
        "$RUSTNET -i lo --show-localhost -f 'tcp port $port'"
}

# versus_row CASE LABEL CMD_A CMD_B [RUNS]: perf-common's versus as a row.
versus_row() {
    local line
    line=$(versus "${@:2}")
    line=${line#"$2"}
    row "$1" "$2" "${line#"${line%%[! ]*}"}"
}

# churn_start NAME RATE SECONDS: examples/churn at RATE connections/s for
# about SECONDS; sets churn (its pid) and port (its listener's).
churn_start() {
    "$CHURN" $(($2 * $3)) 2 0 "$2" > "$OUT/$1" 2>&1 &
    churn=$!
    pids+=("$churn")
    until grep -q port= "$OUT/$1" 2>/dev/null; do sleep 0.1; done
    port=$(sed -n 's/^port=//p' "$OUT/$1")
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
# Seconds one tool takes here: warm-up, the measurement, quitting, slack.
per_tool=$((SECONDS_MEASURED + 6))
# Each of our rows is two with BEFORE: the loads last that much longer.
ours_n=1; [ -z "$BEFORE" ] || ours_n=2

echo "$(uname -r); $(nproc) cores; ${SECONDS_MEASURED} s per measurement; cases: $CASES" >&2
# What else the machine does (it may be shared): its table and connections/s before we start.
o1=$(passive_opens); sleep 2; o2=$(passive_opens)
before="before the run: $(ss -tanH | wc -l) TCP sockets, $(((o2 - o1) / 2)) connections/s"
echo "$before" >&2

# The 26k table (perf-live's): two farms of 6,000 connections, 2,000 TIME_WAIT.
if has idle26k || has emptyport || has elsewhere || has idle100k || has once; then
    wait_for_old_time_waits
    farm a 6000 1000 0 4
    farm b 6000 1000 0 4
    echo "table: $(ss -tanH | wc -l) TCP sockets" >&2
fi
if has once; then
    versus_row once26k "--once --json vs ss -tan" "$BIN --once --json" "ss -tan"
    [ -z "$BEFORE" ] || versus_row once26k "--once --json vs before" "$BIN --once --json" "$BEFORE --once --json"
fi
if has idle26k; then
    ours idle26k "tcpscope"
fi
if has emptyport; then
    ours emptyport "tcpscope 1" 1
    measure emptyport "watch -n1 ss port 1" kill "watch -n1 \"$(ss_port 1)\""
fi
if has elsewhere; then
    churn_start elsewhere 200 $(((1 + ours_n) * per_tool + 5))
    expect=200
    ours elsewhere "tcpscope"
    [ -z "$RUSTNET" ] || measure elsewhere "rustnet -i lo" kill "$RUSTNET -i lo --show-localhost"
    stop "$churn"
    expect=0
fi

# The 100k table: seven more farms of 5,500 connections.
if has idle100k || has once; then
    for i in $(seq 1 7); do start_farm "x$i" 5500 0 0 4; done
    for i in $(seq 1 7); do ready "x$i"; done
    wait_for_old_time_waits
    echo "table: $(ss -tanH | wc -l) TCP sockets" >&2
fi
if has idle100k; then
    ours idle100k "tcpscope"
fi
if has once; then
    versus_row once100k "--once --json vs ss -tan" "$BIN --once --json" "ss -tan" 7
    [ -z "$BEFORE" ] || versus_row once100k "--once --json vs before" "$BIN --once --json" "$BEFORE --once --json" 7
    versus_row once100k "--once --json vs netstat -tan" "$BIN --once --json" "netstat -tan" 5
fi
for f in "${farms[@]}"; do stop "$f"; done
farms=()

# Load on the watched port; the farms' closing TIME_WAITs go during FILL.
if has even500; then
    churn_start even500 500 $((FILL + (2 + 2 * ours_n) * per_tool + 5))
    expect=500
    echo "even500: port $port, filling for $FILL s" >&2
    sleep "$FILL"
    ours even500 "tcpscope PORT" $port
    ours even500 "tcpscope -i 1s PORT" -i 1s $port
    peers_on_port even500 "$port"
    stop "$churn"
fi
if has nginx; then
    web=$OUT/nginx
    mkdir -p "$web/www"
    chmod 711 "$OUT"; chmod 755 "$web" "$web/www"
    echo hello > "$web/www/index.html"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat > "$web/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $web/nginx.pid;
error_log $web/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_timeout 0;
    client_body_temp_path $web/body;
    proxy_temp_path $web/proxy;
    fastcgi_temp_path $web/fastcgi;
    uwsgi_temp_path $web/uwsgi;
    scgi_temp_path $web/scgi;
    server {
        listen 127.0.0.1:$port;
        root $web/www;
    }
}
EOF
    nginx -p "$web" -c "$web/nginx.conf" -e "$web/error.log" &
    nginx=$!
    pids+=("$nginx")
    until [ "$(ss -tlnH "sport = :$port" | wc -l)" -gt 0 ]; do
        kill -0 "$nginx" 2>/dev/null || { cat "$web/error.log" >&2; exit 1; }
        sleep 0.1
    done
    wrk -t1 -c8 -H 'Connection: close' -d $((FILL + (2 + ours_n) * per_tool + 5))s "http://127.0.0.1:$port/" > "$OUT/wrk" 2>&1 &
    wrk=$!
    expect=
    pids+=("$wrk")
    echo "nginx: port $port, filling for $FILL s" >&2
    sleep "$FILL"
    ours nginx "tcpscope PORT" $port
    peers_on_port nginx "$port"
    kill -INT "$wrk" 2>/dev/null || true
    wait "$wrk" 2>/dev/null || true
    notes+=("nginx: wrk $(awk '/Requests\/sec/ { printf "%.0f requests/s", $2 }
                                 /requests in/ { sub(",", "", $4); t = $4 }
                                 /Socket errors|Non-2xx/ { sub("^ *", ""); e = e "; " $0 }
                                 END { print " over its " t " run (each a connection)" e }' "$OUT/wrk")")
    stop "$nginx"
fi

echo
echo "cpu: % of one core over ${SECONDS_MEASURED} s, children included; conn/s: connections the machine accepted meanwhile"
echo "($(uname -r), $(nproc) cores, $(date -u +%Y-%m-%d); $before)"
echo
awk -F '\t' '
    NF == 6 { if (!head++) printf "%-10s %-34s %6s %7s %7s %8s\n", "case", "tool", "cpu %", "rss MiB", "conn/s", "sockets"
              printf "%-10s %-34s %6s %7s %7s %8s\n", $1, $2, $3, $4, $5, $6 }
    NF == 3 { once[++n] = sprintf("%-10s %-34s %s", $1, $2, $3) }
    END { if (n) { if (head) print ""; printf "%-10s %-34s %s\n", "case", "one reading (medians)", "tcpscope vs the other, ratio"
                   for (i = 1; i <= n; i++) print once[i] } }' "$rows"
[ "$RUSTNET" ] || ! { has nginx || has even500 || has elsewhere; } || echo "rustnet: not installed and could not be built: its rows are missing"
for n in "${notes[@]}"; do echo "$n"; done
echo "run time: $(($(date +%s) - began)) s"
