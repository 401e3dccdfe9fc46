# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read and write one file safely, also as root in directories other accounts control.

The modules of cpkgs.conda often run as root over users' homes. The rules here:

* :func:`read_file` never follows a symbolic link and reads only regular files (a FIFO or a device
  is refused), so a link a user planted is not a way to make root read something.
* :func:`resolve_owned_link` follows a symbolic link only when the account doing the I/O owns both the
  link and the directory holding it (root's own symlinked dotfile, a user editing their own file);
  otherwise it refuses, naming the link and its owner.
* :func:`write_file` writes a temporary file with a unique name next to the target, fsyncs it and
  renames it over the target. An existing file keeps its owner, group and mode; a new one gets
  ``0644 & ~umask``. Run as another account than the file's owner (and not as root), it refuses before
  writing: the rename would hand the file to the editor. On any error the temporary file is removed
  and :class:`FileError` names the target (never the temporary file) and the reason.
* :func:`acting_as` runs a block with the effective uid, gid and groups of an account when running as
  root, so that root reads and writes in a user's home with that user's permissions (nothing the user
  could not read is read; what is created belongs to the user).

Standard library only (this runs on managed nodes with Python 3.9 or later).
"""

from __future__ import annotations

import contextlib
import errno
import grp
import hashlib
import os
import pwd
import stat
import tempfile
from typing import Iterator, Optional, Union

__all__ = [
    "FileError",
    "acting_as",
    "current_umask",
    "read_file",
    "resolve_owned_link",
    "write_file",
]

_MAX_LINKS = 8
_CHUNK = 1 << 16


class FileError(Exception):
    """A file could not be read or written; the message names the file and the reason.

    ``path`` is the file the caller asked for (for a write, the target, never the temporary file).
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def _account(uid: int) -> str:
    """``alice (1001)`` or ``uid 1001`` when the uid has no account."""
    try:
        return f"{pwd.getpwuid(uid).pw_name} ({uid})"
    except KeyError:
        return f"uid {uid}"


def _group(gid: int) -> str:
    try:
        return f"{grp.getgrgid(gid).gr_name} ({gid})"
    except KeyError:
        return f"gid {gid}"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def current_umask() -> int:
    """The process's umask, read without changing it (``Umask:`` of ``/proc/self/status``).

    Where there is no ``/proc`` (macOS), the umask is read with ``os.umask`` and put back at once; the
    value set for that instant is ``0o077``, so nothing created meanwhile could be more open than asked.
    """
    try:
        # bytes, not text: decoding would look up a codec, an import that may fail inside acting_as
        with open("/proc/self/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def resolve_owned_link(path: str) -> str:
    """``path``, or where it points when it is a symbolic link that may be followed.

    A link is followed only when the effective account owns the link and the directory holding it (so
    nobody else can have put it there or swap it); a chain of such links is followed up to 8 deep. Any
    other link raises :class:`FileError` naming ``path``, the link and its owner. The result may not exist.
    """
    current = path
    euid = os.geteuid()
    for _hop in range(_MAX_LINKS + 1):
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return current
        except OSError as exc:
            raise FileError(path, f"cannot read {path}: {_reason(exc)}") from None
        if not stat.S_ISLNK(info.st_mode):
            return current
        directory = os.path.dirname(current) or "."
        try:
            directory_uid = os.stat(directory).st_uid
        except OSError as exc:
            raise FileError(path, f"cannot read {path}: {directory}: {_reason(exc)}") from None
        if info.st_uid != euid or directory_uid != euid:
            shown = path if current == path else f"{path} (through {current})"
            raise FileError(
                path,
                f"{shown} is a symbolic link owned by {_account(info.st_uid)} in a directory owned by "
                f"{_account(directory_uid)}; as {_account(euid)} only links that account owns, in a "
                "directory it owns, are followed",
            )
        current = os.path.join(directory, os.readlink(current))
    raise FileError(path, f"cannot read {path}: too many levels of symbolic links")


def _lstat_regular(path: str, verb: str) -> Optional[os.stat_result]:
    """The ``lstat`` of a regular file, None when absent, :class:`FileError` for anything else."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise FileError(path, f"cannot {verb} {path}: {_reason(exc)}") from None
    if stat.S_ISLNK(info.st_mode):
        raise FileError(path, f"cannot {verb} {path}: it is a symbolic link")
    if not stat.S_ISREG(info.st_mode):
        raise FileError(path, f"cannot {verb} {path}: not a regular file")
    return info


def read_file(path: str) -> Optional[bytes]:
    """The bytes of a regular file, or None when it does not exist.

    A symbolic link at ``path`` is refused (use :func:`resolve_owned_link` first to follow one that may
    be followed), and so is anything but a regular file. Errors are :class:`FileError` naming ``path``.
    """
    expected = _lstat_regular(path, "read")
    if expected is None:
        return None
    # a link or a FIFO swapped in after the check is neither followed nor waited on (Python adds O_CLOEXEC)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileError(path, f"cannot read {path}: it is a symbolic link") from None
        raise FileError(path, f"cannot read {path}: {_reason(exc)}") from None
    try:
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != (expected.st_dev, expected.st_ino) or not stat.S_ISREG(info.st_mode):
            raise FileError(path, f"cannot read {path}: it was replaced while being read")
        chunks = []
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise FileError(path, f"cannot read {path}: {_reason(exc)}") from None
    finally:
        os.close(fd)


def _check_may_replace(path: str, info: os.stat_result) -> None:
    """Refuse, before writing, a replacement that would change the file's owner or group."""
    euid = os.geteuid()
    if euid == 0:
        return  # root sets the old owner and group on the new file
    if info.st_uid != euid:
        raise FileError(
            path,
            f"cannot write {path}: it belongs to {_account(info.st_uid)}, not to {_account(euid)}; replacing it "
            f"would make it {_account(euid)}'s file: run the task as root or as its owner",
        )
    if info.st_gid != os.getegid() and info.st_gid not in os.getgroups():
        raise FileError(
            path,
            f"cannot write {path}: its group {_group(info.st_gid)} is not one of {_account(euid)}'s groups, "
            "so the new file could not keep it: run the task as root",
        )


def _set_attributes(fd: int, existing: Optional[os.stat_result], new_mode: int) -> None:
    """The existing file's owner, group and mode on the temporary file, or ``new_mode`` for a new file."""
    if existing is None:
        os.fchmod(fd, new_mode)
        return
    if os.geteuid() == 0:
        os.fchown(fd, existing.st_uid, existing.st_gid)
    elif existing.st_gid != os.getegid():
        os.fchown(fd, -1, existing.st_gid)
    os.fchmod(fd, stat.S_IMODE(existing.st_mode))  # after fchown, which may clear set-id bits


def _fsync_directory(directory: str) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file(path: str, data: bytes, *, new_mode: int = 0o644, umask: Optional[int] = None) -> None:
    """Replace (or create) the regular file ``path`` with ``data``, atomically.

    A temporary file with a unique name is made in the same directory, written, given the existing file's
    owner, group and mode (or, for a new file, ``new_mode & ~umask``; ``umask`` defaults to the
    process's, see :func:`current_umask`), fsynced and renamed over ``path``. A symbolic link at ``path``
    is refused (see :func:`resolve_owned_link`). Not running as root, a file another account owns (or
    whose group is not one of the caller's) is refused before anything is written.

    Errors are :class:`FileError`, whose message names ``path`` and the reason
    (``cannot write /home/a/.condarc: No space left on device``); the temporary file is gone by then.
    """
    existing = _lstat_regular(path, "write")
    if existing is not None:
        _check_may_replace(path, existing)
    directory = os.path.dirname(path) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    except FileNotFoundError:
        raise FileError(path, f"cannot write {path}: directory {directory} does not exist") from None
    except PermissionError as exc:
        raise FileError(path, f"cannot write {path}: directory {directory} is not writable ({_reason(exc)})") from None
    except OSError as exc:
        raise FileError(path, f"cannot write {path}: {_reason(exc)}") from None
    done = False
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        mask = current_umask() if umask is None else int(umask)
        _set_attributes(fd, existing, new_mode & ~mask)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.rename(tmp, path)
        done = True
    except OSError as exc:
        raise FileError(path, f"cannot write {path}: {_reason(exc)}") from None
    finally:
        if fd >= 0:
            os.close(fd)
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    _fsync_directory(directory)


@contextlib.contextmanager
def acting_as(account: Union[str, int, None]) -> Iterator[None]:
    """Run the block with the effective uid, gid and supplementary groups of ``account`` (a name or uid).

    Only when running as root and ``account`` is another account; otherwise (``None``, root itself, or a
    process that is not root) the block runs as it is, with the caller's own permissions, which
    :func:`write_file` checks. The previous ids and groups are restored however the block ends. An
    unknown account raises :class:`FileError`.

    Inside the block nothing should need root: imports of modules not loaded yet may fail, for example.
    """
    if account is None:
        yield
        return
    try:
        entry = pwd.getpwuid(account) if isinstance(account, int) else pwd.getpwnam(account)
    except KeyError:
        raise FileError(str(account), f"no such account {account!r}") from None
    euid = os.geteuid()
    if euid != 0 or entry.pw_uid == 0:
        yield
        return
    saved_egid = os.getegid()
    saved_groups = os.getgroups()
    groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
    try:
        os.setgroups(groups)
        os.setegid(entry.pw_gid)
        os.seteuid(entry.pw_uid)
        yield
    finally:
        os.seteuid(euid)
        os.setegid(saved_egid)
        os.setgroups(saved_groups)


def sha256_file(path: str, block: int = 1 << 20) -> str:
    """The sha256 of a file, read in blocks (never whole into memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()
