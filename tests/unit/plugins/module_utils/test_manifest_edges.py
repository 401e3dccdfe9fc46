# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tree manifest at its edges: what is left out does not hide its neighbours, a manifest without checksums
still sees a size change, and the manifest's text does not depend on the order entries were found in."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ansible_collections.cpkgs.conda.plugins.module_utils._manifest import compare, dump, load, scan


def test_what_is_left_out_does_not_hide_the_names_after_it(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "a-cache").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a-cache.tmp").write_text("")
    (root / "c.txt").write_text("")
    os.mkfifo(root / "b" / "0-fifo")  # neither a file, a directory nor a link: not in the manifest
    (root / "b" / "1.txt").write_text("")
    assert sorted(scan(str(root), ["a-*"], checksums=False)) == ["b", "b/1.txt", "c.txt"]


def test_a_socket_is_skipped_and_its_neighbours_are_listed(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(root / "a.sock"))
        (root / "b.txt").write_text("x")
        assert sorted(scan(str(root))) == ["b.txt"]


def test_a_size_change_is_seen_without_checksums_or_mtimes() -> None:
    """A version 1 manifest, or a scan without checksums, has only type, size and mode to compare."""
    want = {"lib/a.so": {"type": "file", "size": 10, "mode": 0o644}}
    have = {"lib/a.so": {"type": "file", "size": 11, "mode": 0o644}}
    assert compare(want, have, links=False) == {"missing": [], "extra": [], "changed": ["lib/a.so"]}
    assert compare(want, want, links=False) == {"missing": [], "extra": [], "changed": []}


def test_the_manifest_text_does_not_depend_on_the_order_entries_were_found_in() -> None:
    one = {"b": {"type": "dir", "mode": 0o755}, "a": {"type": "file", "size": 1, "mode": 0o644}}
    other = {"a": {"mode": 0o644, "size": 1, "type": "file"}, "b": {"mode": 0o755, "type": "dir"}}
    assert dump(one, ["pkgs/*"]) == dump(other, ["pkgs/*"])
    assert load(dump(one, ["pkgs/*"]), "m.json")["entries"] == other


def test_the_manifest_text_has_one_value_per_line() -> None:
    """So that a diff of two manifests names the entries and the keys that differ."""
    text = dump({"bin/tool": {"type": "file", "size": 18, "mode": 0o755}}, [])
    lines = text.splitlines()
    assert '"bin/tool": {' in lines
    assert '"size": 18,' in lines
    assert text.endswith("}\n")


def test_a_directory_whose_mode_changed_is_changed(tmp_path: Path) -> None:
    for name in ("golden", "copy"):
        (tmp_path / name / "envs").mkdir(parents=True)
        (tmp_path / name / "envs").chmod(0o755)
    (tmp_path / "copy" / "envs").chmod(0o700)
    golden, copy = scan(str(tmp_path / "golden")), scan(str(tmp_path / "copy"))
    assert compare(golden, copy) == {"missing": [], "extra": [], "changed": ["envs"]}
