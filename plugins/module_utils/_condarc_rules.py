# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a ``.condarc`` key is, conda's ``#!final`` marker, and who owns an environment's ``.condarc``: the
rules every reader and writer of the collection shares. Standard library only.
"""

from __future__ import annotations

import re

__all__ = ["ENV_CONDARC_HEADER", "FINAL_MARKER", "is_condarc_key", "is_final_comment", "written_by_conda_env"]

# conda's per-key marker: the whole comment on the key's line (``ParameterFlag.from_string``).
FINAL_MARKER = "#!final"


def is_final_comment(comment: str) -> bool:
    """conda's rule (``ParameterFlag.from_string``): the whole comment, stripped of ``#`` and ``!``, is ``final``
    (the reader and the editor read marks by it)."""
    return comment.strip().strip("!#") == "final"


# A key YAML needs no quotes for: conda's keys and plugins' keys (``plugins.allowlist``) all are.
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def is_condarc_key(key: object) -> bool:
    """Whether ``key`` is a string usable as a ``.condarc`` key: a letter or ``_`` first, then letters,
    digits, ``_``, ``.`` and ``-``; no spaces or control characters (not even a trailing newline)."""
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


# One owner per file. conda_env's ``condarc`` option writes an environment's ``PREFIX/.condarc`` whole, with this
# first line; the condarc module edits keys of any other file and refuses a file that starts with it, and
# conda_env refuses to overwrite a file with keys that does not (one would undo the other at every run).
ENV_CONDARC_HEADER = "# Managed by cpkgs.conda (conda_env): this file is rewritten from the inventory.\n"


def written_by_conda_env(text: str | None) -> bool:
    """Whether a ``.condarc``'s text is conda_env's own (its first line is :data:`ENV_CONDARC_HEADER`)."""
    return bool(text) and text.split("\n", 1)[0] == ENV_CONDARC_HEADER.rstrip("\n")
