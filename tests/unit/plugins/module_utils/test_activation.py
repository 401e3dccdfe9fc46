# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of plugins/module_utils/_activation.py (what `conda activate` does, read from an environment)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils import _activation as act_mod
from ansible_collections.cpkgs.conda.plugins.module_utils._activation import (
    ActivationError,
    default_env,
    display_name_for,
    environment_vars,
    kernel_name_for,
    plan_outputs,
    read_activation,
    split_module_name,
    validate_module_name,
)


def _env(root, name="isis4.3.0", *, state=None, pkg_vars=None, scripts=True, python=False):
    prefix = Path(root) / "envs" / name
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "bin").mkdir()
    if state is not None:
        (prefix / "conda-meta" / "state").write_text(json.dumps(state))
    for index, data in enumerate(pkg_vars or []):
        folder = prefix / "etc" / "conda" / "env_vars.d"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index:02d}.json").write_text(json.dumps(data))
    if scripts:
        for kind in ("activate", "deactivate"):
            folder = prefix / "etc" / "conda" / f"{kind}.d"
            folder.mkdir(parents=True)
            for script in ("a.sh", "b.sh", "a.csh", "notes.txt"):
                (folder / script).write_text(": \n")
    if python:
        (prefix / "bin" / "python").write_text("#!/bin/sh\n")
    return str(prefix)


def test_default_env_like_conda(tmp_path):
    root = str(tmp_path)
    assert default_env(root, root) == "base"
    assert default_env(root + "/envs/isis4.3.0", root) == "isis4.3.0"
    assert default_env("/opt/elsewhere/x", root) == "/opt/elsewhere/x"


@pytest.mark.parametrize(
    ("env", "module"),
    [("isis4.3.0", "isis/4.3.0"), ("isis-3.6.2", "isis/3.6.2"), ("py3_tools2.1", "py3_tools/2.1"), ("tools", "tools")],
)
def test_module_name_split(env, module):
    assert split_module_name(env) == module


def test_names():
    assert display_name_for("isis/4.3.0") == "ISIS 4.3.0"
    assert kernel_name_for("Isis 4.3.0") == "isis-4.3.0"
    for bad in ("../x", "/abs", "a//b", "isis/4.3.0.lua", ""):
        with pytest.raises(ActivationError, match="module_name"):
            validate_module_name(bad, "module_name")


def test_env_vars_merge_like_conda(tmp_path):
    prefix = _env(
        tmp_path,
        state={"env_vars": {"b": "state", "c": "***unset***", "PATH": "/x"}},
        pkg_vars=[{"A": "pkg0", "b": "pkg0"}, {"A": "pkg1"}],
    )
    found, warnings = environment_vars(prefix)
    assert found == {"A": "pkg1", "B": "state"}  # later package files win, state wins, upper-cased, unset dropped
    assert any("PATH is reserved" in w for w in warnings)
    assert environment_vars(prefix, force_uppercase=False)[0] == {"A": "pkg1", "b": "state"}


def test_env_vars_refuse_what_conda_cannot_export(tmp_path):
    prefix = _env(tmp_path, state={"env_vars": {"MY-VAR": "1"}})
    with pytest.raises(ActivationError, match="MY-VAR"):
        environment_vars(prefix)
    bad = _env(tmp_path, name="other")
    (Path(bad) / "conda-meta" / "state").write_text("{not json")
    with pytest.raises(ActivationError, match="not JSON"):
        environment_vars(bad)


def test_activation_of_an_env(tmp_path):
    root = str(tmp_path)
    act = read_activation(_env(tmp_path, state={"env_vars": {"ISIS_SITE": "x"}}), root, env_prompt="[{name}] ")
    assert act.variables == {
        "CONDA_PREFIX": root + "/envs/isis4.3.0",
        "CONDA_SHLVL": "1",
        "CONDA_DEFAULT_ENV": "isis4.3.0",
        "CONDA_PROMPT_MODIFIER": "[isis4.3.0] ",
        "ISIS_SITE": "x",
    }
    assert act.path_dirs == [root + "/envs/isis4.3.0/bin"]
    assert act.condabin == root + "/condabin"
    folder = root + "/envs/isis4.3.0/etc/conda/"
    assert act.activate_scripts[".sh"] == [folder + "activate.d/a.sh", folder + "activate.d/b.sh"]
    assert act.deactivate_scripts[".sh"] == [folder + "deactivate.d/b.sh", folder + "deactivate.d/a.sh"]
    assert act.module_scripts() == [("bash", folder + "activate.d/a.sh"), ("bash", folder + "activate.d/b.sh")]
    assert act.python is None
    assert read_activation(act.prefix, root, changeps1=False).prompt_modifier == ""
    with pytest.raises(ActivationError, match="not a conda environment"):
        read_activation(root + "/envs/none", root)


def test_renderings(tmp_path):
    act = read_activation(_env(tmp_path, state={"env_vars": {"Q": 'say "hi" $x\'s [1]'}}), str(tmp_path))
    lua = act_mod.render_lmod(act, "isis/4.3.0")
    assert 'family("conda_env")' in lua
    assert lua.index("condabin") < lua.index('prepend_path("PATH", "' + act.prefix + '/bin")')
    assert 'pushenv("Q", "say \\"hi\\" $x\'s [1]")' in lua
    assert lua.count("source_sh(") == 2
    tcl = act_mod.render_tcl(act, "isis/4.3.0")
    assert tcl.startswith("#%Module")
    assert 'cpkgs_setenv "Q" "say \\"hi\\" \\$x\'s \\[1\\]"' in tcl
    sh = act_mod.render_sh(act)
    assert "export Q='say \"hi\" $x'\\''s [1]'" in sh
    assert "deactivate() {" in sh
    activate_csh, deactivate_csh = act_mod.render_csh(act)
    assert "alias deactivate" in activate_csh
    assert "unalias deactivate" in deactivate_csh
    with pytest.raises(ActivationError, match="newline"):
        act_mod._csh("a\nb")


def test_plan_apply_and_noop(tmp_path):
    prefix = _env(tmp_path, python=True)
    act = read_activation(prefix, str(tmp_path))
    kwargs = {
        "module_name": "isis/4.3.0",
        "modules_dir": str(tmp_path / "mods"),
        "kernel_name": "isis4.3.0",
        "kernels_dir": str(tmp_path / "kernels"),
        "display_name": "ISIS 4.3.0",
        "run_command": lambda argv: (0, "ISISROOT=" + prefix + "\0PATH=" + argv[3][5:] + "\0", ""),
    }
    outputs, notes = plan_outputs(act, prefix, list(act_mod.FORMATS), **kwargs)
    assert notes == []
    assert [o.fmt for o in outputs] == ["lmod", "tcl", "sh", "csh", "csh", "kernel"]
    assert all(o.needs_change()[0] for o in outputs)
    old_umask = os.umask(0o077)
    try:
        for output in outputs:
            output.apply()
    finally:
        os.umask(old_umask)
    for output in outputs:
        assert stat.S_IMODE(Path(output.path).stat().st_mode) == 0o644
        assert output.needs_change() == (False, output.content)
    assert stat.S_IMODE((tmp_path / "mods" / "isis").stat().st_mode) == 0o755
    spec = json.loads((tmp_path / "kernels" / "isis4.3.0" / "kernel.json").read_text())
    assert spec["argv"] == [prefix + "/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert spec["env"]["ISISROOT"] == prefix
    assert spec["env"]["PATH"] == f"{prefix}/bin:{tmp_path}/condabin:${{PATH}}"
    Path(outputs[0].path).chmod(0o600)
    assert outputs[0].needs_change()[0]  # not readable by everyone: a change
    removals, _notes = plan_outputs(None, prefix, list(act_mod.FORMATS), **kwargs)
    for output in removals:
        assert output.needs_change()[0]
        output.apply()
    assert not (tmp_path / "kernels" / "isis4.3.0").exists()
    assert not Path(prefix, "etc", "cpkgs").exists()


def test_unknown_format_and_missing_modules_dir(tmp_path):
    act = read_activation(_env(tmp_path), str(tmp_path))
    kwargs = {"module_name": "isis/4.3.0", "kernel_name": "k", "kernels_dir": str(tmp_path), "display_name": "d"}
    with pytest.raises(ActivationError, match="modules_dir"):
        plan_outputs(act, act.prefix, ["lmod"], modules_dir=None, **kwargs)
    with pytest.raises(ActivationError, match="formats"):
        plan_outputs(act, act.prefix, ["fish"], modules_dir=None, **kwargs)
