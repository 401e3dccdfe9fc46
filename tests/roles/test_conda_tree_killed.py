"""A real ``kill -9`` of the installer while role conda_tree runs it (first install on an empty share): the run
fails, nobody can take the half tree for installed, and the next run installs it completely.

The installer and its children are frozen (SIGSTOP) whenever they are seen running; the point is checked while
they are frozen (so it cannot pass meanwhile) and they are killed there (SIGKILL), or let go on (SIGCONT) to be
looked at again: as soon as it runs, and part-way through unpacking (files there, no ``conda-meta/history``).
Runs with the test bed's installer, and with real conda's when it is built
(``$CPKGS_BUILD/realconda``, stage ``real-*``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import processes
import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CPKGS_BUILD") or REPO / ".build")
COLLECTIONS = BUILD / "collections"
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
INSTALLERS = {
    "standin": BUILD / "installer" / "cpkgs-conda-standin-26.7.1-Linux-x86_64.sh",
    "realconda": BUILD / "realconda" / "realconda-26.7.1-Linux-x86_64.sh",
}

pytestmark = pytest.mark.skipif(
    not (COLLECTIONS / "ansible_collections/cpkgs/conda").exists(), reason=f"no collections path in {BUILD}"
)


def _count(prefix: Path) -> int:
    return sum(len(files) for _root, _dirs, files in os.walk(prefix))


# When to kill: each a test of the prefix, made while the installer is frozen.
POINTS: dict[str, Callable[[Path], bool]] = {
    "as-it-starts": lambda prefix: True,
    "part-way": lambda prefix: _count(prefix) >= 40 and not (prefix / "conda-meta" / "history").exists(),
}


def _installer_pids(prefix: Path) -> list[int]:
    """The installer's processes: every process whose command line names the prefix (the installer is run with
    ``-p PREFIX``; what it starts inherits or names it), and their descendants."""
    wanted = str(prefix).encode()
    procs = processes.table()
    found = {pid for pid, (_ppid, cmdline) in procs.items() if wanted in cmdline and b"ansible" not in cmdline}
    return processes.with_descendants(found, procs)


def _playbook(work: Path, kind: str) -> tuple[list[str], dict]:
    installer = INSTALLERS[kind]
    sha256 = (installer.parent / (installer.name + ".sha256")).read_text().split()[0]
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {"group/cpkgs.conda.conda": {"share_root": str(work / "share")}},
            "roles": [
                {
                    "role": "cpkgs.conda.conda_tree",
                    "conda_tree_installers": {"Linux-x86_64": {"file": str(installer), "sha256": sha256}},
                    "conda_tree_cache_dir": str(work / "cache"),
                }
            ],
        }
    ]
    (work / "play.yml").write_text(json.dumps(play))
    environ = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_HOME=str(BUILD / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(work / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
    )
    cmd = [str(PLAYBOOK), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
           str(work / "play.yml")]
    return cmd, environ


@pytest.mark.parametrize("point", sorted(POINTS))
@pytest.mark.parametrize("kind", sorted(INSTALLERS))
def test_a_killed_installer_leaves_no_tree_and_the_next_run_installs_it(tmp_path: Path, kind: str, point: str) -> None:
    if not INSTALLERS[kind].is_file():
        pytest.skip(f"no {kind} installer in {BUILD}")
    (tmp_path / "share").mkdir()
    prefix = tmp_path / "share" / "anaconda3_linux"
    cmd, environ = _playbook(tmp_path, kind)
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ)
    killed = processes.kill_at(
        run, lambda: _installer_pids(prefix), lambda: prefix.is_dir() and POINTS[point](prefix), timeout=240
    )
    out = run.communicate(timeout=240)[0]
    assert killed, f"the installer finished before the point {point!r} was seen:\n{out}"
    assert run.returncode != 0, out
    assert not (prefix / "conda-meta" / "history").exists()  # nobody takes it for a tree
    facts_run = subprocess.run(
        [str(PLAYBOOK.parent / "ansible"), "localhost", "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", "-m", "cpkgs.conda.conda_facts",
         "-a", f"share_root={tmp_path / 'share'} gather_envs=false"],
        capture_output=True, text=True, env=environ, check=False, timeout=120,
    )
    assert '"installed": false' in facts_run.stdout, facts_run.stdout + facts_run.stderr

    again = subprocess.run(cmd, capture_output=True, text=True, env=environ, check=False, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (prefix / "conda-meta" / "history").is_file()
    assert not (prefix / ".cpkgs-installing").exists()
    conda = subprocess.run([str(prefix / "bin" / "conda"), "info", "--json"], capture_output=True, text=True,
                           check=False, timeout=120, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert conda.returncode == 0, conda.stderr
    assert json.loads(conda.stdout)["root_prefix"] == str(prefix)
