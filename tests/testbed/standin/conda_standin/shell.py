"""``conda shell.posix|shell.csh hook|activate|deactivate|reactivate`` of the conda stand-in.

It prints shell code for the ``conda`` function of ``etc/profile.d/conda.sh`` (or the alias of ``conda.csh``)
to eval, with the semantics of real conda 26.7.1's ``conda.activate`` (``_Activator``):

- ``activate [--stack|--no-stack] [NAME|PREFIX]`` (no argument: ``base``) sets ``CONDA_PREFIX``,
  ``CONDA_DEFAULT_ENV``, ``CONDA_PROMPT_MODIFIER`` and ``CONDA_SHLVL + 1``, saves the previous prefix as
  ``CONDA_PREFIX_<old shlvl>`` and puts ``ENV/bin`` first on ``PATH``; the previous env's ``bin`` is replaced
  unless the activation stacks (``--stack``, or ``auto_stack: N`` in ``.condarc`` while ``CONDA_SHLVL <= N``,
  then ``CONDA_STACKED_<new shlvl>`` is set). At the first activation ``ROOT/condabin`` is added when no PATH
  entry ends in ``condabin``. Activating the active env is a reactivation.
- ``deactivate`` undoes one level; ``reactivate`` re-applies the current env (after install/remove).
- ``hook`` prints ``conda.sh`` (posix) or a ``source`` of ``conda.csh``, plus ``conda activate base`` when
  ``auto_activate`` (``auto_activate_base``) is on, as conda does.

Names resolve through ``conda_standin.config`` (``envs_dirs``, ``base``/``root`` = the root prefix); a path
must hold ``conda-meta/``. Errors go to stderr with rc 1 (2 for usage) and print nothing to eval.
``etc/conda/activate.d`` and ``deactivate.d`` scripts are sourced like conda does, and the environment's own
variables are set as conda sets them (``etc/conda/env_vars.d/*`` then ``env_vars`` of ``conda-meta/state``,
``PATH`` reserved, ``***unset***`` not set, a JSON null unset, names upper-cased; a clobbered variable saved as
``__CONDA_SHLVL_<old shlvl>_<NAME>`` and restored at deactivation). Writing ``conda-meta/state``
(``conda env config vars``) is not implemented.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .config import Config, load_config, parse_condarc
from .errors import CondaStandinError, environment_location_not_found, environment_name_not_found

__all__ = ["CSH", "POSIX", "Activator", "main"]

RESERVED_ENV_NAMES = ("base", "root")
DEFAULT_ENV_PROMPT = "({default_env}) "
UNSET_VAR = "***unset***"  # conda's CONDA_ENV_VARS_UNSET_VAR
_HELP = """usage: conda shell.SHELL {hook,activate,deactivate,reactivate} [--stack|--no-stack] [ENV]

Print the shell code that the conda shell function (conda.sh / conda.csh) evaluates.
SHELL is posix (bash, zsh, sh, dash, ash) or csh (tcsh). Part of the cpkgs test-bed conda stand-in.
"""


def _sh_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _csh_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''").replace("!", "'\\!'") + "'"


@dataclass(frozen=True)
class Syntax:
    """How one shell family exports, unsets and sets variables and sources scripts."""

    name: str
    quote: Callable[[str], str]
    export_tmpl: str
    unset_tmpl: str
    set_tmpl: str
    source_tmpl: str
    command_join: str
    script_extension: str
    prompt_var: str
    profile: str

    def export(self, key: str, value: str) -> str:
        """Export ``key=value`` to the environment."""
        return self.export_tmpl.format(key=key, value=self.quote(value))

    def unset(self, key: str) -> str:
        """"Unset" ``key`` as conda does it in this shell (POSIX shells: set it empty)."""
        return self.unset_tmpl.format(key=key)

    def set(self, key: str, value: str) -> str:
        """Set a shell (not environment) variable such as the prompt."""
        return self.set_tmpl.format(key=key, value=self.quote(value))

    def source(self, path: str) -> str:
        """Source a script in the current shell."""
        return self.source_tmpl.format(path=self.quote(path))


POSIX = Syntax(
    name="posix",
    quote=_sh_quote,
    export_tmpl="export {key}={value}",
    unset_tmpl="export {key}=''",  # conda's PosixActivator.unset_var_tmpl: "unset" leaves the variable empty
    set_tmpl="{key}={value}",
    source_tmpl=". {path}",
    command_join="\n",
    script_extension=".sh",
    prompt_var="PS1",
    profile="etc/profile.d/conda.sh",
)
CSH = Syntax(
    name="csh",
    quote=_csh_quote,
    export_tmpl="setenv {key} {value}",
    unset_tmpl="unsetenv {key}",
    set_tmpl="set {key}={value}",
    source_tmpl="source {path}",
    command_join=";\n",
    script_extension=".csh",
    prompt_var="prompt",
    profile="etc/profile.d/conda.csh",
)
SHELLS: dict[str, Syntax] = {
    "posix": POSIX,
    "bash": POSIX,
    "zsh": POSIX,
    "sh": POSIX,
    "dash": POSIX,
    "ash": POSIX,
    "csh": CSH,
    "tcsh": CSH,
}


def _usage_error(message: str) -> CondaStandinError:
    return CondaStandinError("ArgumentError", message, rc=2)


def _norm(path: str) -> str:
    return os.path.normpath(path)


def _flag(value: object, default: bool) -> bool:
    """A ``.condarc``/environment boolean (``true``/``false``/``1``/``0``/``yes``/``no``)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Commands:
    """What one operation changes, in the order conda emits it (``_Activator._yield_commands``)."""

    export_path: dict[str, str] = field(default_factory=dict)
    deactivate_scripts: list[str] = field(default_factory=list)
    unset_vars: list[str] = field(default_factory=list)
    set_vars: dict[str, str] = field(default_factory=dict)
    export_vars: dict[str, str] = field(default_factory=dict)
    activate_scripts: list[str] = field(default_factory=list)

    def render(self, syntax: Syntax) -> str:
        """The shell code, one command per line, terminated like conda's (``command_join`` at the end)."""
        lines = [syntax.export(key, value) for key, value in sorted(self.export_path.items())]
        lines += [syntax.source(script) for script in self.deactivate_scripts]
        lines += [syntax.unset(key) for key in self.unset_vars]
        lines += [syntax.set(key, value) for key, value in self.set_vars.items()]
        lines += [syntax.export(key, value) for key, value in self.export_vars.items()]
        lines += [syntax.source(script) for script in self.activate_scripts]
        return syntax.command_join.join([*lines, ""])


class Activator:
    """conda's activation logic for one shell family, one root prefix and one environment (``os.environ``)."""

    def __init__(
        self,
        syntax: Syntax,
        root_prefix: str,
        environ: Mapping[str, str] | None = None,
        config: Config | None = None,
    ) -> None:
        self.syntax = syntax
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.root_prefix = _norm(root_prefix)
        self.config = config if config is not None else load_config(self.root_prefix, self.environ)
        self._rc = self._read_scalars()

    # ----- configuration -----------------------------------------------------------------------------------
    def _read_scalars(self) -> dict[str, object]:
        """Scalars of the ``.condarc`` files (highest priority last wins) that ``Config`` does not expose."""
        scalars: dict[str, object] = {}
        for rc_file in self.config.rc_files:
            try:
                data = parse_condarc(Path(rc_file).read_text(encoding="utf-8"), rc_file)
            except (OSError, ValueError):
                continue
            scalars.update({key: value for key, value in data.items() if not isinstance(value, list | dict)})
        return scalars

    def _setting(self, *keys: str) -> object:
        """The first of ``keys`` set as ``CONDA_<KEY>`` in the environment or in ``.condarc`` (env wins)."""
        for key in keys:
            env_value = self.environ.get(f"CONDA_{key.upper()}")
            if env_value is not None and env_value != "":
                return env_value
        for key in keys:
            if self._rc.get(key) is not None:
                return self._rc[key]
        return None

    @property
    def changeps1(self) -> bool:
        """conda's ``changeps1`` (default true)."""
        return _flag(self._setting("changeps1"), True)

    @property
    def env_prompt(self) -> str:
        """conda's ``env_prompt`` (default ``({default_env}) ``)."""
        value = self._setting("env_prompt")
        return DEFAULT_ENV_PROMPT if value is None else str(value)

    @property
    def auto_stack(self) -> int:
        """conda's ``auto_stack`` (``CONDA_AUTO_STACK`` overrides ``.condarc``; ``true`` means 1)."""
        env_value = self.environ.get("CONDA_AUTO_STACK", "").strip().lower()
        if env_value:
            if env_value.isdigit():
                return int(env_value)
            return int(_flag(env_value, False))
        return int(self.config.auto_stack or 0)

    @property
    def auto_activate(self) -> bool:
        """conda's ``auto_activate`` (formerly ``auto_activate_base``; default true)."""
        return _flag(self._setting("auto_activate", "auto_activate_base"), True)

    # ----- state of the shell -------------------------------------------------------------------------------
    @property
    def shlvl(self) -> int:
        """``CONDA_SHLVL`` (0 when unset or empty)."""
        text = self.environ.get("CONDA_SHLVL", "").strip()
        return int(text) if text.isdigit() else 0

    def exe_vars(self) -> dict[str, str]:
        """``CONDA_EXE``, ``_CE_M``, ``_CE_CONDA``, ``CONDA_PYTHON_EXE``: exported at every activation."""
        return {
            "CONDA_EXE": str(Path(self.root_prefix) / "bin" / "conda"),
            "_CE_M": "",
            "_CE_CONDA": "",
            "CONDA_PYTHON_EXE": sys.executable,
        }

    def _path_list(self) -> list[str]:
        return self.environ.get("PATH", "/usr/bin").split(os.pathsep)

    def _bin(self, prefix: str) -> str:
        return str(Path(prefix) / "bin")

    def _add_prefix_to_path(self, prefix: str) -> list[str]:
        path = self._path_list()
        if not self.shlvl and not any(entry.endswith("condabin") for entry in path):
            path.insert(0, str(Path(self.root_prefix) / "condabin"))
        return [self._bin(prefix), *path]

    def _replace_prefix_in_path(self, old_prefix: str | None, new_prefix: str | None) -> list[str]:
        path = self._path_list()
        index = 0
        if old_prefix is not None:
            old_bin = _norm(self._bin(old_prefix))
            for position, entry in enumerate(path):
                if _norm(entry) == old_bin:
                    index = position
                    del path[position]
                    break
        if new_prefix is not None:
            path.insert(index, self._bin(new_prefix))
        return path

    def default_env(self, prefix: str) -> str:
        """``CONDA_DEFAULT_ENV`` for ``prefix``: ``base``, the name inside an ``envs`` dir, else the path."""
        if _norm(prefix) == self.root_prefix:
            return "base"
        path = Path(prefix)
        return path.name if path.parent.name == "envs" else prefix

    def _prompt_modifier(self, prefix: str, default_env: str, operation: str, stack: bool = False) -> str:
        """``CONDA_PROMPT_MODIFIER`` (``env_prompt`` formatted; stacked envs listed like conda's)."""
        if not self.changeps1:
            return ""
        old = self.shlvl
        env_stack: list[str] = []
        prompt_stack: list[str] = []
        for level in range(1, old + 1):
            key = "CONDA_PREFIX" if level == old else f"CONDA_PREFIX_{level}"
            env_i = self.default_env(self.environ.get(key, "").rstrip())
            env_stack.append(env_i)
            if not self.environ.get(f"CONDA_STACKED_{level}", "").strip():
                prompt_stack = prompt_stack[:-1]
            prompt_stack.append(env_i)
        if operation == "deactivate":
            prompt_stack, env_stack = prompt_stack[:-1], env_stack[:-1]
            if not self.environ.get(f"CONDA_STACKED_{old}", "").strip() and env_stack:
                prompt_stack.append(env_stack[-1])
        elif operation == "activate":
            if not stack:
                prompt_stack = prompt_stack[:-1]
            prompt_stack.append(default_env)
        try:
            return self.env_prompt.format(
                default_env=default_env,
                stacked_env=",".join(prompt_stack[::-1]),
                prefix=prefix,
                name=Path(prefix).name,
            )
        except (KeyError, IndexError, ValueError):
            return f"({default_env}) "

    def _update_prompt(self, commands: Commands, modifier: str) -> None:
        """Prefix the prompt (``PS1`` / csh ``prompt``) with the new modifier, dropping the old one."""
        if not self.changeps1:
            return
        prompt = self.environ.get(self.syntax.prompt_var, "")
        if self.syntax is POSIX and "POWERLINE_COMMAND" in prompt:
            return
        current = self.environ.get("CONDA_PROMPT_MODIFIER")
        if current:
            prompt = re.sub(re.escape(current), "", prompt)
        commands.set_vars[self.syntax.prompt_var] = modifier + prompt

    def _scripts(self, prefix: str, kind: str) -> list[str]:
        folder = Path(prefix) / "etc" / "conda" / f"{kind}.d"
        try:
            found = sorted(str(p) for p in folder.iterdir() if p.name.endswith(self.syntax.script_extension))
        except OSError:
            return []
        return found[::-1] if kind == "deactivate" else found

    def env_vars(self, prefix: str) -> dict[str, str | None]:
        """The environment's own variables (``_Activator._get_environment_env_vars``), names upper-cased; a JSON
        null is None (activation unsets the variable: ``get_export_unset_vars``)."""
        merged: dict[str, object] = {}
        folder = Path(prefix) / "etc" / "conda" / "env_vars.d"
        try:
            files = sorted(str(p) for p in folder.iterdir())
        except OSError:
            files = []
        for path in files:
            merged.update(json.loads(Path(path).read_text(encoding="utf-8")))
        state = Path(prefix) / "conda-meta" / "state"
        if state.exists():
            merged.update(json.loads(state.read_text(encoding="utf-8")).get("env_vars", {}))
        merged.pop("PATH", None)
        return {str(key).upper(): None if value is None else str(value) for key, value in merged.items()}

    # ----- operations ---------------------------------------------------------------------------------------
    def locate(self, name_or_prefix: str) -> str:
        """The prefix to activate (conda's rules: a path needs ``conda-meta/``; names go through envs_dirs)."""
        if "/" in name_or_prefix or "\\" in name_or_prefix:
            prefix = _norm(os.path.abspath(os.path.expanduser(os.path.expandvars(name_or_prefix))))
            if not (Path(prefix) / "conda-meta").is_dir():
                raise environment_location_not_found(prefix)
            return prefix
        if name_or_prefix in RESERVED_ENV_NAMES:
            return self.root_prefix
        prefix = self.config.locate_env(name_or_prefix)
        if prefix is None:
            raise environment_name_not_found(name_or_prefix)
        return _norm(prefix)

    def activate(self, name_or_prefix: str, stack: bool | None = None) -> Commands:
        """``conda activate [--stack|--no-stack] ENV`` (``stack=None``: decided by ``auto_stack``)."""
        prefix = self.locate(name_or_prefix)
        if stack is None:
            stack = bool(self.auto_stack) and self.shlvl <= self.auto_stack
        old_shlvl = self.shlvl
        old_prefix = self.environ.get("CONDA_PREFIX")
        if old_prefix is not None and _norm(old_prefix) == prefix and old_shlvl > 0:
            return self.reactivate()
        default_env = self.default_env(prefix)
        modifier = self._prompt_modifier(prefix, default_env, "activate", stack)
        commands = Commands(activate_scripts=self._scripts(prefix, "activate"))
        if old_shlvl == 0 or stack:
            new_path = self._add_prefix_to_path(prefix)
        else:
            new_path = self._replace_prefix_in_path(old_prefix, prefix)
            commands.deactivate_scripts = self._scripts(old_prefix, "deactivate") if old_prefix else []
        env_vars = {k: v for k, v in self.env_vars(prefix).items() if v != UNSET_VAR}
        for name in [name for name in env_vars if name in self.environ]:
            env_vars[f"__CONDA_SHLVL_{old_shlvl}_{name}"] = self.environ[name]
        commands.export_vars = {
            "PATH": os.pathsep.join(new_path),
            "CONDA_PREFIX": prefix,
            "CONDA_SHLVL": str(old_shlvl + 1),
            "CONDA_DEFAULT_ENV": default_env,
            "CONDA_PROMPT_MODIFIER": modifier,
            **{name: value for name, value in env_vars.items() if value is not None},
        }
        commands.unset_vars = [name for name, value in env_vars.items() if value is None]
        if old_shlvl > 0:
            commands.export_vars[f"CONDA_PREFIX_{old_shlvl}"] = old_prefix or ""
            if stack:
                commands.export_vars[f"CONDA_STACKED_{old_shlvl + 1}"] = "true"
        commands.export_vars.update(self.exe_vars())
        self._update_prompt(commands, modifier)
        return commands

    def deactivate(self) -> Commands:
        """``conda deactivate``: back to the previous env (or none); nothing to do when none is active."""
        old_prefix = self.environ.get("CONDA_PREFIX")
        old_shlvl = self.shlvl
        if not old_prefix or old_shlvl < 1:
            return Commands()
        new_shlvl = old_shlvl - 1
        commands = Commands(deactivate_scripts=self._scripts(old_prefix, "deactivate"))
        if old_shlvl == 1:
            commands.export_path = {"PATH": os.pathsep.join(self._replace_prefix_in_path(old_prefix, None))}
            commands.unset_vars = ["CONDA_PREFIX", "CONDA_DEFAULT_ENV", "CONDA_PROMPT_MODIFIER"]
            commands.export_vars = {"CONDA_SHLVL": str(new_shlvl), **self.exe_vars()}
            modifier = ""
        else:
            new_prefix = self.environ.get(f"CONDA_PREFIX_{new_shlvl}", "")
            default_env = self.default_env(new_prefix)
            modifier = self._prompt_modifier(new_prefix, default_env, "deactivate")
            commands.unset_vars = [f"CONDA_PREFIX_{new_shlvl}"]
            if f"CONDA_STACKED_{old_shlvl}" in self.environ:
                new_path = self._replace_prefix_in_path(old_prefix, None)
                commands.unset_vars.append(f"CONDA_STACKED_{old_shlvl}")
            else:
                new_path = self._replace_prefix_in_path(old_prefix, new_prefix)
            commands.export_path = {"PATH": os.pathsep.join(new_path)}
            commands.export_vars = {
                "CONDA_PREFIX": new_prefix,
                "CONDA_SHLVL": str(new_shlvl),
                "CONDA_DEFAULT_ENV": default_env,
                "CONDA_PROMPT_MODIFIER": modifier,
                **self.exe_vars(),
            }
            commands.activate_scripts = self._scripts(new_prefix, "activate")
        for name in self.env_vars(old_prefix):
            saved = self.environ.get(f"__CONDA_SHLVL_{new_shlvl}_{name}")
            if saved:
                commands.export_vars[name] = saved
            else:
                commands.unset_vars.append(name)
        self._update_prompt(commands, modifier)
        return commands

    def reactivate(self) -> Commands:
        """``conda reactivate`` (after install/update/remove): the same env again, scripts re-run."""
        prefix = self.environ.get("CONDA_PREFIX")
        shlvl = self.shlvl
        if not prefix or shlvl < 1:
            return Commands()
        default_env = self.environ.get("CONDA_DEFAULT_ENV") or self.default_env(prefix)
        modifier = self._prompt_modifier(prefix, default_env, "reactivate")
        commands = Commands(
            deactivate_scripts=self._scripts(prefix, "deactivate"),
            activate_scripts=self._scripts(prefix, "activate"),
        )
        commands.export_vars = {
            "PATH": os.pathsep.join(self._replace_prefix_in_path(prefix, prefix)),
            "CONDA_SHLVL": str(shlvl),
            "CONDA_PROMPT_MODIFIER": modifier,
            **self.exe_vars(),
        }
        self._update_prompt(commands, modifier)
        return commands

    def hook(self) -> str:
        """``conda shell.SHELL hook``: what ``eval "$(conda shell.bash hook)"`` needs."""
        profile = Path(self.root_prefix) / self.syntax.profile
        if not profile.is_file():
            raise CondaStandinError("CondaError", f"no {self.syntax.profile} in the root prefix {self.root_prefix}")
        join = self.syntax.command_join
        if self.syntax is POSIX:
            text = profile.read_text(encoding="utf-8")
            parts = [text if text.endswith("\n") else text + "\n"]
        else:
            parts = [join.join([*(self.syntax.export(k, v) for k, v in self.exe_vars().items()), ""])]
            parts.append(self.syntax.source(str(profile)) + join)
        if self.auto_activate:
            parts.append(f"conda activate {self.syntax.quote('base')}" + join)
        return "".join(parts)


def _parse_activate(args: list[str]) -> tuple[str, bool | None]:
    """``[--stack|--no-stack] [--dev] [ENV]`` -> (env, stack or None for auto_stack)."""
    stack: bool | None = None
    if "--stack" in args and "--no-stack" in args:
        raise _usage_error("cannot specify both --stack and --no-stack to activate")
    rest: list[str] = []
    for arg in args:
        if arg == "--stack":
            stack = True
        elif arg == "--no-stack":
            stack = False
        elif arg != "--dev" and arg:
            rest.append(arg)
    if len(rest) > 1:
        raise _usage_error(f"activate does not accept more than one argument:\n{rest}\n")
    return (rest[0] if rest else "base"), stack


def default_root_prefix(environ: Mapping[str, str] | None = None) -> str:
    """The root prefix, found like the rest of the stand-in finds it (``conda_standin.cli.find_root``)."""
    from .cli import find_root

    return find_root(os.environ if environ is None else environ)


def run(argv: list[str], root_prefix: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The shell code for ``argv`` (``["shell.posix", "activate", "ENV"]``); raises ``CondaStandinError``."""
    if not argv or not argv[0].startswith("shell."):
        raise _usage_error("expected shell.posix or shell.csh as the first argument")
    syntax = SHELLS.get(argv[0].removeprefix("shell."))
    if syntax is None:
        raise _usage_error(f"unsupported shell {argv[0]!r} (the stand-in has: {', '.join(sorted(SHELLS))})")
    command, args = (argv[1], argv[2:]) if len(argv) > 1 else ("", [])
    if command not in ("hook", "activate", "deactivate", "reactivate"):
        raise _usage_error(
            "'activate', 'deactivate', 'hook', or 'reactivate' command must be given"
            + (f", not '{command}'." if command else ".")
        )
    activator = Activator(syntax, root_prefix or default_root_prefix(environ), environ)
    if command == "activate":
        env, stack = _parse_activate(args)
        return activator.activate(env, stack).render(syntax)
    extra = [arg for arg in args if arg not in ("--dev", "")]
    if extra and command != "hook":
        raise _usage_error(f"{command} does not accept arguments\nremainder_args: {extra}\n")
    if command == "hook":
        return activator.hook()
    if command == "deactivate":
        return activator.deactivate().render(syntax)
    return activator.reactivate().render(syntax)


def main(argv: list[str], root_prefix: str | None = None) -> int:
    """Entry point for ``conda shell.*``: print the code to eval (rc 0) or the error to stderr (rc 1/2)."""
    if any(arg in ("-h", "--help") for arg in argv[1:]):
        sys.stdout.write(_HELP)
        return 0
    try:
        output = run(argv, root_prefix)
    except CondaStandinError as error:
        sys.stderr.write(error.to_text() + "\n")
        return error.rc
    sys.stdout.write(output)
    return 0
