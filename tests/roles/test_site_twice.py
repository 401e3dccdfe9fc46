"""Two ``site.yml`` runs at once on one share (two admins, or a timer and an admin): both succeed, every release
is built once and complete, and a third run changes nothing.

Both run ``ansible-playbook cpkgs.conda.site`` against localhost with the demo inventory (``inventories/demo``), as
``scripts/demo.sh`` does, into one share in a temporary directory, with three of the demo's releases (to stay
quick). The tree's lock serializes the writers; the second waits, re-plans under the lock and finds the work done.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CPKGS_BUILD") or REPO / ".build")
INSTALLER = BUILD / "installer" / "cpkgs-conda-standin-26.7.1-Linux-x86_64.sh"
CHANNEL = BUILD / "channel" / "cpkgs-testbed"
COLLECTIONS = BUILD / "collections"
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

pytestmark = pytest.mark.skipif(
    not (INSTALLER.is_file() and CHANNEL.is_dir() and (COLLECTIONS / "ansible_collections/cpkgs/conda").exists()),
    reason=f"no test bed in {BUILD} (run `bash scripts/demo.sh` first)",
)


def _command(work: Path, name: str) -> tuple[list[str], dict]:
    releases = yaml.safe_load((REPO / "inventories/demo/group_vars/all.yml").read_text())["conda_envs_list"][-3:]
    sha256 = (INSTALLER.parent / (INSTALLER.name + ".sha256")).read_text().split()[0]
    extra = {
        "cpkgs_conda_tree_options": {"share_root": str(work / "nfs" / "cpkgs")},
        "conda_tree_cache_dir": str(work / f"cache-{name}"),
        "conda_tree_installers": {"Linux-x86_64": {"file": str(INSTALLER), "sha256": sha256}},
        "conda_envs_channels": [f"file://{CHANNEL}"],
        "conda_client_hook_dir": str(work / "etc" / "profile.d"),
        "conda_envs_list": releases,
    }
    (work / "extra.json").write_text(json.dumps(extra))
    environ = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_HOME=str(BUILD / "ansible-home"),
                   ANSIBLE_LOCAL_TEMP=str(work / f"ansible-tmp-{name}"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    cmd = [str(PLAYBOOK), "-i", str(REPO / "inventories/demo/hosts.yml"), "-e", f"@{work / 'extra.json'}",
           "cpkgs.conda.site"]
    return cmd, environ


def test_two_site_runs_at_once_then_a_no_op(tmp_path: Path) -> None:
    (tmp_path / "nfs" / "cpkgs").mkdir(parents=True)
    runs = []
    for name in ("first", "second"):
        cmd, environ = _command(tmp_path, name)
        runs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ))
    outs = [run.communicate(timeout=900)[0] for run in runs]
    for run, out in zip(runs, outs, strict=True):
        assert run.returncode == 0, out[-4000:]
        assert "EnvironmentIsFrozenError" not in out
    tree = tmp_path / "nfs" / "cpkgs" / "anaconda3_linux"
    names = [r["name"] for r in yaml.safe_load((REPO / "inventories/demo/group_vars/all.yml").read_text())
             ["conda_envs_list"][-3:]]
    for name in names:
        history = (tree / "envs" / name / "conda-meta" / "history").read_text()
        assert history.count("==> ") == 1, history  # built once: one transaction in its history
    cmd, environ = _command(tmp_path, "third")
    third = subprocess.run(cmd, capture_output=True, text=True, env=environ, check=False, timeout=900)
    assert third.returncode == 0, third.stdout[-4000:]
    recap = r"localhost\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0\s"
    assert re.search(recap, third.stdout), third.stdout[-3000:]
    # conda makes the repodata cache it creates (pkgs/cache) group-writable and setgid whatever the umask; the tree
    # the site built has no path others or the group may write (the demo has no admin group), and the no-op's audit
    # reports nothing.
    writable = [str(path) for path in tree.rglob("*") if not path.is_symlink() and path.lstat().st_mode & 0o022]
    assert writable == []
    assert "Report the drift" not in third.stdout, third.stdout[-3000:]

    # What the no-op's checks stand for: a deleted activation entry and a system .condarc key changed by hand are
    # both found by the one look and the one plan, and put back by the next run, which is a no-op again after.
    entry = tree / "envs" / names[0] / "etc" / "cpkgs" / "activate.sh"
    condarc = tree / ".condarc"
    entry_text, condarc_text = entry.read_text(), condarc.read_text()
    assert "auto_update_conda: false" in condarc_text
    entry.unlink()
    condarc.write_text(condarc_text.replace("auto_update_conda: false", "auto_update_conda: true"))
    fourth = subprocess.run(cmd, capture_output=True, text=True, env=environ, check=False, timeout=900)
    assert fourth.returncode == 0, fourth.stdout[-4000:]
    assert re.search(r"localhost\s+: ok=\d+\s+changed=2\s", fourth.stdout), fourth.stdout[-4000:]
    assert (entry.read_text(), condarc.read_text()) == (entry_text, condarc_text)
    fifth = subprocess.run(cmd, capture_output=True, text=True, env=environ, check=False, timeout=900)
    assert re.search(recap, fifth.stdout), fifth.stdout[-3000:]
    assert "Write the files that load each release" not in fifth.stdout  # the activation task was not included
