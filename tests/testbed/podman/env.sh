# shellcheck shell=bash
# Podman for the cpkgs.conda test bed, configured as it works on these machines (see TESTBED-NOTES):
# runc with explicit ulimits, cgroupfs, the file events logger, overlay storage in a directory of our own.
#
#   source tests/testbed/podman/env.sh        # then: podman ..., molecule ...
#
# Inputs (all optional):
#   CPKGS_CACHE          long-lived caches   (default: ${XDG_CACHE_HOME:-~/.cache}/cpkgs-conda)
#   CPKGS_PODMAN_DIR     podman state: images, volumes, networks; survives between runs (default: $CPKGS_CACHE/podman)
#   CPKGS_PODMAN_RUN_DIR run-time state (default: /run/cpkgs-podman-<hash of CPKGS_PODMAN_DIR> as root, so a
#                        reboot clears it as podman expects; $CPKGS_PODMAN_DIR/run otherwise)
# Exports: CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, CPKGS_PODMAN_DIR.
# Safe to source more than once and under `set -euo pipefail`; the config files are rewritten only on change.

__cpkgs_podman_env() {
    local here cache dir run key name text
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    cache="${CPKGS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpkgs-conda}"
    dir="${CPKGS_PODMAN_DIR:-$cache/podman}"
    mkdir -p "$dir" || return 1
    dir="$(cd "$dir" && pwd)"
    if [ -n "${CPKGS_PODMAN_RUN_DIR:-}" ]; then
        run="$CPKGS_PODMAN_RUN_DIR"
    elif [ "$(id -u)" -eq 0 ]; then
        key="$(printf '%s' "$dir" | sha256sum | cut -c1-12)"
        run="/run/cpkgs-podman-$key"
    else
        run="$dir/run"
    fi
    mkdir -p "$dir/storage" "$dir/networks" "$run" || return 1
    for name in containers storage; do
        text="$(sed -e "s|@PODMAN_DIR@|$dir|g" -e "s|@RUN_DIR@|$run|g" "$here/$name.conf.in")" || return 1
        if [ "$(cat "$dir/$name.conf" 2>/dev/null)" != "$text" ]; then
            printf '%s\n' "$text" >"$dir/$name.conf.tmp" && mv -f "$dir/$name.conf.tmp" "$dir/$name.conf" || return 1
        fi
    done
    export CPKGS_PODMAN_DIR="$dir"
    export CONTAINERS_CONF="$dir/containers.conf"
    export CONTAINERS_STORAGE_CONF="$dir/storage.conf"
}

__cpkgs_podman_env || { echo "tests/testbed/podman/env.sh: cannot set up podman config" >&2; return 1; }
unset -f __cpkgs_podman_env
