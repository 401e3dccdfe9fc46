# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one lookup of an environment by name (conda_env, condarc scope=env, conda_verify and conda_activation ask it)."""

from __future__ import annotations

from pathlib import Path

from ansible_collections.cpkgs.conda.plugins.module_utils._tree import find_env, has_conda_meta


def _env(path: Path) -> Path:
    (path / "conda-meta").mkdir(parents=True)
    return path


def test_the_first_envs_dir_holding_it_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "home-envs", tmp_path / "tree-envs"
    _env(second / "isis4.3.0")
    assert find_env([str(first), str(second)], "isis4.3.0") == str(second / "isis4.3.0")
    _env(first / "isis4.3.0")
    assert find_env([str(first), str(second)], "isis4.3.0") == str(first / "isis4.3.0")
    assert find_env([str(second), str(first)], "isis4.3.0") == str(second / "isis4.3.0")


def test_a_directory_without_conda_meta_is_not_an_env(tmp_path: Path) -> None:
    (tmp_path / "a" / "isis").mkdir(parents=True)  # e.g. a half-removed env: conda-meta is deleted first
    _env(tmp_path / "b" / "isis")
    assert not has_conda_meta(str(tmp_path / "a" / "isis"))
    assert find_env([str(tmp_path / "a"), str(tmp_path / "b")], "isis") == str(tmp_path / "b" / "isis")
    assert find_env([str(tmp_path / "a")], "isis") is None
    assert find_env([], "isis") is None


def test_the_prefix_is_normalized(tmp_path: Path) -> None:
    _env(tmp_path / "envs" / "e")
    assert find_env([f"{tmp_path}/envs/"], "e") == str(tmp_path / "envs" / "e")
