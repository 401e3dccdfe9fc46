# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``cpkgs.conda.conda_env``: a plan is answered by the payload of the run's look at the tree.

A task with ``plan: true`` reads files only (no conda, no lock, no writes), as ``cpkgs.conda.conda_facts`` does.
Its parameters go, unchanged, to that module's payload (internal option ``_plan``), which checks them against
conda_env's own argument spec and answers with the same code (plugins/module_utils/_env_plan.py). A run that looked
at the tree has built that payload already, so the plan costs no second build of a module on the controller
(about as much as the plan's run on the host; benchmarks/site_noop.py). The task runs on the host as it would
(same account, become, check mode); only the payload differs.

Every other task (and a plan run as an async job) runs the module itself, as the ``normal`` action does.
"""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.plugins.action.normal import ActionModule as NormalAction
from ansible.utils.vars import merge_hash

PLAN_PAYLOAD = "cpkgs.conda.conda_facts"


class ActionModule(NormalAction):
    """The conda_env module; its plans answered by conda_facts' payload."""

    def run(self, tmp=None, task_vars=None):
        if self._task.async_val or not self._asks_plan():
            return super().run(tmp, task_vars)
        result = ActionBase.run(self, tmp, task_vars)
        module_args = {"_plan": dict(self._task.args)}
        result = merge_hash(result, self._execute_module(PLAN_PAYLOAD, module_args=module_args, task_vars=task_vars))
        self._remove_tmp_path(self._connection._shell.tmpdir)
        if "invocation" in result:  # what -v shows: this task's parameters, not the payload's
            result["invocation"] = {"module_args": dict(self._task.args)}
        return result

    def _asks_plan(self) -> bool:
        """Whether the task asks for a plan; a value that is no boolean is left to the module to refuse."""
        try:
            return boolean(self._task.args.get("plan", False), strict=True)
        except TypeError:
            return False
