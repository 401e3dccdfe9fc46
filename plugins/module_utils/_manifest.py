# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A manifest of a directory tree (per-file type, size, mode, mtime, sha256 and hard links) and the comparison
of a tree with one.

Used by ``cpkgs.conda.tree_manifest`` to prove that a cluster node's local copy of the common tree is the
golden copy, file by file, and to say which files drifted. Standard library only.

Hard links: conda links a package's files into every env that uses it, so one inode has several paths in the
tree. The paths of one inode (within the scanned tree, exclusions left out) form a link group; its first path
in sorted order is the group's leader, and every other member's entry carries ``"link": LEADER``. A copy that
lost its links (``rsync`` without ``-H``), or linked what the original does not, differs in those keys.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
from typing import Dict, List, Optional, Tuple

from ansible_collections.cpkgs.conda.plugins.module_utils._files import sha256_file

__all__ = ["MANIFEST_VERSION", "compare", "dump", "link_groups", "load", "scan", "unique_bytes"]

MANIFEST_VERSION = 2
# Versions load() reads: 1 had no hard links and no mtimes (a copy is then not checked for them).
READABLE_VERSIONS = (1, 2)


def _excluded(relpath: str, patterns: List[str]) -> bool:
    """Whether a relative path matches a pattern (``pkgs/*`` leaves out what is in ``pkgs``, not ``pkgs`` itself,
    as rsync's ``--exclude=pkgs/*`` does)."""
    return any(fnmatch.fnmatch(relpath, pattern) for pattern in patterns)


def _entry(info: os.stat_result, full: str) -> Optional[dict]:
    """One entry of the manifest without its checksum: a symlink (not followed), a directory, a regular file, or
    None (sockets …)."""
    if stat.S_ISLNK(info.st_mode):
        return {"type": "link", "target": os.readlink(full)}
    if stat.S_ISDIR(info.st_mode):
        return {"type": "dir", "mode": stat.S_IMODE(info.st_mode)}
    if stat.S_ISREG(info.st_mode):
        return {"type": "file", "size": info.st_size, "mode": stat.S_IMODE(info.st_mode), "mtime": int(info.st_mtime)}
    return None


def scan(root: str, exclude: Optional[List[str]] = None, checksums: bool = True) -> Dict[str, dict]:
    """``{relative path: {type, size, mode, mtime, sha256|target, link}}`` of every entry below ``root``.

    Directories are listed (type and mode) so that a missing empty directory counts; symlinks record their
    target and are not followed. ``exclude`` holds ``fnmatch`` patterns on the relative path (``pkgs/*``).
    Files sharing an inode carry ``link``: the first of their paths in sorted order (see the module's doc);
    a group is hashed once.
    """
    if isinstance(exclude, (str, bytes)):
        raise TypeError(f"exclude must be a list of patterns, got {exclude!r}")
    patterns = list(exclude or [])
    entries: Dict[str, dict] = {}
    inodes: Dict[Tuple[int, int], List[str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir
        descend = []
        for name in sorted(dirnames) + sorted(filenames):
            rel = os.path.join(rel_dir, name)
            if _excluded(rel, patterns):
                continue
            full = os.path.join(dirpath, name)
            info = os.lstat(full)
            entry = _entry(info, full)
            if entry is None:
                continue
            entries[rel] = entry
            if entry["type"] == "dir":
                descend.append(name)
            elif entry["type"] == "file":
                inodes.setdefault((info.st_dev, info.st_ino), []).append(rel)
        dirnames[:] = descend
    for paths in inodes.values():
        leader, *members = sorted(paths)
        if checksums:
            entries[leader]["sha256"] = sha256_file(os.path.join(root, leader))
        for member in members:
            entries[member]["link"] = leader
            if checksums:
                entries[member]["sha256"] = entries[leader]["sha256"]
    return entries


def link_groups(entries: Dict[str, dict]) -> Dict[str, List[str]]:
    """``{leader: [leader, member, …]}`` of every hard-link group of a scan or a manifest's entries."""
    groups: Dict[str, List[str]] = {}
    for path in sorted(entries):
        leader = entries[path].get("link")
        if leader is not None:
            groups.setdefault(leader, [leader]).append(path)
    return groups


def unique_bytes(entries: Dict[str, dict]) -> int:
    """The bytes of the tree's files counting each hard-link group once (what a copy that keeps links holds)."""
    return sum(entry.get("size", 0) for entry in entries.values() if "link" not in entry)


def dump(entries: Dict[str, dict], exclude: List[str]) -> str:
    """The manifest file's text (sorted, stable, so an unchanged tree gives the same bytes)."""
    return (
        json.dumps({"version": MANIFEST_VERSION, "exclude": exclude, "entries": entries}, sort_keys=True, indent=0)
        + "\n"
    )


def load(text: str, path: str) -> dict:
    """Parse the manifest ``path`` holds; ``ValueError`` names the file (and the entry) when it is not one.

    Every entry must be a mapping and ``exclude`` a list of strings (``[]`` when absent).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not a tree manifest ({exc})") from None
    if (
        not isinstance(data, dict)
        or data.get("version") not in READABLE_VERSIONS
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


def compare(expected: Dict[str, dict], actual: Dict[str, dict], links: bool = True) -> Dict[str, List[str]]:
    """What differs: ``missing`` (in the manifest, not in the tree), ``extra`` (the reverse) and ``changed``
    (type, size, mode or link target differ; the mtime and the checksum are compared only when both have one;
    with ``links``, a file that should share its inode with its group's leader and does not, or shares one it
    should not, is changed too: a broken link group is drift). ``links=False`` for a version 1 manifest."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    changed = []
    for path in sorted(set(expected) & set(actual)):
        want, have = expected[path], actual[path]
        keys = ["type", "size", "mode", "target"] + (["link"] if links else [])
        keys += [key for key in ("mtime", "sha256") if key in want and key in have]
        if any(want.get(key) != have.get(key) for key in keys):
            changed.append(path)
    return {"missing": missing, "extra": extra, "changed": changed}
