#!/usr/bin/env bash
# Sets up everything and runs the whole test suite twice: a warnings-as-errors build, then
# an AddressSanitizer + UndefinedBehaviorSanitizer build. Exits non-zero on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (-Wall -Wextra -Werror) and test"
"$here/scripts/setup.sh" "$here/build/ci" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHMREGION_WERROR=ON -DBUILD_TESTING=ON
(cd "$here/build/ci" && ctest --output-on-failure -j"$jobs")

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer and test"
"$here/scripts/setup.sh" "$here/build/asan" -DCMAKE_BUILD_TYPE=Debug -DSHMREGION_WERROR=ON -DBUILD_TESTING=ON \
  -DSHMREGION_SANITIZE=address,undefined
(cd "$here/build/asan" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j"$jobs")
