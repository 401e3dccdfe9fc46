# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared ``attributes`` documentation of the cpkgs.conda modules."""

from __future__ import annotations


class ModuleDocFragment:
    """``extends_documentation_fragment: cpkgs.conda.attributes`` (+ ``.facts`` / ``.info``)."""

    # Modules that change things.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return the changed status prediction without modifying the target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode) when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode with the same arguments, the second run says it changed nothing.
      - This assumes that the system controlled by the module has not been modified by anything else in between.
"""

    # Modules that only gather facts.
    FACTS = r"""
options: {}
attributes:
  check_mode:
    support: full
    description: Can run in check mode; it changes nothing in either mode.
  diff_mode:
    support: N/A
    description: Changes nothing, so there is no diff.
  facts:
    support: full
    description: Sets facts under C(ansible_facts).
  idempotent:
    support: full
    description: Changes nothing, so every run reports no change.
"""
