# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The condarc module's main(), as the action plugin calls it: once to read (no ``_content``), once to write."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pwd
import stat
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType

import pytest

from ansible_collections.cpkgs.conda.plugins.modules import condarc

RunModule = Callable[[ModuleType, dict], dict]  # the run_module fixture (tests/unit/plugins/conftest.py)
Euid = Callable[[int, int], AbstractContextManager[None]]  # the euid fixture (tests/unit/plugins/conftest.py)


NOBODY = 65534
OTHER = 65533
SECRET = "password: hunter2\n"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create files owned by other accounts")


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@pytest.fixture
def home(shared: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """nobody's home, owned by nobody, found through the password database as the module does."""
    home = shared / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    real = pwd.getpwnam("nobody")
    fake = pwd.struct_passwd((real.pw_name, "x", real.pw_uid, real.pw_gid, "", str(home), "/bin/sh"))
    original = pwd.getpwnam
    monkeypatch.setattr(pwd, "getpwnam", lambda name: fake if name == "nobody" else original(name))
    return home


@pytest.fixture
def secret(shared: Path) -> Path:
    path = shared / "root-only"
    path.write_text(SECRET)
    path.chmod(0o600)
    return path


def _owner_mode(path: Path) -> tuple[int, int, int]:
    info = path.lstat()
    return info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)


USER = {"scope": "user", "user": "nobody", "key": "channels", "value": ["conda-forge"]}


# --- bug 1: scope user as root ---------------------------------------------------------------------


@as_root
def test_user_link_to_a_root_only_file_is_not_read(home: Path, secret: Path, run_module: RunModule) -> None:
    (home / ".condarc").symlink_to(secret)
    os.lchown(home / ".condarc", NOBODY, NOBODY)
    result = run_module(condarc, USER)
    assert result.get("failed") is True
    assert "hunter2" not in json.dumps(result)
    assert str(home / ".condarc") in result["msg"]
    assert "Permission denied" in result["msg"]


@as_root
def test_user_link_to_a_root_only_file_is_not_copied(home: Path, secret: Path, run_module: RunModule) -> None:
    link = home / ".condarc"
    link.symlink_to(secret)
    os.lchown(link, NOBODY, NOBODY)
    result = run_module(
        condarc, dict(USER, _content=SECRET + "channels: [conda-forge]\n", _expected_sha1=_sha1(SECRET))
    )
    assert result.get("failed") is True
    assert link.is_symlink()
    assert secret.read_text() == SECRET
    assert _owner_mode(secret) == (0, 0, 0o600)


@as_root
def test_user_hard_link_to_a_root_only_file_is_not_read(home: Path, secret: Path, run_module: RunModule) -> None:
    os.link(secret, home / ".condarc")
    result = run_module(condarc, USER)
    assert result.get("failed") is True
    assert "hunter2" not in json.dumps(result)
    assert result["msg"] == f"cannot read {home / '.condarc'}: Permission denied"


@as_root
def test_path_link_planted_by_a_user_is_refused_naming_its_owner(
    home: Path, secret: Path, run_module: RunModule
) -> None:
    link = home / "x.condarc"
    link.symlink_to(secret)
    os.lchown(link, NOBODY, NOBODY)
    result = run_module(condarc, {"path": str(link), "key": "channels", "value": ["x"]})
    assert result.get("failed") is True
    assert "hunter2" not in json.dumps(result)
    assert str(link) in result["msg"]
    assert "symbolic link owned by nobody (65534)" in result["msg"]


@as_root
def test_user_scope_new_file_belongs_to_the_user(home: Path, run_module: RunModule) -> None:
    text = "channels:\n  - conda-forge\n"
    result = run_module(condarc, dict(USER, _content=text, _expected_sha1=""))
    assert result.get("failed") is None, result
    assert result["changed"] is True
    assert (home / ".condarc").read_text() == text
    assert _owner_mode(home / ".condarc")[:2] == (NOBODY, NOBODY)


@as_root
def test_user_scope_directory_the_user_cannot_write(home: Path, run_module: RunModule) -> None:
    os.chown(home, 0, 0)  # a home root owns: root could write it, the user cannot
    result = run_module(condarc, dict(USER, _content="channels: [x]\n", _expected_sha1=""))
    assert result.get("failed") is True
    assert result["msg"] == f"cannot write {home / '.condarc'}: directory {home} is not writable (Permission denied)"
    assert list(home.iterdir()) == []


@as_root
def test_own_symlink_in_own_directory_updates_the_target(home: Path, run_module: RunModule) -> None:
    """A user's symlinked dotfile (scope user, as root): the target is edited, the link stays a link."""
    (home / "dotfiles").mkdir()
    target = home / "dotfiles" / "condarc"
    target.write_text("channels: [defaults]\n")
    for path in (home / "dotfiles", target):
        os.chown(path, NOBODY, NOBODY)
    (home / ".condarc").symlink_to("dotfiles/condarc")
    os.lchown(home / ".condarc", NOBODY, NOBODY)
    read = run_module(condarc, USER)
    assert read["content"] == "channels: [defaults]\n"
    new = "channels: [conda-forge]\n"
    written = run_module(condarc, dict(USER, _content=new, _expected_sha1=read["sha1"]))
    assert written.get("failed") is None, written
    assert (home / ".condarc").is_symlink()
    assert target.read_text() == new
    assert _owner_mode(target)[:2] == (NOBODY, NOBODY)


@as_root
def test_roots_own_symlink_updates_the_target(shared: Path, run_module: RunModule) -> None:
    (shared / "etc").mkdir()
    target = shared / "etc" / "condarc"
    target.write_text("channels: [defaults]\n")
    target.chmod(0o640)
    (shared / ".condarc").symlink_to("etc/condarc")
    args = {"path": str(shared / ".condarc"), "key": "channels", "value": ["conda-forge"]}
    read = run_module(condarc, args)
    written = run_module(condarc, dict(args, _content="channels: [conda-forge]\n", _expected_sha1=read["sha1"]))
    assert written.get("failed") is None, written
    assert (shared / ".condarc").is_symlink()
    assert target.read_text() == "channels: [conda-forge]\n"
    assert _owner_mode(target) == (0, 0, 0o640)


# --- bug 2: a non-root editor and another account's file --------------------------------------------


@as_root
def test_non_root_editor_refuses_another_accounts_file(euid: Euid, shared: Path, run_module: RunModule) -> None:
    directory = shared / "group-dir"
    directory.mkdir()
    directory.chmod(0o777)
    target = directory / ".condarc"
    target.write_text("channels: [a]\n")
    os.chown(target, OTHER, OTHER)
    target.chmod(0o666)
    args = {"path": str(target), "key": "channels", "value": ["b"]}
    with euid(NOBODY, NOBODY):
        result = run_module(condarc, dict(args, _content="channels: [b]\n", _expected_sha1=_sha1("channels: [a]\n")))
    assert result.get("failed") is True
    assert str(target) in result["msg"]
    assert f"belongs to uid {OTHER}" in result["msg"]
    assert _owner_mode(target) == (OTHER, OTHER, 0o666)
    assert target.read_text() == "channels: [a]\n"
    assert [path.name for path in directory.iterdir()] == [".condarc"]


# --- bug 3 and the full disk: errors name the target ------------------------------------------------


@as_root
def test_directory_not_writable_names_the_target(euid: Euid, shared: Path, run_module: RunModule) -> None:
    locked = shared / "locked"
    locked.mkdir()
    target = locked / ".condarc"
    with euid(NOBODY, NOBODY):
        result = run_module(
            condarc, {"path": str(target), "key": "a", "value": 1, "_content": "a: 1\n", "_expected_sha1": ""}
        )
    assert result.get("failed") is True
    assert result["msg"] == f"cannot write {target}: directory {locked} is not writable (Permission denied)"


def test_full_disk_names_the_target_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_module: RunModule
) -> None:
    target = tmp_path / ".condarc"
    target.write_text("a: 1\n")

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    args = {"path": str(target), "key": "a", "value": 2, "_content": "a: 2\n", "_expected_sha1": _sha1("a: 1\n")}
    result = run_module(condarc, args)
    assert result.get("failed") is True
    assert result["msg"] == f"cannot write {target}: No space left on device"
    assert [path.name for path in tmp_path.iterdir()] == [".condarc"]
    assert target.read_text() == "a: 1\n"


def test_changed_meanwhile_is_refused(tmp_path: Path, run_module: RunModule) -> None:
    target = tmp_path / ".condarc"
    target.write_text("a: 3\n")
    args = {"path": str(target), "key": "a", "value": 2, "_content": "a: 2\n", "_expected_sha1": _sha1("a: 1\n")}
    result = run_module(condarc, args)
    assert result.get("failed") is True
    assert result["msg"].startswith(f"{target} changed while this task ran")
    assert target.read_text() == "a: 3\n"


def test_new_file_gets_0644_minus_umask(tmp_path: Path, run_module: RunModule) -> None:
    target = tmp_path / ".condarc"
    old = os.umask(0o027)
    try:
        result = run_module(
            condarc, {"path": str(target), "key": "a", "value": 1, "_content": "a: 1\n", "_expected_sha1": ""}
        )
    finally:
        os.umask(old)
    assert result["changed"] is True
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
