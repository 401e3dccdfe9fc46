# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""conda_verify: recorded files the audit cannot read or skips."""

from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils import _verify
from ansible_collections.cpkgs.conda.plugins.module_utils._verify import audit_env, check_entry


def test_a_file_that_cannot_be_read_counts_as_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").write_bytes(b"abc")
    entry = {"path_type": "hardlink", "sha256": hashlib.sha256(b"abc").hexdigest(), "size_in_bytes": 3}
    assert check_entry(str(tmp_path), "data", entry, True, None) == ("ok", 3)

    def unreadable(path: str) -> str:
        raise OSError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(_verify, "sha256_file", unreadable)  # as for an account that may not read it
    assert check_entry(str(tmp_path), "data", entry, True, None) == ("changed", 3)


def _record(prefix: Path, paths: list[dict]) -> None:
    meta = prefix / "conda-meta"
    meta.mkdir(parents=True)
    record = {"name": "tool", "version": "1.0", "build": "0", "paths_data": {"paths": paths}}
    (meta / "tool-1.0-0.json").write_text(json.dumps(record))


@pytest.mark.parametrize("skipped", ["../outside", "share/skip"])
def test_paths_skipped_do_not_end_the_check_of_the_record(tmp_path: Path, skipped: str) -> None:
    _record(tmp_path, [{"_path": skipped}, {"_path": "share/gone"}, {"_path": "share/here", "size_in_bytes": 1}])
    (tmp_path / "share").mkdir()
    (tmp_path / "share" / "here").write_text("x")
    audit = audit_env("e1", str(tmp_path), exclude=("share/skip",))
    assert audit.damaged == {"tool-1.0-0": {"changed": [], "missing": ["share/gone"]}}
    assert audit.files == 2


def test_a_link_pointing_where_the_package_s_points_is_ok(tmp_path: Path) -> None:
    cache = tmp_path / "pkgs" / "tool-1.0-0"
    (cache / "bin").mkdir(parents=True)
    (cache / "bin" / "tool-link").symlink_to("tool")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool-link").symlink_to("tool")
    assert check_entry(str(tmp_path), "bin/tool-link", {"path_type": "softlink"}, True, str(cache)) == ("ok", 0)


def test_a_file_listed_in_files_alone_is_not_unexpected(tmp_path: Path) -> None:
    _record(tmp_path, [{"_path": "share/a", "size_in_bytes": 1}])
    record_path = tmp_path / "conda-meta" / "tool-1.0-0.json"
    record = json.loads(record_path.read_text())
    record["files"] = ["share/a", "share/b"]
    record_path.write_text(json.dumps(record))
    (tmp_path / "share").mkdir()
    (tmp_path / "share" / "a").write_text("x")
    (tmp_path / "share" / "b").write_text("y")
    (tmp_path / "share" / "c").write_text("z")
    assert audit_env("e1", str(tmp_path)).unexpected == ["share/c"]
