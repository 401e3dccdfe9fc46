# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logic of ``cpkgs.conda.conda_env``: plan and apply the state of conda environments.

Idempotence without a solver: when the module builds or changes an environment it records the normalized
request (specs, channels, file hashes) and a fingerprint of the environment's package records in
``PREFIX/conda-meta/cpkgs_conda_request`` (no ``.json`` suffix, so conda never reads it as a package
record). On the next run, if the request and the fingerprint still match, the environment is unchanged and
no conda process starts. Otherwise conda is asked (``--dry-run --json`` in check mode). ``state: latest``
always asks conda.

The fingerprint is the sorted list of ``conda-meta/*.json`` file names: a record's file name is the
package's ``name-version-build``, so any package change (by this module, by hand, by another tool) changes
it, while it costs one directory listing.

conda runs with argv lists and ``--json``; its JSON error (``exception_name``, ``message``) becomes the
error message. Every conda command that reads or changes an existing environment runs with
``CONDA_PROTECT_FROZEN_ENVS=false`` (conda reads each config key from ``CONDA_<KEY>``), so an environment
frozen under CEP 22 can still be changed through the inventory; conda without CEP 22 ignores the variable.
Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from typing import Callable, Dict, List, Optional, Tuple

from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_rules import (
    ENV_CONDARC_HEADER,
    is_condarc_key,
    written_by_conda_env,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._files import (
    FileError,
    current_umask,
    read_file,
    sha256_file,
    write_file,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._tree import find_env

__all__ = [
    "REQUEST_FILE",
    "UNFROZEN_ENVIRON",
    "CondaError",
    "CondaRunner",
    "EnvManager",
    "EnvSpec",
    "FileError",
    "InputError",
    "channel_args",
    "clean_environment",
    "fingerprint",
    "installed_packages",
    "is_environment",
    "parse_umask",
    "planning_manager",
    "validate_name",
]

REQUEST_FILE = "cpkgs_conda_request"
TRASH_DIR = ".cpkgs-trash"  # removed envs that could not be deleted at once wait here (see EnvManager._absent)
FROZEN_FILE = "frozen"  # CEP 22
# conda's `protect_frozen_envs` off for this module's own commands: the same as --override-frozen, which
# conda before CEP 22 does not know (it ignores an unknown CONDA_* variable).
UNFROZEN_ENVIRON = {"CONDA_PROTECT_FROZEN_ENVS": "false"}
_RECORD_VERSION = 1
# Variables that make conda act on another environment or chown files to the sudo caller (conda#7267).
_DROP_VARS = ("CONDA_PREFIX", "CONDA_SHLVL", "CONDA_DEFAULT_ENV", "CONDA_PROMPT_MODIFIER", "CONDARC_ENV")
_NAME_MAX = 255  # bytes in one directory name (NAME_MAX of Linux and macOS file systems)
_BAD_NAME = re.compile(r"[/\s:#]")

RunCommand = Callable[..., Tuple[int, str, str]]


class InputError(ValueError):
    """Bad module input; the message names the parameter and the value."""


class CondaError(Exception):
    """conda failed; ``message`` names conda's exception and says what it said."""

    def __init__(self, message: str, rc: int, cmd: List[str], details: Optional[dict] = None) -> None:
        super().__init__(message)
        self.message = message
        self.rc = rc
        self.cmd = cmd
        self.details = details or {}


def parse_umask(value: object) -> int:
    """The ``umask`` option as a number; ``InputError`` names it."""
    try:
        mask = int(str(value), 8)
    except ValueError:
        raise InputError(f"umask: must be an octal number like '0022', got {value!r}") from None
    if not 0 <= mask <= 0o777:
        raise InputError(f"umask: must be between 0000 and 0777, got {value!r}")
    return mask


def clean_environment(environ: Dict[str, str]) -> Dict[str, str]:
    """The environment to run conda in: no active environment, no ``SUDO_*`` (conda chowns to SUDO_UID)."""
    return {
        key: value
        for key, value in environ.items()
        if key not in _DROP_VARS and not key.startswith(("SUDO_", "CONDA_PREFIX_"))
    }


def validate_name(name: str, param: str) -> None:
    """Refuse environment names conda would refuse or that escape the envs directory."""
    if not isinstance(name, str) or not name:
        raise InputError(f"{param}: an environment name must not be empty, got {name!r}")
    if _BAD_NAME.search(name) or name in (".", ".."):
        raise InputError(f"{param}: {name!r} is not a valid environment name (no '/', whitespace, ':', '#' or '..')")
    if name.startswith("-"):
        raise InputError(f"{param}: {name!r} must not start with '-'")
    if name in ("base", "root"):
        raise InputError(f"{param}: {name!r} is the tree itself; give prefix explicitly to manage it")
    size = len(os.fsencode(name))
    if size > _NAME_MAX:
        raise InputError(
            f"{param}: {_shown(name)} ({size} bytes) is too long for a directory name ({_NAME_MAX} at most)"
        )


def _shown(value: str, keep: int = 8) -> str:
    """A value too long for a directory name, in a message: quoted, cut ``keep`` characters into its longest part,
    with an ellipsis."""
    longest = max(value.split("/"), key=len)
    return repr(value[: value.find(longest) + keep] + "…")


def is_environment(prefix: str) -> bool:
    """conda's own test: a prefix is an environment when it has ``conda-meta/history``."""
    return os.path.isfile(os.path.join(prefix, "conda-meta", "history"))


def fingerprint(prefix: str) -> str:
    """A fingerprint of the environment's package set: the sorted names of ``conda-meta/*.json``."""
    try:
        names = sorted(name for name in os.listdir(os.path.join(prefix, "conda-meta")) if name.endswith(".json"))
    except OSError:
        names = []  # no records: no packages
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def installed_packages(prefix: str) -> List[dict]:
    """``name``, ``version``, ``build`` and ``url`` of each package record, sorted by name."""
    meta = os.path.join(prefix, "conda-meta")
    packages = []
    try:
        names = sorted(os.listdir(meta))
    except OSError:
        return []
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(meta, name), "rb") as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and "name" in record:
            packages.append(
                {
                    "name": record.get("name"),
                    "version": record.get("version"),
                    "build": record.get("build") or record.get("build_string"),
                    "url": record.get("url"),
                }
            )
    return sorted(packages, key=lambda p: str(p["name"]))


def channel_args(channels: List[str], override_channels: bool, offline: bool) -> List[str]:
    """conda's options for where packages come from: ``--channel`` each, ``--override-channels``, ``--offline``."""
    args: List[str] = []
    for channel in channels:
        args += ["--channel", channel]
    if override_channels:
        args.append("--override-channels")
    if offline:
        args.append("--offline")
    return args


def _sha256_file(path: str, param: str) -> str:
    try:
        return sha256_file(path)
    except OSError as exc:
        raise InputError(f"{param}: cannot read {path!r}: {exc.strerror or exc}") from None


def read_lockfile(path: str) -> List[str]:
    """The package URLs of an ``@EXPLICIT`` lockfile (``conda list --explicit`` output)."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle]
    except OSError as exc:
        raise InputError(f"lockfile: cannot read {path!r}: {exc.strerror or exc}") from None
    if "@EXPLICIT" not in lines:
        raise InputError(f"lockfile: {path!r} is not an explicit lockfile (no @EXPLICIT line)")
    return [line.partition("#")[0] for line in lines if line and not line.startswith(("#", "@"))]


def _yaml_scalar(value: object, where: str) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a double-quoted JSON string is a valid YAML scalar
    raise InputError(f"{where}: values must be strings, numbers, booleans, lists or mappings of those, got {value!r}")


def _yaml_key(key: str) -> str:
    return key if is_condarc_key(key) else json.dumps(key)


def render_condarc(data: dict, where: str = "condarc") -> str:
    """The text of an environment's ``.condarc`` that this module owns whole (keys in the given order)."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: must be a mapping of .condarc keys, got {data!r}")
    lines = [ENV_CONDARC_HEADER.rstrip("\n")]
    for key, value in data.items():
        if not is_condarc_key(key):
            raise InputError(f"{where}: {key!r} is not a .condarc key")
        if isinstance(value, list):
            lines.append(f"{key}:" if value else f"{key}: []")
            lines += [f"  - {_yaml_scalar(item, f'{where}.{key}')}" for item in value]
        elif isinstance(value, dict):
            lines.append(f"{key}:" if value else f"{key}: {{}}")
            lines += [f"  {_yaml_key(str(k))}: {_yaml_scalar(v, f'{where}.{key}')}" for k, v in value.items()]
        else:
            lines.append(f"{key}: {_yaml_scalar(value, f'{where}.{key}')}")
    return "\n".join(lines) + "\n"


class EnvSpec:
    """One environment as requested: where, what and how."""

    def __init__(self, params: dict, where: str = "") -> None:
        self.where = where
        self.name: Optional[str] = params.get("name")
        self.prefix: Optional[str] = params.get("prefix")
        self.specs: List[str] = [str(s) for s in params.get("specs") or []]
        self.file: Optional[str] = params.get("file")
        self.lockfile: Optional[str] = params.get("lockfile")
        self.channels: List[str] = [str(c) for c in params.get("channels") or []]
        self.override_channels: bool = bool(params.get("override_channels"))
        self.offline: bool = bool(params.get("offline"))
        self.state: str = params.get("state") or "present"
        self.frozen: Optional[bool] = params.get("frozen")
        self.prune: bool = bool(params.get("prune"))
        self.condarc: Optional[dict] = params.get("condarc")
        self.validate()

    def param(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def _validate_where(self) -> None:
        """``name`` or ``prefix``: exactly one, and one conda and the file system accept."""
        if self.name == "" and not self.prefix:  # given, but empty: say so, with the value
            validate_name(self.name, self.param("name"))
        if bool(self.name) == bool(self.prefix):
            raise InputError(f"{self.param('name')}: give exactly one of name and prefix")
        if self.name is not None:
            validate_name(self.name, self.param("name"))
        if self.prefix is not None and not os.path.isabs(self.prefix):
            raise InputError(f"{self.param('prefix')}: must be an absolute path, got {self.prefix!r}")
        if self.prefix:
            longest = max(len(os.fsencode(part)) for part in self.prefix.split("/"))
            if longest > _NAME_MAX:
                raise InputError(
                    f"{self.param('prefix')}: {_shown(self.prefix)} has a part of {longest} bytes "
                    f"({_NAME_MAX} at most in a directory name)"
                )

    def validate(self) -> None:
        # types, choices and exclusions (one of specs, file, lockfile) are the module's argument spec's job
        self._validate_where()
        sources = [n for n in ("specs", "file", "lockfile") if getattr(self, n)]
        if self.state != "absent" and not sources:
            raise InputError(f"{self.param('specs')}: state={self.state} needs specs, file or lockfile")
        if self.state == "latest" and self.lockfile:
            raise InputError(f"{self.param('state')}: latest makes no sense with a lockfile (it pins exact builds)")
        for spec in self.specs:
            if not spec.strip() or spec.strip().startswith("-"):
                raise InputError(f"{self.param('specs')}: {spec!r} is not a package spec")
        if self.condarc is not None:
            render_condarc(self.condarc, self.param("condarc"))  # refuses what it cannot write

    def request(self) -> dict:
        """The normalized request recorded with the environment (order of specs does not matter)."""
        return {
            "version": _RECORD_VERSION,
            "specs": sorted(self.specs),
            "channels": self.channels,
            "override_channels": self.override_channels,
            "file_sha256": _sha256_file(self.file, self.param("file")) if self.file else None,
            "lockfile_sha256": _sha256_file(self.lockfile, self.param("lockfile")) if self.lockfile else None,
            "prune": self.prune if self.file else None,
        }

    def channel_args(self) -> List[str]:
        return channel_args(self.channels, self.override_channels, self.offline)


class CondaRunner:
    """Runs one conda executable with ``--json`` and returns the parsed output."""

    def __init__(self, run_command: RunCommand, conda_exe: str) -> None:
        self.run_command = run_command
        self.conda_exe = conda_exe
        self.calls: List[List[str]] = []

    def json(self, args: List[str], environ: Optional[Dict[str, str]] = None, quiet_ok: bool = False) -> dict:
        """Run ``conda ARGS --json``, with ``environ`` added to its environment.

        ``quiet_ok``: the command may succeed printing nothing (conda prints no JSON for an ``@EXPLICIT``
        file); the answer is then ``{}``.
        """
        cmd = [self.conda_exe, *args, "--json"]
        self.calls.append(cmd)
        rc, out, err = self.run_command(cmd, environ_update=environ) if environ else self.run_command(cmd)
        try:
            data = json.loads(out) if out.strip() else None
        except ValueError:
            data = None
        if isinstance(data, dict) and (rc != 0 or data.get("exception_name")):
            raise CondaError(_error_message(data, err), rc, cmd, data)
        if rc == 0 and quiet_ok and not out.strip():
            return {}
        if rc != 0 or not isinstance(data, dict):
            detail = (err or out).strip()[-2000:]
            raise CondaError(f"conda exited with rc={rc}: {detail or 'no output'}", rc, cmd)
        return data


def _error_message(data: dict, err: str) -> str:
    """``NAME: message`` of conda's JSON error; a ``CondaMultiError`` names each error it holds."""
    name = data.get("exception_name") or "CondaError"
    inner = [e for e in data.get("errors") or [] if isinstance(e, dict)]
    if inner:
        return f"{name}: " + "; ".join(_error_message(e, "") for e in inner)
    return f"{name}: " + str(data.get("message") or data.get("error") or err).strip()


def _actions(data: dict) -> dict:
    """``{link: [...], unlink: [...]}`` as ``name-version-build`` from conda's ``actions``."""
    actions = data.get("actions") or {}
    if isinstance(actions, list):  # conda prints a list of action dicts for some commands
        merged: dict = {}
        for item in actions:
            for key, value in (item or {}).items():
                if isinstance(value, list):
                    merged.setdefault(key, []).extend(value)
        actions = merged

    def names(key: str) -> List[str]:
        result = []
        for rec in actions.get(key) or []:
            if isinstance(rec, dict):
                result.append(
                    rec.get("dist_name") or f"{rec.get('name')}-{rec.get('version')}-{rec.get('build_string')}"
                )
            else:
                result.append(str(rec))
        return sorted(result)

    return {"link": names("LINK"), "unlink": names("UNLINK")}


class _NeedsConda(Exception):
    """Planning offline reached a question only conda can answer."""


class _NoConda(CondaRunner):
    """A runner for offline planning: asking it anything means the env needs conda (and the lock)."""

    def __init__(self) -> None:
        """No conda to run: :meth:`json` refuses every question."""

    def json(self, *_args: object, **_kwargs: object) -> dict:
        raise _NeedsConda


class EnvManager:
    """Plans and applies one environment's state against a tree's conda.

    ``envs_dirs`` is the list conda uses to find named environments (the first writable one gets new
    ones); ``check_mode`` asks conda for dry runs and writes nothing.
    """

    def __init__(
        self,
        runner: CondaRunner,
        root_prefix: str,
        envs_dirs: List[str],
        check_mode: bool = False,
        publish: bool = True,
    ) -> None:
        self.runner = runner
        self.root_prefix = root_prefix
        self.envs_dirs = envs_dirs
        self.check_mode = check_mode
        self.publish = publish

    # -- where -----------------------------------------------------------------------------------
    def prefix_of(self, env: EnvSpec) -> str:
        """The environment's prefix: given, or found by name in envs_dirs, or where conda would create it."""
        if env.prefix:
            return os.path.normpath(env.prefix)
        found = find_env(self.envs_dirs, env.name or "")
        if found:
            return found
        for envs_dir in self.envs_dirs:
            if _writable_dir(envs_dir):
                return os.path.join(envs_dir, env.name or "")
        raise InputError(
            f"{env.param('name')}: none of envs_dirs {self.envs_dirs} is writable, so {env.name!r} cannot be created"
        )

    # -- records ---------------------------------------------------------------------------------
    @staticmethod
    def read_record(prefix: str) -> Optional[dict]:
        try:
            with open(os.path.join(prefix, "conda-meta", REQUEST_FILE), "rb") as handle:
                record = json.load(handle)
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    @staticmethod
    def write_record(prefix: str, request: dict) -> None:
        """Write the record atomically (a temporary file unique to this writer, renamed); a failure raises
        :class:`FileError` naming the record and leaves no temporary file."""
        path = os.path.join(prefix, "conda-meta", REQUEST_FILE)
        data = json.dumps({"request": request, "fingerprint": fingerprint(prefix)}, sort_keys=True)
        write_file(path, data.encode())

    # -- plan and apply --------------------------------------------------------------------------
    def plan_offline(self, env: EnvSpec) -> Optional[dict]:
        """The result of ``run(env)`` when the env needs no work and no conda to know it, else None.

        It is ``run`` in check mode with a conda that must not be asked: a no-op run of the module (the
        record and fingerprint match, the frozen mark and ``.condarc`` are as asked, an absent env is absent)
        is answered from files, without a conda process and without the tree's lock. Anything else (work
        to do, or a question only conda can answer) is None: the caller takes the lock and runs the env.
        """
        offline = EnvManager(_NoConda(), self.root_prefix, self.envs_dirs, check_mode=True, publish=self.publish)
        try:
            result = offline.run(env)
        except _NeedsConda:
            return None
        return None if result["changed"] else result

    def plan(self, env: EnvSpec) -> dict:
        """Whether the env needs work, and why, from files only: no conda process, no lock, no writes.

        ``needs_work`` is False exactly when :meth:`plan_offline` answers the env (a no-op of ``run``);
        otherwise ``reason`` says what ``run`` would do or ask conda about. A bad input (an unreadable file,
        a directory that is not an environment) is planned as work with the error as its reason, so the
        caller acts on the env on its own and gets the full error there, without stopping the others.
        """
        where = {"name": env.name, "prefix": env.prefix, "state": env.state}
        try:
            offline = self.plan_offline(env)
            if offline is not None:
                where["prefix"] = offline["prefix"]
                return dict(where, needs_work=False, reason="absent" if env.state == "absent" else "up to date")
            prefix = self.prefix_of(env)
            where["prefix"] = prefix
            return dict(where, needs_work=True, reason=self._reason(env, prefix))
        except (InputError, FileError) as exc:
            return dict(where, needs_work=True, reason=f"error: {exc}")

    def _reason(self, env: EnvSpec, prefix: str) -> str:
        """Why ``run`` has work for an env that :meth:`plan_offline` did not answer (files only)."""
        leftover = self._interrupted(prefix)
        exists = is_environment(prefix)
        if leftover == "rebuild":
            return "rebuild (left half-built by an interrupted build)"
        if env.state == "absent":
            return "remove" if exists or leftover else "finish an earlier removal"
        record = self.read_record(prefix) if exists else None
        frozen = os.path.isfile(os.path.join(prefix, "conda-meta", FROZEN_FILE))
        checks = [
            (not exists, "build"),
            (leftover == "open", "open (complete, left closed by an interrupted build)"),
            (env.state == "latest", "update to latest (conda decides)"),
            (record is None, "update (no record of the request: conda decides)"),
            ((record or {}).get("request") != env.request(), "update (request changed)"),
            ((record or {}).get("fingerprint") != fingerprint(prefix), "update (packages changed: conda decides)"),
            (env.frozen is not None and frozen != env.frozen, "freeze" if env.frozen else "unfreeze"),
            (env.condarc is not None, "write its .condarc"),
        ]
        return next((reason for hit, reason in checks if hit), "finish an earlier removal")

    def run(self, env: EnvSpec) -> dict:
        """Bring one environment to its requested state; returns the module result for it.

        The result has ``elapsed`` (seconds) and ``counts`` (``linked``, ``unlinked``, ``packages``).
        """
        started = time.monotonic()
        result = self._run(env)
        result["elapsed"] = round(time.monotonic() - started, 2)
        result["counts"] = {
            "linked": len([a for a in result["actions"]["link"] if not a.startswith("(")]),
            "unlinked": len(result["actions"]["unlink"]),
            "packages": len(result["packages"]),
        }
        return result

    def _run(self, env: EnvSpec) -> dict:
        prefix = self.prefix_of(env)
        if env.state == "absent" and os.path.normpath(prefix) == os.path.normpath(self.root_prefix):
            raise InputError(f"{env.param('prefix')}: refusing to remove the tree itself ({prefix})")
        leftover = self._interrupted(prefix)
        exists = leftover != "rebuild" and is_environment(prefix)
        if not exists and leftover is None and os.path.isdir(os.path.join(prefix, "conda-meta")):
            raise InputError(
                f"{env.param('prefix' if env.prefix else 'name')}: {prefix} exists and is not a conda environment "
                "(no conda-meta/history) that this module built: remove it or choose another one"
            )
        before = installed_packages(prefix) if exists else []
        mark = os.path.join(prefix, "conda-meta", FROZEN_FILE)
        frozen_before = exists and os.path.isfile(mark)
        result: dict = {"name": env.name, "prefix": prefix, "state": env.state, "changed": False}
        result["actions"] = {"link": [], "unlink": []}
        if env.condarc is not None and env.state != "absent":
            self._own_condarc(prefix, env.param("condarc"))  # before anything changes
        self._finish_removals(prefix, result)
        if env.state == "absent":
            self._absent(env, prefix, before if exists or leftover else None, result)
        else:
            self._present(env, prefix, leftover, before, result)
            if env.frozen is not None:
                self._frozen(prefix, env.frozen, result)
            if env.condarc is not None:
                self._condarc(prefix, render_condarc(env.condarc), result)  # EnvSpec checked it
        after = before if (self.check_mode or not result["changed"]) else installed_packages(prefix)
        result["packages"] = [_label(p) for p in after]
        if env.state == "absent":
            frozen_after = False  # no environment, no mark
        elif self.check_mode:
            frozen_after = frozen_before if env.frozen is None else env.frozen
        else:
            frozen_after = os.path.isfile(mark)
        predicted = _predict(before, result["actions"]) if self.check_mode else result["packages"]
        result["diff"] = {
            "before": _diff_text([_label(p) for p in before], frozen_before),
            "after": _diff_text(predicted, frozen_after),
            "before_header": f"{prefix} (packages)",
            "after_header": f"{prefix} (packages)",
        }
        return result

    def _present(self, env: EnvSpec, prefix: str, leftover: Optional[str], installed: List[dict], result: dict) -> None:
        """Build or update the env's packages: rebuild what an interrupted build left (``leftover``, see
        ``_interrupted``), open (then update) a complete one left closed, create a new one, update one that exists."""
        request = env.request()
        if leftover == "rebuild":
            self._rebuild(env, prefix, request, result)
            return
        if leftover == "open":
            self._open(prefix, result)
        elif not is_environment(prefix):
            self._create(env, prefix, request, result)
            return
        self._update(env, prefix, request, installed, result)

    def _interrupted(self, prefix: str) -> Optional[str]:
        """What an interrupted build of this module left at ``prefix``, if anything.

        A build runs behind a closed directory (mode 0700), records the request, then opens it. So a closed
        directory without the record is a build killed after conda started ("rebuild": conda may have got
        anywhere), and a closed one with the record is complete but was never opened ("open").
        """
        if not self.publish:
            return None
        try:
            info = os.lstat(prefix)
        except OSError:
            return None
        if not stat.S_ISDIR(info.st_mode) or info.st_mode & 0o077:
            return None
        return "open" if self.read_record(prefix) is not None else "rebuild"

    def _open(self, prefix: str, result: dict) -> None:
        result["changed"] = True
        result["opened"] = True
        if not self.check_mode:
            os.chmod(prefix, 0o777 & ~current_umask())

    def _rebuild(self, env: EnvSpec, prefix: str, request: dict, result: dict) -> None:
        """Build again what an interrupted build left (closed, unrecorded): remove it, then create."""
        result["changed"] = True
        result["rebuilt"] = True
        if self.check_mode:  # conda cannot dry-run a create over what is there: say what will happen
            result["actions"]["link"] = [f"(rebuild of {prefix}, left by an interrupted build)"]
            return
        shutil.rmtree(prefix)
        self._create(env, prefix, request, result)

    def _absent(self, env: EnvSpec, prefix: str, installed: Optional[List[dict]], result: dict) -> None:
        """Remove the env; ``installed`` is its packages as ``run`` read them, None when there is no env."""
        if installed is None:
            return
        result["changed"] = True
        result["actions"]["unlink"] = [_label(p) for p in installed]
        if self.check_mode:
            return
        # Out of users' sight in one step: the env is renamed into the trash, on the same file system, and
        # only then deleted. A file a process holds open on NFS (kept as .nfsNNNN) makes the deletion fail
        # part-way; the part left is in the trash, not a half env under its name, and a later run finishes.
        # conda is not asked: its `remove --all` deletes in place and stops half-way on such a file.
        trash = self._trash_dir(prefix)
        os.makedirs(trash, mode=0o700, exist_ok=True)
        target = tempfile.mkdtemp(prefix=f"{os.path.basename(prefix)}-", dir=trash)
        os.rename(prefix, target)  # onto the empty directory mkdtemp made: atomic, and the name is unique
        if not _purge(target):
            result["pending_removal"] = [target]

    def _trash_dir(self, prefix: str) -> str:
        """Where removed envs wait to be deleted: ``ROOT/.cpkgs-trash`` for envs in the tree, else a
        ``.cpkgs-trash`` beside the env (a rename must not cross file systems)."""
        root = os.path.normpath(self.root_prefix)
        inside = root and os.path.commonpath([root, os.path.normpath(prefix)]) == root
        return os.path.join(root if inside else os.path.dirname(prefix), TRASH_DIR)

    def _finish_removals(self, prefix: str, result: dict) -> None:
        """Delete what earlier removals of this env left in the trash (see ``_absent``)."""
        trash = self._trash_dir(prefix)
        try:
            names = os.listdir(trash)
        except OSError:
            return
        stem = f"{os.path.basename(prefix)}-"
        left = sorted(os.path.join(trash, n) for n in names if n.startswith(stem) and "-" not in n[len(stem) :])
        if not left:
            return
        result["changed"] = True
        result["finished_removal"] = left
        if not self.check_mode:
            pending = [path for path in left if not _purge(path)]
            if pending:
                result["pending_removal"] = pending

    def _create(self, env: EnvSpec, prefix: str, request: dict, result: dict) -> None:
        result["changed"] = True
        args = self._create_command(env, prefix, result)
        if self.check_mode:
            return
        parent_existed = os.path.isdir(prefix)
        if self.publish and not parent_existed:
            # Build behind a closed door: nobody else can enter (or activate) the env until it is complete.
            os.makedirs(prefix, mode=0o700)
            os.chmod(prefix, 0o700)
        try:
            data = self.runner.json(args, quiet_ok=bool(env.lockfile))
        except CondaError:
            if not parent_existed and os.path.isdir(prefix):
                shutil.rmtree(prefix, ignore_errors=True)  # no half-built environment left behind
            raise
        if not env.lockfile:  # for a lockfile conda says nothing: its URLs are the actions, as in check mode
            result["actions"] = _actions(data)
        self.write_record(prefix, request)
        if self.publish and not parent_existed:
            os.chmod(prefix, 0o777 & ~current_umask())  # open it

    def _create_command(self, env: EnvSpec, prefix: str, result: dict) -> List[str]:
        """The conda command that creates the env; the actions known before it runs go into ``result``."""
        if env.file:
            # `conda env create` takes its channels from the file; it has no --channel/--override-channels.
            result["actions"]["link"] = [f"(from {env.file})"]
            args = ["env", "create", "--prefix", prefix, "--file", env.file, "--yes"]
            return [*args, "--offline"] if env.offline else args
        if env.lockfile:
            result["actions"]["link"] = sorted(_url_label(u) for u in read_lockfile(env.lockfile))
            return ["create", "--prefix", prefix, "--file", env.lockfile, "--yes"]
        args = ["create", "--prefix", prefix, "--yes", *env.channel_args(), *env.specs]
        if self.check_mode:
            result["actions"] = _actions(self.runner.json([*args, "--dry-run"]))
        return args

    def _update(self, env: EnvSpec, prefix: str, request: dict, installed: List[dict], result: dict) -> None:
        record = self.read_record(prefix)
        unchanged = (
            env.state == "present"
            and record is not None
            and record.get("request") == request
            and record.get("fingerprint") == fingerprint(prefix)
        )
        if unchanged:
            return
        if env.lockfile:
            self._update_lockfile(env, prefix, request, installed, result)
            return
        if env.file:
            self._update_file(env, prefix, request, result)
            return
        args = ["install", "--prefix", prefix, "--yes", *env.channel_args(), *env.specs]
        if env.state == "latest":
            args.append("--update-deps")
        data = self.runner.json([*args, "--dry-run"], environ=UNFROZEN_ENVIRON)
        actions = _actions(data)
        if not (actions["link"] or actions["unlink"]):
            if not self.check_mode:
                self.write_record(prefix, request)  # bookkeeping only: the environment already satisfies it
            return
        result.update(changed=True, actions=actions)
        if self.check_mode:
            return
        result["actions"] = _actions(self._act(args))
        self.write_record(prefix, request)

    def _update_lockfile(self, env: EnvSpec, prefix: str, request: dict, installed: List[dict], result: dict) -> None:
        wanted = set(read_lockfile(env.lockfile or ""))
        have = {p["url"]: p for p in installed if p.get("url")}
        link = sorted(_url_label(u) for u in wanted - set(have))
        unlink = sorted(_label(p) for url, p in have.items() if url not in wanted)
        if not link and not unlink:
            if not self.check_mode:
                self.write_record(prefix, request)
            return
        result.update(changed=True, actions={"link": link, "unlink": unlink})
        if self.check_mode:
            return
        # An explicit lockfile describes the whole environment: rebuild it to match exactly. conda's `create`
        # over an existing env deletes the whole prefix first, the env's own files with it: keep those.
        kept = _read_files(prefix, _ENV_OWN_FILES)
        try:
            self._act(["create", "--prefix", prefix, "--file", env.lockfile or "", "--yes"], quiet_ok=True)
        finally:
            _restore_files(prefix, kept)
        self.write_record(prefix, request)

    def _update_file(self, env: EnvSpec, prefix: str, request: dict, result: dict) -> None:
        result["changed"] = True
        if self.check_mode:
            result["actions"]["link"] = [f"(from {env.file})"]
            return
        args = ["env", "update", "--prefix", prefix, "--file", env.file or ""]
        if env.prune:
            args.append("--prune")
        result["actions"] = _actions(self._act(args))
        self.write_record(prefix, request)

    def _act(self, args: List[str], quiet_ok: bool = False) -> dict:
        """Run a conda command that changes an existing env, frozen (CEP 22) or not.

        conda refuses to touch a frozen env unless ``protect_frozen_envs`` is off; this module is the one
        place allowed to change a managed env, so it turns the protection off for its own commands (the
        ``frozen`` mark stays where it is, and other conda processes still see it).
        """
        return self.runner.json(args, environ=UNFROZEN_ENVIRON, quiet_ok=quiet_ok)

    @staticmethod
    def _own_condarc(prefix: str, param: str) -> None:
        """Refuse the environment's ``.condarc`` when another writer owns it: a file with keys that this module
        did not write (see ``_condarc_rules.written_by_conda_env``); ``param`` is the option that asks for it."""
        path = os.path.join(prefix, ".condarc")
        data = read_file(path)
        current = None if data is None else data.decode(errors="replace")
        if current is not None and current.strip() and not written_by_conda_env(current):
            raise InputError(
                f"{param}: {path} was not written by conda_env (its first line is not {ENV_CONDARC_HEADER.strip()!r})"
                ": its keys are kept elsewhere, with cpkgs.conda.condarc (scope=env) or by hand. One file, one owner:"
                f" move its keys into {param} and delete the file, or leave {param} unset"
            )

    def _condarc(self, prefix: str, text: str, result: dict) -> None:
        """Write the environment's own ``.condarc`` (owned whole by this module, see ``_own_condarc``) when it
        differs."""
        path = os.path.join(prefix, ".condarc")
        data = text.encode()
        if read_file(path) == data:
            return
        result["changed"] = True
        result["condarc_changed"] = True
        if self.check_mode:
            return
        write_file(path, data, new_mode=0o666)

    def _frozen(self, prefix: str, frozen: bool, result: dict) -> None:
        path = os.path.join(prefix, "conda-meta", FROZEN_FILE)
        if os.path.exists(path) == frozen:
            return
        result["changed"] = True
        result["frozen_changed"] = True
        if self.check_mode:
            return
        if frozen:
            mark = {"message": "Managed by cpkgs.conda: change it through the inventory."}
            write_file(path, json.dumps(mark).encode())
        else:
            os.unlink(path)


def planning_manager(root_prefix: str, envs_dirs: List[str], publish: bool = True) -> EnvManager:
    """An :class:`EnvManager` for :meth:`EnvManager.plan` alone: its conda must not be asked and it writes nothing."""
    return EnvManager(_NoConda(), root_prefix, envs_dirs, check_mode=True, publish=publish)


def _purge(path: str) -> bool:
    """Delete a removed env's directory, its ``conda-meta`` first (from then on nothing takes it for an
    environment); False when something could not be deleted (it stays for a later run)."""
    shutil.rmtree(os.path.join(path, "conda-meta"), ignore_errors=True)
    shutil.rmtree(path, ignore_errors=True)
    return not os.path.lexists(path)


# Files of an env that are not conda's packages: its .condarc and the frozen mark (CEP 22).
_ENV_OWN_FILES = (".condarc", os.path.join("conda-meta", FROZEN_FILE))


def _read_files(prefix: str, names: Tuple[str, ...]) -> Dict[str, Tuple[bytes, int]]:
    """``{name: (content, mode)}`` of those of ``names`` that are regular files in ``prefix``."""
    kept = {}
    for name in names:
        path = os.path.join(prefix, name)
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, "rb") as handle:
                kept[name] = (handle.read(), os.stat(path).st_mode & 0o7777)
    return kept


def _restore_files(prefix: str, kept: Dict[str, Tuple[bytes, int]]) -> None:
    """Put back the files ``_read_files`` kept that are gone (a file conda left in place stays as it is)."""
    for name, (data, mode) in kept.items():
        path = os.path.join(prefix, name)
        if os.path.lexists(path) or not os.path.isdir(os.path.dirname(path)):
            continue
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)


def _writable_dir(path: str) -> bool:
    """A directory we may create an environment in (it, or its nearest existing parent, is writable)."""
    while path and not os.path.exists(path):  # "/" exists; a relative path ends in ""
        path = os.path.dirname(path)
    return os.path.isdir(path) and os.access(path, os.W_OK)


def _label(package: dict) -> str:
    return f"{package['name']}-{package['version']}-{package['build']}"


def _url_label(url: str) -> str:
    base = url.rpartition("/")[2]
    for suffix in (".conda", ".tar.bz2"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def _diff_text(labels: List[str], frozen: bool) -> str:
    """One package per line, then ``(frozen)`` when the CEP 22 mark is there; empty for no environment."""
    lines = [*labels, "(frozen)"] if frozen else list(labels)
    return "".join(f"{line}\n" for line in lines)


def _predict(before: List[dict], actions: dict) -> List[str]:
    labels = {_label(p) for p in before}
    labels -= set(actions.get("unlink") or [])
    labels |= {a for a in actions.get("link") or [] if not a.startswith("(")}
    return sorted(labels)
