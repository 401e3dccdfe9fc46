# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tree lock: link()-based, stale holders broken under the guard, heartbeats, leases."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import time
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils import _lock
from ansible_collections.cpkgs.conda.plugins.module_utils._lock import (
    LOCK_DIR,
    LockError,
    LockTimeout,
    TreeLock,
    boot_id,
    read_holder,
    release_token,
)

CTX = multiprocessing.get_context("fork")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    tree = tmp_path / "anaconda3_linux"
    (tree / "conda-meta").mkdir(parents=True)
    return tree


def plant(root: Path, age: float = 0, **info) -> Path:
    """A lock as another writer left it: its holder file linked to the lock name, ``age`` seconds old."""
    info.setdefault("token", "b1-4242-feedfacecafe")
    info.setdefault("host", "b1")
    info.setdefault("pid", 4242)
    info.setdefault("started", "2026-11-26T10:31:02Z")
    info.setdefault("what", "conda_env: isis4.3.0")
    directory = root / LOCK_DIR
    directory.mkdir(exist_ok=True)
    holder = directory / f"holder.{info['token']}"
    holder.write_text(json.dumps(info))
    os.link(holder, directory / "lock")
    if age:
        then = time.time() - age
        os.utime(holder, (then, then))
    return holder


def gone_pid() -> int:
    """The pid of a process that has ended (and was reaped)."""
    proc = CTX.Process(target=int)
    proc.start()
    proc.join()
    return proc.pid


def hold(root: str, seconds: float, ready, kwargs: dict) -> None:
    """Child: hold the tree's lock for ``seconds``."""
    with TreeLock(root, **kwargs):
        ready.set()
        time.sleep(seconds)


def test_acquire_writes_the_holder_and_release_removes_it(root: Path) -> None:
    with TreeLock(str(root), what="conda_env: isis4.3.0") as lock:
        info = read_holder(str(root))
        assert info is not None
        assert info["host"] == lock.host
        assert info["pid"] == os.getpid()
        assert info["boot_id"] == boot_id()
        assert info["what"] == "conda_env: isis4.3.0"
        assert info["started"].endswith("Z")
        assert info["token"] == lock.token
        assert (root / LOCK_DIR / "lock").stat().st_nlink == 2  # the lock is a hard link of the holder file
        assert not list((root / "conda-meta").iterdir())  # nothing where conda looks
    assert read_holder(str(root)) is None
    assert list((root / LOCK_DIR).iterdir()) == []  # the last writer out leaves the directory empty


def test_a_second_writer_waits_then_times_out_naming_the_holder(root: Path) -> None:
    ready = CTX.Event()
    holder = CTX.Process(target=hold, args=(str(root), 5, ready, {"what": "conda_env: isis4.3.0", "host": "b1"}))
    holder.start()
    try:
        assert ready.wait(10)
        start = time.monotonic()
        with pytest.raises(LockTimeout) as caught, TreeLock(str(root), timeout=0.6, host="a1"):
            pass
        waited = time.monotonic() - start
    finally:
        holder.kill()
        holder.join()
    assert 0.6 <= waited < 3
    message = str(caught.value)
    assert message.startswith(f"tree {root} is locked by host b1 pid {holder.pid} since 20")
    assert message.endswith("Z (conda_env: isis4.3.0); waited 0.6 s")


def test_the_second_writer_gets_it_when_the_first_releases(root: Path) -> None:
    ready = CTX.Event()
    holder = CTX.Process(target=hold, args=(str(root), 0.5, ready, {}))
    holder.start()
    assert ready.wait(10)
    with TreeLock(str(root), timeout=10) as lock:
        assert lock.waited > 0.2
        assert lock.broken == []  # released, not broken
    holder.join()


def test_a_dead_holder_on_this_host_is_broken(root: Path) -> None:
    lock = TreeLock(str(root), timeout=0)
    plant(root, host=lock.host, pid=gone_pid(), boot_id=boot_id())
    with lock:
        assert lock.owns()
    assert len(lock.broken) == 1
    assert "is gone" in lock.broken[0]
    assert list((root / LOCK_DIR).iterdir()) == []  # the dead holder's file went with its lock


def test_a_live_holder_on_this_host_is_not_broken_however_old(root: Path) -> None:
    lock = TreeLock(str(root), timeout=0.2, stale_after=0.5, heartbeat=0.1)
    plant(root, age=3600, host=lock.host, pid=os.getppid(), boot_id=boot_id())
    with pytest.raises(LockTimeout):
        lock.acquire()


def test_a_reused_pid_is_a_dead_holder(root: Path) -> None:
    lock = TreeLock(str(root), timeout=0)
    plant(root, host=lock.host, pid=os.getpid(), pid_start="1", boot_id=boot_id())  # our pid, another start
    with lock:
        pass
    assert "is gone" in lock.broken[0]


@pytest.mark.skipif(boot_id() is None, reason="no boot id on this system")
def test_a_holder_from_before_a_reboot_is_broken(root: Path) -> None:
    lock = TreeLock(str(root), timeout=0)
    plant(root, host=lock.host, pid=os.getppid(), boot_id="0" * 8)
    with lock:
        pass
    assert "rebooted" in lock.broken[0]


def test_a_stale_heartbeat_on_another_host_is_broken(root: Path) -> None:
    plant(root, age=700)
    lock = TreeLock(str(root), timeout=0, host="a1")
    with lock:
        pass
    assert len(lock.broken) == 1
    found = re.fullmatch(
        r"host b1 pid 4242 since 2026-11-26T10:31:02Z \(conda_env: isis4.3.0\): its heartbeat is (\d+) s old "
        r"\(stale after 600 s\)",
        lock.broken[0],
    )
    assert found, lock.broken
    assert 700 <= int(found[1]) < 720  # seconds since it was planted, on a busy machine too


def test_a_fresh_heartbeat_on_another_host_is_respected(root: Path) -> None:
    plant(root, age=500)
    with pytest.raises(LockTimeout, match="locked by host b1 pid 4242 since 2026-11-26T10:31:02Z"):
        TreeLock(str(root), timeout=0.2, host="a1").acquire()


def race(root: str, barrier, results) -> None:
    """Child: take the lock (no waiting) and hold it a moment; report whether it won.

    Each racer thinks a while after judging a lock dead, so that all of them judge the stale lock dead
    before any breaks it: the window in which a second breaker could remove the first one's new lock.
    """
    judge = TreeLock.dead

    def slow_judge(self: TreeLock, seen: object) -> object:
        reason = judge(self, seen)
        time.sleep(0.2)
        return reason

    TreeLock.dead = slow_judge  # in this child process only
    lock = TreeLock(root, timeout=0, host=f"a{os.getpid()}")
    barrier.wait()
    try:
        lock.acquire()
    except LockTimeout:
        results.put(("lost", len(lock.broken)))
        return
    time.sleep(1.5)
    lock.release()
    results.put(("won", len(lock.broken)))


@pytest.mark.parametrize("round_", range(2))
def test_racing_breakers_of_a_stale_lock_exactly_one_wins(root: Path, round_: int) -> None:
    plant(root, age=3600)
    count = 4
    barrier = CTX.Barrier(count)
    results = CTX.Queue()
    procs = [CTX.Process(target=race, args=(str(root), barrier, results)) for _index in range(count)]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=30) for _proc in procs]
    for proc in procs:
        proc.join()
    assert sorted(won for won, _broke in outcomes) == ["lost"] * (count - 1) + ["won"], outcomes
    assert sum(broke for _won, broke in outcomes) == 1, outcomes  # the dead lock was broken once


def test_the_heartbeat_keeps_a_long_holder_alive(root: Path) -> None:
    ready = CTX.Event()
    kwargs = {"host": "b1", "heartbeat": 0.1, "stale_after": 0.5}
    holder = CTX.Process(target=hold, args=(str(root), 3, ready, kwargs))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(LockTimeout, match="locked by host b1"):  # 1.5 s: three times stale_after
            TreeLock(str(root), timeout=1.5, host="a1", heartbeat=0.1, stale_after=0.5).acquire()
    finally:
        holder.kill()
        holder.join()
    # killed: its heartbeat stops, and the lock is broken once it is stale
    with TreeLock(str(root), timeout=5, host="a1", heartbeat=0.1, stale_after=0.5) as lock:
        assert "heartbeat" in lock.broken[0]


def test_nested_use_fails_at_once_instead_of_deadlocking(root: Path) -> None:
    with TreeLock(str(root)):
        start = time.monotonic()
        with pytest.raises(LockError, match="already locked by this process"), TreeLock(str(root), timeout=60):
            pass
        assert time.monotonic() - start < 1
        assert (root / LOCK_DIR / "lock").exists()  # the outer lock is untouched
    assert list((root / LOCK_DIR).iterdir()) == []


def test_a_lease_outlives_the_object_and_is_released_by_its_token(root: Path) -> None:
    lock = TreeLock(str(root), lease=3600, what="tree_lock: installer")
    lock.acquire()
    token = lock.detach()
    assert lock._thread is None  # no heartbeat thread for a lease
    with pytest.raises(LockTimeout, match=r"\(tree_lock: installer\), a lease of 3600 s; waited 0.1 s"):
        TreeLock(str(root), timeout=0.1).acquire()
    assert release_token(str(root), "someone-else-1-00") is False
    assert read_holder(str(root))["token"] == token
    assert release_token(str(root), token) is True
    assert list((root / LOCK_DIR).iterdir()) == []
    assert release_token(str(root), token) is None


def test_an_ended_lease_is_broken_and_its_release_leaves_the_new_lock(root: Path) -> None:
    old = TreeLock(str(root), lease=0.3)
    old.acquire()
    token = old.detach()
    time.sleep(0.5)
    with TreeLock(str(root), timeout=0) as new:
        assert "lease of 0.3 s ended" in new.broken[0]
        assert release_token(str(root), token) is False  # not ours any more: the new lock stays
        assert new.owns()
    assert list((root / LOCK_DIR).iterdir()) == []


def test_adopting_a_lease_renews_it_and_keeps_it(root: Path) -> None:
    lease = TreeLock(str(root), lease=1.0)
    lease.acquire()
    token = lease.detach()
    with TreeLock(str(root), holder=token) as adopted:
        time.sleep(1.5)  # longer than the lease: the adopter's heartbeat renews it
        assert adopted.owns()
        with pytest.raises(LockTimeout):
            TreeLock(str(root), timeout=0, host="a1").acquire()
    assert read_holder(str(root))["token"] == token  # still held: the lease's owner releases it
    with pytest.raises(LockError, match="is not held by 'b1-1-00'"):
        TreeLock(str(root), holder="b1-1-00").acquire()
    assert release_token(str(root), token) is True


def test_release_removes_only_our_own_lock(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = TreeLock(str(root), host="b1", heartbeat=0.1, stale_after=0.5)
    lock.acquire()
    lock._stop_heartbeat()  # as if the holder hung
    monkeypatch.delitem(_lock._held, lock.dir)  # as if `other` were another process
    time.sleep(0.7)
    with TreeLock(str(root), timeout=0, host="a1", heartbeat=0.1, stale_after=0.5) as other:
        assert other.broken
        assert lock.release() is False
        assert lock.lost
        assert other.owns()


def test_an_unwritable_tree_names_the_lock_directory(root: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    root.chmod(0o555)
    try:
        with pytest.raises(LockError, match=LOCK_DIR):
            TreeLock(str(root)).acquire()
    finally:
        root.chmod(0o755)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout": -1}, "timeout: must be 0 or more"),
        ({"stale_after": 60, "heartbeat": 30}, "stale_after: must be at least three heartbeats"),
        ({"lease": 0}, "lease: must be more than 0"),
    ],
)
def test_bad_settings(root: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TreeLock(str(root), **kwargs)
