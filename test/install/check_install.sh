#!/usr/bin/env bash
# The install check (CTest entry install_check, label "install"; docs/packaging.md):
#   check_install.sh BUILD_DIR SOURCE_DIR [SANITIZE]
# Installs BUILD_DIR into a temporary prefix, then, against that prefix only:
#   - builds and runs test/install/consumer.cpp with CMake's find_package(shmregion),
#     linked static (shmregion::shmregion) and shared (shmregion::shared);
#   - builds and runs it with plain g++ and pkg-config, shared and static (--static);
#   - if the prefix has the C header <shmregion/shmregion.h> and test/install/consumer.c
#     exists, the same with gcc for the C consumer;
#   - readelf -d: the shared library's SONAME is versioned, regiontool has a RUNPATH (or does
#     not need libshmregion.so), static consumers do not need libshmregion.so;
#   - nm -D --defined-only: the shared library exports no shmregion::detail symbol and no
#     test hook (crash_point, io::fault); the static one has no object of a test-only source;
#   - the installed regiontool runs from the prefix (--help, list of an empty home).
# SANITIZE: the build's SHMREGION_SANITIZE; consumers are then compiled and linked with it.
# The prefix and every build are removed on exit, failure included. Needs no terminal.
set -euo pipefail
build=$(cd "${1:?usage: check_install.sh BUILD_DIR SOURCE_DIR [SANITIZE]}" && pwd)
src=$(cd "${2:?usage: check_install.sh BUILD_DIR SOURCE_DIR [SANITIZE]}" && pwd)
sanitize=${3:-}

work=$(mktemp -d "${TMPDIR:-/tmp}/shmregion-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
failures=0
step() { echo "== $*"; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

flags=()
if [ -n "$sanitize" ]; then flags=(-fsanitize="$sanitize" -fno-omit-frame-pointer); fi
# Nothing of the build or the machine's environment may leak into the consumers.
unset LD_LIBRARY_PATH PKG_CONFIG_PATH CMAKE_PREFIX_PATH

step "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; exit 1; }
(cd "$prefix" && find . -type f -o -type l | sort)

libdir=""
for d in lib lib64 lib/x86_64-linux-gnu; do
  if [ -f "$prefix/$d/libshmregion.a" ]; then libdir=$prefix/$d; fi
done
[ -n "$libdir" ] || { echo "FAIL: no libshmregion.a under $prefix" >&2; exit 1; }
shared=$(find "$libdir" -maxdepth 1 -name 'libshmregion.so.*.*' -type f | head -n1)
[ -n "$shared" ] || { echo "FAIL: no libshmregion.so.X.Y.Z in $libdir" >&2; exit 1; }
home=$work/home
mkdir -p "$home"

run_consumer() {  # name binary
  local name=$1 exe=$2
  if "$exe" "$home" >"$work/$name.out" 2>&1; then
    echo "$name: $(tail -n1 "$work/$name.out")"
  else
    cat "$work/$name.out" >&2
    fail "$name exited $?"
  fi
}
needs_shared() { readelf -d "$1" | grep -q 'NEEDED.*\[libshmregion\.so'; }

for kind in static shared; do
  step "find_package(shmregion) consumer, $kind"
  b=$work/cmake-$kind
  shared_opt=OFF
  [ "$kind" = shared ] && shared_opt=ON
  if cmake -S "$src/test/install/cmake" -B "$b" -DCMAKE_PREFIX_PATH="$prefix" -DCONSUMER_SHARED=$shared_opt \
       -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="${flags[*]}" -DCMAKE_EXE_LINKER_FLAGS="${flags[*]}" \
       >"$work/cmake-$kind.log" 2>&1 &&
     cmake --build "$b" >>"$work/cmake-$kind.log" 2>&1; then
    run_consumer "cmake-$kind" "$b/consumer"
    if [ "$kind" = shared ]; then needs_shared "$b/consumer" || fail "cmake-shared: libshmregion.so not NEEDED"
    else ! needs_shared "$b/consumer" || fail "cmake-static: linked libshmregion.so"; fi
  else
    cat "$work/cmake-$kind.log" >&2
    fail "find_package consumer ($kind) did not build"
  fi
done

export PKG_CONFIG_PATH=$libdir/pkgconfig
step "pkg-config: $(pkg-config --modversion shmregion); --libs: $(pkg-config --libs shmregion); --static --libs: $(pkg-config --static --libs shmregion)"
# Shared: exactly what pkg-config says, plus a run-time path to the prefix.
cxx=${CXX:-g++}
if $cxx -std=c++20 "${flags[@]}" "$src/test/install/consumer.cpp" -o "$work/pc-shared" \
     $(pkg-config --cflags --libs shmregion) -Wl,-rpath,"$libdir" 2>"$work/pc-shared.log"; then
  run_consumer pc-shared "$work/pc-shared"
  needs_shared "$work/pc-shared" || fail "pc-shared: libshmregion.so not NEEDED"
else
  cat "$work/pc-shared.log" >&2; fail "pkg-config consumer (shared) did not build"
fi
# Static: the archive, then what --static adds (Libs.private, Requires.private).
static_libs() { pkg-config --static --libs "$@" shmregion | sed 's/\(^\| \)-lshmregion\( \|$\)/ -Wl,-Bstatic -lshmregion -Wl,-Bdynamic /'; }
if $cxx -std=c++20 "${flags[@]}" "$src/test/install/consumer.cpp" -o "$work/pc-static" \
     $(pkg-config --cflags shmregion) $(static_libs) 2>"$work/pc-static.log"; then
  run_consumer pc-static "$work/pc-static"
  ! needs_shared "$work/pc-static" || fail "pc-static: linked libshmregion.so"
else
  cat "$work/pc-static.log" >&2; fail "pkg-config consumer (static) did not build"
fi

# The C consumer: the C API (include/shmregion/shmregion.h) must be installed.
[ -f "$prefix/include/shmregion/shmregion.h" ] || fail "the C header <shmregion/shmregion.h> is not installed"
if true; then
  cc=${CC:-gcc}
  step "C consumer with pkg-config, shared and static"
  if $cc -std=c99 -Wall -Werror "${flags[@]}" "$src/test/install/consumer.c" -o "$work/c-shared" \
       $(pkg-config --cflags --libs shmregion) -Wl,-rpath,"$libdir" 2>"$work/c-shared.log"; then
    run_consumer c-shared "$work/c-shared"
  else
    cat "$work/c-shared.log" >&2; fail "C consumer (shared) did not build"
  fi
  if $cc -std=c99 -Wall -Werror "${flags[@]}" "$src/test/install/consumer.c" -o "$work/c-static" \
       $(pkg-config --cflags shmregion) $(static_libs) 2>"$work/c-static.log"; then
    run_consumer c-static "$work/c-static"
  else
    cat "$work/c-static.log" >&2; fail "C consumer (static) did not build"
  fi
fi

# The README's program, taken from README.md itself, against the installed library: the
# README cannot drift from what is installed.
step "README.md's program with pkg-config"
sed -n '/^<!-- readme-snippet: begin -->$/,/^<!-- readme-snippet: end -->$/p' "$src/README.md" |
  sed '1,2d;$d' | sed '$d' >"$work/readme.cpp"
[ -s "$work/readme.cpp" ] || fail "README.md has no program between the readme-snippet markers"
if $cxx -std=c++20 "${flags[@]}" "$work/readme.cpp" -o "$work/readme" \
     $(pkg-config --cflags --libs shmregion) -Wl,-rpath,"$libdir" 2>"$work/readme.log"; then
  TMPDIR=$work "$work/readme" >"$work/readme.out" 2>&1 || { cat "$work/readme.out" >&2; fail "README program failed"; }
  echo "readme: $(tail -n1 "$work/readme.out")"
else
  cat "$work/readme.log" >&2; fail "README program did not build against the prefix"
fi

step "readelf -d $(basename "$shared")"
soname=$(readelf -d "$shared" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
echo "SONAME $soname"
[[ "$soname" =~ ^libshmregion\.so\.[0-9]+$ ]] || fail "SONAME '$soname' is not libshmregion.so.N"
[ -e "$libdir/$soname" ] || fail "no $soname in $libdir"
[ -L "$libdir/libshmregion.so" ] || fail "no libshmregion.so link in $libdir"

step "nm -D --defined-only $(basename "$shared")"
nm -D --defined-only -C "$shared" >"$work/exported"
echo "$(wc -l <"$work/exported") symbols exported, $(grep -c ' shmregion::' "$work/exported" || true) of shmregion::"
# The names themselves, without their parameter lists (a public constructor may take a
# detail:: pointer): "T shmregion::detail::f(...)" -> "shmregion::detail::f".
cut -d' ' -f3- "$work/exported" | sed 's/(.*//' >"$work/names"
if grep -E 'shmregion::detail::|crash_point|io::fault|shmregion::(v[0-9]+::)?sys::' "$work/names" >"$work/bad"; then
  head -n 20 "$work/bad" >&2
  fail "$(wc -l <"$work/bad") internal or test-hook symbols exported"
fi
grep -q 'shmregion::v[0-9]*::Region::attach' "$work/exported" || fail "Region::attach is not exported"
step "ar t $(basename "$libdir")/libshmregion.a: no test-only object"
if ar t "$libdir/libshmregion.a" | grep -E '(^|/)(crash_point|fault)\.cpp\.o$'; then fail "test-only objects in libshmregion.a"; fi

step "installed regiontool"
tool=$prefix/bin/regiontool
if [ -x "$tool" ]; then
  dyn=$(readelf -d "$tool")
  runpath=$(sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p' <<<"$dyn")
  echo "RUNPATH ${runpath:-(none)}"
  if grep -q 'NEEDED.*\[libshmregion\.so' <<<"$dyn"; then
    [[ "$runpath" == *'$ORIGIN'* ]] || fail "regiontool needs libshmregion.so but has no \$ORIGIN RUNPATH"
    loaded=$(ldd "$tool" | sed -n 's/.*libshmregion\.so[^ ]* => \([^ ]*\) .*/\1/p')
    echo "regiontool loads ${loaded:-(not found)}"
    [ -n "$loaded" ] && [ "$(readlink -f "$(dirname "$loaded")")" = "$(readlink -f "$libdir")" ] ||
      fail "regiontool does not load the prefix's library"
  fi
  "$tool" --help >"$work/help.out" 2>&1 || fail "regiontool --help exited $?"
  mkdir -p "$work/empty"
  if out=$("$tool" list "$work/empty" 2>&1); then echo "regiontool list (empty home): ${out:-(nothing)}"
  else echo "$out" >&2; fail "regiontool list of an empty home failed"; fi
  [ -f "$prefix/share/man/man1/regiontool.1" ] || fail "no share/man/man1/regiontool.1"
else
  step "regiontool: not installed (SHMREGION_BUILD_TOOLS=OFF)"
fi

# The SQLite VFS (examples/sqlite-vfs), where SQLite's headers were found: one file that the
# stock sqlite3 shell loads from the prefix and writes a WAL database through, needing no
# libshmregion.so. Not with sanitizers: the stock shell cannot load an instrumented module.
vfs=$(find "$prefix" -name libshmregionvfs.so | head -n1)
if [ -n "$vfs" ] && [ -z "$sanitize" ] && command -v sqlite3 >/dev/null; then
  step "installed SQLite VFS $(basename "$(dirname "$vfs")")/$(basename "$vfs"), through the sqlite3 shell"
  if readelf -d "$vfs" | grep -q 'NEEDED.*\[libshmregion\.so'; then fail "libshmregionvfs.so needs libshmregion.so"; fi
  mkdir -p "$work/sqlite"
  out=$(printf '.load %s\n.open file:%s/t.db?vfs=shmregion\nPRAGMA journal_mode=wal;\nCREATE TABLE t(v);\nINSERT INTO t VALUES(1),(2);\n.vfsname\nSELECT count(*) FROM t;\n' \
        "${vfs%.so}" "$work/sqlite" | sqlite3 2>&1) || fail "sqlite3 with the installed VFS exited $?"
  echo "sqlite3: $(tr '\n' ' ' <<<"$out")"
  [ "$out" = $'wal\nshmregion/unix\n2' ] || fail "sqlite3 through the installed VFS printed: $out"
  [ -z "$(ls "$work/sqlite" | grep -v '^t\.db$')" ] || fail "left in the database's directory: $(ls "$work/sqlite")"
elif [ -z "$vfs" ]; then
  step "SQLite VFS: not installed (no SQLite headers at build time)"
fi

if ((failures)); then
  echo "install check: $failures failure(s)" >&2
  exit 1
fi
echo "install check: ok"
