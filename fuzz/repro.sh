#!/usr/bin/env bash
# Reproduces one fuzz finding: builds the target (fuzz/build.sh, cached) and
# runs it once on the saved input, printing the failed check or the
# sanitizer report.
#
#   bash fuzz/repro.sh <target> <input file>
#   e.g. bash fuzz/repro.sh writer_fuzz ~/.cache/funnel/fuzz/artifacts/writer_fuzz-...-crash-<sha1>
set -euo pipefail
if (($# != 2)); then
  echo "usage: bash fuzz/repro.sh <decoder_fuzz|partial_write_fuzz|writer_fuzz> <input>" >&2
  exit 2
fi
input="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin="$(bash fuzz/build.sh "$1")"
exec "${bin}/$1" -runs=1 "${input}"
