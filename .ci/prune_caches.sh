#!/usr/bin/env bash
# Keeps what CI caches outside the tree within a disk budget, so that runs on
# a machine that keeps ~/.cache between them do not fill its disk (Bazel 4's
# --disk_cache has no garbage collection of its own: every change to a core
# header adds a new set of sanitizer objects, several GB, for ever).
#
#   bash .ci/prune_caches.sh        # .ci/run calls it first; safe at any time
#
# What it removes, oldest first:
#   <cache>/bazel-disk, <cache>/bazel-disk-downstream   Bazel disk caches,
#       trimmed to FUNNEL_BAZEL_CACHE_GB (default 12) together, least recently
#       used files first (the later of atime and mtime). Bazel treats a
#       missing entry as a cache miss and rebuilds it.
#       When the disk has less than FUNNEL_CI_FREE_GB (default 20) free, they
#       are trimmed further, down to nothing if need be: a cold build is slow,
#       a full disk fails the run.
#   <cache>/fuzz/bin-*, include-*   fuzz builds of earlier trees: the newest 2.
#   <cache>/<target>-deps-*         CMake dependency builds: the newest 2 each.
#   <cache>/cmake-linux-*, cmake-win32-*   a layout no script uses any more.
#   Bazel output bases whose workspace directory no longer exists (clones
#   that were deleted), only with CI=true.
# <cache> is FUNNEL_CACHE_DIR, default ~/.cache/funnel. Prints one line of
# what it freed. Never fails the run: errors are reported and ignored.
set -uo pipefail

cache="${FUNNEL_CACHE_DIR:-${HOME:-/root}/.cache/funnel}"
budget_gb="${FUNNEL_BAZEL_CACHE_GB:-12}"
want_free_gb="${FUNNEL_CI_FREE_GB:-20}"
log() { echo "prune-caches: $*" >&2; }

[[ -d "${cache}" ]] || exit 0
free_kb() { df -Pk "${cache}" | awk 'NR == 2 { print $4 }'; }
before_kb="$(free_kb)"

# Keeps the newest $1 of the directories given after it (by mtime).
keep_newest() {
  local keep="$1"
  shift
  (($# > keep)) || return 0
  ls -1dt "$@" | tail -n +"$((keep + 1))" | while read -r d; do
    chmod -R u+w "${d}" 2>/dev/null
    rm -rf "${d}"
  done
}

shopt -s nullglob
keep_newest 2 "${cache}"/fuzz/bin-*
keep_newest 2 "${cache}"/fuzz/include-*
keep_newest 2 "${cache}"/linux-deps-*
keep_newest 2 "${cache}"/win32-deps-*
rm -rf "${cache}"/cmake-linux-* "${cache}"/cmake-win32-*

if [[ "${CI:-}" == "true" ]]; then
  for base in "${HOME:-/root}"/.cache/bazel/_bazel_*/*/; do
    marker="${base}DO_NOT_BUILD_HERE"
    [[ -f "${marker}" ]] || continue
    workspace="$(cat "${marker}")"
    if [[ -n "${workspace}" && ! -d "${workspace}" ]]; then
      chmod -R u+w "${base}" 2>/dev/null
      rm -rf "${base}"
    fi
  done
fi

# The Bazel disk caches, least recently used first.
disks=()
for d in "${cache}/bazel-disk" "${cache}/bazel-disk-downstream"; do
  [[ -d "${d}" ]] && disks+=("${d}")
done
if ((${#disks[@]})); then
  used_kb="$(du -sk "${disks[@]}" | awk '{ s += $1 } END { print s + 0 }')"
  limit_kb=$((budget_gb * 1024 * 1024))
  short_kb=$((want_free_gb * 1024 * 1024 - $(free_kb)))
  if ((short_kb > 0 && used_kb - short_kb < limit_kb)); then
    limit_kb=$((used_kb > short_kb ? used_kb - short_kb : 0))
  fi
  if ((used_kb > limit_kb)); then
    # "<last use> <size in KiB> <path>", oldest first; delete until the
    # rest fits the limit.
    find "${disks[@]}" -type f -printf '%A@ %T@ %k %p\n' |
      awk '{ t = ($1 > $2) ? $1 : $2; $1 = ""; $2 = ""; sub(/^  /, ""); print t, $0 }' |
      sort -n |
      awk -v excess=$((used_kb - limit_kb)) '
        excess > 0 { size = $2; $1 = ""; $2 = ""; sub(/^  /, ""); print; excess -= size }' |
      while IFS= read -r f; do rm -f -- "${f}"; done
  fi
fi

after_kb="$(free_kb)"
log "freed $(((after_kb - before_kb) / 1024)) MiB; $((after_kb / 1024 / 1024)) GiB free on $(df -P "${cache}" | awk 'NR == 2 { print $6 }')"
exit 0
