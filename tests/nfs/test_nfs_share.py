"""Facts the collection relies on, proven on a real NFSv3 share with root_squash (stage ``nfs``).

The share is the test bed's NFS rig (``tests/testbed/nfsrig``): nfs-ganesha exporting a directory with
``Squash = Root_Squash`` (root becomes uid/gid 65534), mounted over loopback with the FUSE client fuse-nfs at
``CPKGS_NFS_MOUNT``; ``MOUNT/cpkgs`` stands for the sites' ``/nfs/cpkgs`` and belongs to the share's owner, an
unprivileged account. Without ``CPKGS_NFS_MOUNT`` every test is skipped; they must run as root (root is
what gets squashed, and only root can act as the owner and as ``nobody``).

The FUSE client shows the mount as ``fuse.fuse-nfs``; a production client shows ``nfs`` or ``nfs4``.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

MOUNT = os.environ.get("CPKGS_NFS_MOUNT", "")
REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CPKGS_BUILD", str(REPO / ".build")))
NOBODY = 65534
ENV_NAME = "isis4.3.0"
INSTALLERS = {
    "standin": BUILD / "installer" / "cpkgs-conda-standin-26.7.1-Linux-x86_64.sh",
    "realconda": BUILD / "realconda" / "realconda-26.7.1-Linux-x86_64.sh",
}

pytestmark = [
    pytest.mark.skipif(not MOUNT, reason="CPKGS_NFS_MOUNT is not set (stage nfs starts the NFS rig and sets it)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the NFS share tests run as root (root is what gets squashed)"),
]


# ---------------------------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Account:
    uid: int
    gid: int


def share_root() -> Path:
    return Path(MOUNT) / "cpkgs"


def owner() -> Account:
    """The share's owner: whoever owns ``MOUNT/cpkgs`` (never root)."""
    info = share_root().stat()
    assert info.st_uid != 0, f"{share_root()} must belong to an unprivileged account, not root"
    return Account(info.st_uid, info.st_gid)


def run_as(
    account: Account | None, argv: list[str], env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as ``account`` (uid, primary gid, no supplementary groups), or as root for None."""
    extra = {} if account is None else {"user": account.uid, "group": account.gid, "extra_groups": []}
    return subprocess.run(
        argv,
        env=env or {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        cwd="/",
        **extra,
    )


def mountinfo() -> list[tuple[str, str, str]]:
    """``(mount point, fstype, source)`` of every line of ``/proc/self/mountinfo``."""
    entries = []
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:
        for line in handle:
            fields, tail = line.split(" - ", 1)
            point = fields.split()[4].replace("\\040", " ")
            fstype, source = tail.split()[:2]
            entries.append((point, fstype, source))
    return entries


def local_dir(account: Account) -> Path:
    """A fresh directory on local disk that ``account`` owns (mode 0700): a HOME, a package cache."""
    path = Path(tempfile.mkdtemp(prefix="cpkgs-nfs-"))
    os.chown(path, account.uid, account.gid)
    return path


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory of the owner's on the share (made by the owner), removed afterwards by the owner."""
    own = owner()
    path = share_root() / f"test-{uuid.uuid4().hex[:8]}"
    done = run_as(own, ["mkdir", "-m", "0755", str(path)])
    assert done.returncode == 0, done.stderr
    yield path
    run_as(own, ["rm", "-rf", str(path)])


# ---------------------------------------------------------------------------------------------- the mount
def test_mount_is_a_mount_point_of_the_fuse_nfs_client() -> None:
    assert os.path.ismount(MOUNT)
    entries = [entry for entry in mountinfo() if entry[0] == os.path.realpath(MOUNT)]
    assert len(entries) == 1, entries
    fstype, source = entries[0][1:]
    # fuse.fuse-nfs on this rig; a kernel client (production) shows nfs or nfs4
    assert fstype == "fuse.fuse-nfs"
    assert source.startswith("nfs://") and source.endswith("?version=3"), source


def test_share_root_is_below_the_mount_point() -> None:
    # MOUNT/cpkgs is a directory on the share, not a mount point of its own (like /nfs/cpkgs at some sites)
    assert share_root().is_dir()
    assert not os.path.ismount(share_root())
    assert all(entry[0] != str(share_root()) for entry in mountinfo())


def test_share_root_belongs_to_the_owner() -> None:
    info = share_root().stat()
    assert info.st_uid != 0
    assert stat.S_IMODE(info.st_mode) == 0o755


# ---------------------------------------------------------------------------------------------- root_squash
def test_root_cannot_create_in_the_owners_directory() -> None:
    target = share_root() / f"root-{uuid.uuid4().hex[:8]}"
    with pytest.raises(PermissionError) as caught:
        target.touch()
    assert caught.value.errno == errno.EACCES
    with pytest.raises(PermissionError) as caught:
        target.mkdir()
    assert caught.value.errno == errno.EACCES  # the kit's patch: not ENOENT
    assert not target.exists()


def test_root_cannot_chown_or_chmod_the_owners_files(scratch: Path) -> None:
    own = owner()
    path = scratch / "file"
    assert run_as(own, ["sh", "-c", f"echo data > '{path}' && chmod 0644 '{path}'"]).returncode == 0
    with pytest.raises(PermissionError) as caught:
        os.chown(path, 0, 0)
    assert caught.value.errno == errno.EPERM
    with pytest.raises(PermissionError) as caught:
        path.chmod(0o666)
    assert caught.value.errno == errno.EPERM
    with pytest.raises(PermissionError) as caught:
        os.chown(scratch, 0, 0)
    assert caught.value.errno == errno.EPERM
    info = path.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (own.uid, 0o644)


def test_root_is_nobody_for_the_owners_private_files(scratch: Path) -> None:
    # Locally root reads anything; squashed, it is `nobody` and the owner's 0600 file and 0700 directory stay shut.
    own = owner()
    secret, closed = scratch / "secret", scratch / "closed"
    script = f"umask 077 && echo s > '{secret}' && mkdir '{closed}' && touch '{closed}/inside'"
    assert run_as(own, ["sh", "-c", script]).returncode == 0
    with pytest.raises(PermissionError):
        secret.read_text(encoding="utf-8")
    with pytest.raises(PermissionError):
        list(closed.iterdir())


def test_root_writes_as_nobody_where_others_may_write(scratch: Path) -> None:
    own = owner()
    open_dir = scratch / "open"
    assert run_as(own, ["sh", "-c", f"mkdir '{open_dir}' && chmod 0777 '{open_dir}'"]).returncode == 0
    made = open_dir / "by-root"
    made.write_text("x", encoding="utf-8")
    info = made.stat()
    assert (info.st_uid, info.st_gid) == (NOBODY, NOBODY)


# ---------------------------------------------------------------------------------------------- the owner
OWNER_SCRIPT = r"""
import json, os, sys
d = sys.argv[1]
out = {}
with open(os.path.join(d, "target"), "w") as f:
    f.write("old")
with open(os.path.join(d, ".target.tmp"), "w") as f:
    f.write("new")
os.replace(os.path.join(d, ".target.tmp"), os.path.join(d, "target"))  # atomic replace: rename over
os.symlink("target", os.path.join(d, "link"))
os.link(os.path.join(d, "target"), os.path.join(d, "hard"))
os.chmod(os.path.join(d, "target"), 0o640)
os.mkdir(os.path.join(d, "sub"), 0o755)
os.rename(os.path.join(d, "sub"), os.path.join(d, "sub2"))
out["ok"] = True
print(json.dumps(out))
"""


def test_owner_creates_replaces_links_and_chmods(scratch: Path) -> None:
    done = run_as(owner(), ["python3", "-c", OWNER_SCRIPT, str(scratch)])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ok": True}
    own = owner()
    target = scratch / "target"
    # target is 0640 now: squashed root (nobody) may not read it, the owner reads it through the link
    assert run_as(own, ["cat", str(scratch / "link")]).stdout == "new"
    with pytest.raises(PermissionError):
        target.read_text(encoding="utf-8")
    assert not (scratch / ".target.tmp").exists()
    assert (scratch / "link").readlink() == Path("target")
    time.sleep(1.2)  # past the client's 1 s attribute cache: the link count is the server's
    info = target.stat()
    assert info.st_nlink == 2 and (scratch / "hard").stat().st_nlink == 2
    # one file under two names (st_ino cannot tell here: it is the FUSE library's node number per name)
    # (and two inodes to the kernel: what is written through one name shows through the other after the cache)
    assert run_as(own, ["sh", "-c", f"echo more >> '{scratch / 'hard'}'"]).returncode == 0
    time.sleep(1.2)
    assert run_as(own, ["cat", str(target)]).stdout == "newmore\n"
    assert stat.S_IMODE(info.st_mode) == 0o640
    assert info.st_uid == own.uid and info.st_gid == own.gid
    assert (scratch / "sub2").is_dir() and not (scratch / "sub").exists()


def test_concurrent_callers_keep_their_own_uids(scratch: Path) -> None:
    # Root walks the share while the owner makes nested directories: neither may act with the other's uid.
    own = owner()
    loop = f'while :; do ls -R "{scratch}" >/dev/null 2>&1; touch "{scratch}/root-was-here" 2>/dev/null; done'
    walker = subprocess.Popen(
        ["sh", "-c", loop],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        script = f'''fails=0; for i in $(seq 100); do
            mkdir -p "{scratch}/a$i/b/c" && touch "{scratch}/a$i/b/c/f" || fails=$((fails + 1)); done; echo $fails'''
        done = run_as(own, ["sh", "-c", script])
    finally:
        walker.kill()
        walker.wait()
    assert done.stdout.strip() == "0", done.stderr
    assert not (scratch / "root-was-here").exists()
    owners = {path.stat().st_uid for path in scratch.rglob("*")}
    assert owners == {own.uid}


# ---------------------------------------------------------------------------------------------- a conda tree
@dataclass
class Tree:
    kind: str
    prefix: Path
    home: Path
    pkgs: Path
    install: subprocess.CompletedProcess[str]

    def env(self) -> dict[str, str]:
        """The owner's environment: HOME and the package cache on local disk, no CONDA_* of the caller's."""
        return {
            "HOME": str(self.home),
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "CONDA_PKGS_DIRS": str(self.pkgs),
        }


@pytest.fixture(scope="module", params=sorted(INSTALLERS))
def tree(request: pytest.FixtureRequest) -> Iterator[Tree]:
    """A tree installed on the share by the owner from one installer (the stand-in's, real conda's)."""
    kind = request.param
    installer = INSTALLERS[kind]
    if not installer.is_file():
        if kind == "standin":
            pytest.fail(f"{installer}: the stand-in installer is not built (the bootstrap builds it)")
        pytest.skip(f"{installer}: not built (CPKGS_REAL_CONDA_KIT and a real-* stage build it)")
    own = owner()
    prefix = share_root() / "anaconda3_linux"
    home, pkgs = local_dir(own), local_dir(own)
    run_as(own, ["rm", "-rf", str(prefix)])
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    install = run_as(
        own, ["sh", "-c", 'umask 022 && exec sh "$0" "$@"', str(installer), "-b", "-p", str(prefix)], env=env
    )
    yield Tree(kind, prefix, home, pkgs, install)
    run_as(own, ["rm", "-rf", str(prefix)], timeout=600)
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(pkgs, ignore_errors=True)


@pytest.fixture(scope="module")
def release_env(tree: Tree) -> subprocess.CompletedProcess[str]:
    """``conda create`` of the release env in the tree, by the owner, from the local channel."""
    assert tree.install.returncode == 0, tree.install.stdout + tree.install.stderr
    channel = BUILD / "channel" / "cpkgs-testbed"
    args = [str(tree.prefix / "bin" / "conda"), "create", "-p", str(tree.prefix / "envs" / ENV_NAME), "--offline"]
    args += ["--override-channels", "-c", f"file://{channel}", "isis=4.3.0", "-y", "--json"]
    return run_as(owner(), args, env=tree.env(), timeout=600)


def test_owner_installs_a_tree_on_the_share(tree: Tree) -> None:
    assert tree.install.returncode == 0, tree.install.stdout + tree.install.stderr
    own = owner()
    conda = tree.prefix / "bin" / "conda"
    assert conda.is_file()
    assert (tree.prefix / "conda-meta" / "history").is_file()
    assert tree.prefix.stat().st_uid == own.uid
    assert conda.stat().st_uid == own.uid
    version = run_as(own, [str(conda), "--version"], env=tree.env())
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("conda 26.7.1")


def test_owner_creates_the_release_env(tree: Tree, release_env: subprocess.CompletedProcess[str]) -> None:
    assert release_env.returncode == 0, release_env.stdout + release_env.stderr
    data = json.loads(release_env.stdout)
    assert data["success"] is True
    assert data["prefix"] == str(tree.prefix / "envs" / ENV_NAME)
    linked = {entry["name"] for entry in data["actions"]["LINK"]}
    assert "isis" in linked
    assert (tree.prefix / "envs" / ENV_NAME / "conda-meta" / "history").is_file()
    # the package cache stayed on local disk: nothing extracted into the tree's pkgs on the share
    assert not any((tree.prefix / "pkgs").glob("isis-4.3.0-*"))


def nobody_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def test_unprivileged_user_runs_the_release(tree: Tree, release_env: subprocess.CompletedProcess[str]) -> None:
    assert release_env.returncode == 0, release_env.stderr
    nobody = Account(NOBODY, NOBODY)
    home = local_dir(nobody)
    try:
        done = run_as(nobody, [str(tree.prefix / "envs" / ENV_NAME / "bin" / "isis-version")], env=nobody_env(home))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("isis 4.3.0"), done.stdout


def test_unprivileged_user_can_write_nothing_in_the_tree(
    tree: Tree, release_env: subprocess.CompletedProcess[str]
) -> None:
    assert release_env.returncode == 0, release_env.stderr
    nobody = Account(NOBODY, NOBODY)
    home = local_dir(nobody)
    try:
        done = run_as(nobody, ["find", str(tree.prefix), "-writable", "-print"], env=nobody_env(home), timeout=600)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    # rc 0 also says nobody could read every directory of the tree
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == []
