# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils._facts import (
    FactsCollector,
    mount_of,
    parse_bsd_mount,
    parse_mountinfo,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._tree import CondaPaths

MOUNTINFO = """\
22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 0:35 / /nfs/cpkgs rw,relatime shared:20 - nfs4 fs1:/export/cpkgs rw,vers=4.2
41 22 0:36 / /srv/with\\040space rw shared:21 - tmpfs tmpfs rw
"""

BSD_MOUNT = """\
/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)
fs1:/export/cpkgs on /nfs/cpkgs (nfs, nodev, nosuid, mounted by root)
"""


def test_parse_mountinfo() -> None:
    assert parse_mountinfo(MOUNTINFO) == [("/", "ext4"), ("/nfs/cpkgs", "nfs4"), ("/srv/with space", "tmpfs")]


def test_parse_bsd_mount() -> None:
    assert parse_bsd_mount(BSD_MOUNT) == [("/", "apfs"), ("/nfs/cpkgs", "nfs")]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/nfs/cpkgs", ("/nfs/cpkgs", "nfs4")),
        ("/nfs/cpkgs/anaconda3_linux", ("/nfs/cpkgs", "nfs4")),
        ("/nfs/cpkgsother", ("/", "ext4")),
        ("/srv/with space/x", ("/srv/with space", "tmpfs")),
    ],
)
def test_mount_of(path: str, expected: tuple) -> None:
    assert mount_of(path, parse_mountinfo(MOUNTINFO)) == expected


def _env(prefix: Path, frozen: bool = False) -> None:
    (prefix / "conda-meta").mkdir(parents=True)
    if frozen:
        (prefix / "conda-meta" / "frozen").write_text("{}")


@pytest.fixture
def share(tmp_path: Path) -> Path:
    """A share with a Linux tree (conda 26.7.1, two envs, one frozen) and an empty macOS tree dir."""
    share = tmp_path / "share"
    root = share / "anaconda3_linux"
    _env(root)
    (root / "conda-meta" / "conda-26.7.1-py311_0.json").write_text(json.dumps({"name": "conda", "version": "26.7.1"}))
    (root / "bin").mkdir()
    (root / "bin" / "conda").write_text("#!/bin/sh\n")
    (root / "bin" / "conda").chmod(0o755)
    _env(root / "envs" / "isis4.3.0", frozen=True)
    _env(root / "envs" / "isis3.6.0")
    (root / "envs" / "not-an-env").mkdir()
    (share / "anaconda3_macOS").mkdir()
    return share


def _collect(share: Path, home: Path, system: str = "Linux", machine: str = "x86_64", **kwargs) -> dict:
    paths = CondaPaths(system, machine, str(home), share_root=str(share), **kwargs)
    return FactsCollector(paths, parse_mountinfo(MOUNTINFO)).collect()


def test_linux_facts(share: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    facts = _collect(share, home)
    root = share / "anaconda3_linux"
    assert facts["installed"] is True
    assert facts["subdir"] == "linux-64"
    assert facts["tree_name"] == "anaconda3_linux"
    assert facts["root_prefix"] == str(root)
    assert facts["conda_exe"] == str(root / "bin" / "conda")
    assert facts["conda_sh"] == str(root / "etc" / "profile.d" / "conda.sh")
    assert facts["conda_csh"] == str(root / "etc" / "profile.d" / "conda.csh")
    assert facts["conda_version"] == "26.7.1"
    assert facts["condarc"]["system"] == str(root / ".condarc")
    assert facts["condarc"]["user"] == str(home / ".condarc")
    envs = {env["name"]: env for env in facts["envs"]}
    assert sorted(envs) == ["base", "isis3.6.0", "isis4.3.0"]
    assert envs["isis4.3.0"]["frozen"] is True
    assert envs["isis3.6.0"]["frozen"] is False
    assert facts["share"]["exists"] is True
    assert facts["share"]["is_mount"] is False
    assert json.dumps(facts)  # facts must serialise


def test_macos_facts_from_a_linux_test_host(share: Path, tmp_path: Path) -> None:
    """A faked Darwin arm64 host picks the macOS tree, which is not installed yet."""
    facts = _collect(share, tmp_path / "home", system="Darwin", machine="arm64")
    assert facts["subdir"] == "osx-arm64"
    assert facts["tree_name"] == "anaconda3_macOS"
    assert facts["root_prefix"] == str(share / "anaconda3_macOS")
    assert facts["installed"] is False
    assert facts["conda_exe"] is None
    assert facts["conda_version"] is None
    assert facts["conda_sh"] == str(share / "anaconda3_macOS" / "etc" / "profile.d" / "conda.sh")
    assert facts["envs"] == []


def test_absent_share(tmp_path: Path) -> None:
    facts = _collect(tmp_path / "missing", tmp_path / "home")
    assert facts["installed"] is False
    assert facts["share"] == {
        "path": str(tmp_path / "missing"),
        "exists": False,
        "is_mount": False,
        "mount_point": None,
        "fstype": None,
        "writable": False,
    }


def test_envs_from_user_envs_dirs_and_environments_txt(share: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    _env(home / ".conda" / "envs" / "mine")
    _env(tmp_path / "elsewhere" / "proj")
    (home / ".conda" / "environments.txt").write_text(f"{tmp_path / 'elsewhere' / 'proj'}\n/gone\n")
    envs = {env["prefix"]: env for env in _collect(share, home)["envs"]}
    assert envs[str(home / ".conda" / "envs" / "mine")]["name"] == "mine"
    assert envs[str(tmp_path / "elsewhere" / "proj")]["name"] is None  # listed by prefix, as conda does
    assert "/gone" not in envs


def test_bad_condarc_is_a_warning(share: Path, tmp_path: Path) -> None:
    (share / "anaconda3_linux" / ".condarc").write_text("envs_dirs: [a, [b]]\n")
    paths = CondaPaths("Linux", "x86_64", str(tmp_path / "home"), share_root=str(share))
    collector = FactsCollector(paths, [])
    facts = collector.collect()
    assert facts["installed"] is True
    assert len(collector.warnings) == 1
    assert ".condarc: line 1" in collector.warnings[0]


def test_gather_envs_off(share: Path, tmp_path: Path) -> None:
    paths = CondaPaths("Linux", "x86_64", str(tmp_path / "home"), share_root=str(share))
    assert FactsCollector(paths, [], gather_envs=False).collect()["envs"] == []
