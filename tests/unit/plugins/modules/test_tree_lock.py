# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tree_lock module's main(): take, renew, refuse, release, check mode, bad options."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils import _tree as tree_lock_paths
from ansible_collections.cpkgs.conda.plugins.module_utils._lock import lock_dir, read_holder
from ansible_collections.cpkgs.conda.plugins.modules import tree_lock

RunModule = Callable[[ModuleType, dict], dict]  # the run_module fixture (tests/unit/plugins/conftest.py)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "anaconda3_linux"
    (root / "conda-meta").mkdir(parents=True)
    return root


def _lock_path(tree: Path) -> str:
    return str(Path(lock_dir(str(tree))) / "lock")


def test_purpose_defaults_to_the_module_s_name(tree: Path, run_module: RunModule) -> None:
    run_module(tree_lock, {"root_prefix": str(tree)})
    assert read_holder(str(tree))["what"] == "tree_lock"


def test_acquire_renew_release(tree: Path, run_module: RunModule) -> None:
    taken = run_module(tree_lock, {"root_prefix": str(tree), "purpose": "rollout 7"})
    assert taken["changed"] is True
    assert taken["path"] == _lock_path(tree)
    assert taken["broken"] == []
    token = taken["holder"]
    holder = read_holder(str(tree))
    assert holder is not None
    assert holder["token"] == token
    assert holder["what"] == "rollout 7"

    lease = Path(lock_dir(str(tree))) / f"holder.{token}"
    os.utime(lease, (1000, 1000))
    checked = run_module(tree_lock, {"root_prefix": str(tree), "holder": token, "_ansible_check_mode": True})
    assert (checked["changed"], checked["holder"]) == (False, token)
    assert lease.stat().st_mtime == 1000  # check mode: the lease is not renewed
    renewed = run_module(tree_lock, {"root_prefix": str(tree), "holder": token})
    assert (renewed["changed"], renewed["holder"], renewed["path"]) == (False, token, _lock_path(tree))
    assert (renewed["waited"], renewed["broken"]) == (0.0, [])
    assert lease.stat().st_mtime > 1000  # the lease starts again

    released = run_module(tree_lock, {"root_prefix": str(tree), "state": "released", "holder": token})
    assert (released["changed"], released["holder"], released["path"]) == (True, token, _lock_path(tree))
    assert read_holder(str(tree)) is None

    again = run_module(tree_lock, {"root_prefix": str(tree), "state": "released", "holder": token})
    assert again["changed"] is False
    assert "held_by" not in again


def test_a_held_lock_is_refused_naming_its_holder(tree: Path, run_module: RunModule) -> None:
    first = run_module(tree_lock, {"root_prefix": str(tree), "purpose": "first writer"})
    refused = run_module(tree_lock, {"root_prefix": str(tree), "timeout": 0})
    assert refused["failed"] is True
    assert "first writer" in refused["msg"]
    assert refused["held_by"]["token"] == first["holder"]
    assert refused["path"] == _lock_path(tree)
    assert read_holder(str(tree))["token"] == first["holder"]  # still the first writer's


def test_releasing_another_s_token_leaves_the_lock_and_says_who_holds_it(tree: Path, run_module: RunModule) -> None:
    first = run_module(tree_lock, {"root_prefix": str(tree)})
    other = run_module(tree_lock, {"root_prefix": str(tree), "state": "released", "holder": "not-the-token"})
    assert (other["changed"], other["path"]) == (False, _lock_path(tree))
    assert other["held_by"]["token"] == first["holder"]
    assert other["warnings"] == [
        f"the lock of tree {tree} is not held by 'not-the-token' (its lease ended and another writer took it): "
        "left as it is"
    ]
    assert read_holder(str(tree))["token"] == first["holder"]


def test_check_mode_takes_nothing_and_releases_nothing(tree: Path, run_module: RunModule) -> None:
    checked = run_module(tree_lock, {"root_prefix": str(tree), "_ansible_check_mode": True})
    assert (checked["changed"], checked["holder"]) == (True, "")
    assert read_holder(str(tree)) is None
    released = run_module(tree_lock, {"root_prefix": str(tree), "state": "released", "_ansible_check_mode": True})
    assert (released["changed"], released["path"]) == (False, _lock_path(tree))  # check mode's acquire: no token

    token = run_module(tree_lock, {"root_prefix": str(tree)})["holder"]
    args = {"root_prefix": str(tree), "state": "released", "holder": token, "_ansible_check_mode": True}
    result = run_module(tree_lock, args)
    assert (result["changed"], result["path"]) == (True, _lock_path(tree))
    assert read_holder(str(tree))["token"] == token  # still held
    args["holder"] = "someone-else"
    assert run_module(tree_lock, args)["changed"] is False


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"timeout": -1}, "timeout: must be 0 or more seconds, got -1"),
        ({"lease": 0}, "lease: must be 1 or more seconds, got 0"),
        ({"stale_after": 0}, "stale_after: must be 1 or more seconds, got 0"),
        ({"state": "released"}, "holder: state=released needs the token that state=acquired returned"),
        ({"root_prefix": "relative/tree"}, "root_prefix: must be an absolute path, got 'relative/tree'"),
        ({"root_prefix": None, "tree_names": {"Linux": "a/b"}}, "tree_names: 'Linux' must map to a directory name"),
    ],
)
def test_bad_options_fail_naming_the_option_and_take_nothing(
    tree: Path, run_module: RunModule, args: dict, msg: str
) -> None:
    result = run_module(tree_lock, {"root_prefix": str(tree), **args})
    assert result["failed"] is True
    assert result["msg"].startswith(msg)
    assert read_holder(str(tree)) is None
    assert not Path(lock_dir(str(tree))).exists()


def test_an_os_without_a_tree_needs_root_prefix(run_module: RunModule, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tree_lock_paths.platform, "system", lambda: "FreeBSD")
    result = run_module(tree_lock, {})
    assert result["failed"] is True
    assert result["msg"] == "root_prefix: no tree for this OS in tree_names; give root_prefix"
