#!/usr/bin/env bash
# Installs dependencies, builds berth (warnings as errors) and runs the whole
# suite through ctest, then the fuzz target for a bounded time.
# Must run as root: the tests use namespaces, mounts and cgroups.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup-deps.sh
tools/lint.sh
tools/build.sh -DBERTH_WERROR=ON

cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600 "$@"
cd ..

# The HTTP request parser + router under libFuzzer, bounded in time.
if [ "${BERTH_SKIP_FUZZ:-0}" != 1 ]; then
  tools/fuzz.sh "${BERTH_FUZZ_SECONDS:-60}"
fi
