# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tree_manifest module's main(): totals, idempotence, check mode, drift found by state=verified, and the
errors that name the option."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from ansible_collections.cpkgs.conda.plugins.modules import tree_manifest

RunModule = Callable[[ModuleType, dict], dict]  # the run_module fixture (tests/unit/plugins/conftest.py)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """bin/tool (10 bytes), lib/a and lib/b hard-linked (100 bytes each), a symlink, an empty dir, pkgs/cache."""
    root = tmp_path / "tree"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_bytes(b"t" * 10)
    (root / "lib").mkdir()
    (root / "lib" / "a").write_bytes(b"a" * 100)
    os.link(root / "lib" / "a", root / "lib" / "b")
    (root / "lib" / "link").symlink_to("a")
    (root / "empty").mkdir()
    (root / "pkgs").mkdir()
    (root / "pkgs" / "cache.conda").write_bytes(b"c" * 1000)
    return root


def test_present_writes_the_manifest_with_totals_then_changes_nothing(
    tree: Path, tmp_path: Path, run_module: RunModule
) -> None:
    manifest = tmp_path / "m.json"
    result = run_module(tree_manifest, {"path": str(tree), "manifest": str(manifest), "exclude": ["pkgs/*"]})
    assert result["changed"] is True
    # bin, bin/tool, empty, lib, lib/a, lib/b, lib/link, pkgs
    assert (result["files"], result["bytes"], result["unique_bytes"], result["link_groups"]) == (8, 210, 110, 1)
    written = json.loads(manifest.read_text())
    assert written["entries"]["lib/b"]["link"] == "lib/a"
    again = run_module(tree_manifest, {"path": str(tree), "manifest": str(manifest), "exclude": ["pkgs/*"]})
    assert again["changed"] is False
    assert again["files"] == 8


def test_check_mode_writes_no_manifest(tree: Path, tmp_path: Path, run_module: RunModule) -> None:
    manifest = tmp_path / "m.json"
    result = run_module(tree_manifest, {"path": str(tree), "manifest": str(manifest), "_ansible_check_mode": True})
    assert result["changed"] is True
    assert result["files"] == 9
    assert not manifest.exists()


def test_verified_reports_each_kind_of_drift(tree: Path, tmp_path: Path, run_module: RunModule) -> None:
    manifest = tmp_path / "m.json"
    run_module(tree_manifest, {"path": str(tree), "manifest": str(manifest), "exclude": ["pkgs/*"]})
    verify = {"path": str(tree), "manifest": str(manifest), "state": "verified"}
    clean = run_module(tree_manifest, verify)
    assert (clean["changed"], clean["in_sync"]) == (False, True)
    assert clean["drift"] == {"missing": [], "extra": [], "changed": []}
    assert (clean["files"], clean["unique_bytes"]) == (8, 110)  # the manifest's exclude applies
    (tree / "bin" / "tool").unlink()
    (tree / "bin" / "new").write_text("x")
    data = (tree / "lib" / "b").read_bytes()
    (tree / "lib" / "b").unlink()
    (tree / "lib" / "b").write_bytes(data)  # the same bytes, no longer a hard link of lib/a
    drifted = run_module(tree_manifest, verify)
    assert drifted["in_sync"] is False
    assert drifted["drift"] == {"missing": ["bin/tool"], "extra": ["bin/new"], "changed": ["lib/b"]}
    assert drifted["link_groups"] == 0
    everything = run_module(tree_manifest, dict(verify, exclude=[]))
    assert "pkgs/cache.conda" in everything["drift"]["extra"]


def test_a_version_1_manifest_does_not_check_hard_links(tree: Path, tmp_path: Path, run_module: RunModule) -> None:
    manifest = tmp_path / "m.json"
    run_module(tree_manifest, {"path": str(tree), "manifest": str(manifest)})
    old = json.loads(manifest.read_text())
    old["version"] = 1
    for entry in old["entries"].values():
        entry.pop("link", None)
    manifest.write_text(json.dumps(old))
    verified = run_module(tree_manifest, {"path": str(tree), "manifest": str(manifest), "state": "verified"})
    assert verified["in_sync"] is True


def test_verified_without_checksums_misses_a_same_size_edit(tree: Path, tmp_path: Path, run_module: RunModule) -> None:
    manifest = tmp_path / "m.json"
    run_module(tree_manifest, {"path": str(tree), "manifest": str(manifest)})
    tool = tree / "bin" / "tool"
    stamp = tool.stat()
    tool.write_bytes(b"T" * 10)
    os.utime(tool, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    verify = {"path": str(tree), "manifest": str(manifest), "state": "verified"}
    assert run_module(tree_manifest, verify)["drift"]["changed"] == ["bin/tool"]
    assert run_module(tree_manifest, dict(verify, checksums=False))["in_sync"] is True


def test_errors_name_the_option(tree: Path, tmp_path: Path, run_module: RunModule) -> None:
    missing = tmp_path / "none.json"
    result = run_module(tree_manifest, {"path": str(tmp_path / "nodir"), "manifest": str(missing)})
    assert (result.get("failed"), result["msg"]) == (True, f"path: {str(tmp_path / 'nodir')!r} is not a directory")
    result = run_module(tree_manifest, {"path": str(tree), "manifest": str(missing), "state": "verified"})
    assert (result.get("failed"), result["msg"]) == (
        True,
        f"manifest: cannot read {missing}: No such file or directory",
    )
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe")
    result = run_module(tree_manifest, {"path": str(tree), "manifest": str(binary), "state": "verified"})
    assert result.get("failed") is True
    assert result["msg"] == f"manifest: {binary}: not a tree manifest (not UTF-8: invalid start byte)"
    assert binary.read_bytes() == b"\xff\xfe"
