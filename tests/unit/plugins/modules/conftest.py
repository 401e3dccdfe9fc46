# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures of the tests of modules' main(): the process umask a module sets is put back after each test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _umask() -> Iterator[None]:
    """conda_env and conda_verify set the umask conda runs with: undo it, so tests do not depend on their order."""
    mask = os.umask(0o022)
    os.umask(mask)
    yield
    os.umask(mask)
