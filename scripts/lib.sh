# shellcheck shell=bash
# Shared bootstrap for scripts/demo.sh and scripts/test.sh (sourced, not run).
#
# Everything a fresh Debian 12 machine lacks is installed here: apt packages (as root, or through sudo),
# the Python venv in ./.venv, and the offline test bed (local channel, stand-in installer, third-party
# collections, container image). Each step is skipped when its output is already up to date.
#
# Locations (all overridable):
#   CPKGS_BUILD  build outputs of this checkout             (default: <repo>/.build)
#   CPKGS_CACHE  downloads and images shared by checkouts    (default: ${XDG_CACHE_HOME:-~/.cache}/cpkgs-conda)

set -euo pipefail

CPKGS_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CPKGS_BUILD="${CPKGS_BUILD:-$CPKGS_REPO/.build}"
CPKGS_CACHE="${CPKGS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpkgs-conda}"
CPKGS_VENV="$CPKGS_REPO/.venv"
CPKGS_PY="$CPKGS_VENV/bin/python"
# The py-rattler wheel that the stand-in installer carries (the stand-in's only dependency).
CPKGS_RATTLER_VERSION="0.28.0"
export CPKGS_INSTALLER_NAME="cpkgs-conda-standin-26.7.1-Linux-x86_64.sh"
export CPKGS_REPO CPKGS_BUILD CPKGS_CACHE

cpkgs::log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
cpkgs::die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, through sudo otherwise.
cpkgs::as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else cpkgs::die "need root (or sudo) to run: $*"
    fi
}

# cpkgs::apt PKG...: install the Debian packages that are missing (one apt-get update per run at most).
cpkgs::apt() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || cpkgs::die "apt-get not found; install by hand: ${missing[*]}"
    cpkgs::log "apt-get install ${missing[*]}"
    if [ -z "${__CPKGS_APT_UPDATED:-}" ]; then
        cpkgs::as_root apt-get update -qq
        __CPKGS_APT_UPDATED=1
    fi
    cpkgs::as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# The venv in ./.venv with the pinned requirements; reinstalled when requirements/test.txt changes.
cpkgs::venv() {
    local req="$CPKGS_REPO/requirements/test.txt" stamp="$CPKGS_VENV/.requirements.sha256" want
    want="$(sha256sum "$req" | cut -d' ' -f1)"
    if [ -x "$CPKGS_PY" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
    cpkgs::log "Python venv $CPKGS_VENV (requirements/test.txt)"
    command -v python3 >/dev/null 2>&1 || cpkgs::apt python3 python3-venv
    [ -x "$CPKGS_PY" ] || python3 -m venv "$CPKGS_VENV"
    PIP_CACHE_DIR="$CPKGS_CACHE/pip" "$CPKGS_PY" -m pip install -q --disable-pip-version-check -r "$req" 2>&1 \
        | grep -v 'is ignored: it is neither a file nor a directory' || true
    "$CPKGS_PY" -c 'import rattler, ansible, molecule, testinfra' || cpkgs::die "venv install failed"
    echo "$want" >"$stamp"
}

# cpkgs::python X.Y: a python X.Y interpreter: on PATH, or one of pyenv's (these machines carry 3.9-3.13).
cpkgs::python() {
    local version="$1" found root
    found="$(command -v "python$version" 2>/dev/null || true)"
    case "$found" in */shims/*) found="" ;; esac  # a pyenv shim runs only the version pyenv has selected
    if [ -z "$found" ] && root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")" && [ -d "$root/versions" ]; then
        found="$(find "$root/versions" -maxdepth 3 -path "*/versions/$version*/bin/python$version" | sort -V | tail -n1)"
    fi
    [ -n "$found" ] || cpkgs::die "python $version not found (on PATH or in pyenv)"
    printf '%s\n' "$found"
}

# cpkgs::matrix_venv CORE PYTHON: a venv of python PYTHON with ansible-core CORE for the compat stage
# (sanity, units and integration on the oldest and newest ansible-core); prints its directory.
cpkgs::matrix_venv() {
    local core="$1" pyver="$2" dir="$CPKGS_BUILD/venv-ansible-core-$1" want
    want="ansible-core==$core ruamel.yaml==0.19.1 pyyaml"
    if [ "$(cat "$dir/.cpkgs-packages" 2>/dev/null)" != "$want @ $pyver" ]; then
        cpkgs::log "venv for ansible-core $core (python $pyver)"
        rm -rf "$dir"
        "$(cpkgs::python "$pyver")" -m venv "$dir" >&2 || return 1
        # shellcheck disable=SC2086 # a list of requirements
        PIP_CACHE_DIR="$CPKGS_CACHE/pip" "$dir/bin/python" -m pip install -q --disable-pip-version-check $want >&2 \
            || return 1
        echo "$want @ $pyver" >"$dir/.cpkgs-packages"
    fi
    printf '%s\n' "$dir"
}

# The local channel (tests/testbed/channel): cached by a hash of its recipe inside the output dir.
cpkgs::channel() {
    "$CPKGS_PY" "$CPKGS_REPO/tests/testbed/channel/build_channel.py" "$CPKGS_BUILD/channel"
}

# The py-rattler wheel for the stand-in installer's payload, downloaded once into the cache.
cpkgs::rattler_wheel() {
    local dir="$CPKGS_CACHE/wheels" whl
    whl="$(find "$dir" -maxdepth 1 -name "py_rattler-${CPKGS_RATTLER_VERSION}-*manylinux*x86_64*.whl" 2>/dev/null | head -n1)"
    if [ -z "$whl" ]; then
        mkdir -p "$dir"
        "$CPKGS_PY" -m pip download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
            --python-version 3.11 -d "$dir" "py-rattler==${CPKGS_RATTLER_VERSION}" 2>&1 | grep -v 'is ignored' || true
        whl="$(find "$dir" -maxdepth 1 -name "py_rattler-${CPKGS_RATTLER_VERSION}-*manylinux*x86_64*.whl" | head -n1)"
        [ -n "$whl" ] || cpkgs::die "could not download py-rattler ${CPKGS_RATTLER_VERSION}"
    fi
    printf '%s\n' "$whl"
}

# The stand-in installer (.sh + .sha256) in $CPKGS_BUILD/installer.
cpkgs::installer() {
    "$CPKGS_PY" "$CPKGS_REPO/tests/testbed/installer/make_installer.py" \
        --standin-src "$CPKGS_REPO/tests/testbed/standin" \
        --rattler-wheel "$(cpkgs::rattler_wheel)" \
        --out "$CPKGS_BUILD/installer"
}

# Real conda 26.7.1 from the kit in $CPKGS_REAL_CONDA_KIT (conda's and menuinst's source): a
# constructor-like installer of a real-conda tree, and that tree installed under $CPKGS_BUILD for the
# tests that run conda directly. Cached by the kit's hash. Without the kit: nothing (the real-* stages skip).
# Exports CPKGS_REAL_INSTALLER (the .sh; its digest in .sh.sha256) and CPKGS_REAL_CONDA_EXE.
cpkgs::realconda() {
    [ -n "${CPKGS_REAL_CONDA_KIT:-}" ] || return 0
    [ -d "$CPKGS_REAL_CONDA_KIT" ] || cpkgs::die "CPKGS_REAL_CONDA_KIT=$CPKGS_REAL_CONDA_KIT: not a directory"
    # The base is a venv of Debian's python3; pycosat has no wheel on PyPI, so pip builds it (gcc, Python.h).
    cpkgs::apt python3 python3-venv python3-dev build-essential
    local out="$CPKGS_BUILD/realconda"
    cpkgs::log "real conda 26.7.1 from $CPKGS_REAL_CONDA_KIT"
    "$CPKGS_PY" "$CPKGS_REPO/tests/testbed/realconda/build_realconda.py" --kit "$CPKGS_REAL_CONDA_KIT" --out "$out" \
        >/dev/null || cpkgs::die "building real conda failed"
    export CPKGS_REAL_INSTALLER="$out/realconda-26.7.1-Linux-x86_64.sh"
    export CPKGS_REAL_CONDA_EXE="$out/tree/bin/conda"
}

# The NFS rig (tests/testbed/nfsrig): a real NFSv3 share with root_squash over loopback, from the kit in
# $CPKGS_NFS_RIG_KIT (fuse-nfs's source and a patch). Needs root. Without the kit: nothing (stage nfs skips).
# cpkgs::nfsrig_start exports CPKGS_NFS_MOUNT (the mount point); cpkgs::nfsrig_stop takes it all down.
cpkgs::nfsrig_start() {
    [ -n "${CPKGS_NFS_RIG_KIT:-}" ] || return 0
    local mount
    mount="$(bash "$CPKGS_REPO/tests/testbed/nfsrig/start.sh" "$CPKGS_NFS_RIG_KIT")" || return 1
    export CPKGS_NFS_MOUNT="$mount"
}

cpkgs::nfsrig_stop() {
    [ -n "${CPKGS_NFS_RIG_KIT:-}" ] || return 0
    bash "$CPKGS_REPO/tests/testbed/nfsrig/stop.sh"
}

# Third-party collections (from the `ansible` wheel) plus this checkout as cpkgs.conda, in one
# collections path; exported as ANSIBLE_COLLECTIONS_PATH.
cpkgs::collections() {
    local dest="$CPKGS_BUILD/collections"
    bash "$CPKGS_REPO/tests/testbed/collections.sh" "$dest"
    mkdir -p "$dest/ansible_collections/cpkgs"
    ln -sfn "$CPKGS_REPO" "$dest/ansible_collections/cpkgs/conda"
    export ANSIBLE_COLLECTIONS_PATH="$dest"
}

# Ansible settings for every ansible/molecule command the scripts run: nothing under ~/.ansible.
cpkgs::ansible_env() {
    export ANSIBLE_HOME="$CPKGS_BUILD/ansible-home"
    export ANSIBLE_LOCAL_TEMP="$ANSIBLE_HOME/tmp"
    export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-1}"
    export ANSIBLE_NOCOWS=1
    export PATH="$CPKGS_VENV/bin:$PATH"
}

# Podman configured as TESTBED-NOTES.md says works on these machines, and the test image.
cpkgs::podman() {
    # Two podman Recommends that `--no-install-recommends` skips and the scenarios need: the `--init`
    # binary, and name resolution between containers on a podman network (CNI dnsname plugin, podman 4.3).
    cpkgs::apt podman runc catatonit golang-github-containernetworking-plugin-dnsname
    # shellcheck source=/dev/null
    source "$CPKGS_REPO/tests/testbed/podman/env.sh"
    bash "$CPKGS_REPO/tests/testbed/image/build_image.sh"
}

# cpkgs::timed NAME CMD...: run a command, record "NAME SECONDS RC" in $CPKGS_TIMES (if set).
cpkgs::timed() {
    local name="$1" start rc=0
    shift
    start="$(date +%s.%N)"
    "$@" || rc=$?
    if [ -n "${CPKGS_TIMES:-}" ]; then
        awk -v n="$name" -v s="$start" -v e="$(date +%s.%N)" -v r="$rc" \
            'BEGIN { printf "%s %.1f %s\n", n, e - s, r }' >>"$CPKGS_TIMES"
    fi
    return "$rc"
}
