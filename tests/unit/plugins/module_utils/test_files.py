# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import errno
import os
import pwd
import stat
import subprocess
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils import _files
from ansible_collections.cpkgs.conda.plugins.module_utils._files import (
    FileError,
    acting_as,
    current_umask,
    read_file,
    resolve_owned_link,
    write_file,
)

Euid = Callable[[int, int], AbstractContextManager[None]]  # the euid fixture (tests/unit/plugins/conftest.py)

NOBODY = 65534
OTHER = 65533  # a uid with no account needed: files can belong to it
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create files owned by other accounts")


def _home(shared: Path, uid: int = NOBODY) -> Path:
    home = shared / "home"
    home.mkdir()
    os.chown(home, uid, uid)
    home.chmod(0o755)
    return home


def _secret(shared: Path) -> Path:
    secret = shared / "root-only"
    secret.write_text("password: hunter2\n")
    secret.chmod(0o600)
    return secret


# --- reading ---------------------------------------------------------------------------------------


def test_read_absent_is_none(tmp_path: Path) -> None:
    assert read_file(str(tmp_path / "missing")) is None


def test_read_returns_the_bytes(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"a: 1\n\x00\xff")
    assert read_file(str(tmp_path / "f")) == b"a: 1\n\x00\xff"


def test_read_refuses_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "target").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(FileError) as info:
        read_file(str(tmp_path / "link"))
    assert info.value.path == str(tmp_path / "link")
    assert str(info.value) == f"cannot read {tmp_path / 'link'}: it is a symbolic link"


def test_read_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(FileError) as info:
        read_file(str(tmp_path / "fifo"))
    assert f"cannot read {tmp_path / 'fifo'}: not a regular file" in str(info.value)
    assert info.value.path == str(tmp_path / "fifo")


@as_root
def test_read_as_a_user_cannot_read_a_root_only_file_through_a_hard_link(shared: Path) -> None:
    home = _home(shared)
    os.link(_secret(shared), home / ".condarc")  # what a user can do where protected_hardlinks is off
    with acting_as("nobody"), pytest.raises(FileError) as info:
        read_file(str(home / ".condarc"))
    assert str(info.value) == f"cannot read {home / '.condarc'}: Permission denied"
    assert info.value.path == str(home / ".condarc")


# --- symbolic links --------------------------------------------------------------------------------


def test_resolve_returns_a_plain_path_unchanged(tmp_path: Path) -> None:
    assert resolve_owned_link(str(tmp_path / "missing")) == str(tmp_path / "missing")
    (tmp_path / "f").write_text("")
    assert resolve_owned_link(str(tmp_path / "f")) == str(tmp_path / "f")


def test_resolve_follows_own_link_in_own_directory(tmp_path: Path) -> None:
    (tmp_path / "dotfiles").mkdir()
    (tmp_path / "dotfiles" / "condarc").write_text("a: 1\n")
    (tmp_path / ".condarc").symlink_to("dotfiles/condarc")
    resolved = resolve_owned_link(str(tmp_path / ".condarc"))
    assert Path(resolved).samefile(tmp_path / "dotfiles" / "condarc")
    assert not Path(resolved).is_symlink()


@as_root
def test_resolve_refuses_a_link_another_account_owns(shared: Path) -> None:
    home = _home(shared)
    link = home / ".condarc"
    link.symlink_to(_secret(shared))
    os.lchown(link, NOBODY, NOBODY)
    with pytest.raises(FileError) as info:
        resolve_owned_link(str(link))
    message = str(info.value)
    assert str(link) in message
    assert f"owned by {pwd.getpwuid(NOBODY).pw_name} ({NOBODY})" in message


@as_root
def test_resolve_refuses_own_link_in_a_directory_another_account_owns(shared: Path) -> None:
    home = _home(shared)
    (home / ".condarc").symlink_to(_secret(shared))  # root's link, but nobody may swap it
    with pytest.raises(FileError) as info:
        resolve_owned_link(str(home / ".condarc"))
    assert "symbolic link" in str(info.value)
    assert f"directory owned by {pwd.getpwuid(NOBODY).pw_name}" in str(info.value)


def test_resolve_gives_up_on_a_loop(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(FileError) as info:
        resolve_owned_link(str(tmp_path / "a"))
    assert "too many levels of symbolic links" in str(info.value)
    assert info.value.path == str(tmp_path / "a")


# --- writing ---------------------------------------------------------------------------------------


def _leftovers(directory: Path, keep: set[str]) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name not in keep)


def test_write_creates_a_file_with_0644_minus_umask(tmp_path: Path) -> None:
    target = tmp_path / ".condarc"
    write_file(str(target), b"a: 1\n", umask=0o027)
    assert target.read_bytes() == b"a: 1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert _leftovers(tmp_path, {".condarc"}) == []


def test_write_default_umask_is_the_process_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        assert current_umask() == 0o077
        assert os.umask(0o077) == 0o077  # reading it did not change it
        write_file(str(tmp_path / "f"), b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600


def test_write_keeps_the_mode_of_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    target.chmod(0o604)
    write_file(str(target), b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o604


@as_root
def test_write_as_root_keeps_owner_group_and_mode(shared: Path) -> None:
    target = shared / "f"
    target.write_text("old")
    os.chown(target, OTHER, OTHER)
    target.chmod(0o640)
    write_file(str(target), b"new")
    info = target.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (OTHER, OTHER, 0o640)
    assert target.read_bytes() == b"new"


def test_write_uses_a_unique_temporary_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stale file with an old fixed temporary name must not be reused or clobbered."""
    seen: list[str] = []
    real_rename = os.rename

    def spy(src: str, dst: str) -> None:
        seen.append(src)
        real_rename(src, dst)

    monkeypatch.setattr(_files.os, "rename", spy)
    write_file(str(tmp_path / "f"), b"1")
    write_file(str(tmp_path / "f"), b"2")
    assert len(set(seen)) == 2
    assert all(Path(name).parent == tmp_path for name in seen)


def test_write_failure_names_the_target_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / ".condarc"
    target.write_text("old\n")

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_files.os, "fsync", full)
    with pytest.raises(FileError) as info:
        write_file(str(target), b"new\n")
    assert str(info.value) == f"cannot write {target}: No space left on device"
    assert info.value.path == str(target)
    assert target.read_text() == "old\n"
    assert _leftovers(tmp_path, {".condarc"}) == []


@as_root
def test_write_on_a_full_filesystem(shared: Path) -> None:
    mount = shared / "small"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        target = mount / ".condarc"
        target.write_text("old\n")
        with pytest.raises(FileError) as info:
            write_file(str(target), b"x" * 256 * 1024)
        assert str(info.value) == f"cannot write {target}: No space left on device"
        assert target.read_text() == "old\n"
        assert _leftovers(mount, {".condarc"}) == []
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_write_refuses_a_symlink_target(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("old")
    (tmp_path / "link").symlink_to("real")
    with pytest.raises(FileError) as info:
        write_file(str(tmp_path / "link"), b"new")
    assert f"cannot write {tmp_path / 'link'}: it is a symbolic link" in str(info.value)
    assert (tmp_path / "link").is_symlink()
    assert (tmp_path / "real").read_text() == "old"


def test_write_into_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileError) as info:
        write_file(str(tmp_path / "nope" / "f"), b"x")
    assert info.value.path == str(tmp_path / "nope" / "f")
    assert str(info.value) == f"cannot write {tmp_path / 'nope' / 'f'}: directory {tmp_path / 'nope'} does not exist"


@as_root
def test_write_into_a_directory_that_is_not_writable(euid: Euid, shared: Path) -> None:
    locked = shared / "locked"
    locked.mkdir()
    locked.chmod(0o755)  # root's, so nobody cannot write it
    with euid(NOBODY, NOBODY), pytest.raises(FileError) as info:
        write_file(str(locked / ".condarc"), b"x")
    assert str(info.value) == (
        f"cannot write {locked / '.condarc'}: directory {locked} is not writable (Permission denied)"
    )
    assert info.value.path == str(locked / ".condarc")
    assert list(locked.iterdir()) == []


@as_root
def test_write_as_non_root_refuses_another_accounts_file(euid: Euid, shared: Path) -> None:
    """A rename would hand another account's 0644 file to the editor; refused before anything is written."""
    directory = shared / "group-dir"
    directory.mkdir()
    directory.chmod(0o777)
    target = directory / ".condarc"
    target.write_text("old\n")
    os.chown(target, OTHER, OTHER)
    target.chmod(0o666)
    with euid(NOBODY, NOBODY), pytest.raises(FileError) as info:
        write_file(str(target), b"new\n")
    assert info.value.path == str(target)
    assert str(info.value) == (
        f"cannot write {target}: it belongs to uid {OTHER}, not to nobody ({NOBODY}); replacing it would make it "
        f"nobody ({NOBODY})'s file: run the task as root or as its owner"
    )
    info2 = target.stat()
    assert (info2.st_uid, stat.S_IMODE(info2.st_mode), target.read_text()) == (OTHER, 0o666, "old\n")
    assert [path.name for path in directory.iterdir()] == [".condarc"]


@as_root
def test_write_as_non_root_keeps_own_file_mode(euid: Euid, shared: Path) -> None:
    directory = _home(shared)
    target = directory / ".condarc"
    target.write_text("old\n")
    os.chown(target, NOBODY, NOBODY)
    target.chmod(0o640)
    with euid(NOBODY, NOBODY):
        write_file(str(target), b"new\n")
    info = target.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (NOBODY, NOBODY, 0o640)


# --- acting as another account ---------------------------------------------------------------------


@as_root
def test_acting_as_switches_and_restores(shared: Path) -> None:
    home = _home(shared)
    before = (os.geteuid(), os.getegid(), sorted(os.getgroups()))
    entry = pwd.getpwnam("nobody")
    with acting_as("nobody"):
        assert (os.geteuid(), os.getegid()) == (entry.pw_uid, entry.pw_gid)
        assert sorted(os.getgroups()) == sorted(set(os.getgrouplist("nobody", entry.pw_gid)))
        write_file(str(home / ".condarc"), b"a: 1\n", umask=0o022)
    assert (os.geteuid(), os.getegid(), sorted(os.getgroups())) == before
    info = (home / ".condarc").stat()
    assert (info.st_uid, info.st_gid) == (entry.pw_uid, entry.pw_gid)


@as_root
def test_acting_as_restores_after_an_error() -> None:
    before = (os.geteuid(), os.getegid(), sorted(os.getgroups()))
    with pytest.raises(RuntimeError), acting_as(NOBODY):
        raise RuntimeError("boom")
    assert (os.geteuid(), os.getegid(), sorted(os.getgroups())) == before


def test_acting_as_none_changes_nothing() -> None:
    before = (os.geteuid(), os.getegid())
    with acting_as(None):
        assert (os.geteuid(), os.getegid()) == before


def test_acting_as_an_unknown_account() -> None:
    with pytest.raises(FileError) as info, acting_as("no-such-account-cpkgs"):
        pass
    assert "no such account 'no-such-account-cpkgs'" in str(info.value)


# --- what the mutation run (benchmarks/mutation.py) found --------------------------------------------


@as_root
def test_write_as_non_root_refuses_own_file_of_a_foreign_group(euid: Euid, shared: Path) -> None:
    """The new file would get the editor's group: refused naming the group, the file left as it was."""
    directory = _home(shared)
    target = directory / ".condarc"
    target.write_text("old\n")
    os.chown(target, NOBODY, OTHER)
    with euid(NOBODY, NOBODY), pytest.raises(FileError) as info:
        write_file(str(target), b"new\n")
    assert info.value.path == str(target)
    assert info.value.message == str(info.value)
    assert info.value.message == (
        f"cannot write {target}: its group gid {OTHER} is not one of nobody ({NOBODY})'s groups, so the new file "
        "could not keep it: run the task as root"
    )
    assert (target.read_text(), target.stat().st_gid) == ("old\n", OTHER)


@as_root
def test_a_refused_link_names_the_path_asked_for(shared: Path) -> None:
    home = _home(shared)
    link = home / ".condarc"
    link.symlink_to(_secret(shared))  # root's link in nobody's directory
    with pytest.raises(FileError) as info:
        resolve_owned_link(str(link))
    assert info.value.path == str(link)
    assert info.value.message == str(info.value)
    assert info.value.message == (
        f"{link} is a symbolic link owned by root (0) in a directory owned by nobody ({NOBODY}); as root (0) only "
        "links that account owns, in a directory it owns, are followed"
    )


def test_a_dead_holder_pid_is_not_alive() -> None:
    from ansible_collections.cpkgs.conda.plugins.module_utils._lock import _pid_alive

    assert _pid_alive(os.getpid(), None) is True
    for pid in (0, -1, "123", None):  # pid 0 would signal the whole process group: never a holder
        assert _pid_alive(pid, None) is False
