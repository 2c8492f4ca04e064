# Shared by perf-live.sh, perf-scale.sh and perf-peers.sh (sourced, not
# run): socket farms that hold a loopback table, clean-up on exit, timing
# against `ss`, CPU read from /proc. Needs SESSION (the tmux session name)
# and FILES (the open-files limit each farm needs) set before it is sourced.

# need PACKAGE[:COMMAND]...: installs from Debian those packages whose
# COMMAND is missing (without one: that are not installed), with one
# `apt-get update` first.
apt_updated=
need() {
    local want=() p c
    for p in "$@"; do
        c=${p#*:}; p=${p%%:*}
        if [ "$c" != "$p" ]; then
            command -v "$c" >/dev/null && continue
        else
            dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q ' installed' && continue
        fi
        want+=("$p")
    done
    [ ${#want[@]} = 0 ] && return 0
    echo "$0: installing ${want[*]}" >&2
    [ "$apt_updated" ] || { apt-get update -q >&2 && apt_updated=1; } || return 1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >&2
}
need tmux:tmux || { echo "$0: needs tmux (apt-get install tmux)" >&2; exit 1; }
ulimit -n "$FILES" 2>/dev/null || { echo "$0: cannot raise the open-files limit to $FILES (run as root)" >&2; exit 1; }
HZ=$(getconf CLK_TCK)
cargo build --release --example socket_farm >&2
FARM=target/release/examples/socket_farm
OUT=$(mktemp -d)
farms=()
pids=()   # whatever else a script starts: servers, load, tools outside tmux's reach
cleanup() {
    tmux kill-session -t "$SESSION" 2>/dev/null || true
    for f in "${farms[@]}" "${pids[@]}"; do kill "$f" 2>/dev/null || true; done
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

# cpu_ticks PID: user and system time of the process and of the children
# it has reaped (fields 14-17 of /proc/PID/stat), in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 + $14 + $15 }'; }
# passive_opens: connections this machine has accepted so far.
passive_opens() {
    awk '$1 == "Tcp:" { if (!c) { for (i = 2; i <= NF; i++) if ($i == "PassiveOpens") c = i } else print $c }' /proc/net/snmp
}
# gone PID: waits up to 5 s for a process that is not ours to end, then kills it.
gone() {
    for _ in $(seq 1 50); do
        [ -e "/proc/$1" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ] || return 0
        sleep 0.1
    done
    kill -9 "$1" 2>/dev/null || true
}

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
