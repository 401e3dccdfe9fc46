"""Two hosts on one root_squash share (stage ``nfs``): two FUSE clients of the rig's export, each its own mount
(``tests/testbed/nfsrig/second_mount.sh``), stand for two hosts with nothing in common but the server.

- Two ``conda_tree`` runs at once install the same tree, one through each mount: both succeed, the installer
  runs once (the tree's lock is a ``link(2)`` of a unique file on the share, which holds across clients where
  ``fcntl`` locks would not: this client has no NLM), and the tree is complete.
- Removing an env while a user's process holds one of its files open (NFS keeps the file as ``.nfsNNNN``, this
  client as ``.fuse_hiddenNNNN``): ``conda_env state=absent`` takes the env out of users' sight in one step and
  succeeds; what cannot be deleted waits in the tree's ``.cpkgs-trash``; a later run fails nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_roles_on_share
from test_nfs_share import BUILD, INSTALLERS, NOBODY, REPO, Account, owner, run_as, share_root

KIT = os.environ.get("CPKGS_NFS_RIG_KIT", "")
SECOND = REPO / "tests" / "testbed" / "nfsrig" / "second_mount.sh"
CHANNEL = BUILD / "channel" / "cpkgs-testbed"

# The share tests' conditions (rig mounted, root, ansible-playbook), and the kit the second client is built from.
pytestmark = [
    *test_roles_on_share.pytestmark,
    pytest.mark.skipif(not KIT, reason="CPKGS_NFS_RIG_KIT is not set (the second client is built from it)"),
]


@pytest.fixture(scope="module")
def second() -> Iterator[Path]:
    """The second host's mount of the same export; the same share root under it."""
    done = subprocess.run(["bash", str(SECOND), "mount", KIT], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    mount = Path(done.stdout.strip().splitlines()[-1])
    try:
        yield mount / "cpkgs"
    finally:
        subprocess.run(["bash", str(SECOND), "umount"], capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cpkgs-nfs-two-"))
    path.chmod(0o755)  # the share's owner reads the installer from here
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _tasks(out: str) -> dict[str, str]:
    """Each task's output block by its name (the last block of a name wins)."""
    blocks = {}
    for block in out.split("TASK [")[1:]:
        name, _sep, rest = block.partition("]")
        blocks[name.split(" : ", 1)[-1]] = rest
    return blocks


def test_two_hosts_install_the_same_tree_at_once(second: Path, workdir: Path) -> None:
    prefix = share_root() / "anaconda3_linux"
    run_as(owner(), ["rm", "-rf", str(prefix)], timeout=600)
    installer = INSTALLERS["standin"]
    sha256 = Path(f"{installer}.sha256").read_text().split()[0]
    (workdir / "tree.yml").write_text(test_roles_on_share.PLAYBOOK)
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(BUILD / "collections"))
    runs = []
    for index, root in enumerate((share_root(), second)):
        cache = workdir / f"cache{index}"
        cache.mkdir()
        argv = ["ansible-playbook", "-i", "localhost,", "-e", "ansible_python_interpreter=/usr/bin/python3"]
        argv += ["-e", f"share_root={root}", "-e", "require_mount=false", "-e", f"cache={cache}"]
        argv += ["-e", f"installer={installer}"]
        argv += ["-e", f"sha256={sha256}", str(workdir / "tree.yml")]
        runs.append(subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     cwd=REPO))
    outs = [run.communicate(timeout=900)[0] for run in runs]
    try:
        for run, out in zip(runs, outs, strict=True):
            assert run.returncode == 0, out[-4000:]
        marked = [_tasks(out).get("Mark the prefix as being installed", "") for out in outs]
        assert sorted("changed:" in block for block in marked) == [False, True], marked
        assert (prefix / "conda-meta" / "history").is_file()
        assert not (prefix / ".cpkgs-installing").exists()
        assert (second / "anaconda3_linux" / "conda-meta" / "history").is_file()  # the other host sees it too
        info = run_as(owner(), [str(prefix / "bin" / "conda"), "info", "--json"],
                      env={"PATH": "/usr/bin:/bin", "HOME": str(workdir), "LANG": "C.UTF-8"})
        assert info.returncode == 0, info.stderr
    finally:
        run_as(owner(), ["rm", "-rf", str(prefix)], timeout=600)


def _module(args: str, account: Account, workdir: Path) -> dict:
    """``ansible -m cpkgs.conda.conda_env`` as the share's owner (become), its JSON result."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(BUILD / "collections"))
    env["ANSIBLE_REMOTE_TMP"] = str(workdir / "remote-tmp")
    argv = ["ansible", "localhost", "-i", "localhost,", "-c", "local", "-e",
            "ansible_python_interpreter=/usr/bin/python3", "-b", "--become-user", "cpkgsadm",
            "-m", "cpkgs.conda.conda_env", "-a", args]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=600, cwd=workdir)
    data = json.loads(done.stdout)
    return data["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_removing_an_env_a_user_holds_open(workdir: Path) -> None:
    account = owner()
    prefix = share_root() / "anaconda3_linux"
    run_as(account, ["rm", "-rf", str(prefix)], timeout=600)
    home = workdir / "home"
    home.mkdir()
    os.chown(home, account.uid, account.gid)
    own_env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "CONDA_PKGS_DIRS": str(home / "pkgs")}
    done = run_as(account, ["sh", str(INSTALLERS["standin"]), "-b", "-p", str(prefix)], env=own_env, timeout=600)
    assert done.returncode == 0, done.stderr
    common = f"share_root={share_root()} channels=file://{CHANNEL} override_channels=true offline=true"
    built = _module(f"name=held specs=isis=4.3.0 {common}", account, workdir)
    assert built.get("failed") is not True, built
    program = prefix / "envs" / "held" / "bin" / "isis-version"
    holder = subprocess.Popen(
        ["sh", "-c", f'exec 3< "{program}"; echo ready; exec sleep 120'],
        user=NOBODY, group=NOBODY, extra_groups=[], stdout=subprocess.PIPE, text=True, cwd="/",
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        removed = _module(f"name=held state=absent {common}", account, workdir)
        assert removed.get("failed") is not True, removed
        assert removed["changed"] is True
        assert not (prefix / "envs" / "held").exists()  # out of users' sight while the file is held
        listed = run_as(account, [str(prefix / "bin" / "conda"), "env", "list", "--json"], env=own_env)
        assert str(prefix / "envs" / "held") not in json.loads(listed.stdout)["envs"]
    finally:
        holder.kill()
        holder.wait()
    time.sleep(1.5)  # the client's attribute cache
    again = _module(f"name=held state=absent {common}", account, workdir)
    assert again.get("failed") is not True, again
    assert not (prefix / "envs" / "held").exists()
    run_as(account, ["rm", "-rf", str(prefix)], timeout=600)
