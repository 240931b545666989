#!/usr/bin/env python3
"""Fails when a `// [name]` block of the given sources is not quoted verbatim
in a document, so that documents show code that compiles and passes.

usage: docs_in_sync.py [--fenced] DOC SOURCE...

Markers may be indented; the text between a pair is compared as is. With
--fenced the block must appear as a whole ```cpp fenced block. Paths are
relative to the workspace root (the runfiles root under `bazel test`).
"""
import re
import sys


def main(argv):
    fenced = "--fenced" in argv
    args = [a for a in argv if a != "--fenced"]
    if len(args) < 2:
        sys.exit(__doc__)
    doc_path, sources = args[0], args[1:]
    doc = open(doc_path).read()
    missing = []
    count = 0
    marker = re.compile(r"^[ \t]*// \[([a-z-]+)\]\n(.*?)^[ \t]*// \[\1\]\n", re.S | re.M)
    for path in sources:
        for m in marker.finditer(open(path).read()):
            count += 1
            block = m.group(2).rstrip("\n")
            quoted = "```cpp\n" + block + "\n```" if fenced else block
            if quoted not in doc:
                missing.append(f"{path}: block [{m.group(1)}]")
    if count == 0:
        sys.exit("no // [name] blocks found: has the marker format changed?")
    if missing:
        sys.exit(f"{doc_path} does not quote these blocks verbatim (copy them over):\n  "
                 + "\n  ".join(missing))
    print(f"{count} blocks quoted verbatim in {doc_path}")


if __name__ == "__main__":
    main(sys.argv[1:])
