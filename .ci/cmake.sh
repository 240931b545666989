#!/usr/bin/env bash
# CI lane: the CMake build on Linux. Builds the dependencies once into a cache
# (scripts/build_cmake_deps.sh), configures with -Wall -Wextra -Werror for
# funnel's own code, runs the same test suite as Bazel under ctest, then
# installs funnel and builds examples/cmake_consumer against it twice: with
# find_package(funnel) on the install, and with add_subdirectory on the source.
# Build directories live in .build/ (ignored by git) and compile through
# ccache with paths relative to the checkout (cache in ~/.cache/funnel/ccache),
# so a warm run takes seconds, in this checkout or a fresh clone anywhere.
# Idempotent; non-zero exit on failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"
jobs="${FUNNEL_JOBS:-2}"
log() { echo "cmake-lane: $*" >&2; }

cache="${FUNNEL_DEPS_CACHE:-${HOME:-/root}/.cache/funnel}"
prefix="$(bash scripts/build_cmake_deps.sh linux)"
work="${repo}/.build/cmake-linux"
mkdir -p "${work}"
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_DIR="${cache}/ccache" CCACHE_BASEDIR="${repo}" CCACHE_NOHASHDIR=true
  export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-3G}"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

log "configure + build (${work}/build)"
cmake -S . -B "${work}/build" -G Ninja "${launcher[@]}" \
  -DCMAKE_PREFIX_PATH="${prefix}" -DCMAKE_INSTALL_PREFIX="${work}/install" >/dev/null
cmake --build "${work}/build" -j "${jobs}"

log "ctest"
ctest --test-dir "${work}/build" --output-on-failure --timeout 600 -j "${jobs}"

log "install, then consume with find_package and with add_subdirectory"
rm -rf "${work}/install"
cmake --install "${work}/build" >/dev/null
for mode in find_package add_subdirectory; do
  args=(-DCMAKE_PREFIX_PATH="${work}/install;${prefix}")
  if [[ "${mode}" == add_subdirectory ]]; then
    args=(-DCMAKE_PREFIX_PATH="${prefix}" -DFUNNEL_SOURCE_DIR="${repo}")
  fi
  cmake -S examples/cmake_consumer -B "${work}/consumer-${mode}" -G Ninja "${launcher[@]}" \
    "${args[@]}" >/dev/null
  cmake --build "${work}/consumer-${mode}" -j "${jobs}"
  ctest --test-dir "${work}/consumer-${mode}" --output-on-failure --timeout 120
done
log "ok"
