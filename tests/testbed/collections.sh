#!/usr/bin/env bash
# Third-party collections for the cpkgs.conda test bed, taken from the `ansible` wheel on PyPI (no Galaxy server
# is reachable here): containers.podman (Molecule's podman driver), ansible.posix, community.general.
#
#   bash tests/testbed/collections.sh DEST     # -> DEST/ansible_collections/<namespace>/<name>/
#
# Idempotent: the wheel is downloaded once into $CPKGS_CACHE/wheels, the collections are unpacked again only
# when the wheel or the list changes (stamp file DEST/.cpkgs-collections). Other collections in DEST
# (e.g. the cpkgs/conda symlink) are left alone. Re-packing them as Galaxy tarballs does not work (the wheel
# omits files FILES.json lists), so the folders are copied as they are.
#
# Environment: CPKGS_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/cpkgs-conda), CPKGS_PYTHON (a python with pip;
# default: python3 on PATH), CPKGS_ANSIBLE_VERSION (default below).
set -euo pipefail

ANSIBLE_VERSION="${CPKGS_ANSIBLE_VERSION:-12.3.0}"
COLLECTIONS=(containers/podman ansible/posix community/general)

die() { printf 'collections.sh: error: %s\n' "$*" >&2; exit 1; }

[ "$#" -eq 1 ] || die "usage: collections.sh DEST"
DEST="$1"
CACHE="${CPKGS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpkgs-conda}"
PYTHON="${CPKGS_PYTHON:-python3}"
WHEELS="$CACHE/wheels"
WHEEL="$WHEELS/ansible-$ANSIBLE_VERSION-py3-none-any.whl"

if [ ! -s "$WHEEL" ]; then
    mkdir -p "$WHEELS"
    printf '==> pip download ansible==%s (~54 MB, once)\n' "$ANSIBLE_VERSION" >&2
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$WHEELS" "ansible==$ANSIBLE_VERSION" 2>&1 \
        | grep -v 'is ignored: it is neither a file nor a directory' >&2 || true
    [ -s "$WHEEL" ] || die "could not download ansible==$ANSIBLE_VERSION"
fi

stamp="$(printf '%s\n' "$(basename "$WHEEL")" "$(stat -c %s "$WHEEL")" "${COLLECTIONS[@]}")"
if [ "$(cat "$DEST/.cpkgs-collections" 2>/dev/null)" = "$stamp" ]; then
    for c in "${COLLECTIONS[@]}"; do [ -f "$DEST/ansible_collections/$c/MANIFEST.json" ] || stamp=""; done
    [ -n "$stamp" ] && exit 0
    stamp="$(printf '%s\n' "$(basename "$WHEEL")" "$(stat -c %s "$WHEEL")" "${COLLECTIONS[@]}")"
fi

mkdir -p "$DEST/ansible_collections"
# Unpack into a temporary dir beside DEST, then swap each collection in (readers never see half a tree).
"$PYTHON" - "$WHEEL" "$DEST" "${COLLECTIONS[@]}" <<'PY'
"""Unpack ansible_collections/<ns>/<name>/ of the ansible wheel into DEST, replacing what is there."""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

wheel, dest, names = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
root = dest / "ansible_collections"
with tempfile.TemporaryDirectory(dir=dest, prefix=".unpack-") as tmp, zipfile.ZipFile(wheel) as zf:
    prefixes = tuple(f"ansible_collections/{name}/" for name in names)
    members = [m for m in zf.namelist() if m.startswith(prefixes)]
    zf.extractall(tmp, members)
    for name in names:
        new, old = Path(tmp, "ansible_collections", name), root / name
        if not (new / "MANIFEST.json").is_file():
            sys.exit(f"collections.sh: {name} not in {wheel}")
        old.parent.mkdir(parents=True, exist_ok=True)
        if old.is_symlink() or old.is_file():
            old.unlink()
        elif old.exists():
            shutil.rmtree(old)
        new.rename(old)
        version = json.loads((old / "MANIFEST.json").read_text())["collection_info"]["version"]
        print(f"==> {name.replace('/', '.')} {version}", file=sys.stderr)
PY
printf '%s\n' "$stamp" >"$DEST/.cpkgs-collections"
