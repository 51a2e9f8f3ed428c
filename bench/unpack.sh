#!/usr/bin/env bash
# Layer unpack throughput: one realistic gzip layer (tar -czf of files of this
# machine) unpacked into a fresh empty directory, on a private tmpfs and on
# the root file system, side by side in one run:
#   berth        build/bench/unpack_tool FILE DEST (berth's extraction engine:
#                read + sha256 + isa-l inflate, sha256 of the tar, parse +
#                io_uring writer, three threads)
#   berth-sync   the same with --sync (plain syscalls, no io_uring)
#   gnu-tar      tar -xzf FILE -C DEST (GNU tar; runs gzip -d in a pipe)
#   igzip-tar    igzip -dc FILE | tar -x -C DEST
#   bsdtar       bsdtar -xzf FILE -C DEST (libarchive, zlib in-process)
# Each round runs every system on both targets; the order of the systems
# rotates from round to round and the target order alternates, so a noisy
# spell hits them all. Wall clock per run (date +%s%N around the command,
# process start included); DEST is created empty before and removed after
# (not timed); on disk a sync follows the removal (not timed). No cache drop:
# the layer file stays in the page cache. None of the tools fsyncs, so the
# disk figures are page cache + ext4 metadata, not durable writes.
# Then several layers: berth unpacks 4 different layers one after another
# vs all 4 at once (4 processes, background jobs + wait), interleaved.
# Last, one check that berth and GNU tar produce the same tree.
#
#   bench/unpack.sh [ROUNDS] [PAR_ROUNDS]     (defaults 5 and 3)
#   UNPACK_TOOL=path   default build/bench/unpack_tool (build it first:
#                      cmake --build build --target unpack_tool)
#   LAYER=path         the layer (default /tmp/ub/layer.tar.gz, made from
#                      /usr/include /usr/share/doc /usr/lib/python3 if absent)
#   PAR_DIR=path       where the 4 layers of the parallel test are kept (made
#                      if absent; default /tmp/ub)
#   MAX_SECONDS=420    no new round starts after this (main loop), likewise
#   PAR_MAX_SECONDS=120 for the parallel loop; a round always completes
#   DISK_DIR=/var/tmp  parent of the on-disk temp dir
#   PAR_DISK=1         also run the 4-layer test on disk (default tmpfs only)
#   NO_DISK=1 NO_PAR=1 NO_CHECK=1  skip a part;  KEEP=1 keeps the temp dir
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
par_rounds="${2:-3}"
max_seconds="${MAX_SECONDS:-420}"
par_max_seconds="${PAR_MAX_SECONDS:-120}"
tool="${UNPACK_TOOL:-build/bench/unpack_tool}"
layer="${LAYER:-/tmp/ub/layer.tar.gz}"
par_dir="${PAR_DIR:-/tmp/ub}"

[ "$(id -u)" -eq 0 ] || { echo "unpack: run as root (mount, chown)" >&2; exit 1; }
[ -x "$tool" ] || { echo "unpack: $tool missing; cmake --build build --target unpack_tool" >&2; exit 1; }
newer=$(find layers core/base core/sys io bench/unpack_tool.cc -newer "$tool" \( -name '*.cc' -o -name '*.h' \) 2>/dev/null | head -3 | tr '\n' ' ')
[ -n "$newer" ] && echo "note: $tool is older than: $newer" >&2

need_pkg() {  # command package
  command -v "$1" >/dev/null && return 0
  echo "installing $2 (for $1)..." >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
  command -v "$1" >/dev/null || { echo "unpack: $1 still missing" >&2; exit 1; }
}
need_pkg igzip isal
need_pkg bsdtar libarchive-tools
need_pkg python3 python3

# --- layers ---------------------------------------------------------------------------
make_layer() {  # out dirs-under-/...
  local out=$1; shift
  mkdir -p "$(dirname "$out")"
  echo "making $out from $* (tar -czf)..." >&2
  tar -czf "$out.part" -C / "$@" 2>/dev/null || [ -s "$out.part" ]
  mv "$out.part" "$out"
}
[ -s "$layer" ] || make_layer "$layer" usr/include usr/share/doc usr/lib/python3
par_layers=("$par_dir/par-1.tar.gz" "$par_dir/par-2.tar.gz" "$par_dir/par-3.tar.gz" "$par_dir/par-4.tar.gz")
par_srcs=("usr/include" "usr/share/doc" "usr/lib/python3 usr/share/man" "usr/share/locale")
if [ "${NO_PAR:-0}" != 1 ]; then
  for i in 0 1 2 3; do
    # shellcheck disable=SC2086  # the sources are word lists
    [ -s "${par_layers[$i]}" ] || make_layer "${par_layers[$i]}" ${par_srcs[$i]}
  done
fi

# --- targets --------------------------------------------------------------------------
mkdir -p "${DISK_DIR:-/var/tmp}"
work=$(mktemp -d "${DISK_DIR:-/var/tmp}/berth-unpack-XXXXXX")
cleanup() {
  set +e
  wait 2>/dev/null
  mountpoint -q "$work/tmpfs" && umount "$work/tmpfs"
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/tmpfs" "$work/disk"
mount -t tmpfs -o size=6g,mode=0755 berth-unpack-bench "$work/tmpfs"
declare -A tdir=([tmpfs]="$work/tmpfs" [disk]="$work/disk")
targets=(tmpfs)
[ "${NO_DISK:-0}" != 1 ] && targets+=(disk)
[ "$(findmnt -n -o FSTYPE --target "$work/disk")" = tmpfs ] &&
  echo "warning: $work/disk is on tmpfs, not a disk; set DISK_DIR" >&2

systems=(berth berth-sync gnu-tar igzip-tar bsdtar)
extract() {  # system file dest
  case $1 in
    berth) "$tool" "$2" "$3" >/dev/null ;;
    berth-sync) "$tool" --sync "$2" "$3" >/dev/null ;;
    gnu-tar) tar -xzf "$2" -C "$3" ;;
    igzip-tar) igzip -dc "$2" | tar -x -C "$3" ;;
    bsdtar) bsdtar -xzf "$2" -C "$3" ;;
  esac
}
now() { date +%s%N; }
after_rm() {  # target
  [ "$1" = disk ] && sync
  return 0
}
failures=""
samples="$work/samples"
: >"$samples"
time_one() {  # system target round
  local d="${tdir[$2]}/x" t0 t1
  rm -rf "$d"
  mkdir "$d"
  t0=$(now)
  if extract "$1" "$layer" "$d"; then
    t1=$(now)
    echo "$2 $1 $((t1 - t0))" >>"$samples"
  else
    failures+="$1 on $2 round $3; "
  fi
  rm -rf "$d"
  after_rm "$2"
}

# --- the layer, and a warm-up (page cache, binaries) ------------------------------------
info=$("$tool" "$layer" "$work/tmpfs/warm")
rm -rf "$work/tmpfs/warm"
jget() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$info" "$1"; }
usize=$(jget size)
csize=$(jget compressed_size)
entries=$(jget entries)
nfiles=$(jget files)
for s in "${systems[@]}"; do
  mkdir "$work/tmpfs/warm"
  extract "$s" "$layer" "$work/tmpfs/warm" || failures+="$s warm-up; "
  rm -rf "$work/tmpfs/warm"
done

# --- main loop --------------------------------------------------------------------------
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
t_start=$SECONDS
done_rounds=0
for r in $(seq 1 "$rounds"); do
  if [ $((SECONDS - t_start)) -ge "$max_seconds" ]; then
    echo "stopping after $done_rounds rounds: MAX_SECONDS=$max_seconds reached" >&2
    break
  fi
  n=${#systems[@]}
  for k in $(seq 0 $((n - 1))); do
    s=${systems[$(((r - 1 + k) % n))]}
    if [ $((r % 2)) = 1 ]; then order=("${targets[@]}"); else order=(); for ((j = ${#targets[@]} - 1; j >= 0; j--)); do order+=("${targets[$j]}"); done; fi
    for t in "${order[@]}"; do time_one "$s" "$t" "$r"; done
  done
  done_rounds=$r
  echo "round $r done ($((SECONDS - t_start)) s)" >&2
done
main_secs=$((SECONDS - t_start))

# --- several layers: sequential vs parallel ----------------------------------------------
par_samples="$work/par_samples"
: >"$par_samples"
par_info=""
par_rounds_done=0
if [ "${NO_PAR:-0}" != 1 ]; then
  for f in "${par_layers[@]}"; do
    out=$("$tool" "$f" "$work/tmpfs/pinfo")
    rm -rf "$work/tmpfs/pinfo"
    par_info+="$(basename "$f") $out"$'\n'
  done
  par_run() {  # mode target
    local base="${tdir[$2]}/p" i t0 t1 rc=0 pids=()
    rm -rf "$base"
    mkdir -p "$base"
    t0=$(now)
    if [ "$1" = seq ]; then
      for i in 0 1 2 3; do "$tool" "${par_layers[$i]}" "$base/$i" >/dev/null || rc=1; done
    else
      for i in 0 1 2 3; do "$tool" "${par_layers[$i]}" "$base/$i" >/dev/null & pids+=($!); done
      for p in "${pids[@]}"; do wait "$p" || rc=1; done
    fi
    t1=$(now)
    if [ $rc = 0 ]; then echo "$2 $1 $((t1 - t0))" >>"$par_samples"; else failures+="4 layers $1 on $2; "; fi
    rm -rf "$base"
    after_rm "$2"
  }
  par_targets=(tmpfs)
  [ "${PAR_DISK:-0}" = 1 ] && [ "${NO_DISK:-0}" != 1 ] && par_targets+=(disk)
  t_par=$SECONDS
  for r in $(seq 1 "$par_rounds"); do
    [ $((SECONDS - t_par)) -ge "$par_max_seconds" ] && break
    for t in "${par_targets[@]}"; do
      if [ $((r % 2)) = 1 ]; then par_run seq "$t"; par_run par "$t"; else par_run par "$t"; par_run seq "$t"; fi
    done
    par_rounds_done=$r
  done
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); main loop $main_secs s"

# --- same tree? --------------------------------------------------------------------------
check=""
if [ "${NO_CHECK:-0}" != 1 ]; then
  manifest() {  # dir: type, path, size (not of dirs), mode, owner, link count, link target
    (cd "$1" && find . -mindepth 1 \( -type d -printf '%y %P %m %U:%G\n' \) -o \
      -printf '%y %P %s %m %U:%G %n %l\n' | LC_ALL=C sort)
  }
  mtimes() { (cd "$1" && find . -mindepth 1 -printf '%P %TY-%Tm-%Td+%TT\n' | LC_ALL=C sort); }
  contents() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum | md5sum | cut -c1-32); }
  for s in berth berth-sync gnu-tar; do
    mkdir "$work/tmpfs/c-$s"
    extract "$s" "$layer" "$work/tmpfs/c-$s"
    manifest "$work/tmpfs/c-$s" >"$work/manifest.$s"
    mtimes "$work/tmpfs/c-$s" >"$work/mtimes.$s"
    contents "$work/tmpfs/c-$s" >"$work/contents.$s"
  done
  n_entries=$(wc -l <"$work/manifest.gnu-tar")
  differ() {  # kind system: "same" or the count and two examples of differing lines
    local d="$work/diff.$1.$2" n
    diff "$work/$1.$2" "$work/$1.gnu-tar" >"$d" || true
    n=$(grep -c '^<' "$d" || true)
    if [ "$n" = 0 ] && [ ! -s "$d" ]; then echo same; return; fi
    echo "DIFFER on $n entries, e.g. $(grep '^[<>]' "$d" | head -2 | tr '\n' ' ' || true)"
  }
  for s in berth berth-sync; do
    check+="$s vs gnu-tar ($n_entries entries): types/paths/sizes/modes/owners/links $(differ manifest "$s");"
    check+=" mtimes $(differ mtimes "$s"); file contents $(differ contents "$s")"$'\n'
  done
  rm -rf "$work/tmpfs"/c-*
fi

# --- report --------------------------------------------------------------------------------
echo
echo "unpack_tool: $tool ($(date -r "$tool" '+%F %T')), commit $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+dirty tree')"
echo "kernel $(uname -r), $(nproc) cores; $(date -u '+%F %T UTC'); disk target: $(findmnt -n -o FSTYPE,SOURCE --target "$work/disk")"
echo "tools: $(tar --version | head -1); $(gzip --version | head -1); igzip $(igzip -V 2>&1 | grep -o "[0-9][0-9.]*" | head -1); $(bsdtar --version | head -1)"
echo "layer: $layer: $csize bytes gzip, $usize bytes tar, $entries entries ($nfiles regular files)"
if [ "$usize" -lt 300000000 ] || [ "$nfiles" -lt 15000 ]; then
  echo "warning: layer smaller than 300 MB / 15,000 files" >&2
fi
echo "rounds: $done_rounds of $rounds"
echo
python3 - "$samples" "$usize" "${targets[@]}" -- "${systems[@]}" <<'EOF'
import statistics, sys
path, usize = sys.argv[1], int(sys.argv[2])
rest = sys.argv[3:]
cut = rest.index("--")
targets, systems = rest[:cut], rest[cut + 1:]
data = {}
for line in open(path):
    t, s, ns = line.split()
    data.setdefault((t, s), []).append(int(ns) / 1e9)
for t in targets:
    print(f"{t}:")
    print("| system | runs | median s | min s | MB/s (median) | time / berth |")
    print("|---|---|---|---|---|---|")
    base = data.get((t, "berth"))
    bm = statistics.median(base) if base else None
    for s in systems:
        v = data.get((t, s))
        if not v:
            print(f"| {s} | 0 | - | - | - | - |")
            continue
        m = statistics.median(v)
        ratio = f"{m / bm:.2f}x" if bm else "-"
        print(f"| {s} | {len(v)} | {m:.3f} | {min(v):.3f} | {usize / m / 1e6:.0f} | {ratio} |")
    if bm:
        for s, goal in (("gnu-tar", 3.0), ("igzip-tar", 1.3)):
            v = data.get((t, s))
            if v:
                r = statistics.median(v) / bm
                print(f"target berth >= {goal}x {s} on {t}: {'met' if r >= goal else 'NOT met'} ({r:.2f}x)")
    print()
EOF
if [ "${NO_PAR:-0}" != 1 ]; then
  echo "4 layers (rounds: $par_rounds_done):"
  printf '%s' "$par_info"
  python3 - "$par_samples" "${par_targets[@]}" <<'EOF'
import statistics, sys
data = {}
for line in open(sys.argv[1]):
    t, m, ns = line.split()
    data.setdefault((t, m), []).append(int(ns) / 1e9)
print("| target | sequential median s (min) | 4 at once median s (min) | speedup |")
print("|---|---|---|---|")
for t in sys.argv[2:]:
    s, p = data.get((t, "seq")), data.get((t, "par"))
    if s and p:
        ms, mp = statistics.median(s), statistics.median(p)
        print(f"| {t} | {ms:.3f} ({min(s):.3f}) | {mp:.3f} ({min(p):.3f}) | {ms / mp:.2f}x |")
EOF
  echo
fi
[ -n "$check" ] && printf 'tree check (tmpfs):\n%s' "$check"
[ -z "$failures" ] || { echo "failures: $failures"; exit 1; }
