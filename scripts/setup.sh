#!/usr/bin/env bash
# Installs what shmregion needs on Debian 12 when it is missing, then configures and builds.
#   scripts/setup.sh BUILD_DIR [extra cmake args...]
# SHMREGION_EXTRA_PACKAGES: more Debian packages this build needs (e.g. "clang libclang-rt-dev"
# for SHMREGION_FUZZ=ON); SHMREGION_BUILD_TARGETS: build only these targets (default: all).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: setup.sh BUILD_DIR [cmake args...]}
shift

# libsqlite3-dev, sqlite3, python3: the SQLite VFS (examples/sqlite-vfs), its tests and the demo.
packages=(g++ cmake make pkg-config libboost-dev libboost-test-dev liburing-dev libaio-dev libsqlite3-dev sqlite3 python3
          ${SHMREGION_EXTRA_PACKAGES:-})
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; then
    $sudo apt-get update >/dev/null
    $sudo apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S "$here" -B "$build" "$@" >/dev/null
targets=()
for t in ${SHMREGION_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j"$jobs" "${targets[@]}" >/dev/null
