# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lock that serializes the writers of one conda tree, also across hosts on NFS.

File locks (``fcntl``/``flock``) are not to be trusted on NFS (lockd, client caches, servers that do not
implement them), so this lock uses only operations that are atomic on the NFS server:

* **acquire** = ``link()`` of a uniquely named holder file to the lock name. ``link`` either makes the name
  or fails, on the server, whatever the clients. An NFS client may retry a ``link`` whose reply was lost and
  then see ``EEXIST`` for its own success, so the answer is not the return value but the link count of the
  unique file: 2 means the lock name points at it (the recipe of ``open(2)`` for ``O_EXCL`` on NFS).
  ``mkdir`` of a lock directory has the same atomicity but no such check, and cannot carry the holder's
  information atomically with the lock itself.
* The holder file is written completely (``_files.write_file``: unique temporary file, renamed) before it
  is linked, so whoever sees the lock sees who holds it: host, pid, the pid's start time, boot id, the
  start time and what it is doing.

Everything lives in ``ROOT/.cpkgs-lock/`` (not under ``envs/`` or ``conda-meta/``, so conda never sees it):
``lock`` (the lock name), ``holder.TOKEN`` (each writer's info file; the holder's is also ``lock``),
``guard`` (see below). The directory stays once made (empty between writers): removing and making it again
would change the tree root's own mtime on every write, which node copies (rsync) would then carry as a change.

**Dead holders.** A holder on this host is dead when its pid is gone (or is another process now: the
start time differs) or the host rebooted since (``/proc/sys/kernel/random/boot_id`` differs). A holder on
another host cannot be asked, so the lock is a lease: the holder's background thread touches its info file
(the lock's mtime) every ``heartbeat`` seconds, and a lock whose heartbeat is older than ``stale_after``
is dead. Ages are measured with the file server's clock (the waiter touches its own file and reads the
mtime back), so clock skew between hosts does not matter. A lock taken with ``lease`` (the
``cpkgs.conda.tree_lock`` module, whose process ends while the lock is held) has no heartbeat: it is dead
``lease`` seconds after it was taken or last renewed.

**Breaking a dead lock** happens under ``guard``, a second lock held for milliseconds by whoever removes the
lock name (a breaker, or a holder releasing). Under the guard the breaker checks that the lock is still the
same file (inode) and still dead, renames it to a unique name and deletes that; then it competes for the
lock with ``link`` like everybody else. Two waiters that find the same dead lock cannot both break it and
both acquire: the second one finds a different (or no) lock under the guard and leaves it alone. A release
likewise removes the lock name only when, under the guard, it is still our own file. The guard itself is
considered dead after ``GUARD_STALE`` seconds (it is never held longer than a few file operations).

**Not re-entrant.** Taking the lock of a tree that this process already holds raises :class:`LockError`
at once instead of waiting for itself (a nested use would otherwise deadlock until the timeout).

Standard library only (Python 3.9 or later).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import secrets
import socket
import threading
import time
from typing import Dict, Optional

from ansible_collections.cpkgs.conda.plugins.module_utils._files import FileError, write_file

__all__ = [
    "GUARD_STALE",
    "LOCK_DIR",
    "LockError",
    "LockTimeout",
    "TreeLock",
    "lock_dir",
    "read_holder",
    "release_token",
]

LOCK_DIR = ".cpkgs-lock"
GUARD_STALE = 60.0  # seconds; the guard is held for a few file operations only
_LOCK = "lock"
_GUARD = "guard"
_MAX_DELAY = 5.0
_FORMAT_VERSION = 1

_held_lock = threading.Lock()
_held: Dict[str, "TreeLock"] = {}  # lock directories this process holds


class LockError(Exception):
    """The tree lock could not be taken or released; ``holder`` is the current holder's info, if any."""

    def __init__(self, message: str, holder: Optional[dict] = None) -> None:
        super().__init__(message)
        self.message = message
        self.holder = holder


class LockTimeout(LockError):
    """The lock stayed held by a live holder for ``timeout`` seconds."""


def lock_dir(root_prefix: str) -> str:
    """Where the lock of the tree ``root_prefix`` lives."""
    return os.path.join(os.path.normpath(root_prefix), LOCK_DIR)


def boot_id() -> Optional[str]:
    """This boot's id (Linux), None where there is none."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _pid_start(pid: int) -> Optional[str]:
    """When process ``pid`` started (clock ticks since boot, field 22 of ``/proc/PID/stat``), None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
        return data[data.rindex(b")") + 2 :].split()[19].decode()  # digits; a bad byte is a ValueError
    except (OSError, ValueError, IndexError):
        return None


def _pid_alive(pid: object, start: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, another account's
    current = _pid_start(pid)
    return not (start and current and current != start)  # the pid now names another process


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _describe(root_prefix: str, info: Optional[dict]) -> str:
    """``host b1 pid 4242 since 2026-11-26T10:31:02Z (conda_env: isis4.3.0)``."""
    if not info:
        return "an unknown holder (its info file is unreadable)"
    text = f"host {info.get('host', '?')} pid {info.get('pid', '?')} since {info.get('started', '?')}"
    if info.get("what"):
        text += f" ({info['what']})"
    if info.get("lease"):
        text += f", a lease of {info['lease']} s"
    return text


class _Seen:
    """The lock as one read saw it: its file's identity, mtime and the holder's info."""

    def __init__(self, ino: int, dev: int, mtime: float, info: Optional[dict]) -> None:
        self.ino = ino
        self.dev = dev
        self.mtime = mtime
        self.info = info

    def same(self, other: Optional["_Seen"]) -> bool:
        """Whether two reads saw the same lock: the same holder's token when both could be read (a FUSE or other
        network client may number two reads of one file differently), else the same file."""
        if other is None:
            return False
        if self.info and other.info and self.info.get("token"):
            return (self.info.get("token"), self.info.get("started_epoch")) == (
                other.info.get("token"),
                other.info.get("started_epoch"),
            )
        return (self.ino, self.dev) == (other.ino, other.dev)


def _token_at(path: str) -> Optional[str]:
    """The token written in the file at ``path`` (a holder or guard file), None when absent or unreadable.

    Who holds a name is decided by what it says, not by inode numbers or link counts: some NFS clients (the FUSE
    ones) give two hard links of one file different ``st_ino`` and cache ``st_nlink``."""
    seen = _read_lock(path)
    token = (seen.info or {}).get("token") if seen is not None else None
    return token if isinstance(token, str) else None


def _read_lock(path: str) -> Optional[_Seen]:
    """The lock file at ``path`` (stat and content of one open file), None when there is none.

    A name removed between the open and the reads is none as well: a client that answers ``fstat`` and ``read``
    by the name the file was opened with (a FUSE NFS client) fails them with ENOENT, or ESTALE, once the holder
    released the lock."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)  # Python's descriptors are close-on-exec already
    except FileNotFoundError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(fd)
            data = handle.read()
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ESTALE):
            return None
        raise
    return _Seen(info.st_ino, info.st_dev, info.st_mtime, _json_object(data))


def _json_object(data: bytes) -> Optional[dict]:
    """The JSON object ``data`` holds, None when it holds something else (a holder file being written)."""
    try:
        parsed = json.loads(data)  # bytes: UTF-8 (an undecodable byte is a ValueError too)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def read_holder(root_prefix: str) -> Optional[dict]:
    """The info of the current holder of the tree's lock, None when it is free (``{}`` when unreadable)."""
    seen = _read_lock(os.path.join(lock_dir(root_prefix), _LOCK))
    if seen is None:
        return None
    return dict(seen.info or {}, heartbeat_at=_iso(seen.mtime))


class TreeLock:
    """The lock of one conda tree, as a context manager (``with TreeLock(root, what="conda_env: x"):``).

    ``timeout``: seconds to wait for a live holder (polling with backoff), then :class:`LockTimeout` naming
    it; 0 tries once. ``stale_after``: a heartbeat older than this is a dead holder on another host; it
    must be at least three ``heartbeat`` intervals. ``lease``: take the lock for that many seconds without
    a heartbeat thread (the lock outlives this process; see :meth:`detach`). ``holder``: adopt the lock
    that a lease with this token holds instead of taking it (entering fails unless it is ours); the lease
    is renewed while the block runs and the lock is left held at the end. ``host`` is for tests.
    """

    def __init__(
        self,
        root_prefix: str,
        *,
        timeout: float = 600,
        what: str = "",
        stale_after: float = 600,
        heartbeat: float = 30,
        lease: Optional[float] = None,
        holder: Optional[str] = None,
        host: Optional[str] = None,
        poll: float = 0.05,
    ) -> None:
        if timeout < 0:
            raise ValueError(f"timeout: must be 0 or more seconds, got {timeout!r}")
        if heartbeat <= 0 or stale_after < 3 * heartbeat:
            raise ValueError(
                f"stale_after: must be at least three heartbeats ({3 * heartbeat:g} s), got {stale_after!r}"
            )
        if holder is not None and (not holder or "/" in holder or holder.startswith(".")):
            raise ValueError(f"holder: {holder!r} is not a token returned by a lock taken with a lease")
        if lease is not None and lease <= 0:
            raise ValueError(f"lease: must be more than 0 seconds, got {lease!r}")
        self.root_prefix = os.path.normpath(root_prefix)
        self.dir = lock_dir(self.root_prefix)
        self.path = os.path.join(self.dir, _LOCK)
        self.timeout = timeout
        self.what = what
        self.stale_after = stale_after
        self.heartbeat = heartbeat
        self.lease = lease
        self.host = host or socket.gethostname()
        self.poll = poll
        self.adopting = holder is not None
        self.token = holder or "{}-{}-{}".format(
            re.sub(r"[^A-Za-z0-9.-]", "_", self.host), os.getpid(), secrets.token_hex(6)
        )
        self.own = os.path.join(self.dir, f"holder.{self.token}")
        self.boot = boot_id()
        self.held = False
        self.lost = False  # the lock was broken or removed by someone else while we held it
        self.broken: list = []  # descriptions of the dead holders this lock broke
        self.waited = 0.0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    # -- the holder file -----------------------------------------------------------------------
    def _info(self) -> dict:
        now = time.time()
        return {
            "version": _FORMAT_VERSION,
            "token": self.token,
            "host": self.host,
            "pid": os.getpid(),
            "pid_start": _pid_start(os.getpid()),
            "boot_id": self.boot,
            "started": _iso(now),
            "started_epoch": now,
            "what": self.what,
            "heartbeat": None if self.lease else self.heartbeat,
            "lease": self.lease,
        }

    def _write_own(self) -> None:
        """Write our holder file (atomically), making the lock directory when it is missing."""
        data = json.dumps(self._info()).encode() + b"\n"
        for _attempt in range(20):
            try:
                os.makedirs(self.dir, mode=0o755, exist_ok=True)
                write_file(self.own, data)  # 0644 less the umask: who holds the lock is for everybody to read
                return
            except FileError as exc:
                if os.path.isdir(self.dir):
                    raise LockError(f"tree {self.root_prefix}: cannot take its lock: {exc.message}") from None
            except OSError as exc:
                raise LockError(
                    f"tree {self.root_prefix}: cannot make its lock directory {self.dir}: {exc.strerror or exc}"
                ) from None
            # another writer removed the empty directory between our makedirs and our write: again
        raise LockError(f"tree {self.root_prefix}: cannot take its lock: {self.dir} keeps disappearing")

    def _server_now(self) -> float:
        """The file server's clock: touch our own file and read its mtime back."""
        try:
            os.utime(self.own)
            return os.stat(self.own).st_mtime
        except OSError:
            return time.time()

    # -- acquire -------------------------------------------------------------------------------
    def _try_link(self) -> bool:
        try:
            os.link(self.own, self.path)
        except FileExistsError:
            pass  # held, or our own link whose reply an NFS client lost: the link count says which
        except FileNotFoundError:
            self._write_own()  # the directory went away with our file (cannot happen while we are in it)
            return False
        try:
            if os.stat(self.own).st_nlink == 2:
                return True
        except FileNotFoundError:
            return False
        return self.owns()  # a client that caches the link count: the lock name says whose it is

    def dead(self, seen: _Seen) -> Optional[str]:
        """Why the holder seen is dead, or None when it is (or may be) alive."""
        info = seen.info or {}
        age = self._server_now() - seen.mtime
        same_host = info.get("host") == self.host
        if same_host and info.get("boot_id") and self.boot and info.get("boot_id") != self.boot:
            return "this host has rebooted since it took the lock"
        lease = info.get("lease")
        if isinstance(lease, (int, float)) and lease > 0:
            return f"its lease of {lease:g} s ended {age - lease:.0f} s ago" if age > lease else None
        if same_host and info.get("pid") is not None:
            if not _pid_alive(info.get("pid"), info.get("pid_start")):
                return f"process {info.get('pid')} is gone"
            return None  # alive on this host: its lock stands, heartbeat or not
        stale_after = self.stale_after
        beat = info.get("heartbeat")
        if isinstance(beat, (int, float)) and beat > 0:
            stale_after = max(stale_after, 3 * beat)  # never before three of the holder's own heartbeats
        if age > stale_after:
            return f"its heartbeat is {age:.0f} s old (stale after {stale_after:g} s)"
        return None

    def acquire(self) -> None:
        """Take the lock, waiting up to ``timeout`` seconds for a live holder; breaks dead holders' locks."""
        if self.adopting:
            self._adopt()
            return
        with _held_lock:
            if self.dir in _held:
                raise LockError(
                    f"tree {self.root_prefix} is already locked by this process (pid {os.getpid()}); the tree lock "
                    "is not re-entrant: work under the lock already held"
                )
            _held[self.dir] = self
        try:
            try:
                self._acquire()
            except OSError as exc:
                raise LockError(
                    f"tree {self.root_prefix}: cannot take its lock in {self.dir}: {exc.strerror or exc}"
                ) from None
        except BaseException:
            with _held_lock:
                _held.pop(self.dir, None)
            self._remove_own()
            raise
        self.held = True
        if self.lease is None:
            self._start_heartbeat()

    def _acquire(self) -> None:
        start = time.monotonic()
        delay = self.poll
        self._write_own()
        while True:
            if self._try_link():
                self.waited = time.monotonic() - start
                return
            seen = _read_lock(self.path)
            if seen is None:
                continue  # released meanwhile: try again at once
            if self.dead(seen) is not None and self._break(seen):
                continue  # gone: try again at once
            # alive, or dead but not broken (it changed meanwhile, or two reads cannot be told to be the same
            # lock): wait as for a live holder, within the timeout, so that nothing spins
            waited = time.monotonic() - start
            if waited >= self.timeout:
                raise LockTimeout(
                    f"tree {self.root_prefix} is locked by {_describe(self.root_prefix, seen.info)}; "
                    f"waited {self.timeout:g} s",
                    seen.info,
                )
            jitter = random.uniform(0.5, 1.0)  # noqa: S311 (not a secret)
            time.sleep(min(delay * jitter, self.timeout - waited))
            delay = min(delay * 2, _MAX_DELAY)

    def _break(self, seen: _Seen) -> bool:
        """Remove the dead lock ``seen``, if it is still the lock and still dead, under the guard. Whether the lock is
        gone (broken here, or released meanwhile): then the caller tries again at once, else it waits."""
        with self._guard():
            current = _read_lock(self.path)
            if current is None:
                return True  # released or broken by someone else meanwhile
            if not seen.same(current):
                return False  # another lock now, or one that two reads cannot tell to be the same: wait
            reason = self.dead(current)
            if reason is None:
                return False  # it came back to life (a heartbeat): leave it
            aside = os.path.join(self.dir, f"broken.{self.token}")
            try:
                os.rename(self.path, aside)
            except FileNotFoundError:
                return True
            os.unlink(aside)
            token = (current.info or {}).get("token")
            if isinstance(token, str) and "/" not in token:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.dir, f"holder.{token}"))
            self.broken.append(f"{_describe(self.root_prefix, current.info)}: {reason}")
            return True

    # -- the guard -----------------------------------------------------------------------------
    class _Guard:
        def __init__(self, lock: "TreeLock") -> None:
            self.lock = lock
            self.path = os.path.join(lock.dir, _GUARD)
            self.own = os.path.join(lock.dir, f"guard.{lock.token}")

        def __enter__(self) -> None:
            deadline = time.monotonic() + max(self.lock.timeout, GUARD_STALE) + GUARD_STALE
            fd = os.open(self.own, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, json.dumps({"token": self.lock.token}).encode())
            finally:
                os.close(fd)
            while True:
                with contextlib.suppress(FileExistsError):
                    os.link(self.own, self.path)
                if os.stat(self.own).st_nlink == 2 or _token_at(self.path) == self.lock.token:
                    return
                try:
                    info = os.stat(self.path)
                except FileNotFoundError:
                    continue
                if self.lock._server_now() - info.st_mtime > GUARD_STALE:
                    self._break(info)
                    continue
                if time.monotonic() > deadline:
                    os.unlink(self.own)
                    raise LockError(f"tree {self.lock.root_prefix}: its lock's guard {self.path} stays held")
                time.sleep(random.uniform(0.005, 0.03))  # noqa: S311 (not a secret)

        def _break(self, info: os.stat_result) -> None:
            """A guard held for GUARD_STALE seconds belongs to a process killed while it held it."""
            aside = os.path.join(self.lock.dir, f"broken-guard.{self.lock.token}")
            try:
                os.rename(self.path, aside)
            except FileNotFoundError:
                return
            moved = os.stat(aside)
            if (moved.st_ino, moved.st_dev) != (info.st_ino, info.st_dev):
                # a live guard taken after our look: put it back (it cannot have been replaced, it was ours
                # to move only because the name was taken; link fails if somebody took the name meanwhile)
                with contextlib.suppress(FileExistsError):
                    os.link(aside, self.path)
            os.unlink(aside)

        def __exit__(self, *exc: object) -> None:
            try:
                if _token_at(self.path) == self.lock.token:
                    os.unlink(self.path)
            except FileNotFoundError:
                pass
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.own)

    def _guard(self) -> "TreeLock._Guard":
        return TreeLock._Guard(self)

    # -- while held ----------------------------------------------------------------------------
    def owns(self) -> bool:
        """Whether the lock name is still our holder file (it carries our token: tokens are unique)."""
        return _token_at(self.path) == self.token

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"cpkgs-tree-lock-{self.token}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            with contextlib.suppress(OSError):
                os.utime(self.own)
            if not self.owns():
                self.lost = True

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _adopt(self) -> None:
        """Work under the lease lock of token ``holder``: it must be ours; renew it while we work."""
        seen = _read_lock(self.path)
        if seen is None or (seen.info or {}).get("token") != self.token:
            whom = "nobody" if seen is None else _describe(self.root_prefix, seen.info)
            raise LockError(
                f"lock_holder: the lock of tree {self.root_prefix} is not held by {self.token!r} "
                f"(it is held by {whom}; its lease may have ended)",
                None if seen is None else seen.info,
            )
        lease = seen.info.get("lease")  # None or seconds: the file carries our token, so it is one we wrote
        if lease:
            self.heartbeat = min(self.heartbeat, lease / 3)
        os.utime(self.own)
        self.held = True
        self._start_heartbeat()

    def detach(self) -> str:
        """Keep the lock after this object is gone (a lease); returns the token that releases it."""
        self._stop_heartbeat()
        with _held_lock:
            _held.pop(self.dir, None)
        self.held = False
        return self.token

    # -- release -------------------------------------------------------------------------------
    def release(self) -> bool:
        """Remove the lock if it is still ours; True when it was. Our holder file goes either way."""
        self._stop_heartbeat()
        if self.adopting:
            self.held = False
            return self.owns()
        if not self.held:
            return False
        self.held = False
        with _held_lock:
            _held.pop(self.dir, None)
        ours = _remove(self)
        if not ours:
            self.lost = True
        return ours

    def _remove_own(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.own)

    def __enter__(self) -> "TreeLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _remove(lock: TreeLock) -> bool:
    """Under the guard: unlink the lock name if it is ``lock``'s holder file; then its holder file."""
    ours = False
    try:
        with lock._guard():
            ours = lock.owns()
            if ours:
                os.unlink(lock.path)
    except FileNotFoundError:
        pass  # the lock directory itself is gone: nothing of ours is left in it
    lock._remove_own()
    return ours


def release_token(root_prefix: str, token: str) -> Optional[bool]:
    """Release the lease lock that ``token`` holds: True when released, False when the lock is not ours
    (free, or held by another), None when it was free and nothing of ours was there."""
    if not token or "/" in token or token.startswith("."):
        raise LockError(f"holder: {token!r} is not a token returned by state=acquired")
    lock = TreeLock(root_prefix, holder=token, timeout=GUARD_STALE)
    if not os.path.lexists(lock.path) and not os.path.lexists(lock.own):
        return None
    return _remove(lock)
