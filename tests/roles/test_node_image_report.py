"""conda_node's report of the image it published (``__conda_node_image_report`` in roles/conda_node/vars/main.yml):
the image's name and bytes against the tree's uncompressed bytes, the files and hard links it holds and the
seconds mksquashfs took, read from mksquashfs's summary (``-no-progress`` without ``-quiet``) and the image's stat.

The summary is mksquashfs's own: made here from a small tree when mksquashfs is installed (stage ``molecule``'s
image mode needs it anyway), else the one of squashfs-tools 4.6 kept below."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from role_vars import render

# mksquashfs 4.6's summary of a tree of one 3,000,000-byte file, a copy of it and a hard link to it
SUMMARY = """Parallel mksquashfs: Using 2 processors
Creating 4.0 filesystem on i.sqfs, block size 131072.

Exportable Squashfs 4.0 filesystem, zstd compressed, data block size 131072
\tduplicates are removed
Filesystem size 2929.95 Kbytes (2.86 Mbytes)
\t50.00% of uncompressed filesystem size (5859.85 Kbytes)
Number of duplicate files found 1
Number of inodes 3
Number of files 2
Number of hard-links 1
"""
GOLDEN = "/nfs/cpkgs/golden/anaconda3_linux"


def _host(stdout: str, delta: str, size: int) -> dict:
    return {
        "__conda_node_mksquashfs": {"changed": True, "stdout": stdout, "delta": delta},
        "__conda_node_image_hash": {"stat": {"exists": True, "size": size}},
        "__conda_node_published_manifest": {"stat": {"exists": True, "checksum": "6f1c0d9e2b7a4c15" + "0" * 48}},
    }


def _report(tmp_path: Path, host: dict) -> str:
    return render(tmp_path, "conda_node", {"builder": host}, "__conda_node_image_report", {"conda_node_golden": GOLDEN})


def test_the_summary_of_mksquashfs_4_6(tmp_path: Path) -> None:
    report = _report(tmp_path, _host(SUMMARY, "0:01:02.500000", 3000264))
    assert report == (
        "anaconda3_linux.6f1c0d9e2b7a4c15.squashfs: 3000264 bytes (50.0 % of the tree's 6000486 bytes), "
        "2 files, 1 hard links kept, made in 62.5 s"
    )


def test_a_summary_it_cannot_read_still_names_the_image_and_its_bytes(tmp_path: Path) -> None:
    report = _report(tmp_path, _host("", "0:00:03.250000", 4096))
    assert report == "anaconda3_linux.6f1c0d9e2b7a4c15.squashfs: 4096 bytes, ? files, ? hard links kept, made in 3.2 s"


@pytest.mark.skipif(shutil.which("mksquashfs") is None, reason="no mksquashfs here (package squashfs-tools)")
def test_this_machines_mksquashfs(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    data = bytes(range(256)) * 4000  # 1,024,000 bytes
    (tree / "bin" / "a").write_bytes(data)
    (tree / "bin" / "b").write_bytes(data[::-1])
    (tree / "bin" / "c").hardlink_to(tree / "bin" / "a")
    image = tmp_path / "tree.squashfs"
    made = subprocess.run(
        ["mksquashfs", str(tree), str(image), "-noappend", "-no-progress", "-processors", "1"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    report = _report(tmp_path, _host(made.stdout, "0:00:01.000000", image.stat().st_size))
    assert report.startswith(f"anaconda3_linux.6f1c0d9e2b7a4c15.squashfs: {image.stat().st_size} bytes (")
    assert report.endswith(", 2 files, 1 hard links kept, made in 1.0 s"), report
