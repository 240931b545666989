#!/usr/bin/env bash
# CI lane: interop with the Node side of the procwire protocol.
# interop/stress_writer (C++) writes a stress stream through every procwire
# configuration (48: each Queue x Backpressure x Batcher model, 8 producers,
# payloads of 0..64 KiB); interop/verify.mjs decodes it with the pinned
# @procwire/protocol FrameBuffer and checks per-producer order, loss,
# duplicates and every payload byte. Once over a real pipe (stdout -> stdin),
# once over a real AF_UNIX socket (one connection per configuration). Then a
# self-test: streams broken on purpose (interop/tamper.mjs) must be rejected.
#
#   bash .ci/interop.sh            # INTEROP_FRAMES (default 32) frames per producer
#
# Needs node, npm and interop/node_modules: scripts/install_deps.sh installs
# them (npm ci from interop/package-lock.json), and this script runs the same
# idempotent step if they are missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly FRAMES="${INTEROP_FRAMES:-32}"
log() { echo "interop: $*" >&2; }

if [[ ! -f interop/node_modules/@procwire/protocol/package.json ]]; then
  bash scripts/install_deps.sh </dev/null
fi
log "@procwire/protocol $(node -p 'require("./interop/node_modules/@procwire/protocol/package.json").version'), node $(node --version)"

bazel build //interop:stress_writer </dev/null
writer="$(bazel info bazel-bin 2>/dev/null)/interop/stress_writer"

work="$(mktemp -d)"
verifier=""
cleanup() {
  if [[ -n "${verifier}" ]] && kill -0 "${verifier}" 2>/dev/null; then kill "${verifier}"; fi
  rm -rf "${work}"
}
trap cleanup EXIT

failed=0

log "== pipe: ${FRAMES} frames per producer per configuration"
if ! "${writer}" --pipe --frames "${FRAMES}" --seed 1 | node interop/verify.mjs --pipe; then
  log "FAILED: pipe"
  failed=1
fi
# (pipefail: a failing writer fails the pipeline too.)

log "== socket: ${FRAMES} frames per producer per configuration"
sock="${work}/funnel-interop.sock"
node interop/verify.mjs --listen "${sock}" &
verifier=$!
writer_rc=0
"${writer}" --socket "${sock}" --frames "${FRAMES}" --seed 1000 || writer_rc=$?
verifier_rc=0
wait "${verifier}" || verifier_rc=$?
verifier=""
if ((writer_rc != 0 || verifier_rc != 0)); then
  log "FAILED: socket (writer exit ${writer_rc}, verifier exit ${verifier_rc})"
  failed=1
fi

# The check must be able to fail: a stream with one frame dropped, one
# duplicated or one payload byte flipped (interop/tamper.mjs) must be rejected.
log "== self-test: verify.mjs must reject a tampered stream"
for mode in drop dup flip; do
  set +e
  "${writer}" --pipe --frames 2 --seed 7 2>/dev/null | node interop/tamper.mjs "${mode}" 40 |
    node interop/verify.mjs --pipe >"${work}/tamper-${mode}.log"
  rc=("${PIPESTATUS[@]}")
  set -e
  if ((rc[0] != 0 || rc[1] != 0 || rc[2] != 1)); then
    log "FAILED: self-test ${mode}: exits ${rc[*]} (writer, tamper, verify); verify must exit 1"
    cat "${work}/tamper-${mode}.log" >&2
    failed=1
  else
    log "self-test ${mode}: rejected ($(grep -m1 'verify: ERROR' "${work}/tamper-${mode}.log" | cut -c1-140))"
  fi
done

if ((failed)); then
  exit 1
fi
log "OK: pipe and socket, every configuration"
