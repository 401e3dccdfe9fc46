"""Shell activation of the stand-in: conda.sh in bash/zsh, conda.csh in tcsh, and conda_standin.shell directly.

Each scenario runs one shell script that sources the installed tree's profile file, runs ``conda ...`` steps and
prints the state after each step (rc, CONDA_PREFIX, CONDA_SHLVL, CONDA_DEFAULT_ENV, PATH, the env's tool).
Environments are plain directories with ``conda-meta/`` and a ``bin/envtool`` (activation needs no packages).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTBED = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTBED / "installer"))
sys.path.insert(0, str(TESTBED / "standin"))

import support  # noqa: E402
from conda_standin import shell  # noqa: E402

UNSET = "<unset>"


def unset_by_conda(shell_name: str) -> str:
    """How a variable reads after conda "unset" it: gone in csh (``unsetenv``), empty in POSIX shells, where conda
    26.7.1 writes ``export NAME=''`` (``PosixActivator.unset_var_tmpl``)."""
    return UNSET if shell_name == "tcsh" else ""


SHELLS = ["bash", "zsh", "dash", "tcsh"]  # dash: /bin/sh of Debian, reads /etc/profile.d


# ---------------------------------------------------------------------------------------------- fixtures
@dataclass(frozen=True)
class Bed:
    """An installed tree with envs ``alpha``/``beta`` in ``envs/``, ``delta`` in another envs dir, ``gamma`` loose."""

    tree: Path
    extra_envs: Path
    loose: Path


def _make_env(prefix: Path) -> Path:
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").write_text("")
    tool = prefix / "bin" / "envtool"
    tool.parent.mkdir()
    tool.write_text(f"#!/bin/sh\necho {prefix.name}\n")
    tool.chmod(0o755)
    return prefix


@pytest.fixture(scope="session")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Bed:
    wheel = support.find_wheel()
    if wheel is None:
        pytest.skip(f"py-rattler 0.28.0 wheel not found: set CPKGS_RATTLER_WHEEL or run {support.PIP_HINT}")
    installer = support.ensure_installer(wheel=wheel)
    base = tmp_path_factory.mktemp("shellbed")
    tree = base / "tree"
    result = support.run_installer(installer, "-b", "-p", str(tree), home=base)
    assert result.returncode == 0, result.stderr
    for name in ("alpha", "beta"):
        _make_env(tree / "envs" / name)
    extra = base / "shared" / "envs"
    _make_env(extra / "delta")
    loose = _make_env(base / "loose" / "gamma")
    return Bed(tree, extra, loose)


@pytest.fixture(params=SHELLS)
def shell_name(request: pytest.FixtureRequest) -> str:
    if shutil.which(request.param) is None:
        pytest.skip(f"{request.param} is not installed (apt-get install -y {request.param})")
    return request.param


@dataclass(frozen=True)
class State:
    """The shell's state after one step."""

    rc: int
    prefix: str
    shlvl: str
    default_env: str
    path: list[str]
    tool: str
    prefix_1: str
    stacked_2: str


def _posix_script(profile: Path, steps: list[str]) -> str:
    lines = [f". '{profile}'", "__dump() {"]
    lines.append(
        '    printf \'@@%s|%s|%s|%s|%s|%s|%s|%s\\n\' "$1" "${CONDA_PREFIX-' + UNSET + '}" '
        '"${CONDA_SHLVL-' + UNSET + '}" "${CONDA_DEFAULT_ENV-' + UNSET + '}" "$PATH" '
        '"$(envtool 2>/dev/null || echo none)" "${CONDA_PREFIX_1-' + UNSET + '}" '
        '"${CONDA_STACKED_2-' + UNSET + '}"'
    )
    lines += ["}", "__dump 0"]
    for step in steps:
        lines += [step, "__dump $?"]
    return "\n".join(lines) + "\n"


def _csh_var(var: str, target: str) -> list[str]:
    return [f"if ($?{var}) then", f'    set {target}="${var}"', "else", f'    set {target}="{UNSET}"', "endif"]


def _csh_dump(rc: str) -> list[str]:
    lines = [f"set _rc={rc}"]
    for var, target in (
        ("CONDA_PREFIX", "_p"),
        ("CONDA_SHLVL", "_l"),
        ("CONDA_DEFAULT_ENV", "_d"),
        ("CONDA_PREFIX_1", "_p1"),
        ("CONDA_STACKED_2", "_s2"),
    ):
        lines += _csh_var(var, target)
    lines += ['set _t="`envtool >& /dev/null && envtool || echo none`"']
    lines += ['echo "@@${_rc}|${_p}|${_l}|${_d}|${PATH}|${_t}|${_p1}|${_s2}"']
    return lines


def _csh_script(profile: Path, steps: list[str]) -> str:
    lines = [f"source '{profile}'", *_csh_dump("0")]
    for step in steps:
        lines += [step, *_csh_dump("$status")]
    return "\n".join(lines) + "\n"


def run_steps(bed: Bed, shell_name: str, steps: list[str], home: Path, **env: str) -> list[State]:
    """Run ``steps`` after sourcing the profile in ``shell_name``; the states before and after each step."""
    if shell_name == "tcsh":
        script, argv = _csh_script(bed.tree / "etc/profile.d/conda.csh", steps), ["tcsh", "-f"]
    else:
        script = _posix_script(bed.tree / "etc/profile.d/conda.sh", steps)
        argv = {"bash": ["bash", "--norc", "--noprofile"], "zsh": ["zsh", "-f"]}.get(shell_name, [shell_name])
    path = script_path = home / f"steps.{shell_name}"
    path.write_text(script)
    environ = support.clean_env(home, os.environ["PATH"], **env)
    result = subprocess.run(
        [*argv, str(script_path)], env=environ, capture_output=True, text=True, timeout=60, check=False
    )
    states = []
    for line in result.stdout.splitlines():
        if line.startswith("@@"):
            rc, prefix, shlvl, default_env, path_text, tool, prefix_1, stacked_2 = line[2:].split("|")
            states.append(State(int(rc), prefix, shlvl, default_env, path_text.split(":"), tool, prefix_1, stacked_2))
    assert len(states) == len(steps) + 1, result.stdout + result.stderr
    return states


# ---------------------------------------------------------------------------------------------- in the shells
def test_source_then_activate_by_name(bed: Bed, shell_name: str, tmp_path: Path) -> None:
    start, active = run_steps(bed, shell_name, ["conda activate alpha"], tmp_path)
    assert (start.shlvl, start.prefix) == ("0", UNSET)
    if shell_name != "tcsh":  # conda.sh puts condabin on PATH when sourced; conda.csh leaves it to activation
        assert start.path[0] == str(bed.tree / "condabin")
    assert active.rc == 0
    assert (active.prefix, active.shlvl, active.default_env) == (str(bed.tree / "envs/alpha"), "1", "alpha")
    assert active.path[:2] == [str(bed.tree / "envs/alpha/bin"), str(bed.tree / "condabin")]
    assert active.tool == "alpha"


def test_deactivate_restores(bed: Bed, shell_name: str, tmp_path: Path) -> None:
    start, _active, back = run_steps(bed, shell_name, ["conda activate alpha", "conda deactivate"], tmp_path)
    expected_path = start.path if start.path[0].endswith("condabin") else [str(bed.tree / "condabin"), *start.path]
    assert back.rc == 0
    assert back.path == expected_path
    gone = unset_by_conda(shell_name)
    assert (back.prefix, back.shlvl, back.default_env, back.tool) == (gone, "0", gone, "none")


def test_switch_replaces_previous_env(bed: Bed, shell_name: str, tmp_path: Path) -> None:
    steps = ["conda activate alpha", "conda activate beta", "conda deactivate"]
    _start, alpha, beta, back = run_steps(bed, shell_name, steps, tmp_path)
    assert beta.path[0] == str(bed.tree / "envs/beta/bin")
    assert str(bed.tree / "envs/alpha/bin") not in beta.path
    assert (beta.shlvl, beta.prefix_1, beta.stacked_2, beta.tool) == ("2", str(bed.tree / "envs/alpha"), UNSET, "beta")
    assert back.path == alpha.path
    assert (back.prefix, back.shlvl, back.prefix_1) == (str(bed.tree / "envs/alpha"), "1", unset_by_conda(shell_name))


@pytest.mark.parametrize("how", ["--stack", "auto_stack"])
def test_stack_keeps_both_bins(bed: Bed, shell_name: str, tmp_path: Path, how: str) -> None:
    if how == "auto_stack":
        (tmp_path / ".condarc").write_text("auto_stack: 1\n")
        second = "conda activate beta"
    else:
        second = "conda activate --stack beta"
    _start, alpha, beta, back = run_steps(
        bed, shell_name, ["conda activate alpha", second, "conda deactivate"], tmp_path
    )
    alpha_bin, beta_bin = str(bed.tree / "envs/alpha/bin"), str(bed.tree / "envs/beta/bin")
    assert beta.path[:3] == [beta_bin, alpha_bin, str(bed.tree / "condabin")]
    assert (beta.shlvl, beta.stacked_2, beta.prefix, beta.tool) == ("2", "true", str(bed.tree / "envs/beta"), "beta")
    assert back.path == alpha.path
    assert (back.prefix, back.shlvl, back.stacked_2) == (str(bed.tree / "envs/alpha"), "1", unset_by_conda(shell_name))


def test_no_stack_overrides_auto_stack(bed: Bed, shell_name: str, tmp_path: Path) -> None:
    (tmp_path / ".condarc").write_text("auto_stack: 1\n")
    states = run_steps(bed, shell_name, ["conda activate alpha", "conda activate --no-stack beta"], tmp_path)
    assert str(bed.tree / "envs/alpha/bin") not in states[-1].path
    assert states[-1].stacked_2 == UNSET


@pytest.mark.parametrize("target", ["nope", "/does/not/exist"])
def test_unknown_env_changes_nothing(bed: Bed, shell_name: str, tmp_path: Path, target: str) -> None:
    _start, alpha, failed = run_steps(bed, shell_name, ["conda activate alpha", f"conda activate {target}"], tmp_path)
    assert failed.rc == 1
    assert (failed.prefix, failed.shlvl, failed.default_env, failed.path) == (
        alpha.prefix,
        alpha.shlvl,
        alpha.default_env,
        alpha.path,
    )


def test_name_through_envs_dirs_in_condarc(bed: Bed, shell_name: str, tmp_path: Path) -> None:
    _start, unknown = run_steps(bed, shell_name, ["conda activate delta"], tmp_path)
    assert unknown.rc == 1
    (tmp_path / ".condarc").write_text(f"envs_dirs:\n  - {bed.extra_envs}\n")
    _start, found = run_steps(bed, shell_name, ["conda activate delta"], tmp_path)
    assert found.rc == 0
    assert (found.prefix, found.default_env, found.tool) == (str(bed.extra_envs / "delta"), "delta", "delta")


def test_base_by_default_and_path_activation(bed: Bed, shell_name: str, tmp_path: Path) -> None:
    steps = ["conda activate", f"conda activate {bed.loose}", "conda activate --stack base"]
    _start, base, loose, again = run_steps(bed, shell_name, steps, tmp_path)
    assert (base.prefix, base.default_env, base.path[0]) == (str(bed.tree), "base", str(bed.tree / "bin"))
    assert (loose.prefix, loose.default_env, loose.tool) == (str(bed.loose), str(bed.loose), "gamma")
    assert again.shlvl == "3" and again.prefix == str(bed.tree)


def test_activating_the_active_env_is_a_reactivation(bed: Bed, shell_name: str, tmp_path: Path) -> None:
    _start, first, second = run_steps(bed, shell_name, ["conda activate alpha", "conda activate alpha"], tmp_path)
    assert (second.shlvl, second.prefix_1, second.path) == ("1", UNSET, first.path)


def test_other_commands_pass_through(bed: Bed, shell_name: str, tmp_path: Path) -> None:
    _start, version = run_steps(bed, shell_name, ["conda --version"], tmp_path)
    assert version.rc == 0


# ---------------------------------------------------------------------------------------------- conda_standin.shell
@pytest.fixture
def root(tmp_path: Path) -> Path:
    tree = tmp_path / "root"
    (tree / "conda-meta").mkdir(parents=True)
    (tree / "etc" / "profile.d").mkdir(parents=True)
    (tree / "etc" / "profile.d" / "conda.sh").write_text("conda() { :; }\n")
    _make_env(tree / "envs" / "it's")
    return tree


def _run(argv: list[str], root: Path, **env: str) -> str:
    environ = {"HOME": str(root.parent), "PATH": "/usr/bin:/bin", **env}
    return shell.run(argv, str(root), environ)


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        ("shell.posix", "export CONDA_PREFIX='{root}/envs/it'\\''s'\n"),
        ("shell.bash", "export CONDA_PREFIX='{root}/envs/it'\\''s'\n"),
        ("shell.csh", "setenv CONDA_PREFIX '{root}/envs/it'\\''s';\n"),
    ],
)
def test_quoting_of_values(root: Path, family: str, expected: str) -> None:
    out = _run([family, "activate", "it's"], root)
    assert expected.format(root=root) in out
    assert out.endswith(";\n" if family == "shell.csh" else "\n")


@pytest.mark.parametrize(
    ("auto_stack", "shlvl", "stacked"),
    [("0", "1", False), ("1", "1", True), ("1", "2", False), ("2", "2", True), ("true", "1", True)],
)
def test_auto_stack_rule(root: Path, auto_stack: str, shlvl: str, stacked: bool) -> None:
    env = {"CONDA_AUTO_STACK": auto_stack, "CONDA_SHLVL": shlvl, "CONDA_PREFIX": str(root)}
    out = _run(["shell.posix", "activate", "it's"], root, **env)
    assert (f"CONDA_STACKED_{int(shlvl) + 1}='true'" in out) == stacked


@pytest.mark.parametrize(
    ("argv", "rc", "err"),
    [
        (
            ["shell.posix", "activate", "a", "b"],
            2,
            "\nArgumentError: activate does not accept more than one argument:\n['a', 'b']\n\n\n",
        ),
        (
            ["shell.posix", "activate", "--stack", "--no-stack", "x"],
            2,
            "\nArgumentError: cannot specify both --stack and --no-stack to activate\n\n",
        ),
        (
            ["shell.posix", "frobnicate"],
            2,
            "\nArgumentError: 'activate', 'deactivate', 'hook', or 'reactivate' command must be given, "
            "not 'frobnicate'.\n\n",
        ),
        (
            ["shell.fish", "activate"],
            2,
            "\nArgumentError: unsupported shell 'shell.fish' "
            "(the stand-in has: ash, bash, csh, dash, posix, sh, tcsh, zsh)\n\n",
        ),
        (
            ["shell.posix", "activate", "missing"],
            1,
            "\nEnvironmentNameNotFound: Could not find conda environment: missing\n"
            "You can list all discoverable environments with `conda info --envs`.\n\n\n",
        ),
        (
            ["shell.csh", "activate", "/no/such/env"],
            1,
            "\nEnvironmentLocationNotFound: Not a conda environment: /no/such/env\n\n",
        ),
        (
            ["shell.posix", "deactivate", "extra"],
            2,
            "\nArgumentError: deactivate does not accept arguments\nremainder_args: ['extra']\n\n\n",
        ),
    ],
)
def test_errors(root: Path, argv: list[str], rc: int, err: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each error is one exact message on stderr (conda's exception name first) and its exit code."""
    assert shell.main(argv, str(root)) == rc
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == err


@pytest.mark.parametrize(
    ("condarc", "env", "activates"),
    [("", {}, True), ("auto_activate_base: false\n", {}, False), ("", {"CONDA_AUTO_ACTIVATE": "false"}, False)],
)
def test_hook(root: Path, condarc: str, env: dict[str, str], activates: bool) -> None:
    (root.parent / ".condarc").write_text(condarc)
    out = _run(["shell.bash", "hook"], root, **env)
    assert out.startswith("conda() { :; }\n")
    assert ("conda activate 'base'" in out) == activates


def test_deactivate_without_active_env_is_a_noop(root: Path) -> None:
    assert _run(["shell.posix", "deactivate"], root) == ""
    assert _run(["shell.csh", "reactivate"], root) == ""


def test_prompt_modifier(root: Path) -> None:
    out = _run(["shell.posix", "activate", "base"], root, PS1="$ ")
    assert "export CONDA_PROMPT_MODIFIER='(base) '" in out
    assert "PS1='(base) $ '" in out
    quiet = _run(["shell.posix", "activate", "base"], root, PS1="$ ", CONDA_CHANGEPS1="false")
    assert "PS1=" not in quiet


def test_reactivate_keeps_the_env_first(root: Path) -> None:
    env = {"CONDA_SHLVL": "1", "CONDA_PREFIX": str(root / "envs/it's"), "PATH": f"/x:{root}/envs/it's/bin:/usr/bin"}
    out = _run(["shell.posix", "reactivate"], root, **env)
    assert f"export PATH='/x:{root}/envs/it'\\''s/bin:/usr/bin'" in out
    assert "export CONDA_SHLVL='1'" in out


# ---------------------------------------------------------------------------------------------- the profile files
PROFILES = TESTBED / "installer" / "etc" / "profile.d"


@pytest.mark.parametrize(
    ("tool", "args", "profile"),
    [
        ("sh", ["-n"], "conda.sh"),
        ("bash", ["-n"], "conda.sh"),
        ("zsh", ["-n"], "conda.sh"),
        ("shellcheck", ["-s", "sh"], "conda.sh"),
        ("shellcheck", ["-s", "bash"], "conda.sh"),
        ("tcsh", ["-n", "-f"], "conda.csh"),
    ],
)
def test_profile_syntax(tool: str, args: list[str], profile: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    result = subprocess.run([tool, *args, str(PROFILES / profile)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
