#!/usr/bin/env bash
# Sets up everything, builds, and shows regions in action through regiontool: create a
# region, hold its lock from another process, kill that process with SIGKILL while it holds
# the lock, watch regiontool report the dead holder, and recover. Then a real database on
# top: several sqlite3 shells writing one WAL database through the shmregion VFS, one killed
# with SIGKILL in the middle of its transaction, the others carrying on, and regiontool
# showing the WAL index's region and its lock table.
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

# 7. A real database on top: the stock sqlite3 shell, through the shmregion VFS
# (examples/sqlite-vfs), which keeps SQLite's WAL index in a region of the database's directory.
vfs="$build/examples/sqlite-vfs/libshmregionvfs"
if [ ! -f "$vfs.so" ] || ! command -v sqlite3 >/dev/null; then
  step "7. SQLite: skipped (no sqlite3 shell or no SQLite headers at build time)"
  exit 0
fi
dbdir="$home/sqlite"
db="$dbdir/shop.db"
mkdir "$dbdir"
# sql: SQL on stdin through a new sqlite3 shell that loads the VFS and opens the database.
sql() { { printf '.load %s\n.open file:%s?vfs=shmregion\n.timeout 20000\n' "$vfs" "$db"; cat; } | sqlite3 -batch; }
step "7. SQLite on top: the stock sqlite3 shell, WAL mode, through the shmregion VFS"
printf '$ sqlite3 (.load %s, .open file:%s?vfs=shmregion)\n' "${vfs#"$here"/}" "$db"
sql <<<"PRAGMA journal_mode=wal; CREATE TABLE orders(id INTEGER PRIMARY KEY, writer INT, n INT);"

printf '\n-- a shell starts a transaction and stops in the middle of it (it holds the write lock)\n'
fifo="$home/.victim.in"
mkfifo "$fifo"
sqlite3 -batch <"$fifo" >"$home/.victim.out" 2>&1 &
holder=$!
exec 7>"$fifo"
printf '.load %s\n.open file:%s?vfs=shmregion\nBEGIN IMMEDIATE;\nINSERT INTO orders(writer, n) VALUES(0, 1);\nSELECT %s;\n' \
  "$vfs" "$db" "'pid $holder: inside its transaction'" >&7
for _ in $(seq 1 200); do grep -q inside "$home/.victim.out" 2>/dev/null && break; sleep 0.05; done
cat "$home/.victim.out"

printf '\n-- three writers start, 30 commits each; they wait for the write lock\n'
writers=()
for w in 1 2 3; do
  for n in $(seq 1 30); do printf 'INSERT INTO orders(writer, n) VALUES(%d, %d);\n' "$w" "$n"; done | sql &
  writers+=($!)
done
sleep 0.5
run list "$dbdir"
run stat "$dbdir" shop.db-shm

printf '\n-- kill -9 the shell in the middle of its transaction\n'
kill -9 "$holder"; wait "$holder" 2>/dev/null || true; holder=""
exec 7>&-
for p in "${writers[@]}"; do wait "$p"; done
echo "the writers carried on and finished"

printf '\n$ sqlite3 ... "SELECT writer, count(*) ...; PRAGMA integrity_check"\n'
sql <<<"SELECT 'writer ' || writer || ': ' || count(*) || ' rows' FROM orders GROUP BY writer;
SELECT 'rows of the killed transaction: ' || count(*) FROM orders WHERE writer = 0;
PRAGMA integrity_check;"
echo "(the last connection closed: SQLite deleted the WAL, the VFS the region)"
run list "$dbdir"
