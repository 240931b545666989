#!/usr/bin/env bash
# Installs everything the funnel build needs, idempotently:
#   * Debian packages: Bazel 4.2.3 (bazel-bootstrap) with Debian's skylib and
#     platforms, g++, Boost (Hana), GoogleTest/GoogleMock, Google Benchmark,
#     clang-format, and dpkg-dev (for `apt-get source`); CMake, Ninja and
#     ccache;
#     for the Win32 lane, mingw-w64 (posix threads), Wine and GoogleTest's
#     source;
#   * clang-14 with libclang-rt-14-dev (libFuzzer's runtime, for fuzz/build.sh);
#   * Node.js and npm (Debian's, when `node`/`npm` are missing), and the
#     pinned @procwire/protocol in interop/node_modules (`npm ci` from
#     interop/package-lock.json, redone when the lock file changes), for
#     .ci/interop.sh;
#   * Abseil's *source* (Debian's abseil source package, Debian patches
#     applied, then our own third_party/abseil/*.patch), unpacked to
#     /opt/funnel-deps/abseil, where WORKSPACE expects it. Bazel builds it from
#     source (so sanitizer builds instrument it too). It is unpacked anew when
#     our patches change.
# Safe to run repeatedly: does nothing (and no network access) when all is there.
# Runs as root; as another user it uses sudo when available.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# Must match the com_google_absl path in WORKSPACE.
readonly DEPS_ROOT=/opt/funnel-deps
readonly ABSL_DIR="${DEPS_ROOT}/abseil"
readonly ABSL_UPSTREAM_VERSION=20220623
readonly ABSL_MARKER="${ABSL_DIR}/.funnel-source-stamp"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly ABSL_PATCHES_DIR="${REPO_ROOT}/third_party/abseil"

readonly PACKAGES=(
  bazel-bootstrap
  bazel-skylib
  bazel-platforms
  build-essential
  g++
  libboost-dev
  libgtest-dev
  libgmock-dev
  libbenchmark-dev
  clang-format
  clang-14
  libclang-rt-14-dev
  dpkg-dev
  ca-certificates
  # The CMake build (.ci/cmake.sh) and the Win32 lane (.ci/win32.sh):
  # cmake + ninja; GoogleTest's source (/usr/src/googletest) to build it for
  # Windows; mingw-w64 with the posix thread model; Wine to run the tests.
  cmake
  ninja-build
  ccache
  googletest
  g++-mingw-w64-x86-64-posix
  wine
  wine64
)

log() { echo "install_deps: $*" >&2; }

if [[ "$(id -u)" -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -E)
else
  log "error: must run as root (or with sudo available)"
  exit 1
fi

as_root() { "${SUDO[@]}" "$@"; }

is_installed() {
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" == "installed" ]]
}

# --- 1. Debian packages -------------------------------------------------------
missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "${pkg}" || missing+=("${pkg}")
done
if ((${#missing[@]})); then
  log "installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
else
  log "Debian packages already installed"
fi

# --- 1b. Node.js and the interop package (interop/, .ci/interop.sh) -----------
# Node may come from elsewhere than Debian (it brings its own npm then), so
# the test is the commands, not the packages.
node_missing=()
command -v node >/dev/null 2>&1 || node_missing+=(nodejs)
command -v npm >/dev/null 2>&1 || node_missing+=(npm)
if ((${#node_missing[@]})); then
  log "installing: ${node_missing[*]}"
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${node_missing[@]}" </dev/null
fi
interop_lock="${REPO_ROOT}/interop/package-lock.json"
interop_stamp="${REPO_ROOT}/interop/node_modules/.funnel-lock-sha256"
if [[ -f "${interop_lock}" ]]; then
  lock_sha="$(sha256sum <"${interop_lock}" | cut -c1-64)"
  if [[ "$(cat "${interop_stamp}" 2>/dev/null)" != "${lock_sha}" ]]; then
    log "npm ci in interop/ (@procwire/protocol, pinned in interop/package-lock.json)"
    # --ignore-scripts: nothing of the package runs at install time.
    (cd "${REPO_ROOT}/interop" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error \
      </dev/null)
    echo "${lock_sha}" >"${interop_stamp}"
  else
    log "interop/node_modules already matches interop/package-lock.json"
  fi
fi

# --- 2. Abseil source ---------------------------------------------------------
shopt -s nullglob
patches=("${ABSL_PATCHES_DIR}"/*.patch)
shopt -u nullglob
# Identifies our patch set; the unpacked tree is redone when it changes.
patches_id="$(cat /dev/null "${patches[@]}" | sha256sum | cut -c1-16)"
if [[ -f "${ABSL_MARKER}" ]] && grep -qx "patches ${patches_id}" "${ABSL_MARKER}"; then
  log "Abseil source already at ${ABSL_DIR} ($(head -n1 "${ABSL_MARKER}"))"
  exit 0
fi

log "fetching Debian's abseil source package into ${ABSL_DIR}"
as_root mkdir -p "${DEPS_ROOT}"
if [[ ${#SUDO[@]} -ne 0 ]]; then
  as_root chown "$(id -u):$(id -g)" "${DEPS_ROOT}"
fi

# A private APT configuration holding only deb-src entries, with its own
# lists and cache directories, so the machine's APT state is left untouched.
apt_dir="${DEPS_ROOT}/apt"
mkdir -p "${apt_dir}/lists/partial" "${apt_dir}/cache/archives/partial"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"${apt_dir}/sources.list" <<SOURCES
deb-src [signed-by=${keyring}] http://deb.debian.org/debian bookworm main
deb-src [signed-by=${keyring}] http://deb.debian.org/debian bookworm-updates main
deb-src [signed-by=${keyring}] http://deb.debian.org/debian-security bookworm-security main
SOURCES
apt_opts=(
  -o "Dir::Etc::SourceList=${apt_dir}/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=${apt_dir}/lists"
  -o "Dir::Cache=${apt_dir}/cache"
  -o "APT::Sandbox::User=$(id -un)"
)
apt-get "${apt_opts[@]}" update -qq

work="$(mktemp -d "${DEPS_ROOT}/abseil.tmp.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
# `apt-get source` downloads the .dsc/.orig/.debian files and runs
# dpkg-source -x, which applies Debian's patches (debian/patches/series).
(cd "${work}" && apt-get "${apt_opts[@]}" source -qq --only-source abseil </dev/null)
src="$(find "${work}" -mindepth 1 -maxdepth 1 -type d -name 'abseil-*' | head -n1)"
dsc="$(find "${work}" -mindepth 1 -maxdepth 1 -name 'abseil_*.dsc' | head -n1)"
if [[ -z "${src}" || -z "${dsc}" || ! -f "${src}/WORKSPACE" ]]; then
  log "error: unpacking Debian's abseil source failed"
  exit 1
fi
version="$(sed -n 's/^Version: //p' "${dsc}" | head -n1)"
if [[ "${version}" != "${ABSL_UPSTREAM_VERSION}"* ]]; then
  log "error: expected abseil ${ABSL_UPSTREAM_VERSION}, got ${version}"
  exit 1
fi
for p in "${patches[@]}"; do
  log "applying $(basename "${p}")"
  patch -d "${src}" -p1 --forward --batch --quiet <"${p}"
done
printf '%s\npatches %s\n' "${version}" "${patches_id}" >"${src}/.funnel-source-stamp"
# Swap the new tree in (keeping the window without ${ABSL_DIR} short).
if [[ -e "${ABSL_DIR}" ]]; then
  mv "${ABSL_DIR}" "${work}/old"
fi
mv "${src}" "${ABSL_DIR}"
log "Abseil ${version} source ready at ${ABSL_DIR}"
