"""Fixtures of the activation tests: conda trees with release environments, and the activation files.

A tree is installed from the stand-in installer (``$CPKGS_BUILD/installer``), and from real conda's installer
when ``CPKGS_TEST_INSTALLER`` names it; environments come from the test bed's local channel
(``$CPKGS_BUILD/channel/cpkgs-testbed``, built by ``tests/testbed/channel/build_channel.py``).

Environment Modules: ``CPKGS_MODULES_TCL`` names its ``modulecmd.tcl`` (stage ``activation`` unpacks the Debian
package there, because Debian's ``lmod`` and ``environment-modules`` packages conflict), else the system one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CPKGS_BUILD") or REPO / ".build")
CHANNEL = BUILD / "channel" / "cpkgs-testbed"
STANDIN_INSTALLER = BUILD / "installer" / "cpkgs-conda-standin-26.7.1-Linux-x86_64.sh"
LMOD_INIT = Path("/usr/share/lmod/lmod/init")
TCL_CANDIDATES = (
    os.environ.get("CPKGS_MODULES_TCL", ""),
    "/usr/lib/x86_64-linux-gnu/modulecmd.tcl",
    "/usr/share/modules/libexec/modulecmd.tcl",
)

# The collection's module_utils, imported as Ansible would (``ansible_collections.cpkgs.conda``).
_COLLECTIONS = BUILD / "collections"
if not (_COLLECTIONS / "ansible_collections" / "cpkgs" / "conda").exists():
    _COLLECTIONS = BUILD / "activation-collections"
    (_COLLECTIONS / "ansible_collections" / "cpkgs").mkdir(parents=True, exist_ok=True)
    link = _COLLECTIONS / "ansible_collections" / "cpkgs" / "conda"
    if not link.exists():
        link.symlink_to(REPO)
sys.path.insert(0, str(_COLLECTIONS))

from ansible_collections.cpkgs.conda.plugins.module_utils import _activation  # noqa: E402

#: The release environments of a tree: the name, the spec, and conda-meta/state env vars (conda env config vars).
RELEASES = {
    "isis4.3.0": ("isis=4.3.0", {"ISIS_SITE": "astro-share"}),
    "isis3.9.1": ("isis=3.9.1", {}),
}
#: A package's env_vars.d file in the 4.3.0 env whose value is JSON null: conda unsets the variable at activation
#: and restores the login's value at deactivation.
NULL_VARS_FILE = ("zz-site-legacy.json", {"ISIS_LEGACY_DATA": None})
#: What a user's login already has: ISIS_SITE is clobbered by the 4.3.0 env and must come back afterwards, as must
#: ISIS_LEGACY_DATA, which the 4.3.0 env unsets.
LOGIN_VARS = {
    "ISIS_SITE": "from-login",
    "ISIS_LEGACY_DATA": "from-login",
    "LANG": "C.UTF-8",
    "USER": "tester",
    "LOGNAME": "tester",
}


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """A login-like environment without the caller's CONDA_* or module variables."""
    return {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", **LOGIN_VARS, **extra}


def installers() -> list:
    """(kind, installer) pairs: the stand-in always, real conda when CPKGS_TEST_INSTALLER names it."""
    params = [pytest.param(("standin", STANDIN_INSTALLER), id="standin")]
    real = os.environ.get("CPKGS_TEST_INSTALLER", "")
    marks = []
    if not real or not Path(real).is_file():
        marks = [pytest.mark.skip(reason="CPKGS_TEST_INSTALLER does not name real conda's installer")]
    params.append(pytest.param(("real", Path(real or "/nonexistent")), id="real", marks=marks))
    return params


def tcl_modulecmd() -> str | None:
    """Environment Modules' modulecmd.tcl, or None."""
    for candidate in TCL_CANDIDATES:
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@dataclass
class Tree:
    """A conda tree with release environments and their generated activation files."""

    kind: str
    root: Path
    home: Path
    modules_dir: Path

    def env(self, name: str) -> Path:
        return self.root / "envs" / name

    @property
    def sourced_modules_dir(self) -> Path:
        """Modulefiles generated without the scripts' capture: they run the activate.d scripts at each load."""
        return self.modules_dir.parent / (self.modules_dir.name + "-sourced")


def _run(argv: list[str], home: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=clean_env(home), capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{argv}: rc {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def run_argv(argv: list[str]) -> tuple[int, str, str]:
    """What AnsibleModule.run_command returns for an argv list (the module passes its own)."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout, done.stderr


def generate(tree: Tree, formats: list[str], *, capture: bool = True) -> None:
    """The module's files for every release (what cpkgs.conda.conda_activation writes).

    ``capture``: the activate.d scripts' effects written into the modulefiles (what the module does); else the
    modulefiles run the scripts at each load (``source_sh``), into ``tree.sourced_modules_dir``.
    """
    for name in RELEASES:
        act = _activation.read_activation(str(tree.env(name)), str(tree.root))
        module_name = _activation.split_module_name(name)
        outputs, notes = _activation.plan_outputs(
            act,
            str(tree.env(name)),
            formats,
            module_name=module_name,
            modules_dir=str(tree.modules_dir if capture else tree.sourced_modules_dir),
            kernel_name=name,
            kernels_dir=str(tree.home / "kernels"),
            display_name=_activation.display_name_for(module_name),
            run_command=run_argv if capture else None,
        )
        assert not capture or notes == [], notes  # the releases' scripts are static: captured, none run at load
        for output in outputs:
            output.apply()


@pytest.fixture(scope="session", params=installers())
def tree(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Tree:
    """A tree installed with ``-b -p``, the releases created from the local channel, the files generated."""
    kind, installer = request.param
    if not installer.is_file():
        pytest.fail(f"installer {installer} not built (scripts/test.sh bootstrap)")
    if not (CHANNEL / "noarch" / "repodata.json").is_file():
        pytest.fail(f"local channel {CHANNEL} not built (tests/testbed/channel/build_channel.py)")
    base = tmp_path_factory.mktemp(f"tree-{kind}")
    home = base / "home"
    home.mkdir()
    root = base / "conda"
    _run(["sh", "-c", 'umask 022 && exec sh "$0" "$@"', str(installer), "-b", "-p", str(root)], home)
    conda = str(root / "bin" / "conda")
    for name, (spec, env_vars) in RELEASES.items():
        prefix = root / "envs" / name
        _run(
            [conda, "create", "-y", "-q", "-p", str(prefix), "--override-channels", "-c", f"file://{CHANNEL}", spec],
            home,
        )
        if not env_vars:
            continue
        if kind == "real":  # real conda writes conda-meta/state itself
            _run(
                [conda, "env", "config", "vars", "set", "-p", str(prefix), *(f"{k}={v}" for k, v in env_vars.items())],
                home,
            )
        else:  # the stand-in has no `conda env config vars`: the file conda writes
            (prefix / "conda-meta" / "state").write_text(json.dumps({"env_vars": env_vars}, indent=2))
    name, data = NULL_VARS_FILE
    (root / "envs" / "isis4.3.0" / "etc" / "conda" / "env_vars.d" / name).write_text(json.dumps(data))
    found = _activation.environment_vars(str(root / "envs" / "isis4.3.0"))[0]
    assert found == {"CSPICE_MAJOR": "67", "ISIS_SITE": "astro-share", "ISIS_LEGACY_DATA": None}, found
    result = Tree(kind, root, home, base / "modulefiles")
    generate(result, ["lmod", "tcl", "sh", "csh"])
    generate(result, ["lmod", "tcl"], capture=False)
    return result


@pytest.fixture(scope="session")
def shells() -> dict[str, str]:
    """The shells on this machine."""
    return {name: path for name in ("bash", "zsh", "tcsh") if (path := shutil.which(name))}
