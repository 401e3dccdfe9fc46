# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tree lock as others see it: what its holder file says, how odd or unreadable holder files are judged and
named, how a waiter paces itself, what a holder notices when its lock is broken, and the messages of bad input."""

from __future__ import annotations

import calendar
import errno
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils import _lock
from ansible_collections.cpkgs.conda.plugins.module_utils._files import FileError
from ansible_collections.cpkgs.conda.plugins.module_utils._lock import (
    LOCK_DIR,
    LockError,
    LockTimeout,
    TreeLock,
    read_holder,
    release_token,
)

ISO = "%Y-%m-%dT%H:%M:%SZ"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    tree = tmp_path / "anaconda3_linux"
    (tree / "conda-meta").mkdir(parents=True)
    return tree


def plant(root: Path, content: bytes, age: float = 0) -> Path:
    """A lock whose holder file holds ``content``, last touched ``age`` seconds ago."""
    directory = root / LOCK_DIR
    directory.mkdir(exist_ok=True)
    holder = directory / "holder.b1-4242-feedfacecafe"
    holder.write_bytes(content)
    os.link(holder, directory / "lock")
    then = time.time() - age
    os.utime(holder, (then, then))
    return holder


def info(**fields: object) -> bytes:
    """A holder file of host b1 (another host), with ``fields`` added; a field given None is left out."""
    base = {"token": "b1-4242-feedfacecafe", "host": "b1", "pid": 4242, "started": "2026-11-26T10:31:02Z"}
    base.update(fields)
    return json.dumps({name: value for name, value in base.items() if value is not None}).encode()


def heartbeat_age(broken: list, holder: str, stale_after: int) -> int:
    """The age of the one stale heartbeat in ``broken``, a lock's list of the holders it broke (the age grows
    while a busy machine runs the test)."""
    assert len(broken) == 1, broken
    found = re.fullmatch(
        rf"{re.escape(holder)}: its heartbeat is (\d+) s old \(stale after {stale_after} s\)", broken[0]
    )
    assert found, broken
    return int(found[1])


def test_the_holder_file_says_who_since_when_in_utc(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = SimpleNamespace(**{name: getattr(time, name) for name in ("monotonic", "sleep", "strftime", "gmtime")})
    clock.time = lambda: 1_800_000_000.0
    monkeypatch.setattr(_lock, "time", clock)
    with TreeLock(str(root), heartbeat=20, stale_after=60) as lock:
        holder = read_holder(str(root))
    assert holder is not None
    assert holder["version"] == 1  # the format of the holder file, for readers of later versions
    assert (holder["started"], holder["started_epoch"]) == ("2027-01-15T08:00:00Z", 1_800_000_000.0)
    assert (holder["heartbeat"], holder["lease"]) == (20, None)
    assert holder["token"] == lock.token
    beat = calendar.timegm(time.strptime(holder["heartbeat_at"], ISO))  # the file's mtime, in UTC
    assert abs(beat - time.time()) < 5


def test_a_lease_holder_file_has_no_heartbeat(root: Path) -> None:
    lock = TreeLock(str(root), lease=90)
    lock.acquire()
    token = lock.detach()
    holder = read_holder(str(root))
    assert (holder["heartbeat"], holder["lease"]) == (None, 90)
    assert release_token(str(root), token) is True


@pytest.mark.parametrize(
    "content",
    [b"", b'{"token": "b1-42', b'["b1", 4242]', b'"b1"', b"\xff\xfe\x00"],
    ids=["empty", "half-written", "a list", "a string", "not utf-8"],
)
def test_an_unreadable_holder_file_is_an_unknown_holder(root: Path, content: bytes) -> None:
    plant(root, content)
    with pytest.raises(LockTimeout) as caught:
        TreeLock(str(root), timeout=0, host="a1").acquire()
    assert str(caught.value) == f"tree {root} is locked by an unknown holder (its info file is unreadable); waited 0 s"
    assert caught.value.holder is None
    assert list(read_holder(str(root))) == ["heartbeat_at"]


def test_a_stale_unreadable_holder_is_broken(root: Path) -> None:
    plant(root, b'{"token": "b1-42', age=700)
    with TreeLock(str(root), timeout=0, host="a1") as lock:
        assert lock.owns()
    assert heartbeat_age(lock.broken, "an unknown holder (its info file is unreadable)", 600) in range(700, 720)


def test_a_holder_file_without_pid_or_start_is_named_with_question_marks(root: Path) -> None:
    plant(root, info(pid=None, started=None))
    with pytest.raises(LockTimeout, match=r"is locked by host b1 pid \? since \?; waited 0 s$"):
        TreeLock(str(root), timeout=0, host="a1").acquire()


def test_a_lease_of_zero_is_no_lease(root: Path) -> None:
    """A holder file saying ``lease: 0`` (no writer of this collection makes one) is judged by its heartbeat."""
    plant(root, info(lease=0), age=5)
    with pytest.raises(LockTimeout, match=r"locked by host b1 pid 4242 since 2026-11-26T10:31:02Z; waited 0 s$"):
        TreeLock(str(root), timeout=0, host="a1").acquire()


def test_a_waiter_gives_the_holder_three_of_its_own_heartbeats(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The waiter's stale_after (3 s) is shorter than the holder's three heartbeats (300 s): a heartbeat 10 s old
    is the holder's own pace, not death."""
    holder = TreeLock(str(root), host="b1", heartbeat=100, stale_after=300)
    holder.acquire()
    monkeypatch.delitem(_lock._held, holder.dir)  # as if the waiter were another process
    try:
        then = time.time() - 10
        os.utime(holder.own, (then, then))
        with pytest.raises(LockTimeout, match="locked by host b1"):
            TreeLock(str(root), timeout=0, host="a1", heartbeat=1, stale_after=3).acquire()
    finally:
        assert holder.release() is True


def test_a_holder_of_another_pace_is_stale_after_its_three_heartbeats(root: Path) -> None:
    plant(root, info(heartbeat=2), age=10)
    with TreeLock(str(root), timeout=0, host="a1", heartbeat=1, stale_after=3) as lock:
        pass
    assert heartbeat_age(lock.broken, "host b1 pid 4242 since 2026-11-26T10:31:02Z", 6) in range(10, 30)


def test_a_waiter_backs_off_and_gives_up_at_the_timeout(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pauses start at ``poll``, double up to 5 s, each jittered down to no less than half; the last one ends at
    the timeout exactly. The clock only moves when the waiter sleeps; the jitter is the middle of its range."""
    plant(root, info())
    now = [0.0]
    pauses: list = []

    def sleep(seconds: float) -> None:
        assert seconds > 0, "a pause of nothing is a busy loop"
        pauses.append(seconds)
        now[0] += seconds

    clock = SimpleNamespace(monotonic=lambda: now[0], sleep=sleep, time=time.time, strftime=time.strftime,
                            gmtime=time.gmtime)  # fmt: skip
    monkeypatch.setattr(_lock, "time", clock)
    monkeypatch.setattr(_lock, "random", SimpleNamespace(uniform=lambda low, high: (low + high) / 2))
    with pytest.raises(LockTimeout, match=r"; waited 12 s$"):
        TreeLock(str(root), timeout=12, poll=0.0625, host="a1").acquire()
    assert sum(pauses) == 12
    step = 0.0625
    for pause in pauses[:-1]:
        assert step / 2 <= pause <= step
        step = min(step * 2, 5.0)
    assert 0 < pauses[-1] <= step
    assert max(pauses) <= 5


def test_a_timeout_of_zero_tries_once_without_sleeping(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plant(root, info())

    def sleep(seconds: float) -> None:
        pytest.fail(f"slept {seconds} s")

    clock = SimpleNamespace(monotonic=lambda: 100.0, sleep=sleep, time=time.time, strftime=time.strftime,
                            gmtime=time.gmtime)  # fmt: skip
    monkeypatch.setattr(_lock, "time", clock)
    with pytest.raises(LockTimeout, match="waited 0 s"):
        TreeLock(str(root), timeout=0, host="a1").acquire()


def test_a_holder_notices_when_its_lock_was_broken(root: Path) -> None:
    lock = TreeLock(str(root), heartbeat=0.05, stale_after=0.2)
    lock.acquire()
    aside = root / LOCK_DIR / "broken.other"
    Path(lock.path).rename(aside)  # what a breaker does: the lock name and our holder file go
    aside.unlink()
    Path(lock.own).unlink()
    deadline = time.monotonic() + 5
    while not lock.lost and time.monotonic() < deadline:
        time.sleep(0.02)
    assert lock.lost
    assert lock.release() is False


def test_a_host_name_of_any_characters_makes_a_token_that_releases(root: Path) -> None:
    lock = TreeLock(str(root), lease=60, host="ws 1/lab:a")
    lock.acquire()
    token = lock.detach()
    assert read_holder(str(root))["host"] == "ws 1/lab:a"
    assert "/" not in token and " " not in token
    assert release_token(str(root), token) is True


def test_detaching_an_adopted_lease_keeps_it(root: Path) -> None:
    lease = TreeLock(str(root), lease=60)
    lease.acquire()
    token = lease.detach()
    adopted = TreeLock(str(root), holder=token)
    adopted.acquire()
    assert adopted.held
    assert adopted.detach() == token
    assert not adopted.held
    assert read_holder(str(root))["token"] == token
    assert release_token(str(root), token) is True


def test_adopting_a_free_lock_fails_naming_nobody(root: Path) -> None:
    with pytest.raises(LockError) as caught:
        TreeLock(str(root), holder="b1-1-00").acquire()
    assert caught.value.message == (
        f"lock_holder: the lock of tree {root} is not held by 'b1-1-00' "
        "(it is held by nobody; its lease may have ended)"
    )
    assert caught.value.holder is None


def test_adopting_a_lock_another_holds_fails_naming_it(root: Path) -> None:
    plant(root, info(what="conda_env: isis4.3.0"))
    with pytest.raises(LockError) as caught:
        TreeLock(str(root), holder="b1-1-00").acquire()
    assert caught.value.message == (
        f"lock_holder: the lock of tree {root} is not held by 'b1-1-00' (it is held by host b1 pid 4242 since "
        "2026-11-26T10:31:02Z (conda_env: isis4.3.0); its lease may have ended)"
    )
    assert caught.value.holder["token"] == "b1-4242-feedfacecafe"


def test_a_symbolic_link_as_the_lock_is_not_followed(root: Path) -> None:
    elsewhere = root.parent / "holder.json"
    elsewhere.write_bytes(info())
    (root / LOCK_DIR).mkdir()
    (root / LOCK_DIR / "lock").symlink_to(elsewhere)
    with pytest.raises(LockError) as caught:
        TreeLock(str(root), timeout=0, host="a1").acquire()
    assert not isinstance(caught.value, LockTimeout)  # refused, not waited for
    assert caught.value.message == f"tree {root}: cannot take its lock in {root / LOCK_DIR}: {os.strerror(errno.ELOOP)}"
    assert sorted(path.name for path in (root / LOCK_DIR).iterdir()) == ["lock"]  # our holder file is gone


def test_a_tree_that_is_a_file_names_the_lock_directory(tmp_path: Path) -> None:
    tree = tmp_path / "anaconda3_linux"
    tree.write_text("")
    with pytest.raises(LockError) as caught:
        TreeLock(str(tree)).acquire()
    assert caught.value.message == (
        f"tree {tree}: cannot make its lock directory {tree / LOCK_DIR}: {os.strerror(errno.ENOTDIR)}"
    )


def test_an_unwritable_holder_file_names_the_reason(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def write_file(path: str, data: bytes, **kwargs: object) -> None:
        raise FileError(path, f"cannot write {path}: No space left on device")

    monkeypatch.setattr(_lock, "write_file", write_file)
    lock = TreeLock(str(root))
    with pytest.raises(LockError) as caught:
        lock.acquire()
    assert (
        caught.value.message == f"tree {root}: cannot take its lock: cannot write {lock.own}: No space left on device"
    )


def test_a_lock_directory_that_keeps_disappearing_is_given_up(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer removes the empty directory each time between our makedirs and our write."""

    def write_file(path: str, data: bytes, **kwargs: object) -> None:
        Path(path).parent.rmdir()
        raise FileError(path, f"cannot write {path}: directory {Path(path).parent} does not exist")

    monkeypatch.setattr(_lock, "write_file", write_file)
    with pytest.raises(LockError) as caught:
        TreeLock(str(root)).acquire()
    assert caught.value.message == f"tree {root}: cannot take its lock: {root / LOCK_DIR} keeps disappearing"
    assert not (root / LOCK_DIR).exists()


def test_breaking_a_lock_does_not_use_the_working_directory(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module runs in whatever directory it was started in, here one on another file system."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == root.stat().st_dev:
        pytest.skip("no second file system to work in")
    workdir = Path(tempfile.mkdtemp(dir=shm))
    try:
        monkeypatch.chdir(workdir)
        plant(root, info(), age=700)
        with TreeLock(str(root), timeout=0, host="a1") as lock:
            pass
        assert len(lock.broken) == 1
        assert list(workdir.iterdir()) == []
    finally:
        workdir.rmdir()


def test_a_process_that_ends_holding_the_lock_ends_and_its_lock_is_broken(root: Path) -> None:
    """Its heartbeat thread does not keep it alive; the next writer finds its pid gone."""
    script = "import sys\nfrom ansible_collections.cpkgs.conda.plugins.module_utils._lock import TreeLock\n" \
             "TreeLock(sys.argv[1], heartbeat=30).acquire()\n"  # fmt: skip
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path))
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", script, str(root)], env=env, check=True, timeout=20)
    assert time.monotonic() - start < 15
    with TreeLock(str(root), timeout=0) as lock:
        pass
    assert len(lock.broken) == 1
    assert "is gone" in lock.broken[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stale_after": 60, "heartbeat": 30}, "stale_after: must be at least three heartbeats (90 s), got 60"),
        ({"holder": "a/b"}, "holder: 'a/b' is not a token returned by a lock taken with a lease"),
        ({"holder": ".b1-1-00"}, "holder: '.b1-1-00' is not a token returned by a lock taken with a lease"),
        ({"holder": ""}, "holder: '' is not a token returned by a lock taken with a lease"),
        ({"timeout": -1}, "timeout: must be 0 or more seconds, got -1"),
        ({"lease": -5}, "lease: must be more than 0 seconds, got -5"),
    ],
)
def test_bad_settings_name_the_parameter_and_value(root: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        TreeLock(str(root), **kwargs)
    assert str(caught.value) == message
    assert not (root / LOCK_DIR).exists()


@pytest.mark.parametrize("token", ["", "a/b", ".b1-1-00", "../holder"])
def test_release_of_a_bad_token_names_it_and_changes_nothing(root: Path, token: str) -> None:
    with pytest.raises(LockError) as caught:
        release_token(str(root), token)
    assert caught.value.message == f"holder: {token!r} is not a token returned by state=acquired"
    assert not (root / LOCK_DIR).exists()


def test_nested_use_says_why(root: Path) -> None:
    with TreeLock(str(root)), pytest.raises(LockError) as caught, TreeLock(str(root), timeout=60):
        pass
    assert caught.value.message == (
        f"tree {root} is already locked by this process (pid {os.getpid()}); the tree lock is not re-entrant: "
        "work under the lock already held"
    )


def test_the_lock_directory_is_never_writable_by_others(root: Path) -> None:
    old = os.umask(0)
    try:
        with TreeLock(str(root)):
            pass
    finally:
        os.umask(old)
    assert (root / LOCK_DIR).stat().st_mode & 0o777 == 0o755
