#!/usr/bin/env bash
# CI lane: Windows. Cross-compiles funnel's tests with mingw-w64 (posix
# threads) and runs them under Wine with ctest: the conformance suites, the
# policy matrix with memory sinks, the writer and testing-kit tests, and both
# Win32 sinks over real anonymous pipes, named pipes, files and loopback TCP
# (tests/win32/), plus the Win32 sink bench once in --quick mode.
#
# Cached outside the source tree (a warm run takes seconds):
#   ~/.cache/funnel/win32-deps-<key>   Abseil + GoogleTest for Windows
#                                      (scripts/build_cmake_deps.sh win32)
#   ~/.cache/funnel/wine-prefix        the Wine prefix (wineboot, ~12 s cold)
#   ~/.cache/funnel/ccache             compiled objects (ccache, paths relative
#                                      to the checkout, so a fresh clone hits too);
#                                      the build directory is .build/cmake-win32
# Wine's helper processes inherit stdio and would keep a pipe (ctest, tee,
# CI's log) open for ever: wineserver is started first with all stdio on
# /dev/null, ctest has a --timeout, and wineserver -k runs on exit.
# Idempotent; non-zero exit on failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"
jobs="${FUNNEL_JOBS:-2}"
cache="${FUNNEL_DEPS_CACHE:-${HOME:-/root}/.cache/funnel}"
log() { echo "win32-lane: $*" >&2; }

for tool in x86_64-w64-mingw32-g++-posix wine wineserver cmake ninja; do
  command -v "${tool}" >/dev/null || { log "error: ${tool} missing (scripts/install_deps.sh)"; exit 1; }
done

prefix="$(bash scripts/build_cmake_deps.sh win32)"
work="${repo}/.build/cmake-win32"
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_DIR="${cache}/ccache" CCACHE_BASEDIR="${repo}" CCACHE_NOHASHDIR=true
  export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-3G}"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

export WINEPREFIX="${cache}/wine-prefix"
export WINEDEBUG="-all,err+module"
export WINEDLLOVERRIDES="mscoree,mshtml="  # no Mono/Gecko install dialogs
unset DISPLAY
stop_wine() { wineserver -k </dev/null >/dev/null 2>&1 || true; }
stop_wine  # a server left over from an interrupted run (this prefix only)
trap stop_wine EXIT
if [[ ! -f "${WINEPREFIX}/system.reg" ]]; then
  log "creating the Wine prefix ${WINEPREFIX}"
  mkdir -p "${WINEPREFIX}"
  wineboot -i </dev/null >/dev/null 2>&1 || true  # judged by the check below
fi
wineserver -p </dev/null >/dev/null 2>&1 || true
if ! wine cmd /c exit 0 </dev/null >/dev/null 2>&1; then
  log "error: Wine does not start (WINEPREFIX=${WINEPREFIX}); delete the prefix to recreate it"
  exit 1
fi

log "configure + build (${work})"
cmake -S . -B "${work}" -G Ninja "${launcher[@]}" \
  -DCMAKE_TOOLCHAIN_FILE="${repo}/cmake/toolchains/mingw-w64-x86_64-posix.cmake" \
  -DCMAKE_PREFIX_PATH="${prefix}" -DFUNNEL_BOOST_INCLUDE_DIR="${prefix}/boost-include" \
  -DFUNNEL_INSTALL=OFF >/dev/null
cmake --build "${work}" -j "${jobs}"

log "ctest under Wine"
ctest --test-dir "${work}" --output-on-failure --timeout 600 -j "${jobs}" </dev/null
log "ok"
