# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The paths of a module's tree options: whose home and whose environment they use."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils._tree import (
    CondaPaths,
    paths_from_params,
    read_condarc_files,
    tree_argument_spec,
)


def _params(tmp_path: Path) -> dict:
    params = {name: spec.get("default") for name, spec in tree_argument_spec().items()}
    params["root_prefix"] = str(tmp_path / "tree")
    return params


def test_the_running_account_s_home_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONDA_ENVS_DIRS", str(tmp_path / "mine"))
    monkeypatch.setenv("CONDARC", "~/site.condarc")
    paths = paths_from_params(_params(tmp_path))
    assert paths.home == str(tmp_path / "home")
    assert paths.envs_dirs([])[0] == str(tmp_path / "mine")
    assert paths.condarc_paths()["env_var"] == str(tmp_path / "home" / "site.condarc")


def test_without_home_the_password_database_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOME")
    assert paths_from_params(_params(tmp_path)).home == pwd.getpwuid(os.geteuid()).pw_dir


def test_another_user_s_home_and_none_of_the_caller_s_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = pwd.getpwuid(os.geteuid())
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONDA_ENVS_DIRS", str(tmp_path / "mine"))
    monkeypatch.setenv("CONDARC", str(tmp_path / "site.condarc"))
    paths = paths_from_params(_params(tmp_path), user=account.pw_name)
    assert paths.home == account.pw_dir
    assert str(tmp_path / "mine") not in paths.envs_dirs([])
    assert paths.condarc_paths()["env_var"] is None


def test_an_unknown_user_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^user: no such account 'no-such-account-cpkgs'$"):
        paths_from_params(_params(tmp_path), user="no-such-account-cpkgs")


@pytest.mark.parametrize(("path", "expanded"), [("~", "/home/u"), ("~/x", "/home/u/x"), ("~u/x", "~u/x")])
def test_a_tilde_is_the_user_s_home(path: str, expanded: str) -> None:
    assert CondaPaths("Linux", "x86_64", "/home/u").expand(path) == expanded


def test_a_tree_name_of_dot_is_refused(tmp_path: Path) -> None:
    params = dict(_params(tmp_path), tree_names={"Linux": "."})
    with pytest.raises(ValueError, match=r"^tree_names: 'Linux' must map to a directory name, got '\.'$"):
        paths_from_params(params)


def test_an_unknown_variable_stays_as_written() -> None:
    paths = CondaPaths("Linux", "x86_64", "/home/u", environ={"SCRATCH": "/scratch"})
    assert paths.expand("$SCRATCH/envs:${NOPE}/x:$NOPE") == "/scratch/envs:${NOPE}/x:$NOPE"


def test_conda_envs_path_is_read_when_conda_envs_dirs_is_not_set() -> None:
    paths = CondaPaths("Linux", "x86_64", "/home/u", environ={"CONDA_ENVS_PATH": "/a:/b"}, root_prefix="/t")
    assert paths.envs_dirs([]) == ["/a", "/b", "/home/u/.conda/envs", "/t/envs"]  # no tree at /t: none to write


def test_without_a_tree_no_condarc_is_read_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".condarc").write_text("envs_dirs: [/from/cwd]\n")
    monkeypatch.chdir(tmp_path)
    paths = CondaPaths("SunOS", "i86pc", str(tmp_path / "home"))  # no tree for this OS
    files, problems = paths.condarc_files()
    assert (files, problems) == ([], [])


def test_a_bad_condarc_does_not_stop_the_reading_of_the_next(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.yml").write_text("envs_dirs: [a, [b]]\n")  # beyond what the reader reads
    (tmp_path / "d" / "b.yml").mkdir()  # not readable as a file
    (tmp_path / "d" / "c.yml").write_text("envs_dirs: [/ok]\n")
    (tmp_path / "bad.condarc").write_text("envs_dirs: [a, [b]]\n")
    (tmp_path / "good.condarc").write_text("envs_dirs: [/ok]\n")
    names = ["d", "bad.condarc", "good.condarc"]
    files, problems = read_condarc_files([str(tmp_path / n) for n in names])
    assert [path for path, _data, _final in files] == [str(tmp_path / "d" / "c.yml"), str(tmp_path / "good.condarc")]
    assert [problem.split(":")[0] for problem in problems] == [
        str(tmp_path / "d" / "a.yml"),
        str(tmp_path / "d" / "b.yml"),
        str(tmp_path / "bad.condarc"),
    ]
