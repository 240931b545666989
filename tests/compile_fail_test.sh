#!/usr/bin/env bash
# Compiles each tests/compile_fail/*.cc with the system compiler against the
# project's headers and Abseil's, and checks the outcome its first line names:
#   // expect: COMPILES          the file must compile;
#   // expect: <text>            compilation must fail, and the first error
#                                must contain <text>.
set -euo pipefail
here="${TEST_SRCDIR}/${TEST_WORKSPACE}"
absl="${FUNNEL_ABSL_DIR:-/opt/funnel-deps/abseil}"
cxx="${CXX:-g++}"
# Headers are laid out as in the repository; map them to their include names.
inc="$(mktemp -d)"
trap 'rm -rf "$inc"' EXIT
mkdir -p "$inc/funnel/policies"
cp -r "$here/include/funnel/." "$inc/funnel/"
cp -r "$here/policies/." "$inc/funnel/policies/"
passed=0
failed=0
for src in "$here"/tests/compile_fail/*.cc; do
  expect="$(head -n 1 "$src" | sed -n 's|^// expect: ||p')"
  name="$(basename "$src")"
  if out="$("$cxx" -std=c++20 -fsyntax-only -I"$inc" -I"$absl" "$src" 2>&1)"; then
    if [[ "$expect" == "COMPILES" ]]; then passed=$((passed + 1)); continue; fi
    echo "FAIL $name: compiled, but should fail with: $expect"
    failed=$((failed + 1))
    continue
  fi
  if [[ "$expect" == "COMPILES" ]]; then
    echo "FAIL $name: should compile:"; echo "$out" | head -n 20
    failed=$((failed + 1))
    continue
  fi
  first_error="$(echo "$out" | grep -m 1 'error:' || true)"
  if [[ "$first_error" == *"$expect"* ]]; then
    echo "ok   $name: $first_error"
    passed=$((passed + 1))
  else
    echo "FAIL $name: first error does not name the member; want: $expect"
    echo "$out" | head -n 20
    failed=$((failed + 1))
  fi
done
echo "compile_fail: $passed passed, $failed failed"
[[ $failed -eq 0 && $passed -gt 0 ]]
