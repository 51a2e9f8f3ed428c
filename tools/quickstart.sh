#!/usr/bin/env bash
# berth quick start: installs dependencies, builds, starts berthd with its
# defaults (root /var/lib/berth, socket /run/berth.sock) unless one is
# already running, and shows it answering.
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

build/berth version
echo
build/berth info
echo
echo "berthd is running. Try it with the docker CLI too:"
echo "  DOCKER_HOST=unix://$SOCK docker version"
