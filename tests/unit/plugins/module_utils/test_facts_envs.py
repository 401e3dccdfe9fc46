# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""conda_facts: what it says of a tree's prefix and of the environments it lists."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils._facts import FactsCollector, root_state
from ansible_collections.cpkgs.conda.plugins.module_utils._tree import CondaPaths


def _env(prefix: Path) -> None:
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").write_text("")


def test_a_file_where_the_tree_should_be_is_foreign(tmp_path: Path) -> None:
    (tmp_path / "anaconda3_linux").write_text("not a tree\n")
    assert root_state(str(tmp_path / "anaconda3_linux")) == "foreign"


def test_listed_envs_say_whether_the_caller_may_change_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "share" / "anaconda3_linux"
    _env(root)
    _env(root / "envs" / "mine")
    monkeypatch.chdir(tmp_path)  # no conda-meta here: only the env's own counts
    paths = CondaPaths("Linux", "x86_64", str(tmp_path / "home"), share_root=str(tmp_path / "share"))
    envs = FactsCollector(paths, []).collect()["envs"]
    assert [(e["name"], e["writable"]) for e in envs] == [("base", True), ("mine", True)]
    assert os.access(root / "envs" / "mine" / "conda-meta", os.W_OK)  # the caller may write it (the test's premise)


def test_environments_txt_with_comments_crlf_and_non_ascii_paths(tmp_path: Path) -> None:
    home = tmp_path / "home"
    prefix = tmp_path / "prōjects" / "é1"
    _env(prefix)
    (home / ".conda").mkdir(parents=True)
    (home / ".conda" / "environments.txt").write_bytes(f"# registered\n{prefix}\r\n\n".encode())
    paths = CondaPaths("Linux", "x86_64", str(home), share_root=str(tmp_path / "share"))
    assert [e["prefix"] for e in FactsCollector(paths, []).collect()["envs"]] == [str(prefix)]


def test_collecting_again_reports_each_unreadable_file_once(tmp_path: Path) -> None:
    root = tmp_path / "share" / "anaconda3_linux"
    _env(root)
    (root / ".condarc").write_text("envs_dirs: [a, [b]]\n")
    paths = CondaPaths("Linux", "x86_64", str(tmp_path / "home"), share_root=str(tmp_path / "share"))
    collector = FactsCollector(paths, [])
    collector.collect()
    collector.collect()
    assert len(collector.warnings) == 1 and collector.warnings[0].startswith(f"cannot read {root / '.condarc'}")


def test_a_registered_tree_is_listed_once_as_base(tmp_path: Path) -> None:
    root = tmp_path / "share" / "anaconda3_linux"
    _env(root)
    home = tmp_path / "home"
    (home / ".conda").mkdir(parents=True)
    (home / ".conda" / "environments.txt").write_text(f"{root}\n")
    paths = CondaPaths("Linux", "x86_64", str(home), share_root=str(tmp_path / "share"))
    assert [(e["name"], e["prefix"]) for e in FactsCollector(paths, []).collect()["envs"]] == [("base", str(root))]


def test_without_a_tree_no_env_is_base(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _env(home / ".conda" / "envs" / "mine")
    paths = CondaPaths("Linux", "x86_64", str(home), share_root=str(tmp_path / "share"))  # nothing installed
    envs = FactsCollector(paths, []).collect()["envs"]
    assert [(e["name"], e["prefix"]) for e in envs] == [("mine", str(home / ".conda" / "envs" / "mine"))]
