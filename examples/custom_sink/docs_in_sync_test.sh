#!/usr/bin/env bash
# Fails when a `// [name]` block of the example's sources is not quoted
# verbatim in docs/custom-policies.md, so that the document shows code that
# compiles and passes. Markers may be indented; the block between a pair is
# compared as is. Runs from the runfiles root of the workspace (or from the
# workspace root: bash examples/custom_sink/docs_in_sync_test.sh).
set -euo pipefail

exec python3 - "$@" <<'PY'
import re
import sys

sources = [
    "examples/custom_sink/checksum_sink.h",
    "examples/custom_sink/yield_backpressure.h",
    "examples/custom_sink/custom_sink.cc",
    "examples/custom_sink/custom_sink_test.cc",
]
doc = open("docs/custom-policies.md").read()
missing = []
count = 0
for path in sources:
    text = open(path).read()
    for m in re.finditer(r"^[ \t]*// \[([a-z-]+)\]\n(.*?)^[ \t]*// \[\1\]\n", text, re.S | re.M):
        count += 1
        block = m.group(2).rstrip("\n")
        if block not in doc:
            missing.append(f"{path}: block [{m.group(1)}]")
if count == 0:
    sys.exit("no // [name] blocks found: has the marker format changed?")
if missing:
    sys.exit("docs/custom-policies.md does not quote these blocks verbatim (copy them over):\n  "
             + "\n  ".join(missing))
print(f"{count} blocks quoted verbatim in docs/custom-policies.md")
PY
