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
from ansible_collections.cpkgs.conda.tests.unit.plugins.module_utils.activation_env import run_argv


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


def test_a_json_null_is_unset_like_conda(tmp_path):
    """conda unsets a variable whose value is JSON null (get_export_unset_vars); the files say so in each format:
    csh unsetenv, POSIX shells export NAME='' (conda's PosixActivator "unset"), modulefiles by the shell's type,
    and each saves the value before for its deactivation or unload. An env without one renders as before."""
    prefix = _env(tmp_path, scripts=False, python=True, pkg_vars=[{"LEGACY": "pkg"}, {"legacy": None, "KEEP": 1}])
    found, _warnings = environment_vars(prefix)
    assert found == {"LEGACY": None, "KEEP": "1"}
    act = read_activation(prefix, str(tmp_path))
    assert act.env_vars == {"KEEP": "1"} and act.unset_vars == ["LEGACY"]
    assert "LEGACY" not in act.variables
    sh = act_mod.render_sh(act)
    assert "export LEGACY=''\n" in sh and "'null'" not in sh
    assert 'if [ -n "${LEGACY+x}" ]; then _CPKGS_OLD_LEGACY="$LEGACY"; else unset _CPKGS_OLD_LEGACY; fi' in sh
    activate_csh, deactivate_csh = act_mod.render_csh(act)
    assert "unsetenv LEGACY\n" in activate_csh and "set _cpkgs_old_LEGACY=$LEGACY:q" in activate_csh
    assert "    setenv LEGACY $_cpkgs_old_LEGACY:q" in deactivate_csh
    lua = act_mod.render_lmod(act, "isis/4.3.0")
    assert 'if myShellType() == "csh" then pushenv("LEGACY", false) else pushenv("LEGACY", "") end' in lua
    tcl = act_mod.render_tcl(act, "isis/4.3.0")
    assert 'if {[module-info shelltype] eq {csh}} { cpkgs_unsetenv "LEGACY" } else { cpkgs_setenv "LEGACY" {} }' in tcl
    assert "proc cpkgs_unsetenv {name} {" in tcl
    kernel = json.loads(act_mod.render_kernel(act, "ISIS", {}))
    assert kernel["env"]["LEGACY"] == "" and kernel["env"]["KEEP"] == "1"
    plain = read_activation(_env(tmp_path, name="plain", scripts=False, pkg_vars=[{"KEEP": 1}]), str(tmp_path))
    assert plain.unset_vars == []
    assert "cpkgs_unsetenv" not in act_mod.render_tcl(plain, "plain") and "myShellType" not in act_mod.render_lmod(
        plain, "plain"
    )


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
        # the modulefiles' capture really runs (its scripts are ':'), the kernel's run answers as a script would
        "run_command": lambda argv: (
            run_argv(argv) if "cpkgs-probe" in argv else (0, "ISISROOT=" + prefix + "\0PATH=" + argv[3][5:] + "\0", "")
        ),
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


# --------------------------------------------------------------------------------------------- stale modulefiles
def _plan_modules(act, prefix, mods, module_name, **extra):
    return plan_outputs(
        act,
        prefix,
        ["lmod", "tcl"],
        module_name=module_name,
        modules_dir=str(mods),
        kernel_name="k",
        kernels_dir=str(mods.parent / "kernels"),
        display_name="d",
        **extra,
    )[0]


def _apply(outputs):
    for output in outputs:
        if output.needs_change()[0]:
            output.apply()


def test_a_renamed_module_removes_its_old_files_only(tmp_path):
    prefix = _env(tmp_path, scripts=False)
    other = _env(tmp_path, name="isis3.9.1", scripts=False)
    mods = tmp_path / "mods"
    _apply(_plan_modules(read_activation(prefix, str(tmp_path)), prefix, mods, "isis/4.3.0"))
    _apply(_plan_modules(read_activation(other, str(tmp_path)), other, mods, "isis/3.9.1"))
    old_lua, old_tcl = mods / "isis" / "4.3.0.lua", mods / "isis" / "4.3.0"
    assert old_lua.is_file() and old_tcl.is_file()
    # Files this module did not write: no marker, a copy without the marker line, a link to its file.
    (mods / "isis" / "site.lua").write_text('setenv("X", "' + prefix + '")\n')
    (mods / "isis" / "copy.lua").write_text("\n".join(old_lua.read_text().splitlines()[1:]) + "\n")
    (mods / "isis" / "default").symlink_to("4.3.0.lua")
    ours = ("4.3.0.lua", "4.3.0", "3.9.1.lua", "3.9.1")
    foreign = sorted(p.name for p in (mods / "isis").iterdir() if p.name not in ours)
    assert foreign == ["copy.lua", "default", "site.lua"]

    renamed = _plan_modules(read_activation(prefix, str(tmp_path)), prefix, mods, "isis4/4.3.0")
    removals = sorted(o.path for o in renamed if o.content is None)
    assert removals == sorted([str(old_lua), str(old_tcl)])
    assert all(o.needs_change()[0] for o in renamed)
    _apply(renamed)
    assert not old_lua.exists() and not old_tcl.exists()
    assert (mods / "isis4" / "4.3.0.lua").is_file() and (mods / "isis4" / "4.3.0").is_file()
    assert (mods / "isis" / "3.9.1.lua").is_file() and (mods / "isis" / "3.9.1").is_file()  # another env's
    assert sorted(p.name for p in (mods / "isis").iterdir() if p.name not in ours) == foreign
    again = _plan_modules(read_activation(prefix, str(tmp_path)), prefix, mods, "isis4/4.3.0")
    assert [o.path for o in again if o.needs_change()[0]] == []  # a no-op


def test_an_absent_env_loses_its_modulefiles_under_any_name(tmp_path):
    prefix = _env(tmp_path, scripts=False)
    mods = tmp_path / "mods"
    _apply(_plan_modules(read_activation(prefix, str(tmp_path)), prefix, mods, "isis/old"))
    (mods / "keep.lua").write_text("-- a site's own module\n")
    removals = _plan_modules(None, prefix, mods, "isis/4.3.0")
    assert sorted(o.path for o in removals if o.needs_change()[0]) == sorted(
        [str(mods / "isis" / "old.lua"), str(mods / "isis" / "old")]
    )
    _apply(removals)
    assert sorted(p.name for p in mods.iterdir()) == ["keep.lua"]  # the modules directory itself stays
    _apply(_plan_modules(None, prefix, mods / "empty", "isis/4.3.0"))
    assert not (mods / "empty").exists()


# --------------------------------------------------------------------------------------------- captured scripts
def _script_env(root, scripts, name="isis4.3.0"):
    prefix = _env(root, name=name, scripts=False)
    folder = Path(prefix) / "etc" / "conda" / "activate.d"
    folder.mkdir(parents=True)
    for file_name, text in scripts.items():
        (folder / file_name).write_text(text)
    return prefix, str(folder)


def _lua(root, prefix, run="default"):
    run = run_argv if run == "default" else run
    act = read_activation(prefix, str(root))
    outputs, _notes = plan_outputs(
        act,
        prefix,
        ["lmod", "tcl"],
        module_name="isis/4.3.0",
        modules_dir=str(Path(root) / "mods"),
        kernel_name="k",
        kernels_dir=str(Path(root) / "kernels"),
        display_name="d",
        run_command=run,
    )
    return outputs[0].content, outputs[1].content, act


def test_static_scripts_are_written_into_the_modulefiles(tmp_path):
    prefix, folder = _script_env(
        tmp_path,
        {
            "a.sh": 'export ISISROOT="$CONDA_PREFIX"\nexport ISISDATA="$CONDA_PREFIX/share/d"\nunset OLDVAR\n',
            "b.sh": 'export LD_LIBRARY_PATH="$CONDA_PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"\n'
            'export PATH="$CONDA_PREFIX/extra:$PATH"\nexport MANPATH="${MANPATH:+$MANPATH:}$CONDA_PREFIX/man"\n',
        },
    )
    lua, tcl, _act = _lua(tmp_path, prefix)
    assert "source_sh" not in lua and "source-sh" not in tcl
    assert f'pushenv("ISISROOT", "{prefix}")' in lua
    assert f'pushenv("ISISDATA", "{prefix}/share/d")' in lua
    assert 'unsetenv("OLDVAR")' in lua
    assert f'prepend_path("LD_LIBRARY_PATH", "{prefix}/lib")' in lua
    assert f'prepend_path("PATH", "{prefix}/extra")' in lua
    assert f'append_path("MANPATH", "{prefix}/man")' in lua
    assert lua.index("ISISROOT") < lua.index("LD_LIBRARY_PATH")  # script order
    assert f'cpkgs_setenv "ISISROOT" "{prefix}"' in tcl and 'unsetenv "OLDVAR"' in tcl
    assert f'prepend-path "LD_LIBRARY_PATH" "{prefix}/lib"' in tcl
    assert f'append-path "MANPATH" "{prefix}/man"' in tcl
    digest = act_mod.hashlib.sha256(Path(folder, "a.sh").read_bytes()).hexdigest()
    assert digest in lua and digest in tcl  # a changed script changes the file
    assert _lua(tmp_path, prefix)[:2] == (lua, tcl)  # the same environment, the same files: a no-op stays one


DIFFERS = "as its effect on {} differs between runs with other HOME, PWD, user or earlier values"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("isis() { :; }\nexport ISISROOT=x\n", "as it defines or removes a shell function"),
        ("alias isis=true\n", "as it defines or removes an alias"),
        ('export ISIS_USER="$HOME/.isis"\n', DIFFERS.format("ISIS_USER")),
        ('export WHERE="$PWD"\n', DIFFERS.format("WHERE")),
        ('echo "ISIS loaded"\nexport ISISROOT=x\n', "as it prints output ('ISIS loaded')"),
        ('echo "ISIS warning" >&2\n', "as it prints output ('ISIS warning')"),
        ('mkdir -p "$HOME/.isis"\n', "as it writes into HOME or the working directory"),
        ('if [ -n "$SITE_FLAG" ]; then export ISISROOT=a; else export ISISROOT=b; fi\n', DIFFERS.format("ISISROOT")),
        ('export LD_LIBRARY_PATH="$CONDA_PREFIX/lib:$LD_LIBRARY_PATH"\n', DIFFERS.format("LD_LIBRARY_PATH")),
        ("set -u\n", "as it changes the shell (options, traps, umask or directory)"),
        ("return 3\n", "as it returns status 3"),
        ("export STAMP=$$\n", DIFFERS.format("STAMP")),
    ],
)
def test_dynamic_scripts_run_at_load(tmp_path, text, reason):
    prefix, folder = _script_env(tmp_path, {"a.sh": "export FIRST=1\n", "b.sh": text, "c.sh": "export LAST=1\n"})
    lua, tcl, act = _lua(tmp_path, prefix)
    assert 'pushenv("FIRST", "1")' in lua  # captured: it comes before the dynamic one
    assert f'source_sh("bash", "{folder}/b.sh")' in lua
    assert f'source_sh("bash", "{folder}/c.sh")' in lua  # after a dynamic one everything runs at load
    assert f'source-sh bash "{folder}/b.sh"' in tcl
    assert 'pushenv("LAST"' not in lua
    assert act.script_notes == [f"{folder}/b.sh: runs at each load of the modulefiles (source_sh), {reason}"]


def test_without_a_runner_scripts_run_at_load(tmp_path):
    prefix, folder = _script_env(tmp_path, {"a.sh": "export ISISROOT=x\n"})
    lua, _tcl, _act = _lua(tmp_path, prefix, run=None)
    assert f'source_sh("bash", "{folder}/a.sh")' in lua
    assert 'pushenv("ISISROOT"' not in lua


def test_an_unreadable_probe_captures_nothing(tmp_path, monkeypatch):
    """Where ``env -0`` prints nothing (an env without -0), no script counts as static."""
    prefix, folder = _script_env(tmp_path, {"a.sh": "export ISISROOT=x\n"})
    fake_env = tmp_path / "env-without-0"
    fake_env.write_text('#!/bin/sh\n[ "$1" = -0 ] && exit 1\nexec /usr/bin/env "$@"\n')
    fake_env.chmod(0o755)
    real_which = act_mod.shutil.which
    monkeypatch.setattr(act_mod.shutil, "which", lambda name: str(fake_env) if name == "env" else real_which(name))
    lua, _tcl, act = _lua(tmp_path, prefix)
    assert f'source_sh("bash", "{folder}/a.sh")' in lua
    assert act.script_notes == [
        f"{folder}/a.sh: runs at each load of the modulefiles (source_sh), "
        "as the probe could not read the environment (env -0) around it"
    ]


def test_a_renamed_kernel_removes_its_old_kernelspec_only(tmp_path):
    prefix = _env(tmp_path, scripts=False, python=True)
    kernels = tmp_path / "kernels"
    kwargs = {"module_name": "isis/4.3.0", "modules_dir": None, "kernels_dir": str(kernels), "display_name": "d"}
    _apply(plan_outputs(read_activation(prefix, str(tmp_path)), prefix, ["kernel"], kernel_name="old", **kwargs)[0])
    (kernels / "site").mkdir()
    (kernels / "site" / "kernel.json").write_text(json.dumps({"argv": [prefix + "/bin/python"], "metadata": {}}))
    act = read_activation(prefix, str(tmp_path))
    renamed, _notes = plan_outputs(act, prefix, ["kernel"], kernel_name="new", **kwargs)
    assert sorted(o.path for o in renamed if o.content is None) == [str(kernels / "old" / "kernel.json")]
    _apply(renamed)
    assert sorted(p.name for p in kernels.iterdir()) == ["new", "site"]
    gone, _notes = plan_outputs(None, prefix, ["kernel"], kernel_name="other", **kwargs)
    _apply(gone)
    assert sorted(p.name for p in kernels.iterdir()) == ["site"]
