"""conda_node's report of a rollout batch (``__conda_node_batch_report`` in roles/conda_node/vars/main.yml): one line
per node of the batch that switched, with its new version, the bytes its copy moved (rsync's ``Total bytes sent``,
of the tree or of the image) and the copy's seconds; a node that did not switch has no line.

The role's own variables are loaded into a play on three local hosts (tests/roles/role_vars.py) whose results
are what the role's tasks register (the rsync copy's ``--stats`` output and time, the image copy's, the switch's
``src``; in check mode, rsync's ``--dry-run`` output and the image's stat on the share), so the template is
checked on every stage run without containers; the Molecule cluster scenario runs it for real."""

from __future__ import annotations

from pathlib import Path

from role_vars import render

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
    return render(tmp_path, "conda_node", nodes, "__conda_node_batch_report")


def test_one_line_per_node_that_switched(tmp_path: Path) -> None:
    assert _report(tmp_path, NODES) == [
        "rsync-node: version c48a0b1e2f3d4a5b (rsync), 6743367 bytes from the share in 62.5 s",
        "image-node: version c48a0b1e2f3d4a5b (image), 45861950 bytes from the share in 3.2 s",
    ]


def test_a_batch_that_moved_nothing_reports_nothing(tmp_path: Path) -> None:
    assert _report(tmp_path, {"idle-node": NODES["idle-node"]}) == []


# In check mode rsync runs with --dry-run: "Total bytes sent" is only the protocol's; the files it would copy are
# "Total transferred file size". The image method copies nothing; its image's stat on the share says its size.
DRY_RUN = "Total transferred file size: 6,699,504 bytes\nLiteral data: 0 bytes\nTotal bytes sent: 43,863\n"
CHECK_NODES = {
    "rsync-node": {
        "__conda_node_sync": {"changed": True, "stdout": DRY_RUN, "delta": "0:00:00.400000"},
        "__conda_node_image_would": {"skipped": True, "changed": False},
        "__conda_node_switch": {"changed": True, "src": "anaconda3_linux.versions/c48a0b1e2f3d4a5b"},
    },
    "image-node": {
        "__conda_node_sync": {"skipped": True, "changed": False},
        "__conda_node_image_would": {"changed": False, "stat": {"exists": True, "size": 45861950}},
        "__conda_node_switch": {"changed": True, "src": "anaconda3_linux.versions/c48a0b1e2f3d4a5b"},
    },
    "idle-node": NODES["idle-node"],
}


def test_check_mode_says_what_each_node_would_copy(tmp_path: Path) -> None:
    assert render(tmp_path, "conda_node", CHECK_NODES, "__conda_node_batch_report", check=True) == [
        "rsync-node: would switch to version c48a0b1e2f3d4a5b (rsync), 6699504 bytes to copy from the share",
        "image-node: would switch to version c48a0b1e2f3d4a5b (image), 45861950 bytes to copy from the share",
    ]
