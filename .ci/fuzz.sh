#!/usr/bin/env bash
# CI lane: builds the libFuzzer targets (fuzz/build.sh) and runs each one for
# a bounded time, starting from its in-tree seed corpus (fuzz/corpus/<target>).
#
#   bash .ci/fuzz.sh                  # every target, FUZZ_SECONDS (default 40) each
#   bash .ci/fuzz.sh writer_fuzz      # one target
#
# The tree is never written: each target fuzzes a temporary copy of its
# corpus. A crash, a failed check, a leak or a timeout fails the lane; the
# input that caused it is saved under ${FUZZ_ARTIFACTS:-~/.cache/funnel/fuzz/artifacts}
# and the one command that reproduces it is printed (docs/fuzzing.md).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly SECONDS_EACH="${FUZZ_SECONDS:-40}"
readonly ARTIFACTS="${FUZZ_ARTIFACTS:-${HOME}/.cache/funnel/fuzz/artifacts}"
if (($#)); then
  targets=("$@")
else
  targets=(decoder_fuzz partial_write_fuzz writer_fuzz)
fi

log() { echo "fuzz: $*" >&2; }

bin="$(bash fuzz/build.sh "${targets[@]}")"
mkdir -p "${ARTIFACTS}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

failed=0
for t in "${targets[@]}"; do
  corpus="${work}/${t}"
  mkdir -p "${corpus}"
  cp fuzz/corpus/"${t}"/* "${corpus}/"
  prefix="${ARTIFACTS}/${t}-$(date -u +%Y%m%dT%H%M%S)-"
  log "${t}: ${SECONDS_EACH} s from $(ls "${corpus}" | wc -l) seed inputs"
  # -timeout: one input taking longer than 10 s is a hang (an iteration takes
  # milliseconds). -rss_limit_mb: a runaway allocation is a failure too.
  if "${bin}/${t}" -max_total_time="${SECONDS_EACH}" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="${prefix}" "${corpus}" \
    >"${work}/${t}.log" 2>&1; then
    log "${t}: OK ($(grep -E '^stat::number_of_executed_units' "${work}/${t}.log" |
      awk '{print $2}') runs, corpus $(ls "${corpus}" | wc -l) inputs)"
  else
    failed=$((failed + 1))
    tail -n 60 "${work}/${t}.log" >&2
    artifact="$(ls -t "${prefix}"* 2>/dev/null | head -n1 || true)"
    log "FAILED: ${t}"
    if [[ -n "${artifact}" ]]; then
      log "input saved: ${artifact}"
      log "reproduce:   bash fuzz/repro.sh ${t} ${artifact}"
    fi
  fi
done
exit $((failed > 0))
