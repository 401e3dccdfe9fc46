# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tree_manifest module's main(): bad manifests, exclude as a string, manifest writes."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from ansible_collections.cpkgs.conda.plugins.modules import tree_manifest

RunModule = Callable[[ModuleType, dict], dict]  # the run_module fixture (tests/unit/plugins/conftest.py)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_text("#!/bin/sh\n")
    (root / "pkgs").mkdir()
    (root / "pkgs" / "cache.conda").write_text("cache")
    return root


def _manifest(path: Path, **data: object) -> Path:
    path.write_text(json.dumps(dict({"version": 1, "exclude": [], "entries": {}}, **data)))
    return path


def test_entries_that_are_not_mappings_fail_naming_file_and_entry(
    tree: Path, tmp_path: Path, run_module: RunModule
) -> None:
    manifest = _manifest(tmp_path / "m.json", entries={"bin": {"type": "dir", "mode": 0o755}, "bin/tool": "file"})
    result = run_module(tree_manifest, {"path": str(tree), "manifest": str(manifest), "state": "verified"})
    assert result.get("failed") is True
    assert result["msg"] == f"manifest: {manifest}: entry 'bin/tool' must be a mapping, got 'file'"


def test_a_string_exclude_in_the_manifest_is_refused(tree: Path, tmp_path: Path, run_module: RunModule) -> None:
    """Taken character by character, 'pkgs/*' holds '*': everything was left out and the copy was 'in sync'."""
    manifest = _manifest(tmp_path / "m.json", exclude="pkgs/*")
    result = run_module(tree_manifest, {"path": str(tree), "manifest": str(manifest), "state": "verified"})
    assert result.get("failed") is True
    assert result["msg"] == f"manifest: {manifest}: exclude must be a list of patterns, got 'pkgs/*'"
    assert "in_sync" not in result


def test_a_string_exclude_option_is_one_pattern(tree: Path, tmp_path: Path, run_module: RunModule) -> None:
    manifest = tmp_path / "m.json"
    result = run_module(tree_manifest, {"path": str(tree), "manifest": str(manifest), "exclude": "pkgs/*"})
    assert result["changed"] is True
    written = json.loads(manifest.read_text())
    assert written["exclude"] == ["pkgs/*"]
    assert sorted(written["entries"]) == ["bin", "bin/tool", "pkgs"]
    verified = run_module(
        tree_manifest, {"path": str(tree), "manifest": str(manifest), "state": "verified", "exclude": "pkgs/*"}
    )
    assert verified["in_sync"] is True
    assert verified["files"] == 3


def test_new_manifest_gets_0644_minus_umask_and_an_existing_one_keeps_its_mode(
    tree: Path, tmp_path: Path, run_module: RunModule
) -> None:
    manifest = tmp_path / "m.json"
    old = os.umask(0o027)
    try:
        run_module(tree_manifest, {"path": str(tree), "manifest": str(manifest)})
    finally:
        os.umask(old)
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o640
    manifest.chmod(0o604)
    (tree / "bin" / "new").write_text("x")
    assert run_module(tree_manifest, {"path": str(tree), "manifest": str(manifest)})["changed"] is True
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o604
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_unwritable_manifest_directory_names_the_manifest(tree: Path, tmp_path: Path, run_module: RunModule) -> None:
    missing = tmp_path / "nope" / "m.json"
    result = run_module(tree_manifest, {"path": str(tree), "manifest": str(missing)})
    assert result.get("failed") is True
    assert result["msg"] == f"manifest: cannot write {missing}: directory {missing.parent} does not exist"


@contextlib.contextmanager
def small_tmpfs() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="cpkgs-manifest-", dir="/tmp"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(base)], check=False)
    if mounted.returncode != 0:
        base.rmdir()
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield base
    finally:
        subprocess.run(["umount", str(base)], check=True)
        base.rmdir()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_full_disk_names_the_manifest_and_leaves_nothing(tree: Path, tmp_path: Path, run_module: RunModule) -> None:
    for index in range(2000):  # a manifest bigger than the 64k file system
        (tree / "bin" / f"file-{index:04d}").write_text("")
    with small_tmpfs() as disk:
        manifest = disk / "m.json"
        result = run_module(tree_manifest, {"path": str(tree), "manifest": str(manifest), "checksums": False})
        assert result.get("failed") is True
        assert result["msg"] == f"manifest: cannot write {manifest}: No space left on device"
        assert list(disk.iterdir()) == []
