"""Solving, linking and conda-shaped records on py-rattler 0.28.

Everything async lives here; the CLI calls :func:`run_async` once per command.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import rattler
from rattler import MatchSpec, PackageRecord, PrefixRecord, RepoDataRecord

from . import CONDA_VERSION
from .config import Config
from .envfile import ExplicitEntry
from .errors import CondaStandinError, packages_not_found_in_channels, unsatisfiable
from .records import link_entry

__all__ = [
    "Plan",
    "apply_plan",
    "channel_url",
    "current_subdir",
    "fetch_dict",
    "force_reinstall",
    "installed_records",
    "link_dict",
    "plan_explicit",
    "plan_removal",
    "plan_solve",
    "run_async",
    "virtual_packages",
]


def run_async(coro: object) -> object:
    """Run one coroutine (the CLI's only entry into asyncio)."""
    return asyncio.run(coro)  # type: ignore[arg-type]


def current_subdir() -> str:
    """The platform subdir of this machine (``linux-64``, ``osx-arm64``, ...)."""
    return str(rattler.Platform.current())


def channel_url(channel: str, config: Config) -> str:
    """A channel as conda writes its URL: ``file://`` URLs and paths as file URLs, names under ``channel_alias``."""
    channel = channel.strip()
    if "://" in channel:
        return channel.rstrip("/")
    if channel.startswith(("/", ".", "~")):
        return Path(os.path.expanduser(channel)).resolve().as_uri().rstrip("/")
    return f"{config.channel_alias}/{channel.strip('/')}"


def _base_url(record: RepoDataRecord) -> str:
    """The channel URL of a record (its URL without ``/subdir/filename``)."""
    return str(record.url).rsplit("/", 2)[0]


def dist_name(record: PackageRecord) -> str:
    """``name-version-build``."""
    return f"{record.name.normalized}-{record.version}-{record.build}"


def link_dict(record: RepoDataRecord) -> dict[str, object]:
    """A LINK/UNLINK/list entry like conda's (keys sorted, as in list.json)."""
    return link_entry(
        record.name.normalized,
        str(record.version),
        str(record.build),
        int(record.build_number),
        url=str(record.url),
        subdir=str(record.subdir),
    )


def _noarch(record: PackageRecord) -> str | None:
    noarch = record.noarch
    if noarch is None or not bool(getattr(noarch, "_noarch", noarch)):
        return None
    text = str(noarch)
    for kind in ("generic", "python"):
        if kind in text.lower():
            return kind
    return None


def fetch_dict(record: RepoDataRecord) -> dict[str, object]:
    """A FETCH entry like conda's (the package record as the channel's repodata has it)."""
    raw = json.loads(record.to_json())
    noarch = _noarch(record)
    timestamp = raw.get("timestamp")
    return {
        "name": record.name.normalized,
        "version": str(record.version),
        "build": str(record.build),
        "build_number": int(record.build_number),
        "channel": f"{_base_url(record)}/{record.subdir}",
        "subdir": str(record.subdir),
        "fn": str(record.file_name),
        "md5": raw.get("md5"),
        "url": str(record.url),
        "sha256": raw.get("sha256"),
        "arch": raw.get("arch"),
        "platform": raw.get("platform"),
        "depends": list(raw.get("depends") or []),
        "constrains": list(raw.get("constrains") or []),
        "noarch": noarch,
        "license": raw.get("license"),
        "package_type": f"noarch_{noarch}" if noarch else None,
        "timestamp": int(timestamp) if timestamp is not None else 0,
        "size": int(raw.get("size") or 0),
    }


def installed_records(prefix: str) -> list[PrefixRecord]:
    """The ``PrefixRecord``s in ``PREFIX/conda-meta``, sorted by name."""
    meta = Path(prefix) / "conda-meta"
    records = [PrefixRecord.from_path(str(path)) for path in sorted(meta.glob("*.json"))]
    return sorted(records, key=lambda rec: rec.name.normalized)


def virtual_packages() -> list[rattler.VirtualPackage]:
    """The virtual packages of this machine (``__glibc``, ``__linux``, ``__unix``, ``__archspec`` ...)."""
    return list(rattler.VirtualPackage.detect())


def _identity(record: RepoDataRecord) -> tuple[str, str]:
    return (record.name.normalized, str(record.url))


def _topo(records: Sequence[RepoDataRecord]) -> list[RepoDataRecord]:
    """Records in dependency order (dependencies first), like conda's LINK order."""
    if not records:
        return []
    order = [rec.name.normalized for rec in PackageRecord.sort_topologically(list(records))]
    by_name = {rec.name.normalized: rec for rec in records}
    return [by_name[name] for name in order if name in by_name]


@dataclass
class Plan:
    """What one command would do to one prefix."""

    prefix: str
    final: list[RepoDataRecord]
    installed: list[PrefixRecord] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    link: list[RepoDataRecord] = field(default_factory=list)
    unlink: list[PrefixRecord] = field(default_factory=list)
    fetch: list[RepoDataRecord] = field(default_factory=list)
    rebuild: bool = False
    reinstall: list[PrefixRecord] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when nothing would change."""
        return not self.link and not self.unlink

    def actions(self) -> dict[str, object]:
        """conda's ``actions`` document (FETCH, PREFIX, UNLINK if any, LINK if any)."""
        doc: dict[str, object] = {"FETCH": [fetch_dict(rec) for rec in self.fetch], "PREFIX": self.prefix}
        if self.unlink:
            doc["UNLINK"] = [link_dict(rec) for rec in reversed(_topo(self.unlink))]
        if self.link:
            doc["LINK"] = [link_dict(rec) for rec in _topo(self.link)]
        return doc


def _in_cache(record: RepoDataRecord, pkgs_dirs: Iterable[str]) -> bool:
    """Whether a package is already extracted or downloaded in one of the package caches."""
    name = str(record.file_name)
    stem = name.removesuffix(".conda").removesuffix(".tar.bz2")
    for pkgs_dir in pkgs_dirs:
        base = Path(pkgs_dir)
        if (base / stem / "info" / "index.json").is_file() or (base / name).is_file():
            return True
    return False


def finish_plan(plan: Plan, pkgs_dirs: list[str]) -> Plan:
    """Fill ``link``, ``unlink`` and ``fetch`` from ``final`` and ``installed``."""
    if plan.rebuild:
        plan.link = list(plan.final)
        plan.unlink = []
    else:
        old = {_identity(rec) for rec in plan.installed}
        new = {_identity(rec) for rec in plan.final}
        plan.link = [rec for rec in plan.final if _identity(rec) not in old]
        plan.unlink = [rec for rec in plan.installed if _identity(rec) not in new]
    plan.fetch = [rec for rec in plan.link if not _in_cache(rec, pkgs_dirs)]
    return plan


def force_reinstall(plan: Plan, names: Iterable[str], cache_dir: str) -> Plan:
    """``install --force-reinstall``: the requested packages that stay installed as they are are unlinked and
    linked again (conda lists each in UNLINK and in LINK); other packages are left alone."""
    wanted = set(names)
    linking = {_identity(rec) for rec in plan.link}
    final = {_identity(rec): rec for rec in plan.final}
    for rec in plan.installed:
        if rec.name.normalized in wanted and _identity(rec) in final and _identity(rec) not in linking:
            plan.reinstall.append(rec)
            plan.unlink.append(rec)
            plan.link.append(final[_identity(rec)])
    plan.fetch = [rec for rec in plan.link if not _in_cache(rec, [cache_dir])]
    return plan


def _unlink_files(prefix: str, record: PrefixRecord) -> None:
    """Remove an installed package's files and its ``conda-meta`` record (what a reinstall links again)."""
    base = Path(prefix)
    meta = base / "conda-meta" / f"{dist_name(record)}.json"
    try:
        paths = json.loads(meta.read_text(encoding="utf-8")).get("paths_data", {}).get("paths", [])
    except (OSError, ValueError):
        paths = []
    for entry in paths:
        target = base / entry.get("_path", "")
        if entry.get("path_type") != "directory" and (target.is_symlink() or target.is_file()):
            target.unlink()
    meta.unlink(missing_ok=True)


def _gateway(cache_dir: str) -> rattler.Gateway:
    return rattler.Gateway(cache_dir=str(_repodata_cache(cache_dir)), show_progress=False)


def _repodata_cache(pkgs_dir: str) -> Path:
    """The repodata cache, ``PKGS_DIR/cache``, made by any solve (a dry run's and a failing one's too). As conda
    (``create_cache_dir``, ``mkdir_p_sudo_safe``): each directory it makes on the way is chmod'ed 02775,
    group-writable and setgid whatever the umask; one that exists is left as it is."""
    cache = Path(pkgs_dir) / "cache"
    missing = [path for path in (cache, *cache.parents) if not path.is_dir()]
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        with contextlib.suppress(OSError):
            path.chmod(0o2775)
    return cache


def subdir_urls(channels: list[str]) -> list[str]:
    """``CHANNEL/SUBDIR`` URLs conda shows in errors (this platform, then noarch)."""
    return [f"{channel}/{subdir}" for channel in channels for subdir in (current_subdir(), "noarch")]


def channel_error(exc: Exception, channels: list[str]) -> CondaStandinError:
    """A repodata error as conda reports it: ``UnavailableInvalidChannel`` (no repodata) or ``CondaHTTPError``."""
    text = str(exc)
    found = re.search(r"in channel '([^']+)'", text)
    url = found.group(1).rstrip("/") if found else (channels[0] if channels else "")
    if found or "No such file" in text:
        name = url.rsplit("/", 1)[-1]
        message = (
            f"HTTP 404 NOT FOUND for channel {name} <{url}>\n\n"
            "The channel is not accessible or is invalid.\n\n"
            "You will need to adjust your conda configuration to proceed.\n"
            "Use `conda config --show channels` to view your configuration's current state,\n"
            "and use `conda config --show-sources` to view config file locations.\n"
        )
        return CondaStandinError(
            "UnavailableInvalidChannel", message, channel_name=name, channel_url=url, status_code=404, reason=text
        )
    message = f"HTTP 000 CONNECTION FAILED for url <{url}>\nElapsed: -\n\n{text}\n"
    return CondaStandinError("CondaHTTPError", message, url=url, status_code="000", reason=text)


async def _available_names(gateway: rattler.Gateway, channels: list[str], names: set[str]) -> set[str]:
    """The names among ``names`` that the channels carry (others stay locked: nothing could replace them)."""
    if not channels or not names:
        return set()
    try:
        result = await gateway.query(
            [rattler.Channel(url) for url in channels], [current_subdir(), "noarch"], sorted(names), recursive=False
        )
    except rattler.exceptions.GatewayError as exc:
        raise channel_error(exc, channels) from exc
    return {rec.name.normalized for per_channel in result for rec in per_channel} & names


async def _missing_specs(gateway: rattler.Gateway, channels: list[str], specs: list[str]) -> list[str]:
    """The specs that no record of the channels matches (conda's PackagesNotFoundInChannelsError)."""
    if not channels:
        return list(specs)
    platforms = [current_subdir(), "noarch"]
    sources = [rattler.Channel(url) for url in channels]
    try:
        result = await gateway.query(sources, platforms, [MatchSpec(spec) for spec in specs], recursive=False)
    except rattler.exceptions.GatewayError as exc:
        raise channel_error(exc, channels) from exc
    records = [rec for per_channel in result for rec in per_channel]
    missing = []
    for spec in specs:
        match_spec = MatchSpec(spec)
        if not any(match_spec.matches(rec) for rec in records):
            missing.append(spec)
    return missing


async def plan_solve(
    config: Config,
    prefix: str,
    channels: list[str],
    specs: list[str],
    installed: list[PrefixRecord],
    *,
    keep: Iterable[str] = (),
    unlock: Iterable[str] = (),
    rebuild: bool = False,
    cache_dir: str,
) -> Plan:
    """Solve ``specs`` (plus the names in ``keep``) against ``channels``; installed records are preferred.

    ``unlock`` names installed packages that may move freely (``update``); ``rebuild`` makes every
    record a LINK (``create`` on an existing prefix).
    """
    gateway = _gateway(cache_dir)
    # offline (like conda's --offline / offline: true): only local file:// channels can be read
    reachable = [url for url in channels if url.startswith("file://") or not config.offline]
    missing = await _missing_specs(gateway, reachable, specs)
    if missing:
        raise packages_not_found_in_channels(missing, subdir_urls(channels))
    requested_names = {MatchSpec(spec).name.normalized for spec in specs}
    extra = [name for name in keep if name not in requested_names]
    unlocked = await _available_names(gateway, reachable, set(unlock)) if unlock else set()
    locked = [rec for rec in installed if rec.name.normalized not in unlocked]
    try:
        final = await rattler.solve(
            sources=[rattler.Channel(url) for url in reachable],
            specs=[*specs, *extra],
            gateway=gateway,
            platforms=[current_subdir(), "noarch"],
            locked_packages=locked,
            virtual_packages=virtual_packages(),
        )
    except rattler.exceptions.SolverError as exc:
        raise unsatisfiable(str(exc)) from exc
    except rattler.exceptions.GatewayError as exc:
        raise channel_error(exc, channels) from exc
    plan = Plan(prefix=prefix, final=list(final), installed=installed, requested=list(specs), rebuild=rebuild)
    return finish_plan(plan, config.pkgs_dirs)


def _split_url(url: str) -> tuple[str, str, str]:
    """``(channel_url, subdir, filename)`` of a package URL."""
    base, subdir, filename = url.rsplit("/", 2)
    return base, subdir, filename


async def plan_explicit(
    config: Config,
    prefix: str,
    entries: list[ExplicitEntry],
    installed: list[PrefixRecord],
    *,
    cache_dir: str,
    rebuild: bool,
    merge: bool,
) -> Plan:
    """Records of an ``@EXPLICIT`` file, looked up in their channels' repodata (no solving, like conda).

    ``merge`` keeps installed packages whose names the file does not list (``install --file``).
    """
    gateway = _gateway(cache_dir)
    wanted: list[RepoDataRecord] = []
    missing: list[str] = []
    for entry in entries:
        base, subdir, filename = _split_url(entry.url)
        name = filename.removesuffix(".conda").removesuffix(".tar.bz2").rsplit("-", 2)[0]
        try:
            result = await gateway.query([rattler.Channel(base)], [subdir], [name], recursive=False)
        except rattler.exceptions.GatewayError as exc:
            raise channel_error(exc, [base]) from exc
        found = [rec for per in result for rec in per if str(rec.file_name) == filename]
        if not found:
            missing.append(entry.url)
            continue
        wanted.append(found[0])
    if missing:
        channels = sorted({_split_url(url)[0] for url in missing})
        raise packages_not_found_in_channels(missing, subdir_urls(channels))
    final = list(wanted)
    if merge:
        names = {rec.name.normalized for rec in wanted}
        final += [rec for rec in installed if rec.name.normalized not in names]
    plan = Plan(prefix=prefix, final=final, installed=installed, requested=[e.url for e in entries], rebuild=rebuild)
    return finish_plan(plan, config.pkgs_dirs)


def plan_removal(config: Config, prefix: str, installed: list[PrefixRecord], names: list[str]) -> Plan:
    """Remove ``names`` and every installed package that (transitively) depends on them, like conda."""
    removing = set(names)
    changed = True
    while changed:
        changed = False
        for rec in installed:
            if rec.name.normalized in removing:
                continue
            deps = {MatchSpec(dep).name.normalized for dep in rec.depends}
            if deps & removing:
                removing.add(rec.name.normalized)
                changed = True
    final = [rec for rec in installed if rec.name.normalized not in removing]
    plan = Plan(prefix=prefix, final=final, installed=installed, requested=list(names))
    return finish_plan(plan, config.pkgs_dirs)


def _fix_meta_modes(prefix: str) -> None:
    """rattler writes ``conda-meta/*.json`` with mode 0600; conda leaves them readable (0644 under umask 022)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in (Path(prefix) / "conda-meta").glob("*.json"):
        path.chmod(0o666 & ~umask)


def _write_history(prefix: str, plan: Plan, argv: list[str], kind: str) -> None:
    """Append a conda-style entry to ``PREFIX/conda-meta/history`` (rattler leaves it empty)."""
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")  # conda writes local time
    lines = [f"==> {stamp} <==", f"# cmd: {' '.join(argv)}", f"# conda version: {CONDA_VERSION}"]
    lines += [f"-{_base_url(rec)}::{dist_name(rec)}" for rec in plan.unlink]
    lines += [f"+{_base_url(rec)}::{dist_name(rec)}" for rec in plan.link]
    lines.append(f"# {kind} specs: {plan.requested!r}")
    history = Path(prefix) / "conda-meta" / "history"
    with history.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


async def _install(records: list[RepoDataRecord], target: str, plan: Plan, cache_dir: str, *, alt: str | None) -> None:
    requested = [MatchSpec(spec)._match_spec for spec in plan.requested if "://" not in spec]
    await rattler.install(
        records,
        target_prefix=target,
        cache_dir=Path(cache_dir),
        installed_packages=[] if alt else plan.installed,
        show_progress=False,
        execute_link_scripts=True,
        requested_specs=requested or None,
        alternative_target_prefix=alt,
    )


def _sibling(prefix: str, tag: str) -> Path:
    path = Path(prefix)
    return path.with_name(f".{path.name}.standin-{tag}-{os.getpid()}")


async def apply_plan(plan: Plan, cache_dir: str, argv: list[str], kind: str) -> None:
    """Make the prefix match ``plan.final``.

    A create (new prefix, or a rebuild of an existing one) is linked into a hidden sibling directory and
    renamed into place, so a failed create leaves nothing behind and a failed rebuild keeps the old env.
    """
    prefix = Path(plan.prefix)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    if plan.rebuild or not prefix.exists() or not (prefix / "conda-meta").is_dir():
        prefix.parent.mkdir(parents=True, exist_ok=True)
        staging = _sibling(plan.prefix, "new")
        try:
            await _install(plan.final, str(staging), plan, cache_dir, alt=str(prefix))
            _write_history(str(staging), plan, argv, kind)
            _fix_meta_modes(str(staging))
            _swap_in(staging, prefix)
        finally:
            _remove_staging(staging)
        return
    for record in plan.reinstall:
        _unlink_files(plan.prefix, record)
    if plan.reinstall:
        gone = {_identity(rec) for rec in plan.reinstall}
        plan.installed = [rec for rec in plan.installed if _identity(rec) not in gone]
    await _install(plan.final, str(prefix), plan, cache_dir, alt=None)
    _write_history(str(prefix), plan, argv, kind)
    _fix_meta_modes(str(prefix))


def _remove_staging(staging: Path) -> None:
    """Delete a staging dir; retried for a while, as rattler's link tasks can still write after a failure."""
    for _attempt in range(40):
        if not staging.exists():
            return
        shutil.rmtree(staging, ignore_errors=True)
        time.sleep(0.05)


def _swap_in(staging: Path, prefix: Path) -> None:
    """Replace ``prefix`` (if any: an old env or an empty dir) by ``staging``."""
    old = None
    if prefix.exists():
        old = _sibling(str(prefix), "old")
        prefix.rename(old)
    try:
        staging.rename(prefix)
    except OSError:
        if old is not None:
            old.rename(prefix)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_prefix(prefix: str) -> None:
    """Delete a whole env (``remove --all``)."""
    shutil.rmtree(prefix)


def warn(message: str) -> None:
    """A warning on stderr (conda prints warnings there even with ``--json``)."""
    sys.stderr.write(f"WARNING: {message}\n")


def raise_io(exc: OSError) -> CondaStandinError:
    """An ``OSError`` during linking, as conda reports it."""
    return CondaStandinError("CondaOSError", f"{exc.strerror or exc}: {exc.filename or ''}".strip())
