#!/usr/bin/env bash
# CI lane: examples/downstream, a separate Bazel workspace that depends on
# funnel through local_repository + funnel_dependencies() (deps.bzl), builds
# its own component and runs its tests with funnel's testing kit.
# Its Bazel output base is its own (another workspace). Idempotent; non-zero
# exit on failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../examples/downstream"
# A disk cache outside the tree: a warm run (even from a fresh clone) reuses
# the Abseil and GoogleTest objects instead of rebuilding them.
cache=(--disk_cache="${FUNNEL_DEPS_CACHE:-${HOME:-/root}/.cache/funnel}/bazel-disk-downstream")
status=0
bazel build "${cache[@]}" //... </dev/null || status=1
bazel test "${cache[@]}" //... </dev/null || status=1
if [[ "${CI:-}" == "true" ]]; then
  bazel shutdown >/dev/null 2>&1 || true
fi
exit "${status}"
