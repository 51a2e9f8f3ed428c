#!/usr/bin/env bash
# Container start latency: a whole `run --rm busybox true`, side by side in
# one run, same busybox rootfs everywhere:
#   berth-api   berthd through its API, by bench/start_client (create with
#               AutoRemove and NetworkMode none, wait?condition=removed, start,
#               the wait body) over keep-alive unix-socket connections
#   berth-cli   `docker run --rm --network none` (docker CLI) against berthd
#   crun        `crun run --bundle B ID` of an OCI bundle (`crun spec`, args
#               ["true"], terminal false, root read-write)
#   runc        the same with runc (`runc spec`)
#   docker-cli  `docker run --rm --network none` against Debian's dockerd on
#               a private root (--bridge none --iptables=false)
#   host-true   fork + exec + wait of the host's /bin/true, no container: the
#               machine's own noise floor, for reference
# The rounds are split into PASSES passes that interleave the systems, so a
# noisy spell hits them all; the samples of all passes are pooled. Then
# berth's throughput: runs completed per second with K concurrent API
# clients, each doing create + wait(removed) + start + wait body. Last, a leak
# check over all those runs (thousands): berthd's fds, container cgroups,
# mounts of its root on the host, child processes, container directories.
#
#   bench/start_latency.sh [ROUNDS] [DOCKER_ROUNDS]    (defaults 200 and 30)
#   BERTHD=path         berthd (default build/berthd; if absent, built into
#                       build-bench — never while another build runs)
#   START_CLIENT=path   client (default: bench/start_client.cc compiled into
#                       the temp dir)
#   ROOTFS_TAR=path     busybox rootfs tar (default: tools/make-busybox-image.sh)
#   PASSES=2  MAX_SECONDS=90 (bound on each system's timed loops, all passes)
#   CLIENTS="1 2 4 8"  TPUT_SECONDS=5  TPUT_MAX=5000 (per K: seconds, runs)
#   NO_DOCKER=1 NO_CRUN=1 NO_RUNC=1 NO_CLI=1 to skip one
#   KEEP=1 keeps the temp dir (samples, logs)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-200}"
drounds="${2:-30}"
passes="${PASSES:-2}"
max_seconds="${MAX_SECONDS:-90}"
clients="${CLIENTS:-1 2 4 8}"
tput_seconds="${TPUT_SECONDS:-5}"
tput_max="${TPUT_MAX:-5000}"

[ "$(id -u)" -eq 0 ] || { echo "start_latency: run as root" >&2; exit 1; }
for t in curl python3 docker; do
  command -v "$t" >/dev/null || { echo "start_latency: $t missing" >&2; exit 1; }
done

work=$(mktemp -d /tmp/berth-start-XXXXXX)
berthd_pid=""
dockerd_pid=""
stop_pid() {  # pid seconds: TERM, wait, KILL
  local p=$1
  kill "$p" 2>/dev/null || return 0
  for _ in $(seq 1 $(($2 * 10))); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
}
cleanup() {
  set +e
  [ -n "$berthd_pid" ] && stop_pid "$berthd_pid" 10
  [ -n "$dockerd_pid" ] && stop_pid "$dockerd_pid" 20
  # dockerd's own containerd (its config lives under our exec root).
  for p in $(pgrep -f "$work/docker/" 2>/dev/null); do stop_pid "$p" 5; done
  grep " $work" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  for d in /sys/fs/cgroup/*/bench-crun-* /sys/fs/cgroup/*/bench-runc-*; do
    [ -d "$d" ] && rmdir "$d" 2>/dev/null
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_sock() {  # socket tries
  for _ in $(seq 1 "$2"); do
    curl -sf --unix-socket "$1" http://x/_ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# --- binaries ----------------------------------------------------------------------
berthd="${BERTHD:-}"
if [ -z "$berthd" ]; then
  if [ -x build/berthd ]; then
    berthd=build/berthd
  else
    echo "building berthd into build-bench (Release)..." >&2
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build-bench -j"$(nproc)" --target berthd >/dev/null
    berthd=build-bench/berthd
  fi
fi
newer=$(find core api io layers tools/berthd -newer "$berthd" \( -name '*.cc' -o -name '*.h' \) 2>/dev/null | head -3 | tr '\n' ' ')
[ -n "$newer" ] && echo "note: $berthd is older than: $newer" >&2
client="${START_CLIENT:-}"
if [ -z "$client" ]; then
  client="$work/start_client"
  "${CXX:-c++}" -std=c++20 -O2 -pthread -o "$client" bench/start_client.cc
fi

# --- the busybox rootfs, as image and as OCI bundle ----------------------------------------
rootfs_tar="${ROOTFS_TAR:-}"
if [ -z "$rootfs_tar" ]; then
  rootfs_tar="$work/rootfs.tar"
  tools/make-busybox-image.sh "$rootfs_tar"
fi
mkdir -p "$work/oci/rootfs"
tar -xf "$rootfs_tar" -C "$work/oci/rootfs"
make_bundle() {  # runtime
  mkdir -p "$work/oci/$1"
  (cd "$work/oci/$1" && "$1" spec)
  python3 - "$work/oci/$1/config.json" "$work/oci/rootfs" <<'EOF'
import json, sys
p, root = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["process"]["args"] = ["true"]
c["process"]["terminal"] = False
c["root"] = {"path": root, "readonly": False}
json.dump(c, open(p, "w"), indent=1)
EOF
}

# How a runtime runs here: as is, or in a private mount namespace without the
# cgroup2 mount (crun 1.8 refuses a hybrid host whose cgroup2 has a controller),
# or without cgroups. Sets <rt>_pre (argv prefix) and <rt>_how.
unified_off=(unshare -m --propagation private sh -c 'umount -l /sys/fs/cgroup/unified && exec "$@"' sh)
probe_runtime() {  # runtime
  local rt=$1 st="$work/$1-state" b="$work/oci/$1" err
  if "$rt" --root "$st" run --bundle "$b" "bench-$rt-probe" >/dev/null 2>"$work/$rt.err1"; then
    eval "${rt}_pre=()"; eval "${rt}_how='nothing special'"; return 0
  fi
  err=$(head -c 300 "$work/$rt.err1" | tr '\n' ' ')
  if "${unified_off[@]}" "$rt" --root "$st" run --bundle "$b" "bench-$rt-probe" >/dev/null 2>"$work/$rt.err2"; then
    eval "${rt}_pre=(\"\${unified_off[@]}\")"
    printf -v "${rt}_how" '%s' "plain run fails (\"$err\"); run under unshare -m with /sys/fs/cgroup/unified unmounted in that namespace (the runtime then sees a cgroup v1 host and creates its cgroups there)"
    return 0
  fi
  if [ "$rt" = crun ] &&
     crun --root "$st" --cgroup-manager=disabled run --bundle "$b" bench-crun-probe >/dev/null 2>"$work/$rt.err3"; then
    crun_pre=(); crun_cgflag=(--cgroup-manager=disabled)
    # shellcheck disable=SC2034  # read through ${!how}
    crun_how="plain run fails (\"$err\"); run with --cgroup-manager=disabled (no cgroups)"
    return 0
  fi
  echo "$rt: cannot run the bundle: $err $(head -c 300 "$work/$rt.err2")" >&2
  return 1
}
crun_cgflag=()
crun_pre=()
runc_pre=()
peers=()
if [ "${NO_CRUN:-0}" != 1 ] && command -v crun >/dev/null; then
  make_bundle crun && probe_runtime crun && peers+=(crun)
fi
if [ "${NO_RUNC:-0}" != 1 ] && command -v runc >/dev/null; then
  make_bundle runc && probe_runtime runc && peers+=(runc)
fi

# --- daemons ---------------------------------------------------------------------------
mkdir -p "$work/berth"
bsock="$work/berth/s.sock"
"$berthd" --root "$work/berth/root" --host "unix://$bsock" >"$work/berth/log" 2>&1 &
berthd_pid=$!
wait_sock "$bsock" 100 || { echo "berthd did not start:" >&2; tail "$work/berth/log" >&2; exit 1; }
export DOCKER_CONFIG="$work/dockercfg"
docker -H "unix://$bsock" import "$rootfs_tar" busybox:latest >/dev/null

# --- leak check: what berthd holds before and after all the runs -----------------
# fds of berthd, its container cgroups (spares are not containers'), mounts of
# its root visible on the host, its child processes, container directories.
leak_snapshot() {
  local fds cgs=0 line ctrl path d
  fds=$(find "/proc/$berthd_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  while IFS=: read -r _ ctrl path; do
    [ -z "$ctrl" ] && continue
    d="/sys/fs/cgroup/${ctrl%%,*}${path%/}/berth"
    [ -d "$d" ] || continue
    cgs=$((cgs + $(find "$d" -mindepth 1 -maxdepth 1 -type d ! -name '.spare-*' | wc -l)))
  done <"/proc/$berthd_pid/cgroup"
  echo "$fds $cgs $(grep -c " $work/berth" /proc/self/mountinfo) \
$(pgrep -P "$berthd_pid" | wc -l) \
$(find "$work/berth/root/containers" -mindepth 1 -maxdepth 2 ! -path '*/.removed' | wc -l)"
}
leak_before=$(leak_snapshot)

has_docker=0
if [ "${NO_DOCKER:-0}" != 1 ] && command -v dockerd >/dev/null; then
  mkdir -p "$work/docker"
  dsock="$work/docker/docker.sock"
  dockerd --data-root "$work/docker/root" --exec-root "$work/docker/exec" \
    --pidfile "$work/docker/pid" -H "unix://$dsock" \
    --bridge none --iptables=false --ip6tables=false >"$work/docker/log" 2>&1 &
  dockerd_pid=$!
  if wait_sock "$dsock" 300 && docker -H "unix://$dsock" import "$rootfs_tar" busybox:latest >/dev/null; then
    has_docker=1
  else
    echo "dockerd did not start or import failed; see $work/docker/log" >&2
    tail -5 "$work/docker/log" >&2
  fi
fi

# --- latency, interleaved passes ----------------------------------------------------
systems=(berth-api)
[ "${NO_CLI:-0}" != 1 ] && systems+=(berth-cli)
systems+=("${peers[@]}")
[ $has_docker = 1 ] && systems+=(docker-cli)
systems+=(host-true)
failures=""
share() {  # total pass -> this pass's share
  local base=$(($1 / passes)) rest=$(($1 % passes))
  echo $((base + ($2 <= rest ? 1 : 0)))
}
run_one() {  # system pass
  local s=$1 n secs=$((max_seconds / passes)) out rc=0 warm=$(($2 == 1 ? 3 : 1))
  local smp="$work/samples.$s"
  case $s in
    berth-api)
      n=$(share "$rounds" "$2")
      out=$("$client" api --socket "$bsock" --rounds "$n" --seconds "$secs" --warmup "$warm" \
        --label "$s" --samples "$smp" 2>&1) || rc=$? ;;
    berth-cli)
      n=$(share "$drounds" "$2")
      out=$("$client" exec --rounds "$n" --seconds "$secs" --warmup 1 --label "$s" --samples "$smp" \
        -- docker -H "unix://$bsock" run --rm --network none busybox true 2>&1) || rc=$? ;;
    docker-cli)
      n=$(share "$drounds" "$2")
      out=$("$client" exec --rounds "$n" --seconds "$secs" --warmup 1 --label "$s" --samples "$smp" \
        -- docker -H "unix://$dsock" run --rm --network none busybox true 2>&1) || rc=$? ;;
    host-true)
      n=$(share "$rounds" "$2")
      out=$("$client" exec --rounds "$n" --seconds "$secs" --warmup "$warm" --label "$s" \
        --samples "$smp" -- /bin/true 2>&1) || rc=$? ;;
    crun)
      n=$(share "$rounds" "$2")
      out=$("${crun_pre[@]}" "$client" exec --rounds "$n" --seconds "$secs" --warmup "$warm" \
        --label "$s" --samples "$smp" -- crun --root "$work/crun-state" "${crun_cgflag[@]}" run \
        --bundle "$work/oci/crun" "bench-crun-$2-{}" 2>&1) || rc=$? ;;
    runc)
      n=$(share "$rounds" "$2")
      out=$("${runc_pre[@]}" "$client" exec --rounds "$n" --seconds "$secs" --warmup "$warm" \
        --label "$s" --samples "$smp" -- runc --root "$work/runc-state" run \
        --bundle "$work/oci/runc" "bench-runc-$2-{}" 2>&1) || rc=$? ;;
  esac
  echo "pass $2 $out"
  [ $rc = 0 ] || failures+="$s pass $2 (exit $rc); "
}
t_start=$SECONDS
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for p in $(seq 1 "$passes"); do
  for s in "${systems[@]}"; do run_one "$s" "$p"; done
done

# --- throughput ------------------------------------------------------------------------
tput=""
for k in $clients; do
  out=$("$client" api --socket "$bsock" --clients "$k" --rounds "$tput_max" \
    --seconds "$tput_seconds" --warmup 2 --label "berth-K$k" 2>&1) || failures+="throughput K=$k; "
  echo "$out"
  tput+="$(grep '^RESULT' <<<"$out" || true)"$'\n'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); measuring took $((SECONDS - t_start)) s"
# Clean-up after the answers (cgroups, trees) may still run: settle, bounded.
leak_after=""
for _ in $(seq 1 50); do
  leak_after=$(leak_snapshot)
  read -r f0 _ <<<"$leak_before"
  read -r f1 c1 m1 k1 d1 <<<"$leak_after"
  [ "$f1" -le "$f0" ] && [ "$c1" = 0 ] && [ "$m1" = 0 ] && [ "$k1" = 0 ] && [ "$d1" = 0 ] && break
  sleep 0.1
done
runs_total=$(cat "$work"/samples.berth-api "$work"/samples.berth-cli 2>/dev/null | grep -c . || true)
for n in $(grep -o ' n=[0-9]*' <<<"$tput" | cut -d= -f2); do runs_total=$((runs_total + n)); done

# --- report ----------------------------------------------------------------------------
echo
echo "berthd: $berthd ($(date -r "$berthd" '+%F %T')), commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+dirty tree')"
echo "kernel $(uname -r), $(nproc) cores; $(date -u '+%F %T UTC')"
for rt in "${peers[@]}"; do
  how="${rt}_how"
  echo "$rt ($("$rt" --version | head -1)): ${!how}"
done
[ $has_docker = 1 ] && echo "dockerd: $(dockerd --version)"
echo
python3 - "$work" "${systems[@]}" <<'EOF'
import math, sys
work, systems = sys.argv[1], sys.argv[2:]
def pct(v, p):
    v = sorted(v); i = min(max(math.ceil(p * len(v)), 1), len(v)) - 1
    return v[i]
rows, stats = {}, {}
for s in systems:
    try:
        rows[s] = [list(map(float, l.split())) for l in open(f"{work}/samples.{s}") if l.strip()]
    except FileNotFoundError:
        rows[s] = []
    t = [r[0] for r in rows[s]]
    if t:
        stats[s] = (len(t), pct(t, .5), pct(t, .9), pct(t, .99), sum(t) / len(t))
print("| system | runs | median ms | p90 ms | p99 ms | mean ms |")
print("|---|---|---|---|---|---|")
for s in systems:
    if s in stats:
        n, m, p9, p99, mean = stats[s]
        print(f"| {s} | {n} | {m/1000:.2f} | {p9/1000:.2f} | {p99/1000:.2f} | {mean/1000:.2f} |")
    else:
        print(f"| {s} | 0 | - | - | - | - |")
if "berth-api" in stats:
    b = stats["berth-api"]
    print()
    print("| peer / berth-api | median | p90 | p99 |")
    print("|---|---|---|---|")
    for s in systems:
        if s not in ("berth-api", "host-true") and s in stats:
            o = stats[s]
            print(f"| {s} | {o[1]/b[1]:.2f}x | {o[2]/b[2]:.2f}x | {o[3]/b[3]:.2f}x |")
    ph = [r[1:5] for r in rows["berth-api"] if len(r) >= 5]
    if ph:
        names = ["create (POST /create -> 201)", "wait head (POST /wait -> 200 head)",
                 "start (POST /start -> 204)", "exit + removal (204 -> wait body)"]
        print()
        print("berth-api client-visible steps (median / p90 µs):")
        for i, nm in enumerate(names):
            col = [r[i] for r in ph]
            print(f"  {nm}: {pct(col, .5):.0f} / {pct(col, .9):.0f}")
EOF
echo
echo "| berth-api clients K | runs | runs/s | median ms | p99 ms |"
echo "|---|---|---|---|---|"
best=0
while read -r line; do
  [ -z "$line" ] && continue
  kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  echo "| $(kv clients) | $(kv n) | $(kv rate) | $(python3 -c "print(f'{$(kv median_us)/1000:.2f}')") | $(python3 -c "print(f'{$(kv p99_us)/1000:.2f}')") |"
  best=$(python3 -c "print(max($best, $(kv rate)))")
done <<<"$tput"
echo
med=$(python3 - "$work/samples.berth-api" <<'EOF'
import math, sys
t = sorted(float(l.split()[0]) for l in open(sys.argv[1]) if l.strip())
print(t[math.ceil(len(t) / 2) - 1] / 1000 if t else 1e9)
EOF
)
echo "target median <= 3 ms for a whole run --rm: $(python3 -c "print('met' if $med <= 3 else 'NOT met')") (${med} ms)"
echo "target >= 500 starts/s: $(python3 -c "print('met' if $best >= 500 else 'NOT met')") (best ${best}/s)"
read -r f0 c0 m0 k0 d0 <<<"$leak_before"
read -r f1 c1 m1 k1 d1 <<<"$leak_after"
echo "leaks after $runs_total runs: berthd fds $f0 -> $f1, container cgroups $c0 -> $c1," \
  "mounts of its root on the host $m0 -> $m1, child processes $k0 -> $k1, container dirs $d0 -> $d1" \
  "($([ "$f1" -le "$f0" ] && [ "$c1" = 0 ] && [ "$m1" = 0 ] && [ "$k1" = 0 ] && [ "$d1" = 0 ] &&
       echo none || echo 'LEAK'))"
[ -z "$failures" ] || echo "failures: $failures"
