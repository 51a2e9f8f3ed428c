#!/usr/bin/env bash
# Installs, from Debian's packages, what berth's build and tests need.
# Idempotent: quiet and quick when everything is present.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config clang-format
  liburing-dev libsimdjson-dev node-llhttp libmimalloc-dev libxxhash-dev
  libssl-dev libsqlite3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libisal-dev zlib1g-dev libzstd-dev libseccomp-dev
  # fuzzing (libFuzzer via clang)
  clang-19 libclang-rt-19-dev
  # tests: peers and tools the suite drives
  wrk curl tmux busybox-static skopeo umoci docker-registry
  libarchive-tools isal tar gzip zstd iproute2 procps util-linux
  # registry tests: htpasswd -B (basic auth), certificates and token signing
  apache2-utils openssl python3
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
