"""conda_node's report of a rollout batch (``__conda_node_batch_report`` in roles/conda_node/vars/main.yml): one line
per node of the batch that switched, with its new version, the bytes its copy moved (rsync's ``Total bytes sent``,
of the tree or of the image) and the copy's seconds; a node that did not switch has no line.

The role's own variables are loaded into a play on three local hosts whose results are what the role's tasks
register (the rsync copy's ``--stats`` output and time, the image copy's, the switch's ``src``), so the template
is checked on every stage run without containers; the Molecule cluster scenario runs it for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("CPKGS_BUILD") or REPO / ".build")
PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
VARS = REPO / "roles" / "conda_node" / "vars" / "main.yml"

STATS = "Number of files: 1,204 (reg: 1,011, dir: 193)\nTotal file size: 102,118,345 bytes\nTotal bytes sent: {}\n"
NODES = {
    "rsync-node": {
        "__conda_node_sync": {"changed": True, "stdout": STATS.format("6,743,367"), "delta": "0:01:02.500000"},
        "__conda_node_image_copy": {"skipped": True, "changed": False},
        "__conda_node_switch": {"changed": True, "src": "anaconda3_linux.versions/c48a0b1e2f3d4a5b"},
    },
    "image-node": {
        "__conda_node_sync": {"skipped": True, "changed": False},
        "__conda_node_image_copy": {"changed": True, "stdout": STATS.format("45,861,950"), "delta": "0:00:03.250000"},
        "__conda_node_switch": {"changed": True, "src": "anaconda3_linux.versions/c48a0b1e2f3d4a5b"},
    },
    "idle-node": {  # on the golden copy's version already: nothing copied, no switch
        "__conda_node_sync": {"skipped": True, "changed": False},
        "__conda_node_image_copy": {"skipped": True, "changed": False},
        "__conda_node_switch": {"skipped": True, "changed": False},
    },
}


def _report(tmp_path: Path, nodes: dict) -> list[str]:
    inventory = {"all": {"hosts": {name: {"ansible_connection": "local"} for name in nodes}}}
    registered = {key: f"{{{{ __results[inventory_hostname]['{key}'] }}}}" for key in NODES["rsync-node"]}
    keep = {"content": "{{ __report.msg | to_json }}", "dest": str(tmp_path / "report.json"), "mode": "0644"}
    play = [{
        "hosts": "all",
        "gather_facts": False,
        "vars_files": [str(VARS)],
        "vars": {"__results": nodes},
        "tasks": [
            {"name": "What the role registered", "ansible.builtin.set_fact": registered},
            {"name": "Report", "ansible.builtin.debug": {"msg": "{{ __conda_node_batch_report }}"},
             "run_once": True, "register": "__report"},
            {"name": "Keep it", "ansible.builtin.copy": keep, "run_once": True},
        ],
    }]  # fmt: skip
    (tmp_path / "play.json").write_text(json.dumps(play))
    (tmp_path / "hosts.json").write_text(json.dumps(inventory))
    environ = dict(os.environ, ANSIBLE_HOME=str(BUILD / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
                   ANSIBLE_NOCOLOR="1")  # fmt: skip
    proc = subprocess.run(
        [str(PLAYBOOK), "-i", str(tmp_path / "hosts.json"), "-e", f"ansible_python_interpreter={sys.executable}",
         str(tmp_path / "play.json")],
        capture_output=True, text=True, env=environ, check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return json.loads((tmp_path / "report.json").read_text())


def test_one_line_per_node_that_switched(tmp_path: Path) -> None:
    assert _report(tmp_path, NODES) == [
        "rsync-node: version c48a0b1e2f3d4a5b (rsync), 6743367 bytes from the share in 62.5 s",
        "image-node: version c48a0b1e2f3d4a5b (image), 45861950 bytes from the share in 3.2 s",
    ]


def test_a_batch_that_moved_nothing_reports_nothing(tmp_path: Path) -> None:
    assert _report(tmp_path, {"idle-node": NODES["idle-node"]}) == []
