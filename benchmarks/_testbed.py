"""What the benchmarks share: where the test bed's build outputs are, and how to run Ansible on them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("CPKGS_BUILD", REPO / ".build"))
INSTALLER = BUILD / "installer" / "cpkgs-conda-standin-26.7.1-Linux-x86_64.sh"
CHANNEL = f"file://{BUILD / 'channel' / 'cpkgs-testbed'}"
BIN = Path(sys.executable).parent  # the venv's ansible, ansible-playbook


def ansible_env(**extra: str) -> dict:
    """The environment for ansible commands: this checkout's collections, nothing under ~/.ansible."""
    environ = dict(os.environ)
    environ.update(
        ANSIBLE_COLLECTIONS_PATH=str(BUILD / "collections"),
        ANSIBLE_HOME=str(BUILD / "ansible-home"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        **extra,
    )
    return environ
