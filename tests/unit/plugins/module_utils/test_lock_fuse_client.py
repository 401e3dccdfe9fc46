# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tree lock on an NFS client that numbers hard links apart and caches link counts (seen with the FUSE NFS
client of the test bed's rig: ``ln t1 t2`` then ``stat`` gave inodes 528 and 529, link counts 1 and 2). Whose a
lock name is must be read from the name (the token it carries), or a holder cannot release its own lock and the
next writer waits a whole lease (an hour for the installer)."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils import _lock
from ansible_collections.cpkgs.conda.plugins.module_utils._lock import LOCK_DIR, LockTimeout, TreeLock, release_token


@pytest.fixture
def root(tmp_path: Path) -> Path:
    tree = tmp_path / "anaconda3_linux"
    (tree / "conda-meta").mkdir(parents=True)
    return tree


class _OsAsTheLockSeesIt:
    """The ``os`` module with some functions replaced, for the lock module only (``_lock.os``): pytest, pathlib and
    shutil keep the real ones (shutil.rmtree checks directories with ``os.fstat``, pytest's temporary directories
    with ``os.stat``)."""

    def __init__(self, **replaced) -> None:
        self.__dict__.update(replaced)

    def __getattr__(self, name: str):
        return getattr(os, name)


@pytest.fixture
def fuse_like_stat(monkeypatch: pytest.MonkeyPatch) -> None:
    """``os.stat`` as the lock module sees it: each name its own inode number; a name's link count as of its
    first look (cached)."""
    real_stat = os.stat
    first_nlink: dict[str, int] = {}

    def stat(path, *args, **kwargs):
        result = real_stat(path, *args, **kwargs)
        fields = list(result)
        fields[1] = abs(hash(os.fspath(path))) % 10**9  # st_ino: per name
        fields[3] = first_nlink.setdefault(os.fspath(path), result.st_nlink)  # st_nlink: cached
        return os.stat_result(fields)

    monkeypatch.setattr(_lock, "os", _OsAsTheLockSeesIt(stat=stat))


@pytest.mark.usefixtures("fuse_like_stat")
def test_a_holder_releases_its_own_lock(root: Path) -> None:
    first = TreeLock(str(root), timeout=0)
    first.acquire()
    assert first.owns()
    assert first.release() is True
    assert not (root / LOCK_DIR / "lock").exists()
    second = TreeLock(str(root), timeout=0)  # would time out if the first had left its lock
    second.acquire()
    assert second.release() is True


@pytest.mark.usefixtures("fuse_like_stat")
def test_a_lease_is_released_by_its_token(root: Path) -> None:
    """The installer's lock (module tree_lock): taken by one process, released by another with the token."""
    lease = TreeLock(str(root), timeout=0, lease=600, what="conda_tree: installer")
    lease.acquire()
    token = lease.detach()
    assert release_token(str(root), token) is True
    assert not (root / LOCK_DIR / "lock").exists()
    after = TreeLock(str(root), timeout=0)
    after.acquire()
    after.release()


@pytest.mark.usefixtures("fuse_like_stat")
def test_the_guard_is_left_free(root: Path) -> None:
    lock = TreeLock(str(root), timeout=0)
    lock.acquire()
    lock.release()
    assert not (root / LOCK_DIR / "guard").exists()


@pytest.fixture
def renumbering_fstat(monkeypatch: pytest.MonkeyPatch) -> None:
    """``os.fstat`` of a client that gives each open of a file a new inode number. A lock that is read over and
    over (a breaker that never breaks) fails the test instead of hanging it."""
    real_fstat = os.fstat
    calls = [0]

    def fstat(fd, *args, **kwargs):
        calls[0] += 1
        if calls[0] > 200:
            raise RuntimeError("the lock was read 200 times")
        fields = list(real_fstat(fd, *args, **kwargs))
        fields[1] = calls[0]  # st_ino
        return os.stat_result(fields)

    monkeypatch.setattr(_lock, "os", _OsAsTheLockSeesIt(fstat=fstat))


@pytest.mark.usefixtures("renumbering_fstat")
def test_a_dead_lock_is_broken_though_each_read_numbers_it_afresh(root: Path) -> None:
    """Two reads of the same dead lock are the same holder by its token, whatever their inode numbers."""
    directory = root / LOCK_DIR
    directory.mkdir()
    holder = directory / "holder.b1-4242-feedfacecafe"
    holder.write_text(json.dumps({"token": "b1-4242-feedfacecafe", "host": "b1", "pid": 4242}))
    os.link(holder, directory / "lock")
    then = time.time() - 700
    os.utime(holder, (then, then))
    with TreeLock(str(root), timeout=0, host="a1") as lock:
        assert lock.owns()
    assert len(lock.broken) == 1
    found = re.fullmatch(
        r"host b1 pid 4242 since \?: its heartbeat is (\d+) s old \(stale after 600 s\)", lock.broken[0]
    )
    assert found, lock.broken
    assert 700 <= int(found[1]) < 720  # seconds since it was planted, on a busy machine too


@pytest.mark.usefixtures("renumbering_fstat")
def test_a_dead_lock_that_cannot_be_told_apart_times_out_instead_of_spinning(root: Path) -> None:
    """A dead lock whose holder file cannot be read, on a client that numbers each read afresh: no two reads are
    the same lock, so it is never broken; the waiter waits out its timeout as for a live holder (it spun at full
    CPU for ever before)."""
    directory = root / LOCK_DIR
    directory.mkdir()
    holder = directory / "holder.b1-4242-feedfacecafe"
    holder.write_text("{not json")
    os.link(holder, directory / "lock")
    then = time.time() - 700
    os.utime(holder, (then, then))
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            TreeLock(str(root), timeout=1, host="a1").acquire()
        except BaseException as exc:  # the outcome is checked below
            outcome.append(exc)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    waiter.join(30)
    assert not waiter.is_alive(), "the waiter is still spinning after 30 s (timeout 1 s)"
    assert [type(exc) for exc in outcome] == [LockTimeout], outcome
    assert "waited 1 s" in str(outcome[0])
    assert (directory / "lock").exists()  # not broken: it could not be told apart from a new lock


@pytest.fixture
def path_based_fstat(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """A client that answers ``fstat`` by the name the file was opened with (a FUSE file system without its own
    ``fgetattr``, as the rig's client): once the name is gone, ``fstat`` of a descriptor still open on it fails
    with ENOENT. The lease put in the returned list (root, token) is released right after a waiter opened the lock name
    and before it looks at what it opened: the moment the NFS stage's two hosts met (the second one failed with
    ``cannot take its lock in …/.cpkgs-lock: No such file or directory``)."""
    real_open, real_fstat = os.open, os.fstat
    holders: list[tuple[str, str]] = []
    names: dict[int, str] = {}

    def open_(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        names[fd] = os.fspath(path)
        if Path(path).name == "lock" and holders:
            release_token(*holders.pop())
        return fd

    def fstat(fd, *args, **kwargs):
        if fd in names and not os.path.lexists(names[fd]):
            raise FileNotFoundError(2, "No such file or directory")
        return real_fstat(fd, *args, **kwargs)

    monkeypatch.setattr(_lock, "os", _OsAsTheLockSeesIt(open=open_, fstat=fstat))
    return holders


def test_a_lock_released_while_a_waiter_reads_it_is_taken(root: Path, path_based_fstat: list[tuple[str, str]]) -> None:
    holder = TreeLock(str(root), timeout=0, lease=600, what="conda_tree: installer")
    holder.acquire()
    path_based_fstat.append((str(root), holder.detach()))
    with TreeLock(str(root), timeout=5, what="conda_tree: installer") as waiter:
        assert waiter.owns()
    assert path_based_fstat == []  # the holder released in the middle of the waiter's read
    assert not (root / LOCK_DIR / "lock").exists()
