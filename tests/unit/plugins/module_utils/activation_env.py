# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the activation tests share: a conda environment made by hand, and ``run_command`` for a plain argv."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def run_argv(argv: list[str]) -> tuple[int, str, str]:
    """What ``AnsibleModule.run_command`` returns for an argv list."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout, done.stderr


def make_env(
    root: Path,
    name: str = "isis4.3.0",
    env_vars: dict | None = None,
    scripts: dict | None = None,
    *,
    condabin: bool = False,
) -> str:
    """An environment ``ROOT/envs/NAME``: ``env_vars`` in its ``conda-meta/state`` (none: no state file),
    ``scripts`` as ``{path under etc/conda: text}``, and ``ROOT/condabin`` when ``condabin``. Returns its prefix."""
    prefix = root / "envs" / name
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "bin").mkdir()
    if condabin:
        (root / "condabin").mkdir(exist_ok=True)
    if env_vars is not None:
        (prefix / "conda-meta" / "state").write_text(json.dumps({"env_vars": env_vars}))
    for rel, text in (scripts or {}).items():
        path = prefix / "etc" / "conda" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return str(prefix)
