#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and
# runs each for SECONDS (default 60). Crashes land in build-fuzz/crashes/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
CC=clang-19 CXX=clang++-19 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBERTH_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_http_request >/dev/null
mkdir -p build-fuzz/crashes build-fuzz/corpus-http
cp -n tests/fuzz/corpus/http/* build-fuzz/corpus-http/ 2>/dev/null || true
build-fuzz/tests/fuzz/fuzz_http_request -max_total_time="$seconds" -timeout=10 \
  -rss_limit_mb=2048 -artifact_prefix=build-fuzz/crashes/ -print_final_stats=1 \
  build-fuzz/corpus-http 2>&1 | tail -n 15
