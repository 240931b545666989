#!/usr/bin/env python3
"""Fails when the CMake build's tests and Bazel's tests drift apart.

usage: cmake_tests_in_sync.py CMAKE_BUILD_DIR

Reads every cc_test / sh_test of the Bazel packages whose tests CMake mirrors
(tests/, tests/conformance/, testing/, examples/custom_sink/) by evaluating
their BUILD files with stub rules, lists the ctest tests of the build
directory (`ctest -N`), and reports a Bazel test without a CMake counterpart
(add a funnel_cc_test() / funnel_sh_test() call next to the BUILD entry).
Windows-only and POSIX-only tests are left out of some builds on purpose, so
only a Linux build directory is checked. Run from the repository root.
"""
import re
import subprocess
import sys

PACKAGES = ["tests", "tests/conformance", "testing", "examples/custom_sink"]
# Bazel label -> ctest name where the two differ (ctest names are global).
RENAMED = {"//examples/custom_sink:docs_in_sync_test": "custom_sink_docs_in_sync_test"}


def bazel_tests(package):
    found = []

    def record(**kw):
        found.append(kw["name"])

    def ignore(*args, **kw):
        return None

    env = {
        "cc_test": record,
        "sh_test": record,
        "cc_library": ignore,
        "cc_binary": ignore,
        "filegroup": ignore,
        "package": ignore,
        "licenses": ignore,
        "exports_files": ignore,
        "select": lambda d: [],
        "glob": lambda *a, **kw: [],
    }
    exec(compile(open(f"{package}/BUILD.bazel").read(), package, "exec"), env)
    return [f"//{package}:{name}" for name in found]


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    out = subprocess.run(["ctest", "-N", "--test-dir", argv[1]], check=True,
                         capture_output=True, text=True).stdout
    ctest = set(re.findall(r"Test\s+#\d+: (\S+)", out))
    missing = []
    count = 0
    for package in PACKAGES:
        for label in bazel_tests(package):
            count += 1
            name = RENAMED.get(label, label.split(":")[1])
            if name not in ctest:
                missing.append(f"{label} (ctest name {name})")
    if missing:
        sys.exit("Bazel tests the CMake build does not run (tests/CMakeLists.txt, "
                 "testing/CMakeLists.txt, examples/CMakeLists.txt):\n  " + "\n  ".join(missing))
    print(f"all {count} Bazel tests of {', '.join(PACKAGES)} run under ctest")


if __name__ == "__main__":
    main(sys.argv)
