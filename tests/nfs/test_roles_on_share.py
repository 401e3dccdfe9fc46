"""The conda_tree role on the NFS rig's root_squash share (stage ``nfs``), run by ``ansible-playbook`` as root.

Each test is one of the failures of tests/nfs/README.md: (a) the permission audit, run as root, could not list a
directory only the owner may read; (b) the mount check refused a share root below the mount point.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_nfs_share import BUILD, INSTALLERS, MOUNT, REPO, owner, run_as, share_root

pytestmark = [
    pytest.mark.skipif(not MOUNT, reason="CPKGS_NFS_MOUNT is not set (stage nfs starts the NFS rig and sets it)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the NFS share tests run as root (root is what gets squashed)"),
    pytest.mark.skipif(not shutil.which("ansible-playbook"), reason="no ansible-playbook (test.sh puts it on PATH)"),
]

PLAYBOOK = """\
- name: The conda_tree role on the NFS share
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/cpkgs.conda.conda: {share_root: "{{ share_root }}"}
  roles:
    - role: cpkgs.conda.conda_tree
      vars:
        conda_tree_owner: cpkgsadm
        conda_tree_require_mount: "{{ require_mount | bool }}"
        conda_tree_cache_dir: "{{ cache }}"
        conda_tree_installers:
          Linux-x86_64: {file: "{{ installer }}", sha256: "{{ sha256 }}"}
"""


@pytest.fixture(scope="module")
def playbook() -> Iterator[Path]:
    """The playbook, in a local directory, with a local cache for the installer."""
    workdir = Path(tempfile.mkdtemp(prefix="cpkgs-nfs-play-"))
    (workdir / "tree.yml").write_text(PLAYBOOK)
    yield workdir
    shutil.rmtree(workdir, ignore_errors=True)


def play(workdir: Path, require_mount: bool) -> subprocess.CompletedProcess[str]:
    installer = INSTALLERS["standin"]
    sha256 = Path(f"{installer}.sha256").read_text().split()[0]
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(BUILD / "collections"))
    env["ANSIBLE_NOCOLOR"] = "1"
    argv = ["ansible-playbook", "-i", "localhost,", "-e", "ansible_python_interpreter=/usr/bin/python3"]
    argv += ["-e", f"share_root={share_root()}", "-e", f"require_mount={require_mount}", "-e", f"cache={workdir}"]
    argv += ["-e", f"installer={installer}", "-e", f"sha256={sha256}", str(workdir / "tree.yml")]
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=900, cwd=REPO)


@pytest.fixture(scope="module")
def installed(playbook: Path) -> Iterator[Path]:
    """The role has installed the tree on the share (as the owner), with the mount check on: (b)."""
    prefix = share_root() / "anaconda3_linux"
    run_as(owner(), ["rm", "-rf", str(prefix)])
    try:
        done = play(playbook, require_mount=True)
        assert done.returncode == 0, done.stdout[-3000:]
        yield prefix
    finally:
        run_as(owner(), ["rm", "-rf", str(prefix)], timeout=600)


def test_role_installs_with_the_share_root_below_the_mount_point(playbook: Path, installed: Path) -> None:
    """(b): MOUNT/cpkgs is no mount point, but lies on the fuse.fuse-nfs mount: the mount check accepts it."""
    assert (installed / "conda-meta" / "history").is_file()
    assert installed.stat().st_uid == owner().uid
    assert not (installed / ".cpkgs-installing").exists()


def test_role_audits_a_directory_only_the_owner_may_read(playbook: Path, installed: Path) -> None:
    """(a): a 0700 directory of the owner's is drift the audit reports, not a failure of root's find."""
    closed = installed / "envs" / "isis4.4.0"
    made = run_as(owner(), ["mkdir", "-p", "-m", "0700", str(closed)])
    assert made.returncode == 0, made.stderr
    done = play(playbook, require_mount=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert str(closed) in done.stdout
    assert "Permission denied" not in done.stdout
