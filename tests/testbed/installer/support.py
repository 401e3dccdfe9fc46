"""Helpers the test-bed tests (test_installer.py, test_shell.py, Molecule) use to get a stand-in installer/tree.

- ``find_wheel()``: the py-rattler 0.28.0 wheel: ``$CPKGS_RATTLER_WHEEL``, else the first match in the cache
  (``${CPKGS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/cpkgs-conda}``, its ``wheels/`` or another direct subdirectory).
  Fetch it once with
  ``pip download --no-deps py-rattler==0.28.0 -d "$CPKGS_CACHE/wheels"``.
- ``ensure_installer(out)``: build (or reuse when up to date) the installer into ``out``
  (default ``$CPKGS_BUILD/installer``, ``CPKGS_BUILD`` defaulting to ``<repo>/.build``).
- ``run_installer(installer, *args)``: run it with ``sh`` under umask 022 in a clean environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import make_installer

REPO = Path(__file__).resolve().parents[3]
STANDIN_SRC = REPO / "tests" / "testbed" / "standin"
WHEEL_GLOB = "py_rattler-0.28.0-*manylinux*x86_64*.whl"
PIP_HINT = 'pip download --no-deps py-rattler==0.28.0 -d "$CPKGS_CACHE/wheels"'


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``${CPKGS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cpkgs-conda}``."""
    environ = os.environ if environ is None else environ
    if environ.get("CPKGS_CACHE"):
        return Path(environ["CPKGS_CACHE"])
    xdg = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "cpkgs-conda"


def build_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$CPKGS_BUILD`` (default ``<repo>/.build``)."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("CPKGS_BUILD") or REPO / ".build")


def find_wheel(environ: Mapping[str, str] | None = None) -> Path | None:
    """The py-rattler wheel, or ``None`` when neither ``$CPKGS_RATTLER_WHEEL`` nor the cache has it."""
    environ = os.environ if environ is None else environ
    if environ.get("CPKGS_RATTLER_WHEEL"):
        wheel = Path(environ["CPKGS_RATTLER_WHEEL"])
        return wheel if wheel.is_file() else None
    cache = cache_dir(environ)
    if not cache.is_dir():
        return None
    # the cache itself, its wheels/ and any other direct subdirectory (never deeper: rootfs trees live there)
    for pattern in (WHEEL_GLOB, f"wheels/{WHEEL_GLOB}", f"*/{WHEEL_GLOB}"):
        found = sorted(cache.glob(pattern))
        if found:
            return found[0]
    return None


def ensure_installer(out: Path | None = None, wheel: Path | None = None) -> Path:
    """The installer in ``out`` (built when missing or out of date)."""
    wheel = wheel or find_wheel()
    if wheel is None:
        raise FileNotFoundError(f"py-rattler 0.28.0 wheel not found; set CPKGS_RATTLER_WHEEL or run: {PIP_HINT}")
    installer, _built = make_installer.build(STANDIN_SRC, wheel, out or build_dir() / "installer")
    return installer


def clean_env(home: Path, path: str | None = None, **extra: str) -> dict[str, str]:
    """A minimal environment (no CONDA_* of the caller): ``HOME``, ``PATH``, ``LANG=C.UTF-8`` and ``extra``."""
    env = {"HOME": str(home), "PATH": path or os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def run_installer(
    installer: Path, *args: str, home: Path, env: Mapping[str, str] | None = None, umask: str = "022"
) -> subprocess.CompletedProcess[str]:
    """``sh INSTALLER ARGS`` under ``umask``, with a clean environment (``HOME=home``)."""
    sh = shutil.which("sh") or "/bin/sh"
    script = f'umask {umask} && exec {sh} "$0" "$@"'
    environ = dict(env) if env is not None else clean_env(home)
    return subprocess.run(
        [sh, "-c", script, str(installer), *args],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
