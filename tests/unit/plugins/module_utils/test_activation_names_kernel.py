# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""conda_activation's names (module, kernel, display) and the Jupyter kernelspec it writes and removes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils import _activation as act_mod
from ansible_collections.cpkgs.conda.plugins.module_utils._activation import (
    ActivationError,
    display_name_for,
    kernel_name_for,
    plan_outputs,
    read_activation,
    validate_module_name,
)
from ansible_collections.cpkgs.conda.tests.unit.plugins.module_utils.activation_env import run_argv


@pytest.mark.parametrize("name", ["isis/4.3.0", "tools", "py3_tools/2.1+cuda-12", "a/b/c"])
def test_module_names_that_are_accepted(name: str) -> None:
    validate_module_name(name, "module_name")  # no error


@pytest.mark.parametrize("name", ["", "isis/", "/isis", ".hidden", "isis/..", "a b", "isis/4.3.0.lua"])
def test_module_names_that_are_refused_name_the_parameter(name: str) -> None:
    with pytest.raises(ActivationError, match=rf"^envs\[1\]\.module_name: {name!r}"):
        validate_module_name(name, "envs[1].module_name")


@pytest.mark.parametrize(
    ("env_name", "kernel"),
    [("Isis 4.3.0", "isis-4.3.0"), (".hidden.", "hidden"), ("...", "conda-env"), ("", "conda-env"), ("a.b", "a.b")],
)
def test_kernel_names(env_name: str, kernel: str) -> None:
    assert kernel_name_for(env_name) == kernel


@pytest.mark.parametrize(
    ("module", "display"), [("isis/4.3.0", "ISIS 4.3.0"), ("tools", "tools"), ("site/isis/4.3.0", "SITE/ISIS 4.3.0")]
)
def test_display_names(module: str, display: str) -> None:
    assert display_name_for(module) == display


def _env(root: Path, name: str = "isis4.3.0", scripts: dict | None = None) -> str:
    prefix = root / "envs" / name
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "bin").mkdir()
    (prefix / "bin" / "python").write_text("#!/bin/sh\n")
    for rel, text in (scripts or {}).items():
        (prefix / "etc" / "conda" / rel).parent.mkdir(parents=True, exist_ok=True)
        (prefix / "etc" / "conda" / rel).write_text(text)
    return str(prefix)


def _plan(act, prefix: str, kernels: Path, kernel_name: str = "isis-4.3.0", run=None):
    outputs, _notes = plan_outputs(
        act,
        prefix,
        ["kernel"],
        module_name="isis/4.3.0",
        modules_dir=None,
        kernel_name=kernel_name,
        kernels_dir=str(kernels),
        display_name="ISIS 4.3.0",
        run_command=run,
    )
    return outputs


def _apply(outputs) -> list:
    changed = []
    for output in outputs:
        if output.needs_change()[0]:
            output.apply()
            changed.append(output.path)
    return changed


def test_the_kernelspec_starts_the_envs_python_with_its_activation(tmp_path: Path) -> None:
    prefix = _env(tmp_path, scripts={"activate.d/tool.sh": 'export PATH="/opt/tool/bin:$PATH"\nexport TOOL=1\n'})
    kernels = tmp_path / "kernels"
    act = read_activation(prefix, str(tmp_path))
    _apply(_plan(act, prefix, kernels, run=run_argv))
    spec = json.loads((kernels / "isis-4.3.0" / "kernel.json").read_text())
    assert spec["argv"] == [prefix + "/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert spec["display_name"] == "ISIS 4.3.0"
    assert spec["language"] == "python"
    assert spec["metadata"] == {"cpkgs": {"managed_by": act_mod.MARKER, "prefix": prefix}, "debugger": True}
    assert spec["env"]["PATH"] == f"/opt/tool/bin:{prefix}/bin:{tmp_path}/condabin:${{PATH}}"
    assert spec["env"]["TOOL"] == "1"
    assert spec["env"]["CONDA_PREFIX"] == prefix


def test_the_kernelspec_without_condabin(tmp_path: Path) -> None:
    prefix = _env(tmp_path)
    kernels = tmp_path / "kernels"
    _apply(_plan(read_activation(prefix, str(tmp_path), condabin=False), prefix, kernels))
    spec = json.loads((kernels / "isis-4.3.0" / "kernel.json").read_text())
    assert spec["env"]["PATH"] == f"{prefix}/bin:${{PATH}}"


def test_a_second_run_keeps_the_kernel_and_changes_nothing(tmp_path: Path) -> None:
    prefix = _env(tmp_path)
    kernels = tmp_path / "kernels"
    assert _apply(_plan(read_activation(prefix, str(tmp_path)), prefix, kernels)) == [
        str(kernels / "isis-4.3.0" / "kernel.json")
    ]
    again = _plan(read_activation(prefix, str(tmp_path)), prefix, kernels)
    assert [output.content is None for output in again] == [False]
    assert _apply(again) == []
    assert (kernels / "isis-4.3.0" / "kernel.json").is_file()


def test_other_kernels_are_never_removed(tmp_path: Path) -> None:
    """Only a kernel.json whose metadata names this env goes, and never through a linked directory."""
    prefix = _env(tmp_path)
    kernels = tmp_path / "kernels"
    _apply(_plan(read_activation(prefix, str(tmp_path)), prefix, kernels, kernel_name="old"))
    (kernels / "alias").symlink_to(kernels / "old")
    for name, text in {
        "broken": "{not json",
        "list": "[]",
        "bare": json.dumps({"argv": [prefix + "/bin/python"]}),
        "plain": json.dumps({"metadata": {"cpkgs": "x"}}),
        "empty": "",
        "other-env": json.dumps({"metadata": {"cpkgs": {"prefix": prefix + "-2"}}}),
    }.items():
        (kernels / name).mkdir()
        (kernels / name / "kernel.json").write_text(text)
    outputs = _plan(read_activation(prefix, str(tmp_path)), prefix, kernels, kernel_name="new")
    assert sorted(o.path for o in outputs if o.content is None) == [str(kernels / "old" / "kernel.json")]
    _apply(outputs)
    assert sorted(p.name for p in kernels.iterdir()) == [
        "alias",
        "bare",
        "broken",
        "empty",
        "list",
        "new",
        "other-env",
        "plain",
    ]


def test_a_modulefile_scan_skips_files_that_are_only_a_magic_line(tmp_path: Path) -> None:
    prefix = _env(tmp_path)
    modules = tmp_path / "modules"
    (modules / "bare").mkdir(parents=True)
    (modules / "bare" / "1.0").write_text("#%Module")
    (modules / "bare" / "2.0").write_text("#%Module\n")
    outputs, _notes = plan_outputs(
        read_activation(prefix, str(tmp_path)),
        prefix,
        ["tcl"],
        module_name="isis/4.3.0",
        modules_dir=str(modules),
        kernel_name="k",
        kernels_dir=str(tmp_path / "kernels"),
        display_name="d",
    )
    assert [(o.path, o.content is None) for o in outputs] == [(str(modules / "isis" / "4.3.0"), False)]
    assert act_mod.generated_modulefiles(str(modules)) == {}
