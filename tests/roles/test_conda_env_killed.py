"""A real ``kill -9`` during an env build (module conda_env, as ``ansible -m`` runs it): users never see the
half-built env, and the next run finishes it and opens it.

The module and conda are frozen (SIGSTOP) whenever seen running, the point is checked while they are frozen, and
they are killed there (SIGKILL) or let go on (SIGCONT): as conda starts, and part-way through linking (files
there). Runs with the test bed's installer and with real conda's when it is built (the module opens the env a few
milliseconds after conda ends: too short a window to hit by polling, so that point is the unit tests').
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import processes
import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CPKGS_BUILD") or REPO / ".build")
COLLECTIONS = BUILD / "collections"
CHANNEL = BUILD / "channel" / "cpkgs-testbed"
ANSIBLE = Path(sys.executable).parent / "ansible"
INSTALLERS = {
    "standin": BUILD / "installer" / "cpkgs-conda-standin-26.7.1-Linux-x86_64.sh",
    "realconda": BUILD / "realconda" / "realconda-26.7.1-Linux-x86_64.sh",
}
NOBODY = 65534

pytestmark = pytest.mark.skipif(
    not (COLLECTIONS / "ansible_collections/cpkgs/conda").exists() or not CHANNEL.is_dir(),
    reason=f"no collections path or channel in {BUILD}",
)


def _count(prefix: Path) -> int:
    return sum(len(files) for _root, _dirs, files in os.walk(prefix))


POINTS: dict[str, Callable[[Path], bool]] = {
    "as-conda-starts": lambda prefix: True,
    "part-way": lambda prefix: _count(prefix) >= 20,
}


def _pids(run: int, prefix: Path) -> list[int]:
    """Among the descendants of the ``ansible`` process ``run`` (never another process of the host: Molecule's
    containers run conda_env too), the module's process and conda's (their command lines name the module or the
    prefix), with their own descendants; none until conda runs."""
    marks = (b"AnsiballZ_conda_env", str(prefix).encode())
    procs = processes.table()
    found = {
        pid
        for pid, (_ppid, cmdline) in procs.items()
        if processes.below(pid, run, procs)
        and any(mark in cmdline for mark in marks)
        and not cmdline.split(b"\0", 1)[0].endswith((b"rm", b"/bin/sh", b"sh"))
    }
    pids = processes.with_descendants(found, procs)
    return pids if any(str(prefix).encode() in procs[pid][1] for pid in pids if pid in procs) else []


@pytest.fixture
def work() -> Iterator[Path]:
    """A scratch directory other accounts can reach (pytest's own is under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="cpkgs-env-killed-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _as_nobody(program: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", f'exec "{program}"'], user=NOBODY, group=NOBODY, extra_groups=[],
                          capture_output=True, text=True, check=False, cwd="/", env={"PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("point", sorted(POINTS))
@pytest.mark.parametrize("kind", sorted(INSTALLERS))
def test_a_killed_env_build_stays_closed_and_the_next_run_opens_it(work: Path, kind: str, point: str) -> None:
    if not INSTALLERS[kind].is_file():
        pytest.skip(f"no {kind} installer in {BUILD}")
    if kind == "standin" and point == "part-way":
        pytest.skip("the test bed's stand-in links a release in under half a second: too fast to stop part-way")
    tmp_path = work
    share = tmp_path / "share"
    tree = share / "anaconda3_linux"
    installed = subprocess.run(["sh", str(INSTALLERS[kind]), "-b", "-p", str(tree)], capture_output=True, text=True,
                               check=False, timeout=300)
    assert installed.returncode == 0, installed.stderr
    prefix = tree / "envs" / "isis4.3.0"
    environ = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_HOME=str(BUILD / "ansible-home"),
                   ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"), ANSIBLE_NOCOLOR="1")
    cmd = [str(ANSIBLE), "localhost", "-i", "localhost,", "-c", "local",
           "-e", f"ansible_python_interpreter={sys.executable}", "-m", "cpkgs.conda.conda_env",
           "-a", f"name=isis4.3.0 share_root={share} specs=isis=4.3.0 channels=file://{CHANNEL} "
                 "override_channels=true offline=true"]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ)
    killed = processes.kill_at(
        run, lambda: _pids(run.pid, prefix), lambda: prefix.is_dir() and POINTS[point](prefix), timeout=300
    )
    out = run.communicate(timeout=300)[0]
    assert killed, f"the build ended before the point {point!r} was seen:\n{out}"
    assert run.returncode != 0, out
    assert stat.S_IMODE(prefix.stat().st_mode) == 0o700, out  # closed: users cannot see into it
    peek = _as_nobody(prefix / "bin" / "isis-version")
    assert peek.returncode == 126, peek
    assert "Permission denied" in peek.stderr

    again = subprocess.run([*cmd[:-1], cmd[-1]], capture_output=True, text=True, env=environ, check=False, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert stat.S_IMODE(prefix.stat().st_mode) == 0o755
    ran = _as_nobody(prefix / "bin" / "isis-version")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("isis 4.3.0")
    listed = subprocess.run([str(tree / "bin" / "conda"), "list", "-p", str(prefix), "--json"], capture_output=True,
                            text=True, check=False, timeout=300, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert "isis" in {package["name"] for package in json.loads(listed.stdout)}
