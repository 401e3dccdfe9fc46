# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""conda_env's argument spec checks each ``envs`` item as it checks the top-level options (suboptions): types,
choices and exclusions fail before anything runs, naming the item's option and value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from ansible_collections.cpkgs.conda.plugins.modules import conda_env

RunModule = Callable[[ModuleType, dict], dict]  # the run_module fixture (tests/unit/plugins/conftest.py)


@pytest.fixture
def share(tmp_path: Path) -> Path:
    """A share root with no tree: every case must fail on its input before the tree matters."""
    (tmp_path / "share").mkdir()
    return tmp_path / "share"


@pytest.mark.parametrize(
    ("envs", "wanted"),
    [
        (
            [{"name": "e", "specs": ["x"], "state": "newest"}],
            "value of state must be one of: present, latest, absent, got: newest found in envs",
        ),
        (
            [{"name": "e", "specs": ["x"], "file": "/e.yml"}],
            "parameters are mutually exclusive: specs|file|lockfile found in envs",
        ),
        ([{"name": "e", "prefix": "/p", "specs": ["x"]}], "mutually exclusive: name|prefix found in envs"),
        ([{"specs": ["x"]}], "one of the following is required: name, prefix found in envs"),
        ([{"name": "e", "specs": ["x"], "colour": "red"}], "module: envs.colour. Supported parameters include: chan"),
        ([{"name": "e", "specs": ["x"], "frozen": "maybe"}], "The value 'maybe' is not a valid boolean"),
    ],
)
def test_items_are_checked_by_the_argument_spec(run_module: RunModule, share: Path, envs: list, wanted: str) -> None:
    result = run_module(conda_env, {"share_root": str(share), "envs": envs})
    assert result["failed"] is True
    assert wanted in result["msg"]
    assert sorted(p.name for p in share.iterdir()) == []  # nothing written


def test_item_defaults_come_from_the_top_level_and_the_item_wins(run_module: RunModule, share: Path) -> None:
    """plan: true answers from files: the request of each item shows which channels it was given."""
    tree = share / "anaconda3_linux"
    (tree / "conda-meta").mkdir(parents=True)
    (tree / "envs").mkdir()
    result = run_module(
        conda_env,
        {
            "share_root": str(share),
            "tree_names": {"Linux": "anaconda3_linux"},
            "channels": ["top"],
            "override_channels": True,
            "plan": True,
            "envs": [{"name": "a", "specs": ["x"]}, {"name": "b", "specs": ["x"], "channels": ["own"]}],
        },
    )
    assert result["changed"] is False
    assert result["todo"] == ["a", "b"]
    assert [env["reason"] for env in result["envs"]] == ["build", "build"]


def test_a_name_given_twice_is_refused(run_module: RunModule, share: Path) -> None:
    result = run_module(
        conda_env, {"share_root": str(share), "envs": [{"name": "a", "specs": ["x"]}, {"name": "a", "state": "absent"}]}
    )
    assert result["failed"] is True
    assert result["msg"] == "envs[1].name: 'a' is already given by envs[0]"
