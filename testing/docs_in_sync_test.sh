#!/usr/bin/env bash
# Fails when a `// [name]` block of the kit's example tests is not quoted
# verbatim in docs/testing.md (so the document shows code that compiles and
# passes). Runs from the runfiles root of the workspace.
set -euo pipefail

exec python3 - "$@" <<'PY'
import re
import sys

sources = [
    "testing/docs_examples_test.cc",
    "testing/fault_writev_test.cc",
    "testing/conformance_test.cc",
]
doc = open("docs/testing.md").read()
missing = []
count = 0
for path in sources:
    text = open(path).read()
    for m in re.finditer(r"^// \[([a-z-]+)\]\n(.*?)^// \[\1\]\n", text, re.S | re.M):
        count += 1
        block = m.group(2).rstrip("\n")
        if "```cpp\n" + block + "\n```" not in doc:
            missing.append(f"{path}: block [{m.group(1)}]")
if count == 0:
    sys.exit("no // [name] blocks found: has the marker format changed?")
if missing:
    sys.exit("docs/testing.md does not quote these blocks verbatim (copy them over):\n  "
             + "\n  ".join(missing))
print(f"{count} blocks quoted verbatim in docs/testing.md")
PY
