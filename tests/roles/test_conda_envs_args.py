"""The conda_envs role checks each item of conda_envs_list against its argument_specs when it starts: a bad key,
type or combination fails the play naming it, before any task of the role runs. What argument_specs cannot say
(a name given twice, the umask) its first task refuses, naming each, before it looks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CPKGS_BUILD") or REPO / ".build")
COLLECTIONS = BUILD / "collections"
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

pytestmark = pytest.mark.skipif(
    not (COLLECTIONS / "ansible_collections/cpkgs/conda").exists(), reason=f"no collections path in {BUILD}"
)


def _run(tmp_path: Path, item: dict, **role_vars: object) -> subprocess.CompletedProcess:
    share = tmp_path / "share"
    share.mkdir()
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {"group/cpkgs.conda.conda": {"share_root": str(share)}},
            "roles": [{"role": "cpkgs.conda.conda_envs", "conda_envs_list": role_vars.pop("envs", [item]),
                       **role_vars}],
        }
    ]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    environ = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_HOME=str(BUILD / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
    )
    cmd = [str(PLAYBOOK), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
           str(tmp_path / "play.yml")]
    return subprocess.run(cmd, capture_output=True, text=True, env=environ, check=False, timeout=300)


@pytest.mark.parametrize(
    ("item", "wanted"),
    [
        ({"name": "isis4.3.0", "specs": ["isis=4.3.0"], "colour": "red"}, "conda_envs_list.colour"),
        ({"name": "isis4.3.0", "specs": ["isis=4.3.0"], "state": "newest"}, "got: newest found in conda_envs_list"),
        ({"specs": ["isis=4.3.0"]}, "one of the following is required: name, prefix found in conda_envs_list"),
        ({"name": "a", "specs": ["x"], "file": "/e.yml"}, "mutually exclusive: specs|file|lockfile"),
        ({"name": "a", "specs": ["x"], "formats": ["sh", "bash"]},
         "conda_envs_activation_formats must be one or more of: sh, csh, lmod, tcl, kernel. Got no match for: bash"),
    ],
)
def test_a_bad_item_fails_the_role_at_its_start(tmp_path: Path, item: dict, wanted: str) -> None:
    item = dict(item)  # the formats case's "formats" is a role variable, not a key of the item
    formats = item.pop("formats", None)
    proc = _run(tmp_path, item, **({"conda_envs_activation_formats": formats} if formats else {}))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Validating arguments against arg spec" in out
    assert wanted in out, out
    assert "Check the inputs and look at the tree" not in out  # no task of the role ran
    assert list((tmp_path / "share").iterdir()) == []


ITEM = {"name": "isis4.3.0", "specs": ["isis=4.3.0"]}


@pytest.mark.parametrize(
    ("role_vars", "wanted"),
    [
        ({"envs": [ITEM, {"name": "isis4.3.0", "specs": ["isis=4.2.0"]}]},
         ["conda_envs_list names an environment twice (isis4.3.0)."]),
        ({"conda_envs_umask": "9x9"}, ["conda_envs_umask 9x9 must be octal."]),
        ({"conda_envs_umask": "777x", "envs": [{"prefix": "/a/b", "specs": ["x"]}, {"prefix": "/a/b", "specs": ["y"]}]},
         ["conda_envs_list names an environment twice (/a/b).", "conda_envs_umask 777x must be octal."]),
    ],
)  # fmt: skip
def test_bad_inputs_are_refused_by_name_before_the_look(tmp_path: Path, role_vars: dict, wanted: list) -> None:
    proc = _run(tmp_path, ITEM, **role_vars)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    message = " ".join(wanted)
    assert f'"msg": "{message}"' in out, out[-3000:]
    assert "Plan the release environments" not in out  # nothing after the refusal ran
    assert list((tmp_path / "share").iterdir()) == []
