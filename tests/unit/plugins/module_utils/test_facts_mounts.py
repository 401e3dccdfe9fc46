# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""conda_facts: the mount table lines it reads at the edge of what a line needs."""

from __future__ import annotations

from ansible_collections.cpkgs.conda.plugins.module_utils._facts import parse_mountinfo


def test_a_mountinfo_line_needs_the_mount_point_field_and_no_more() -> None:
    text = "43 22 0:38 / /mnt - ext4 /dev/x rw\n44 22 0:39 /mnt2 - ext4 /dev/y rw\n"  # 5 fields, then 4
    assert parse_mountinfo(text) == [("/mnt", "ext4")]
