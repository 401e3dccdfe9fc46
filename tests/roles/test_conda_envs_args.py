"""The conda_envs role checks each item of conda_envs_list against its argument_specs when it starts: a bad key,
type or combination fails the play naming it, before any task of the role runs."""

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


def _run(tmp_path: Path, item: dict) -> subprocess.CompletedProcess:
    share = tmp_path / "share"
    share.mkdir()
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {"group/cpkgs.conda.conda": {"share_root": str(share)}},
            "roles": [{"role": "cpkgs.conda.conda_envs", "conda_envs_list": [item]}],
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
    ],
)
def test_a_bad_item_fails_the_role_at_its_start(tmp_path: Path, item: dict, wanted: str) -> None:
    proc = _run(tmp_path, item)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "Validating arguments against arg spec" in out
    assert wanted in out, out
    assert "Look at the tree" not in out  # no task of the role ran
    assert list((tmp_path / "share").iterdir()) == []
