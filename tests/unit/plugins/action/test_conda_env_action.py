# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The conda_env action plugin: a plan goes to conda_facts' payload with the task's parameters unchanged, and its
answer is the module's own; every other task (and a plan run as an async job) runs the conda_env module."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from ansible_collections.cpkgs.conda.plugins.action.conda_env import ActionModule
from ansible_collections.cpkgs.conda.plugins.modules import conda_env, conda_facts

RunModule = Callable[[ModuleType, dict], dict]  # the run_module fixture (tests/unit/plugins/conftest.py)
PAYLOADS = {None: conda_env, "cpkgs.conda.conda_facts": conda_facts}  # None: the task's own module


def _run(run_module: RunModule, args: dict, async_val: int = 0) -> tuple[dict, list]:
    """The action's result, and the (module name, parameters) of each module it ran; the modules run in-process."""
    task = SimpleNamespace(args=dict(args), check_mode=False, diff=False, async_val=async_val,
                           action="cpkgs.conda.conda_env", delegate_to=None)  # fmt: skip
    context = SimpleNamespace(remote_user="admin", become=False, become_method="sudo", become_user=None)
    connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir=None), has_native_async=False)
    action = ActionModule(task, connection, context, None, None, None)
    runs = []

    def execute_module(module_name: str | None = None, module_args: dict | None = None,
                       task_vars: dict | None = None, wrap_async: bool = False) -> dict:  # fmt: skip
        given = task.args if module_args is None else module_args
        runs.append((module_name, given))
        return run_module(PAYLOADS[module_name], dict(given, _ansible_check_mode=False))

    action._execute_module = execute_module
    action._remove_tmp_path = lambda path: None
    return action.run(task_vars={}), runs


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A tree with one env, ``old`` (its packages' records, no request record: the plan says update)."""
    root = tmp_path / "anaconda3_linux"
    (root / "conda-meta").mkdir(parents=True)
    (root / "conda-meta" / "history").write_text("")
    (root / "envs" / "old" / "conda-meta").mkdir(parents=True)
    (root / "envs" / "old" / "conda-meta" / "history").write_text("")
    return root


def test_a_plan_is_answered_by_conda_facts_payload_as_by_the_module(tree: Path, run_module: RunModule) -> None:
    args = {"root_prefix": str(tree), "plan": "yes",
            "envs": [{"name": "old", "specs": ["pkga"]}, {"name": "new", "specs": ["pkga"]}]}  # fmt: skip
    result, runs = _run(run_module, args)
    assert runs == [("cpkgs.conda.conda_facts", {"_plan": args})]  # the parameters unchanged, "yes" included
    assert "ansible_facts" not in result  # an answer to the plan, not a look
    own = run_module(conda_env, args)
    if "invocation" in own:  # ansible-core before 2.21 returns the parameters a module ran with
        assert result["invocation"] == {"module_args": args}  # what -v shows: the task's, not the payload's
        del own["invocation"]
    else:
        assert "invocation" not in result
    assert {key: result[key] for key in own} == own
    assert result["todo"] == ["old", "new"]
    assert [env["reason"] for env in result["envs"]] == ["update (no record of the request: conda decides)", "build"]


@pytest.mark.parametrize(
    ("extra", "async_val"),
    [({}, 0), ({"plan": False}, 0), ({"plan": "maybe"}, 0), ({"plan": True}, 30)],
    ids=["no-plan", "plan-false", "plan-not-a-boolean", "plan-as-async-job"],
)
def test_anything_else_runs_the_module(tree: Path, run_module: RunModule, extra: dict, async_val: int) -> None:
    args = {"root_prefix": str(tree), "name": "old", "specs": ["pkga"], "state": "absent", **extra}
    result, runs = _run(run_module, args, async_val)
    assert runs == [(None, args)]
    if extra.get("plan") == "maybe":  # the module refuses it, naming the parameter
        assert result["failed"] is True
        assert "plan" in result["msg"] and "maybe" in result["msg"]
