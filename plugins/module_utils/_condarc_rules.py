# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a ``.condarc`` key is, and conda's ``#!final`` marker: the rules every reader and writer of the
collection shares. Standard library only.
"""

from __future__ import annotations

import re

__all__ = ["FINAL_MARKER", "is_condarc_key"]

# conda's per-key marker: the whole comment on the key's line (``ParameterFlag.from_string``).
FINAL_MARKER = "#!final"

# A key YAML needs no quotes for: conda's keys and plugins' keys (``plugins.allowlist``) all are.
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def is_condarc_key(key: object) -> bool:
    """Whether ``key`` is a string usable as a ``.condarc`` key: a letter or ``_`` first, then letters,
    digits, ``_``, ``.`` and ``-``; no spaces or control characters (not even a trailing newline)."""
    return isinstance(key, str) and _KEY.fullmatch(key) is not None
