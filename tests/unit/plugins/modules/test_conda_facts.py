# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The conda_facts module's main(): the facts of a tree on a share, as the running account or another one."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from ansible_collections.cpkgs.conda.plugins.modules import conda_facts

RunModule = Callable[[ModuleType, dict], dict]  # the run_module fixture (tests/unit/plugins/conftest.py)


def _env(prefix: Path) -> None:
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").write_text("")


@pytest.fixture
def share(tmp_path: Path) -> Path:
    """A share with an installed Linux tree (conda 26.7.1, one env ``e1``) and none for macOS."""
    share = tmp_path / "share"
    tree = share / "anaconda3_linux"
    _env(tree)
    (tree / "conda-meta" / "conda-26.7.1-py311_0.json").write_text(json.dumps({"name": "conda", "version": "26.7.1"}))
    (tree / "bin").mkdir()
    (tree / "bin" / "conda").write_text("#!/bin/sh\n")
    (tree / "bin" / "conda").chmod(0o755)
    (tree / "etc" / "profile.d").mkdir(parents=True)
    _env(tree / "envs" / "e1")
    return share


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("CONDARC", "CONDA_ENVS_DIRS", "CONDA_ENVS_PATH"):
        monkeypatch.delenv(name, raising=False)
    return home


def test_facts_of_an_installed_tree(share: Path, home: Path, run_module: RunModule) -> None:
    _env(home / ".conda" / "envs" / "mine")
    result = run_module(conda_facts, {"share_root": str(share)})
    assert result["changed"] is False
    assert "warnings" not in result
    facts = result["ansible_facts"]["conda"]
    tree = share / "anaconda3_linux"
    assert (facts["system"], facts["share_root"]) == ("Linux", str(share))
    assert facts["machine"] == os.uname().machine
    assert facts["condabin"] == str(tree / "condabin")
    assert facts["root_writable"] is os.access(tree / "conda-meta", os.W_OK)
    assert facts["tree_name"] == "anaconda3_linux"
    assert facts["trees"] == {"Darwin": str(share / "anaconda3_macOS"), "Linux": str(tree)}
    assert facts["root_prefix"] == str(tree)
    assert (facts["installed"], facts["root_state"]) == (True, "installed")
    assert facts["conda_exe"] == str(tree / "bin" / "conda")
    assert facts["conda_sh"] == str(tree / "etc" / "profile.d" / "conda.sh")
    assert facts["conda_version"] == "26.7.1"
    assert facts["condarc"]["user"] == str(home / ".condarc")
    assert facts["tree_options"] == {
        "share_root": str(share),
        "tree_names": {"Linux": "anaconda3_linux", "Darwin": "anaconda3_macOS"},
        "root_prefix": None,
        "conda_exe": None,
    }
    writable = os.access(tree / "conda-meta", os.W_OK)
    tree_first = [str(tree / "envs"), str(home / ".conda" / "envs")]
    assert facts["envs_dirs"] == (tree_first if writable else tree_first[::-1])
    # (as root, every account's registered envs are listed too: only those on this share are the test's)
    assert [(env["name"], env["prefix"]) for env in facts["envs"] if env["prefix"].startswith(str(share))] == [
        ("base", str(tree)),
        ("e1", str(tree / "envs" / "e1")),
    ]
    assert {env["name"]: env["prefix"] for env in facts["envs"]}["mine"] == str(home / ".conda" / "envs" / "mine")
    assert facts["share"]["path"] == str(share)
    assert facts["share"]["exists"] is True
    assert facts["share"]["is_mount"] is False
    assert str(share).startswith(facts["share"]["mount_point"])  # the mount that holds it, from mountinfo
    assert facts["share"]["fstype"]


def test_gather_envs_off_lists_no_envs(share: Path, home: Path, run_module: RunModule) -> None:
    result = run_module(conda_facts, {"share_root": str(share), "gather_envs": False})
    assert result["ansible_facts"]["conda"]["envs"] == []


def test_a_tree_not_installed_yet(tmp_path: Path, home: Path, run_module: RunModule) -> None:
    facts = run_module(conda_facts, {"share_root": str(tmp_path / "none")})["ansible_facts"]["conda"]
    assert (facts["installed"], facts["conda_exe"], facts["conda_version"]) == (False, None, None)
    assert facts["share"]["exists"] is False
    assert facts["share"]["mount_point"] is None


def test_an_unreadable_condarc_is_a_warning_not_a_failure(share: Path, home: Path, run_module: RunModule) -> None:
    (home / ".condarc").write_text("channels: [a\n")
    result = run_module(conda_facts, {"share_root": str(share)})
    assert "failed" not in result
    assert len(result["warnings"]) == 1
    assert result["warnings"][0].startswith(f"cannot read {home / '.condarc'}")


def test_facts_for_another_account_use_its_home_not_the_environment(
    share: Path, home: Path, run_module: RunModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONDA_ENVS_DIRS", "/from/the/environment")
    nobody = Path(pwd.getpwnam("nobody").pw_dir)
    facts = run_module(conda_facts, {"share_root": str(share), "user": "nobody"})["ansible_facts"]["conda"]
    assert facts["condarc"]["user"] == str(nobody / ".condarc")
    assert "/from/the/environment" not in facts["envs_dirs"]
    assert str(nobody / ".conda" / "envs") in facts["envs_dirs"]


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"user": "no-such-account-x"}, "user: no such account 'no-such-account-x'"),
        ({"share_root": "relative"}, "share_root: must be an absolute path, got 'relative'"),
        ({"conda_exe": "bin/conda"}, "conda_exe: must be an absolute path, got 'bin/conda'"),
        ({"tree_names": {"Linux": ""}}, "tree_names: 'Linux' must map to a directory name, got ''"),
    ],
)
def test_bad_options_fail_naming_the_option(
    share: Path, home: Path, run_module: RunModule, args: dict, msg: str
) -> None:
    result = run_module(conda_facts, {"share_root": str(share), **args})
    assert result["failed"] is True
    assert result["msg"] == msg


def test_facts_are_gathered_in_check_mode_too(share: Path, home: Path, run_module: RunModule) -> None:
    result = run_module(conda_facts, {"share_root": str(share), "_ansible_check_mode": True})
    assert "skipped" not in result
    assert result["ansible_facts"]["conda"]["root_prefix"] == str(share / "anaconda3_linux")


NOBODY = pwd.getpwnam("nobody")


def _condarc_read_of_the_module(run_module: RunModule, share: Path, mode: str) -> dict:
    from ansible_collections.cpkgs.conda.plugins.modules import condarc

    read = run_module(condarc, {"share_root": str(share), "scope": "system", "key": "a", "value": 1, "mode": mode})
    return {key: read[key] for key in ("path", "exists", "directory_exists", "content", "sha1", "attributes_differ")}


@pytest.mark.parametrize("mode", ["0644", "0600"])
def test_system_condarc_is_the_condarc_module_s_own_read(
    share: Path, home: Path, run_module: RunModule, mode: str
) -> None:
    path = share / "anaconda3_linux" / ".condarc"
    path.write_text("channels: [conda-forge]\n")
    path.chmod(0o640)
    look = run_module(conda_facts, {"share_root": str(share), "gather_envs": False, "system_condarc": {"mode": mode}})
    assert look["system_condarc"] == _condarc_read_of_the_module(run_module, share, mode)
    assert look["system_condarc"]["attributes_differ"] is (mode != "0640")
    assert look["system_condarc"]["content"] == "channels: [conda-forge]\n"


@pytest.fixture
def open_share(share: Path) -> Iterator[Path]:
    """The share moved where every account can reach it (pytest's own directories are root's alone)."""
    top = Path(tempfile.mkdtemp(prefix="cpkgs-facts-"))
    top.chmod(0o755)
    try:
        yield Path(shutil.move(str(share), str(top / "share")))
    finally:
        shutil.rmtree(top)


@pytest.mark.skipif(os.geteuid() != 0, reason="reading as another account needs root")
def test_system_condarc_is_read_as_the_account_of_the_condarc_task(
    open_share: Path, home: Path, run_module: RunModule, euid: Callable
) -> None:
    share = open_share
    path = share / "anaconda3_linux" / ".condarc"
    path.write_text("channels: [private]\n")
    path.chmod(0o600)  # root's, unreadable to nobody: the condarc task as nobody could not read it either
    args = {"share_root": str(share), "gather_envs": False, "system_condarc": {"mode": "0644"}}
    assert run_module(conda_facts, args)["system_condarc"]["content"] == "channels: [private]\n"  # as root
    as_nobody = run_module(conda_facts, dict(args, system_condarc={"mode": "0644", "account": "nobody"}))
    assert "system_condarc" not in as_nobody  # left for the condarc task, which reports the error
    path.chmod(0o644)
    as_nobody = run_module(conda_facts, dict(args, system_condarc={"mode": "0644", "account": "nobody"}))
    assert as_nobody["system_condarc"]["content"] == "channels: [private]\n"
    with euid(NOBODY.pw_uid, NOBODY.pw_gid):  # not root, and not the account asked for: no read
        other = run_module(conda_facts, dict(args, system_condarc={"mode": "0644", "account": "root"}))
    assert "system_condarc" not in other
    assert other["ansible_facts"]["conda"]["installed"] is True


def test_system_condarc_without_a_tree_or_unasked(
    tmp_path: Path, share: Path, home: Path, run_module: RunModule
) -> None:
    args = {"share_root": str(tmp_path / "empty"), "gather_envs": False, "system_condarc": {"mode": "0644"}}
    assert "system_condarc" not in run_module(conda_facts, args)
    assert "system_condarc" not in run_module(conda_facts, {"share_root": str(share), "gather_envs": False})
    absent = run_module(conda_facts, dict(args, share_root=str(share)))["system_condarc"]
    assert (absent["exists"], absent["content"], absent["sha1"]) == (False, "", "")
