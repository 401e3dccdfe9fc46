# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The conda_verify module's main(): an audit of a tree's envs, damage found and repaired through conda."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cpkgs.conda.plugins.modules import conda_verify

RunModule = Callable[[ModuleType, dict], dict]  # the run_module fixture (tests/unit/plugins/conftest.py)
DATA = b"data\n" * 10


def _package(prefix: Path, name: str, files: dict[str, bytes]) -> None:
    """Files of package ``NAME-1.0-0`` and its conda-meta record (sizes and sha256 as conda writes them)."""
    paths = []
    for rel, data in files.items():
        (prefix / rel).parent.mkdir(parents=True, exist_ok=True)
        (prefix / rel).write_bytes(data)
        paths.append(
            {
                "_path": rel,
                "path_type": "hardlink",
                "sha256": hashlib.sha256(data).hexdigest(),
                "size_in_bytes": len(data),
            }
        )
    record = {
        "name": name,
        "version": "1.0",
        "build": "0",
        "channel": "file:///srv/conda-channel",
        "url": f"file:///srv/conda-channel/noarch/{name}-1.0-0.conda",
        "files": list(files),
        "paths_data": {"paths_version": 1, "paths": paths},
    }
    (prefix / "conda-meta" / f"{name}-1.0-0.json").write_text(json.dumps(record))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A tree (its base has package ``base``) with env ``e1`` (package ``tool``); a conda in bin/."""
    root = tmp_path / "anaconda3_linux"
    for prefix in (root, root / "envs" / "e1"):
        (prefix / "conda-meta").mkdir(parents=True)
        (prefix / "conda-meta" / "history").write_text("")
    _package(root, "base", {"share/base.txt": b"base\n"})
    _package(root / "envs" / "e1", "tool", {"share/data": DATA, "bin/tool": b"#!/bin/sh\n"})
    (root / "bin").mkdir(exist_ok=True)
    (root / "bin" / "conda").write_text("#!/bin/sh\nexit 1\n")
    (root / "bin" / "conda").chmod(0o755)
    return root


class Conda:
    """A conda that reinstalls ``tool`` as its record says (``install --force-reinstall``)."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        self.calls: list[list[str]] = []

    def __call__(self, cmd: list[str]) -> tuple[int, str, str]:
        self.calls.append(cmd)
        if "--dry-run" not in cmd:
            (self.prefix / "share" / "data").write_bytes(DATA)
        return 0, json.dumps({"success": True, "actions": {"LINK": [], "UNLINK": []}}), ""


@pytest.fixture
def conda(tree: Path, monkeypatch: pytest.MonkeyPatch) -> Conda:
    fake = Conda(tree / "envs" / "e1")
    monkeypatch.setattr(AnsibleModule, "run_command", lambda _self, cmd, **_kwargs: fake(cmd))
    monkeypatch.setattr(os, "environ", dict(os.environ))  # repair replaces the environment conda runs in
    return fake


def _damage(tree: Path) -> None:
    path = tree / "envs" / "e1" / "share" / "data"
    path.write_bytes(DATA.upper())  # same size: only the checksum shows it


def test_an_intact_tree_is_clean(tree: Path, conda: Conda, run_module: RunModule) -> None:
    result = run_module(conda_verify, {"root_prefix": str(tree)})
    assert (result["changed"], result["clean"]) == (False, True)
    assert [env["name"] for env in result["envs"]] == ["base", "e1"]
    assert result["counts"]["envs"] == 2
    assert result["counts"]["packages"] == 2
    assert result["files"] == 3
    assert result["bytes"] == len(b"base\n") + len(DATA) + len(b"#!/bin/sh\n")
    assert (result["diff"], result["conda_calls"]) == ([], 0)


def test_damage_is_reported_by_package_and_env(tree: Path, conda: Conda, run_module: RunModule) -> None:
    _damage(tree)
    result = run_module(conda_verify, {"root_prefix": str(tree), "envs": ["e1"]})
    assert (result["changed"], result["clean"]) == (False, False)
    (env,) = result["envs"]
    assert (env["name"], env["prefix"]) == ("e1", str(tree / "envs" / "e1"))
    assert list(env["packages"]) == ["tool-1.0-0"]
    assert env["packages"]["tool-1.0-0"]["changed"] == ["share/data"]
    assert result["counts"]["changed"] == 1
    assert result["counts"]["damaged_packages"] == 1
    assert conda.calls == []  # an audit needs no conda


def test_without_checksums_a_same_size_edit_goes_unseen(tree: Path, conda: Conda, run_module: RunModule) -> None:
    _damage(tree)
    result = run_module(conda_verify, {"root_prefix": str(tree), "envs": ["e1"], "checksums": False})
    assert result["clean"] is True


def test_unexpected_files_are_reported_unless_excluded_or_switched_off(
    tree: Path, conda: Conda, run_module: RunModule
) -> None:
    (tree / "envs" / "e1" / "share" / "stray.txt").write_text("x")
    (tree / "envs" / "e1" / "share" / "notes.log").write_text("x")
    args = {"root_prefix": str(tree), "envs": ["e1"]}
    assert run_module(conda_verify, args)["envs"][0]["unexpected"] == ["share/notes.log", "share/stray.txt"]
    assert run_module(conda_verify, dict(args, exclude=["*.log"]))["envs"][0]["unexpected"] == ["share/stray.txt"]
    assert run_module(conda_verify, dict(args, unexpected=False))["envs"][0]["unexpected"] == []


def test_repair_reinstalls_the_damaged_package(tree: Path, conda: Conda, run_module: RunModule) -> None:
    _damage(tree)
    args = {"root_prefix": str(tree), "envs": ["e1"], "repair": True, "channels": ["file:///srv/conda-channel"]}
    checked = run_module(conda_verify, dict(args, _ansible_check_mode=True))
    assert checked["changed"] is True
    assert checked["envs"][0]["repaired"] == ["tool-1.0-0"]
    assert (tree / "envs" / "e1" / "share" / "data").read_bytes() == DATA.upper()  # check mode: untouched
    assert all("--dry-run" in call for call in conda.calls)

    conda.calls.clear()
    repaired = run_module(conda_verify, args)
    assert (repaired["changed"], repaired["clean"]) == (True, True)
    assert repaired["envs"][0]["repaired"] == ["tool-1.0-0"]
    assert (tree / "envs" / "e1" / "share" / "data").read_bytes() == DATA
    assert repaired["conda_calls"] == len(conda.calls) >= 1
    install = conda.calls[-1]
    assert install[1] == "install"
    assert "--channel" in install
    assert install[install.index("--channel") + 1] == "file:///srv/conda-channel"
    assert len(repaired["diff"]) == 1
    assert "share/data" in repaired["diff"][0]["before"]


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"envs": ["nosuch"]}, "envs[0]: no environment named 'nosuch' in envs_dirs"),
        ({"envs": ["/no/such/env"]}, "envs[0]: '/no/such/env' is not a conda environment (no conda-meta)"),
        ({"umask": "9"}, "umask: must be an octal number like '0022', got '9'"),
        ({"root_prefix": "rel"}, "root_prefix: must be an absolute path, got 'rel'"),
    ],
)
def test_bad_options_fail_naming_the_option(
    tree: Path, conda: Conda, run_module: RunModule, args: dict, msg: str
) -> None:
    result = run_module(conda_verify, {"root_prefix": str(tree), **args})
    assert result["failed"] is True
    assert result["msg"].startswith(msg)


def test_no_tree_names_the_option_that_pointed_there(tmp_path: Path, conda: Conda, run_module: RunModule) -> None:
    missing = tmp_path / "missing"
    by_root = run_module(conda_verify, {"root_prefix": str(missing)})
    assert by_root["msg"] == f"root_prefix: no conda tree at {str(missing)!r} (no conda-meta)"
    by_exe = run_module(conda_verify, {"conda_exe": str(missing / "bin" / "conda")})
    assert by_exe["msg"] == f"conda_exe: no conda tree at {str(missing)!r} (no conda-meta)"
    by_share = run_module(conda_verify, {"share_root": str(missing)})
    assert by_share["msg"] == f"share_root: no conda tree at {str(missing / 'anaconda3_linux')!r} (no conda-meta)"


def test_repair_without_a_conda_fails_naming_conda_exe(tree: Path, conda: Conda, run_module: RunModule) -> None:
    (tree / "bin" / "conda").unlink()
    result = run_module(conda_verify, {"root_prefix": str(tree), "repair": True})
    assert result["msg"] == f"conda_exe: no conda executable in {tree}: repair needs one; set conda_exe"


# ------------------------------------------------------------- what the mutation run (benchmarks/mutation.py) found


def test_repair_runs_conda_with_the_umask_a_clean_environment_and_the_options(
    tree: Path, conda: Conda, run_module: RunModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = {}

    def recording(cmd: list[str]) -> tuple[int, str, str]:
        mask = os.umask(0)
        os.umask(mask)
        seen.update(umask=mask, conda_prefix=os.environ.get("CONDA_PREFIX"), sudo=os.environ.get("SUDO_UID"))
        return Conda.__call__(conda, cmd)

    monkeypatch.setattr(AnsibleModule, "run_command", lambda _self, cmd, **_kwargs: recording(cmd))
    os.environ.update(CONDA_PREFIX="/elsewhere", SUDO_UID="1000")
    _damage(tree)
    args = {"root_prefix": str(tree), "envs": ["e1"], "repair": True, "offline": True, "override_channels": True}
    result = run_module(conda_verify, dict(args, umask="0027"))
    assert result["clean"] is True
    assert seen == {"umask": 0o027, "conda_prefix": None, "sudo": None}
    install = conda.calls[-1]
    assert install[install.index("--channel") + 1] == "file:///srv/conda-channel"  # the package's own channel
    assert "--offline" in install and "--override-channels" in install


def test_a_failed_repair_names_the_env_and_says_what_conda_said(
    tree: Path, conda: Conda, run_module: RunModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = {"exception_name": "PackagesNotFoundError", "message": "tool==1.0 is gone"}
    monkeypatch.setattr(AnsibleModule, "run_command", lambda _self, cmd, **_kwargs: (1, json.dumps(answer), ""))
    _damage(tree)
    prefix = tree / "envs" / "e1"
    result = run_module(conda_verify, {"root_prefix": str(tree), "repair": True})
    assert result["failed"] is True
    assert result["msg"] == f"e1 ({prefix}): PackagesNotFoundError: tool==1.0 is gone"
    assert result["rc"] == 1
    assert result["cmd"][1:3] == ["install", "--prefix"]
    assert result["conda_error"] == answer
    assert result["conda_calls"] == 1
    assert [env["name"] for env in result["envs"]] == ["base"]  # audited before e1 failed


def test_a_repair_that_did_not_help_fails_with_the_damage_left(
    tree: Path, conda: Conda, run_module: RunModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        AnsibleModule, "run_command", lambda _self, cmd, **_kwargs: (0, json.dumps({"success": True}), "")
    )
    _damage(tree)
    prefix = tree / "envs" / "e1"
    result = run_module(conda_verify, {"root_prefix": str(tree), "envs": ["e1"], "repair": True})
    assert result["failed"] is True
    assert result["msg"].startswith(f"e1 ({prefix}): {prefix}: still damaged after the reinstall: tool-1.0-0")
    assert (result["rc"], result["conda_calls"]) == (0, 1)
