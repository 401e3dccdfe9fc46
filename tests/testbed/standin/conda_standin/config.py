"""Configuration of the conda stand-in, read like conda 26.7.1 reads it.

``load_config(root_prefix, environ)`` reads the ``.condarc`` files of conda's search path (lowest priority
first: ``/etc/conda``, ``/var/lib/conda``, the root prefix, ``$XDG_CONFIG_HOME/conda``, ``~/.config/conda``,
``~/.conda``, ``~/.condarc``, ``$CONDA_PREFIX``, ``$CONDARC``; each place as ``.condarc``, ``condarc`` and
``condarc.d/*.yml|*.yaml``) and the ``CONDA_ENVS_PATH``/``CONDA_ENVS_DIRS``/``CONDA_PKGS_DIRS`` variables.
Lists merge the way conda merges them (higher priority sources first, duplicates dropped); scalars are taken
from the highest priority source. ``#!final`` markers are ignored.

The YAML reader understands the subset ``.condarc`` files use (the installed stand-in has no YAML library):
``key: scalar``, ``key:`` followed by ``- item`` lines or a one-level mapping, flow lists ``[a, b]``,
comments and quoted scalars.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Config",
    "ConfigError",
    "clean_registry",
    "dir_writable",
    "env_name",
    "has_history",
    "is_conda_env",
    "load_config",
    "parse_condarc",
    "registry_files",
    "search_path",
]

_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
_NULLS = {"", "~", "null", "Null", "NULL"}
_INT = re.compile(r"^[-+]?[0-9]+$")
_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_.-]*)\s*:(?:\s+(.*))?$")
_LIST_KEYS = ("channels", "envs_dirs", "pkgs_dirs", "default_channels", "pinned_packages")
_DEFAULT_CHANNEL_ALIAS = "https://conda.anaconda.org"


class ConfigError(ValueError):
    """A ``.condarc`` file the stand-in cannot read (names the file and line)."""


def _strip_comment(text: str) -> str:
    """Drop a trailing ``# comment`` that is not inside quotes."""
    quote = ""
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t"):
            return text[:index].rstrip()
    return text.rstrip()


def _scalar(text: str) -> object:
    """One YAML scalar (without comment) as a Python value."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        body = text[1:-1]
        return body.replace("''", "'") if text[0] == "'" else body.replace('\\"', '"').replace("\\\\", "\\")
    if text in _NULLS:
        return None
    if text.lower() in _BOOLS:
        return _BOOLS[text.lower()]
    if _INT.match(text):
        return int(text)
    return text


def _split_flow(body: str) -> list[str]:
    """Split the inside of a flow collection at top-level commas (quotes respected)."""
    items: list[str] = []
    current = ""
    quote = ""
    for char in body:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == ",":
            items.append(current)
            current = ""
            continue
        current += char
    if current.strip():
        items.append(current)
    return [item.strip() for item in items]


def _value(text: str, where: str) -> object:
    """A value after ``key:`` on the same line: a scalar, a flow list or a flow mapping."""
    if text.startswith("["):
        if not text.endswith("]"):
            raise ConfigError(f"{where}: unterminated flow list")
        return [_scalar(item) for item in _split_flow(text[1:-1])]
    if text.startswith("{"):
        if not text.endswith("}"):
            raise ConfigError(f"{where}: unterminated flow mapping")
        result: dict[str, object] = {}
        for item in _split_flow(text[1:-1]):
            key, sep, val = item.partition(":")
            if not sep:
                raise ConfigError(f"{where}: bad flow mapping item {item!r}")
            result[str(_scalar(key))] = _scalar(val)
        return result
    return _scalar(text)


def parse_condarc(text: str, name: str = "<condarc>") -> dict[str, object]:
    """Parse ``.condarc`` text (the YAML subset described in the module docstring) into a dict."""
    data: dict[str, object] = {}
    current: str | None = None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        where = f"{name}:{lineno}"
        line = _strip_comment(raw)
        if not line.strip() or line.strip() in ("---", "..."):
            continue
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if stripped.startswith("- ") or stripped == "-":
            if current is None:
                raise ConfigError(f"{where}: list item without a key")
            target = data.get(current)
            if target is None:
                target = data[current] = []
            if not isinstance(target, list):
                raise ConfigError(f"{where}: list item under a mapping key {current!r}")
            target.append(_scalar(stripped[1:]))
            continue
        match = _KEY.match(stripped)
        if not match:
            raise ConfigError(f"{where}: cannot read {raw.strip()!r}")
        key, rest = match.group(1), (match.group(2) or "").strip()
        if indent and current is not None and isinstance(data.get(current), dict | type(None)):
            sub = data.get(current)
            if sub is None:
                sub = data[current] = {}
            assert isinstance(sub, dict)
            sub[key] = _value(rest, where)
            continue
        if indent:
            raise ConfigError(f"{where}: unexpected indentation")
        current = key
        data[key] = _value(rest, where) if rest else None
    return data


def search_path(root_prefix: str, environ: Mapping[str, str], target_prefix: str | None = None) -> list[str]:
    """conda's ``SEARCH_PATH`` for ``.condarc`` files, lowest priority first (``condarc.d`` dirs unexpanded).

    conda 26.7.1 fills its ``$CONDA_PREFIX`` entries with the *target* prefix of ``-n``/``-p`` when one is
    given (``determine_target_prefix``), else with ``$CONDA_PREFIX``: a target env's own ``.condarc`` is read.
    """
    home = environ.get("HOME") or str(Path.home())
    xdg = environ.get("XDG_CONFIG_HOME") or str(Path(home) / ".config")
    places = ["/etc/conda", "/var/lib/conda", root_prefix, str(Path(xdg) / "conda")]
    if str(Path(xdg) / "conda") != str(Path(home) / ".config" / "conda"):
        places.append(str(Path(home) / ".config" / "conda"))
    places.append(str(Path(home) / ".conda"))
    paths: list[str] = []
    for place in places:
        paths += [str(Path(place) / ".condarc"), str(Path(place) / "condarc"), str(Path(place) / "condarc.d")]
    paths.append(str(Path(home) / ".condarc"))
    place = target_prefix or environ.get("CONDA_PREFIX")
    if place:
        paths += [str(Path(place) / ".condarc"), str(Path(place) / "condarc"), str(Path(place) / "condarc.d")]
    if environ.get("CONDARC"):
        paths.append(os.path.expanduser(environ["CONDARC"]))
    return paths


def _existing_files(paths: Iterable[str]) -> list[str]:
    """The files among ``paths``, with ``condarc.d`` directories expanded to their sorted YAML files."""
    files: list[str] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            files += sorted(str(p) for p in path.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
        elif path.is_file() and str(path) not in files:
            files.append(str(path))
    return files


def _merge_lists(sources: list[list[object]]) -> list[str]:
    """conda's sequence merge: higher priority sources (given last) come first, duplicates dropped."""
    result: list[str] = []
    for values in reversed(sources):
        for value in values:
            text = str(value)
            if text not in result:
                result.append(text)
    return result


def _expand(path: str, home: str) -> str:
    """``~`` and ``$VARS`` expanded, made absolute and normalized (like conda's ``expand``)."""
    if path.startswith("~"):
        path = home + path[1:]
    return os.path.normpath(os.path.abspath(os.path.expandvars(path)))


def dir_writable(path: str) -> bool:
    """Whether a directory is writable, or could be created (nearest existing ancestor writable)."""
    probe = Path(path)
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def is_conda_env(prefix: str) -> bool:
    """The stand-in's test for an environment: ``PREFIX/conda-meta`` is a directory."""
    return (Path(prefix) / "conda-meta").is_dir()


def has_history(prefix: str) -> bool:
    """conda's ``PrefixData.is_environment``: ``PREFIX/conda-meta/history`` is a file (used for listing)."""
    try:
        return (Path(prefix) / "conda-meta" / "history").is_file()
    except OSError:
        return False


def _env_bool(text: str) -> bool:
    """A boolean from a ``CONDA_<KEY>`` variable, as conda reads it."""
    return text.strip().lower() in ("1", "true", "yes", "on", "y")


@dataclass
class Config:
    """The merged configuration of one stand-in run."""

    root_prefix: str
    channels: list[str] = field(default_factory=list)
    envs_dirs: list[str] = field(default_factory=list)
    pkgs_dirs: list[str] = field(default_factory=list)
    auto_stack: int = 0
    rc_files: list[str] = field(default_factory=list)
    channel_alias: str = _DEFAULT_CHANNEL_ALIAS
    offline: bool = False
    protect_frozen_envs: bool = True
    home: str = ""
    environ: Mapping[str, str] = field(default_factory=dict)

    @property
    def root_writable(self) -> bool:
        """conda's ``root_writable``: the root prefix's ``conda-meta`` can be written."""
        meta = Path(self.root_prefix) / "conda-meta"
        return meta.is_dir() and os.access(meta, os.W_OK | os.X_OK)

    def locate_env(self, name_or_path: str) -> str | None:
        """The prefix of an env given by name (through ``envs_dirs``; ``base``/``root`` = root prefix) or path.

        A path is returned (absolute) when it is a conda environment; a name when ``envs_dirs/NAME`` is a
        directory (conda's ``locate_prefix_by_name``). ``None`` when nothing is found.
        """
        if "/" in name_or_path or name_or_path.startswith("~"):
            prefix = _expand(name_or_path, self.home)
            return prefix if is_conda_env(prefix) else None
        if name_or_path in ("base", "root"):
            return self.root_prefix
        for envs_dir in self.envs_dirs:
            candidate = Path(envs_dir) / name_or_path
            if candidate.is_dir():
                return str(candidate)
        return None

    def default_env_dir(self) -> str:
        """The first writable envs dir (where ``create -n NAME`` puts new envs), like conda.

        Falls back to the first envs dir when none is writable (the caller then reports the permission error).
        """
        for envs_dir in self.envs_dirs:
            if dir_writable(envs_dir):
                return envs_dir
        return self.envs_dirs[0]

    def default_pkgs_dir(self) -> str:
        """The first writable package cache (rattler's cache dir)."""
        for pkgs_dir in self.pkgs_dirs:
            if dir_writable(pkgs_dir):
                return pkgs_dir
        return self.pkgs_dirs[0]

    def env_name(self, prefix: str) -> str:
        """conda's ``env_name``: ``base`` for the root, the basename inside an envs dir, else the path."""
        return env_name(prefix, self.root_prefix, self.envs_dirs)

    def known_envs(self) -> list[str]:
        """Envs like conda's ``list_all_known_prefixes``, sorted (the root among them, not last).

        The ``~/.conda/environments.txt`` files read are the current user's, or, run as root (euid 0), those
        of every home in the password database; each is rewritten without the lines that are no longer envs
        (``conda-meta/history`` gone), as conda does. Then ``envs_dirs`` are scanned.
        """
        found: set[str] = set()
        for registry in registry_files(self.home):
            found.update(clean_registry(registry))
        for envs_dir in self.envs_dirs:
            path = Path(envs_dir)
            if path.is_dir():
                found.update(
                    str(entry)
                    for entry in path.iterdir()
                    if ".standin-" not in entry.name and has_history(str(entry))  # skip the CLI's staging dirs
                )
        found.add(self.root_prefix)
        return sorted(found)

    def prefix_name(self, prefix: str) -> str:
        """conda's ``PrefixData.name``: ``base``, the basename inside an envs dir, else ``''``."""
        name = self.env_name(prefix)
        return "" if name == prefix and os.path.normpath(prefix) != os.path.normpath(self.root_prefix) else name


def registry_files(home: str) -> list[Path]:
    """The ``environments.txt`` files conda reads: ``HOME``'s, or every account's when run as root."""
    homes = [home]
    if os.geteuid() == 0:
        import pwd

        homes = [entry.pw_dir for entry in pwd.getpwall()] or [home]
    files = []
    for user_home in homes:
        if user_home:
            registry = Path(user_home) / ".conda" / "environments.txt"
            if registry.is_file() and registry not in files:
                files.append(registry)
    return files


def clean_registry(registry: Path, drop: str | None = None) -> list[str]:
    """The envs an ``environments.txt`` lists; rewrites it without non-envs (and ``drop``) when any."""
    try:
        lines = [line.strip() for line in registry.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return []
    lines = [line for line in lines if line and not line.startswith("#")]
    kept = [line for line in lines if line != drop and has_history(line)]
    if kept != lines:
        with contextlib.suppress(OSError):
            registry.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return kept


def env_name(prefix: str, root_prefix: str, envs_dirs: list[str]) -> str:
    """conda's ``env_name`` rule for a prefix."""
    if os.path.normpath(prefix) == os.path.normpath(root_prefix):
        return "base"
    if os.path.dirname(os.path.normpath(prefix)) in [os.path.normpath(d) for d in envs_dirs]:
        return os.path.basename(os.path.normpath(prefix))
    return prefix


def _env_list(environ: Mapping[str, str], *names: str) -> list[str] | None:
    """A ``:``-separated path list from the first set variable among ``names``."""
    for name in names:
        if environ.get(name):
            return [item for item in environ[name].split(os.pathsep) if item]
    return None


def load_config(root_prefix: str, environ: Mapping[str, str] | None = None, target_prefix: str | None = None) -> Config:
    """Read the configuration conda would use for the tree at ``root_prefix`` (see module docstring).

    ``target_prefix``: the env of ``-n``/``-p``, whose ``.condarc`` conda 26.7.1 reads (see ``search_path``).
    """
    environ = os.environ if environ is None else environ
    root_prefix = os.path.normpath(os.path.abspath(root_prefix))
    home = environ.get("HOME") or str(Path.home())
    rc_files = _existing_files(search_path(root_prefix, environ, target_prefix))
    parsed: list[dict[str, object]] = []
    for rc_file in rc_files:
        try:
            text = Path(rc_file).read_text(encoding="utf-8")
        except OSError:
            continue
        data = parse_condarc(text, rc_file)
        parsed.append(data)
    lists: dict[str, list[list[object]]] = {key: [] for key in _LIST_KEYS}
    scalars: dict[str, object] = {}
    for data in parsed:
        for key, value in data.items():
            if key in lists:
                if isinstance(value, list):
                    lists[key].append(value)
                elif value is not None:
                    lists[key].append([value])
            else:
                scalars[key] = value
    envs_var = _env_list(environ, "CONDA_ENVS_PATH", "CONDA_ENVS_DIRS")
    if envs_var is not None:
        lists["envs_dirs"].append(envs_var)
    pkgs_var = _env_list(environ, "CONDA_PKGS_DIRS")
    if pkgs_var is not None:
        lists["pkgs_dirs"].append(pkgs_var)
    config = Config(root_prefix=root_prefix, rc_files=rc_files, home=home, environ=environ)
    config.channels = _merge_lists(lists["channels"])
    configured_envs = [_expand(p, home) for p in _merge_lists(lists["envs_dirs"])]
    root_envs, user_envs = str(Path(root_prefix) / "envs"), str(Path(home) / ".conda" / "envs")
    fixed = [root_envs, user_envs] if config.root_writable else [user_envs, root_envs]
    config.envs_dirs = list(dict.fromkeys([*configured_envs, *fixed]))
    configured_pkgs = [_expand(p, home) for p in _merge_lists(lists["pkgs_dirs"])]
    config.pkgs_dirs = configured_pkgs or [str(Path(root_prefix) / "pkgs"), str(Path(home) / ".conda" / "pkgs")]
    config.auto_stack = _auto_stack(scalars.get("auto_stack"))
    config.channel_alias = str(scalars.get("channel_alias") or _DEFAULT_CHANNEL_ALIAS).rstrip("/")
    config.offline = _scalar_bool(scalars, environ, "offline", False)
    config.protect_frozen_envs = _scalar_bool(scalars, environ, "protect_frozen_envs", True)
    return config


def _scalar_bool(scalars: Mapping[str, object], environ: Mapping[str, str], key: str, default: bool) -> bool:
    """A boolean key: ``CONDA_<KEY>`` wins over the ``.condarc`` files (conda's env-var source is highest)."""
    var = environ.get(f"CONDA_{key.upper()}")
    if var:
        return _env_bool(var)
    value = scalars.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        return _env_bool(value)
    return bool(value)


def _auto_stack(value: object) -> int:
    """conda's integer ``auto_stack``; YAML ``true``/``false`` count as 1/0 (conda coerces them the same way)."""
    text = str(value).strip().lower() if value is not None else "0"
    if text in ("true", "yes", "on"):
        return 1
    return int(text) if text.isdigit() else 0
