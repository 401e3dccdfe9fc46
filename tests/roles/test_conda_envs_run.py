"""A site run in which one release cannot be built: every other release is built, the play ends failed, and a
summary names the done, unchanged and failed releases (the failed one with its error's first line).

It runs ``ansible-playbook cpkgs.conda.site`` against localhost with the demo inventory (``inventories/demo``),
as ``scripts/demo.sh`` does, into a share in a temporary directory, with one release's spec made unsatisfiable
(``isis=9.9.9``) by an extra variable. It needs the test bed's stand-in installer and local channel in
``$CPKGS_BUILD`` (``bash scripts/demo.sh`` or ``bash scripts/test.sh`` builds them) and is skipped without them.
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
BROKEN = "isis4.1.0"

pytestmark = pytest.mark.skipif(
    not (INSTALLER.is_file() and CHANNEL.is_dir() and (COLLECTIONS / "ansible_collections/cpkgs/conda").exists()),
    reason=f"no test bed in {BUILD} (run `bash scripts/demo.sh` first)",
)


def _releases() -> list[dict]:
    return yaml.safe_load((REPO / "inventories/demo/group_vars/all.yml").read_text())["conda_envs_list"]


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path, list[str]]:
    """The demo's site run with BROKEN's spec unsatisfiable, into a temporary share (run once for the tests)."""
    work = tmp_path_factory.mktemp("broken-run")
    share = work / "nfs" / "cpkgs"
    share.mkdir(parents=True)
    releases = _releases()
    for release in releases:
        if release["name"] == BROKEN:
            release["specs"] = ["isis=9.9.9"]
    sha256 = (INSTALLER.parent / (INSTALLER.name + ".sha256")).read_text().split()[0]
    extra = {
        "cpkgs_conda_tree_options": {"share_root": str(share)},
        "conda_tree_cache_dir": str(work / "cache"),
        "conda_tree_installers": {"Linux-x86_64": {"file": str(INSTALLER), "sha256": sha256}},
        "conda_envs_channels": [f"file://{CHANNEL}"],
        "conda_client_hook_dir": str(work / "etc" / "profile.d"),
        "conda_envs_list": releases,
    }
    (work / "extra.json").write_text(json.dumps(extra))
    environ = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_HOME=str(BUILD / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(work / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )
    cmd = [
        str(PLAYBOOK),
        "-i",
        str(REPO / "inventories/demo/hosts.yml"),
        "-e",
        f"@{work / 'extra.json'}",
        "--diff",
        "cpkgs.conda.site",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=environ, check=False, timeout=600)
    names = [release["name"] for release in releases]
    return proc, share / "anaconda3_linux", names


def test_the_run_ends_failed(broken_run: tuple) -> None:
    proc, _tree, _names = broken_run
    assert proc.returncode != 0, proc.stdout[-3000:]
    recap = r"localhost\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=1\s"
    assert re.search(recap, proc.stdout), proc.stdout[-2000:]


def test_every_release_is_its_own_step_and_all_others_are_built(broken_run: tuple) -> None:
    proc, tree, names = broken_run
    steps = re.findall(r"^(changed|ok|failed): \[localhost\] (?:=> )?\(item=([^:]+): (.*)\)", proc.stdout, re.MULTILINE)
    assert [name for _status, name, _reason in steps] == names, proc.stdout[-4000:]
    assert {(status, name) for status, name, _reason in steps if status != "changed"} == {("failed", BROKEN)}
    assert all(reason == "build" for _status, _name, reason in steps)
    for name in names:
        built = (tree / "envs" / name / "conda-meta" / "history").is_file()
        assert built == (name != BROKEN), name
    assert not (tree / "envs" / BROKEN).exists()  # no half-built environment left


def test_each_release_shows_its_package_changes_under_its_name(broken_run: tuple) -> None:
    proc, tree, names = broken_run
    for name in names:
        header = f"+++ after: {tree}/envs/{name} (packages)"
        assert (header in proc.stdout) == (name != BROKEN), name
    assert re.search(r"(?m)^\+isis-4\.3\.0-", proc.stdout)


def test_the_summary_names_done_unchanged_and_failed(broken_run: tuple) -> None:
    proc, _tree, names = broken_run
    summary = proc.stdout[proc.stdout.index("TASK [cpkgs.conda.conda_envs : Summary") :]
    summary = summary[: summary.index("PLAY RECAP")]
    assert "fatal: [localhost]" in summary
    done = re.search(r'"done \((\d+)\): ([^"]*)"', summary)
    assert done and int(done.group(1)) == len(names) - 1
    assert re.findall(r"(isis[0-9.]+) \(build, [0-9.]+ s\)", done.group(2)) == [n for n in names if n != BROKEN]
    assert '"unchanged (0): -"' in summary
    assert '"failed (1):"' in summary
    failed = re.search(rf'"  {re.escape(BROKEN)}: ([^"]+)"', summary)
    assert failed, summary
    assert re.match(r"\w+Error: \S", failed.group(1)), failed.group(1)  # conda's error, not the name again
    assert "\\n" not in failed.group(1)  # the first line only


def test_built_releases_load_without_conda_and_the_failed_one_has_no_entry(broken_run: tuple) -> None:
    proc, tree, names = broken_run
    for name in names:
        entry = tree / "envs" / name / "etc" / "cpkgs" / "activate.sh"
        assert entry.is_file() == (name != BROKEN), (name, proc.stdout[-2000:])
