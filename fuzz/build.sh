#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cc) with clang-14 and
# -fsanitize=fuzzer,address,undefined, outside Bazel:
#
#   bash fuzz/build.sh [TARGET...]   # prints the directory holding the binaries
#                                    # (all targets, or the ones named)
#
# Why not a Bazel config: Bazel 4 takes the C compiler from CC when it
# configures its toolchain, so a clang config in the same output base would
# re-configure (and rebuild) the normal GCC build each time one switches. This
# script compiles the few Abseil sources the targets need (from the same
# /opt/funnel-deps/abseil tree as WORKSPACE) once into a cached static
# library, then each target against it.
#
# Outputs go to ${FUNNEL_FUZZ_CACHE:-~/.cache/funnel/fuzz} (never into the
# tree): abseil-<key>/libabsl.a, keyed by the Abseil stamp, the compiler
# and the flags; bin-<key>/<target>, rebuilt when a header or source of the
# project changes. Set JOBS to change the parallelism (default 2).
#
# Needs clang-14 and libclang-rt-14-dev (the fuzzer runtime):
# scripts/install_deps.sh installs both.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
readonly ABSL_DIR=/opt/funnel-deps/abseil
readonly CXX="${FUZZ_CXX:-clang++-14}"
readonly CACHE="${FUNNEL_FUZZ_CACHE:-${HOME}/.cache/funnel/fuzz}"
readonly JOBS="${JOBS:-2}"
if (($#)); then
  TARGETS=("$@")
else
  TARGETS=(decoder_fuzz partial_write_fuzz writer_fuzz)
fi
for t in "${TARGETS[@]}"; do
  [[ -f "${REPO}/fuzz/${t}.cc" ]] || {
    echo "fuzz/build: no such target: ${t} (fuzz/${t}.cc)" >&2
    exit 2
  }
done

log() { echo "fuzz/build: $*" >&2; }

command -v "${CXX}" >/dev/null || {
  log "error: ${CXX} not found (bash scripts/install_deps.sh installs clang-14)"
  exit 1
}
[[ -f "${ABSL_DIR}/.funnel-source-stamp" ]] || {
  log "error: no Abseil source at ${ABSL_DIR} (bash scripts/install_deps.sh)"
  exit 1
}

# Sanitizers everywhere; coverage instrumentation (fuzzer) only in our code.
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
COMMON=(-std=c++20 -O1 -g "${SAN[@]}")
ABSL_FLAGS=("${COMMON[@]}" -w -I"${ABSL_DIR}")

key() { { "${CXX}" --version | head -n1; printf '%s\n' "$@"; } | sha256sum | cut -c1-16; }

# --- 1. Abseil, once -------------------------------------------------------------
absl_key="$(key "$(cat "${ABSL_DIR}/.funnel-source-stamp")" "${ABSL_FLAGS[@]}")"
absl_out="${CACHE}/abseil-${absl_key}"
if [[ ! -f "${absl_out}/libabsl.a" ]]; then
  log "building Abseil for the fuzzers in ${absl_out} (once; a few minutes)"
  mkdir -p "${absl_out}/obj"
  (cd "${ABSL_DIR}" && find absl/base absl/numeric absl/strings absl/status \
    absl/synchronization absl/time absl/debugging absl/types absl/hash absl/container \
    absl/profiling -name '*.cc' |
    grep -vE '(_test|_benchmark|test_util|_testing|mock|test_helpers|_test_common|print_hash_of|test_instance_tracker|_test_utils?|inline_variable_test_[ab]|atomic_hook_test_helper|stack_consumption|failure_signal_handler|leak_check)\.cc$' |
    grep -v benchmark | sort) >"${absl_out}/sources"
  compile_one() {
    local src="$1" o
    o="${absl_out}/obj/$(echo "${src}" | tr / _).o"
    [[ -f "${o}" ]] && return 0
    "${CXX}" "${ABSL_FLAGS[@]}" -c "${ABSL_DIR}/${src}" -o "${o}.tmp" && mv "${o}.tmp" "${o}"
  }
  export -f compile_one
  export CXX ABSL_DIR absl_out
  export ABSL_FLAGS_STR="${ABSL_FLAGS[*]}"
  # shellcheck disable=SC2016
  xargs -P "${JOBS}" -n 1 bash -c 'ABSL_FLAGS=(${ABSL_FLAGS_STR}); compile_one "$1"' _ \
    <"${absl_out}/sources"
  rm -f "${absl_out}/libabsl.a.tmp"
  ar rcs "${absl_out}/libabsl.a.tmp" "${absl_out}"/obj/*.o
  mv "${absl_out}/libabsl.a.tmp" "${absl_out}/libabsl.a"
fi

# --- 2. The include layout Bazel gives the project ---------------------------------
# funnel/... from include/, funnel/policies/<axis>/ from policies/<axis>/,
# funnel/testing/ from testing/, fuzz/... from the repository root.
overlay="${CACHE}/include-$(echo "${REPO}" | sha256sum | cut -c1-16)"
mkdir -p "${overlay}/funnel"
ln -sfn "${REPO}/policies" "${overlay}/funnel/policies"
ln -sfn "${REPO}/testing" "${overlay}/funnel/testing"
FLAGS=("${COMMON[@]}" -Wall -Wextra -I"${overlay}" -I"${REPO}/include" -I"${REPO}"
  -I"${ABSL_DIR}")

# --- 3. The targets -----------------------------------------------------------------
sources_key="$(cd "${REPO}" && find include policies testing fuzz -name '*.h' -o -name '*_fuzz.cc' |
  sort | xargs cat | sha256sum | cut -c1-16)"
bin="${CACHE}/bin-$(key "${REPO}" "${FLAGS[@]}")"
mkdir -p "${bin}"
pids=()
for t in "${TARGETS[@]}"; do
  if [[ -x "${bin}/${t}" && "$(cat "${bin}/${t}.key" 2>/dev/null)" == "${sources_key}" ]]; then
    continue
  fi
  log "compiling ${t}"
  (
    "${CXX}" "${FLAGS[@]}" -fsanitize=fuzzer "${REPO}/fuzz/${t}.cc" "${absl_out}/libabsl.a" \
      -lpthread -o "${bin}/${t}.tmp"
    mv "${bin}/${t}.tmp" "${bin}/${t}"
    echo "${sources_key}" >"${bin}/${t}.key"
  ) &
  pids+=($!)
  # At most JOBS compilers at once.
  if ((${#pids[@]} >= JOBS)); then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "${p}"; done
echo "${bin}"
