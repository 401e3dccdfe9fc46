"""Loading a release without conda gives the environment ``conda activate`` gives; unloading restores it.

For each tree kind (stand-in, real conda), release, shell (bash, zsh, tcsh) and way to load (Lmod, Environment
Modules, each with the activate.d scripts' effects written into the modulefile and with the scripts run at each
load, ``-sourced``; the plain shell entry), from two starting points:

* ``hooked``: the user's shell has sourced the tree's ``etc/profile.d/conda.sh`` / ``conda.csh`` (what
  ``conda init`` or the conda_client role does), no environment active;
* ``plain``: a login without any conda hook (modules and the plain entry need none).

The environment (``env``) after loading must equal the one after ``conda activate NAME`` from the hooked start,
except :data:`DIFFERENT` keys, and after unloading / ``deactivate`` it must equal the one before loading.
In bash and zsh the plain entry must also leave ``PS1`` as conda does (modules cannot set shell variables).
"""

from __future__ import annotations

import fnmatch
import subprocess
from pathlib import Path

import pytest
from conftest import LMOD_INIT, RELEASES, Tree, clean_env, tcl_modulecmd

#: Keys that must differ, and why (docs/activation.md has the same list):
DIFFERENT = {
    # conda's own bookkeeping, exported by conda.sh and by every activation; loading without conda has none.
    "CONDA_EXE": "conda",
    "_CONDA_EXE": "conda",
    "_CE_M": "conda",
    "_CE_CONDA": "conda",
    "CONDA_PYTHON_EXE": "conda",
    "_CONDA_ROOT": "conda",
    # conda saves a clobbered variable here to restore it at deactivation; modules keep it in their own stack.
    "__CONDA_SHLVL_*": "conda",
    # Lmod's state: loaded modules, module path, stacks of pushenv, reference counts of PATH entries, family.
    "LOADEDMODULES": "modules",
    "_LMFILES_": "modules",
    "MODULEPATH": "modules",
    "MODULEPATH_ROOT": "modules",
    "MODULESHOME": "modules",
    "LMOD_*": "modules",
    "__LMOD_*": "modules",
    "_ModuleTable*": "modules",
    "BASH_ENV": "modules",
    "MANPATH": "modules",
    "FPATH": "modules",
    "TARG_TITLE_BAR_PAREN": "modules",
    # Environment Modules' state (pushenv stacks, shared PATH counts, source-sh records, family).
    "MODULES_*": "modules",
    "__MODULES_*": "modules",
    # the value before of a variable the env unsets (JSON null), which a Tcl modulefile gives back at unload.
    "__CPKGS_OLD_*": "modules",
    # Lmod's bash set-up exports its shell functions (module, ml).
    "BASH_FUNC_*": "modules",
    # the shell itself
    "_": "shell",
    "SHLVL": "shell",
    "PWD": "shell",
    "OLDPWD": "shell",
}
METHODS = ("lmod", "tcl", "lmod-sourced", "tcl-sourced", "plain")
STARTS = ("hooked", "plain")
UNSET = "\x01unset\x01"


def comparable(env: dict[str, str]) -> dict[str, str]:
    """``env`` without the keys that must differ."""
    return {k: v for k, v in env.items() if not any(fnmatch.fnmatchcase(k, pat) for pat in DIFFERENT)}


def parse_env(path: Path) -> dict[str, str]:
    data = path.read_bytes().decode()
    return dict(item.split("=", 1) for item in data.split("\0") if "=" in item)


# ---------------------------------------------------------------------------------------------- scripts
def _dump(shell: str, out: Path, step: str) -> list[str]:
    lines = [f"env -0 > '{out}/{step}.env'"]
    if shell != "tcsh":
        lines.append(f"printf '%s' \"${{PS1-{UNSET}}}\" > '{out}/{step}.ps1'")
    return lines


def _hook(tree: Tree, shell: str) -> list[str]:
    if shell == "tcsh":
        return [f"source '{tree.root}/etc/profile.d/conda.csh'"]
    return [f". '{tree.root}/etc/profile.d/conda.sh'"]


def _module_setup(tree: Tree, shell: str, method: str) -> list[str]:
    modules_dir = tree.sourced_modules_dir if method.endswith("-sourced") else tree.modules_dir
    if method.startswith("lmod"):
        init = LMOD_INIT / shell
        lines = [f"source '{init}'" if shell == "tcsh" else f". '{init}'"]
    else:
        cmd = tcl_modulecmd()
        if shell == "tcsh":
            lines = [f"alias module 'eval \"`tclsh {cmd} tcsh \\!*`\"'"]
        else:
            lines = [f'module() {{ eval "$(tclsh \'{cmd}\' {shell} "$@")"; }}']
    return [*lines, f"module use '{modules_dir}'"]


def script(tree: Tree, shell: str, method: str, *, start: str, release: str, out: Path) -> str:
    """The shell script of one case: set up, dump ``before``, load, dump ``after``, unload, dump ``undone``."""
    module_name = release.replace("isis", "isis/", 1)
    prefix = tree.env(release)
    lines = _hook(tree, shell) if start == "hooked" or method == "conda" else []
    if method.startswith(("lmod", "tcl")):
        lines += _module_setup(tree, shell, method)
        load, unload = [f"module load {module_name}"], ["module unload isis"]
    elif method == "plain":
        ext = "csh" if shell == "tcsh" else "sh"
        load = [
            f"source '{prefix}/etc/cpkgs/activate.{ext}'" if shell == "tcsh" else f". '{prefix}/etc/cpkgs/activate.sh'"
        ]
        unload = ["deactivate"]
    else:
        load, unload = [f"conda activate {release}"], ["conda deactivate"]
    lines += _dump(shell, out, "before") + load + _dump(shell, out, "after") + unload + _dump(shell, out, "undone")
    return "\n".join(lines) + "\n"


def run_case(tree: Tree, shell: str, method: str, *, start: str, release: str, tmp: Path) -> dict[str, dict]:
    """Run one case; the environments (and PS1) at each step."""
    out = tmp / f"{tree.kind}-{shell}-{method}-{start}-{release}"
    out.mkdir(parents=True)
    path = out / f"case.{shell}"
    path.write_text(script(tree, shell, method, start=start, release=release, out=out))
    argv = {"bash": ["bash", "--norc", "--noprofile"], "zsh": ["zsh", "-f"], "tcsh": ["tcsh", "-f"]}[shell]
    done = subprocess.run(
        [*argv, str(path)], env=clean_env(tree.home), capture_output=True, text=True, timeout=120, check=False
    )
    result: dict[str, dict] = {}
    for step in ("before", "after", "undone"):
        env_file = out / f"{step}.env"
        assert env_file.is_file(), (
            f"{method} in {shell}: no {step} state\n{path.read_text()}\n{done.stdout}{done.stderr}"
        )
        ps1 = out / f"{step}.ps1"
        result[step] = {"env": parse_env(env_file), "ps1": ps1.read_text() if ps1.exists() else None}
    result["stderr"] = {"text": done.stderr}
    return result


_CONDA_CACHE: dict[tuple, dict] = {}


def conda_case(tree: Tree, shell: str, release: str, tmp: Path) -> dict[str, dict]:
    key = (tree.kind, shell, release)
    if key not in _CONDA_CACHE:
        _CONDA_CACHE[key] = run_case(tree, shell, "conda", start="hooked", release=release, tmp=tmp)
    return _CONDA_CACHE[key]


def _needs(method: str, shells: dict[str, str], shell: str) -> None:
    if shell not in shells:
        pytest.skip(f"{shell} is not installed")
    if method.startswith("lmod") and not (LMOD_INIT / "bash").is_file():
        pytest.skip("Lmod is not installed (Debian package lmod; stage activation installs it)")
    if method.startswith("tcl") and not tcl_modulecmd():
        pytest.skip("Environment Modules' modulecmd.tcl not found (stage activation unpacks it; CPKGS_MODULES_TCL)")


def _diff(expected: dict[str, str], actual: dict[str, str]) -> str:
    keys = sorted(set(expected) | set(actual))
    return "\n".join(
        f"  {k}: conda={expected.get(k, '<unset>')!r} here={actual.get(k, '<unset>')!r}"
        for k in keys
        if expected.get(k) != actual.get(k)
    )


# ---------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("release", list(RELEASES))
@pytest.mark.parametrize("shell", ["bash", "zsh", "tcsh"])
def test_conda_activate_is_the_reference(
    tree: Tree, shells: dict, shell: str, release: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """conda itself: what the comparisons rely on (the release's scripts and variables took effect)."""
    _needs("conda", shells, shell)
    states = conda_case(tree, shell, release, tmp_path_factory.mktemp("conda"))
    after = states["after"]["env"]
    prefix = str(tree.env(release))
    assert after["CONDA_PREFIX"] == prefix, states["stderr"]["text"]
    assert after["ISISROOT"] == prefix
    assert after["ISISDATA"] == f"{prefix}/share/isis-data"
    assert after["CSPICE_MAJOR"] == ("67" if release.startswith("isis4") else "66")
    assert after["ISIS_SITE"] == ("astro-share" if RELEASES[release][1] else "from-login")
    assert after["PATH"].split(":")[:2] == [f"{prefix}/bin", f"{tree.root}/condabin"]


@pytest.mark.parametrize("start", STARTS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("release", list(RELEASES))
@pytest.mark.parametrize("shell", ["bash", "zsh", "tcsh"])
def test_load_equals_conda_activate(  # noqa: PLR0917 (pytest fixtures and parameters)
    tree: Tree,
    shells: dict,
    shell: str,
    release: str,
    method: str,
    start: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    _needs(method, shells, shell)
    tmp = tmp_path_factory.mktemp("case")
    reference = conda_case(tree, shell, release, tmp_path_factory.mktemp("conda"))
    states = run_case(tree, shell, method, start=start, release=release, tmp=tmp)
    expected = comparable(reference["after"]["env"])
    actual = comparable(states["after"]["env"])
    assert actual == expected, (
        f"{method} load differs from conda activate:\n{_diff(expected, actual)}\n" + states["stderr"]["text"]
    )
    before = comparable(states["before"]["env"])
    undone = comparable(states["undone"]["env"])
    assert undone == before, f"{method} unload does not restore:\n{_diff(before, undone)}\n" + states["stderr"]["text"]
    if method == "plain" and shell != "tcsh":
        assert states["after"]["ps1"] == reference["after"]["ps1"]
        assert states["undone"]["ps1"] == states["before"]["ps1"]


def test_different_keys_are_not_the_activation(tree: Tree) -> None:
    """The excluded keys never hide what an activation sets (a test that could otherwise not fail)."""
    for key in (
        "PATH",
        "CONDA_PREFIX",
        "CONDA_SHLVL",
        "CONDA_DEFAULT_ENV",
        "CONDA_PROMPT_MODIFIER",
        "ISISROOT",
        "ISISDATA",
        "ISIS_SITE",
        "CSPICE_MAJOR",
    ):
        assert comparable({key: "x"}) == {key: "x"}


def test_a_wrong_modulefile_is_caught(tree: Tree, shells: dict, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A modulefile that forgets the env vars fails the comparison (the test can fail)."""
    _needs("lmod", shells, "bash")
    broken = Tree(tree.kind, tree.root, tree.home, tmp_path_factory.mktemp("broken-modules"))
    good = (tree.modules_dir / "isis" / "4.3.0.lua").read_text()
    (broken.modules_dir / "isis").mkdir()
    (broken.modules_dir / "isis" / "4.3.0.lua").write_text(
        "\n".join(line for line in good.splitlines() if "ISIS_SITE" not in line) + "\n"
    )
    reference = conda_case(tree, "bash", "isis4.3.0", tmp_path_factory.mktemp("conda"))
    states = run_case(broken, "bash", "lmod", start="hooked", release="isis4.3.0", tmp=tmp_path_factory.mktemp("case"))
    assert comparable(states["after"]["env"]) != comparable(reference["after"]["env"])


@pytest.mark.parametrize("release", list(RELEASES))
def test_captured_modulefiles_run_no_script(tree: Tree, release: str) -> None:
    """The releases' activate.d scripts are static: their effect is in the modulefiles, which run no shell; the
    ``-sourced`` ones (compared above too) run the scripts at load."""
    version = release.replace("isis", "", 1)
    script = f"{tree.env(release)}/etc/conda/activate.d/isis-activate.sh"
    for suffix, run in ((".lua", "source_sh("), ("", "source-sh ")):
        captured = (tree.modules_dir / "isis" / (version + suffix)).read_text()
        sourced = (tree.sourced_modules_dir / "isis" / (version + suffix)).read_text()
        assert run not in captured
        assert "ISISROOT" in captured and str(tree.env(release)) in captured
        assert run in sourced and script in sourced
