#!/usr/bin/env bash
# Builds the dependencies the CMake build needs from source, once, into a
# cache outside the source tree, and prints the install prefix (last line):
#
#   prefix="$(bash scripts/build_cmake_deps.sh linux)"   # Abseil
#   prefix="$(bash scripts/build_cmake_deps.sh win32)"   # Abseil + GoogleTest for mingw-w64
#
# Abseil comes from the same patched source the Bazel build uses
# (/opt/funnel-deps/abseil, unpacked by scripts/install_deps.sh, whose patch
# makes absl::string_view std::string_view: funnel's headers rely on that, so
# Debian's prebuilt libabsl-dev does not fit). GoogleTest for Windows is built
# from Debian's /usr/src/googletest; on Linux the CMake build uses Debian's
# libgtest-dev as it is.
#
# The prefix is /root/.cache/funnel/<target>-deps-<key> (FUNNEL_DEPS_CACHE
# overrides the parent directory), where <key> hashes the compiler version,
# the Abseil source stamp, the GoogleTest package version and this script, so a
# change to any of them builds anew and a warm run costs nothing.
# Needs what scripts/install_deps.sh installs. Idempotent.
set -euo pipefail

target="${1:-}"
case "${target}" in
  linux | win32) ;;
  *)
    echo "usage: $0 linux|win32" >&2
    exit 2
    ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
absl_src="${FUNNEL_ABSL_DIR:-/opt/funnel-deps/abseil}"
gtest_src=/usr/src/googletest
cache="${FUNNEL_DEPS_CACHE:-${HOME:-/root}/.cache/funnel}"
jobs="${FUNNEL_JOBS:-2}"
log() { echo "build_cmake_deps: $*" >&2; }

if [[ ! -f "${absl_src}/.funnel-source-stamp" ]]; then
  log "error: no Abseil source at ${absl_src}; run scripts/install_deps.sh first"
  exit 1
fi

cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_STANDARD=20
  -DCMAKE_CXX_STANDARD_REQUIRED=ON -DCMAKE_POSITION_INDEPENDENT_CODE=ON)
if [[ "${target}" == win32 ]]; then
  toolchain="${repo}/cmake/toolchains/mingw-w64-x86_64-posix.cmake"
  cmake_args+=("-DCMAKE_TOOLCHAIN_FILE=${toolchain}")
  compiler_id="$(x86_64-w64-mingw32-g++-posix --version | head -n1)"
  key_input="$(cat "${toolchain}")"
else
  compiler_id="$(${CXX:-c++} --version | head -n1)"
  key_input=""
fi
gtest_version="$(dpkg-query -W -f='${Version}' googletest 2>/dev/null || echo none)"
key="$(printf '%s\n' "${compiler_id}" "$(cat "${absl_src}/.funnel-source-stamp")" \
  "${gtest_version}" "${key_input}" "$(cat "${BASH_SOURCE[0]}")" | sha256sum | cut -c1-12)"
prefix="${cache}/${target}-deps-${key}"

if [[ -f "${prefix}/.complete" ]]; then
  log "${target} dependencies cached at ${prefix}"
  echo "${prefix}"
  exit 0
fi

log "building ${target} dependencies into ${prefix}"
mkdir -p "${cache}"
work="$(mktemp -d "${cache}/build.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
rm -rf "${prefix}"

cmake "${cmake_args[@]}" -S "${absl_src}" -B "${work}/absl" \
  -DCMAKE_INSTALL_PREFIX="${prefix}" -DABSL_PROPAGATE_CXX_STD=ON \
  -DABSL_BUILD_TESTING=OFF -DBUILD_TESTING=OFF >"${work}/absl.log" 2>&1 ||
  { cat "${work}/absl.log" >&2; exit 1; }
cmake --build "${work}/absl" -j "${jobs}" >>"${work}/absl.log" 2>&1 ||
  { tail -n 50 "${work}/absl.log" >&2; exit 1; }
cmake --install "${work}/absl" >/dev/null

if [[ "${target}" == win32 ]]; then
  cmake "${cmake_args[@]}" -S "${gtest_src}" -B "${work}/gtest" \
    -DCMAKE_INSTALL_PREFIX="${prefix}" -Dgtest_disable_pthreads=OFF >"${work}/gtest.log" 2>&1 ||
    { cat "${work}/gtest.log" >&2; exit 1; }
  cmake --build "${work}/gtest" -j "${jobs}" >>"${work}/gtest.log" 2>&1 ||
    { tail -n 50 "${work}/gtest.log" >&2; exit 1; }
  cmake --install "${work}/gtest" >/dev/null
  # Boost (Hana, Lockfree) is header-only, but -I/usr/include would shadow
  # mingw's own C headers: expose only the boost/ directory.
  mkdir -p "${prefix}/boost-include"
  ln -sfn /usr/include/boost "${prefix}/boost-include/boost"
fi

touch "${prefix}/.complete"
log "${target} dependencies ready at ${prefix}"
echo "${prefix}"
