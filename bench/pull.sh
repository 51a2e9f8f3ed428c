#!/usr/bin/env bash
# Image pull from a local registry into an empty root, side by side in one
# run. The image is bench/make_pull_image.sh's (5 gzip layers, ~345 MB
# unpacked), pushed by skopeo into Debian's docker-registry started here on
# 127.0.0.1 (plain HTTP, storage in the temp dir). Systems:
#   berth        a fresh berthd on an empty root; `berth pull REF` is timed
#   dockerd      Debian's dockerd on an empty --data-root (overlay2,
#                --bridge none --iptables=false); `docker pull REF` is timed
#   skopeo+umoci `skopeo copy docker://REF oci:DIR:bench` then
#                `umoci unpack --image DIR:bench BUNDLE`, timed together
#   local-par    berth's own unpack (bench/unpack_tool) of the same layer
#                blobs from local files, all layers at once into their own
#                directories: the floor a pull could reach
#   local-seq    the same, one layer after another (for reference)
# Only the pull (or copy + unpack) is timed: starting and stopping the
# daemons, and removing the roots, are not. Every system starts from an
# empty root on the same file system (TARGET_DIR); nothing drops caches, so
# the registry's blobs are in the page cache for all alike. Rounds
# interleave the systems, rotating their order; after each run the root is
# removed and `sync` runs (untimed), so no run pays for another's dirty
# pages. Medians and ratios at the end.
#
#   bench/pull.sh [ROUNDS]                     (default 5)
#   BERTHD=path BERTH=path   default build/berthd, build/berth
#   UNPACK_TOOL=path         default build/bench/unpack_tool
#   IMAGE_DIR=path           the OCI layout (default /var/tmp/berth-pull-image;
#                            made by bench/make_pull_image.sh if absent)
#   TARGET_DIR=path          parent of the temp dir (default /var/tmp: disk)
#   TMPFS=1                  the roots on a private tmpfs instead (4 GB)
#   MAX_SECONDS=480          no new round starts after this
#   NO_BERTH=1 NO_DOCKER=1 NO_UMOCI=1 NO_LOCAL=1   skip a system
#   KEEP=1                   keep the temp dir (logs, samples)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
max_seconds="${MAX_SECONDS:-480}"
berthd="${BERTHD:-build/berthd}"
berth="${BERTH:-build/berth}"
tool="${UNPACK_TOOL:-build/bench/unpack_tool}"
image_dir="${IMAGE_DIR:-/var/tmp/berth-pull-image}"
target_dir="${TARGET_DIR:-/var/tmp}"

[ "$(id -u)" -eq 0 ] || { echo "pull: run as root" >&2; exit 1; }

need_pkg() {  # command package
  command -v "$1" >/dev/null && return 0
  echo "installing $2 (for $1)..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
  command -v "$1" >/dev/null || { echo "pull: $1 still missing" >&2; exit 1; }
}
need_pkg docker-registry docker-registry
need_pkg skopeo skopeo
need_pkg python3 python3
need_pkg curl curl
[ "${NO_UMOCI:-0}" = 1 ] || need_pkg umoci umoci
[ "${NO_DOCKER:-0}" = 1 ] || need_pkg dockerd docker.io
[ "${NO_DOCKER:-0}" = 1 ] || need_pkg docker docker.io

systems=()
if [ "${NO_BERTH:-0}" != 1 ]; then
  if [ -x "$berthd" ] && [ -x "$berth" ]; then
    systems+=(berth)
    newer=$(find core api io layers tools -newer "$berthd" \( -name '*.cc' -o -name '*.h' \) 2>/dev/null | head -3 | tr '\n' ' ')
    [ -n "$newer" ] && echo "note: $berthd is older than: $newer" >&2
  else
    echo "pull: $berthd or $berth missing (cmake --build build --target berthd berth): berth skipped" >&2
  fi
fi
[ "${NO_DOCKER:-0}" = 1 ] || systems+=(dockerd)
[ "${NO_UMOCI:-0}" = 1 ] || systems+=(skopeo+umoci)
if [ "${NO_LOCAL:-0}" != 1 ]; then
  if [ -x "$tool" ]; then
    systems+=(local-par local-seq)
  else
    echo "pull: $tool missing (cmake --build build --target unpack_tool): local unpack skipped" >&2
  fi
fi
[ ${#systems[@]} -gt 0 ] || { echo "pull: nothing to run" >&2; exit 1; }

[ -s "$image_dir/index.json" ] || bench/make_pull_image.sh "$image_dir"

mkdir -p "$target_dir"
work=$(mktemp -d "$target_dir/berth-pull-XXXXXX")
reg_pid=""
child=""
berthd_pid=""
dockerd_pid=""
stop_pid() {  # pid seconds: TERM, wait, KILL
  local p=$1
  kill "$p" 2>/dev/null || return 0
  for _ in $(seq 1 $(($2 * 10))); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
  sleep 0.1
}
stop_dockerd() {
  [ -n "$dockerd_pid" ] || return 0
  stop_pid "$dockerd_pid" 20
  wait "$dockerd_pid" 2>/dev/null || true
  dockerd_pid=""
  # The containerd dockerd started for itself (its config is under our exec root).
  for p in $(pgrep -f "$roots/docker/exec" 2>/dev/null); do stop_pid "$p" 5; done
}
stop_berthd() {
  [ -n "$berthd_pid" ] || return 0
  stop_pid "$berthd_pid" 20
  wait "$berthd_pid" 2>/dev/null || true
  berthd_pid=""
}
unmount_work() {
  { grep " $work" /proc/mounts || true; } | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
}
cleanup() {
  set +e
  [ -n "$child" ] && stop_pid "$child" 5
  stop_berthd
  stop_dockerd
  [ -n "$reg_pid" ] && stop_pid "$reg_pid" 5
  unmount_work
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The roots of every system live under $roots (a tmpfs with TMPFS=1).
roots=$work/roots
mkdir -p "$roots"
if [ "${TMPFS:-0}" = 1 ]; then mount -t tmpfs -o size=4g berth-pull "$roots"; fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now_ns() { date +%s%N; }
# Runs a command as a background child and waits for it: a signal then
# reaches the traps at once (bash defers traps until a foreground child
# ends), and the cleanup can stop the child.
timed() {
  local rc=0
  "$@" &
  child=$!
  wait "$child" || rc=$?
  child=""
  return $rc
}

# --- the registry -----------------------------------------------------------------------
port=$(free_port)
mkdir -p "$work/registry"
cat >"$work/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry/storage
http:
  addr: 127.0.0.1:$port
  secret: berth-bench
health:
  storagedriver:
    enabled: false
EOF
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
reg_pid=$!
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
  kill -0 "$reg_pid" 2>/dev/null || { cat "$work/registry/log" >&2; exit 1; }
  sleep 0.05
done
ref="127.0.0.1:$port/bench:latest"
echo "pushing $image_dir to $ref (skopeo)..." >&2
timed skopeo --insecure-policy copy --quiet --dest-tls-verify=false "oci:$image_dir:bench" "docker://$ref" >&2

# The layer blobs, for the local unpacks.
mapfile -t layer_blobs < <(python3 - "$image_dir" <<'EOF'
import json, os, sys
d = sys.argv[1]
idx = json.load(open(os.path.join(d, "index.json")))
m = json.load(open(os.path.join(d, "blobs/sha256", idx["manifests"][0]["digest"][7:])))
for l in m["layers"]:
    print(os.path.join(d, "blobs/sha256", l["digest"][7:]))
EOF
)
# Read once so every system starts with them in the page cache.
cat "${layer_blobs[@]}" >/dev/null
unpacked_mb=$(for b in "${layer_blobs[@]}"; do gzip -dc "$b"; done | wc -c | awk '{printf "%.0f", $1/1e6}')
packed_mb=$(cat "${layer_blobs[@]}" | wc -c | awk '{printf "%.0f", $1/1e6}')

# --- one run per system -------------------------------------------------------------------
wait_sock() {  # socket tries
  for _ in $(seq 1 "$2"); do
    curl -sf --unix-socket "$1" http://x/_ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  return 1
}
# Each sets us (microseconds of the timed part); non-zero status on failure.
# Not in a subshell: the daemons' pids must reach the cleanup trap.
run_berth() {
  local root=$roots/berth sock=$work/berth.sock t0 t1 rc=0
  mkdir -p "$root"
  "$berthd" --root "$root" --host "unix://$sock" >"$work/berthd.log" 2>&1 &
  berthd_pid=$!
  wait_sock "$sock" 400 || { echo "berthd did not start:" >&2; tail -5 "$work/berthd.log" >&2; return 1; }
  t0=$(now_ns)
  timed "$berth" --host "unix://$sock" pull "$ref" >"$work/berth-pull.log" 2>&1 || rc=$?
  t1=$(now_ns)
  if [ $rc -eq 0 ]; then
    timed "$berth" --host "unix://$sock" image inspect "$ref" >/dev/null 2>&1 || rc=1
  fi
  stop_berthd
  [ $rc -eq 0 ] || { echo "berth pull failed:" >&2; tail -5 "$work/berth-pull.log" >&2; tail -5 "$work/berthd.log" >&2; return 1; }
  us=$(((t1 - t0) / 1000))
}
run_dockerd() {
  local d=$roots/docker sock=$work/docker.sock t0 t1 rc=0
  mkdir -p "$d"
  dockerd --data-root "$d/root" --exec-root "$d/exec" --pidfile "$d/pid" -H "unix://$sock" \
    --bridge none --iptables=false --ip6tables=false >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  wait_sock "$sock" 600 || { echo "dockerd did not start:" >&2; tail -5 "$work/dockerd.log" >&2; return 1; }
  t0=$(now_ns)
  timed docker -H "unix://$sock" pull -q "$ref" >"$work/docker-pull.log" 2>&1 || rc=$?
  t1=$(now_ns)
  stop_dockerd
  [ $rc -eq 0 ] || { echo "docker pull failed:" >&2; tail -5 "$work/docker-pull.log" >&2; return 1; }
  us=$(((t1 - t0) / 1000))
}
run_umoci() {
  local d=$roots/umoci t0 t1 rc=0
  mkdir -p "$d"
  t0=$(now_ns)
  { timed skopeo --insecure-policy copy --quiet --src-tls-verify=false "docker://$ref" "oci:$d/layout:bench" &&
    timed umoci unpack --image "$d/layout:bench" "$d/bundle"; } >"$work/umoci.log" 2>&1 || rc=$?
  t1=$(now_ns)
  [ $rc -eq 0 ] || { echo "skopeo+umoci failed:" >&2; tail -5 "$work/umoci.log" >&2; return 1; }
  us=$(((t1 - t0) / 1000))
}
run_local() {  # par|seq
  local d=$roots/local t0 t1 rc=0 i=0 pids=()
  mkdir -p "$d"
  t0=$(now_ns)
  for b in "${layer_blobs[@]}"; do
    i=$((i + 1))
    if [ "$1" = par ]; then
      "$tool" "$b" "$d/$i" >/dev/null 2>>"$work/local.log" &
      pids+=($!)
    else
      timed "$tool" "$b" "$d/$i" >/dev/null 2>>"$work/local.log" || rc=1
    fi
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  pids=()
  t1=$(now_ns)
  [ $rc -eq 0 ] || { echo "unpack_tool failed:" >&2; tail -5 "$work/local.log" >&2; return 1; }
  us=$(((t1 - t0) / 1000))
}
run_one() {  # system
  local rc=0
  us=""
  case $1 in
    berth) run_berth || rc=$? ;;
    dockerd) run_dockerd || rc=$? ;;
    skopeo+umoci) run_umoci || rc=$? ;;
    local-par) run_local par || rc=$? ;;
    local-seq) run_local seq || rc=$? ;;
  esac
  # Untimed: empty the roots, write back what they left dirty.
  { grep " $roots/" /proc/mounts || true; } | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "${roots:?}"/*
  sync
  if [ $rc -eq 0 ] && [ -n "$us" ]; then
    echo "$us" >>"$work/samples.$1"
    printf '  %-13s %8.3f s\n' "$1" "$(awk -v u="$us" 'BEGIN{print u/1e6}')" >&2
  else
    failures="$failures $1"
  fi
}

fs_type=$(df -T "$roots" | awk 'NR==2{print $2}')
echo "pull: ${#layer_blobs[@]} layers, $packed_mb MB gzip, $unpacked_mb MB unpacked; into $roots ($fs_type)" >&2
# Untimed warm-up, so that the first timed run, like every later one,
# follows a removal of ~350 MB of files and a sync (on a disk mounted with
# discard that removal costs the next writer).
echo "warm-up (untimed): unpacking the layers with tar, removing them..." >&2
mkdir -p "$roots/warmup"
for b in "${layer_blobs[@]}"; do tar -xzf "$b" -C "$roots/warmup" 2>/dev/null || true; done
rm -rf "${roots:?}"/*
sync

failures=""
start=$(date +%s)
done_rounds=0
for round in $(seq 1 "$rounds"); do
  if [ $(($(date +%s) - start)) -ge "$max_seconds" ]; then
    echo "pull: MAX_SECONDS=$max_seconds reached after $done_rounds rounds" >&2
    break
  fi
  echo "round $round/$rounds" >&2
  n=${#systems[@]}
  for k in $(seq 0 $((n - 1))); do
    run_one "${systems[$(((k + round - 1) % n))]}"
  done
  done_rounds=$round
done

# --- results ----------------------------------------------------------------------------
echo
echo "pull of $ref: ${#layer_blobs[@]} gzip layers, $packed_mb MB compressed, $unpacked_mb MB unpacked"
echo "roots on $fs_type ($roots); $done_rounds rounds; $(nproc) CPUs"
[ -n "$failures" ] && echo "failed runs:$failures"
command -v dockerd >/dev/null && echo "dockerd: $(dockerd --version)"
echo "skopeo: $(skopeo --version | awk '{print $3}')  umoci: $(umoci --version | awk '{print $3}')"
echo
python3 - "$work" "$unpacked_mb" "${systems[@]}" <<'EOF'
import statistics, sys
work, mb, systems = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
med = {}
print("%-13s %8s %8s %8s %9s  %s" % ("system", "median", "min", "max", "MB/s", "samples"))
for s in systems:
    try:
        v = [int(l) / 1e6 for l in open("%s/samples.%s" % (work, s)) if l.strip()]
    except FileNotFoundError:
        v = []
    if not v:
        print("%-13s %8s" % (s, "-"))
        continue
    med[s] = statistics.median(v)
    print("%-13s %7.3fs %7.3fs %7.3fs %9.0f  %d" % (s, med[s], min(v), max(v), mb / med[s], len(v)))
print()
def ratio(a, b, what):
    if a in med and b in med:
        print("%-34s %6.2f" % (what, med[a] / med[b]))
ratio("dockerd", "berth", "dockerd / berth")
ratio("skopeo+umoci", "berth", "skopeo+umoci / berth")
ratio("berth", "local-par", "berth pull / berth local unpack")
ratio("berth", "local-seq", "berth pull / local unpack (seq)")
ratio("dockerd", "local-par", "dockerd / berth local unpack")
EOF
