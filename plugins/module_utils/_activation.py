# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logic of ``cpkgs.conda.conda_activation``: load a conda environment without starting conda.

``conda activate ENV`` starts conda's Python (about half a second and over a thousand file-system calls on a
network share) to print a few ``export`` lines. What it prints depends only on the environment and a few
settings, so it can be generated once, from the environment itself, into files that need no conda:

* an **Lmod** modulefile (Lua) and an **Environment Modules** modulefile (Tcl), ``NAME/VERSION``;
* a **plain shell entry** ``PREFIX/etc/cpkgs/activate.sh`` (bash, zsh, sh) and ``activate.csh`` (tcsh, csh),
  each with a ``deactivate`` that restores what it changed;
* a **Jupyter kernelspec** (``kernel.json``) whose ``env`` is the activation's, for environments with a python.

What ``conda activate`` does, as conda 26.7.1's ``conda.activate._Activator`` computes it for a non-stacked
activation while no environment is active (``CONDA_SHLVL`` 0 or unset):

* ``PATH``: the environment's bin directories (``_get_path_dirs``: ``PREFIX/bin`` on Linux and macOS) first,
  then ``ROOT/condabin`` unless a PATH entry already ends in ``condabin`` (``_add_prefix_to_path``);
* ``CONDA_PREFIX``, ``CONDA_SHLVL=1``, ``CONDA_DEFAULT_ENV`` (``base``, the name inside an ``envs``
  directory, else the path), ``CONDA_PROMPT_MODIFIER`` (``env_prompt`` formatted; empty without ``changeps1``);
* the environment's own variables: ``etc/conda/env_vars.d/*`` (JSON objects, in path order) overridden by
  ``env_vars`` of ``conda-meta/state`` (``conda env config vars``); ``PATH`` is reserved and dropped, a value of
  ``***unset***`` is not set, a JSON ``null`` "unsets" the variable as conda's shell does it (csh ``unsetenv``;
  POSIX shells ``export NAME=''``), its value before restored at deactivation; names upper-cased
  (``envvars_force_uppercase``, on by default);
* the ``etc/conda/activate.d`` scripts (``*.sh`` for POSIX shells, ``*.csh`` for csh), sorted, after the
  exports; at deactivation the ``deactivate.d`` scripts in reverse order.

Modulefiles need no shell at load for scripts whose effect is static: :func:`capture_scripts` runs the
``activate.d/*.sh`` scripts at generation time in bash, twice (different ``HOME``, ``PWD`` and user, and in the
second run every variable the scripts name or change preset to a sentinel) and writes what they set, unset,
prepend and append as ``pushenv``/``unsetenv``/``prepend_path``/``append_path``. A script that defines a function
or an alias, changes the shell (options, traps, umask, directory), prints, fails, writes into ``HOME`` or the
working directory, sets a value that is not UTF-8 text (a modulefile could not hold it byte for byte), or whose
effect differs between the two runs in another way than a prepend or append is run at each load (``source_sh``),
and so is every script after it.

Standard library only; Python 3.9 or later.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from typing import Callable, Dict, List, Optional, Tuple

from ansible_collections.cpkgs.conda.plugins.module_utils._files import FileError, read_file, write_file
from ansible_collections.cpkgs.conda.plugins.module_utils._tree import default_modules_dir, find_env

__all__ = [
    "ACTIVATION_OPTIONS",
    "DEFAULT_ENV_PROMPT",
    "FORMATS",
    "KERNELS_DIR",
    "ActivationError",
    "ActivationManager",
    "EnvActivation",
    "Output",
    "default_env",
    "generated_modulefiles",
    "kernel_name_for",
    "plan_outputs",
    "read_activation",
    "split_module_name",
]

DEFAULT_ENV_PROMPT = "({default_env}) "
UNSET_VALUE = "***unset***"  # conda's CONDA_ENV_VARS_UNSET_VAR
RESERVED_ENV_VARS = ("PATH",)  # conda's RESERVED_ENV_VARS
CONDA_VARS = ("CONDA_PREFIX", "CONDA_SHLVL", "CONDA_DEFAULT_ENV", "CONDA_PROMPT_MODIFIER")
STATE_FILE = os.path.join("conda-meta", "state")
ENV_VARS_DIR = os.path.join("etc", "conda", "env_vars.d")
ENTRY_DIR = os.path.join("etc", "cpkgs")
FORMATS = ("lmod", "tcl", "sh", "csh", "kernel")
KERNELS_DIR = "/usr/local/share/jupyter/kernels"
FAMILY = "conda_env"
# The options that say how every environment of a task is loaded: cpkgs.conda.conda_activation's, and the
# suboptions of cpkgs.conda.conda_env's activation check (plan=true), which asks the same question.
ACTIVATION_OPTIONS = {
    "formats": {"type": "list", "elements": "str", "choices": list(FORMATS), "default": list(FORMATS)},
    "modules_dir": {"type": "path"},
    "kernels_dir": {"type": "path", "default": KERNELS_DIR},
    "env_prompt": {"type": "str", "default": DEFAULT_ENV_PROMPT},
    "changeps1": {"type": "bool", "default": True},
    "envvars_force_uppercase": {"type": "bool", "default": True},
    "condabin": {"type": "bool", "default": True},
}
ITEM_KEYS = ("name", "prefix", "module_name", "display_name", "kernel_name", "state")
FILE_MODE = 0o644
DIR_MODE = 0o755
MARKER = "cpkgs.conda (conda_activation)"
#: What each modulefile's header says, naming the environment: the marker that makes a file this module's own.
MODULE_KINDS = {"lmod": "Lmod modulefile", "tcl": "Environment Modules modulefile"}
_HEADER = re.compile(
    r"^(?:--|##) Managed by " + re.escape(MARKER) + r": (?P<kind>Lmod modulefile|Environment Modules modulefile) "
    r"of the conda environment (?P<prefix>/.*)\.$"
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_+][A-Za-z0-9._+-]*$")
_VERSIONED = re.compile(r"^(?P<name>.*?[A-Za-z_])[-_]?(?P<version>[0-9]+(?:\.[0-9]+)*(?:[A-Za-z+][A-Za-z0-9.+]*)?)$")
_KERNEL_BAD = re.compile(r"[^a-z0-9._-]")

RunCommand = Callable[..., Tuple[int, str, str]]


class ActivationError(ValueError):
    """Bad input or an environment conda could not activate either; the message names what and where.

    ``envs``: the results of the environments done before the one that failed (:meth:`ActivationManager.run`).
    """

    def __init__(self, message: str, envs: Optional[list] = None) -> None:
        super().__init__(message)
        self.envs = envs or []


# --------------------------------------------------------------------------------------------- the environment
def default_env(prefix: str, root_prefix: Optional[str]) -> str:
    """``CONDA_DEFAULT_ENV`` for ``prefix`` (``_Activator._default_env``)."""
    if root_prefix and os.path.normpath(prefix) == os.path.normpath(root_prefix):
        return "base"
    parent = os.path.dirname(os.path.normpath(prefix))
    return os.path.basename(os.path.normpath(prefix)) if os.path.basename(parent) == "envs" else prefix


def _load_json(path: str) -> object:
    try:
        data = read_file(path)
    except FileError as exc:
        raise ActivationError(exc.message) from None
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ActivationError(f"{path}: not JSON ({exc}); conda activate would fail on it too") from None


def _listdir(path: str) -> List[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def environment_vars(prefix: str, force_uppercase: bool = True) -> Tuple[Dict[str, Optional[str]], List[str]]:
    """The environment's own variables as conda sets them, and warnings (``_get_environment_env_vars``).

    Package files ``etc/conda/env_vars.d/*`` first (sorted by path), then ``env_vars`` of
    ``conda-meta/state`` on top. Reserved names (``PATH``) and ``***unset***`` values are dropped. A JSON
    ``null`` is None: conda unsets that variable (``get_export_unset_vars``) and restores it at deactivation.
    """
    merged: Dict[str, object] = {}
    warnings: List[str] = []
    folder = os.path.join(prefix, ENV_VARS_DIR)
    for entry in _listdir(folder):
        path = os.path.join(folder, entry)
        data = _load_json(path)
        if not isinstance(data, dict):
            raise ActivationError(f"{path}: must hold a JSON object of variables, got {type(data).__name__}")
        merged.update(data)
    state = _load_json(os.path.join(prefix, STATE_FILE))
    if state is not None:
        if not isinstance(state, dict) or not isinstance(state.get("env_vars", {}), dict):
            raise ActivationError(f"{os.path.join(prefix, STATE_FILE)}: env_vars must be a JSON object")
        merged.update(state.get("env_vars", {}))
    result: Dict[str, Optional[str]] = {}
    for name, value in merged.items():
        if name in RESERVED_ENV_VARS:
            warnings.append(f"{prefix}: variable {name} is reserved; conda ignores it, so does this module")
            continue
        if value == UNSET_VALUE:
            continue
        key = name.upper() if force_uppercase else name
        if key in CONDA_VARS:
            warnings.append(f"{prefix}: variable {key} would clash with conda's own; left out")
            continue
        if not _NAME.match(key):
            raise ActivationError(f"{prefix}: environment variable name {name!r} is not a valid shell name")
        result[key] = value if isinstance(value, str) or value is None else str(value)
    return result, warnings


def _scripts(prefix: str, kind: str, extension: str) -> List[str]:
    folder = os.path.join(prefix, "etc", "conda", f"{kind}.d")
    found = sorted(os.path.join(folder, name) for name in _listdir(folder) if name.endswith(extension))
    return found[::-1] if kind == "deactivate" else found


class EnvActivation:
    """What ``conda activate PREFIX`` does, read from the environment (no conda started)."""

    def __init__(
        self,
        prefix: str,
        root_prefix: Optional[str],
        *,
        env_prompt: str = DEFAULT_ENV_PROMPT,
        changeps1: bool = True,
        force_uppercase: bool = True,
        condabin: bool = True,
    ) -> None:
        self.prefix = os.path.normpath(prefix)
        self.root_prefix = os.path.normpath(root_prefix) if root_prefix else None
        self.default_env = default_env(self.prefix, self.root_prefix)
        if changeps1:
            try:
                self.prompt_modifier = env_prompt.format(
                    default_env=self.default_env,
                    stacked_env=self.default_env,
                    prefix=self.prefix,
                    name=os.path.basename(self.prefix),
                )
            except (KeyError, IndexError, ValueError) as exc:
                raise ActivationError(f"env_prompt: {env_prompt!r} cannot be formatted ({exc})") from None
        else:
            self.prompt_modifier = ""
        self.path_dirs = [os.path.join(self.prefix, "bin")]  # _get_path_dirs on Linux and macOS
        self.condabin = os.path.join(self.root_prefix, "condabin") if (condabin and self.root_prefix) else None
        own, self.warnings = environment_vars(self.prefix, force_uppercase)
        #: The environment's own variables it exports, and those it unsets (JSON null; restored at deactivation).
        self.env_vars: Dict[str, str] = {key: value for key, value in own.items() if value is not None}
        self.unset_vars: List[str] = [key for key, value in own.items() if value is None]
        self.activate_scripts = {ext: _scripts(self.prefix, "activate", ext) for ext in (".sh", ".csh")}
        self.deactivate_scripts = {ext: _scripts(self.prefix, "deactivate", ext) for ext in (".sh", ".csh")}
        python = os.path.join(self.prefix, "bin", "python")
        self.python = python if os.path.exists(python) else None
        #: What each activate.d/*.sh script does, once :func:`capture_scripts` ran; None: every script at load.
        self.script_effects: Optional[List[ScriptEffect]] = None
        self.script_notes: List[str] = []

    @property
    def conda_vars(self) -> Dict[str, str]:
        """The ``CONDA_*`` variables of the activation, in conda's order."""
        return {
            "CONDA_PREFIX": self.prefix,
            "CONDA_SHLVL": "1",
            "CONDA_DEFAULT_ENV": self.default_env,
            "CONDA_PROMPT_MODIFIER": self.prompt_modifier,
        }

    @property
    def variables(self) -> Dict[str, str]:
        """Every variable the activation exports except ``PATH``."""
        return {**self.conda_vars, **self.env_vars}

    def module_scripts(self) -> List[Tuple[str, str]]:
        """``(shell, script)`` for modules' ``source_sh``: each ``.sh`` script (bash), csh-only ones with tcsh.

        Scripts whose effect :func:`capture_scripts` wrote into the modulefile are left out.
        """
        captured = {effect.path for effect in self.script_effects or [] if effect.reason is None}
        result = [("bash", path) for path in self.activate_scripts[".sh"] if path not in captured]
        sh_stems = {path[: -len(".sh")] for path in self.activate_scripts[".sh"]}
        result += [("tcsh", p) for p in self.activate_scripts[".csh"] if p[: -len(".csh")] not in sh_stems]
        return result


def read_activation(prefix: str, root_prefix: Optional[str], **settings: object) -> EnvActivation:
    """The activation of ``prefix``; an :class:`ActivationError` when it is not a conda environment."""
    if not os.path.isdir(os.path.join(prefix, "conda-meta")):
        raise ActivationError(f"{prefix}: not a conda environment (no conda-meta directory)")
    return EnvActivation(prefix, root_prefix, **settings)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- names
def split_module_name(env_name: str) -> str:
    """The default module name of an environment: ``isis4.3.0`` -> ``isis/4.3.0``, ``tools`` -> ``tools``."""
    match = _VERSIONED.match(env_name)
    if not match:
        return env_name
    return f"{match.group('name')}/{match.group('version')}"


def validate_module_name(name: str, param: str) -> None:
    """Refuse module names that are no relative path of plain segments."""
    parts = name.split("/")
    if not name or not all(_SEGMENT.match(part) and part not in (".", "..") for part in parts):
        raise ActivationError(
            f"{param}: {name!r} is not a module name (NAME or NAME/VERSION, letters, digits, '.', '_', '+', '-')"
        )
    if name.endswith(".lua"):
        raise ActivationError(f"{param}: {name!r} must not end in .lua (the Lmod file gets that suffix)")


def kernel_name_for(env_name: str) -> str:
    """A kernelspec directory name (``[a-z0-9._-]``) for an environment name."""
    return _KERNEL_BAD.sub("-", env_name.lower()).strip(".") or "conda-env"


def display_name_for(module_name: str) -> str:
    """``isis/4.3.0`` -> ``ISIS 4.3.0`` (the name upper-cased, as release names are written)."""
    name, _sep, version = module_name.rpartition("/")
    return f"{name.upper()} {version}" if name else module_name


# --------------------------------------------------------------------------------------------- renderers
def _lua(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + escaped.replace("\0", "\\0") + '"'


def _tcl(value: str) -> str:
    out = value.replace("\\", "\\\\")
    for char in '"$[]{}':
        out = out.replace(char, "\\" + char)
    return '"' + out.replace("\n", "\\n").replace("\r", "\\r") + '"'


def _sh(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _csh(value: str) -> str:
    if "\n" in value:
        raise ActivationError(f"value {value!r}: csh cannot hold a newline in a variable")
    return "'" + value.replace("'", "'\\''").replace("!", "\\!") + "'"


def _header(comment: str, act: EnvActivation, what: str) -> List[str]:
    return [
        f"{comment} Managed by {MARKER}: {what} of the conda environment {act.prefix}.",
        f"{comment} Generated from the environment (what `conda activate` does); rewritten when it changes.",
    ]


def render_lmod(act: EnvActivation, module_name: str) -> str:
    """An Lmod modulefile (Lua); unloading undoes it (``pushenv`` restores, ``source_sh`` needs Lmod 8.6+)."""
    name, _sep, version = module_name.rpartition("/")
    lines = _header("--", act, "Lmod modulefile")
    lines += [
        f"whatis({_lua('Name: ' + (name or module_name))})",
        f"whatis({_lua('Version: ' + version)})" if name else None,
        f"whatis({_lua('Description: conda environment ' + act.default_env + ' (' + act.prefix + ')')})",
        f"help({_lua('Loads the conda environment ' + act.prefix + ' as `conda activate` would, without conda.')})",
        f"family({_lua(FAMILY)})",
    ]
    if act.condabin:
        lines.append(f'prepend_path("PATH", {_lua(act.condabin)})')
    lines += [f'prepend_path("PATH", {_lua(path)})' for path in reversed(act.path_dirs)]
    lines += [f"pushenv({_lua(key)}, {_lua(value)})" for key, value in act.variables.items()]
    # conda "unsets" a JSON null: csh unsetenv, POSIX shells export NAME=''; unloading gives the value before back
    lines += [
        f'if myShellType() == "csh" then pushenv({_lua(key)}, false) else pushenv({_lua(key)}, "") end'
        for key in act.unset_vars
    ]
    lines += _effect_lines(act, "--", _lmod_op)
    lines += [f"source_sh({_lua(shell)}, {_lua(script)})" for shell, script in act.module_scripts()]
    return "\n".join(line for line in lines if line is not None) + "\n"


def _lmod_op(op: str, name: str, value: object) -> List[str]:
    if op == "set":
        return [f"pushenv({_lua(name)}, {_lua(str(value))})"]
    if op == "unset":
        return [f"unsetenv({_lua(name)})"]
    entries = list(value)  # type: ignore[call-overload]
    if op == "prepend":
        return [f"prepend_path({_lua(name)}, {_lua(entry)})" for entry in reversed(entries)]
    return [f"append_path({_lua(name)}, {_lua(entry)})" for entry in entries]


def _tcl_op(op: str, name: str, value: object) -> List[str]:
    if op == "set":
        return [f"cpkgs_setenv {_tcl(name)} {_tcl(str(value))}"]
    if op == "unset":
        return [f"unsetenv {_tcl(name)}"]
    entries = list(value)  # type: ignore[call-overload]
    if op == "prepend":
        return [f"prepend-path {_tcl(name)} {_tcl(entry)}" for entry in reversed(entries)]
    return [f"append-path {_tcl(name)} {_tcl(entry)}" for entry in entries]


def _effect_lines(act: EnvActivation, comment: str, render: Callable[[str, str, object], List[str]]) -> List[str]:
    """The captured scripts' effects, each after a comment naming the script and its sha256; then a comment
    for each script that runs at load (and why)."""
    lines: List[str] = []
    for effect in act.script_effects or []:
        where = os.path.relpath(effect.path, act.prefix)
        if effect.reason is None:
            lines.append(f"{comment} {where} (sha256 {effect.digest}): its effect, captured at generation")
            for op, name, value in effect.ops:
                lines += render(op, name, value)
        else:
            lines.append(f"{comment} {where} (sha256 {effect.digest}): runs at each load, {effect.reason}")
    return lines


def render_tcl(act: EnvActivation, module_name: str) -> str:
    """An Environment Modules modulefile (Tcl); ``pushenv``/``family`` from Modules 5.1, ``source-sh`` 4.6."""
    lines = ["#%Module1.0", *_header("##", act, "Environment Modules modulefile")]
    lines += [
        f"module-whatis {_tcl('conda environment ' + act.default_env + ' (' + act.prefix + ')')}",
        "proc ModulesHelp {} {",
        f"    puts stderr {_tcl('Loads the conda environment ' + act.prefix + ' as `conda activate` would.')}",
        "}",
        "# pushenv restores the previous value at unload (Modules 5.1+); older Modules only has setenv.",
        "proc cpkgs_setenv {name value} {",
        "    if {[info commands pushenv] ne {}} { pushenv $name $value } else { setenv $name $value }",
        "}",
        f"if {{[info commands family] ne {{}}}} {{ family {FAMILY} }}",
    ]
    if act.unset_vars:
        lines += [
            "# unsetenv restores nothing at unload: keep the value before in __CPKGS_OLD_NAME and give it back then.",
            "proc cpkgs_unsetenv {name} {",
            '    set saved "__CPKGS_OLD_$name"',
            "    if {[module-info mode unload]} {",
            "        if {[info exists ::env($saved)]} { unsetenv $name $::env($saved) } else { unsetenv $name }",
            "        setenv $saved {}",
            "    } else {",
            "        if {[info exists ::env($name)]} { setenv $saved $::env($name) }",
            "        unsetenv $name",
            "    }",
            "}",
        ]
    if act.condabin:
        lines.append(f"prepend-path PATH {_tcl(act.condabin)}")
    lines += [f"prepend-path PATH {_tcl(path)}" for path in reversed(act.path_dirs)]
    lines += [f"cpkgs_setenv {_tcl(key)} {_tcl(value)}" for key, value in act.variables.items()]
    # conda "unsets" a JSON null: csh unsetenv, POSIX shells export NAME=''
    for key in act.unset_vars:
        csh, sh = f"cpkgs_unsetenv {_tcl(key)}", f"cpkgs_setenv {_tcl(key)} {{}}"
        lines.append(f"if {{[module-info shelltype] eq {{csh}}}} {{ {csh} }} else {{ {sh} }}")
    lines += _effect_lines(act, "#", _tcl_op)
    lines += [f"source-sh {shell} {_tcl(script)}" for shell, script in act.module_scripts()]
    return "\n".join(lines) + "\n"


def _sh_path_remove(var: str, entry: str) -> List[str]:
    """POSIX sh lines that drop the first ``entry`` from ``$var`` (no subshell, no external command)."""
    return [
        f'    _cpkgs_rest="${var}:" _cpkgs_new= _cpkgs_first=1 _cpkgs_done=',
        '    while [ -n "$_cpkgs_rest" ]; do',
        '        _cpkgs_e="${_cpkgs_rest%%:*}"; _cpkgs_rest="${_cpkgs_rest#*:}"',
        f'        if [ -z "$_cpkgs_done" ] && [ "$_cpkgs_e" = {_sh(entry)} ]; then _cpkgs_done=1; continue; fi',
        '        if [ -n "$_cpkgs_first" ]; then _cpkgs_new="$_cpkgs_e" _cpkgs_first=; '
        'else _cpkgs_new="$_cpkgs_new:$_cpkgs_e"; fi',
        "    done",
        f'    {var}="$_cpkgs_new"; export {var}',
    ]


def render_sh(act: EnvActivation) -> str:
    """``activate.sh``: source it in bash, zsh or sh; ``deactivate`` (a shell function) undoes it."""
    names = [*act.variables, *act.unset_vars]
    lines = ["# shellcheck shell=sh", *_header("#", act, "plain shell entry (bash, zsh, sh)")]
    lines += [
        f"# Use: . {act.prefix}/{ENTRY_DIR}/activate.sh    and later: deactivate",
        "# Like `conda activate` from a shell where no conda environment is active (CONDA_SHLVL 0 or unset).",
        'if [ -n "${_CPKGS_ACTIVE_PREFIX:-}" ]; then deactivate; fi',
        f"_CPKGS_ACTIVE_PREFIX={_sh(act.prefix)}",
    ]
    for key in [*names, "PS1"]:
        lines.append(f'if [ -n "${{{key}+x}}" ]; then _CPKGS_OLD_{key}="${key}"; else unset _CPKGS_OLD_{key}; fi')
    lines.append("_CPKGS_ADDED_CONDABIN=")
    if act.condabin:
        lines += [
            'case ":${PATH:-}:" in',
            "    *condabin:*) ;;",
            f'    *) if [ "${{CONDA_SHLVL:-0}}" = 0 ]; then PATH={_sh(act.condabin)}"${{PATH:+:$PATH}}"; '
            "_CPKGS_ADDED_CONDABIN=1; fi ;;",
            "esac",
        ]
    path_dirs = ":".join(act.path_dirs)
    lines.append(f'PATH={_sh(path_dirs)}"${{PATH:+:$PATH}}"; export PATH')
    if act.prompt_modifier:
        lines.append(f'PS1={_sh(act.prompt_modifier)}"${{PS1:-}}"')
    lines += [f"export {key}={_sh(value)}" for key, value in act.variables.items()]
    lines += [f"export {key}=''" for key in act.unset_vars]  # how conda's POSIX activator "unsets" (JSON null)
    lines += [f". {_sh(script)}" for script in act.activate_scripts[".sh"]]
    lines += ["deactivate() {"]
    lines += [f"    . {_sh(script)}" for script in act.deactivate_scripts[".sh"]]
    for key in [*names, "PS1"]:
        export = "" if key == "PS1" else f"; export {key}"
        lines.append(
            f'    if [ -n "${{_CPKGS_OLD_{key}+x}}" ]; then {key}="$_CPKGS_OLD_{key}"{export}; '
            f"else unset {key}; fi; unset _CPKGS_OLD_{key}"
        )
    for entry in act.path_dirs:
        lines += _sh_path_remove("PATH", entry)
    if act.condabin:
        lines.append('    if [ -n "$_CPKGS_ADDED_CONDABIN" ]; then')
        lines += ["    " + line for line in _sh_path_remove("PATH", act.condabin)]
        lines.append("    fi")
    lines += [
        "    unset _cpkgs_rest _cpkgs_new _cpkgs_first _cpkgs_done _cpkgs_e _CPKGS_ADDED_CONDABIN _CPKGS_ACTIVE_PREFIX",
        "    unset -f deactivate",
        '    if [ -n "${ZSH_VERSION:-}" ]; then rehash; else hash -r 2>/dev/null || true; fi',
        "}",
        'if [ -n "${ZSH_VERSION:-}" ]; then rehash; else hash -r 2>/dev/null || true; fi',
    ]
    return "\n".join(lines) + "\n"


def _csh_path_remove(entry: str) -> List[str]:
    return [
        "set _cpkgs_new=()",
        "set _cpkgs_done=0",
        "foreach _cpkgs_e ( $path:q )",
        f'    if ( $_cpkgs_done == 0 && "$_cpkgs_e" == {_csh(entry)} ) then',
        "        set _cpkgs_done=1",
        "    else",
        "        set _cpkgs_new=( $_cpkgs_new:q $_cpkgs_e:q )",
        "    endif",
        "end",
        "set path=( $_cpkgs_new:q )",
    ]


def render_csh(act: EnvActivation) -> Tuple[str, str]:
    """``activate.csh`` and ``deactivate.csh``: source the first in tcsh; the alias ``deactivate`` undoes it."""
    names = [*act.variables, *act.unset_vars]
    entry = os.path.join(act.prefix, ENTRY_DIR)
    act_lines = ["# tcsh / csh", *_header("#", act, "plain shell entry (tcsh, csh)")]
    act_lines += [
        f"# Use: source {entry}/activate.csh    and later: deactivate",
        "if ( $?_CPKGS_ACTIVE_PREFIX ) then",
        f"    source {_csh(entry + '/deactivate.csh')}",
        "endif",
        f"set _CPKGS_ACTIVE_PREFIX={_csh(act.prefix)}",
    ]
    for key in names:
        act_lines += [
            f"if ( $?{key} ) then",
            f"    set _cpkgs_old_{key}=${key}:q",
            "else",
            f"    unset _cpkgs_old_{key}",
            "endif",
        ]
    act_lines += [
        "if ( $?prompt ) then",
        "    set _cpkgs_old_prompt=$prompt:q",
        "else",
        "    unset _cpkgs_old_prompt",
        "endif",
        "set _cpkgs_added_condabin=0",
    ]
    if act.condabin:
        act_lines += [
            "set _cpkgs_found=0",
            "foreach _cpkgs_e ( $path:q )",
            '    if ( "$_cpkgs_e" =~ *condabin ) set _cpkgs_found=1',
            "end",
            "set _cpkgs_shlvl=0",
            "if ( $?CONDA_SHLVL ) then",
            '    if ( "$CONDA_SHLVL" != "" ) set _cpkgs_shlvl="$CONDA_SHLVL"',
            "endif",
            'if ( $_cpkgs_found == 0 && "$_cpkgs_shlvl" == "0" ) then',
            f"    set path=( {_csh(act.condabin)} $path:q )",
            "    set _cpkgs_added_condabin=1",
            "endif",
            "unset _cpkgs_found _cpkgs_shlvl _cpkgs_e",
        ]
    act_lines.append(f"set path=( {' '.join(_csh(p) for p in act.path_dirs)} $path:q )")
    if act.prompt_modifier:
        act_lines += [
            "if ( $?prompt ) then",
            f"    set prompt={_csh(act.prompt_modifier)}$prompt:q",
            "else",
            f"    set prompt={_csh(act.prompt_modifier)}",
            "endif",
        ]
    act_lines += [f"setenv {key} {_csh(value)}" for key, value in act.variables.items()]
    act_lines += [f"unsetenv {key}" for key in act.unset_vars]
    act_lines += [f"source {_csh(script)}" for script in act.activate_scripts[".csh"]]
    act_lines.append(f"alias deactivate {_csh('source ' + _csh(entry + '/deactivate.csh'))}")
    deact = ["# tcsh / csh", *_header("#", act, "deactivation of the plain shell entry")]
    deact += [f"source {_csh(script)}" for script in act.deactivate_scripts[".csh"]]
    for key in names:
        deact += [
            f"if ( $?_cpkgs_old_{key} ) then",
            f"    setenv {key} $_cpkgs_old_{key}:q",
            f"    unset _cpkgs_old_{key}",
            "else",
            f"    unsetenv {key}",
            "endif",
        ]
    deact += [
        "if ( $?_cpkgs_old_prompt ) then",
        "    set prompt=$_cpkgs_old_prompt:q",
        "    unset _cpkgs_old_prompt",
        "endif",
    ]
    for path in act.path_dirs:
        deact += _csh_path_remove(path)
    if act.condabin:
        deact += ["if ( $_cpkgs_added_condabin == 1 ) then"]
        deact += ["    " + line for line in _csh_path_remove(act.condabin)]
        deact += ["endif"]
    deact += [
        "unset _cpkgs_new _cpkgs_done _cpkgs_e _cpkgs_added_condabin _CPKGS_ACTIVE_PREFIX",
        "unalias deactivate",
        "rehash",
    ]
    return "\n".join(act_lines) + "\n", "\n".join(deact) + "\n"


def script_changes(act: EnvActivation, run_command: Optional[RunCommand], base_path: str) -> Dict[str, str]:
    """Variables the ``activate.d/*.sh`` scripts set or change, found by running them once in ``sh``.

    For the kernelspec, which cannot run scripts. The scripts run in a small environment (``HOME``, ``PATH``
    and the activation's variables); ``PATH`` is reported with ``${PATH}`` for the base part. Without scripts
    (or without ``run_command``) nothing runs.
    """
    scripts = act.activate_scripts[".sh"]
    if not scripts or run_command is None:
        return {}
    shell = shutil.which("sh") or "/bin/sh"
    path = ":".join([*act.path_dirs, *([act.condabin] if act.condabin else []), base_path])
    environ = {"HOME": os.environ.get("HOME", "/"), "PATH": path, **act.variables, **dict.fromkeys(act.unset_vars, "")}
    code = 'for _cpkgs_s in "$@"; do . "$_cpkgs_s" || exit $?; done; unset _cpkgs_s; exec env -0'
    argv = ["env", "-i", *(f"{k}={v}" for k, v in environ.items()), shell, "-c", code, "sh", *scripts]
    rc, out, err = run_command(argv)
    if rc != 0:
        raise ActivationError(f"{act.prefix}: activate.d scripts failed (rc {rc}): {err.strip()}")
    after = dict(item.split("=", 1) for item in out.split("\0") if "=" in item)
    changes = {}
    for key, value in after.items():
        if key in ("PWD", "SHLVL", "_", "OLDPWD") or environ.get(key) == value:
            continue
        changes[key] = value.replace(base_path, "${PATH}") if key == "PATH" else value
    return changes


# --------------------------------------------------------------------------------------------- captured scripts
SENTINEL = "/cpkgs-probe-sentinel"
#: The shell's own variables: never compared.
_SHELL_OWN = ("_", "SHLVL", "PWD", "OLDPWD")
#: Variables a probe never presets; a script that changes one (PATH aside) runs at load.
_NEVER_PRESET = re.compile(
    r"^(?:IFS|PS[0-9]|ENV|BASH.*|SHELLOPTS|POSIXLY_CORRECT|CDPATH|HOME|PATH|PWD|OLDPWD|SHLVL|LD_PRELOAD|LD_AUDIT|"
    r"DYLD_.*|GLOBIGNORE|PROMPT_COMMAND|HIST.*|TMOUT|OPTIND|OPTARG|RANDOM|SECONDS|LINENO|UID|EUID|PPID|GROUPS|"
    r"USER|LOGNAME|TERM|LANG|LANGUAGE|LC_.*|TZ|TMPDIR|_)$"
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROBE = r"""
_cpkgs_o=$1 _cpkgs_env=$2; shift 2
cd "$_cpkgs_o/cwd" || exit 97
_cpkgs_snap() {
    "$_cpkgs_env" -0 > "$_cpkgs_o/out/$1.env"
    { declare -F; echo --; alias -p; echo --; set +o; shopt -p; trap -p; umask; pwd -P; } \
        > "$_cpkgs_o/out/$1.shell" 2>&1
    { ls -A "$_cpkgs_o/home" "$_cpkgs_o/cwd"; } > "$_cpkgs_o/out/$1.files" 2>&1
}
_cpkgs_i=0
for _cpkgs_s in "$@"; do
    _cpkgs_snap "$_cpkgs_i.before"
    . "$_cpkgs_s" > "$_cpkgs_o/out/$_cpkgs_i.out" 2> "$_cpkgs_o/out/$_cpkgs_i.err"
    echo "$?" > "$_cpkgs_o/out/$_cpkgs_i.rc"
    _cpkgs_snap "$_cpkgs_i.after"
    _cpkgs_i=$((_cpkgs_i + 1))
done
"""


class ScriptEffect:
    """What one ``activate.d`` script does: ``ops`` (``(op, name, value)``, op ``set``/``unset``/``prepend``/
    ``append``, value a string or a list of entries) when it is static, else the ``reason`` it runs at load."""

    def __init__(self, path: str, digest: str, ops: List[Tuple[str, str, object]], reason: Optional[str]) -> None:
        self.path = path
        self.digest = digest
        self.ops = ops
        self.reason = reason


def _read_text(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "surrogateescape")  # bytes that are not UTF-8 stay visible
    except OSError:
        return None


def _is_utf8(value: str) -> bool:
    try:
        value.encode()  # UTF-8; a byte that was not decodes to a lone surrogate, which does not encode
    except UnicodeEncodeError:
        return False
    return True


def _parse_env(text: Optional[str]) -> Optional[Dict[str, str]]:
    if text is None:
        return None
    return dict(item.split("=", 1) for item in text.split("\0") if "=" in item)


def _split_around(value: str, inner: str) -> Optional[Tuple[List[str], List[str]]]:
    """``value`` as ``PRE:inner:POST`` (PRE, POST lists of non-empty entries), or None."""
    start = value.find(inner)
    while start >= 0:
        left, right = value[:start], value[start + len(inner) :]
        if (not left or left.endswith(":")) and (not right or right.startswith(":")):
            pre = left[:-1].split(":") if left else []
            post = right[1:].split(":") if right else []
            if all(pre) and all(post):
                return pre, post
        start = value.find(inner, start + 1)
    return None


def _classify(
    a0: Optional[str], a1: Optional[str], b0: Optional[str], b1: Optional[str]
) -> Optional[List[Tuple[str, object]]]:
    """The operations that turn ``a0`` into ``a1`` and ``b0`` into ``b1`` alike; [] unchanged; None if none can."""
    if a0 == a1 and b0 == b1:
        return []
    if a1 is None or b1 is None:
        return [("unset", None)] if a1 is None and b1 is None else None
    if a1 == b1:
        return [("set", a1)] if a1 else None  # an empty value: Lmod and Modules differ on it, so run the script
    parts = _split_around(b1, b0) if b0 else None
    if parts is None or not (parts[0] or parts[1]) or a1 != ":".join(parts[0] + ([a0] if a0 else []) + parts[1]):
        return None
    return ([("prepend", parts[0])] if parts[0] else []) + ([("append", parts[1])] if parts[1] else [])


def _probe(
    run_command: RunCommand, bash: str, scripts: List[str], base: str, environ: Dict[str, str]
) -> List[Dict[str, Optional[str]]]:
    """Run the scripts in one bash under ``environ`` (``HOME``, the working directory, fresh ones in ``base``);
    per script the snapshots before and after it (``None`` where the shell never got there)."""
    for sub in ("home", "cwd", "out"):
        os.mkdir(os.path.join(base, sub))
    env_exe = shutil.which("env") or "/usr/bin/env"
    environ = {**environ, "HOME": os.path.join(base, "home")}
    argv = [env_exe, "-i", *(f"{k}={v}" for k, v in sorted(environ.items()))]
    argv += [bash, "--norc", "--noprofile", "-c", _PROBE, "cpkgs-probe", base, env_exe, *scripts]
    run_command(argv)
    out = os.path.join(base, "out")
    result = []
    for index in range(len(scripts)):
        item: Dict[str, Optional[str]] = {}
        for name in ("before.env", "after.env", "before.shell", "after.shell", "before.files", "after.files",
                     "out", "err", "rc"):  # fmt: skip
            item[name] = _read_text(os.path.join(out, f"{index}.{name}"))
        result.append(item)
    return result


def _run_reason(run: Dict[str, Optional[str]]) -> Optional[str]:
    """Why one run of a script shows that it does more than change variables, or None."""
    if run["after.env"] is None or run["rc"] is None:
        return "as it ends the shell (exit) or stops it"
    if not all("\0CONDA_SHLVL=1\0" in "\0" + (run[key] or "") for key in ("before.env", "after.env")):
        return "as the probe could not read the environment (env -0) around it"
    before = (run["before.shell"] or "").split("--\n", 2)
    after = (run["after.shell"] or "").split("--\n", 2)
    checks = [
        (run["rc"].strip() != "0", f"as it returns status {run['rc'].strip()}"),
        (bool(run["out"] or run["err"]), f"as it prints output ({(run['out'] or run['err'] or '').strip()[:60]!r})"),
        (before[:1] != after[:1], "as it defines or removes a shell function"),
        (before[1:2] != after[1:2], "as it defines or removes an alias"),
        (before != after, "as it changes the shell (options, traps, umask or directory)"),
        (run["before.files"] != run["after.files"], "as it writes into HOME or the working directory"),
    ]
    return next((reason for failed, reason in checks if failed), None)


def _script_reason(a: Dict[str, Optional[str]], b: Dict[str, Optional[str]]) -> Optional[str]:
    """Why a script cannot be captured from its two runs ``a`` and ``b`` (None: its effect is the env diff)."""
    return _run_reason(a) or _run_reason(b)


def _script_ops(a: Dict[str, Optional[str]], b: Dict[str, Optional[str]]) -> Tuple[List[Tuple[str, str, object]], str]:
    """The operations of a script from its two runs; ([], reason) when one variable's change is not static."""
    envs = [_parse_env(run[key]) or {} for run in (a, b) for key in ("before.env", "after.env")]
    names = sorted(set().union(*envs) - set(_SHELL_OWN))
    ops: List[Tuple[str, str, object]] = []
    for name in names:
        change = _classify(*(env.get(name) for env in envs))
        if change is None:
            return [], f"as its effect on {name} differs between runs with other HOME, PWD, user or earlier values"
        if change and name != "PATH" and _NEVER_PRESET.match(name):
            return [], f"as it changes {name}, a variable of the shell or the session"
        after = envs[1].get(name)  # the activation's values are text: a byte that is not comes from the script
        if change and after is not None and not _is_utf8(after):
            return [], f"as it sets {name} to a value that is not UTF-8 text"
        ops += [(op, name, value) for op, value in change]
    return ops, ""


def capture_scripts(act: EnvActivation, run_command: Optional[RunCommand], base_path: str = "/usr/bin:/bin") -> None:
    """Set ``act.script_effects``: what each ``activate.d/*.sh`` script does, when that is static.

    The scripts run in order in bash (as Lmod's ``source_sh`` runs them) twice, in empty temporary ``HOME`` and
    working directories: run A with the activation's variables and ``PATH``; run B with another ``HOME``,
    working directory and user, a longer ``PATH``, and every variable the scripts name or run A changed preset
    to a sentinel. A script is captured when both runs agree on each variable it changes (the same value, or the
    same entries before or after the earlier value) and it does nothing else visible. The first script that is
    not, and every later one, runs at each load. Without ``run_command`` or bash every script runs at load.
    """
    scripts = act.activate_scripts[".sh"]
    digests = []
    texts = []
    for path in scripts:
        try:
            data = read_file(path) or b""
        except FileError as exc:
            raise ActivationError(exc.message) from None
        digests.append(hashlib.sha256(data).hexdigest())
        texts.append(data.decode("utf-8", "replace"))
    bash = shutil.which("bash")
    if not scripts or run_command is None or bash is None:
        why = "as no bash was found where the files were generated" if run_command else "as the capture was not run"
        act.script_effects = [ScriptEffect(path, digests[i], [], why) for i, path in enumerate(scripts)]
        return
    path = ":".join([*act.path_dirs, *([act.condabin] if act.condabin else []), base_path])
    start = {**act.variables, **dict.fromkeys(act.unset_vars, ""), "PATH": path}  # the scripts run after the exports
    tmp = tempfile.mkdtemp(prefix="cpkgs-activate-probe.")
    try:
        os.mkdir(os.path.join(tmp, "a"))
        os.mkdir(os.path.join(tmp, "b"))
        run_a = _probe(run_command, bash, scripts, os.path.join(tmp, "a"),
                       {**start, "USER": "cpkgs-probe-a", "LOGNAME": "cpkgs-probe-a"})  # fmt: skip
        changed = set()
        for run in run_a:
            before, after = _parse_env(run["before.env"]) or {}, _parse_env(run["after.env"]) or {}
            changed |= {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        named = {word for text in texts for word in _WORD.findall(text)}
        preset = {n for n in (named | changed) if n not in start and not _NEVER_PRESET.match(n)}
        run_b = _probe(run_command, bash, scripts, os.path.join(tmp, "b"),
                       {**start, **dict.fromkeys(preset, SENTINEL), "PATH": path + ":" + SENTINEL + "/bin",
                        "USER": "cpkgs-probe-b", "LOGNAME": "cpkgs-probe-b"})  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    effects: List[ScriptEffect] = []
    first_dynamic = None
    for index, script in enumerate(scripts):
        digest, a, b = digests[index], run_a[index], run_b[index]
        if first_dynamic is not None:
            reason = f"as an earlier script ({os.path.basename(first_dynamic)}) does"
            effects.append(ScriptEffect(script, digest, [], reason))
            continue
        reason = _script_reason(a, b)
        ops: List[Tuple[str, str, object]] = []
        if reason is None:
            ops, reason = _script_ops(a, b)
        if reason:
            first_dynamic = script
            act.script_notes.append(f"{script}: runs at each load of the modulefiles (source_sh), {reason}")
            effects.append(ScriptEffect(script, digest, [], reason))
        else:
            effects.append(ScriptEffect(script, digest, ops, None))
    act.script_effects = effects


def render_kernel(act: EnvActivation, display_name: str, extra_env: Dict[str, str]) -> str:
    """``kernel.json``: the env's python with ipykernel, and the activation as ``env``."""
    path = ":".join([*act.path_dirs, *([act.condabin] if act.condabin else []), "${PATH}"])
    # a kernelspec's env can only set: a variable conda unsets (JSON null) is empty, as in a POSIX shell
    env = {"PATH": path, **act.variables, **dict.fromkeys(act.unset_vars, ""), **extra_env}
    spec = {
        "argv": [act.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
        "env": env,
        "metadata": {"cpkgs": {"managed_by": MARKER, "prefix": act.prefix}, "debugger": True},
    }
    return json.dumps(spec, indent=1, sort_keys=True) + "\n"


# --------------------------------------------------------------------------------------------- planning
class Output:
    """One file to write (``content``) or remove (``content`` None).

    ``stop``: the directory that stays when emptied directories are removed after a removal. ``owner``: for a
    removal of a file found by its marker, the environment it must still name when removed.
    """

    def __init__(
        self, fmt: str, path: str, content: Optional[str], *, stop: Optional[str] = None, owner: Optional[str] = None
    ) -> None:
        self.fmt = fmt
        self.path = path
        self.content = content
        self.stop = stop or os.path.dirname(path)
        self.owner = owner

    def current(self) -> Optional[bytes]:
        try:
            return read_file(self.path)
        except FileError as exc:
            raise ActivationError(exc.message) from None

    def needs_change(self) -> Tuple[bool, Optional[str]]:
        """(changed, text before) comparing content and a world-readable mode with what is there."""
        before = self.current()
        text = None if before is None else before.decode("utf-8", "replace")
        if self.content is None:
            if before is not None and self.owner is not None and not self._still_owned(before):
                return False, text  # no longer this environment's (another one took the name in this run)
            return before is not None, text
        if before != self.content.encode("utf-8"):
            return True, text
        return stat.S_IMODE(os.stat(self.path).st_mode) & 0o444 != 0o444, text

    def _still_owned(self, data: bytes) -> bool:
        if self.fmt == "kernel":
            return _is_ours(self.path, str(self.owner))
        return _modulefile_owner(data) == (self.fmt, self.owner)

    def apply(self) -> None:
        if self.content is None:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise ActivationError(f"cannot remove {self.path}: {exc.strerror}") from None
            _remove_empty_dirs(os.path.dirname(self.path), self.stop)
            return
        _make_dirs(os.path.dirname(self.path))
        try:
            write_file(self.path, self.content.encode("utf-8"), new_mode=FILE_MODE, umask=0o022)
            # an existing file keeps its mode: make it readable by everyone, as a new one is
            os.chmod(self.path, stat.S_IMODE(os.stat(self.path).st_mode) | 0o444)
        except FileError as exc:
            raise ActivationError(exc.message) from None


def _make_dirs(path: str) -> None:
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
            os.chmod(directory, DIR_MODE)
        except FileExistsError:
            pass
        except OSError as exc:
            raise ActivationError(f"cannot create {directory}: {exc.strerror}") from None


def _remove_empty_dirs(path: str, stop: str) -> None:
    """Remove ``path`` and its parents while empty, up to ``stop`` (which stays)."""
    stop = os.path.normpath(stop)
    path = os.path.normpath(path)
    while path != stop and path.startswith(stop + os.sep):
        try:
            os.rmdir(path)
        except OSError:
            return
        path = os.path.dirname(path)


def _modulefile_owner(head: bytes) -> Optional[Tuple[str, str]]:
    """``(format, prefix)`` when ``head`` (a file's start) has this module's modulefile header, else None."""
    lines = head.decode("utf-8", "replace").split("\n")
    candidates = [(lines[0], "lmod")]
    if lines[0].startswith("#%Module") and len(lines) > 1:
        candidates = [(lines[1], "tcl")]
    for line, fmt in candidates:
        match = _HEADER.match(line)
        if match and match.group("kind") == MODULE_KINDS[fmt]:
            return fmt, match.group("prefix")
    return None


def generated_modulefiles(modules_dir: str) -> Dict[str, List[Tuple[str, str]]]:
    """``{prefix: [(format, path)]}``: the modulefiles under ``modules_dir`` this module wrote, by the
    environment their header names. Only regular files (no symbolic links, none followed); Lmod files end in
    ``.lua``, Environment Modules files start with ``#%Module``."""
    found: Dict[str, List[Tuple[str, str]]] = {}
    for top, dirs, files in os.walk(modules_dir):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(top, name)
            try:
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    continue
                with open(path, "rb") as handle:
                    head = handle.read(8192)
            except OSError:
                continue
            owner = _modulefile_owner(head)
            if owner is not None and (owner[0] == "lmod") == name.endswith(".lua"):
                found.setdefault(owner[1], []).append((owner[0], path))
    return found


def plan_outputs(
    act: Optional[EnvActivation],
    prefix: str,
    formats: List[str],
    *,
    module_name: str,
    modules_dir: Optional[str],
    kernel_name: str,
    kernels_dir: str,
    display_name: str,
    run_command: Optional[RunCommand] = None,
    owned: Optional[Dict[str, List[Tuple[str, str]]]] = None,
) -> Tuple[List[Output], List[str]]:
    """The files of one environment (``act`` None: remove them) and notes on what was left out.

    Modulefiles this module wrote earlier for the same environment under another name (``owned``, from
    :func:`generated_modulefiles` of ``modules_dir``, scanned here when not given) are removed.
    """
    outputs: List[Output] = []
    notes: List[str] = []
    prefix = os.path.normpath(prefix)
    entry = os.path.join(prefix, ENTRY_DIR)
    unknown = [fmt for fmt in formats if fmt not in FORMATS]
    if unknown:
        raise ActivationError(f"formats: {unknown[0]!r} is not one of {', '.join(FORMATS)}")
    if act is not None and act.script_effects is None and ("lmod" in formats or "tcl" in formats):
        capture_scripts(act, run_command)
        notes += act.script_notes
    for fmt in formats:
        if fmt in ("lmod", "tcl"):
            if not modules_dir:
                raise ActivationError(f"modules_dir: needed for format {fmt}")
            modules_dir = os.path.normpath(modules_dir)
            owned = generated_modulefiles(modules_dir) if owned is None else owned
            outputs += _module_outputs(act, prefix, fmt, module_name=module_name, modules_dir=modules_dir, owned=owned)
        elif fmt == "sh":
            content = None if act is None else render_sh(act)
            outputs.append(Output(fmt, os.path.join(entry, "activate.sh"), content, stop=prefix))
        elif fmt == "csh":
            texts = (None, None) if act is None else render_csh(act)
            outputs.append(Output(fmt, os.path.join(entry, "activate.csh"), texts[0], stop=prefix))
            outputs.append(Output(fmt, os.path.join(entry, "deactivate.csh"), texts[1], stop=prefix))
        elif fmt == "kernel":
            outputs += _kernel_outputs(
                act, prefix, kernel_name, kernels_dir=kernels_dir, display_name=display_name, run_command=run_command
            )
            if act is not None and act.python is None:
                notes.append(f"{prefix}: no bin/python, so no Jupyter kernel")
    return outputs, notes


def _kernel_outputs(
    act: Optional[EnvActivation],
    prefix: str,
    kernel_name: str,
    *,
    kernels_dir: str,
    display_name: str,
    run_command: Optional[RunCommand],
) -> List[Output]:
    """The kernelspec, and removals of this environment's kernelspecs under other names (by their metadata)."""
    kernels_dir = os.path.normpath(kernels_dir)
    path = os.path.join(kernels_dir, kernel_name, "kernel.json")
    outputs = []
    if act is not None and act.python is not None:
        extra = script_changes(act, run_command, "/usr/local/bin:/usr/bin:/bin")
        outputs.append(Output("kernel", path, render_kernel(act, display_name, extra)))
    for name in _listdir(kernels_dir):
        found = os.path.join(kernels_dir, name, "kernel.json")
        mine = (found != path or not outputs) and not os.path.islink(os.path.join(kernels_dir, name))
        if mine and _is_ours(found, prefix):
            outputs.append(Output("kernel", found, None, stop=kernels_dir, owner=prefix))
    return outputs


def _module_outputs(
    act: Optional[EnvActivation],
    prefix: str,
    fmt: str,
    *,
    module_name: str,
    modules_dir: str,
    owned: Dict[str, List[Tuple[str, str]]],
) -> List[Output]:
    """The modulefile of ``fmt``, and removals of the ones of the same environment under other names."""
    path = os.path.join(modules_dir, module_name + (".lua" if fmt == "lmod" else ""))
    content = None
    if act is not None:
        content = render_lmod(act, module_name) if fmt == "lmod" else render_tcl(act, module_name)
    outputs = [Output(fmt, path, content, stop=modules_dir)]
    for found_fmt, found in owned.get(prefix, []):
        if found_fmt == fmt and found != path:
            outputs.append(Output(fmt, found, None, stop=modules_dir, owner=prefix))
    return outputs


def _is_ours(path: str, prefix: str) -> bool:
    """Whether a kernel.json is this module's for ``prefix`` (never remove someone else's kernel)."""
    try:
        data = read_file(path)
        meta = json.loads(data.decode("utf-8")) if data else None
    except (FileError, UnicodeDecodeError, ValueError):
        return False
    for key in ("metadata", "cpkgs"):  # any other shape (a list, a string, no such key) is not ours
        meta = meta.get(key) if isinstance(meta, dict) else None
    return isinstance(meta, dict) and meta.get("prefix") == os.path.normpath(prefix)


# --------------------------------------------------------------------------------------------- a task's environments
class ActivationManager:
    """The activation files of a task's environments: what each would get, what differs, and the writes.

    ``params`` holds :data:`ACTIVATION_OPTIONS` and either ``envs`` (items of :data:`ITEM_KEYS`) or the keys of
    one item (and ``state`` for items that leave it out); ``paths`` is the tree's ``CondaPaths``. Raises
    :class:`ActivationError` naming the parameter (``envs[N].KEY``) and the value.
    """

    def __init__(self, params: dict, paths: object, run_command: Optional[RunCommand]) -> None:
        self.params = params
        self.paths = paths
        self.root_prefix = getattr(paths, "root_prefix", None)
        self.run_command = run_command
        self.envs_dirs: Optional[List[str]] = None
        self.owned: dict = {}  # modules_dir -> the modulefiles written there earlier, by environment

    def items(self) -> list:
        params = self.params
        if params.get("envs") is None:
            return [({k: params.get(k) for k in ITEM_KEYS}, "")]
        result = []
        for index, item in enumerate(params["envs"]):
            where = f"envs[{index}]"
            unknown = sorted(set(item) - set(ITEM_KEYS))
            if unknown:
                raise ActivationError(f"{where}: unknown keys {unknown} (known: {', '.join(ITEM_KEYS)})")
            state = item.get("state") or params["state"]
            if state not in ("present", "absent"):
                raise ActivationError(f"{where}.state: must be present or absent, got {state!r}")
            result.append(({**dict.fromkeys(ITEM_KEYS), **item, "state": state}, where))
        return result

    def locate(self, item: dict, where: str) -> str:
        param = f"{where}.name" if where else "name"
        if bool(item.get("name")) == bool(item.get("prefix")):
            raise ActivationError(f"{param}: give exactly one of name and prefix")
        if item.get("prefix"):
            prefix = str(item["prefix"])
            if not os.path.isabs(prefix):
                raise ActivationError(f"{where + '.' if where else ''}prefix: must be an absolute path, got {prefix!r}")
            return os.path.normpath(prefix)
        name = str(item["name"])
        if "/" in name or name in (".", ".."):
            raise ActivationError(f"{param}: {name!r} is not an environment name")
        if self.envs_dirs is None:
            self.envs_dirs = self.paths.envs_dirs()
        found = find_env(self.envs_dirs, name)
        if found:
            return found
        if item["state"] == "absent" and self.envs_dirs:
            return os.path.join(self.envs_dirs[0], name)
        raise ActivationError(f"{param}: no environment {name!r} in {', '.join(self.envs_dirs) or 'any envs_dirs'}")

    def one(self, item: dict, where: str, write: bool) -> Tuple[dict, list, List[str]]:
        """One environment: its result, its diffs and warnings; its files written when ``write``."""
        prefix = self.locate(item, where)
        env_name = os.path.basename(prefix)
        module_name = item.get("module_name") or split_module_name(env_name)
        validate_module_name(module_name, f"{where}.module_name" if where else "module_name")
        params = self.params
        act = None
        if item["state"] == "present":
            act = read_activation(
                prefix,
                self.root_prefix,
                env_prompt=params["env_prompt"],
                changeps1=params["changeps1"],
                force_uppercase=params["envvars_force_uppercase"],
                condabin=params["condabin"],
            )
        modules_dir = params["modules_dir"] or (default_modules_dir(self.root_prefix) if self.root_prefix else None)
        owned = None
        if modules_dir and ("lmod" in params["formats"] or "tcl" in params["formats"]):
            key = os.path.normpath(modules_dir)
            if key not in self.owned:
                self.owned[key] = generated_modulefiles(key)
            owned = self.owned[key]
        outputs, notes = plan_outputs(
            act,
            prefix,
            params["formats"],
            module_name=module_name,
            modules_dir=modules_dir,
            kernel_name=item.get("kernel_name") or kernel_name_for(env_name),
            kernels_dir=params["kernels_dir"],
            display_name=item.get("display_name") or display_name_for(module_name),
            run_command=self.run_command,
            owned=owned,
        )
        changed_files = []
        diffs = []
        by_format: dict = {}
        for output in outputs:
            if output.content is not None:
                by_format.setdefault(output.fmt, []).append(output.path)
            changed, before = output.needs_change()
            if not changed:
                continue
            changed_files.append(output.path)
            diffs.append(
                {
                    "before_header": output.path,
                    "after_header": output.path,
                    "before": before or "",
                    "after": output.content or "",
                }
            )
            if write:
                output.apply()
        result = {
            "name": module_name,
            "prefix": prefix,
            "state": item["state"],
            "changed": bool(changed_files),
            "files": changed_files,
            "outputs": by_format,
            "variables": act.variables if act else {},
            "unset": act.unset_vars if act else [],
            "notes": notes,
        }
        return result, diffs, (act.warnings if act else [])

    def run(self, check_mode: bool, diff: bool) -> dict:
        """Every environment of the task, in order; the module's result (``changed``, ``envs``, ``files``)."""
        results: list = []
        diffs: list = []
        warnings: List[str] = []
        for item, where in self.items():
            try:
                result, env_diffs, env_warnings = self.one(item, where, write=not check_mode)
            except ActivationError as exc:
                message = f"{where}: {exc}" if where and not str(exc).startswith(where) else str(exc)
                raise ActivationError(message, results) from None
            results.append(result)
            diffs += env_diffs
            warnings += env_warnings
        files = [path for result in results for path in result["files"]]
        out = {"changed": bool(files), "envs": results, "files": files}
        if warnings:
            out["warnings"] = warnings
        if diff:
            out["diff"] = diffs
        return out
