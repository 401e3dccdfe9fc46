# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of ``cpkgs.conda.conda_env`` and its plan (``plan: true``), in one place for the two payloads that
answer a plan.

A plan reads files only (no conda, no lock, no writes), like a look at the tree. The module ``conda_env`` answers it
itself; the module's action plugin has it answered by the payload of ``cpkgs.conda.conda_facts`` (its internal option
``_plan``), which a run has already built for its look at the tree: the run then builds one payload for both, the
costliest part of a task after the host's own Python (benchmarks/site_noop.py). Both call :func:`plan_result` with
parameters checked against :func:`argument_spec`, so the answer is the same whichever payload gives it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

from ansible_collections.cpkgs.conda.plugins.module_utils._activation import (
    ACTIVATION_OPTIONS,
    ITEM_KEYS,
    ActivationError,
    ActivationManager,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._conda_env import (
    EnvSpec,
    FileError,
    InputError,
    parse_umask,
    planning_manager,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._tree import paths_from_params, tree_argument_spec

# The options of one environment: the top-level ones (with the defaults below) and each item of ``envs`` (whose
# unset options take the top-level value of channels, override_channels and offline). The argument spec checks
# types, choices and exclusions for both; EnvSpec checks what depends on several (state against sources).
ENV_OPTIONS = {
    "name": {"type": "str"},
    "prefix": {"type": "path"},
    "specs": {"type": "list", "elements": "str"},
    "file": {"type": "path"},
    "lockfile": {"type": "path"},
    "channels": {"type": "list", "elements": "str"},
    "override_channels": {"type": "bool"},
    "offline": {"type": "bool"},
    "state": {"type": "str", "choices": ["present", "latest", "absent"]},
    "frozen": {"type": "bool"},
    "prune": {"type": "bool"},
    "condarc": {"type": "dict"},
}
_TOP_DEFAULTS = {"channels": [], "override_channels": False, "offline": False, "state": "present", "prune": False}
_ITEM_DEFAULTS_FROM_TOP = ("channels", "override_channels", "offline")
SOURCES = ("specs", "file", "lockfile")
MUTUALLY_EXCLUSIVE = [("name", "prefix", "envs"), (*SOURCES, "envs")]
REQUIRED_ONE_OF = [("name", "prefix", "envs")]


def argument_spec() -> dict:
    """conda_env's argument spec (with :data:`MUTUALLY_EXCLUSIVE` and :data:`REQUIRED_ONE_OF`)."""
    return dict(
        tree_argument_spec(),
        **{key: dict(spec, default=_TOP_DEFAULTS[key]) if key in _TOP_DEFAULTS else spec
           for key, spec in ENV_OPTIONS.items()},
        publish={"type": "bool", "default": True},
        envs={
            "type": "list",
            "elements": "dict",
            "options": ENV_OPTIONS,
            "mutually_exclusive": [("name", "prefix"), SOURCES],
            "required_one_of": [("name", "prefix")],
        },
        umask={"type": "raw", "default": "0022"},
        lock_timeout={"type": "int", "default": 600},
        lock_holder={"type": "str"},
        plan={"type": "bool", "default": False},
        activation={
            "type": "dict",
            "options": dict(ACTIVATION_OPTIONS, module_names={"type": "dict", "default": {}}),
        },
    )  # fmt: skip


def env_specs(params: dict) -> List[EnvSpec]:
    """The environments of checked parameters: one, or one per item of ``envs`` (a name given twice refused)."""
    if not params["envs"]:
        return [EnvSpec({key: params[key] for key in ENV_OPTIONS})]
    specs = []
    for index, item in enumerate(params["envs"]):
        merged = {key: params[key] for key in _ITEM_DEFAULTS_FROM_TOP}
        merged.update({key: value for key, value in item.items() if value is not None})
        specs.append(EnvSpec(merged, f"envs[{index}]"))
    seen = {}
    for spec in specs:
        key = spec.prefix or spec.name
        if key in seen:
            raise InputError(f"{spec.param('name')}: {key!r} is already given by {seen[key]}")
        seen[key] = spec.where
    return specs


def checked(params: dict) -> Tuple[List[EnvSpec], int, Any]:
    """The environments, the umask and the tree's paths of checked parameters: what the argument spec cannot
    check. Raises :class:`InputError` or ``ValueError`` with a message that names the parameter."""
    if params["lock_timeout"] < 0:
        raise InputError(f"lock_timeout: must be 0 or more seconds, got {params['lock_timeout']}")
    envs = env_specs(params)
    umask = parse_umask(params["umask"])
    return envs, umask, paths_from_params(params)


def plan_result(params: dict, envs: List[EnvSpec], paths: Any, run_command: Callable) -> Dict[str, Any]:
    """The answer to ``plan: true`` (a module result): which envs need work and why, from files only (no conda, no
    lock, no writes); with ``activation``, also which envs without other work have activation files to rewrite."""
    manager = planning_manager(paths.root_prefix or "", paths.envs_dirs(), publish=params["publish"])
    results = [manager.plan(env) for env in envs]
    todo = [str(result["name"] or result["prefix"]) for result in results if result["needs_work"]]
    extra = {}
    if params["activation"] is not None:
        extra["activation_todo"] = _check_activation(params["activation"], paths, results, run_command)
    if params["envs"]:
        return dict(changed=False, envs=results, todo=todo, conda_calls=0, **extra)
    return dict(changed=False, todo=todo, conda_calls=0, **extra, **results[0])


def _check_activation(params: dict, paths: Any, results: list, run_command: Callable) -> List[str]:
    """Which envs without other work have activation files that differ from what conda_activation would write
    (each result gets ``activation_changes``); an env that cannot be checked is listed too, for that module to
    report. The envs with work are left out: their activation is written after the work in any case."""
    names = params["module_names"]
    checker = ActivationManager(params, paths, run_command)
    todo = []
    for result in results:
        if result["needs_work"]:
            continue
        key = str(result["name"] or result["prefix"])
        item = {
            "prefix": result["prefix"],
            "module_name": names.get(key),
            "state": "absent" if result["state"] == "absent" else "present",
        }
        try:
            env_result, _diffs, _warnings = checker.one(dict(dict.fromkeys(ITEM_KEYS), **item), "", write=False)
        except (ActivationError, FileError, OSError):
            todo.append(key)
            continue
        result["activation_changes"] = env_result["files"]
        if env_result["files"]:
            todo.append(key)
    return todo
