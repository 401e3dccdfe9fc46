# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""When one look at a host's trees (``cpkgs.conda.conda_facts``) can stand for the next in the same run.

The roles' preflights each look at the trees; in one ``site.yml`` run the same host is looked at by
``conda_tree``, ``conda_envs`` and ``conda_client`` in turn, with the same options and as the same account. A
preflight opts in (task variable ``__cpkgs_conda_facts_reuse: true``) and registers its result as
``__cpkgs_conda_facts``; the next opted-in look reuses that result, without a module run, when all of these hold:

- it was made in this run (registered variables live for one ``ansible-playbook`` run, never in a fact cache);
- with the same module options (the play's ``module_defaults`` of the action group are in them), on the same
  host (not delegated), as the same remote user, become method and become user;
- ``ansible_facts['conda']`` is still what it reported: any look since, elsewhere (``conda_tree``'s look after its
  installer, ``conda_node``'s at its node-local tree), or a ``meta: clear_facts``, ends the reuse;
- no role dropped it after a change of its own (``conda_tree`` after a new system ``.condarc``, group write access
  or fixed permissions, ``conda_envs`` after building an environment: they set ``__cpkgs_conda_facts`` to ``{}``).

A preflight whose look decides what is installed or removed (``conda_tree``'s) sets the variable to ``record``: it
always looks, and its look is recorded for the next ones.

A role used alone, or in a play of its own with other options, looks again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

STASH = "__cpkgs_conda_facts"  # the variable the opted-in looks register their result as
OPT_IN = "__cpkgs_conda_facts_reuse"  # the task variable that allows a look to reuse the last one
RECORD = "record"  # OPT_IN's value for a look that never reuses one but is recorded for the next
KEY = "cpkgs_conda_facts_key"  # the result's record of what it was looked at with
# Options that add a result of their own beside the facts but do not change them (conda_tree's look also reads
# the system .condarc for its condarc task): a look with them and one without are the same look.
NOT_IN_KEY = ("system_condarc",)


def _canonical(value: Any) -> str:
    """One text for equal values, whatever container types the variable manager hands over."""
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def look_key(args: Mapping, host: str, *, remote_user: str | None = None, become: bool = False,
             become_method: str | None = None, become_user: str | None = None) -> str:  # fmt: skip
    """What a look depends on besides the host's files: its options, where it runs and as whom (a delegated look
    is never reused: the action plugin gives it no key)."""
    # Only its equality matters: the options, the host, the account, and the become method and user when become is on.
    who = [host, remote_user, bool(become), become_method if become else None, become_user if become else None]
    return _canonical([{name: value for name, value in args.items() if name not in NOT_IN_KEY}, who])


def reusable(stash: Any, key: str, current_facts: Any) -> dict | None:
    """The facts of the last opted-in look when they may stand for a new look with ``key``, else None."""
    if not isinstance(stash, Mapping) or stash.get(KEY) != key or stash.get("failed") or stash.get("skipped"):
        return None
    facts = stash.get("ansible_facts")
    if not isinstance(facts, Mapping) or not isinstance(facts.get("conda"), Mapping):
        return None
    if not isinstance(current_facts, Mapping) or _canonical(facts["conda"]) != _canonical(current_facts.get("conda")):
        return None
    return json.loads(_canonical(facts["conda"]))
