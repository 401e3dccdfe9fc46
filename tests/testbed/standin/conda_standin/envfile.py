"""Input files of ``create/install --file`` and ``env create/update --file``.

* a spec list (one match spec per line, ``#`` comments);
* an ``@EXPLICIT`` lockfile (package URLs, optionally with ``#md5`` or ``#sha256:...`` suffixes);
* an ``environment.yml`` (``name``, ``channels``, ``dependencies``; ``pip:`` sections are not supported).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .config import ConfigError, parse_condarc
from .errors import CondaStandinError

__all__ = ["EnvFile", "ExplicitEntry", "SpecFile", "read_env_yaml", "read_spec_file"]


@dataclass
class ExplicitEntry:
    """One package URL of an ``@EXPLICIT`` file."""

    url: str
    md5: str | None = None
    sha256: str | None = None


@dataclass
class SpecFile:
    """A ``--file`` for ``create``/``install``: either specs or explicit package URLs."""

    specs: list[str] = field(default_factory=list)
    explicit: list[ExplicitEntry] | None = None


@dataclass
class EnvFile:
    """An ``environment.yml``."""

    name: str | None = None
    channels: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    prefix: str | None = None


def _file_error(path: str, reason: str) -> CondaStandinError:
    return CondaStandinError("CondaFileIOError", f"'{path}'. {reason}", filepath=path, reason=reason)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise _file_error(path, exc.strerror or str(exc)) from exc


def _explicit_entry(line: str) -> ExplicitEntry:
    url, _sep, digest = line.partition("#")
    entry = ExplicitEntry(url=url.strip())
    digest = digest.strip()
    if digest.startswith("sha256:"):
        entry.sha256 = digest[len("sha256:") :]
    elif digest:
        entry.md5 = digest
    return entry


def read_spec_file(path: str) -> SpecFile:
    """Read a spec list or an ``@EXPLICIT`` file (conda decides by the ``@EXPLICIT`` line)."""
    lines = [line.strip() for line in _read(path).splitlines()]
    if "@EXPLICIT" in lines:
        after = lines[lines.index("@EXPLICIT") + 1 :]
        return SpecFile(explicit=[_explicit_entry(line) for line in after if line and not line.startswith("#")])
    specs = []
    for line in lines:
        spec = line.split("#", 1)[0].strip()
        if spec and not spec.startswith("@"):
            specs.append(spec)
    return SpecFile(specs=specs)


def read_env_yaml(path: str) -> EnvFile:
    """Read an ``environment.yml`` (the YAML subset of :func:`conda_standin.config.parse_condarc`)."""
    text = _read(path)
    try:
        data = parse_condarc(text, path)
    except ConfigError as exc:
        raise CondaStandinError("SpecNotFound", f"Invalid environment file {path}: {exc}") from exc
    deps = data.get("dependencies") or []
    if not isinstance(deps, list) or not all(isinstance(dep, str) for dep in deps):
        raise CondaStandinError("SpecNotFound", f"Invalid environment file {path}: dependencies must be specs")
    if any(dep.endswith(":") for dep in deps):
        raise CondaStandinError("SpecNotFound", f"Invalid environment file {path}: pip sections are not supported")
    channels = data.get("channels") or []
    if not isinstance(channels, list):
        channels = [channels]
    name = data.get("name")
    prefix = data.get("prefix")
    return EnvFile(
        name=str(name) if name else None,
        channels=[str(ch) for ch in channels],
        dependencies=[str(dep) for dep in deps],
        prefix=str(prefix) if prefix else None,
    )
