# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plain shell entries of conda_activation (``activate.sh``, ``activate.csh`` / ``deactivate.csh``) sourced in
real shells: what a user sees after ``. activate.sh`` and after ``deactivate`` (every variable back as it was),
and ``script_changes`` running real ``activate.d`` scripts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils import _activation as act_mod
from ansible_collections.cpkgs.conda.plugins.module_utils._activation import ActivationError, read_activation
from ansible_collections.cpkgs.conda.tests.unit.plugins.module_utils.activation_env import make_env as _make_env
from ansible_collections.cpkgs.conda.tests.unit.plugins.module_utils.activation_env import run_argv

# Values a shell must not expand or split: quotes, $, !, backslash, glob characters, spaces.
TRICKY = 'it\'s "quoted" $HOME !x \\n *.txt [a] {b}'
SHELL_OWN = ("_", "SHLVL", "PWD", "OLDPWD")


def make_env(root: Path, name: str = "isis4.3.0", env_vars: dict | None = None, scripts: dict | None = None) -> str:
    """An environment under ROOT/envs, and ROOT/condabin (the plain entries put it on PATH)."""
    return _make_env(root, name, env_vars, scripts, condabin=True)


def parse_env(blob: str) -> dict:
    return dict(item.split("=", 1) for item in blob.split("\0") if "=" in item)


def sh_session(shell: str, act, environ: dict, tmp: Path, *, twice: bool = False, ps1: str | None = None) -> dict:
    """Source activate.sh in ``shell`` started with exactly ``environ``; the exported environment and PS1
    before, during and after ``deactivate``, and whether ``deactivate`` is still defined after it."""
    entry = tmp / "activate.sh"
    entry.write_text(act_mod.render_sh(act))
    out = tmp / "out"
    out.mkdir(exist_ok=True)
    # PS1 set in the shell (bash drops an inherited PS1 when it is not interactive)
    code = (
        (f"PS1={act_mod._sh(ps1)}" if ps1 is not None else "")
        + f"""
snap() {{ env -0 > "{out}/$1.env"; printf '%s' "${{PS1-<unset>}}" > "{out}/$1.ps1"; }}
snap before
. "{entry}"
{f'. "{entry}"' if twice else ""}
snap during
deactivate
snap after
if command -v deactivate >/dev/null 2>&1; then echo defined; else echo gone; fi > "{out}/deactivate"
"""
    )
    done = subprocess.run(
        ["env", "-i", *(f"{k}={v}" for k, v in environ.items()), shell, "-c", code],
        check=False,
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr) == (0, "")  # no error message on the way
    result = {}
    for when in ("before", "during", "after"):
        env = parse_env((out / f"{when}.env").read_text())
        result[when] = {k: v for k, v in env.items() if k not in SHELL_OWN}
        result[when + "_ps1"] = (out / f"{when}.ps1").read_text()
    result["deactivate"] = (out / "deactivate").read_text().strip()
    return result


SHELLS = [shell for shell in ("sh", "bash", "zsh") if shutil.which(shell)]


@pytest.mark.parametrize("shell", SHELLS)
def test_sh_entry_activates_and_deactivate_restores_everything(tmp_path, shell):
    log = tmp_path / "log"
    prefix = make_env(
        tmp_path,
        env_vars={"ISIS_SITE": TRICKY, "ISIS_DATA": "/data/isis"},
        scripts={
            "activate.d/a.sh": f'echo "activate a $CONDA_PREFIX" >> "{log}"\nexport FROM_SCRIPT=1\n',
            "activate.d/b.sh": f'echo "activate b" >> "{log}"\n',
            "deactivate.d/a.sh": f'echo "deactivate a" >> "{log}"\nunset FROM_SCRIPT\n',
            "deactivate.d/b.sh": f'echo "deactivate b" >> "{log}"\n',
        },
    )
    act = read_activation(prefix, str(tmp_path), env_prompt="({name}) ")
    bindir = prefix + "/bin"
    # The env's bin is already on PATH (later on): activation puts it first, deactivation removes only that one.
    base_path = f"/usr/bin:{bindir}:/bin"
    environ = {"HOME": str(tmp_path), "PATH": base_path, "ISIS_DATA": "old 'data' !v"}
    seen = sh_session(shell, act, environ, tmp_path, ps1="$ ")

    during = seen["during"]
    assert during["PATH"] == f"{bindir}:{tmp_path}/condabin:{base_path}"
    assert during["CONDA_PREFIX"] == prefix
    assert during["CONDA_SHLVL"] == "1"
    assert during["CONDA_DEFAULT_ENV"] == "isis4.3.0"
    assert during["CONDA_PROMPT_MODIFIER"] == "(isis4.3.0) "
    assert during["ISIS_SITE"] == TRICKY
    assert during["ISIS_DATA"] == "/data/isis"
    assert during["FROM_SCRIPT"] == "1"
    assert seen["during_ps1"] == "(isis4.3.0) $ "
    assert log.read_text().splitlines() == [
        f"activate a {prefix}",
        "activate b",
        "deactivate b",  # deactivate.d runs in reverse order, as conda does
        "deactivate a",
    ]
    # deactivate: exactly the environment of before, the shell function gone
    assert seen["after"] == seen["before"]
    assert seen["after_ps1"] == "$ "
    assert seen["deactivate"] == "gone"


@pytest.mark.parametrize("shell", SHELLS)
def test_sh_entry_without_a_prompt_or_old_values(tmp_path, shell):
    prefix = make_env(tmp_path, env_vars={"ISIS_SITE": "x"})
    act = read_activation(prefix, str(tmp_path), changeps1=False)
    environ = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    seen = sh_session(shell, act, environ, tmp_path)
    assert seen["during_ps1"] == seen["before_ps1"]
    assert seen["during"]["ISIS_SITE"] == "x"
    assert "ISIS_SITE" not in seen["after"]
    assert "CONDA_PREFIX" not in seen["after"]
    assert seen["after"] == seen["before"]
    assert seen["after_ps1"] == seen["before_ps1"]


@pytest.mark.parametrize(
    ("path", "shlvl"),
    [("/usr/bin:/opt/other/condabin:/bin", None), ("/usr/bin:/bin", "1"), ("/usr/bin:ROOT/condabin:/bin", None)],
    ids=["another-condabin", "conda-active", "own-condabin"],
)
def test_sh_entry_adds_condabin_only_when_none_is_there(tmp_path, path, shlvl):
    prefix = make_env(tmp_path)
    act = read_activation(prefix, str(tmp_path))
    path = path.replace("ROOT", str(tmp_path))
    environ = {"HOME": str(tmp_path), "PATH": path}
    if shlvl is not None:
        environ["CONDA_SHLVL"] = shlvl
    seen = sh_session("sh", act, environ, tmp_path)
    assert seen["during"]["PATH"] == f"{prefix}/bin:{path}"
    assert seen["after"]["PATH"] == path  # a condabin it did not add stays


def test_sh_entry_sourced_twice_deactivates_the_first(tmp_path):
    prefix = make_env(tmp_path, env_vars={"ISIS_SITE": "x"})
    act = read_activation(prefix, str(tmp_path))
    environ = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    seen = sh_session("sh", act, environ, tmp_path, twice=True, ps1="$ ")
    assert seen["during"]["PATH"] == f"{prefix}/bin:{tmp_path}/condabin:/usr/bin:/bin"
    assert seen["during_ps1"] == "(isis4.3.0) $ "
    assert seen["after"] == seen["before"]
    assert seen["after_ps1"] == "$ "


def test_sh_entry_without_condabin(tmp_path):
    prefix = make_env(tmp_path)
    act = read_activation(prefix, str(tmp_path), condabin=False)
    environ = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    seen = sh_session("sh", act, environ, tmp_path)
    assert seen["during"]["PATH"] == f"{prefix}/bin:/usr/bin:/bin"
    assert seen["after"] == seen["before"]


# ----------------------------------------------------------------------------------------------------- tcsh
def csh_session(act, environ: dict, tmp: Path, *, prompt: str | None = "% ", twice: bool = False) -> dict:
    """Source activate.csh in tcsh (files where the generator puts them: PREFIX/etc/cpkgs); environment and
    prompt before, during and after ``deactivate``."""
    entry = Path(act.prefix) / act_mod.ENTRY_DIR
    entry.mkdir(parents=True, exist_ok=True)
    activate, deactivate = act_mod.render_csh(act)
    (entry / "activate.csh").write_text(activate)
    (entry / "deactivate.csh").write_text(deactivate)
    out = tmp / "out"
    out.mkdir(exist_ok=True)
    lines = []
    if prompt is not None:
        lines.append(f"set prompt={act_mod._csh(prompt)}")
    snap = (
        'env -0 > "{out}/{when}.env"; if ( $?prompt ) then\n printf "%s" "$prompt" > "{out}/{when}.ps1"\n'
        'else\n printf "<unset>" > "{out}/{when}.ps1"\nendif'
    )
    lines.append(snap.format(out=out, when="before"))
    lines.append(f'source "{entry}/activate.csh"')
    if twice:
        lines.append(f'source "{entry}/activate.csh"')
    lines.append(snap.format(out=out, when="during"))
    lines.append("deactivate")
    lines.append(snap.format(out=out, when="after"))
    lines.append(f'alias deactivate > "{out}/alias"')
    script = tmp / "session.csh"
    script.write_text("\n".join(lines) + "\n")
    done = subprocess.run(
        ["env", "-i", *(f"{k}={v}" for k, v in environ.items()), "tcsh", "-f", str(script)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr) == (0, "")  # no error message on the way
    result = {}
    for when in ("before", "during", "after"):
        env = parse_env((out / f"{when}.env").read_text())
        result[when] = {k: v for k, v in env.items() if k not in SHELL_OWN}
        result[when + "_prompt"] = (out / f"{when}.ps1").read_text()
    result["alias"] = (out / "alias").read_text().strip()
    return result


needs_tcsh = pytest.mark.skipif(not shutil.which("tcsh"), reason="tcsh is not installed")


@needs_tcsh
def test_csh_entry_activates_and_deactivate_restores_everything(tmp_path):
    log = tmp_path / "log"
    tricky = TRICKY.replace("\\n", "")  # csh variables cannot hold a newline; the rest must survive
    prefix = make_env(
        tmp_path,
        env_vars={"ISIS_SITE": tricky, "ISIS_DATA": "/data/isis"},
        scripts={
            "activate.d/a.csh": f'echo "activate a $CONDA_PREFIX" >> "{log}"\n',
            "activate.d/b.csh": f'echo "activate b" >> "{log}"\nsetenv FROM_SCRIPT 1\n',
            "deactivate.d/a.csh": f'echo "deactivate a" >> "{log}"\n',
            "deactivate.d/b.csh": f'echo "deactivate b" >> "{log}"\nunsetenv FROM_SCRIPT\n',
        },
    )
    act = read_activation(prefix, str(tmp_path), env_prompt="({name}) ")
    bindir = prefix + "/bin"
    base_path = f"/usr/bin:{bindir}:/bin"
    environ = {"HOME": str(tmp_path), "PATH": base_path, "ISIS_DATA": "old 'data' v"}
    seen = csh_session(act, environ, tmp_path)

    during = seen["during"]
    assert during["PATH"] == f"{bindir}:{tmp_path}/condabin:{base_path}"
    assert during["CONDA_PREFIX"] == prefix
    assert during["CONDA_SHLVL"] == "1"
    assert during["CONDA_DEFAULT_ENV"] == "isis4.3.0"
    assert during["ISIS_SITE"] == tricky
    assert during["ISIS_DATA"] == "/data/isis"
    assert during["FROM_SCRIPT"] == "1"
    assert seen["during_prompt"] == "(isis4.3.0) % "
    assert log.read_text().splitlines() == [f"activate a {prefix}", "activate b", "deactivate b", "deactivate a"]
    assert seen["after"] == seen["before"]
    assert seen["after_prompt"] == "% "
    assert seen["alias"] == ""  # deactivate is no longer an alias


@needs_tcsh
def test_csh_entry_without_a_prompt(tmp_path):
    prefix = make_env(tmp_path, env_vars={"ISIS_SITE": "x"})
    act = read_activation(prefix, str(tmp_path))
    environ = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    seen = csh_session(act, environ, tmp_path, prompt=None)
    assert seen["during_prompt"] == "(isis4.3.0) "  # a prompt is set for the env
    assert seen["during"]["ISIS_SITE"] == "x"
    assert seen["after"] == seen["before"]


@needs_tcsh
@pytest.mark.parametrize(
    ("path", "shlvl"),
    [("/usr/bin:/opt/other/condabin:/bin", None), ("/usr/bin:/bin", "1"), ("/usr/bin:ROOT/condabin:/bin", None)],
    ids=["another-condabin", "conda-active", "own-condabin"],
)
def test_csh_entry_adds_condabin_only_when_none_is_there(tmp_path, path, shlvl):
    prefix = make_env(tmp_path)
    act = read_activation(prefix, str(tmp_path))
    path = path.replace("ROOT", str(tmp_path))
    environ = {"HOME": str(tmp_path), "PATH": path}
    if shlvl is not None:
        environ["CONDA_SHLVL"] = shlvl
    seen = csh_session(act, environ, tmp_path)
    assert seen["during"]["PATH"] == f"{prefix}/bin:{path}"
    assert seen["after"]["PATH"] == path


@needs_tcsh
def test_csh_entry_adds_condabin_with_an_empty_shlvl(tmp_path):
    prefix = make_env(tmp_path)
    act = read_activation(prefix, str(tmp_path))
    environ = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "CONDA_SHLVL": ""}
    seen = csh_session(act, environ, tmp_path)
    assert seen["during"]["PATH"] == f"{prefix}/bin:{tmp_path}/condabin:/usr/bin:/bin"
    assert seen["after"]["PATH"] == "/usr/bin:/bin"


@needs_tcsh
def test_csh_entry_sourced_twice_deactivates_the_first(tmp_path):
    prefix = make_env(tmp_path, env_vars={"ISIS_SITE": "x"})
    act = read_activation(prefix, str(tmp_path), changeps1=False)
    environ = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "ISIS_SITE": "old"}
    seen = csh_session(act, environ, tmp_path, twice=True)
    assert seen["during"]["PATH"] == f"{prefix}/bin:{tmp_path}/condabin:/usr/bin:/bin"
    assert seen["during_prompt"] == "% "
    assert seen["after"] == seen["before"]
    assert seen["after"]["ISIS_SITE"] == "old"


@needs_tcsh
def test_csh_entry_without_condabin(tmp_path):
    prefix = make_env(tmp_path)
    act = read_activation(prefix, str(tmp_path), condabin=False)
    environ = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    seen = csh_session(act, environ, tmp_path)
    assert seen["during"]["PATH"] == f"{prefix}/bin:/usr/bin:/bin"
    assert seen["after"] == seen["before"]


def test_csh_refuses_a_value_it_cannot_hold(tmp_path):
    prefix = make_env(tmp_path, env_vars={"ISIS_SITE": "two\nlines"})
    act = read_activation(prefix, str(tmp_path))
    with pytest.raises(ActivationError, match="csh cannot hold a newline"):
        act_mod.render_csh(act)


# ------------------------------------------------------------------------------------------- script_changes
def test_script_changes_reports_what_the_scripts_change(tmp_path):
    prefix = make_env(
        tmp_path,
        env_vars={"KEEP": "same", "OVERRIDE": "env"},
        scripts={
            "activate.d/a.sh": 'export NEW_ONE="a b"\nexport KEEP=same\nexport OVERRIDE=script\n',
            "activate.d/b.sh": 'export PATH="/opt/tool/bin:$PATH"\nexport SECOND="$NEW_ONE!"\ncd /\n',
            "activate.d/skip.csh": "setenv CSH_ONLY 1\n",
        },
    )
    act = read_activation(prefix, str(tmp_path))
    base = "/usr/bin:/bin"
    changes = act_mod.script_changes(act, run_argv, base)
    assert changes == {
        "NEW_ONE": "a b",
        "OVERRIDE": "script",
        "SECOND": "a b!",
        "PATH": f"/opt/tool/bin:{prefix}/bin:{tmp_path}/condabin:${{PATH}}",
    }


def test_script_changes_sees_home_and_the_activation(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    prefix = make_env(
        tmp_path, scripts={"activate.d/a.sh": 'export SEEN="$HOME|$CONDA_PREFIX|$CONDA_DEFAULT_ENV|${PWD:+pwd}"\n'}
    )
    act = read_activation(prefix, str(tmp_path), condabin=False)
    changes = act_mod.script_changes(act, run_argv, "/usr/bin:/bin")
    assert changes == {"SEEN": f"{tmp_path}/home|{prefix}|isis4.3.0|pwd"}


def test_script_changes_without_home_uses_root(tmp_path, monkeypatch):
    monkeypatch.delenv("HOME", raising=False)
    prefix = make_env(tmp_path, scripts={"activate.d/a.sh": 'export SEEN="$HOME"\n'})
    act = read_activation(prefix, str(tmp_path))
    assert act_mod.script_changes(act, run_argv, "/usr/bin:/bin") == {"SEEN": "/"}


def test_script_changes_stops_at_a_failing_script(tmp_path):
    prefix = make_env(
        tmp_path,
        scripts={"activate.d/a.sh": "echo broken >&2\nreturn 3\n", "activate.d/b.sh": "export LATER=1\n"},
    )
    act = read_activation(prefix, str(tmp_path))
    with pytest.raises(ActivationError, match=r"activate\.d scripts failed \(rc 3\): broken$") as caught:
        act_mod.script_changes(act, run_argv, "/usr/bin:/bin")
    assert str(caught.value).startswith(prefix + ": ")


def test_script_changes_runs_nothing_without_scripts_or_runner(tmp_path):
    calls = []

    def runner(argv):
        calls.append(argv)
        return 0, "", ""

    bare = read_activation(make_env(tmp_path, name="bare"), str(tmp_path))
    assert act_mod.script_changes(bare, runner, "/usr/bin:/bin") == {}
    csh_only = read_activation(
        make_env(tmp_path, name="csh", scripts={"activate.d/a.csh": "setenv X 1\n"}), str(tmp_path)
    )
    assert act_mod.script_changes(csh_only, runner, "/usr/bin:/bin") == {}
    assert calls == []
    scripted = read_activation(make_env(tmp_path, name="sh", scripts={"activate.d/a.sh": "X=1\n"}), str(tmp_path))
    assert act_mod.script_changes(scripted, None, "/usr/bin:/bin") == {}
