"""Helpers shared by test_standin.py and test_contract.py (not part of the installed stand-in).

* :func:`contract_channel` builds the test-bed channels once (``build_channel.py OUTDIR``, cached by the
  channel helper's recipe hash) under ``$CPKGS_BUILD/channel`` and returns the contract channel's URL.
* :class:`Tree` is a temporary stand-in tree (``ROOT/conda-meta`` as the installer makes it) with its own
  ``HOME``, ``CONDARC`` and package cache; :meth:`Tree.run` runs the CLI in a child process (py-rattler can
  crash at interpreter exit, so commands that solve or link never run inside the pytest process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

STANDIN_DIR = Path(__file__).resolve().parent
REPO = STANDIN_DIR.parents[2]
BUILDER = REPO / "tests" / "testbed" / "channel" / "build_channel.py"
CONTRACT_DIR = REPO / "tests" / "testbed" / "contract"

#: Variables of an activated conda shell that must not leak into the tests.
_SCRUB = (
    "CONDA_PREFIX",
    "CONDA_SHLVL",
    "CONDA_DEFAULT_ENV",
    "CONDA_EXE",
    "CONDA_PYTHON_EXE",
    "CONDARC",
    "CONDA_ENVS_PATH",
    "CONDA_ENVS_DIRS",
    "CONDA_PKGS_DIRS",
    "CPKGS_STANDIN_ROOT",
    "XDG_CONFIG_HOME",
)


#: The interpreter the stand-in runs with as another account (same minor version as this one, see
#: :func:`system_python_usable`).
SYSTEM_PYTHON = "/usr/bin/python3"


def system_python_usable() -> bool:
    """Whether :data:`SYSTEM_PYTHON` has this interpreter's minor version (it then loads its site-packages)."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    proc = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() == str(sys.version_info[:2])


def build_dir() -> Path:
    """``$CPKGS_BUILD`` or ``<repo>/.build``."""
    return Path(os.environ.get("CPKGS_BUILD") or REPO / ".build")


def build_channels() -> Path:
    """Build (or reuse) the test-bed channels; return the directory holding ``contract`` and ``cpkgs-testbed``."""
    outdir = build_dir() / "channel"
    proc = subprocess.run([sys.executable, str(BUILDER), str(outdir)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"build_channel.py failed: {proc.stdout}{proc.stderr}")
    return outdir


def contract_channel() -> str:
    """The ``file://`` URL of the contract channel (pkga 1.0/2.0 -> pkgb -> pkgc)."""
    return (build_channels() / "contract").as_uri()


def conda_exe() -> str | None:
    """A real conda to run instead of the stand-in (``$CPKGS_TEST_CONDA_EXE``), or None."""
    return os.environ.get("CPKGS_TEST_CONDA_EXE") or None


@dataclass
class Result:
    """One CLI run."""

    rc: int
    stdout: str
    stderr: str

    @property
    def json(self) -> object:
        """stdout parsed as JSON (fails the test with the output when it is not JSON)."""
        try:
            return json.loads(self.stdout)
        except ValueError as exc:
            raise AssertionError(f"not JSON (rc {self.rc}): {self.stdout!r} {self.stderr!r}") from exc


@dataclass
class Tree:
    """A temporary tree with its own HOME, CONDARC and package cache."""

    base: Path
    with_meta: bool = True
    exe: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.with_meta:
            (self.root / "conda-meta").mkdir(exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        self.condarc.touch()

    @property
    def root(self) -> Path:
        """The root prefix (the stand-in's tree; unused with a real conda, which has its own)."""
        return self.base / "tree"

    @property
    def home(self) -> Path:
        """``HOME`` of the runs."""
        return self.base / "home"

    @property
    def condarc(self) -> Path:
        """The file ``$CONDARC`` points to (empty unless a test writes it)."""
        return self.base / "condarc"

    def env(self, extra: Mapping[str, str] | None = None, user: int | None = None) -> dict[str, str]:
        """The process environment of a run (``user``: another account runs it, see :meth:`argv`)."""
        env = {k: v for k, v in os.environ.items() if k not in _SCRUB and not k.startswith("CONDA_")}
        env.update(HOME=str(self.home), CONDARC=str(self.condarc), CPKGS_STANDIN_ROOT=str(self.root))
        if not self.exe:
            paths = [str(STANDIN_DIR), *([sysconfig.get_paths()["purelib"]] if user is not None else [])]
            env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        env.update(self.extra_env)
        env.update(extra or {})
        return env

    def argv(self, args: Sequence[str], user: int | None = None) -> list[str]:
        """The command line of a run.

        Run as another account (``user``), the stand-in uses :data:`SYSTEM_PYTHON` (this interpreter may live
        where that account cannot execute it, e.g. under ``/root``) with this interpreter's site-packages.
        """
        if self.exe:
            return [self.exe, *args]
        python = SYSTEM_PYTHON if user is not None else sys.executable
        return [python, "-m", "conda_standin", *args]

    def run(self, *args: str, env: Mapping[str, str] | None = None, user: int | None = None) -> Result:
        """Run the CLI (in a child process) and return rc, stdout and stderr."""
        proc = subprocess.run(
            self.argv(args, user),
            env=self.env(env, user),
            capture_output=True,
            text=True,
            check=False,
            user=user,
            cwd=str(self.base),
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)


def snapshot(path: Path) -> dict[str, tuple[int, int]]:
    """``{relative path: (mode, size)}`` of everything under ``path`` (to prove nothing changed)."""
    result = {}
    if not path.exists():
        return result
    for entry in sorted(path.rglob("*")):
        stat = entry.lstat()
        result[str(entry.relative_to(path))] = (stat.st_mode, stat.st_size if entry.is_file() else 0)
    return result
