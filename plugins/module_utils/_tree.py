# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a conda tree and its files are: the one place of cpkgs.conda that decides it.

A site keeps one tree per OS under a share root (``/nfs/cpkgs/anaconda3_linux``,
``/nfs/cpkgs/anaconda3_macOS``). The defaults (:data:`DEFAULT_SHARE_ROOT`, :data:`DEFAULT_TREE_NAMES`)
and the rules (root prefix = share root / tree name of ``uname -s`` unless ``root_prefix`` or
``conda_exe`` is given; ``envs_dirs``; where each ``.condarc`` is) live here and nowhere else: the
modules take them through :func:`tree_argument_spec` (documented by the ``cpkgs.conda.tree`` doc
fragment, which a unit test compares with this file), and the roles read them from
``ansible_facts['conda']`` (``cpkgs.conda.conda_facts``). A play sets the options once for every
module with ``module_defaults: {group/cpkgs.conda.conda: {...}}``.

Adding an OS or an architecture, or renaming a tree, is a change to this file only.

The functions here turn the OS, the share root and the optional overrides into paths, and read what a
tree says about itself (its conda version from ``conda-meta``) and what ``.condarc`` files say
(``envs_dirs``), without running conda. Standard library only: this runs on managed nodes.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import pwd
import re
from typing import Dict, Set, Tuple

from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_read import CondarcSyntaxError, parse_condarc

__all__ = [
    "DEFAULT_SHARE_ROOT",
    "DEFAULT_TREE_NAMES",
    "CondaPaths",
    "conda_subdir",
    "conda_version",
    "condarc_search_path",
    "merged_list",
    "paths_from_params",
    "read_condarc_files",
    "tree_argument_spec",
    "tree_names_error",
    "tree_options",
    "tree_options_error",
]

DEFAULT_SHARE_ROOT = "/nfs/cpkgs"
DEFAULT_TREE_NAMES = {"Linux": "anaconda3_linux", "Darwin": "anaconda3_macOS"}

# conda platform subdirs by (uname -s, uname -m)
_SUBDIRS = {
    ("Linux", "x86_64"): "linux-64",
    ("Linux", "amd64"): "linux-64",
    ("Linux", "aarch64"): "linux-aarch64",
    ("Linux", "arm64"): "linux-aarch64",
    ("Linux", "ppc64le"): "linux-ppc64le",
    ("Linux", "s390x"): "linux-s390x",
    ("Linux", "i686"): "linux-32",
    ("Linux", "i386"): "linux-32",
    ("Darwin", "x86_64"): "osx-64",
    ("Darwin", "arm64"): "osx-arm64",
}

_CONDA_RECORD = re.compile(r"^conda-[0-9][^-]*-[^-]+\.json$")


def tree_argument_spec() -> dict:
    """The module options that pick a tree (documented by the ``cpkgs.conda.tree`` doc fragment)."""
    return {
        "share_root": {"type": "path", "default": DEFAULT_SHARE_ROOT},
        "tree_names": {"type": "dict", "default": dict(DEFAULT_TREE_NAMES)},
        "root_prefix": {"type": "path"},
        "conda_exe": {"type": "path"},
    }


def tree_options(params: dict) -> dict:
    """The tree options of a module's parameters (see :func:`tree_argument_spec`), as a module got them."""
    return {name: params.get(name) for name in tree_argument_spec()}


def tree_names_error(tree_names: dict) -> str | None:
    """An error message naming the bad entry of a ``tree_names`` option, or None when it is fine."""
    for key, value in tree_names.items():
        if not isinstance(value, str) or not value or "/" in value or value in (".", ".."):
            return f"tree_names: {key!r} must map to a directory name, got {value!r}"
    return None


def tree_options_error(params: dict) -> str | None:
    """An error message naming the bad tree option (a relative path, a bad tree name), or None."""
    for name in ("share_root", "root_prefix", "conda_exe"):
        value = params.get(name)
        if value is not None and not os.path.isabs(value):
            return f"{name}: must be an absolute path, got {value!r}"
    tree_names = params.get("tree_names")
    if not isinstance(tree_names, dict):
        return f"tree_names: must be a mapping of uname -s to a directory name, got {tree_names!r}"
    return tree_names_error(tree_names)


def conda_subdir(system: str, machine: str) -> str | None:
    """The conda platform subdir (``linux-64``, ``osx-arm64`` …) for ``uname -s`` / ``uname -m``."""
    return _SUBDIRS.get((system, machine))


def conda_version(root_prefix: str) -> str | None:
    """The version of the ``conda`` package installed in a tree, read from its ``conda-meta`` record."""
    for path in sorted(glob.glob(os.path.join(root_prefix, "conda-meta", "conda-*.json"))):
        if not _CONDA_RECORD.match(os.path.basename(path)):
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("name") == "conda":
            version = record.get("version")
            return str(version) if version is not None else None
    return None


def condarc_search_path(root_prefix: str | None, home: str, environ: dict[str, str]) -> list[str]:
    """The ``.condarc`` locations conda reads, lowest priority first (conda's ``SEARCH_PATH``); the tree's own
    when there is a tree (``root_prefix``).

    Directories named ``condarc.d`` are expanded by :func:`read_condarc_files`. ``$CONDA_PREFIX``'s files
    are left out on purpose: an Ansible task does not run inside an activated environment.
    """
    xdg = environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    places = [
        "/etc/conda",
        "/var/lib/conda",
        *([root_prefix] if root_prefix else []),
        os.path.join(xdg, "conda"),
    ]
    if os.path.join(xdg, "conda") != os.path.join(home, ".config", "conda"):
        places.append(os.path.join(home, ".config", "conda"))
    places.append(os.path.join(home, ".conda"))
    paths: list[str] = []
    for place in places:
        paths += [os.path.join(place, ".condarc"), os.path.join(place, "condarc"), os.path.join(place, "condarc.d")]
    paths.append(os.path.join(home, ".condarc"))
    if environ.get("CONDARC"):
        paths.append(os.path.expanduser(environ["CONDARC"]))
    return paths


CondarcFile = Tuple[str, Dict[str, object], Set[str]]  # (path, data, keys marked #!final)


def read_condarc_files(paths: list[str]) -> tuple[list[CondarcFile], list[str]]:
    """Read the existing files among ``paths`` (``condarc.d`` directories expanded, ``*.yml``/``*.yaml``).

    Returns ``(files, problems)``: ``files`` as ``(path, data, final_keys)`` in the given order, and one
    message per file that could not be read (unreadable, or YAML beyond what :mod:`_condarc_read` reads).
    """
    files: list[CondarcFile] = []
    problems: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            candidates = sorted(
                os.path.join(path, name) for name in os.listdir(path) if name.endswith((".yml", ".yaml"))
            )
        elif os.path.isfile(path):
            candidates = [path]
        else:
            continue
        for candidate in candidates:
            try:
                with open(candidate, encoding="utf-8") as handle:
                    data, final = parse_condarc(handle.read())
            except OSError as exc:
                problems.append(f"{candidate}: {exc.strerror or exc}")
                continue
            except CondarcSyntaxError as exc:
                problems.append(f"{candidate}: {exc}")
                continue
            files.append((candidate, data, final))
    return files, problems


def merged_list(files: list[CondarcFile], key: str) -> list[str]:
    """A list-valued key merged over files like conda does: files up to the first one that marks the key
    ``#!final`` count, and entries of higher-priority files (later in the search path) come first."""
    relevant: list[CondarcFile] = []
    for item in files:
        relevant.append(item)
        if key in item[2]:
            break
    merged: list[str] = []
    for _path, data, _final in reversed(relevant):
        merged += _as_str_list(data.get(key))
    return merged


def _as_str_list(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(item) for item in value if item is not None]
    return []


class CondaPaths:
    """The paths of one conda tree on one host, and the ``.condarc`` view of one user.

    ``system``/``machine`` are ``uname -s``/``uname -m``; ``home`` and ``environ`` are those of the user the
    paths are for. ``root_prefix`` and ``conda_exe`` override the share-root rule when given (a local copy
    on a cluster node, a user's own Miniforge, real conda for tests).
    """

    def __init__(
        self,
        system: str,
        machine: str,
        home: str,
        *,
        environ: dict[str, str] | None = None,
        share_root: str = DEFAULT_SHARE_ROOT,
        tree_names: dict[str, str] | None = None,
        root_prefix: str | None = None,
        conda_exe: str | None = None,
    ) -> None:
        self.system = system
        self.machine = machine
        self.home = home
        self.environ = dict(environ or {})
        self.share_root = os.path.normpath(share_root)
        self.tree_names = dict(DEFAULT_TREE_NAMES)
        self.tree_names.update(tree_names or {})
        self._root_prefix = os.path.normpath(root_prefix) if root_prefix else None
        self._conda_exe = conda_exe

    @property
    def tree_name(self) -> str | None:
        """The tree's directory name for this OS (``anaconda3_linux`` …), or None for another OS."""
        return self.tree_names.get(self.system)

    @property
    def trees(self) -> dict[str, str]:
        """The tree each OS's users of this host use, so a Linux host can write hooks that serve a Mac.

        ``share_root/name`` for every OS; this host's own OS gets :attr:`root_prefix` when an override
        (``root_prefix`` or ``conda_exe``) moves it elsewhere (a cluster node's local copy).
        """
        trees = {name: os.path.join(self.share_root, tree) for name, tree in sorted(self.tree_names.items())}
        root = self.root_prefix
        if root:
            trees[self.system] = root
        return dict(sorted(trees.items()))

    @property
    def root_prefix(self) -> str | None:
        """The tree this host uses: the override, the tree of the given conda executable, or the share rule."""
        if self._root_prefix:
            return self._root_prefix
        if self._conda_exe:
            # PREFIX/bin/conda or PREFIX/condabin/conda
            return os.path.dirname(os.path.dirname(os.path.abspath(self._conda_exe)))
        if self.tree_name is None:
            return None
        return os.path.join(self.share_root, self.tree_name)

    @property
    def installed(self) -> bool:
        """Whether a tree is installed at :attr:`root_prefix` (it has ``conda-meta``)."""
        root = self.root_prefix
        return bool(root) and os.path.isdir(os.path.join(root, "conda-meta"))

    @property
    def conda_exe(self) -> str | None:
        """The conda executable: the override, else ``bin/conda`` or ``condabin/conda`` of the tree."""
        if self._conda_exe:
            return self._conda_exe
        root = self.root_prefix
        if not root:
            return None
        for candidate in (os.path.join(root, "bin", "conda"), os.path.join(root, "condabin", "conda")):
            if os.access(candidate, os.X_OK) and os.path.isfile(candidate):
                return candidate
        return None

    def tree_file(self, *parts: str) -> str | None:
        """A path inside the tree (whether it exists or not), or None when there is no tree for this OS."""
        root = self.root_prefix
        return os.path.join(root, *parts) if root else None

    def condarc_paths(self) -> dict[str, str | None]:
        """The ``.condarc`` of each scope: ``system`` (the tree's), ``user`` (``~/.condarc``), ``env_var``."""
        return {
            "system": self.tree_file(".condarc"),
            "user": os.path.join(self.home, ".condarc"),
            "env_var": os.path.expanduser(self.environ["CONDARC"]) if self.environ.get("CONDARC") else None,
        }

    def condarc_files(self) -> tuple[list[CondarcFile], list[str]]:
        """The ``.condarc`` files conda would read for this user, with their data, lowest priority first."""
        return read_condarc_files(condarc_search_path(self.root_prefix, self.home, self.environ))

    def root_writable(self) -> bool:
        """Whether the calling user may write the tree (conda then keeps new envs in the tree)."""
        root = self.root_prefix
        return bool(root) and os.access(os.path.join(root, "conda-meta"), os.W_OK)

    def expand(self, path: str) -> str:
        """Expand ``~`` and ``$VARS`` in a configured path the way conda would for this user."""
        if path == "~" or path.startswith("~/"):
            path = self.home + path[1:]
        path = re.sub(
            r"\$(\w+)|\$\{(\w+)\}",
            lambda m: self.environ.get(m.group(1) or m.group(2), m.group(0)),
            path,
        )
        return os.path.normpath(path)

    def envs_dirs(self, files: list[CondarcFile] | None = None) -> list[str]:
        """conda's ``envs_dirs``: configured ones first (env var, then files by priority), then the defaults.

        The defaults are ``ROOT/envs`` then ``~/.conda/envs``, swapped when the tree is not writable (as
        conda does). Duplicates are dropped, first one kept.
        """
        if files is None:
            files, _problems = self.condarc_files()
        configured: list[str] = []
        env_value = self.environ.get("CONDA_ENVS_DIRS") or self.environ.get("CONDA_ENVS_PATH")
        if env_value:
            configured += [part for part in env_value.split(os.pathsep) if part]
        configured += merged_list(files, "envs_dirs")
        defaults = []
        root = self.root_prefix
        if root:
            user_envs = os.path.join(self.home, ".conda", "envs")
            root_envs = os.path.join(root, "envs")
            defaults = [root_envs, user_envs] if self.root_writable() else [user_envs, root_envs]
        result: list[str] = []
        for raw in configured + defaults:
            path = self.expand(raw)
            if path not in result:
                result.append(path)
        return result


def default_modules_dir(root_prefix: str) -> str:
    """Where a tree's release modulefiles go unless a site names another directory: ``ROOT/modulefiles``."""
    return os.path.join(root_prefix, "modulefiles")


def has_conda_meta(prefix: str) -> bool:
    """Whether ``prefix`` looks like a conda environment or tree to a lookup: it has a ``conda-meta`` directory."""
    return os.path.isdir(os.path.join(prefix, "conda-meta"))


def find_env(envs_dirs: list[str], name: str) -> str | None:
    """The prefix of the environment called ``name``: the first of ``envs_dirs`` (in conda's order) holding
    ``name`` with a ``conda-meta`` directory, or None. ``name`` is a plain name, checked by the caller."""
    for envs_dir in envs_dirs:
        candidate = os.path.join(envs_dir, name)
        if has_conda_meta(candidate):
            return os.path.normpath(candidate)
    return None


def paths_from_params(params: dict, user: str | None = None) -> CondaPaths:
    """The :class:`CondaPaths` of this host for a module's tree options (see :func:`tree_argument_spec`).

    With ``user`` the user scope is that account's home and no environment variables are used (they would
    be the connecting account's); without it, the running account's ``HOME`` and environment.
    Raises ``ValueError`` with a message that names the bad parameter.
    """
    error = tree_options_error(params)
    if error:
        raise ValueError(error)
    if user:
        try:
            home = pwd.getpwnam(user).pw_dir
        except KeyError:
            raise ValueError(f"user: no such account {user!r}") from None
    else:
        home = os.environ.get("HOME") or pwd.getpwuid(os.geteuid()).pw_dir
    return CondaPaths(
        platform.system(),
        platform.machine(),
        home,
        environ=None if user else dict(os.environ),
        share_root=params["share_root"],
        tree_names=params["tree_names"],
        root_prefix=params["root_prefix"],
        conda_exe=params["conda_exe"],
    )
