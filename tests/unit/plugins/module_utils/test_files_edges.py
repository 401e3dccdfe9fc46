# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_files.py at its edges: a file swapped between the check and the open, errors of the system
calls named with the file asked for, relative paths, the umask read without changing it, accounts whose groups
are not the usual ones, hashing in blocks."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils import _files
from ansible_collections.cpkgs.conda.plugins.module_utils._files import (
    FileError,
    current_umask,
    read_file,
    resolve_owned_link,
    sha256_file,
    write_file,
)

NOBODY = 65534
OTHER = 65533  # a uid/gid with no account needed
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch accounts")


def _open_fds() -> set[str]:
    fds = Path("/proc/self/fd")
    return {path.name for path in fds.iterdir()} if fds.is_dir() else set()


# --- a file swapped between the check and the open -------------------------------------------------


def _swap_after_the_check(monkeypatch: pytest.MonkeyPatch, swap: Callable[[Path], None]) -> None:
    """What another process could do between read_file's lstat and its open."""
    checked = _files._lstat_regular

    def check_then_swap(path: str, verb: str) -> os.stat_result | None:
        info = checked(path, verb)
        swap(Path(path))
        return info

    monkeypatch.setattr(_files, "_lstat_regular", check_then_swap)


def test_a_link_swapped_in_after_the_check_is_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The link points at the very file that was checked: only the open's refusal to follow it stops the read."""
    target = tmp_path / ".condarc"
    target.write_text("secret: 1\n")

    def to_link(path: Path) -> None:
        path.rename(tmp_path / "real")
        path.symlink_to("real")

    _swap_after_the_check(monkeypatch, to_link)
    before = _open_fds()
    with pytest.raises(FileError) as info:
        read_file(str(target))
    assert (info.value.path, str(info.value)) == (str(target), f"cannot read {target}: it is a symbolic link")
    assert _open_fds() == before


def test_a_file_replaced_after_the_check_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / ".condarc"
    target.write_text("old: 1\n")

    def replace(path: Path) -> None:
        (tmp_path / "new").write_text("new: 1\n")
        (tmp_path / "new").rename(path)

    _swap_after_the_check(monkeypatch, replace)
    before = _open_fds()
    with pytest.raises(FileError) as info:
        read_file(str(target))
    assert info.value.path == str(target)
    assert str(info.value) == f"cannot read {target}: it was replaced while being read"
    assert _open_fds() == before


def test_a_fifo_swapped_in_after_the_check_does_not_hang_the_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / ".condarc"
    target.write_text("a: 1\n")

    def to_fifo(path: Path) -> None:
        path.unlink()
        os.mkfifo(path)

    def hung(_signum: int, _frame: object) -> None:
        raise TimeoutError("read_file waited for a writer on the FIFO")

    _swap_after_the_check(monkeypatch, to_fifo)
    previous = signal.signal(signal.SIGALRM, hung)
    signal.setitimer(signal.ITIMER_REAL, 2)
    try:
        with pytest.raises(FileError) as info:
            read_file(str(target))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert str(info.value) == f"cannot read {target}: it was replaced while being read"


# --- errors of the system calls -------------------------------------------------------------------


def test_a_path_through_a_regular_file_names_the_path_and_the_reason(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    below = str(tmp_path / "file" / ".condarc")
    calls = ((read_file, "read"), (lambda path: write_file(path, b"x"), "write"), (resolve_owned_link, "read"))
    for call, verb in calls:
        with pytest.raises(FileError) as info:
            call(below)
        assert (info.value.path, str(info.value)) == (below, f"cannot {verb} {below}: Not a directory")
    assert (tmp_path / "file").read_text() == ""


def test_an_io_error_while_reading_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / ".condarc"
    target.write_text("a: 1\n")

    def failing(_fd: int, _size: int) -> bytes:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    before = _open_fds()
    with monkeypatch.context() as patch:
        patch.setattr(os, "read", failing)
        with pytest.raises(FileError) as info:
            read_file(str(target))
    assert (info.value.path, str(info.value)) == (str(target), f"cannot read {target}: Input/output error")
    assert _open_fds() == before


def test_a_name_too_long_for_the_temporary_names_the_target(tmp_path: Path) -> None:
    """The target's name fits, the temporary's (the name plus a unique part) does not."""
    target = tmp_path / ("c" * 250)
    with pytest.raises(FileError) as info:
        write_file(str(target), b"x")
    assert (info.value.path, str(info.value)) == (str(target), f"cannot write {target}: File name too long")
    assert list(tmp_path.iterdir()) == []


def test_a_link_whose_directory_cannot_be_read_names_the_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "real").write_text("")
    link = tmp_path / ".condarc"
    link.symlink_to("real")
    real_stat = os.stat

    def stat_fails_for_the_directory(path: object, *args: object, **kwargs: object) -> os.stat_result:
        if os.fspath(path) == str(tmp_path):  # type: ignore[arg-type]
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(os, "stat", stat_fails_for_the_directory)
        with pytest.raises(FileError) as info:
            resolve_owned_link(str(link))
    assert (info.value.path, str(info.value)) == (str(link), f"cannot read {link}: {tmp_path}: Permission denied")


# --- names --------------------------------------------------------------------------------------


def test_relative_paths_are_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dotfiles").write_text("")
    Path(".condarc").symlink_to("dotfiles")
    assert resolve_owned_link(".condarc") == "./dotfiles"
    write_file("dotfiles", b"a: 1\n")
    assert read_file("dotfiles") == b"a: 1\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == [".condarc", "dotfiles"]


def test_the_temporary_is_hidden_and_says_what_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a crash could leave behind is a hidden ``.NAME.<unique>.tmp`` beside the file it was for."""
    renamed: list[Path] = []
    real_rename = os.rename

    def spy(src: str, dst: str) -> None:
        renamed.append(Path(src))
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", spy)
    write_file(str(tmp_path / "manifest.json"), b"{}\n")
    (temporary,) = renamed
    assert temporary.parent == tmp_path
    assert temporary.name.startswith(".manifest.json.")
    assert temporary.name.endswith(".tmp")
    assert len(temporary.name) > len(".manifest.json..tmp")


# --- the umask ----------------------------------------------------------------------------------


@pytest.fixture
def umask_027() -> Iterator[None]:
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
@pytest.mark.usefixtures("umask_027")
def test_the_umask_is_read_without_setting_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Setting it, even for an instant, would race with other threads creating files."""

    def never(_mask: int) -> int:
        raise AssertionError("the umask was set")

    with monkeypatch.context() as patch:
        patch.setattr(os, "umask", never)
        assert current_umask() == 0o027


@pytest.mark.usefixtures("umask_027")
def test_without_proc_the_umask_is_read_and_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_proc(*_args: object, **_kwargs: object) -> None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/proc/self/status")

    monkeypatch.setattr(_files, "open", no_proc, raising=False)
    assert current_umask() == 0o027
    assert os.umask(0o027) == 0o027


# --- accounts and groups ------------------------------------------------------------------------


def _own_file(shared: Path, gid: int) -> Path:
    home = shared / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    target = home / ".condarc"
    target.write_text("old\n")
    os.chown(target, NOBODY, gid)
    target.chmod(0o640)
    return target


@as_root
def test_a_user_keeps_the_supplementary_group_of_their_file(shared: Path, euid) -> None:
    target = _own_file(shared, OTHER)
    with euid(NOBODY, NOBODY, [NOBODY, OTHER]):
        write_file(str(target), b"new\n")
    info = target.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (NOBODY, OTHER, 0o640)
    assert target.read_text() == "new\n"


@as_root
def test_a_user_whose_effective_group_is_not_listed_may_still_replace_its_file(shared: Path, euid) -> None:
    """getgroups() need not hold the effective group: the new file gets it anyway, so nothing changes hands."""
    target = _own_file(shared, NOBODY)
    with euid(NOBODY, NOBODY, [OTHER]):
        write_file(str(target), b"new\n")
    info = target.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (NOBODY, NOBODY, 0o640)
    assert target.read_text() == "new\n"


# --- hashing ------------------------------------------------------------------------------------


class _Recorder:
    """A file object that records the sizes asked of read()."""

    def __init__(self, handle: object, sizes: list[object]) -> None:
        self.handle = handle
        self.sizes = sizes

    def __enter__(self) -> _Recorder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.handle.close()  # type: ignore[attr-defined]

    def read(self, size: object = -1) -> bytes:
        self.sizes.append(size)
        return self.handle.read(size)  # type: ignore[attr-defined]


def test_a_file_is_hashed_in_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Installers are gigabytes: never read whole into memory."""
    data = bytes(range(256)) * 5
    (tmp_path / "installer.sh").write_bytes(data)
    sizes: list[object] = []
    monkeypatch.setattr(_files, "open", lambda *args: _Recorder(open(*args), sizes), raising=False)  # noqa: SIM115
    assert sha256_file(str(tmp_path / "installer.sh"), block=512) == hashlib.sha256(data).hexdigest()
    assert sizes == [512, 512, 512, 512]


# --- more than one block, chains of links, defaults ---------------------------------------------


def test_a_file_larger_than_one_read_comes_back_whole(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB: several reads
    (tmp_path / "big").write_bytes(data)
    assert read_file(str(tmp_path / "big")) == data


def _chain(directory: Path, links: int) -> Path:
    """``link0 -> link1 -> … -> target``: ``links`` links before the file."""
    (directory / "target").write_text("")
    for index in range(links):
        following = "target" if index == links - 1 else f"link{index + 1}"
        (directory / f"link{index}").symlink_to(following)
    return directory / "link0"


def test_a_chain_of_eight_links_is_followed_and_nine_are_too_many(tmp_path: Path) -> None:
    (tmp_path / "eight").mkdir()
    (tmp_path / "nine").mkdir()
    assert Path(resolve_owned_link(str(_chain(tmp_path / "eight", 8)))) == tmp_path / "eight" / "target"
    nine = _chain(tmp_path / "nine", 9)
    with pytest.raises(FileError) as info:
        resolve_owned_link(str(nine))
    assert (info.value.path, str(info.value)) == (str(nine), f"cannot read {nine}: too many levels of symbolic links")


@as_root
def test_a_refused_link_further_down_a_chain_is_named_with_the_chain(shared: Path) -> None:
    home = shared / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    (home / ".condarc").symlink_to(shared / "secret")  # root's link in nobody's directory
    start = shared / "condarc"
    start.symlink_to(home / ".condarc")  # root's own link in root's directory: followed
    with pytest.raises(FileError) as info:
        resolve_owned_link(str(start))
    assert info.value.path == str(start)
    assert str(info.value).startswith(f"{start} (through {home / '.condarc'}) is a symbolic link owned by root (0)")


def test_a_new_file_is_0644_without_a_umask(tmp_path: Path) -> None:
    write_file(str(tmp_path / "f"), b"x", umask=0)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o644


def test_an_error_without_a_system_reason_still_says_what_happened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(_fd: int) -> None:
        raise OSError("the disk went away")

    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", failing)
        with pytest.raises(FileError) as info:
            write_file(str(tmp_path / "f"), b"x")
    assert str(info.value) == f"cannot write {tmp_path / 'f'}: the disk went away"
    assert list(tmp_path.iterdir()) == []
