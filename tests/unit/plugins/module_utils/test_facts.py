# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils import _facts
from ansible_collections.cpkgs.conda.plugins.module_utils._facts import (
    FactsCollector,
    account_name,
    mount_of,
    parse_bsd_mount,
    parse_mountinfo,
    path_owner,
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
    ("line", "expected"),
    [
        (
            "map auto_home on /System/Volumes/Data/home (autofs, automounted, nobrowse)",
            [("/System/Volumes/Data/home", "autofs")],
        ),
        ("/dev/disk4s1 on /Volumes/My (Disk) (apfs, local, nodev)", [("/Volumes/My (Disk)", "apfs")]),
        ("//alice@fs1/share on /Volumes/share on fs1 (smbfs, nodev)", [("/Volumes/share on fs1", "smbfs")]),
        ("fs1:/export/cpkgs on /nfs/cpkgs (nfs)", [("/nfs/cpkgs", "nfs")]),
        ("fs1:/export/cpkgs on /nfs/cpkgs", []),  # no options: not a mount line
        ("fs1:/export/cpkgs at /nfs/cpkgs (nfs)", []),
        ("", []),
    ],
)
def test_parse_bsd_mount_odd_lines(line: str, expected: list) -> None:
    """Mount points with spaces, parentheses or " on " in them, and lines that are not mounts."""
    assert parse_bsd_mount(line + "\n") == expected


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


NESTED = [("/", "ext4"), ("/nfs", "nfs4"), ("/nfs/cpkgs", "autofs"), ("/nfs/cpkgs/anaconda3_linux", "nfs4")]


@pytest.mark.parametrize("order", ["shortest first", "longest first"])
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/nfs/cpkgs/anaconda3_linux/envs/e1", ("/nfs/cpkgs/anaconda3_linux", "nfs4")),
        ("/nfs/cpkgs/anaconda3_macOS", ("/nfs/cpkgs", "autofs")),
        ("/nfs/other", ("/nfs", "nfs4")),
        ("/nfs", ("/nfs", "nfs4")),
        ("/srv", ("/", "ext4")),
    ],
)
def test_mount_of_prefers_the_longest_mount_point_in_any_order(order: str, path: str, expected: tuple) -> None:
    mounts = NESTED if order == "shortest first" else list(reversed(NESTED))
    assert mount_of(path, mounts) == expected


@pytest.mark.parametrize(
    ("mounts", "expected"),
    [
        ([("/", "ext4"), ("/nfs/cpkgs", "autofs"), ("/nfs/cpkgs", "nfs4")], ("/nfs/cpkgs", "nfs4")),
        ([("/", "ext4"), ("/nfs/cpkgs", "nfs4"), ("/nfs/cpkgs", "autofs")], ("/nfs/cpkgs", "autofs")),
    ],
)
def test_mount_of_a_point_mounted_twice_is_the_later_mount(mounts: list, expected: tuple) -> None:
    """A mount over a mount point hides the one before it (mountinfo lists mounts in the order made)."""
    assert mount_of("/nfs/cpkgs/anaconda3_linux", mounts) == expected


def test_mount_of_a_path_under_no_mount_point() -> None:
    assert mount_of("/nfs/cpkgs", [("/srv", "nfs4"), ("/nfs/cpkgs2", "nfs4")]) == (None, None)


def test_mount_of_normalizes_both_sides() -> None:
    assert mount_of("/nfs//cpkgs/./anaconda3_linux/", [("/", "ext4"), ("/nfs/cpkgs/", "nfs4")]) == (
        "/nfs/cpkgs",
        "nfs4",
    )


def _env(prefix: Path, frozen: bool = False) -> None:
    """An environment as conda sees one: ``conda-meta/history`` exists (PrefixData.is_environment)."""
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").write_text("")
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
        "owner": account_name(tmp_path.stat().st_uid),  # who can create it
    }


@pytest.fixture
def owners(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Fake owners by path (uid 1500 is cpkgsadm, 1600 has no account) and the running account alice."""
    uids = {}
    real_stat = os.stat

    def fake_stat(path, *args, **kwargs):
        result = real_stat(path, *args, **kwargs)
        uid = uids.get(os.fspath(path))
        if uid is None:
            return result
        return os.stat_result((result.st_mode, result.st_ino, result.st_dev, result.st_nlink, uid, *result[5:]))

    def fake_getpwuid(uid: int) -> SimpleNamespace:
        names = {1500: "cpkgsadm", 2001: "alice"}
        if uid not in names:
            raise KeyError(uid)
        return SimpleNamespace(pw_name=names[uid])

    monkeypatch.setattr(_facts.os, "stat", fake_stat)
    monkeypatch.setattr(_facts.os, "geteuid", lambda: 2001)
    monkeypatch.setattr(_facts.pwd, "getpwuid", fake_getpwuid)
    return uids


def test_owner_of_an_installed_tree_is_the_tree_s(share: Path, tmp_path: Path, owners: dict) -> None:
    owners[str(share)] = 1500
    owners[str(share / "anaconda3_linux")] = 1600
    facts = _collect(share, tmp_path / "home")
    assert (facts["owner"], facts["share"]["owner"], facts["account"]) == ("1600", "cpkgsadm", "alice")


def test_owner_of_a_tree_not_installed_yet_is_its_parent_s(share: Path, tmp_path: Path, owners: dict) -> None:
    """The macOS tree is missing from a fresh share: whoever owns the share root creates it."""
    owners[str(share)] = 1500
    (share / "anaconda3_macOS").rmdir()
    facts = _collect(share, tmp_path / "home", system="Darwin", machine="arm64")
    assert facts["installed"] is False
    assert facts["owner"] == "cpkgsadm"
    assert path_owner(str(share / "anaconda3_macOS" / "envs" / "x")) == "cpkgsadm"


def test_no_root_prefix_no_owner(share: Path, tmp_path: Path) -> None:
    facts = _collect(share, tmp_path / "home", system="FreeBSD")
    assert facts["root_prefix"] is None
    assert facts["owner"] is None


def test_facts_report_the_tree_options_they_ran_with(share: Path, tmp_path: Path) -> None:
    options = {"share_root": str(share), "tree_names": {"Linux": "mf"}, "root_prefix": None, "conda_exe": None}
    paths = CondaPaths("Linux", "x86_64", str(tmp_path / "home"), share_root=str(share))
    facts = FactsCollector(paths, [], gather_envs=False, options=options).collect()
    assert facts["tree_options"] == options


def test_envs_from_user_envs_dirs_and_environments_txt(share: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    _env(home / ".conda" / "envs" / "mine")
    _env(tmp_path / "elsewhere" / "proj")
    (home / ".conda" / "environments.txt").write_text(f"{tmp_path / 'elsewhere' / 'proj'}\n/gone\n")
    envs = {env["prefix"]: env for env in _collect(share, home)["envs"]}
    assert envs[str(home / ".conda" / "envs" / "mine")]["name"] == "mine"
    assert envs[str(tmp_path / "elsewhere" / "proj")]["name"] == ""  # outside envs_dirs: '' as conda's env list
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


def _passwd(*homes: Path) -> object:
    return lambda: [SimpleNamespace(pw_name=f"u{i}", pw_dir=str(home)) for i, home in enumerate(homes)]


def _registered(home: Path, *prefixes: Path) -> None:
    (home / ".conda").mkdir(parents=True, exist_ok=True)
    (home / ".conda" / "environments.txt").write_text("".join(f"{p}\n" for p in prefixes))


def _listed(share: Path, home: Path, **kwargs) -> dict:
    paths = CondaPaths("Linux", "x86_64", str(home), share_root=str(share))
    return {env["prefix"]: env for env in FactsCollector(paths, [], **kwargs).collect()["envs"]}


@pytest.fixture
def accounts(tmp_path: Path) -> dict:
    """alice's and bob's homes register one env each; the running account's HOME registers a third."""
    homes = {who: tmp_path / "homes" / who for who in ("alice", "bob", "runner")}
    envs = {who: tmp_path / "projects" / who for who in homes}
    for who, home in homes.items():
        _env(envs[who])
        _registered(home, envs[who])
    return {"homes": homes, "envs": envs}


def test_admin_lists_every_accounts_environments_txt(share: Path, accounts: dict) -> None:
    """Run as root, conda reads the environments.txt of every home in the password database, not $HOME's."""
    homes, envs = accounts["homes"], accounts["envs"]
    listed = _listed(share, homes["runner"], admin=True, passwd=_passwd(homes["alice"], homes["bob"]))
    assert str(envs["alice"]) in listed
    assert str(envs["bob"]) in listed
    assert str(envs["runner"]) not in listed  # $HOME is not in the password database: conda skips it
    assert listed[str(envs["alice"])]["name"] == ""


def test_non_admin_lists_only_its_own_environments_txt(share: Path, accounts: dict) -> None:
    homes, envs = accounts["homes"], accounts["envs"]
    listed = _listed(share, homes["runner"], admin=False, passwd=_passwd(homes["alice"], homes["bob"]))
    assert str(envs["runner"]) in listed
    assert str(envs["alice"]) not in listed and str(envs["bob"]) not in listed


def test_admin_with_an_empty_password_database_reads_home(share: Path, accounts: dict) -> None:
    homes, envs = accounts["homes"], accounts["envs"]
    assert str(envs["runner"]) in _listed(share, homes["runner"], admin=True, passwd=_passwd())


def test_admin_skips_unreadable_environments_txt(share: Path, accounts: dict, tmp_path: Path) -> None:
    homes, envs = accounts["homes"], accounts["envs"]
    odd = tmp_path / "homes" / "odd"
    (odd / ".conda" / "environments.txt").mkdir(parents=True)  # cannot be read as a file
    listed = _listed(share, homes["runner"], admin=True, passwd=_passwd(odd, tmp_path / "nohome", homes["bob"]))
    assert str(envs["bob"]) in listed


def test_only_prefixes_that_are_envs(share: Path, accounts: dict, tmp_path: Path) -> None:
    """conda's rule (PrefixData.is_environment): ``conda-meta/history`` exists."""
    homes = accounts["homes"]
    half = tmp_path / "projects" / "half"
    (half / "conda-meta").mkdir(parents=True)  # no history: conda does not list it
    (share / "anaconda3_linux" / "envs" / "half" / "conda-meta").mkdir(parents=True)
    _registered(homes["runner"], half, tmp_path / "gone")
    listed = _listed(share, homes["runner"])
    assert str(half) not in listed
    assert str(tmp_path / "gone") not in listed
    assert str(share / "anaconda3_linux" / "envs" / "half") not in listed
    assert str(share / "anaconda3_linux" / "envs" / "isis4.3.0") in listed


@pytest.mark.parametrize(
    ("layout", "state"),
    [
        (None, "absent"),
        ([], "empty"),
        ([".cpkgs-lock/"], "empty"),
        ([".cpkgs-installing", ".cpkgs-lock/", "conda-meta/", "bin/conda"], "interrupted"),
        (["conda-meta/", "bin/conda"], "foreign"),
        (["README"], "foreign"),
        (["conda-meta/history", "bin/conda"], "installed"),
    ],
)
def test_root_state(tmp_path: Path, layout: list | None, state: str) -> None:
    """A tree counts as installed only once its installer finished; a killed install of the role's is its own."""
    root = tmp_path / "share" / "anaconda3_linux"
    (tmp_path / "share").mkdir()
    if layout is not None:
        root.mkdir()
        for name in layout:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            if name.endswith("/"):
                (root / name).mkdir(exist_ok=True)
            else:
                (root / name).write_text("")
    facts = _collect(tmp_path / "share", tmp_path / "home")
    assert facts["root_state"] == state
    assert facts["installed"] is (state == "installed")
    assert _facts.root_state(str(root)) == state


def test_mountinfo_escapes_and_lines_that_are_not_mounts() -> None:
    text = (
        "garbage without separator\n"
        "1 2 - ext4\n"  # too few fields before the separator
        "3 1 0:1 / /x rw - \n"  # no file system type
        "41 22 0:36 / /srv/tab\\011and\\134backslash\\012nl rw shared:21 - tmpfs tmpfs rw\n"
        "42 22 0:37 / /srv/SANDBOX rw - nfs4 fs1:/box rw\n"
    )
    assert parse_mountinfo(text) == [("/srv/tab\tand\\backslash\nnl", "tmpfs"), ("/srv/SANDBOX", "nfs4")]


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/srv/SANDBOX/envs", ("/srv/SANDBOX", "nfs4")), ("/srv/SANDBOXES", ("/", "ext4"))],
)
def test_mount_points_ending_in_any_letter(path: str, expected: tuple) -> None:
    assert mount_of(path, [("/", "ext4"), ("/srv/SANDBOX", "nfs4")]) == expected
