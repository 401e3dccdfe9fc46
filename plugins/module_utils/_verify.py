# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logic of ``cpkgs.conda.conda_verify``: audit the files of conda environments against conda's own
package records, and repair damaged packages by linking them again.

Every environment lists each file its packages installed in ``conda-meta/*.json`` (``paths_data.paths``:
``_path``, ``path_type``, ``size_in_bytes``, ``sha256`` and, where conda rewrote the install prefix into the
file, ``sha256_in_prefix``). The audit compares the files with those records:

* **missing**: a recorded file, link or directory is not there (or is not what it was: a file that became a
  directory, a link that became a file);
* **changed**: a file's size or sha256 differs (against ``sha256_in_prefix`` when the record has one, else
  ``sha256``), or a symbolic link points elsewhere than the package's copy in the package cache does;
* **unexpected**: a file or link in the environment that no record lists, conda's own bookkeeping left out
  (:data:`BOOKKEEPING`). Unexpected files are reported, never deleted.

Sizes: conda 26.7.1 records the size of the file in the package (``size_in_bytes``) even where it rewrote a
text file's prefix, while rattler-based tools record the size in the prefix. A text file with a
``prefix_placeholder`` is the right size when it is ``size_in_bytes`` plus a whole number (0 or more) of
``len(prefix) - len(placeholder)``; any other file must be ``size_in_bytes`` exactly.

Repair is a forced reinstall of just the damaged packages (``conda install --prefix P --force-reinstall
--no-deps --yes NAME==VERSION[build=BUILD] ...``, with ``CONDA_PROTECT_FROZEN_ENVS=false`` so that frozen
environments are repaired too). A file changed in place on a hard-linked install changes the package cache's
copy as well (same inode), and conda links the cache's copy as it is (it only warns with a ``SafetyError``);
so before the reinstall each damaged package's extracted copy in the package cache is checked against its
``info/paths.json`` and, when it is damaged too, removed, so that conda extracts it again from the tarball
(or fetches it from the channel). Standard library only; files are hashed in blocks.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import stat
from typing import Dict, List, Optional, Tuple

from ansible_collections.cpkgs.conda.plugins.module_utils._conda_env import (
    UNFROZEN_ENVIRON,
    CondaError,
    CondaRunner,
    InputError,
    channel_args,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._files import sha256_file
from ansible_collections.cpkgs.conda.plugins.module_utils._tree import find_env, has_conda_meta

__all__ = [
    "BOOKKEEPING",
    "EnvAudit",
    "Verifier",
    "audit_env",
    "cache_damage",
    "check_entry",
    "find_envs",
    "load_records",
    "record_label",
    "reinstall_spec",
    "resolve_envs",
    "size_matches",
]

FROZEN_FILE = "frozen"  # CEP 22

# Paths (relative to a prefix, fnmatch patterns where * also matches /) that are conda's bookkeeping or the
# environment's own configuration, not package files: never "unexpected".
BOOKKEEPING = (
    "conda-meta",
    "conda-meta/*",  # package records, history, the CEP 22 frozen mark, cpkgs_conda_request, pinned, state
    ".condarc",  # the prefix's own configuration (the tree's system .condarc, an env's .condarc)
    "condarc.d",
    "condarc.d/*",
    ".nonadmin",  # written by installers
    "pkgs",
    "pkgs/*",  # the tree's package cache
    "envs",
    "envs/*",  # the tree's environments, each audited on its own
    ".cpkgs-lock",
    ".cpkgs-lock/*",  # the tree's writers' lock (_lock.py)
    ".cpkgs-trash",
    ".cpkgs-trash/*",  # removed envs waiting to be deleted (_conda_env.py)
    "etc/cpkgs",
    "etc/cpkgs/*",  # an env's plain shell entry (conda_activation)
    "__pycache__",
    "__pycache__/*",
    "*/__pycache__",
    "*/__pycache__/*",  # byte code Python writes when a module is imported
)


class EnvAudit:
    """What the audit of one prefix found."""

    def __init__(self, name: str, prefix: str, records: Dict[str, dict], unreadable: List[str]) -> None:
        self.name = name
        self.prefix = prefix
        self.records = records  # label -> record
        self.damaged: Dict[str, Dict[str, List[str]]] = {}  # label -> {changed: [...], missing: [...]}
        self.unexpected: List[str] = []
        self.unreadable = unreadable
        self.files = 0
        self.bytes = 0
        self.frozen = os.path.isfile(os.path.join(prefix, "conda-meta", FROZEN_FILE))

    @property
    def clean(self) -> bool:
        """No changed or missing file and every record readable (unexpected files do not count)."""
        return not self.damaged and not self.unreadable

    def counts(self) -> Dict[str, int]:
        return {
            "packages": len(self.records),
            "damaged_packages": len(self.damaged),
            "changed": sum(len(d["changed"]) for d in self.damaged.values()),
            "missing": sum(len(d["missing"]) for d in self.damaged.values()),
            "unexpected": len(self.unexpected),
            "unreadable": len(self.unreadable),
            "files": self.files,
            "bytes": self.bytes,
        }

    def result(self) -> dict:
        return {
            "name": self.name,
            "prefix": self.prefix,
            "frozen": self.frozen,
            "clean": self.clean,
            "packages": {label: dict(found) for label, found in sorted(self.damaged.items())},
            "unexpected": list(self.unexpected),
            "unreadable": list(self.unreadable),
            "counts": self.counts(),
        }


def _excluded(relpath: str, patterns: Tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(relpath, pattern) for pattern in patterns)


def record_label(record: dict) -> str:
    """``name-version-build`` of a package record."""
    build = record.get("build") or record.get("build_string") or ""
    return f"{record.get('name')}-{record.get('version')}-{build}"


def reinstall_spec(record: dict) -> str:
    """The spec that matches exactly this record's build, in a form conda and rattler both read."""
    build = record.get("build") or record.get("build_string") or ""
    return f"{record.get('name')}=={record.get('version')}[build={build}]"


def load_records(prefix: str) -> Tuple[Dict[str, dict], List[str]]:
    """``({label: record}, unreadable)``: the package records of ``prefix`` and the record files that are not
    package records (unreadable or not JSON objects with a ``name``)."""
    meta = os.path.join(prefix, "conda-meta")
    records: Dict[str, dict] = {}
    unreadable: List[str] = []
    try:
        names = sorted(os.listdir(meta))
    except OSError:
        return records, unreadable
    for name in names:
        if not name.endswith(".json"):
            continue
        path = os.path.join(meta, name)
        try:
            with open(path, "rb") as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            unreadable.append(os.path.join("conda-meta", name))
            continue
        if not isinstance(record, dict) or not record.get("name"):
            unreadable.append(os.path.join("conda-meta", name))
            continue
        records[record_label(record)] = record
    return records, unreadable


def _entries(record: dict) -> List[dict]:
    """The record's path entries; a record without ``paths_data`` gives its ``files`` (existence only)."""
    paths_data = record.get("paths_data")
    if isinstance(paths_data, dict) and isinstance(paths_data.get("paths"), list):
        return [e for e in paths_data["paths"] if isinstance(e, dict) and isinstance(e.get("_path"), str)]
    return [{"_path": f} for f in record.get("files") or [] if isinstance(f, str)]


def _safe_relpath(path: str) -> Optional[str]:
    rel = os.path.normpath(path)
    if os.path.isabs(rel) or rel == ".." or rel.startswith("../") or rel == ".":
        return None
    return rel


def size_matches(entry: dict, size: int, prefix: str) -> bool:
    """Whether a regular file's size agrees with its record (see the module docstring for prefix files)."""
    want = entry.get("size_in_bytes")
    if not isinstance(want, int):
        return True
    placeholder = entry.get("prefix_placeholder")
    if placeholder and entry.get("file_mode", "text") == "text":
        delta = len(prefix) - len(str(placeholder))
        if delta == 0:
            return size == want
        steps, rest = divmod(size - want, delta)
        return rest == 0 and steps >= 0
    return size == want


def _cache_dir(record: dict) -> Optional[str]:
    link = record.get("link") if isinstance(record.get("link"), dict) else {}
    for candidate in (link.get("source"), record.get("extracted_package_dir")):
        if isinstance(candidate, str) and candidate and os.path.isdir(candidate):
            return candidate
    return None


def _check_link(full: str, rel: str, info: os.stat_result, cache_dir: Optional[str]) -> str:
    """A recorded symbolic link must still be one, pointing where the package cache's copy points (if known)."""
    if not stat.S_ISLNK(info.st_mode):
        return "changed"
    cached = os.path.join(cache_dir, rel) if cache_dir else ""
    if cached and os.path.islink(cached) and os.readlink(cached) != os.readlink(full):
        return "changed"
    return "ok"


def _check_file(full: str, prefix: str, entry: dict, size: int, checksums: bool) -> str:
    """A recorded regular file: its size, then (with ``checksums``) its sha256."""
    path_type = entry.get("path_type") or "hardlink"
    if path_type == "hardlink" and not size_matches(entry, size, prefix):
        return "changed"
    want = entry.get("sha256_in_prefix") or (entry.get("sha256") if path_type == "hardlink" else None)
    if not (checksums and want):
        return "ok"
    try:
        return "ok" if sha256_file(full) == want else "changed"
    except OSError:
        return "changed"


def check_entry(prefix: str, rel: str, entry: dict, checksums: bool, cache_dir: Optional[str]) -> Tuple[str, int]:
    """``(verdict, bytes)`` of one recorded path: verdict ``ok``, ``missing`` or ``changed``; ``bytes`` is the
    size of a regular file that was checked."""
    full = os.path.join(prefix, rel)
    try:
        info = os.lstat(full)
    except OSError:
        return "missing", 0
    path_type = entry.get("path_type")  # none: a hardlink
    if path_type == "directory":
        verdict = "ok" if stat.S_ISDIR(info.st_mode) else "missing"
    elif path_type == "softlink":
        verdict = _check_link(full, rel, info, cache_dir)
    elif stat.S_ISREG(info.st_mode):
        return _check_file(full, prefix, entry, info.st_size, checksums), info.st_size
    else:
        verdict = "changed" if stat.S_ISLNK(info.st_mode) else "missing"
    return verdict, 0


def _listed(records: Dict[str, dict]) -> set:
    listed = set()
    for record in records.values():
        for entry in _entries(record):
            rel = _safe_relpath(entry["_path"])
            if rel:
                listed.add(rel)
        for name in record.get("files") or []:
            if isinstance(name, str) and _safe_relpath(name):
                listed.add(os.path.normpath(name))
    return listed


def _unexpected(prefix: str, listed: set, patterns: Tuple[str, ...]) -> List[str]:
    """Files and links below ``prefix`` that no record lists; excluded paths and nested environments
    (directories with a ``conda-meta``) are not entered."""
    found: List[str] = []
    for dirpath, dirnames, filenames in os.walk(prefix):
        rel_dir = os.path.relpath(dirpath, prefix)
        rel_dir = "" if rel_dir == "." else rel_dir
        keep = []
        for name in sorted(dirnames):
            rel = os.path.join(rel_dir, name)
            full = os.path.join(dirpath, name)
            if _excluded(rel, patterns):
                continue
            if os.path.islink(full):  # a link to a directory: a file-like entry, not entered
                if rel not in listed:
                    found.append(rel)
                continue
            if os.path.isdir(os.path.join(full, "conda-meta")):
                continue  # another environment
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            rel = os.path.join(rel_dir, name)
            if rel not in listed and not _excluded(rel, patterns):
                found.append(rel)
    return sorted(found)


def audit_env(
    name: str,
    prefix: str,
    checksums: bool = True,
    unexpected: bool = True,
    exclude: Tuple[str, ...] = (),
) -> EnvAudit:
    """Audit one prefix against its package records."""
    audit = EnvAudit(name, prefix, *load_records(prefix))
    patterns = tuple(exclude)
    for label, record in audit.records.items():
        cache_dir = _cache_dir(record)  # where a link is compared with the package's own
        changed: List[str] = []
        missing: List[str] = []
        for entry in _entries(record):
            rel = _safe_relpath(entry["_path"])
            if rel is None or _excluded(rel, patterns):
                continue
            verdict, size = check_entry(prefix, rel, entry, checksums, cache_dir)
            audit.files += 1
            audit.bytes += size
            if verdict == "changed":
                changed.append(rel)
            elif verdict == "missing":
                missing.append(rel)
        if changed or missing:
            audit.damaged[label] = {"changed": sorted(changed), "missing": sorted(missing)}
    if unexpected:
        audit.unexpected = _unexpected(prefix, _listed(audit.records), BOOKKEEPING + patterns)
    return audit


def _cache_entry_intact(cache_dir: str, entry: object) -> bool:
    """One entry of an extracted package's ``info/paths.json`` against the file in the cache."""
    rel = _safe_relpath(entry["_path"]) if isinstance(entry, dict) and isinstance(entry.get("_path"), str) else None
    if rel is None or not isinstance(entry, dict):
        return False
    full = os.path.join(cache_dir, rel)
    try:
        info = os.lstat(full)
    except OSError:
        return False
    path_type = entry.get("path_type") or "hardlink"
    if path_type == "softlink":
        return stat.S_ISLNK(info.st_mode)
    if path_type == "directory":
        return stat.S_ISDIR(info.st_mode)
    size = entry.get("size_in_bytes")
    if not stat.S_ISREG(info.st_mode) or (isinstance(size, int) and size != info.st_size):
        return False
    return not entry.get("sha256") or sha256_file(full) == entry["sha256"]


def cache_damage(record: dict) -> Optional[str]:
    """The package's extracted copy in the package cache when it no longer matches the package (its
    ``info/paths.json``: sizes and sha256 of files, links still links); None when it is intact or absent."""
    cache_dir = _cache_dir(record)
    if cache_dir is None:
        return None
    try:
        with open(os.path.join(cache_dir, "info", "paths.json"), "rb") as handle:
            paths = json.load(handle).get("paths")
    except (OSError, ValueError, AttributeError):
        paths = None  # an extracted package without its own paths.json cannot be trusted
    if not isinstance(paths, list) or not all(_cache_entry_intact(cache_dir, entry) for entry in paths):
        return cache_dir
    return None


def _channel_of(record: dict) -> Optional[str]:
    url = record.get("url")
    if isinstance(url, str) and "://" in url and url.count("/") >= 4:
        return url.rsplit("/", 2)[0]
    return None


def find_envs(root_prefix: str, envs_dirs: List[str]) -> List[Tuple[str, str]]:
    """``[(name, prefix)]``: the tree (``base``) then each environment in ``envs_dirs`` (directories with a
    ``conda-meta``), each once, in conda's order."""
    found: List[Tuple[str, str]] = [("base", os.path.normpath(root_prefix))]
    seen = {os.path.realpath(root_prefix)}
    for envs_dir in envs_dirs:
        try:
            names = sorted(os.listdir(envs_dir))
        except OSError:
            continue
        for name in names:
            prefix = os.path.join(envs_dir, name)
            real = os.path.realpath(prefix)
            if real in seen or not os.path.isdir(os.path.join(prefix, "conda-meta")):
                continue
            seen.add(real)
            found.append((name, os.path.normpath(prefix)))
    return found


def resolve_envs(wanted: Optional[List[str]], root_prefix: str, envs_dirs: List[str]) -> List[Tuple[str, str]]:
    """The environments to audit: all of :func:`find_envs` when ``wanted`` is empty, else each named one
    (``base``/``root`` is the tree, an absolute path a prefix, any other name is looked up in ``envs_dirs``).
    ``InputError`` names the entry that is not an environment."""
    if not wanted:
        return find_envs(root_prefix, envs_dirs)
    result: List[Tuple[str, str]] = []
    for index, item in enumerate(wanted):
        where = f"envs[{index}]"
        if not isinstance(item, str) or not item:
            raise InputError(f"{where}: must be an environment name or an absolute prefix, got {item!r}")
        if item in ("base", "root"):
            name, prefix = "base", os.path.normpath(root_prefix)
        elif item.startswith("/"):
            name, prefix = os.path.basename(os.path.normpath(item)), os.path.normpath(item)
        elif "/" in item or item in (".", ".."):
            raise InputError(f"{where}: {item!r} is neither an environment name nor an absolute prefix")
        else:
            name, prefix = item, find_env(envs_dirs, item) or ""
            if not prefix:
                raise InputError(f"{where}: no environment named {item!r} in envs_dirs {envs_dirs}")
        if not has_conda_meta(prefix):
            raise InputError(f"{where}: {prefix!r} is not a conda environment (no conda-meta)")
        if all(prefix != known for _n, known in result):
            result.append((name, prefix))
    return result


class Verifier:
    """Audits environments and, with ``repair``, reinstalls their damaged packages with the tree's conda.

    ``runner`` may be None when nothing is to be repaired (an audit needs no conda).
    """

    def __init__(
        self,
        runner: Optional[CondaRunner],
        *,
        checksums: bool = True,
        unexpected: bool = True,
        exclude: Tuple[str, ...] = (),
        repair: bool = False,
        check_mode: bool = False,
        channels: Optional[List[str]] = None,
        override_channels: bool = False,
        offline: bool = False,
    ) -> None:
        self.runner = runner
        self.checksums = checksums
        self.unexpected = unexpected
        self.exclude = tuple(exclude)
        self.repair = repair
        self.check_mode = check_mode
        self.channels = list(channels or [])
        self.override_channels = override_channels
        self.offline = offline

    def audit(self, name: str, prefix: str) -> EnvAudit:
        return audit_env(name, prefix, self.checksums, self.unexpected, self.exclude)

    def run(self, name: str, prefix: str) -> dict:
        """Audit one environment (and repair it when asked); the module result for it."""
        audit = self.audit(name, prefix)
        result = audit.result()
        result["repaired"] = []
        result["cache_cleared"] = []
        result["changed"] = False
        if not (self.repair and audit.damaged):
            return result
        labels = sorted(audit.damaged)
        records = [audit.records[label] for label in labels]
        result["changed"] = True
        result["repaired"] = labels
        result["diff"] = {
            "before": _diff_text(audit),
            "after": "",
            "before_header": f"{prefix} (damaged package files)",
            "after_header": f"{prefix} (damaged package files)",
        }
        cleared = [d for d in (cache_damage(r) for r in records) if d]
        result["cache_cleared"] = sorted(set(cleared))
        if self.check_mode:
            return result
        for cache_dir in result["cache_cleared"]:
            shutil.rmtree(cache_dir)
        if self.runner is None:
            raise InputError("conda_exe: no conda executable to repair with")
        args = ["install", "--prefix", prefix, "--force-reinstall", "--no-deps", "--yes"]
        args += self.channel_args(records)
        args += [reinstall_spec(r) for r in records]
        self.runner.json(args, environ=UNFROZEN_ENVIRON)
        after = self.audit(name, prefix)
        still = sorted(set(after.damaged) & set(labels))
        if still:
            raise CondaError(
                f"{prefix}: still damaged after the reinstall: "
                + "; ".join(f"{label} {after.damaged[label]}" for label in still),
                0,
                self.runner.calls[-1] if self.runner.calls else [],
            )
        result["clean"] = after.clean  # what was found stays in packages; the env is clean now
        return result

    def channel_args(self, records: List[dict]) -> List[str]:
        """The given channels, else each damaged package's own channel (from its URL)."""
        channels = list(self.channels)
        if not channels:
            for record in records:
                channel = _channel_of(record)
                if channel and channel not in channels:
                    channels.append(channel)
        return channel_args(channels, self.override_channels, self.offline)


def _diff_text(audit: EnvAudit) -> str:
    lines = []
    for label, found in sorted(audit.damaged.items()):
        lines += [f"{label}: changed {path}" for path in found["changed"]]
        lines += [f"{label}: missing {path}" for path in found["missing"]]
    return "".join(f"{line}\n" for line in lines)
