#!/usr/bin/env bash
# berth quick start: installs dependencies, builds, starts berthd with its
# defaults (root /var/lib/berth, socket /run/berth.sock) unless one is
# already running, creates the demo image berth/busybox:latest from the
# host's static busybox unless it exists, and runs a demo container.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "quickstart: run as root (berthd creates namespaces, mounts and cgroups)" >&2
  exit 1
fi

tools/setup-deps.sh
tools/build.sh

SOCK=/run/berth.sock
export BERTH_HOST="unix://$SOCK"
if ! build/berth info >/dev/null 2>&1; then
  mkdir -p /var/log
  echo "quickstart: starting berthd (log: /var/log/berthd.log)"
  setsid build/berthd --pidfile /run/berthd.pid >>/var/log/berthd.log 2>&1 < /dev/null &
  for _ in $(seq 1 100); do
    build/berth info >/dev/null 2>&1 && break
    sleep 0.1
  done
fi

if ! build/berth image inspect berth/busybox:latest >/dev/null 2>&1; then
  echo "quickstart: creating the demo image berth/busybox:latest from /bin/busybox"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  tools/make-busybox-image.sh "$tmp/rootfs.tar"
  build/berth import -c 'CMD ["sh"]' "$tmp/rootfs.tar" berth/busybox:latest
fi

build/berth version
echo
build/berth info
echo
build/berth images
echo
echo "quickstart: a demo container: build/berth run --rm berth/busybox ..."
build/berth run --rm --network none berth/busybox \
  sh -c 'echo "hello from a berth container: $(hostname), pid $$, $(uname -sr)"'
echo
echo "berthd is running. Try it with the docker CLI too:"
echo "  DOCKER_HOST=unix://$SOCK docker run --rm berth/busybox echo hello"
