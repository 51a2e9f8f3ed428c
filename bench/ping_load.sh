#!/usr/bin/env bash
# Load benchmark: wrk against GET /_ping over TCP loopback, berthd vs dockerd
# (Debian's docker.io on a private root, --bridge none --iptables=false),
# interleaved rounds in one run, plus idle RSS of each.
#
#   bench/ping_load.sh [ROUNDS] [SECONDS]       (defaults 5 rounds x 5 s)
#   BERTHD=path  BERTHD_B=path (optional 2nd berthd binary to A/B)
#   WRK_THREADS=2 WRK_CONNS=32  BERTH_THREADS=(default: berthd's own)
#   NO_DOCKER=1 to skip dockerd
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
secs="${2:-5}"
berthd="${BERTHD:-build/berthd}"
berthd_b="${BERTHD_B:-}"
wt="${WRK_THREADS:-2}"
wc="${WRK_CONNS:-32}"

command -v wrk >/dev/null || { echo "wrk missing: apt-get install wrk" >&2; exit 1; }
work=$(mktemp -d /tmp/berth-bench-XXXXXX)
pids=()
stop_pid() { # pid seconds: TERM, wait up to seconds, then KILL
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
cleanup() {
  set +e
  for p in "${pids[@]}"; do stop_pid "$p" 5; done
  # dockerd stops its own containerd; it may take a while, so wait for it,
  # then for anything still running from our private root.
  [ -n "${DOCKERD_PID:-}" ] && stop_pid "$DOCKERD_PID" 20
  for p in $(pgrep -f "$work/docker/" 2>/dev/null); do stop_pid "$p" 5; done
  grep " $work" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_ping() { for _ in $(seq 1 "${2:-200}"); do curl -sf "http://127.0.0.1:$1/_ping" >/dev/null && return 0; sleep 0.05; done; return 1; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

declare -A PORTS
start_berthd() { # name binary
  local p; p=$(port)
  mkdir -p "$work/$1"
  local targs=()
  [ -n "${BERTH_THREADS:-}" ] && targs=(--threads "$BERTH_THREADS")
  "$2" --root "$work/$1/root" --host "unix://$work/$1/berth.sock" --host "tcp://127.0.0.1:$p" \
    "${targs[@]}" 2>"$work/$1/log" &
  pids+=($!)
  PORTS[$1]=$p
  eval "PID_$1=$!"
  wait_ping "$p"
}

start_berthd berthd "$berthd"
names=(berthd)
if [ -n "$berthd_b" ]; then start_berthd berthd_b "$berthd_b"; names+=(berthd_b); fi

if [ "${NO_DOCKER:-0}" != 1 ] && command -v dockerd >/dev/null; then
  p=$(port)
  dockerd --data-root "$work/docker/root" --exec-root "$work/docker/exec" \
    --pidfile "$work/docker.pid" -H "unix://$work/docker/docker.sock" -H "tcp://127.0.0.1:$p" \
    --bridge none --iptables=false --ip6tables=false >"$work/docker.log" 2>&1 &
  DOCKERD_PID=$!
  PORTS[dockerd]=$p
  # dockerd (and its containerd) take seconds to come up here: up to 30 s.
  wait_ping "$p" 600 && names+=(dockerd) || { echo "dockerd did not start:" >&2; tail -5 "$work/docker.log" >&2; }
fi

sleep 1
echo "idle RSS before load (KiB):"
echo "  berthd: $(rss_kb "$PID_berthd")"
if [[ " ${names[*]} " == *" dockerd "* ]]; then
  dpid=$(cat "$work/docker.pid")
  cpid=$(pgrep -f "containerd --config $work/docker/exec" | head -1 || true)
  echo "  dockerd: $(rss_kb "$dpid")  containerd: ${cpid:+$(rss_kb "$cpid")}"
fi

declare -A RPS P50 P99
to_us() { # wrk latency like 312.00us / 1.20ms / 2.00s -> microseconds
  python3 -c "
import sys,re
v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v)
n=float(m.group(1)); u=m.group(2)
print(n if u=='us' else n*1000 if u=='ms' else n*1e6)" "$1"
}
for r in $(seq 1 "$rounds"); do
  for n in "${names[@]}"; do
    out=$(wrk -t"$wt" -c"$wc" -d"${secs}s" --latency "http://127.0.0.1:${PORTS[$n]}/_ping")
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    p50=$(awk '$1=="50%"{print $2}' <<<"$out")
    p99=$(awk '$1=="99%"{print $2}' <<<"$out")
    RPS[$n]+="$rps "
    P50[$n]+="$(to_us "$p50") "
    P99[$n]+="$(to_us "$p99") "
    echo "round $r $n: $rps req/s p50 $p50 p99 $p99"
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
echo
echo "| server | req/s (median of $rounds) | p50 µs | p99 µs |"
echo "|---|---|---|---|"
for n in "${names[@]}"; do
  echo "| $n | $(median <<<"${RPS[$n]}") | $(median <<<"${P50[$n]}") | $(median <<<"${P99[$n]}") |"
done
if [[ " ${names[*]} " == *" dockerd "* ]]; then
  b=$(median <<<"${RPS[berthd]}"); d=$(median <<<"${RPS[dockerd]}")
  echo
  echo "ratio berthd/dockerd req/s: $(python3 -c "print(round($b/$d,2))")"
fi
sleep 2
echo "idle RSS after load (KiB): berthd $(rss_kb "$PID_berthd")"
