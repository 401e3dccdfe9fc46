# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``cpkgs.conda.conda_facts``: runs the module, or reuses this run's last identical look.

Without the task variable ``__cpkgs_conda_facts_reuse`` it is the plain module run (as the ``normal`` action).
With it true (the roles' preflights set it), the last opted-in look (registered as ``__cpkgs_conda_facts``) stands
for this one when it may (plugins/plugin_utils/_facts_reuse.py says when); the result then says ``reused: true``.
With it ``record`` (conda_tree's preflight: its look decides what is installed), the module always runs and its
result is recorded for the next opted-in look.

A role's checks of its own inputs ride on its look (internal option ``_refuse``, one task instead of two): a
non-empty list of messages fails the task with them, before any look, and no module runs; an empty one is the look
itself. The option never reaches the module and does not count in what makes two looks the same.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.plugins.action.normal import ActionModule as NormalAction

from ansible_collections.cpkgs.conda.plugins.plugin_utils._facts_reuse import (
    KEY,
    OPT_IN,
    RECORD,
    STASH,
    look_key,
    reusable,
)

REFUSE = "_refuse"  # the internal option: the role's refusals of its inputs (a list of messages)


class ActionModule(NormalAction):
    """The conda_facts module, skipped when this run already looked with the same options as the same account."""

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        if REFUSE in self._task.args:
            refusals = self._task.args.pop(REFUSE)
            if not isinstance(refusals, list) or not all(isinstance(item, str) for item in refusals):
                raise AnsibleActionFail(f"{REFUSE}: a list of messages (the role's refusals), got {refusals!r}")
            if refusals:
                raise AnsibleActionFail(" ".join(refusals))
        key = None
        record_only = task_vars.get(OPT_IN) == RECORD
        opted_in = record_only or boolean(task_vars.get(OPT_IN, False), strict=False)
        if opted_in and not self._task.async_val and not self._task.delegate_to:
            context = self._play_context
            key = look_key(self._task.args, str(task_vars.get("inventory_hostname", "")),
                           remote_user=context.remote_user, become=context.become,
                           become_method=context.become_method, become_user=context.become_user)  # fmt: skip
            facts = None if record_only else reusable(task_vars.get(STASH), key, task_vars.get("ansible_facts"))
            if facts is not None:
                result = ActionBase.run(self, tmp, task_vars)
                result.update({"changed": False, "ansible_facts": {"conda": facts}, KEY: key, "reused": True})
                return result
        result = super().run(tmp, task_vars)
        if key is not None and not result.get("failed"):
            result.update({KEY: key, "reused": False})
        return result
