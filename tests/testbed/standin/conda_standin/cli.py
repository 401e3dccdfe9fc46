"""Command line of the conda stand-in (``PREFIX/bin/conda`` of a test-bed tree, or ``python -m conda_standin``).

Implements what the cpkgs.conda collection calls, with conda 26.7.1's JSON shapes: ``--version``, ``info``,
``create``, ``install``, ``update``, ``remove``, ``list``, ``env create|update|list|remove``, ``run`` and
``shell.*`` (activation, in :mod:`conda_standin.shell`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import CONDA_VERSION, RATTLER_VERSION, STANDIN_TAG
from .config import Config, ConfigError, dir_writable, has_history, is_conda_env, load_config
from .envfile import read_env_yaml, read_spec_file
from .errors import (
    CondaStandinError,
    condamulti,
    environment_is_frozen,
    environment_location_not_found,
    environment_name_not_found,
    environment_not_writable,
    not_writable,
    packages_not_found,
)

__all__ = ["find_root", "main"]

VERSION_LINE = f"conda {CONDA_VERSION} (cpkgs test-bed stand-in, py-rattler {RATTLER_VERSION})"
NOTHING_TO_DO = "All requested packages already installed."


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as conda does (rc 2, message on stderr)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def find_root(environ: Mapping[str, str]) -> str:
    """The tree (root prefix): ``$CPKGS_STANDIN_ROOT``, else the prefix the package is installed in.

    Installed, the package lives at ``PREFIX/lib/cpkgs-standin/conda_standin``.
    """
    if environ.get("CPKGS_STANDIN_ROOT"):
        return os.path.abspath(environ["CPKGS_STANDIN_ROOT"])
    package = Path(os.path.abspath(__file__)).parent  # a symlinked prefix stays as given, as sys.prefix does
    if package.parent.name == "cpkgs-standin" and package.parent.parent.name == "lib":
        return str(package.parent.parent.parent)
    raise CondaStandinError("CondaError", f"cannot find the stand-in's tree from {package}; set CPKGS_STANDIN_ROOT")


# ----------------------------------------------------------------------------------------------- parser


def _target_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-n", "--name", help="environment name")
    group.add_argument("-p", "--prefix", help="environment path")


def _common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="report as JSON on stdout")
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask (the stand-in never asks)")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("-d", "--dry-run", action="store_true", help="only report what would be done")
    parser.add_argument("--override-frozen", action="store_true", help="modify a frozen env (CEP 22)")


def _channel_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--channel", action="append", default=[], dest="channels")
    parser.add_argument("--override-channels", action="store_true")
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--solver", help="ignored: the stand-in always solves with py-rattler")
    parser.add_argument("--repodata-fn", action="append", default=[], help="ignored")
    parser.add_argument("-S", "--satisfied-skip-solve", action="store_true", help="ignored")
    parser.add_argument("--no-deps", action="store_true", help="ignored")


def _solve_command(sub: argparse._SubParsersAction, name: str, aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, aliases=list(aliases))
    _target_args(parser)
    _common_args(parser)
    _channel_args(parser)
    parser.add_argument("--file", action="append", default=[], help="spec list or @EXPLICIT file")
    parser.add_argument(
        "--update-deps", action="store_true", help="also update the installed dependencies of the requested packages"
    )
    parser.add_argument("--freeze-installed", action="store_true", help="ignored: installed packages are preferred")
    parser.add_argument("packages", nargs="*")
    parser.set_defaults(command=name)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of the stand-in's commands."""
    parser = _Parser(prog="conda", description=f"{VERSION_LINE}: a test fixture, not conda.")
    parser.add_argument("-V", "--version", action="store_true")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _solve_command(sub, "create")
    _solve_command(sub, "install").add_argument(
        "--force-reinstall",
        action="store_true",
        help="unlink and link again the requested packages even when they are installed (conda's --force-reinstall)",
    )
    _solve_command(sub, "update", ["upgrade"]).add_argument("--all", action="store_true", dest="all")
    remove = sub.add_parser("remove", aliases=["uninstall"])
    _target_args(remove)
    _common_args(remove)
    _channel_args(remove)
    remove.add_argument("--all", action="store_true", dest="all")
    remove.add_argument("packages", nargs="*")
    remove.set_defaults(command="remove")
    lister = sub.add_parser("list")
    _target_args(lister)
    lister.add_argument("--json", action="store_true")
    lister.add_argument("--explicit", action="store_true")
    lister.add_argument("--md5", action="store_true")
    lister.add_argument("--sha256", action="store_true")
    lister.add_argument("regex", nargs="?")
    lister.set_defaults(command="list")
    info = sub.add_parser("info")
    info.add_argument("--json", action="store_true")
    info.add_argument("-e", "--envs", action="store_true")
    info.add_argument("-a", "--all", action="store_true")
    info.set_defaults(command="info")
    run = sub.add_parser("run")
    _target_args(run)
    run.add_argument("--cwd")
    run.add_argument("--no-capture-output", "--live-stream", action="store_true")
    run.add_argument("--debug-wrapper-scripts", action="store_true")
    run.add_argument("executable_call", nargs=argparse.REMAINDER)
    run.set_defaults(command="run")
    _env_parser(sub)
    return parser


def _env_parser(sub: argparse._SubParsersAction) -> None:
    env = sub.add_parser("env")
    env_sub = env.add_subparsers(dest="env_command", parser_class=_Parser, required=True)
    for name in ("create", "update"):
        parser = env_sub.add_parser(name)
        _target_args(parser)
        _common_args(parser)
        _channel_args(parser)
        parser.add_argument("-f", "--file", default="environment.yml")
        if name == "update":
            parser.add_argument("--prune", action="store_true")
        parser.set_defaults(command=f"env_{name}")
    lister = env_sub.add_parser("list")
    lister.add_argument("--json", action="store_true")
    lister.set_defaults(command="env_list")
    remove = env_sub.add_parser("remove")
    _target_args(remove)
    _common_args(remove)
    remove.set_defaults(command="env_remove", all=True, packages=[])


# ----------------------------------------------------------------------------------------------- output


def _print_json(doc: object) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


def _report_actions(args: argparse.Namespace, doc: dict[str, object], text: str) -> None:
    if args.json:
        _print_json(doc)
    elif not getattr(args, "quiet", False):
        sys.stdout.write(text)


def _actions_text(actions: Mapping[str, object], dry_run: bool) -> str:
    lines = ["", "## Package Plan ##", "", f"  environment location: {actions['PREFIX']}", ""]
    for key, title in (("UNLINK", "REMOVED"), ("LINK", "INSTALLED")):
        entries = actions.get(key) or []
        if entries:
            lines.append(f"The following packages will be {title}:")
            lines += [f"  {e['name']:<24} {e['base_url']}::{e['dist_name']}" for e in entries]  # type: ignore[index]
            lines.append("")
    lines.append("DryRunExit: Dry run. Exiting." if dry_run else "done")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------- helpers


class Context:
    """One run: config, environment and parsed arguments."""

    def __init__(self, args: argparse.Namespace, environ: Mapping[str, str], argv: list[str]) -> None:
        self.args = args
        self.environ = environ
        self.argv = argv
        self.root = find_root(environ)
        self.config: Config = self._load(None)
        target = self._target_for_config()
        if target:
            self.config = self._load(target)

    def _load(self, target: str | None) -> Config:
        try:
            return load_config(self.root, self.environ, target)
        except ConfigError as exc:
            raise CondaStandinError("LoadError", f"Load Error: {exc}") from exc

    def _target_for_config(self) -> str | None:
        """The ``-n``/``-p`` env whose ``.condarc`` conda 26.7.1 reads (its ``$CONDA_PREFIX`` search entries)."""
        prefix = getattr(self.args, "prefix", None)
        if prefix:
            return os.path.normpath(os.path.abspath(os.path.expanduser(prefix)))
        name = getattr(self.args, "name", None)
        if name and "/" not in name:
            return self.config.locate_env(name)
        return None

    def target(self, *, creating: bool) -> str:
        """The target prefix of ``-n``/``-p`` (errors like conda's when it is missing or unknown)."""
        args = self.args
        if args.prefix:
            return os.path.normpath(os.path.abspath(os.path.expanduser(args.prefix)))
        if args.name:
            if "/" in args.name:
                raise CondaStandinError("CondaValueError", f"Invalid environment name: '{args.name}'")
            found = self.config.locate_env(args.name)
            if found:
                return found
            if creating:
                return str(Path(self.config.default_env_dir()) / args.name)
            raise environment_name_not_found(args.name)
        if creating:
            raise CondaStandinError(
                "CondaValueError",
                'either -n NAME or -p PREFIX option required,\ntry "conda create -h" for more details',
            )
        active = self.environ.get("CONDA_PREFIX")
        return os.path.normpath(active) if active else self.config.root_prefix

    def channels(self, extra: Sequence[str] = ()) -> list[str]:
        """Channel URLs: ``-c`` channels (and ``extra``, e.g. an environment.yml's), then the configured ones."""
        from .engine import channel_url

        names = [*self.args.channels, *extra]
        if not self.args.override_channels:
            names += self.config.channels
        urls: list[str] = []
        for name in names:
            url = channel_url(name, self.config)
            if url not in urls:
                urls.append(url)
        return urls

    def cache_dir(self) -> str:
        """The first writable package cache (``NotWritableError`` when there is none)."""
        pkgs_dir = self.config.default_pkgs_dir()
        if not dir_writable(pkgs_dir):
            raise not_writable(pkgs_dir)
        return pkgs_dir


def _check_frozen(ctx: Context, prefix: str) -> None:
    """CEP 22: refuse a frozen env unless ``--override-frozen`` or ``protect_frozen_envs`` is false."""
    frozen = Path(prefix) / "conda-meta" / "frozen"
    if not ctx.config.protect_frozen_envs or ctx.args.override_frozen:
        return
    if frozen.is_file():
        reason = ""
        try:
            text = frozen.read_text(encoding="utf-8").strip()
            reason = str(json.loads(text).get("message", "")) if text else ""
        except (OSError, ValueError, AttributeError):
            reason = ""
        raise environment_is_frozen(prefix, reason)


def _check_writable_env(prefix: str, *, whole: bool = False, multi: bool = False) -> None:
    """The env (and its ``conda-meta``) must be writable; ``whole``: its parent too (to delete it).

    ``multi``: report it inside a ``CondaMultiError``, as conda does when it fails to delete the env
    (``remove --all``, ``create`` over an existing env).
    """
    ok = all(os.access(path, os.W_OK | os.X_OK) for path in (Path(prefix), Path(prefix) / "conda-meta"))
    if ok and whole:
        ok = os.access(Path(prefix).parent, os.W_OK | os.X_OK)
    if not ok:
        error = environment_not_writable(prefix)
        raise condamulti([error]) if multi else error


def _check_creatable(prefix: str, *, multi: bool = False) -> None:
    """A new prefix: its nearest existing ancestor must be writable; an existing one: it and its parent."""
    path = Path(prefix)
    if path.exists():
        if is_conda_env(prefix):
            _check_writable_env(prefix, whole=True, multi=multi)
        elif not os.access(path, os.W_OK | os.X_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
            raise not_writable(prefix)
        return
    probe = path.parent
    while not probe.exists():
        probe = probe.parent
    if not dir_writable(str(probe)):
        raise not_writable(str(probe))


def _existing_env(ctx: Context) -> str:
    prefix = ctx.target(creating=False)
    if not is_conda_env(prefix):
        raise environment_location_not_found(prefix)
    return prefix


def _collect_specs(ctx: Context, files: Sequence[str]) -> tuple[list[str], list]:
    """Specs from the command line and ``--file`` spec lists; explicit entries from ``@EXPLICIT`` files."""
    from rattler import MatchSpec
    from rattler.exceptions import InvalidMatchSpecError

    specs = list(ctx.args.packages)
    explicit: list = []
    for path in files:
        spec_file = read_spec_file(path)
        if spec_file.explicit is not None:
            explicit += spec_file.explicit
        specs += spec_file.specs
    for spec in specs:
        try:
            MatchSpec(spec)
        except InvalidMatchSpecError as exc:
            raise CondaStandinError("InvalidMatchSpec", f"Invalid spec '{spec}': {exc}") from exc
    if explicit and specs:
        raise CondaStandinError("CondaValueError", "cannot mix @EXPLICIT files with package specs")
    return specs, explicit


def _register(ctx: Context, prefix: str, *, add: bool) -> None:
    """Keep ``~/.conda/environments.txt`` like conda (best effort)."""
    registry = Path(ctx.config.home) / ".conda" / "environments.txt"
    try:
        lines = registry.read_text(encoding="utf-8").splitlines() if registry.is_file() else []
        kept = [line for line in lines if line.strip() and os.path.normpath(line.strip()) != prefix]
        if add:
            kept.append(prefix)
        if kept == lines:
            return
        registry.parent.mkdir(parents=True, exist_ok=True)
        registry.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    except OSError:
        pass


def _finish(
    ctx: Context, plan: object, cache_dir: str, kind: str, *, noop_message: bool, explicit: bool = False
) -> int:
    """Report a plan (dry run, nothing to do) or apply it and report the result.

    ``explicit`` (an ``@EXPLICIT`` file): conda's ``install_explicit_packages`` prints nothing with ``--json``.
    """
    from . import engine

    assert isinstance(plan, engine.Plan)
    args = ctx.args
    if plan.empty and noop_message:
        _report_actions(args, {"success": True, "message": NOTHING_TO_DO}, f"\n# {NOTHING_TO_DO}\n")
        return 0
    actions = plan.actions()
    if args.dry_run:
        doc = {"success": True, "actions": actions, "prefix": plan.prefix, "dry_run": True}
        _report_actions(args, doc, _actions_text(actions, dry_run=True))
        return 0
    try:
        engine.run_async(engine.apply_plan(plan, cache_dir, ["conda", *ctx.argv], kind))
    except OSError as exc:
        raise engine.raise_io(exc) from exc
    except Exception as exc:
        if type(exc).__module__.startswith("rattler"):
            raise CondaStandinError("CondaError", f"{type(exc).__name__}: {exc}") from exc
        raise
    if explicit and args.json:
        return 0
    _report_actions(args, {"success": True, "actions": actions, "prefix": plan.prefix}, _actions_text(actions, False))
    return 0


# ----------------------------------------------------------------------------------------------- commands


def cmd_create(ctx: Context, env_file_channels: Sequence[str] = (), env_specs: Sequence[str] | None = None) -> int:
    """``create``: a new env, or a rebuild of an existing one (rc 0 like conda, all LINK, no UNLINK)."""
    from . import engine

    prefix = ctx.target(creating=True)
    if os.path.normpath(prefix) == ctx.config.root_prefix:
        raise CondaStandinError("CondaValueError", "The target prefix is the base prefix. Aborting.")
    path = Path(prefix)
    if path.exists() and not is_conda_env(prefix) and (not path.is_dir() or any(path.iterdir())):
        raise CondaStandinError(
            "DirectoryNotACondaEnvironmentError",
            "The target directory exists, but it is not a conda environment.\n"
            "Use 'conda create' to convert the directory to a conda environment.\n"
            f"  target directory: {prefix}\n",
            target_directory=prefix,
        )
    if has_history(prefix) and ctx.args.dry_run:
        raise CondaStandinError("CondaValueError", "Cannot `create --dry-run` with an existing conda environment")
    # No frozen check: conda removes an existing env (frozen or not) before it creates the new one.
    _check_creatable(prefix, multi=True)
    cache_dir = ctx.cache_dir()
    if env_specs is None:
        specs, explicit = _collect_specs(ctx, ctx.args.file)
    else:
        specs, explicit = list(env_specs), []
    if explicit:
        plan = engine.run_async(
            engine.plan_explicit(ctx.config, prefix, explicit, [], cache_dir=cache_dir, rebuild=True, merge=False)
        )
    else:
        channels = ctx.channels(env_file_channels)
        plan = engine.run_async(
            engine.plan_solve(ctx.config, prefix, channels, specs, [], rebuild=True, cache_dir=cache_dir)
        )
    rc = _finish(ctx, plan, cache_dir, "update", noop_message=False, explicit=bool(explicit))
    if not ctx.args.dry_run:
        _stamp_created(prefix)
        _register(ctx, prefix, add=True)
    return rc


def _stamp_created(prefix: str) -> None:
    """``conda-meta/created_at``: the creation time as seconds since the epoch (``str(float)``), like conda."""
    with contextlib.suppress(OSError):
        (Path(prefix) / "conda-meta" / "created_at").write_text(str(time.time()), encoding="utf-8")


def _prepare_existing(ctx: Context, *, whole: bool = False, frozen_first: bool = False) -> tuple[str, list, str]:
    """An existing env checked like conda: writable then not frozen (``install``/``update``/``env update``);
    ``frozen_first`` for ``remove`` (conda checks frozen, then writability)."""
    from . import engine

    prefix = _existing_env(ctx)
    if frozen_first:
        _check_frozen(ctx, prefix)
    _check_writable_env(prefix, whole=whole, multi=whole)
    if not frozen_first:
        _check_frozen(ctx, prefix)
    cache_dir = ctx.cache_dir()
    return prefix, engine.installed_records(prefix), cache_dir


def cmd_install(ctx: Context) -> int:
    """``install``: add or change packages, keeping everything else installed."""
    from . import engine

    prefix, installed, cache_dir = _prepare_existing(ctx)
    specs, explicit = _collect_specs(ctx, ctx.args.file)
    if explicit:
        plan = engine.run_async(
            engine.plan_explicit(
                ctx.config, prefix, explicit, installed, cache_dir=cache_dir, rebuild=False, merge=True
            )
        )
    else:
        if not specs:
            raise CondaStandinError(
                "CondaValueError", "too few arguments, must supply command line package specs or --file"
            )
        keep = [rec.name.normalized for rec in installed]
        unlock = _dependency_closure(installed, specs) if ctx.args.update_deps else []
        plan = engine.run_async(
            engine.plan_solve(
                ctx.config, prefix, ctx.channels(), specs, installed, keep=keep, unlock=unlock, cache_dir=cache_dir
            )
        )
        if ctx.args.force_reinstall:
            from rattler import MatchSpec

            engine.force_reinstall(plan, [MatchSpec(spec).name.normalized for spec in specs], cache_dir)
    return _finish(ctx, plan, cache_dir, "update", noop_message=not explicit, explicit=bool(explicit))


def _dependency_closure(installed: list, specs: list[str]) -> list[str]:
    """The requested package names and every installed package they depend on (``--update-deps``)."""
    from rattler import MatchSpec

    by_name = {rec.name.normalized: rec for rec in installed}
    todo = [MatchSpec(spec).name.normalized for spec in specs]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        record = by_name.get(name)
        if record is not None:
            todo += [MatchSpec(dep).name.normalized for dep in record.depends]
    return sorted(seen)


def cmd_update(ctx: Context) -> int:
    """``update PKG...`` (to the newest version the rest allows) or ``update --all``."""
    from rattler import MatchSpec

    from . import engine

    prefix, installed, cache_dir = _prepare_existing(ctx)
    specs, _explicit = _collect_specs(ctx, ctx.args.file)
    names = [rec.name.normalized for rec in installed]
    if ctx.args.all:
        unlock = names
        specs = []
    else:
        if not specs:
            message = "no package names supplied\n# Example: conda update -n myenv scipy"
            raise CondaStandinError("CondaValueError", message)
        unlock = [MatchSpec(spec).name.normalized for spec in specs]
        missing = [name for name in unlock if name not in names]
        if missing:
            raise CondaStandinError(
                "PackageNotInstalledError",
                f"Package is not installed.\n  prefix: {prefix}\n  package name: {missing[0]}\n",
                package_name=missing[0],
                prefix=prefix,
            )
    plan = engine.run_async(
        engine.plan_solve(
            ctx.config, prefix, ctx.channels(), specs, installed, keep=names, unlock=unlock, cache_dir=cache_dir
        )
    )
    return _finish(ctx, plan, cache_dir, "update", noop_message=True)


def cmd_remove(ctx: Context) -> int:
    """``remove PKG...`` (and what depends on them) or ``remove --all`` (the whole env)."""
    from rattler import MatchSpec

    from . import engine

    args = ctx.args
    if not args.all and not args.packages:
        raise CondaStandinError(
            "CondaValueError", 'no package names supplied,\n       try "conda remove -h" for more details'
        )
    prefix = _existing_env(ctx)
    if args.all and os.path.normpath(prefix) == ctx.config.root_prefix:
        raise CondaStandinError("CondaEnvironmentError", "cannot remove root environment, add -n NAME or -p PREFIX")
    prefix, installed, cache_dir = _prepare_existing(ctx, whole=args.all, frozen_first=True)
    if args.all:
        plan = engine.plan_removal(ctx.config, prefix, installed, [rec.name.normalized for rec in installed])
        actions = plan.actions()
        doc: dict[str, object] = {"success": True, "actions": actions, "prefix": prefix}
        if args.dry_run:
            doc["dry_run"] = True
        else:
            engine.remove_prefix(prefix)
            _register(ctx, prefix, add=False)
        _report_actions(args, doc, _actions_text(actions, dry_run=args.dry_run))
        return 0
    names = [MatchSpec(spec).name.normalized for spec in args.packages]
    present = {rec.name.normalized for rec in installed}
    missing = [spec for spec, name in zip(args.packages, names, strict=True) if name not in present]
    if missing:
        raise packages_not_found(missing, prefix)
    plan = engine.plan_removal(ctx.config, prefix, installed, names)
    return _finish(ctx, plan, cache_dir, "remove", noop_message=False)


def cmd_list(ctx: Context) -> int:
    """``list``: the installed packages (list.json shape with ``--json``)."""
    from .records import meta_entries

    prefix = _existing_env(ctx)
    pattern = re.compile(ctx.args.regex) if ctx.args.regex else None
    if ctx.args.explicit:
        return _list_explicit(ctx, prefix, pattern)
    entries = [entry for entry in meta_entries(prefix) if not pattern or pattern.search(str(entry["name"]))]
    if ctx.args.json:
        _print_json(entries)
        return 0
    out = [f"# packages in environment at {prefix}:", "#", f"# {'Name':<23} {'Version':<15} {'Build':<18} Channel"]
    out += [f"{e['name']:<25} {e['version']:<15} {e['build_string']:<18} {e['channel']}" for e in entries]
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _list_explicit(ctx: Context, prefix: str, pattern: re.Pattern[str] | None) -> int:
    """``list --explicit [--md5|--sha256]``: an ``@EXPLICIT`` lockfile of the env, in dependency order."""
    from . import engine

    records = engine.installed_records(prefix)
    if pattern:
        records = [rec for rec in records if pattern.search(rec.name.normalized)]
    lines = [
        "# This file may be used to create an environment using:",
        "# $ conda create --name <env> --file <this file>",
        f"# platform: {engine.current_subdir()}",
        "@EXPLICIT",
    ]
    for rec in engine.PackageRecord.sort_topologically(records):
        raw = json.loads(rec.to_json())
        suffix = f"#{raw.get('md5')}" if ctx.args.md5 else f"#sha256:{raw.get('sha256')}" if ctx.args.sha256 else ""
        lines.append(f"{raw.get('url')}{suffix}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc).isoformat()


def _created(prefix: str) -> float | None:
    """conda's ``PrefixData.created`` on Linux (no birth time): ``conda-meta/created_at``, else None."""
    try:
        return float((Path(prefix) / "conda-meta" / "created_at").read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _history_writable(prefix: str) -> bool | None:
    """conda's ``PrefixData.is_writable``: ``conda-meta/history`` can be opened for appending (None: no env)."""
    if not has_history(prefix):
        return None
    history = Path(prefix) / "conda-meta" / "history"
    try:
        with history.open("a", encoding="utf-8"):
            pass
    except OSError:
        return False
    return True


def env_details(ctx: Context, prefix: str) -> dict[str, object]:
    """One ``envs_details`` entry (envlist.json), computed the way conda computes it for every prefix."""
    base = os.path.normpath(prefix) == ctx.config.root_prefix
    meta = Path(prefix) / "conda-meta"
    history = meta / "history"
    created = _created(prefix)
    try:
        last_modified: str | None = _iso(history.stat().st_mtime)
    except OSError:
        last_modified = None
    active = ctx.environ.get("CONDA_PREFIX")
    return {
        "name": ctx.config.prefix_name(prefix),
        "created": _iso(created) if created is not None else None,
        "last_modified": last_modified,
        "active": bool(active) and os.path.normpath(active) == os.path.normpath(prefix),
        "base": base,
        "frozen": (meta / "frozen").is_file(),
        "writable": _history_writable(prefix),
    }


def cmd_env_list(ctx: Context) -> int:
    """``env list`` / ``info --envs``: envs found through ``environments.txt`` and ``envs_dirs``."""
    envs = ctx.config.known_envs()
    if getattr(ctx.args, "json", False):
        _print_json({"envs": envs, "envs_details": {env: env_details(ctx, env) for env in envs}})
        return 0
    active = ctx.environ.get("CONDA_PREFIX", "")
    lines = ["# conda environments:", "#"]
    for env in envs:
        mark = "*" if active and os.path.normpath(active) == env else " "
        lines.append(f"{ctx.config.prefix_name(env):<24} {mark} {env}")
    sys.stdout.write("\n".join(lines) + "\n\n")
    return 0


def _virtual_pkgs() -> list[list[str]]:
    from . import engine

    found = []
    for pkg in engine.virtual_packages():
        generic = pkg.into_generic()
        found.append([generic.name.normalized, str(generic.version), str(generic.build_string)])
    found.append(["__conda", CONDA_VERSION, "0"])
    return sorted(found)


def info_doc(ctx: Context) -> dict[str, object]:
    """``info --json`` with exactly the keys of info.json."""
    from . import engine

    config, environ = ctx.config, ctx.environ
    root = config.root_prefix
    active = environ.get("CONDA_PREFIX") or None
    envs = config.known_envs()
    user_rc = str(Path(config.home) / ".condarc")
    python = ".".join(str(part) for part in sys.version_info)
    uname = platform.uname()
    libc = platform.libc_ver()
    return {
        "platform": engine.current_subdir(),
        "conda_version": CONDA_VERSION,
        "conda_env_version": CONDA_VERSION,
        "conda_build_version": "not installed",
        "root_prefix": root,
        "conda_prefix": root,
        "av_data_dir": str(Path(root) / "etc" / "conda"),
        "av_metadata_url_base": None,
        "root_writable": config.root_writable,
        "pkgs_dirs": list(config.pkgs_dirs),
        "envs_dirs": list(config.envs_dirs),
        "default_prefix": os.path.normpath(active) if active else root,
        "active_prefix": os.path.normpath(active) if active else None,
        "active_prefix_name": config.env_name(active) if active else None,
        "conda_shlvl": int(environ.get("CONDA_SHLVL", "-1") or -1),
        "channels": engine.subdir_urls([engine.channel_url(ch, config) for ch in config.channels]),
        "user_rc_path": user_rc,
        "rc_path": environ.get("CONDARC") or user_rc,
        "sys_rc_path": str(Path(root) / ".condarc"),
        "offline": config.offline,
        "envs": envs,
        "python_version": python,
        "requests_version": "not installed",
        "user_agent": (
            f"conda/{CONDA_VERSION} {STANDIN_TAG} py-rattler/{RATTLER_VERSION} "
            f"{platform.python_implementation()}/{platform.python_version()} {uname.system}/{uname.release}"
            + (f" {libc[0]}/{libc[1]}" if libc[0] else "")
        ),
        "conda_location": str(Path(__file__).resolve().parent),
        "config_files": list(config.rc_files),
        "netrc_file": environ.get("NETRC") or None,
        "virtual_pkgs": _virtual_pkgs(),
        "solver": {"name": "rattler", "user_agent": f"solver/rattler {STANDIN_TAG}", "default": False},
        "tmp_dir": tempfile.gettempdir(),
        "notices_cache_dir": str(Path(config.home) / ".cache" / "conda" / "notices"),
        "UID": os.geteuid(),
        "GID": os.getegid(),
        "sys.version": sys.version,
        "sys.prefix": root,
        "sys.executable": sys.executable,
        "site_dirs": [],
        "env_vars": {"CONDA_ROOT": root, **{k: v for k, v in sorted(environ.items()) if k.startswith("CONDA_")}},
        "envs_details": {env: env_details(ctx, env) for env in envs},
    }


def cmd_info(ctx: Context) -> int:
    """``info`` (``--json``: info.json's keys; ``--envs``: the env list)."""
    if ctx.args.envs:
        return cmd_env_list(ctx)
    doc = info_doc(ctx)
    if ctx.args.json:
        _print_json(doc)
        return 0
    lines = [f"     cpkgs test-bed conda stand-in ({VERSION_LINE})", ""]
    for key in (
        "platform",
        "conda_version",
        "root_prefix",
        "default_prefix",
        "active_prefix",
        "user_rc_path",
        "sys_rc_path",
        "config_files",
        "pkgs_dirs",
        "envs_dirs",
        "channels",
        "offline",
    ):
        lines.append(f"{key:>24} : {doc[key]}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def cmd_run(ctx: Context) -> int:
    """``run``: the command with the env's ``bin`` first on PATH and ``CONDA_PREFIX`` set; its rc."""
    call = list(ctx.args.executable_call)
    if call and call[0] == "--":
        call = call[1:]
    if not call:
        raise CondaStandinError("ArgumentError", "No command specified")
    prefix = _existing_env(ctx)
    env = dict(ctx.environ)
    env["PATH"] = os.pathsep.join([str(Path(prefix) / "bin"), env.get("PATH", os.defpath)])
    env["CONDA_PREFIX"] = prefix
    env["CONDA_DEFAULT_ENV"] = ctx.config.env_name(prefix)
    env["CONDA_SHLVL"] = str(int(env.get("CONDA_SHLVL", "0") or 0) + 1)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        return subprocess.run(call, env=env, cwd=ctx.args.cwd, check=False).returncode
    except FileNotFoundError:
        sys.stderr.write(f"conda run: {call[0]}: command not found\n")
        return 127


def cmd_env_create(ctx: Context) -> int:
    """``env create -f environment.yml`` (name from the file when neither ``-n`` nor ``-p`` is given)."""
    env_file = read_env_yaml(ctx.args.file)
    _env_file_target(ctx, env_file)
    ctx.args.file = []
    ctx.args.packages = []
    return cmd_create(ctx, env_file.channels, env_file.dependencies)


def _env_file_target(ctx: Context, env_file: object) -> None:
    from .envfile import EnvFile

    assert isinstance(env_file, EnvFile)
    if not ctx.args.name and not ctx.args.prefix:
        if env_file.prefix:
            ctx.args.prefix = env_file.prefix
        elif env_file.name:
            ctx.args.name = env_file.name
        else:
            raise CondaStandinError("CondaValueError", "either -n NAME or -p PREFIX option required")


def cmd_env_update(ctx: Context) -> int:
    """``env update -f environment.yml [--prune]``: install the file's specs; ``--prune`` drops the rest."""
    from rattler import MatchSpec

    from . import engine

    env_file = read_env_yaml(ctx.args.file)
    _env_file_target(ctx, env_file)
    prefix = ctx.target(creating=True)
    if not is_conda_env(prefix):
        ctx.args.file = []
        return cmd_create(ctx, env_file.channels, env_file.dependencies)
    prefix, installed, cache_dir = _prepare_existing(ctx)
    specs = env_file.dependencies
    wanted = {MatchSpec(spec).name.normalized for spec in specs}
    keep = [] if ctx.args.prune else [rec.name.normalized for rec in installed if rec.name.normalized not in wanted]
    plan = engine.run_async(
        engine.plan_solve(
            ctx.config, prefix, ctx.channels(env_file.channels), specs, installed, keep=keep, cache_dir=cache_dir
        )
    )
    return _finish(ctx, plan, cache_dir, "update", noop_message=True)


COMMANDS = {
    "create": cmd_create,
    "install": cmd_install,
    "update": cmd_update,
    "remove": cmd_remove,
    "env_remove": cmd_remove,
    "list": cmd_list,
    "info": cmd_info,
    "run": cmd_run,
    "env_list": cmd_env_list,
    "env_create": cmd_env_create,
    "env_update": cmd_env_update,
}


def _dispatch(argv: list[str], environ: Mapping[str, str]) -> int:
    if argv and argv[0].startswith("shell."):
        from . import shell

        return shell.main(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        sys.stdout.write(VERSION_LINE + "\n")
        return 0
    if not args.command:
        parser.print_help()
        return 0
    json_mode = bool(getattr(args, "json", False))
    try:
        ctx = Context(args, environ, argv)
        if getattr(args, "offline", False):
            ctx.config.offline = True
        return COMMANDS[args.command](ctx)
    except CondaStandinError as exc:
        error = exc
    except Exception as exc:  # conda reports unexpected errors too (rc 1), with the traceback on stderr
        traceback.print_exc()
        error = CondaStandinError("CondaError", f"unexpected error in the stand-in: {type(exc).__name__}: {exc}")
    if json_mode:
        _print_json(error.to_json())
    else:
        sys.stderr.write(error.to_text())
    return error.rc


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one stand-in command; return its rc.

    Called without ``argv`` (as a program), it ends the process with ``os._exit`` after flushing, which
    avoids py-rattler's occasional crash at interpreter exit.
    """
    as_program = argv is None
    args = sys.argv[1:] if argv is None else list(argv)
    rc = _dispatch(args, os.environ if environ is None else environ)
    if as_program:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc
