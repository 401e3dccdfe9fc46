#!/usr/bin/env bash
# Build the container image of the cpkgs.conda test bed: a Debian bookworm rootfs made with debootstrap,
# cached as a zstd tarball and imported into podman as localhost/cpkgs-testbed:<recipe hash> (+ :latest).
#
#   bash tests/testbed/image/build_image.sh          # prints the image reference on stdout
#
# Every step is skipped when its output exists: the tarball is keyed by a hash of the recipe (this script,
# which holds the package list), the image by the same hash. Nothing here needs network access except
# debootstrap on the first run, which uses the Debian mirror that apt on this machine uses.
#
# Environment:
#   CPKGS_CACHE          cache root (default: ${XDG_CACHE_HOME:-~/.cache}/cpkgs-conda); tarball in $CPKGS_CACHE/image
#   CPKGS_DEBIAN_MIRROR  Debian mirror for debootstrap (default: read from /etc/apt/sources.list{,.d/*})
#   CPKGS_PODMAN_DIR     podman state dir, see tests/testbed/podman/env.sh
set -euo pipefail

IMAGE_REPO="localhost/cpkgs-testbed"
SUITE="bookworm"
VARIANT="minbase"
# python3: Ansible; sudo/acl: become and become_user to unprivileged users; bash/zsh/tcsh: shell-hook tests;
# rsync: synchronize; procps/util-linux (su, runuser, findmnt)/mount: probes; ca-certificates: py-rattler (the
# stand-in) cannot build its HTTP client without a CA bundle, even offline; the rest: what installers use.
PACKAGES=(
    python3 sudo acl bash zsh tcsh rsync procps util-linux mount passwd ca-certificates
    tar gzip bzip2 xz-utils findutils file less
)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${CPKGS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpkgs-conda}"
IMAGE_DIR="$CACHE/image"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build_image.sh: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
# since START: seconds elapsed since START, one decimal.
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The recipe hash: this script (package list, steps) and the podman import options below.
recipe_hash() {
    { cat "${BASH_SOURCE[0]}"; printf '%s\n' "$SUITE" "$VARIANT" "${PACKAGES[@]}"; } | sha256sum | cut -c1-12
}

# The Debian mirror apt uses here: the first enabled `deb` source whose suite is exactly $SUITE
# (deb822 *.sources first, then one-line *.list files).
debian_mirror() {
    if [ -n "${CPKGS_DEBIAN_MIRROR:-}" ]; then printf '%s\n' "$CPKGS_DEBIAN_MIRROR"; return 0; fi
    local mirror="" files=()
    shopt -s nullglob
    files=(/etc/apt/sources.list.d/*.sources)
    if [ "${#files[@]}" -gt 0 ]; then
        mirror="$(awk -v suite="$SUITE" '
            BEGIN { RS = ""; FS = "\n" }
            {
                types = ""; uris = ""; suites = ""; enabled = "yes"
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^[ \t]*#/) continue
                    key = tolower(line); sub(/:.*/, "", key)
                    val = line; sub(/^[^:]*:[ \t]*/, "", val)
                    if (key == "types") types = val
                    else if (key == "uris") uris = val
                    else if (key == "suites") suites = val
                    else if (key == "enabled") enabled = tolower(val)
                }
                if (enabled == "no" || (" " types " ") !~ / deb /) next
                if ((" " suites " ") !~ (" " suite " ")) next
                split(uris, u, /[ \t]+/); print u[1]; exit
            }' "${files[@]}")"
    fi
    if [ -z "$mirror" ]; then
        files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
        [ "${#files[@]}" -gt 0 ] && mirror="$(awk -v suite="$SUITE" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }' "${files[@]}" 2>/dev/null)"
    fi
    shopt -u nullglob
    [ -n "$mirror" ] || die "no Debian '$SUITE' mirror in /etc/apt/sources.list*; set CPKGS_DEBIAN_MIRROR"
    printf '%s\n' "$mirror"
}

# build_tarball OUT: debootstrap the rootfs, strip caches and docs, write OUT (zstd tarball) atomically.
build_tarball() {
    local out="$1" mirror rootfs start include
    mirror="$(debian_mirror)"
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap not found (apt-get install debootstrap)"
    rootfs="$(mktemp -d "$IMAGE_DIR/rootfs.XXXXXX")"
    # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
    trap "as_root rm -rf '$rootfs'; rm -f '$out.tmp'" EXIT
    include="$(IFS=,; printf '%s' "${PACKAGES[*]}")"
    log "debootstrap --variant=$VARIANT $SUITE from $mirror"
    start="$(now)"
    as_root debootstrap --variant="$VARIANT" --include="$include" "$SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
        || { tail -n 30 "$rootfs.log" >&2; die "debootstrap failed (log: $rootfs.log)"; }
    rm -f "$rootfs.log"
    log "debootstrap: $(since "$start") s"
    as_root rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old \
        "$rootfs"/etc/machine-id
    printf 'cpkgs-testbed %s\n' "$(basename "$out")" | as_root tee "$rootfs/etc/cpkgs-testbed-image" >/dev/null
    start="$(now)"
    as_root tar -C "$rootfs" --numeric-owner -cf - . | zstd -q -T0 -o "$out.tmp"
    mv -f "$out.tmp" "$out"
    log "tarball $(du -h "$out" | cut -f1): $(since "$start") s"
    as_root rm -rf "$rootfs"
    trap - EXIT
}

main() {
    local hash tarball image start0 start old
    start0="$(now)"
    # shellcheck source=SCRIPTDIR/../podman/env.sh
    source "$HERE/../podman/env.sh"
    hash="$(recipe_hash)"
    tarball="$IMAGE_DIR/rootfs-$SUITE-$hash.tar.zst"
    image="$IMAGE_REPO:$hash"
    mkdir -p "$IMAGE_DIR"
    if podman image exists "$image"; then
        log "image $image present"
    else
        if [ -s "$tarball" ]; then log "cached tarball $tarball"; else build_tarball "$tarball"; fi
        start="$(now)"
        zstd -dc "$tarball" | podman import --quiet --change 'CMD ["/bin/bash"]' \
            --message "cpkgs.conda test bed, Debian $SUITE $VARIANT, recipe $hash" - "$image" >/dev/null
        log "podman import: $(since "$start") s"
        # Smoke test: if this fails, the podman configuration does not suit this machine (see TESTBED-NOTES).
        podman run --rm "$image" python3 -c 'import sys' \
            || { podman rmi "$image" >/dev/null 2>&1; die "cannot run a container of $image (CONTAINERS_CONF=$CONTAINERS_CONF)"; }
    fi
    podman tag "$image" "$IMAGE_REPO:latest"
    # Tarballs and images of older recipes are dead weight (an image still used by a container stays).
    for old in "$IMAGE_DIR"/rootfs-*.tar.zst; do
        if [ -e "$old" ] && [ "$old" != "$tarball" ]; then rm -f "$old"; fi
    done
    podman images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$IMAGE_REPO" \
        | { grep -vxF -e "$image" -e "$IMAGE_REPO:latest" || true; } \
        | while read -r old; do podman rmi "$old" >/dev/null 2>&1 || true; done
    log "image $image (also :latest) ready in $(since "$start0") s"
    printf '%s\n' "$image"
}

main "$@"
