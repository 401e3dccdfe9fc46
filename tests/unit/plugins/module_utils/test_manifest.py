# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils._manifest import compare, dump, load, scan


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "golden"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_text("#!/bin/sh\necho hi\n")
    (root / "bin" / "tool").chmod(0o755)
    (root / "envs" / "e1" / "conda-meta").mkdir(parents=True)
    (root / "envs" / "e1" / "conda-meta" / "a-1-0.json").write_text("{}")
    (root / "pkgs").mkdir()
    (root / "pkgs" / "cache.conda").write_bytes(b"x" * 100)
    (root / "bin" / "tool-link").symlink_to("tool")
    return root


def test_scan_records_files_dirs_links_and_excludes(tree: Path) -> None:
    entries = scan(str(tree), ["pkgs", "pkgs/*"])
    assert entries["bin/tool"] == {
        "type": "file",
        "size": 18,
        "mode": 0o755,
        "sha256": hashlib.sha256(b"#!/bin/sh\necho hi\n").hexdigest(),
    }
    assert entries["bin/tool-link"] == {"type": "link", "target": "tool"}
    assert entries["envs/e1/conda-meta"]["type"] == "dir"
    assert not any(path.startswith("pkgs") for path in entries)


def test_a_copy_is_in_sync_and_dump_is_stable(tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "node"
    shutil.copytree(tree, copy, symlinks=True)
    expected = scan(str(tree))
    assert compare(expected, scan(str(copy))) == {"missing": [], "extra": [], "changed": []}
    assert dump(expected, []) == dump(scan(str(tree)), [])
    assert load(dump(expected, ["pkgs/*"]))["exclude"] == ["pkgs/*"]


@pytest.mark.parametrize(
    ("damage", "kind", "path"),
    [
        (lambda c: (c / "bin" / "tool").write_text("#!/bin/sh\necho HI\n"), "changed", "bin/tool"),  # same size
        (lambda c: (c / "bin" / "tool").chmod(0o777), "changed", "bin/tool"),
        (lambda c: (c / "bin" / "tool").unlink(), "missing", "bin/tool"),
        (lambda c: (c / "bin" / "extra").write_text("x"), "extra", "bin/extra"),
        (
            lambda c: ((c / "bin" / "tool-link").unlink(), (c / "bin" / "tool-link").symlink_to("other")),
            "changed",
            "bin/tool-link",
        ),
        (lambda c: shutil.rmtree(c / "envs" / "e1" / "conda-meta"), "missing", "envs/e1/conda-meta"),
    ],
)
def test_drift_is_found(tree: Path, tmp_path: Path, damage, kind: str, path: str) -> None:
    copy = tmp_path / "node"
    shutil.copytree(tree, copy, symlinks=True)
    damage(copy)
    drift = compare(scan(str(tree)), scan(str(copy)))
    assert path in drift[kind]


def test_without_checksums_same_size_edits_go_unseen(tree: Path, tmp_path: Path) -> None:
    copy = tmp_path / "node"
    shutil.copytree(tree, copy, symlinks=True)
    (copy / "bin" / "tool").write_text("#!/bin/sh\necho HI\n")
    assert compare(scan(str(tree), checksums=False), scan(str(copy), checksums=False))["changed"] == []
    assert compare(scan(str(tree)), scan(str(copy)))["changed"] == ["bin/tool"]


@pytest.mark.parametrize("text", ["not json", "[]", '{"version": 99, "entries": {}}'])
def test_load_refuses_what_is_not_a_manifest(text: str) -> None:
    with pytest.raises(ValueError, match=r"m\.json: not a"):
        load(text, "m.json")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"bin/tool": "file"}, "m.json: entry 'bin/tool' must be a mapping, got 'file'"),
        ({"bin": {"type": "dir"}, "bin/x": ["file", 3]}, "m.json: entry 'bin/x' must be a mapping, got ['file', 3]"),
        ({"bin/tool": None}, "m.json: entry 'bin/tool' must be a mapping, got None"),
    ],
)
def test_load_refuses_entries_that_are_not_mappings(entries: dict, message: str) -> None:
    text = json.dumps({"version": 1, "exclude": [], "entries": entries})
    with pytest.raises(ValueError) as info:
        load(text, "m.json")
    assert str(info.value) == message


@pytest.mark.parametrize("exclude", ["pkgs/*", "*", [1], {"pkgs": 1}])
def test_load_refuses_an_exclude_that_is_not_a_list_of_strings(exclude: object) -> None:
    text = json.dumps({"version": 1, "exclude": exclude, "entries": {}})
    with pytest.raises(ValueError) as info:
        load(text, "m.json")
    assert str(info.value) == f"m.json: exclude must be a list of patterns, got {exclude!r}"


def test_load_takes_a_manifest_without_exclude() -> None:
    assert load(json.dumps({"version": 1, "entries": {}}), "m.json")["exclude"] == []


def test_scan_refuses_a_string_of_patterns(tree: Path) -> None:
    """A string would be taken character by character: 'pkgs/*' holds '*', which leaves out everything."""
    with pytest.raises(TypeError) as info:
        scan(str(tree), "pkgs/*")  # type: ignore[arg-type]
    assert "exclude must be a list of patterns, got 'pkgs/*'" in str(info.value)
