# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""conda_activation's generated files as their readers see them: the modulefiles evaluated by a Lua and a Tcl
interpreter (what Lmod and Environment Modules would be told to do), the headers and comments an admin reads,
and the files written, replaced and removed on disk."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils import _activation as act_mod
from ansible_collections.cpkgs.conda.plugins.module_utils._activation import (
    ActivationError,
    Output,
    environment_vars,
    plan_outputs,
    read_activation,
)
from ansible_collections.cpkgs.conda.tests.unit.plugins.module_utils.activation_env import make_env, run_argv

MARKER = "# Managed by cpkgs.conda (conda_activation)"
# A value the modulefile languages must not expand: backslash, quotes, $, brackets, braces, a newline.
TRICKY = 'a\\b "q" $x [y] {z}\nline2'


def plan(act, prefix: str, root: Path, formats: list, *, run=run_argv, module_name="isis/4.3.0", kernel_name="k"):
    return plan_outputs(
        act,
        prefix,
        formats,
        module_name=module_name,
        modules_dir=str(root / "mods"),
        kernel_name=kernel_name,
        kernels_dir=str(root / "kernels"),
        display_name="ISIS 4.3.0",
        run_command=run,
    )


def apply(outputs) -> None:
    for output in outputs:
        if output.needs_change()[0]:
            output.apply()


# ------------------------------------------------------------------------------------------- evaluated modulefiles
LUA_HARNESS = r"""
local calls = {}
for _, n in ipairs({"whatis", "help", "family", "prepend_path", "append_path", "pushenv", "setenv", "unsetenv",
                    "source_sh"}) do
    _G[n] = function(...) calls[#calls + 1] = table.concat({n, ...}, "\31") end
end
dofile(arg[1])
io.write(table.concat(calls, "\30"))
"""

TCL_HARNESS = r"""
set calls {}
proc rec {args} { global calls; lappend calls [join $args \x1f] }
foreach n {module-whatis prepend-path append-path setenv unsetenv source-sh family} {
    proc $n args [format {rec %s {*}$args} $n]
}
if {[lindex $argv 1] eq "pushenv"} { proc pushenv args {rec pushenv {*}$args} }
source [lindex $argv 0]
puts -nonewline [join $calls \x1e]
ModulesHelp
"""


def evaluate(interpreter: str, harness: str, path: str, *args: str) -> tuple:
    done = subprocess.run([interpreter, harness, path, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return [tuple(call.split("\x1f")) for call in done.stdout.split("\x1e")], done.stderr


@pytest.fixture
def scripted_env(tmp_path):
    """An env with a tricky variable, a static activate.d script and a csh-only one; its files planned."""
    prefix = make_env(
        tmp_path,
        env_vars={"ISIS_SITE": TRICKY},
        scripts={"activate.d/a.sh": 'export ISISROOT="$CONDA_PREFIX"\n', "activate.d/z.csh": "setenv Z 1\n"},
    )
    act = read_activation(prefix, str(tmp_path))
    outputs, _notes = plan(act, prefix, tmp_path, ["lmod", "tcl"])
    apply(outputs)
    return prefix, outputs


def expected_calls(prefix: str, root: Path, set_cmd: str, path_cmd: str, source_cmd: str) -> list:
    return [
        (path_cmd, "PATH", f"{root}/condabin"),
        (path_cmd, "PATH", f"{prefix}/bin"),
        (set_cmd, "CONDA_PREFIX", prefix),
        (set_cmd, "CONDA_SHLVL", "1"),
        (set_cmd, "CONDA_DEFAULT_ENV", "isis4.3.0"),
        (set_cmd, "CONDA_PROMPT_MODIFIER", "(isis4.3.0) "),
        (set_cmd, "ISIS_SITE", TRICKY),
        (set_cmd, "ISISROOT", prefix),  # the captured script
        (source_cmd, "tcsh", f"{prefix}/etc/conda/activate.d/z.csh"),  # csh-only: run at load in tcsh
    ]


@pytest.mark.skipif(not shutil.which("lua"), reason="no lua interpreter")
def test_the_lmod_file_tells_lmod_what_conda_activate_does(tmp_path, scripted_env):
    prefix, outputs = scripted_env
    harness = tmp_path / "harness.lua"
    harness.write_text(LUA_HARNESS)
    calls, _err = evaluate("lua", str(harness), outputs[0].path)
    assert calls == [
        ("whatis", "Name: isis"),
        ("whatis", "Version: 4.3.0"),
        ("whatis", f"Description: conda environment isis4.3.0 ({prefix})"),
        ("help", f"Loads the conda environment {prefix} as `conda activate` would, without conda."),
        ("family", "conda_env"),
        *expected_calls(prefix, tmp_path, "pushenv", "prepend_path", "source_sh"),
    ]


@pytest.mark.skipif(not shutil.which("lua"), reason="no lua interpreter")
@pytest.mark.parametrize(
    ("module_name", "whatis"), [("tools", ["Name: tools"]), ("a/b/1.0", ["Name: a/b", "Version: 1.0"])]
)
def test_the_lmod_whatis_names_the_module(tmp_path, module_name, whatis):
    prefix = make_env(tmp_path)
    outputs, _notes = plan(read_activation(prefix, str(tmp_path)), prefix, tmp_path, ["lmod"], module_name=module_name)
    apply(outputs)
    harness = tmp_path / "harness.lua"
    harness.write_text(LUA_HARNESS)
    calls, _err = evaluate("lua", str(harness), outputs[0].path)
    assert [call[1] for call in calls if call[0] == "whatis"] == [
        *whatis,
        f"Description: conda environment isis4.3.0 ({prefix})",
    ]


@pytest.mark.skipif(not shutil.which("tclsh"), reason="no tclsh")
@pytest.mark.parametrize("modules", ["pushenv", "setenv"], ids=["modules-5.1", "older-modules"])
def test_the_tcl_file_tells_environment_modules_what_conda_activate_does(tmp_path, scripted_env, modules):
    prefix, outputs = scripted_env
    harness = tmp_path / "harness.tcl"
    harness.write_text(TCL_HARNESS)
    calls, helptext = evaluate("tclsh", str(harness), outputs[1].path, modules)
    assert calls == [
        ("module-whatis", f"conda environment isis4.3.0 ({prefix})"),
        ("family", "conda_env"),
        *expected_calls(prefix, tmp_path, modules, "prepend-path", "source-sh"),
    ]
    assert helptext == f"Loads the conda environment {prefix} as `conda activate` would.\n"  # module help


# ------------------------------------------------------------------------------------------- what an admin reads
def test_each_file_names_what_it_is_and_its_environment(tmp_path):
    prefix = make_env(tmp_path, scripts={"activate.d/a.sh": "export ISISROOT=x\n"})
    act = read_activation(prefix, str(tmp_path))
    outputs, _notes = plan(act, prefix, tmp_path, ["lmod", "tcl", "sh", "csh"])
    files = {os.path.relpath(o.path, str(tmp_path)): o.content for o in outputs}
    of = f"of the conda environment {prefix}."
    heads = {
        "mods/isis/4.3.0.lua": [f"-- {MARKER[2:]}: Lmod modulefile {of}"],
        "mods/isis/4.3.0": ["#%Module1.0", f"#{MARKER}: Environment Modules modulefile {of}"],
        "envs/isis4.3.0/etc/cpkgs/activate.sh": [
            "# shellcheck shell=sh",
            f"{MARKER}: plain shell entry (bash, zsh, sh) {of}",
        ],
        "envs/isis4.3.0/etc/cpkgs/activate.csh": ["# tcsh / csh", f"{MARKER}: plain shell entry (tcsh, csh) {of}"],
        "envs/isis4.3.0/etc/cpkgs/deactivate.csh": [
            "# tcsh / csh",
            f"{MARKER}: deactivation of the plain shell entry {of}",
        ],
    }
    assert sorted(files) == sorted(heads)
    for name, head in heads.items():
        assert files[name].splitlines()[: len(head)] == head, name
        assert files[name].endswith("\n") and not files[name].endswith("\n\n"), name
    assert "alias deactivate " in files["envs/isis4.3.0/etc/cpkgs/activate.csh"]
    assert "unalias deactivate" in files["envs/isis4.3.0/etc/cpkgs/deactivate.csh"]


def test_modulefiles_name_each_script_and_what_became_of_it(tmp_path):
    prefix = make_env(
        tmp_path, scripts={"activate.d/a.sh": "", "activate.d/b.sh": "isis() { :; }\n", "activate.d/c.sh": ": \n"}
    )
    folder = Path(prefix, "etc", "conda", "activate.d")
    digest = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in ("a.sh", "b.sh", "c.sh")}
    assert digest["a.sh"] == hashlib.sha256(b"").hexdigest()  # an empty script
    outputs, _notes = plan(read_activation(prefix, str(tmp_path)), prefix, tmp_path, ["lmod", "tcl"])
    where = "etc/conda/activate.d"
    for output in outputs:
        comment = "--" if output.fmt == "lmod" else "#"
        lines = output.content.splitlines()
        assert f"{comment} {where}/a.sh (sha256 {digest['a.sh']}): its effect, captured at generation" in lines
        assert (
            f"{comment} {where}/b.sh (sha256 {digest['b.sh']}): runs at each load, "
            "as it defines or removes a shell function"
        ) in lines
        assert (
            f"{comment} {where}/c.sh (sha256 {digest['c.sh']}): runs at each load, as an earlier script (b.sh) does"
            in lines
        )


@pytest.mark.parametrize(
    ("run", "no_bash", "why"),
    [
        (None, False, "as the capture was not run"),
        (run_argv, True, "as no bash was found where the files were generated"),
    ],
    ids=["no-runner", "no-bash"],
)
def test_without_a_capture_modulefiles_say_why_scripts_run_at_load(tmp_path, monkeypatch, run, no_bash, why):
    prefix = make_env(tmp_path, scripts={"activate.d/a.sh": "export ISISROOT=x\n"})
    if no_bash:
        real_which = act_mod.shutil.which
        monkeypatch.setattr(act_mod.shutil, "which", lambda name: None if name == "bash" else real_which(name))
    outputs, _notes = plan(read_activation(prefix, str(tmp_path)), prefix, tmp_path, ["lmod"], run=run)
    digest = hashlib.sha256(b"export ISISROOT=x\n").hexdigest()
    lines = outputs[0].content.splitlines()
    assert f"-- etc/conda/activate.d/a.sh (sha256 {digest}): runs at each load, {why}" in lines
    assert f'source_sh("bash", "{prefix}/etc/conda/activate.d/a.sh")' in lines


# ------------------------------------------------------------------------------------------- which files, when
def test_only_modulefiles_capture_scripts(tmp_path):
    prefix = make_env(tmp_path, scripts={"activate.d/a.sh": "export ISISROOT=x\n", "activate.d/b.sh": "alias i=true\n"})
    calls = []

    def runner(argv):
        calls.append(argv)
        return run_argv(argv)

    _outputs, notes = plan(read_activation(prefix, str(tmp_path)), prefix, tmp_path, ["sh", "csh"], run=runner)
    assert (calls, notes) == ([], [])
    lua_only, notes = plan(read_activation(prefix, str(tmp_path)), prefix, tmp_path, ["lmod"], run=runner)
    assert 'pushenv("ISISROOT", "x")' in lua_only[0].content.splitlines()
    assert notes == [f"{prefix}/etc/conda/activate.d/b.sh: runs at each load of the modulefiles (source_sh), "
                     "as it defines or removes an alias"]  # fmt: skip


def test_removing_the_plain_entry_removes_its_directory(tmp_path):
    prefix = make_env(tmp_path)
    act = read_activation(prefix, str(tmp_path))
    outputs, _notes = plan(act, prefix, tmp_path, ["sh"])
    assert [o.path for o in outputs] == [f"{prefix}/etc/cpkgs/activate.sh"]
    apply(outputs)
    apply(plan(None, prefix, tmp_path, ["sh"])[0])
    assert sorted(p.name for p in Path(prefix).iterdir()) == ["bin", "conda-meta"]


def test_a_name_another_env_took_meanwhile_is_not_removed(tmp_path):
    """Env A is renamed away from isis/4.3.0 (and kernel k) while env B takes that name in the same run."""
    first = make_env(tmp_path, name="a")
    second = make_env(tmp_path, name="b")
    Path(first, "bin", "python").write_text("#!/bin/sh\n")
    Path(second, "bin", "python").write_text("#!/bin/sh\n")
    formats = ["lmod", "tcl", "kernel"]
    apply(plan(read_activation(first, str(tmp_path)), first, tmp_path, formats)[0])
    renamed, _notes = plan(
        read_activation(first, str(tmp_path)), first, tmp_path, formats, module_name="isis/new", kernel_name="new"
    )
    removals = [o for o in renamed if o.content is None]
    assert sorted(os.path.relpath(o.path, str(tmp_path)) for o in removals) == [
        "kernels/k/kernel.json",
        "mods/isis/4.3.0",
        "mods/isis/4.3.0.lua",
    ]
    taken, _notes = plan(read_activation(second, str(tmp_path)), second, tmp_path, formats)
    apply(taken)
    for removal in removals:
        assert removal.needs_change() == (False, Path(removal.path).read_text())
    apply(renamed)
    for output in taken:
        assert Path(output.path).read_text() == output.content  # B's files stay


# ------------------------------------------------------------------------------------------- Output on disk
def test_an_existing_file_is_made_readable_by_everyone(tmp_path):
    path = tmp_path / "mods" / "isis" / "4.3.0"
    path.parent.mkdir(parents=True)
    path.write_text("old\n")
    path.chmod(0o600)
    output = Output("tcl", str(path), "new\n")
    assert output.needs_change() == (True, "old\n")
    output.apply()
    assert path.read_text() == "new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_file_that_is_not_utf8_shows_in_the_diff(tmp_path):
    path = tmp_path / "activate.sh"
    path.write_bytes(b"caf\xe9\n")
    assert Output("sh", str(path), "cafe\n").needs_change() == (True, "caf\ufffd\n")


def test_a_removal_that_fails_names_the_path(tmp_path):
    path = tmp_path / "kernels" / "k" / "kernel.json"
    path.mkdir(parents=True)  # a directory where the file should be
    with pytest.raises(ActivationError, match=rf"^cannot remove {path}: Is a directory$"):
        Output("kernel", str(path), None).apply()


def test_a_kernelspec_with_other_metadata_is_not_ours(tmp_path):
    prefix = make_env(tmp_path)
    Path(prefix, "bin", "python").write_text("#!/bin/sh\n")
    kernels = tmp_path / "kernels"
    for name, spec in {"list": {"metadata": []}, "text": {"metadata": "x"}, "null": {"metadata": None}}.items():
        (kernels / name).mkdir(parents=True)
        (kernels / name / "kernel.json").write_text(json.dumps(spec))
    outputs, _notes = plan(read_activation(prefix, str(tmp_path)), prefix, tmp_path, ["kernel"])
    assert [o.path for o in outputs] == [str(kernels / "k" / "kernel.json")]


# ------------------------------------------------------------------------------------------- reading the env
def test_the_activation_upper_cases_names_and_knows_every_prompt_field(tmp_path):
    prefix = make_env(tmp_path, env_vars={"isis_root": "/data"})
    act = read_activation(prefix, str(tmp_path), env_prompt="<{stacked_env}|{default_env}|{name}|{prefix}> ")
    assert act.env_vars == {"ISIS_ROOT": "/data"}
    assert act.prompt_modifier == f"<isis4.3.0|isis4.3.0|isis4.3.0|{prefix}> "


def test_csh_only_scripts_run_in_tcsh_at_load(tmp_path):
    prefix = make_env(
        tmp_path, scripts={"activate.d/a.sh": ":\n", "activate.d/a.csh": ":\n", "activate.d/only.csh": ":\n"}
    )
    folder = f"{prefix}/etc/conda/activate.d"
    assert read_activation(prefix, str(tmp_path)).module_scripts() == [
        ("bash", f"{folder}/a.sh"),
        ("tcsh", f"{folder}/only.csh"),
    ]


def test_env_vars_of_the_wrong_shape_name_the_file(tmp_path):
    prefix = make_env(tmp_path, env_vars=["A"])
    with pytest.raises(ActivationError, match=rf"^{prefix}/conda-meta/state: env_vars must be a JSON object$"):
        environment_vars(prefix)
    other = make_env(tmp_path, name="other")
    folder = Path(other, "etc", "conda", "env_vars.d", "isis.json")
    folder.mkdir(parents=True)  # a directory where a file should be
    with pytest.raises(ActivationError, match=rf"^cannot read {folder}"):
        environment_vars(other)


def test_values_that_are_not_strings_are_written_as_conda_formats_them(tmp_path):
    """conda exports ``%s`` of each value of a package's env_vars.d file: True, 2, 1.5."""
    prefix = make_env(tmp_path)
    folder = Path(prefix, "etc", "conda", "env_vars.d")
    folder.mkdir(parents=True)
    (folder / "isis.json").write_text(json.dumps({"ISIS_DEBUG": True, "ISIS_LEVEL": 2, "ISIS_SCALE": 1.5}))
    assert environment_vars(prefix)[0] == {"ISIS_DEBUG": "True", "ISIS_LEVEL": "2", "ISIS_SCALE": "1.5"}


def test_the_kernelspec_is_written_one_key_a_line_in_sorted_order(tmp_path):
    """So that the diff of a changed kernelspec shows the lines that changed, and the same env gives the same file."""
    prefix = make_env(tmp_path, env_vars={"ZETA": "z", "ALPHA": "a"})
    Path(prefix, "bin", "python").write_text("#!/bin/sh\n")
    outputs, _notes = plan(read_activation(prefix, str(tmp_path)), prefix, tmp_path, ["kernel"])
    lines = outputs[0].content.splitlines()
    top = [line.split('"')[1] for line in lines if line.startswith(' "')]
    assert top == ["argv", "display_name", "env", "language", "metadata"]
    start = lines.index(' "env": {')
    env = [line.split('"')[1] for line in lines[start + 1 : lines.index(" },", start)]]
    assert env == sorted(json.loads(outputs[0].content)["env"])
    assert env.index("ALPHA") < env.index("CONDA_PREFIX") < env.index("ZETA")
    assert json.loads(outputs[0].content)["env"]["ZETA"] == "z"
