#!/usr/bin/env bash
# Sets up everything, builds, and shows regions in action through regiontool: create a
# region, hold its lock from another process, kill that process with SIGKILL while it holds
# the lock, watch regiontool report the dead holder, and recover.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build="$here/build/demo"
"$here/scripts/setup.sh" "$build" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
rt="$build/tools/regiontool/regiontool"
backing=${1:-posix}

home=$(mktemp -d "${TMPDIR:-/tmp}/shmregion-demo.XXXXXX")
holder=""
cleanup() {
  [ -n "$holder" ] && kill -9 "$holder" 2>/dev/null || true
  for r in $("$rt" list "$home" --json 2>/dev/null | grep -o '"name":"[^"]*"' | cut -d'"' -f4); do
    "$rt" unlink --force "$home" "$r" >/dev/null 2>&1 || true
  done
  rm -rf "$home"
}
trap cleanup EXIT

if [ -t 1 ]; then bold=$'\033[1m'; plain=$'\033[0m'; else bold=""; plain=""; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
run() { printf '$ regiontool %s\n' "$*"; "$rt" "$@" || true; }

step "1. create a $backing region 'orders' (1 MiB, may grow to 64 MiB) in $home"
run create "$home" orders --backing "$backing" --size 1M --max-size 64M
run list "$home"
# Creation allocated the space through the I/O engine (io_uring where this kernel and its
# seccomp filter allow; stat says which and why); prefault makes every page resident.
run prefault "$home" orders
# Growth in place: the space is allocated first (ENOSPC here, not a SIGBUS later).
run grow "$home" orders 16M

step "2. another process attaches and takes the region lock"
out="$home/.holder.out"
"$rt" hold "$home" orders --lock >"$out" 2>&1 &
holder=$!
for _ in $(seq 1 100); do grep -q holding "$out" 2>/dev/null && break; sleep 0.05; done
cat "$out"
run stat "$home" orders

step "3. kill -9 the holder while it holds the lock"
kill -9 "$holder"; wait "$holder" 2>/dev/null || true; holder=""
run list "$home"
run stat "$home" orders

step "4. the next locker learns the owner died, repairs the header and goes on"
"$rt" hold "$home" orders --lock --seconds 0
run list "$home"
run verify "$home"

step "5. the library view: two processes, one killed while holding the lock (examples/crash_demo)"
"$build/examples/crash_demo" "$home" "$backing"

step "6. unlink, and nothing is left"
run unlink "$home" orders
run list "$home"
