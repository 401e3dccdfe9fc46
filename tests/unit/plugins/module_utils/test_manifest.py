# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils._manifest import (
    compare,
    dump,
    link_groups,
    load,
    scan,
    unique_bytes,
)


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
        "mtime": int((tree / "bin" / "tool").stat().st_mtime),
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
    assert load(dump(expected, ["pkgs/*"]), "m.json")["exclude"] == ["pkgs/*"]


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
    before = (copy / "bin" / "tool").stat()
    (copy / "bin" / "tool").write_text("#!/bin/sh\necho HI\n")
    # the same size and time (a silent corruption); without this the test failed when a second ticked over
    os.utime(copy / "bin" / "tool", ns=(before.st_atime_ns, before.st_mtime_ns))
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


@pytest.fixture
def linked(tree: Path) -> Path:
    """The tree with a package's file linked into two envs and the package cache (as conda links them)."""
    (tree / "pkgs" / "lib.so").write_bytes(b"L" * 4096)
    for env in ("e1", "e2"):
        (tree / "envs" / env / "lib").mkdir(parents=True)
        os.link(tree / "pkgs" / "lib.so", tree / "envs" / env / "lib" / "lib.so")
    os.link(tree / "bin" / "tool", tree / "bin" / "tool2")
    return tree


def test_link_groups_name_their_leader(linked: Path) -> None:
    """Later members point at the first path of their group; paths left out (pkgs/*) are not members."""
    entries = scan(str(linked), ["pkgs/*"])
    assert link_groups(entries) == {
        "bin/tool": ["bin/tool", "bin/tool2"],
        "envs/e1/lib/lib.so": ["envs/e1/lib/lib.so", "envs/e2/lib/lib.so"],
    }
    assert "link" not in entries["envs/e1/lib/lib.so"]
    assert entries["envs/e2/lib/lib.so"]["link"] == "envs/e1/lib/lib.so"
    assert entries["envs/e2/lib/lib.so"]["sha256"] == entries["envs/e1/lib/lib.so"]["sha256"]
    total = sum(entry.get("size", 0) for entry in entries.values())
    assert unique_bytes(entries) == total - 4096 - 18


def _rsync(src: Path, dest: Path, *options: str) -> None:
    subprocess.run(["rsync", "-a", *options, f"{src}/", f"{dest}/"], check=True)


@pytest.mark.skipif(shutil.which("rsync") is None, reason="needs rsync")
def test_a_copy_that_keeps_links_is_in_sync_one_that_loses_them_is_not(linked: Path, tmp_path: Path) -> None:
    """rsync -H keeps the groups (same paths share an inode on both sides); rsync -a alone breaks them."""
    expected = scan(str(linked), ["pkgs/*"])
    kept, lost = tmp_path / "kept", tmp_path / "lost"
    _rsync(linked, kept, "-H", "--exclude=pkgs/*")
    _rsync(linked, lost, "--exclude=pkgs/*")
    assert compare(expected, scan(str(kept), ["pkgs/*"])) == {"missing": [], "extra": [], "changed": []}
    assert link_groups(scan(str(kept), ["pkgs/*"])) == link_groups(expected)
    e1, e2 = (kept / "envs" / env / "lib" / "lib.so" for env in ("e1", "e2"))
    assert e1.stat().st_ino == e2.stat().st_ino
    drift = compare(expected, scan(str(lost), ["pkgs/*"]))
    assert drift == {"missing": [], "extra": [], "changed": ["bin/tool2", "envs/e2/lib/lib.so"]}


def test_a_link_the_tree_does_not_have_is_drift(linked: Path, tmp_path: Path) -> None:
    """Two files linked on the copy that are separate in the tree: the later one is changed."""
    copy = tmp_path / "node"
    shutil.copytree(linked, copy, symlinks=True)  # copies each path: no links at all
    (copy / "bin" / "tool2").unlink()
    (copy / "envs" / "e2" / "lib" / "lib.so").unlink()
    os.link(copy / "envs" / "e1" / "lib" / "lib.so", copy / "envs" / "e2" / "lib" / "lib.so")
    os.link(copy / "bin" / "tool", copy / "bin" / "tool2")
    (copy / "envs" / "e1" / "conda-meta" / "b.json").write_text("{}")
    os.link(copy / "envs" / "e1" / "conda-meta" / "a-1-0.json", copy / "envs" / "e1" / "conda-meta" / "c.json")
    expected = scan(str(linked), ["pkgs/*"])
    expected["envs/e1/conda-meta/c.json"] = dict(expected["envs/e1/conda-meta/a-1-0.json"])
    assert compare(expected, scan(str(copy), ["pkgs/*"]))["changed"] == ["envs/e1/conda-meta/c.json"]


def test_a_version_1_manifest_is_read_and_links_are_not_compared(linked: Path, tmp_path: Path) -> None:
    """Version 1 entries say nothing of links: a copy with its links is in sync only if links are not compared."""
    entries = {
        path: {key: value for key, value in entry.items() if key not in ("link", "mtime")}
        for path, entry in scan(str(linked), ["pkgs/*"]).items()
    }
    data = load(json.dumps({"version": 1, "exclude": ["pkgs/*"], "entries": entries}), "m.json")
    actual = scan(str(linked), ["pkgs/*"])
    assert compare(data["entries"], actual, links=False)["changed"] == []
    assert compare(data["entries"], actual)["changed"] == ["bin/tool2", "envs/e2/lib/lib.so"]


def test_a_touched_file_is_drift_without_checksums(tree: Path, tmp_path: Path) -> None:
    """The routine check reads no contents: a file whose time changed (same size) is found by its mtime."""
    copy = tmp_path / "node"
    shutil.copytree(tree, copy, symlinks=True)
    info = (copy / "bin" / "tool").stat()
    os.utime(copy / "bin" / "tool", (info.st_atime, info.st_mtime + 60))
    drift = compare(scan(str(tree), checksums=False), scan(str(copy), checksums=False))
    assert drift["changed"] == ["bin/tool"]
