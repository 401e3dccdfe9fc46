"""The conda_client hooks add the release modulefiles to the module path: ``module load isis/4.3.0`` after a login.

The role (applied by ``ansible-playbook`` to localhost, its hooks rendered into a directory of the test's) serves
the tree of the ``tree`` fixture (``root_prefix`` through ``module_defaults``). The modulefiles are generated
where cpkgs.conda.conda_activation and role conda_envs put them by default, ``ROOT/modulefiles``, and the role is
not told where: the hooks must find them. A shell sets up its module system (Lmod; Environment Modules when its
``modulecmd.tcl`` is there), sources the hook, and loads a release by its module name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import _COLLECTIONS, LMOD_INIT, REPO, Tree, clean_env, generate, tcl_modulecmd

pytestmark = pytest.mark.skipif(not shutil.which("ansible-playbook"), reason="no ansible-playbook on PATH")

PLAYBOOK = """\
- name: The conda_client hooks for a tree
  hosts: localhost
  connection: local
  gather_facts: true
  gather_subset: [min]
  module_defaults:
    group/cpkgs.conda.conda: {root_prefix: "{{ root_prefix }}"}
  roles:
    - role: cpkgs.conda.conda_client
      vars:
        conda_client_hook_dir: "{{ hook_dir }}"
        conda_client_system_zsh: false
        conda_client_system_csh: false
        conda_client_module_use: "{{ module_use | bool }}"
"""
SHELLS = ("bash", "zsh", "tcsh")
SHOW_PATH = "echo MODULEPATH=`printenv MODULEPATH`"  # the same in every shell, MODULEPATH set or not


def render(tree: Tree, where: Path, module_use: bool) -> Path:
    """The role's hooks for ``tree``, in ``where/hooks``."""
    (where / "hooks.yml").write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(_COLLECTIONS))
    argv = ["ansible-playbook", "-i", "localhost,", "-e", "ansible_python_interpreter=/usr/bin/python3"]
    argv += ["-e", f"root_prefix={tree.root}", "-e", f"hook_dir={where / 'hooks'}", "-e", f"module_use={module_use}"]
    done = subprocess.run(
        [*argv, str(where / "hooks.yml")], env=env, capture_output=True, text=True, check=False, timeout=600, cwd=REPO
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return where / "hooks"


@pytest.fixture(scope="module")
def default_modules(tree: Tree) -> Path:
    """The release modulefiles in the tree's own ROOT/modulefiles (Lmod and Tcl), as conda_envs writes them."""
    where = tree.root / "modulefiles"
    generate(Tree(tree.kind, tree.root, tree.home, where), ["lmod", "tcl"])
    return where


@pytest.fixture(scope="module")
def hooks(tree: Tree, default_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """The hooks rendered with conda_client_module_use on and off."""
    return {on: render(tree, tmp_path_factory.mktemp(f"hooks-{on}"), on) for on in (True, False)}


def _setup(shell: str, method: str) -> list[str]:
    """The module system of a login, set up before the hook runs (as /etc/profile.d/lmod.sh would)."""
    if method == "none":
        return []
    if method == "lmod":
        init = LMOD_INIT / shell
        return [f"source '{init}'" if shell == "tcsh" else f". '{init}'"]
    cmd = tcl_modulecmd()
    if cmd is None:
        pytest.skip("no Environment Modules modulecmd.tcl (stage activation unpacks it; CPKGS_MODULES_TCL)")
    if shell == "tcsh":
        return [f"alias module 'eval \"`tclsh {cmd} tcsh \\!*`\"'"]
    return [f'module() {{ eval "$(tclsh \'{cmd}\' {shell} "$@")"; }}']


def login(shell: str, hook_dir: Path, method: str, lines: list[str], tree: Tree) -> subprocess.CompletedProcess[str]:
    """``shell`` sets up ``method``, sources the hook twice (a login and a nested shell's rc file), runs ``lines``."""
    hook = hook_dir / ("zz-cpkgs-conda.csh" if shell == "tcsh" else "zz-cpkgs-conda.sh")
    source = f"source '{hook}'" if shell == "tcsh" else f". '{hook}'"
    script = "\n".join([*_setup(shell, method), source, source, *lines]) + "\n"
    argv = {"bash": ["bash", "--norc", "--noprofile", "-c"], "zsh": ["zsh", "-f", "-c"], "tcsh": ["tcsh", "-f", "-c"]}
    env = clean_env(tree.home)
    return subprocess.run([*argv[shell], script], env=env, capture_output=True, text=True, timeout=120, check=False)


def _need(shells: dict[str, str], shell: str) -> None:
    if shell not in shells:
        pytest.fail(f"{shell} is not installed (the bootstrap installs bash, zsh and tcsh)")


@pytest.mark.parametrize("method", ["lmod", "tcl"])
@pytest.mark.parametrize("shell", SHELLS)
def test_hook_puts_the_releases_on_the_module_path(  # noqa: PLR0917 (pytest fixtures and parameters)
    tree: Tree, default_modules: Path, hooks: dict[bool, Path], shells: dict[str, str], shell: str, method: str
) -> None:
    """After the hook, ``module avail`` lists the release and ``module load isis/4.3.0`` activates it."""
    _need(shells, shell)
    lines = [
        SHOW_PATH,
        "module -t avail isis" if method == "lmod" else "module avail -t isis",  # both list on stderr
        "module load isis/4.3.0",
        "echo CONDA_PREFIX=`printenv CONDA_PREFIX`",
    ]
    done = login(shell, hooks[True], method, lines, tree)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.splitlines()
    paths = next(line for line in out if line.startswith("MODULEPATH=")).split("=", 1)[1].split(":")
    assert paths.count(str(default_modules)) == 1, paths  # sourced twice, added once
    listed = done.stderr.splitlines()
    assert any(line.strip().startswith("isis/4.3.0") for line in listed), done.stderr
    assert f"CONDA_PREFIX={tree.env('isis4.3.0')}" in out, done.stdout + done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_hook_leaves_the_module_path_alone_when_told(
    tree: Tree, default_modules: Path, hooks: dict[bool, Path], shells: dict[str, str], shell: str
) -> None:
    """conda_client_module_use false: Lmod's module path stays without the releases; conda is still set up."""
    _need(shells, shell)
    done = login(shell, hooks[False], "lmod", [SHOW_PATH, "printenv CONDA_EXE"], tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MODULEPATH=" in done.stdout
    assert str(default_modules) not in done.stdout
    assert str(tree.root) in done.stdout  # CONDA_EXE of the tree


@pytest.mark.parametrize("shell", SHELLS)
def test_hook_without_a_module_system_sets_conda_up_only(
    tree: Tree, default_modules: Path, hooks: dict[bool, Path], shells: dict[str, str], shell: str
) -> None:
    """No module command: no error, no MODULEPATH made up, conda set up."""
    _need(shells, shell)
    show = ["printenv MODULEPATH || echo no-modulepath", "printenv CONDA_EXE"]
    done = login(shell, hooks[True], "none", show, tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    assert done.stdout.split() == ["no-modulepath", str(tree.root / "bin" / "conda")], done.stdout


# /etc/profile (and EL's /etc/bashrc) source /etc/profile.d/*.sh in name order; the module systems' own scripts
# are Debian's lmod.sh and modules.sh and EL's z00_lmod.sh.
@pytest.mark.parametrize(("script", "method"), [("lmod.sh", "lmod"), ("z00_lmod.sh", "lmod"), ("modules.sh", "tcl")])
def test_a_login_sets_the_module_system_up_before_the_hook_by_name(  # noqa: PLR0917 (pytest fixtures and parameters)
    tree: Tree, default_modules: Path, hooks: dict[bool, Path], tmp_path: Path, script: str, method: str
) -> None:
    """The hook under its default name runs after the distribution's module script in a login's profile.d loop,
    so the releases are on the module path and load."""
    profile_d = tmp_path / "profile.d"
    shutil.copytree(hooks[True], profile_d)
    (profile_d / script).write_text("\n".join(_setup("bash", method)) + "\n")
    lines = [
        f"for i in '{profile_d}'/*.sh; do . \"$i\"; done",  # as /etc/profile does
        SHOW_PATH,
        "module load isis/4.3.0",
        "echo CONDA_PREFIX=`printenv CONDA_PREFIX`",
    ]
    env = clean_env(tree.home)
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(lines)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    paths = next(line for line in done.stdout.splitlines() if line.startswith("MODULEPATH=")).split("=", 1)[1]
    assert str(default_modules) in paths.split(":"), (sorted(path.name for path in profile_d.iterdir()), paths)
    assert f"CONDA_PREFIX={tree.env('isis4.3.0')}" in done.stdout, done.stdout + done.stderr
