# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""conda_verify: recorded files the audit cannot read, and links compared with the package cache's."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils import _verify
from ansible_collections.cpkgs.conda.plugins.module_utils._verify import check_entry


def test_a_file_that_cannot_be_read_counts_as_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").write_bytes(b"abc")
    entry = {"path_type": "hardlink", "sha256": hashlib.sha256(b"abc").hexdigest(), "size_in_bytes": 3}
    assert check_entry(str(tmp_path), "data", entry, True, None) == ("ok", 3)

    def unreadable(path: str) -> str:
        raise OSError(errno.EACCES, "Permission denied", path)

    monkeypatch.setattr(_verify, "sha256_file", unreadable)  # as for an account that may not read it
    assert check_entry(str(tmp_path), "data", entry, True, None) == ("changed", 3)
