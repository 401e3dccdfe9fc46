# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The facts of ``cpkgs.conda.conda_facts``: which tree a host uses and what is in it, without running conda."""

from __future__ import annotations

import os
import pwd
from typing import Any, Callable, Iterable

from ansible_collections.cpkgs.conda.plugins.module_utils._tree import (
    CondaPaths,
    conda_subdir,
    conda_version,
    default_modules_dir,
)

__all__ = ["FactsCollector", "account_name", "mount_of", "parse_mountinfo", "path_owner", "root_state"]


def _unescape_mount(field: str) -> str:
    """Mount paths in ``/proc/self/mountinfo`` escape space, tab, newline and backslash as octal."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def parse_mountinfo(text: str) -> list[tuple[str, str]]:
    """``(mount point, fstype)`` of each line of Linux's ``/proc/self/mountinfo``."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right.split():
            continue
        mounts.append((_unescape_mount(fields[4]), right.split()[0]))
    return mounts


def parse_bsd_mount(text: str) -> list[tuple[str, str]]:
    """``(mount point, fstype)`` of each line of macOS ``mount`` output: ``DEV on PATH (TYPE, opts…)``."""
    mounts = []
    for line in text.splitlines():
        dev_and_path, sep, opts = line.rpartition(" (")
        _dev, on, path = dev_and_path.partition(" on ")
        if sep and on and opts:
            mounts.append((path, opts.split(",")[0].strip(" )")))
    return mounts


def mount_of(path: str, mounts: list[tuple[str, str]]) -> tuple[str | None, str | None]:
    """The mount point holding ``path`` and its fstype (the longest matching mount point; later wins)."""
    path = os.path.normpath(path)
    best_point: str | None = None
    best_type: str | None = None
    for raw_point, fstype in mounts:
        point = os.path.normpath(raw_point)
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best_point or ""):
            best_point, best_type = point, fstype
    return best_point, best_type


def account_name(uid: int) -> str:
    """The account name of a uid, or the uid as a string when the password database has no entry for it."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def path_owner(path: str | None) -> str | None:
    """The account owning ``path``, or, while it does not exist, its nearest existing parent directory.

    That is who owns a tree once it is installed, and who can create it before (the share root's owner for a
    tree on the share). None for no path.
    """
    if not path:
        return None
    current = os.path.abspath(path)
    while True:
        try:
            return account_name(os.stat(current).st_uid)
        except OSError:
            parent = os.path.dirname(current)
            if parent == current:
                return None
            current = parent


def is_environment(prefix: str) -> bool:
    """conda's test of an environment (``PrefixData.is_environment``): ``conda-meta/history`` is a file."""
    return os.path.isfile(os.path.join(prefix, "conda-meta", "history"))


# What the conda_tree role writes at a tree's prefix before it runs the installer (host, pid, time) and removes
# once the installer finished; and the tree lock's directory (cpkgs.conda.tree_lock), which may precede a tree.
INSTALLING_MARKER = ".cpkgs-installing"
LOCK_DIR = ".cpkgs-lock"


def root_state(prefix: str | None) -> str:
    """What is at a tree's prefix: ``installed``, ``absent``, ``empty``, ``interrupted`` or ``foreign``.

    ``installed``: the installer finished (``conda-meta/history``, conda's own test of an environment).
    ``empty``: nothing, or only the tree lock's directory. ``interrupted``: no history but the role's
    installing marker: the leftover of the role's own install, killed before it finished. ``foreign``:
    anything else (files, a half tree nobody marked): not ours to overwrite.
    """
    if not prefix or not os.path.lexists(prefix):
        return "absent"
    if is_environment(prefix):
        return "installed"
    try:
        names = set(os.listdir(prefix))
    except OSError:  # not a directory, or unreadable: whatever it is, it is not ours
        return "foreign"
    if INSTALLING_MARKER in names:
        return "interrupted"
    return "empty" if names <= {LOCK_DIR} else "foreign"


class FactsCollector:
    """Collects ``ansible_facts.conda`` for one host and one user from a :class:`CondaPaths`.

    ``mounts`` is the host's mount table as ``(mount point, fstype)`` pairs (empty when unknown). ``admin``
    says the user is root, for whom conda lists the environments registered by every account: ``passwd``
    gives the accounts (``pwd.getpwall`` unless a test hands another). ``options`` are the tree options the
    module ran with, reported as they are (a role layers an override of its own on them).
    """

    warnings: list[str]  # set by collect(): what it could not read

    def __init__(
        self,
        paths: CondaPaths,
        mounts: list[tuple[str, str]],
        gather_envs: bool = True,
        admin: bool = False,
        passwd: Callable[[], Iterable[Any]] | None = None,
        *,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.paths = paths
        self.options = dict(options or {})
        self.mounts = mounts
        self.gather_envs = gather_envs
        self.admin = admin
        self.passwd = passwd or pwd.getpwall

    def share(self) -> dict[str, object]:
        """Whether the share root exists, is a mount point, its fstype and whether the caller may write it."""
        root = self.paths.share_root
        exists = os.path.isdir(root)
        point, fstype = mount_of(root, self.mounts) if exists else (None, None)
        return {
            "path": root,
            "exists": exists,
            "is_mount": exists and os.path.ismount(root),
            "mount_point": point,
            "fstype": fstype,
            "writable": exists and os.access(root, os.W_OK),
            "owner": path_owner(root),
        }

    def registry_homes(self) -> list[str]:
        """The homes whose ``.conda/environments.txt`` conda reads (``list_all_known_prefixes``).

        Root: every home of the password database (the user's own home only when the database is empty);
        anyone else: their own home.
        """
        if not self.admin:
            return [self.paths.home]
        homes = [str(entry.pw_dir) for entry in self.passwd()] or [self.paths.home]
        return list(dict.fromkeys(home for home in homes if home))

    @staticmethod
    def _environments_txt(home: str) -> list[str]:
        """The prefixes a home's ``.conda/environments.txt`` registers; none when it cannot be read."""
        path = os.path.join(home, ".conda", "environments.txt")
        try:
            with open(path, "rb") as handle:
                lines = handle.read().decode().splitlines()
        except (OSError, ValueError):  # missing, unreadable (another account's home on NFS), not UTF-8 text
            return []
        return [line.strip() for line in lines if os.path.isabs(line.strip())]  # no blank lines, no comments

    def envs(self, envs_dirs: list[str]) -> list[dict[str, object]]:
        """The environments conda would list: the root, every env inside an envs dir, the registered ones."""
        root = self.paths.root_prefix
        prefixes: list[str] = []
        for envs_dir in envs_dirs:
            try:
                names = sorted(os.listdir(envs_dir))
            except OSError:
                continue
            prefixes += [os.path.join(envs_dir, name) for name in names]
        for home in self.registry_homes():
            prefixes += [os.path.normpath(p) for p in self._environments_txt(home)]
        result = []
        seen = set()
        if root and is_environment(root):
            seen.add(root)
            result.append(self._env(root, envs_dirs))
        for prefix in prefixes:
            if prefix in seen or not is_environment(prefix):
                continue
            seen.add(prefix)
            result.append(self._env(prefix, envs_dirs))
        return result

    def _env(self, prefix: str, envs_dirs: list[str]) -> dict[str, object]:
        """conda's ``PrefixData.name``: ``base`` for the root, the directory name inside an envs dir, else ''."""
        parent = os.path.abspath(os.path.dirname(prefix))
        if _same_path(prefix, self.paths.root_prefix):
            name = "base"
        elif any(parent == os.path.abspath(envs_dir) for envs_dir in envs_dirs):
            name = os.path.basename(prefix)
        else:
            name = ""
        return {
            "name": name,
            "prefix": prefix,
            "frozen": os.path.exists(os.path.join(prefix, "conda-meta", "frozen")),
            "writable": os.access(os.path.join(prefix, "conda-meta"), os.W_OK),
        }

    def collect(self) -> dict[str, object]:
        """All facts, as documented in the module's RETURN."""
        paths = self.paths
        files, problems = paths.condarc_files()
        self.warnings = [f"cannot read {problem}" for problem in problems]
        envs_dirs = paths.envs_dirs(files)
        state = root_state(paths.root_prefix)
        installed = state == "installed"  # the installer finished, not merely began (conda-meta/history)
        profile_d = paths.tree_file("etc", "profile.d")
        return {
            "system": paths.system,
            "machine": paths.machine,
            "subdir": conda_subdir(paths.system, paths.machine),
            "share_root": paths.share_root,
            "tree_name": paths.tree_name,
            "trees": paths.trees,
            "modules_dirs": {system: default_modules_dir(tree) for system, tree in paths.trees.items()},
            "root_prefix": paths.root_prefix,
            "installed": installed,
            "root_state": state,
            "conda_exe": paths.conda_exe,
            "condabin": paths.tree_file("condabin"),
            "conda_sh": os.path.join(profile_d, "conda.sh") if profile_d else None,
            "conda_csh": os.path.join(profile_d, "conda.csh") if profile_d else None,
            "conda_version": conda_version(paths.root_prefix) if installed else None,
            "root_writable": installed and paths.root_writable(),
            "owner": path_owner(paths.root_prefix),
            "account": account_name(os.geteuid()),
            "tree_options": self.options,
            "condarc": dict(paths.condarc_paths(), files=[path for path, _data, _final in files]),
            "envs_dirs": envs_dirs,
            "envs": self.envs(envs_dirs) if self.gather_envs else [],
            "share": self.share(),
        }


def _same_path(path: str, other: str | None) -> bool:
    if not other:
        return False
    if os.path.abspath(path) == os.path.abspath(other):
        return True
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False
