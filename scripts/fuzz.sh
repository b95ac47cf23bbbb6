#!/usr/bin/env bash
# Runs the libFuzzer targets of test/fuzz (built with SHMREGION_FUZZ=ON) one after another.
#   scripts/fuzz.sh BUILD_DIR [TARGET...]          (default: every target)
# The amount of fuzzing is a number of executions per target, with a fixed seed, so a run is
# repeatable: FUZZ_RUNS (default: about 20 s per target here), FUZZ_SEED (default 1).
# FUZZ_SECONDS=N fuzzes for N seconds per target instead, with a random seed (longer runs).
# New interesting inputs go to BUILD_DIR/fuzz-work/<target> (seeded from
# test/fuzz/corpus/<target>, never written to; emptied first unless FUZZ_SECONDS); a crash, leak, timeout (10 s per input) or
# broken property leaves BUILD_DIR/fuzz-artifacts/<target>-crash-... and fails the script.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: fuzz.sh BUILD_DIR [TARGET...]}" && pwd)
shift
targets=("$@")
((${#targets[@]})) || targets=(header locator inspect)

# Executions for about 20 s each on a 2-core machine with the sanitizers on.
declare -A default_runs=([header]=60000 [locator]=150000 [inspect]=30000)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/fuzz-artifacts"
for t in "${targets[@]}"; do
  bin="$build/test/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz.sh: $bin is not built (configure with -DSHMREGION_FUZZ=ON)" >&2; exit 2; }
  work="$build/fuzz-work/$t"
  if [ -n "${FUZZ_SECONDS:-}" ]; then
    bound=(-max_total_time="$FUZZ_SECONDS")  # builds on what earlier long runs found
  else
    rm -rf "$work"  # the same start every time: the checked-in corpus only
    # The cap only stops a machine far slower than expected; the runs bound the work.
    bound=(-runs="${FUZZ_RUNS:-${default_runs[$t]}}" -seed="${FUZZ_SEED:-1}" -max_total_time=300)
  fi
  mkdir -p "$work"
  log="$build/fuzz-artifacts/$t.log"
  echo "fuzz.sh: fuzz_$t ${bound[*]} (log: $log)"
  if ! "$bin" "${bound[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -dict="$here/test/fuzz/shmregion.dict" -artifact_prefix="$build/fuzz-artifacts/$t-" \
      "$work" "$here/test/fuzz/corpus/$t" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz.sh: fuzz_$t found a problem; its input is in $build/fuzz-artifacts/ (see test/fuzz/README.md:" \
         "reproduce with $bin FILE, then keep it as test/fuzz/corpus/$t/regress-<what>)" >&2
    exit 1
  fi
  grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 | sed "s/^/fuzz.sh: fuzz_$t: /"
done
