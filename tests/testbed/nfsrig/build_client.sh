#!/usr/bin/env bash
# Build the FUSE NFS client (fuse-nfs) from the kit: bash build_client.sh KIT; prints the binary's path.
# The kit holds fuse-nfs-*.tar.gz and fuse-nfs.patch (applied with patch -p0 inside the unpacked tree).
# Cached in $CPKGS_CACHE/nfsrig/HASH, HASH of the kit's two files and this script; needs libnfs-dev,
# libfuse-dev, autoconf, automake, libtool, pkg-config and a compiler (start.sh installs them).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

kit="${1:?usage: build_client.sh KIT}"
shopt -s nullglob
tarballs=("$kit"/fuse-nfs-*.tar.gz)
shopt -u nullglob
[ "${#tarballs[@]}" -eq 1 ] || cpkgs::die "$kit: want exactly one fuse-nfs-*.tar.gz, found ${#tarballs[@]}"
tarball="${tarballs[0]}" patchfile="$kit/fuse-nfs.patch"
[ -f "$patchfile" ] || cpkgs::die "$kit: no fuse-nfs.patch"

key="$(for f in "$tarball" "$patchfile" "${BASH_SOURCE[0]}"; do
    printf '%s %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$(basename "$f")"
done | sha256sum | cut -c1-16)"
out="$CPKGS_CACHE/nfsrig/$key"
if [ -x "$out/fuse-nfs" ]; then
    printf '%s\n' "$out/fuse-nfs"
    exit 0
fi

cpkgs::log "building fuse-nfs from $(basename "$tarball") + fuse-nfs.patch -> $out"
mkdir -p "$CPKGS_CACHE/nfsrig"
work="$(mktemp -d "$CPKGS_CACHE/nfsrig/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
src="$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'fuse-nfs-*' -print -quit)"
[ -n "$src" ] || cpkgs::die "$tarball: no fuse-nfs-* directory inside"
(
    cd "$src"
    patch -p0 --forward --batch <"$patchfile"
    ./setup.sh
    ./configure
    make -j"$(nproc)"
) >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; cpkgs::die "fuse-nfs build failed"; }
mkdir -p "$work/out"
cp "$src/fuse/fuse-nfs" "$src/COPYING" "$work/out/"
cp "$work/build.log" "$work/out/build.log"
rm -rf "$out"
mv "$work/out" "$out"
printf '%s\n' "$out/fuse-nfs"
