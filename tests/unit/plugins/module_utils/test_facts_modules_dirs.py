# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""conda_facts reports each OS tree's default modulefiles directory, from the one rule conda_activation uses."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.cpkgs.conda.plugins.module_utils._facts import FactsCollector
from ansible_collections.cpkgs.conda.plugins.module_utils._tree import CondaPaths, default_modules_dir


def test_modules_dirs_follow_the_trees(tmp_path: Path) -> None:
    share = tmp_path / "share"
    paths = CondaPaths("Linux", "x86_64", str(tmp_path / "home"), share_root=str(share))
    facts = FactsCollector(paths, [], gather_envs=False).collect()
    assert facts["modules_dirs"] == {
        "Linux": str(share / "anaconda3_linux" / "modulefiles"),
        "Darwin": str(share / "anaconda3_macOS" / "modulefiles"),
    }


def test_a_moved_local_tree_has_its_own_modules_dir(tmp_path: Path) -> None:
    """A cluster node's local copy (root_prefix moved): this OS's modulefiles move with it."""
    local = tmp_path / "usr" / "local" / "cpkgs" / "anaconda3_linux"
    paths = CondaPaths(
        "Linux", "x86_64", str(tmp_path / "home"), share_root=str(tmp_path / "share"), root_prefix=str(local)
    )
    facts = FactsCollector(paths, [], gather_envs=False).collect()
    assert facts["modules_dirs"]["Linux"] == str(local / "modulefiles") == default_modules_dir(str(local))
    assert facts["modules_dirs"]["Darwin"] == str(tmp_path / "share" / "anaconda3_macOS" / "modulefiles")
