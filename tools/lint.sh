#!/usr/bin/env bash
# Source checks the compiler does not do. Run by tools/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0

# GCC 12 miscompiles a co_await used directly as an if/while condition in
# some coroutines (the body hangs or hits ud2). Await into a local first:
#   bool ok = co_await f();  if (!ok) ...
if grep -rnE '(if|while) \(!?co_await|(\|\||&&) !?co_await' --include='*.cc' --include='*.h' \
    core io layers api tools bench tests | grep -v 'tests/io/http_server_test.cc:.*//'; then
  echo "lint: co_await inside an if/while condition (GCC 12 miscompiles it); await into a local" >&2
  status=1
fi

# GCC 12 also moves lambda temporaries and braced temporaries inside a
# co_await expression from the wrong address (see the script).
if ! python3 tools/lint_coawait_lambda.py; then
  status=1
fi

exit $status
