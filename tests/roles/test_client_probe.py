"""conda_client's probe of the system hooks (one raw shell command) skips the writing tasks only when they would
change nothing: after each drift of the hook directory, a hook or a system start-up file, check mode runs the
writing tasks and reports the change; a run repairs all of them at once, and the run after it runs no writing
task. One converged client serves every case: each case starts from a copy of its files (one playbook run per
drift, not five: the stage runs this file on every CI run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CPKGS_BUILD") or REPO / ".build")
COLLECTIONS = BUILD / "collections"
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
WRITERS = ("Create the hook directory", "Install the hooks (sh and csh)", "Remove the hooks of earlier names",
           "Source the hook from the system zsh and csh start-up files")  # fmt: skip
OLD_HOOKS = ("cpkgs-conda.sh", "cpkgs-conda.csh")  # the role's earlier default name (conda_client_hook_old_names)

pytestmark = pytest.mark.skipif(
    not (COLLECTIONS / "ansible_collections/cpkgs/conda").exists(), reason=f"no collections path in {BUILD}"
)


class Client:
    """The role applied to localhost, its hooks and start-up files in the test's directory."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.hooks = base / "hooks"
        self.zshrc = base / "zshrc"
        self.cshrc = base / "csh.cshrc"
        (base / "share").mkdir()
        self.zshrc.write_text("echo zsh\n")
        self.cshrc.write_text("echo csh\n")
        play = [{
            "hosts": "localhost",
            "gather_facts": True,
            "gather_subset": ["min"],
            "module_defaults": {"group/cpkgs.conda.conda": {"share_root": str(base / "share")}},
            "roles": [{"role": "cpkgs.conda.conda_client", "conda_client_hook_dir": str(self.hooks)}],
        }]  # fmt: skip
        (base / "play.yml").write_text(json.dumps(play))

    def run(self, *args: str) -> tuple[int, list[str]]:
        """(changed count, names of the writing tasks that ran) of one run."""
        proc = self.play(*args)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        ran = []
        for block in proc.stdout.split("TASK [")[1:]:
            name = block.split("]", 1)[0].split(" : ", 1)[-1]
            if name in WRITERS and ("ok:" in block or "changed:" in block):
                ran.append(name)
        changed = int(proc.stdout.rsplit("changed=", 1)[1].split()[0])
        return changed, ran

    def play(self, *args: str) -> subprocess.CompletedProcess[str]:
        environ = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_HOME=str(BUILD / "ansible-home"),
                       ANSIBLE_LOCAL_TEMP=str(self.base / "tmp"), ANSIBLE_NOCOLOR="1",
                       ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")  # fmt: skip
        # the system start-up files are role variables (vars/main.yml): only extra vars move them
        cmd = [str(PLAYBOOK), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
               "-e", f"__conda_client_zshrc={self.zshrc}", "-e", f"__conda_client_cshrc={self.cshrc}",
               *args, str(self.base / "play.yml")]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, env=environ, check=False, timeout=300)


@pytest.fixture(scope="module")
def converged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Client, Path]:
    client = Client(tmp_path_factory.mktemp("client"))
    changed, _ran = client.run()
    assert changed == 3  # the directory and hooks (one task), the blocks of zshrc and csh.cshrc
    assert client.run() == (0, []), "a second run runs a writing task"
    pristine = tmp_path_factory.mktemp("pristine")
    shutil.copytree(client.hooks, pristine / "hooks", symlinks=True)
    shutil.copy2(client.zshrc, pristine / "zshrc")
    shutil.copy2(client.cshrc, pristine / "csh.cshrc")
    return client, pristine


@pytest.fixture
def client(converged: tuple[Client, Path]) -> Client:
    """The converged client, its hooks and start-up files as the converge left them."""
    client, pristine = converged
    shutil.rmtree(client.hooks)
    shutil.copytree(pristine / "hooks", client.hooks, symlinks=True)
    client.hooks.chmod((pristine / "hooks").stat().st_mode & 0o7777)
    shutil.copy2(pristine / "zshrc", client.zshrc)
    shutil.copy2(pristine / "csh.cshrc", client.cshrc)
    return client


def _block_edited(c: Client) -> None:
    c.zshrc.write_text(c.zshrc.read_text().replace("zz-cpkgs-conda.sh", "cpkgs-condA.sh"))


def _block_twice(c: Client) -> None:
    c.cshrc.write_text(c.cshrc.read_text() * 2)


DRIFTS: dict[str, Callable[[Client], None]] = {
    "hook edited": lambda c: (c.hooks / "zz-cpkgs-conda.sh").write_text("echo hi\n"),
    "hook removed": lambda c: (c.hooks / "zz-cpkgs-conda.csh").unlink(),
    "hook mode": lambda c: (c.hooks / "zz-cpkgs-conda.csh").chmod(0o600),
    "hook a symlink": lambda c: (
        (c.hooks / "zz-cpkgs-conda.sh").rename(c.hooks / "x")
        or (c.hooks / "zz-cpkgs-conda.sh").symlink_to(c.hooks / "x")
    ),
    "directory mode": lambda c: c.hooks.chmod(0o700),
    "block edited": _block_edited,
    "block removed": lambda c: c.cshrc.write_text("echo csh\n"),
    "hook of an earlier name": lambda c: (c.hooks / OLD_HOOKS[1]).write_text("echo old\n"),
}


@pytest.mark.parametrize("drift", DRIFTS)
def test_check_mode_reports_each_drift(client: Client, drift: str) -> None:
    DRIFTS[drift](client)
    changed, ran = client.run("--check", "--diff")
    assert changed >= 1, f"{drift}: check mode reports nothing"
    assert ran, f"{drift}: the probe skipped the writing tasks"


def test_a_run_repairs_every_drift_and_the_next_changes_nothing(client: Client) -> None:
    for drift in ("hook edited", "hook mode", "directory mode", "block edited", "block removed"):  # compatible ones
        DRIFTS[drift](client)
    changed, _ran = client.run()
    assert changed == 3, "the directory and hooks, and the blocks of both start-up files, are repaired"
    assert client.run() == (0, []), "the run after the repair runs a writing task"


def test_hooks_of_the_earlier_name_are_removed_once(client: Client) -> None:
    """A client hooked under the role's earlier default name: its sh and csh hooks go, the new ones stay, and the
    run after that runs no writing task (the probe knows they must be absent)."""
    for name in OLD_HOOKS:
        (client.hooks / name).write_text("echo old\n")
    changed, ran = client.run()
    assert (changed, ran) == (1, list(WRITERS)), ran
    assert sorted(path.name for path in client.hooks.iterdir()) == ["zz-cpkgs-conda.csh", "zz-cpkgs-conda.sh"]
    assert client.run() == (0, [])


@pytest.mark.parametrize("names", [["../cpkgs-conda"], ["zz-cpkgs-conda"], [""]])
def test_an_old_name_that_is_not_a_file_name_here_is_refused(tmp_path: Path, names: list[str]) -> None:
    """A path, the hook's own name or an empty name: refused by name and value before anything is written."""
    fresh = Client(tmp_path)
    (tmp_path / "cpkgs-conda.sh").write_text("not a hook\n")  # what ../cpkgs-conda would remove
    before = sorted(path.name for path in tmp_path.iterdir())
    proc = fresh.play("-e", json.dumps({"conda_client_hook_old_names": names}))
    assert proc.returncode != 0
    assert "each of conda_client_hook_old_names must be a file name" in proc.stdout, proc.stdout[-3000:]
    assert f"(got {names})" in proc.stdout, proc.stdout[-3000:]
    assert sorted(path.name for path in tmp_path.iterdir() if path.name != "tmp") == before
    assert not fresh.hooks.exists()


@pytest.mark.parametrize(
    ("given", "wanted"),
    [
        ({"conda_client_probe_tenths": 0},
         ["conda_client_probe_tenths must be a whole number of tenths of a second from 1 to 600 (got 0)."]),
        ({"conda_client_modules_dir": "modules"},
         ["conda_client_modules_dir must be empty or an absolute path (got modules)."]),
        ({"conda_client_probe_tenths": 601, "conda_client_modules_dir": "modules"},
         ["conda_client_probe_tenths must be a whole number of tenths of a second from 1 to 600 (got 601).",
          "conda_client_modules_dir must be empty or an absolute path (got modules)."]),
    ],
)  # fmt: skip
def test_bad_inputs_are_refused_by_name_before_the_look(tmp_path: Path, given: dict, wanted: list[str]) -> None:
    """The role's own checks ride on its look: each bad input named with its value, in one message, and the role
    stops there (no look, nothing written)."""
    fresh = Client(tmp_path)
    proc = fresh.play("-e", json.dumps(given))
    assert proc.returncode == 2, proc.stdout[-3000:]
    message = " ".join(wanted)
    assert f'"msg": "{message}"' in proc.stdout, proc.stdout[-3000:]
    assert "Look at the hook directory" not in proc.stdout
    assert not fresh.hooks.exists()


def test_doubt_runs_the_modules_which_change_nothing(client: Client) -> None:
    """A block present twice is none of the probe's 'done' states: the modules look, and find nothing to do."""
    _block_twice(client)
    changed, ran = client.run()
    assert changed == 0
    assert "Source the hook from the system zsh and csh start-up files" in ran


def test_an_absent_start_up_file_is_nothing_to_do(client: Client) -> None:
    client.zshrc.unlink()
    assert client.run() == (0, [])
    assert not client.zshrc.exists()
