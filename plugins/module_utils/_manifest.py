# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A manifest of a directory tree (per-file type, size, mode and sha256) and the comparison of a tree with one.

Used by ``cpkgs.conda.tree_manifest`` to prove that a cluster node's local copy of the common tree is the
golden copy, file by file, and to say which files drifted. Standard library only.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
from typing import Dict, List, Optional

from ansible_collections.cpkgs.conda.plugins.module_utils._files import sha256_file

__all__ = ["MANIFEST_VERSION", "compare", "dump", "load", "scan"]

MANIFEST_VERSION = 1


def _excluded(relpath: str, patterns: List[str]) -> bool:
    """Whether a relative path matches a pattern (``pkgs/*`` leaves out what is in ``pkgs``, not ``pkgs`` itself,
    as rsync's ``--exclude=pkgs/*`` does)."""
    return any(fnmatch.fnmatch(relpath, pattern) for pattern in patterns)


def _entry(full: str, checksums: bool) -> Optional[dict]:
    """One entry of the manifest: a symlink (not followed), a directory, a regular file, or None (sockets …)."""
    info = os.lstat(full)
    if stat.S_ISLNK(info.st_mode):
        return {"type": "link", "target": os.readlink(full)}
    if stat.S_ISDIR(info.st_mode):
        return {"type": "dir", "mode": stat.S_IMODE(info.st_mode)}
    if stat.S_ISREG(info.st_mode):
        entry = {"type": "file", "size": info.st_size, "mode": stat.S_IMODE(info.st_mode)}
        if checksums:
            entry["sha256"] = sha256_file(full)
        return entry
    return None


def scan(root: str, exclude: Optional[List[str]] = None, checksums: bool = True) -> Dict[str, dict]:
    """``{relative path: {type, size, mode, sha256|target}}`` of every entry below ``root``.

    Directories are listed (type and mode) so that a missing empty directory counts; symlinks record their
    target and are not followed. ``exclude`` holds ``fnmatch`` patterns on the relative path (``pkgs/*``).
    """
    if isinstance(exclude, (str, bytes)):
        raise TypeError(f"exclude must be a list of patterns, got {exclude!r}")
    patterns = list(exclude or [])
    entries: Dict[str, dict] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir
        descend = []
        for name in sorted(dirnames) + sorted(filenames):
            rel = os.path.join(rel_dir, name)
            if _excluded(rel, patterns):
                continue
            entry = _entry(os.path.join(dirpath, name), checksums)
            if entry is None:
                continue
            entries[rel] = entry
            if entry["type"] == "dir":
                descend.append(name)
        dirnames[:] = descend
    return entries


def dump(entries: Dict[str, dict], exclude: List[str]) -> str:
    """The manifest file's text (sorted, stable, so an unchanged tree gives the same bytes)."""
    return (
        json.dumps({"version": MANIFEST_VERSION, "exclude": exclude, "entries": entries}, sort_keys=True, indent=0)
        + "\n"
    )


def load(text: str, path: str = "manifest") -> dict:
    """Parse a manifest; ``ValueError`` names the file (and the entry) when it is not one.

    Every entry must be a mapping and ``exclude`` a list of strings (``[]`` when absent).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not a tree manifest ({exc})") from None
    if (
        not isinstance(data, dict)
        or data.get("version") != MANIFEST_VERSION
        or not isinstance(data.get("entries"), dict)
    ):
        raise ValueError(f"{path}: not a version {MANIFEST_VERSION} tree manifest")
    for name, entry in data["entries"].items():
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: entry {name!r} must be a mapping, got {entry!r}")
    exclude = data.setdefault("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(pattern, str) for pattern in exclude):
        raise ValueError(f"{path}: exclude must be a list of patterns, got {exclude!r}")
    return data


def compare(expected: Dict[str, dict], actual: Dict[str, dict]) -> Dict[str, List[str]]:
    """What differs: ``missing`` (in the manifest, not in the tree), ``extra`` (the reverse) and ``changed``
    (type, size, mode, checksum or link target differ; a checksum is compared only when both have one)."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    changed = []
    for path in sorted(set(expected) & set(actual)):
        want, have = expected[path], actual[path]
        keys = ["type", "size", "mode", "target"]
        if "sha256" in want and "sha256" in have:
            keys.append("sha256")
        if any(want.get(key) != have.get(key) for key in keys):
            changed.append(path)
    return {"missing": missing, "extra": extra, "changed": changed}
