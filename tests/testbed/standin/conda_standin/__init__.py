"""The cpkgs test-bed conda stand-in: a small conda-compatible CLI on py-rattler.

It is a test fixture (a "stand-in"), not conda. It implements the subset of conda's command line that the
cpkgs.conda collection calls, with the JSON shapes of real conda 26.7.1 (see ``tests/testbed/contract/``).
"""

from __future__ import annotations

CONDA_VERSION = "26.7.1"
RATTLER_VERSION = "0.28.0"
STANDIN_TAG = "cpkgs-testbed-standin"

__all__ = ["CONDA_VERSION", "RATTLER_VERSION", "STANDIN_TAG"]
