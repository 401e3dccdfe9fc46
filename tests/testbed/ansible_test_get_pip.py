"""Offline stand-in for ansible-test's get-pip.py download.

ansible-test bootstraps pip in each venv it makes by downloading ``get-pip-<version>.py``; no such download
works on a machine without internet. Placed at ``$HOME/.ansible/test/cache/get_pip_24_2.py`` (by
scripts/test.sh) this script is used instead: it bootstraps pip with the standard library's ``ensurepip``
and then installs the packages ansible-test asks for from the configured package index.
"""

from __future__ import annotations

import subprocess
import sys

# Options get-pip.py understands that pip itself does not.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}


def main() -> int:
    """Bootstrap pip, then ``pip install`` the arguments ansible-test passed."""
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    subprocess.run([sys.executable, "-m", "ensurepip", "--default-pip"], check=True, stdout=subprocess.DEVNULL)
    return subprocess.run([sys.executable, "-m", "pip", "install", *args], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
