# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""conda_env's option checks at their edges."""

from __future__ import annotations

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils._conda_env import InputError, parse_umask


@pytest.mark.parametrize(("value", "mask"), [("0000", 0), ("0777", 0o777), ("22", 0o022), (27, 0o027)])
def test_umask_is_octal_from_0000_to_0777(value: object, mask: int) -> None:
    assert parse_umask(value) == mask


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "umask: must be between 0000 and 0777, got '-1'"),
        ("1000", "umask: must be between 0000 and 0777, got '1000'"),
        ("u=rwx", "umask: must be an octal number like '0022', got 'u=rwx'"),
        (None, "umask: must be an octal number like '0022', got None"),
    ],
)
def test_umask_outside_the_range_or_not_octal_is_named(value: object, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse_umask(value)
    assert str(info.value) == message
