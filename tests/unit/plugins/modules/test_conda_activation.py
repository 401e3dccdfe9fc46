# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The conda_activation module's main(): what it writes for one env or a list, check mode and diff, removal,
and the errors that name the entry and the option."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from ansible_collections.cpkgs.conda.plugins.modules import conda_activation

RunModule = Callable[[ModuleType, dict], dict]  # the run_module fixture (tests/unit/plugins/conftest.py)


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tree with two envs (isis4.3.0 with a python and a variable, tools without); HOME elsewhere."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("CONDA_ENVS_PATH", "CONDA_ENVS_DIRS", "CONDARC", "CONDA_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "anaconda3_linux"
    (root / "conda-meta").mkdir(parents=True)
    (root / "condabin").mkdir()
    for name, python in (("isis4.3.0", True), ("tools", False)):
        prefix = root / "envs" / name
        (prefix / "conda-meta").mkdir(parents=True)
        (prefix / "conda-meta" / "history").write_text("")
        (prefix / "bin").mkdir()
        if python:
            (prefix / "bin" / "python").write_text("#!/bin/sh\n")
    (root / "envs" / "isis4.3.0" / "conda-meta" / "state").write_text(
        json.dumps({"env_vars": {"ISISDATA": "/data/isis", "PATH": "/reserved"}})
    )
    return root


def _args(tree: Path, **args: object) -> dict:
    return {"root_prefix": str(tree), "kernels_dir": str(tree.parent / "kernels"), **args}


def test_one_env_gets_every_format_and_a_second_run_changes_nothing(tree: Path, run_module: RunModule) -> None:
    prefix = tree / "envs" / "isis4.3.0"
    kernel = tree.parent / "kernels" / "isis4.3.0" / "kernel.json"
    result = run_module(conda_activation, _args(tree, name="isis4.3.0"))
    assert result["changed"] is True
    (env,) = result["envs"]
    assert (env["name"], env["prefix"], env["state"], env["changed"]) == ("isis/4.3.0", str(prefix), "present", True)
    assert env["outputs"] == {
        "lmod": [str(tree / "modulefiles" / "isis" / "4.3.0.lua")],
        "tcl": [str(tree / "modulefiles" / "isis" / "4.3.0")],
        "sh": [str(prefix / "etc" / "cpkgs" / "activate.sh")],
        "csh": [str(prefix / "etc" / "cpkgs" / "activate.csh"), str(prefix / "etc" / "cpkgs" / "deactivate.csh")],
        "kernel": [str(kernel)],
    }
    written = [path for paths in env["outputs"].values() for path in paths]
    assert sorted(result["files"]) == sorted(written) == sorted(env["files"])
    assert all(Path(path).is_file() for path in written)
    assert env["variables"]["ISISDATA"] == "/data/isis"
    assert env["variables"]["CONDA_PREFIX"] == str(prefix)
    assert result["warnings"] == [f"{prefix}: variable PATH is reserved; conda ignores it, so does this module"]
    assert json.loads(kernel.read_text())["display_name"] == "ISIS 4.3.0"
    again = run_module(conda_activation, _args(tree, name="isis4.3.0"))
    assert (again["changed"], again["files"], again["envs"][0]["files"]) == (False, [], [])
    assert "diff" not in again


def test_check_mode_with_diff_writes_nothing_and_shows_each_file(tree: Path, run_module: RunModule) -> None:
    prefix = tree / "envs" / "tools"
    args = _args(tree, name="tools", formats=["sh"], _ansible_check_mode=True, _ansible_diff=True)
    result = run_module(conda_activation, args)
    entry = str(prefix / "etc" / "cpkgs" / "activate.sh")
    assert result["changed"] is True
    assert result["files"] == [entry]
    ((diff),) = result["diff"]
    assert (diff["before_header"], diff["after_header"], diff["before"]) == (entry, entry, "")
    assert diff["after"].startswith("# shellcheck shell=sh\n")
    assert not Path(entry).exists()
    assert "warnings" not in result


def test_names_and_directories_given(tree: Path, tmp_path: Path, run_module: RunModule) -> None:
    modules = tmp_path / "site-modules"
    args = _args(
        tree,
        prefix=str(tree / "envs" / "isis4.3.0"),
        module_name="astro/isis",
        display_name="Planetary",
        kernel_name="planetary",
        modules_dir=str(modules),
        formats=["lmod", "kernel"],
    )
    result = run_module(conda_activation, args)
    assert result["envs"][0]["name"] == "astro/isis"
    assert (modules / "astro" / "isis.lua").is_file()
    spec = json.loads((tree.parent / "kernels" / "planetary" / "kernel.json").read_text())
    assert spec["display_name"] == "Planetary"


def test_prompt_and_variable_settings_reach_the_files(tree: Path, run_module: RunModule) -> None:
    state = tree / "envs" / "tools" / "conda-meta" / "state"
    state.write_text(json.dumps({"env_vars": {"lower": "x"}}))
    args = _args(tree, name="tools", formats=["sh"], env_prompt="[{name}] ", envvars_force_uppercase=False)
    result = run_module(conda_activation, args)
    assert result["envs"][0]["variables"]["CONDA_PROMPT_MODIFIER"] == "[tools] "
    assert result["envs"][0]["variables"]["lower"] == "x"
    text = (tree / "envs" / "tools" / "etc" / "cpkgs" / "activate.sh").read_text()
    assert "condabin" in text
    quiet = run_module(conda_activation, _args(tree, name="tools", formats=["sh"], changeps1=False, condabin=False))
    assert quiet["envs"][0]["variables"]["CONDA_PROMPT_MODIFIER"] == ""
    text = (tree / "envs" / "tools" / "etc" / "cpkgs" / "activate.sh").read_text()
    assert "condabin" not in text
    assert "ISISDATA" not in text


def test_a_list_of_envs_and_removal(tree: Path, run_module: RunModule) -> None:
    envs = [{"name": "isis4.3.0"}, {"name": "tools", "module_name": "tools/1"}]
    first = run_module(conda_activation, _args(tree, envs=envs, formats=["tcl"]))
    assert [env["name"] for env in first["envs"]] == ["isis/4.3.0", "tools/1"]
    assert (tree / "modulefiles" / "tools" / "1").is_file()
    removed = run_module(
        conda_activation,
        _args(tree, envs=[{"name": "tools", "module_name": "tools/1"}], state="absent", formats=["tcl"]),
    )
    assert removed["changed"] is True
    assert removed["envs"][0]["state"] == "absent"
    assert removed["envs"][0]["variables"] == {}
    assert removed["files"] == [str(tree / "modulefiles" / "tools" / "1")]
    assert not (tree / "modulefiles" / "tools").exists()
    assert (tree / "modulefiles" / "isis" / "4.3.0").is_file()
    per_item = run_module(
        conda_activation, _args(tree, envs=[{"name": "isis4.3.0", "state": "absent"}], formats=["tcl"])
    )
    assert per_item["envs"][0]["state"] == "absent"
    assert not (tree / "modulefiles" / "isis").exists()


def test_absent_env_that_does_not_exist_is_a_no_op(tree: Path, run_module: RunModule) -> None:
    result = run_module(conda_activation, _args(tree, name="gone", state="absent", formats=["tcl", "sh"]))
    assert result["changed"] is False
    assert result["envs"][0]["prefix"] == str(tree / "envs" / "gone")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"envs": [{"name": "tools", "kind": "x"}]},
            "envs[0]: unknown keys ['kind'] (known: name, prefix, module_name, display_name, kernel_name, state)",
        ),
        ({"envs": [{"name": "tools", "state": "gone"}]}, "envs[0].state: must be present or absent, got 'gone'"),
        ({"envs": [{"name": "tools", "prefix": "/x"}]}, "envs[0].name: give exactly one of name and prefix"),
        ({"envs": [{"module_name": "x"}]}, "envs[0].name: give exactly one of name and prefix"),
        ({"envs": [{"prefix": "rel/x"}]}, "envs[0].prefix: must be an absolute path, got 'rel/x'"),
        ({"envs": [{"name": "a/b"}]}, "envs[0].name: 'a/b' is not an environment name"),
        ({"name": ".."}, "name: '..' is not an environment name"),
        ({"name": "tools", "module_name": "../x"}, "module_name: '../x' is not a module name"),
        ({"envs": [{"name": "tools", "module_name": "x.lua"}]}, "envs[0].module_name: 'x.lua' must not end in .lua"),
    ],
)
def test_bad_entries_fail_naming_them(tree: Path, run_module: RunModule, args: dict, message: str) -> None:
    result = run_module(conda_activation, {**_args(tree), **args})
    assert result.get("failed") is True
    assert result["msg"].startswith(message)


def test_an_unknown_env_names_where_it_was_looked_for(tree: Path, run_module: RunModule) -> None:
    result = run_module(conda_activation, _args(tree, name="nosuch"))
    assert result["failed"] is True
    assert result["msg"].startswith(f"name: no environment 'nosuch' in {tree / 'envs'}")


def test_a_failing_entry_reports_the_ones_done_before(tree: Path, run_module: RunModule) -> None:
    result = run_module(conda_activation, _args(tree, envs=[{"name": "tools"}, {"name": "nosuch"}], formats=["sh"]))
    assert result["failed"] is True
    assert result["msg"].startswith("envs[1].name: no environment 'nosuch'")
    assert [env["name"] for env in result["envs"]] == ["tools"]


def test_a_bad_tree_option_fails_naming_it(tree: Path, run_module: RunModule) -> None:
    result = run_module(conda_activation, _args(tree, name="tools", root_prefix="relative"))
    assert result["failed"] is True
    assert result["msg"] == "root_prefix: must be an absolute path, got 'relative'"


def test_a_broken_state_file_fails_naming_it(tree: Path, run_module: RunModule) -> None:
    (tree / "envs" / "tools" / "conda-meta" / "state").write_text("{not json")
    result = run_module(conda_activation, _args(tree, envs=[{"name": "tools"}], formats=["sh"]))
    assert result["failed"] is True
    assert result["msg"].startswith(f"envs[0]: {tree / 'envs' / 'tools' / 'conda-meta' / 'state'}: not JSON")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"prefix": "rel/x"}, "prefix: must be an absolute path, got 'rel/x'"),
        ({"name": "tools", "prefix": "/x"}, "parameters are mutually exclusive: name|prefix|envs"),
        ({"envs": [{"name": "tools"}], "name": "tools"}, "parameters are mutually exclusive: name|prefix|envs"),
        ({"envs": [{"name": "tools"}], "module_name": "t/1"}, "parameters are mutually exclusive: envs|module_name"),
        ({"envs": [{"name": "tools"}], "display_name": "T"}, "parameters are mutually exclusive: envs|display_name"),
        ({"envs": [{"name": "tools"}], "kernel_name": "t"}, "parameters are mutually exclusive: envs|kernel_name"),
        ({"formats": ["sh"]}, "one of the following is required: name, prefix, envs"),
        ({"name": "tools", "state": "gone"}, "value of state must be one of: present, absent, got: gone"),
        ({"name": "tools", "formats": ["zsh"]}, "value of formats must be one or more of:"),
    ],
)
def test_options_are_checked_before_anything_is_read(
    tree: Path, run_module: RunModule, args: dict, message: str
) -> None:
    result = run_module(conda_activation, {**_args(tree), **args})
    assert result.get("failed") is True
    assert result["msg"].startswith(message)
    assert not (tree / "envs" / "tools" / "etc").exists()
