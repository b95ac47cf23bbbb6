#!/usr/bin/env bash
# Sets up everything and runs the whole test suite twice: a warnings-as-errors build, then
# an AddressSanitizer + UndefinedBehaviorSanitizer build; then builds the libFuzzer targets
# with clang (installed when missing), replays their corpus and fuzzes each for a bounded
# number of executions (about a minute in all; test/fuzz/README.md). Exits non-zero on any
# failure, a crash, leak or hang found by the fuzzers included.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)

# Each suite run gets a temporary directory of its own (world-writable and sticky like /tmp:
# some tests run as another user): the leak check then judges only what this run made, not
# what an earlier run left when it was killed. Removed when the run left it empty; kept, with
# whatever the leak check reported, when not.
suite() {
  local build=$1; shift
  local tmp
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmregion-suite.XXXXXX")
  chmod 1777 "$tmp"
  local rc=0
  (cd "$build" && TMPDIR="$tmp" "$@") || rc=$?
  rmdir "$tmp" 2>/dev/null || echo "suite: $tmp is not empty; left for inspection" >&2
  return "$rc"
}

echo "== build (-Wall -Wextra -Werror) and test"
"$here/scripts/setup.sh" "$here/build/ci" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHMREGION_WERROR=ON -DBUILD_TESTING=ON
suite "$here/build/ci" ctest --output-on-failure -j"$jobs"

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer and test"
# No benchmarks or examples here: no test runs them, and the first build compiled them already.
"$here/scripts/setup.sh" "$here/build/asan" -DCMAKE_BUILD_TYPE=Debug -DSHMREGION_WERROR=ON -DBUILD_TESTING=ON \
  -DSHMREGION_SANITIZE=address,undefined -DSHMREGION_BUILD_BENCHMARKS=OFF -DSHMREGION_BUILD_EXAMPLES=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  suite "$here/build/asan" ctest --output-on-failure -j"$jobs"

echo "== fuzz: libFuzzer targets (clang, AddressSanitizer + UndefinedBehaviorSanitizer): corpus replay, then fuzzing"
SHMREGION_EXTRA_PACKAGES="clang libclang-rt-dev" \
  SHMREGION_BUILD_TARGETS="fuzz_header fuzz_locator fuzz_inspect fuzz_corpus_gen" CXX=clang++ \
  "$here/scripts/setup.sh" "$here/build/fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHMREGION_WERROR=ON \
  -DBUILD_TESTING=OFF -DSHMREGION_FUZZ=ON
(cd "$here/build/fuzz" && ctest --output-on-failure -L fuzz)
"$here/scripts/fuzz.sh" "$here/build/fuzz"
