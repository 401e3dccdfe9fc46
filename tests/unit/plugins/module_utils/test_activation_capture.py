# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""conda_activation's capture of activate.d scripts (what becomes a static line of a modulefile, what runs at
each load) and ``script_changes`` (the kernelspec's variables), with real bash and sh."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils import _activation as act_mod
from ansible_collections.cpkgs.conda.plugins.module_utils._activation import plan_outputs, read_activation
from ansible_collections.cpkgs.conda.tests.unit.plugins.module_utils.activation_env import make_env, run_argv

SENTINEL = act_mod.SENTINEL


def lua_of(root: Path, prefix: str) -> tuple:
    act = read_activation(prefix, str(root))
    outputs, notes = plan_outputs(
        act,
        prefix,
        ["lmod"],
        module_name="isis/4.3.0",
        modules_dir=str(root / "mods"),
        kernel_name="k",
        kernels_dir=str(root / "kernels"),
        display_name="d",
        run_command=run_argv,
    )
    return outputs[0].content.splitlines(), notes


def test_a_value_with_equals_signs_is_captured_whole(tmp_path):
    prefix = make_env(tmp_path, scripts={"activate.d/a.sh": 'export ISIS_OPTS="--root=$CONDA_PREFIX --x=1"\n'})
    lines, notes = lua_of(tmp_path, prefix)
    assert f'pushenv("ISIS_OPTS", "--root={prefix} --x=1")' in lines
    assert notes == []


def test_scripts_can_call_commands_of_condabin(tmp_path):
    """As under `conda activate`, condabin is on PATH while the scripts run (to call conda, for example)."""
    condabin = tmp_path / "condabin"
    condabin.mkdir()
    (condabin / "isis-version").write_text("#!/bin/sh\necho 4.3.0\n")
    (condabin / "isis-version").chmod(0o755)
    prefix = make_env(tmp_path, scripts={"activate.d/a.sh": 'export ISIS_VERSION="$(isis-version)"\n'})
    lines, notes = lua_of(tmp_path, prefix)
    assert 'pushenv("ISIS_VERSION", "4.3.0")' in lines
    assert notes == []


def test_a_variable_named_only_indirectly_is_still_probed_for_its_earlier_value(tmp_path):
    """The script appends to a variable whose name is built at run time: the second run presets it (found
    from the first run's changes), so the dependence on its earlier value shows and the script runs at load."""
    prefix = make_env(tmp_path, scripts={"activate.d/a.sh": 'n=ISIS$((1+1))OPTS; eval "export $n=\\"\\${$n:-}x\\""\n'})
    lines, notes = lua_of(tmp_path, prefix)
    assert f'source_sh("bash", "{prefix}/etc/conda/activate.d/a.sh")' in lines
    assert notes == [
        f"{prefix}/etc/conda/activate.d/a.sh: runs at each load of the modulefiles (source_sh), as its effect on "
        "ISIS2OPTS differs between runs with other HOME, PWD, user or earlier values"
    ]


def test_without_env_on_path_the_probe_uses_usr_bin_env(tmp_path, monkeypatch):
    real_which = act_mod.shutil.which
    monkeypatch.setattr(act_mod.shutil, "which", lambda name: None if name == "env" else real_which(name))
    prefix = make_env(tmp_path, scripts={"activate.d/a.sh": "export ISISROOT=x\n"})
    lines, notes = lua_of(tmp_path, prefix)
    assert 'pushenv("ISISROOT", "x")' in lines
    assert notes == []


@pytest.mark.parametrize(
    ("value", "inner", "parts"),
    [
        (f"/x:/y:{SENTINEL}:/z:/w", SENTINEL, (["/x", "/y"], ["/z", "/w"])),
        (f"{SENTINEL}:/z", SENTINEL, ([], ["/z"])),
        (f"{SENTINEL}/lib:{SENTINEL}", SENTINEL, ([f"{SENTINEL}/lib"], [])),  # the first one is inside an entry
        (f"{SENTINEL}:/m:{SENTINEL}", SENTINEL, ([], ["/m", SENTINEL])),  # the first whole entry
        (f"/x::{SENTINEL}", SENTINEL, None),  # an empty entry
        (f"/x{SENTINEL}", SENTINEL, None),
    ],
)
def test_a_path_value_splits_around_its_earlier_value(value, inner, parts):
    assert act_mod._split_around(value, inner) == parts


# ------------------------------------------------------------------------------------------- script_changes
@pytest.mark.parametrize("sh", ["bash", None], ids=["sh-is-bash", "no-sh-on-path"])
def test_script_changes_report_only_the_scripts_changes(tmp_path, monkeypatch, sh):
    """Where sh is bash (RHEL) the shell's own SHLVL is not a change; without sh on PATH /bin/sh runs them."""
    real_which = act_mod.shutil.which
    target = real_which(sh) if sh else None
    monkeypatch.setattr(act_mod.shutil, "which", lambda name: target if name == "sh" else real_which(name))
    prefix = make_env(tmp_path, scripts={"activate.d/a.sh": 'export ISIS_OPTS="--root=$CONDA_PREFIX"\n'})
    act = read_activation(prefix, str(tmp_path), condabin=False)
    assert act_mod.script_changes(act, run_argv, "/usr/bin:/bin") == {"ISIS_OPTS": f"--root={prefix}"}


def test_the_scripts_see_a_null_variable_empty_as_after_conda_activate(tmp_path):
    """conda's POSIX activation exports a JSON null variable as '' before it sources the scripts: the capture and
    the kernelspec's run of them see it so (not the login's value, and not unset)."""
    script = 'export SEEN="[${LEGACY-unset}]"\n'
    prefix = make_env(tmp_path, env_vars={"LEGACY": None}, scripts={"activate.d/a.sh": script})
    act = read_activation(prefix, str(tmp_path), condabin=False)
    assert act_mod.script_changes(act, run_argv, "/usr/bin:/bin") == {"SEEN": "[]"}
    lines, notes = lua_of(tmp_path, prefix)
    assert 'pushenv("SEEN", "[]")' in lines and notes == []


@pytest.mark.skipif(not shutil.which("bash"), reason="no bash")
def test_bash_as_sh_sets_shlvl(tmp_path):
    """The premise of the test above: bash exports SHLVL where sh may not."""
    done = subprocess.run(["env", "-i", shutil.which("bash"), "-c", "env"], capture_output=True, text=True, check=True)
    assert [line for line in done.stdout.splitlines() if line.startswith("SHLVL=")] != []


def test_a_script_in_latin1_is_still_captured(tmp_path):
    prefix = make_env(tmp_path, scripts={"activate.d/a.sh": ""})
    Path(prefix, "etc", "conda", "activate.d", "a.sh").write_bytes(b"# r\xe9glages du site\nexport ISISROOT=x\n")
    lines, notes = lua_of(tmp_path, prefix)
    assert 'pushenv("ISISROOT", "x")' in lines
    assert notes == []


def test_a_value_that_is_not_utf8_runs_at_load(tmp_path):
    """A modulefile is UTF-8 text: a value it cannot hold byte for byte is left to the script at each load."""
    script = "export ISIS_SITE=\"$(printf 'caf\\351')\"\nexport ISISROOT=x\n"
    prefix = make_env(tmp_path, scripts={"activate.d/a.sh": script})
    lines, notes = lua_of(tmp_path, prefix)
    assert f'source_sh("bash", "{prefix}/etc/conda/activate.d/a.sh")' in lines
    assert notes == [
        f"{prefix}/etc/conda/activate.d/a.sh: runs at each load of the modulefiles (source_sh), "
        "as it sets ISIS_SITE to a value that is not UTF-8 text"
    ]
