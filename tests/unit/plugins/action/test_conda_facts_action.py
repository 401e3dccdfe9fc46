# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The conda_facts action plugin with the conda_facts module run in-process where Ansible would run it on the
host: without the opt-in it is the module; with it, the last opted-in look of this run stands for the next one
only while options, host, account and the facts themselves are the same, and never after a role dropped it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.cpkgs.conda.plugins.action.conda_facts import ActionModule
from ansible_collections.cpkgs.conda.plugins.modules import conda_facts
from ansible_collections.cpkgs.conda.plugins.plugin_utils._facts_reuse import (
    KEY,
    OPT_IN,
    RECORD,
    STASH,
    look_key,
    reusable,
)

RunModule = Callable[[ModuleType, dict], dict]  # the run_module fixture (tests/unit/plugins/conftest.py)


class Host:
    """One host's variables across the tasks of a run, as the variable manager keeps them: facts and the
    registered results of the looks (``register: __cpkgs_conda_facts``)."""

    def __init__(self, run_module: RunModule) -> None:
        self.run_module = run_module
        self.module_runs = 0
        self.vars: dict = {"inventory_hostname": "node1", "ansible_facts": {}}

    def look(self, args: dict, *, reuse: bool | str = True, become_user: str | None = None, async_val: int = 0,
             register: bool = True, delegate_to: str | None = None) -> dict:  # fmt: skip
        task = SimpleNamespace(args=dict(args), check_mode=False, diff=False, async_val=async_val,
                               action="cpkgs.conda.conda_facts", delegate_to=delegate_to)  # fmt: skip
        context = SimpleNamespace(remote_user="admin", become=become_user is not None, become_method="sudo",
                                  become_user=become_user)  # fmt: skip
        connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir=None), has_native_async=False)
        action = ActionModule(task, connection, context, None, None, None)

        def execute_module(module_name: str | None = None, module_args: dict | None = None,
                           task_vars: dict | None = None, wrap_async: bool = False) -> dict:  # fmt: skip
            self.module_runs += 1
            return self.run_module(conda_facts, dict(module_args or task.args, _ansible_check_mode=False))

        action._execute_module = execute_module
        action._remove_tmp_path = lambda path: None
        task_vars = dict(self.vars, **({OPT_IN: reuse} if reuse else {}))
        try:
            result = action.run(task_vars=task_vars)
        except AnsibleActionFail as exc:  # what Ansible's task executor makes of it
            result = {"failed": True, "msg": exc.message}
        self.vars["ansible_facts"] = dict(self.vars["ansible_facts"], **result.get("ansible_facts", {}))
        if register:
            self.vars[STASH] = result
        return result


@pytest.fixture
def host(run_module: RunModule) -> Host:
    return Host(run_module)


@pytest.fixture
def share(tmp_path: Path) -> Path:
    (tmp_path / "share" / "anaconda3_linux" / "conda-meta").mkdir(parents=True)
    (tmp_path / "share" / "anaconda3_linux" / "conda-meta" / "history").write_text("")
    return tmp_path / "share"


def test_without_the_opt_in_every_look_runs_the_module(host: Host, share: Path) -> None:
    first = host.look({"share_root": str(share), "gather_envs": False}, reuse=False)
    second = host.look({"share_root": str(share), "gather_envs": False}, reuse=False)
    assert host.module_runs == 2
    assert first["ansible_facts"]["conda"]["installed"] is True
    assert KEY not in second and "reused" not in second


def test_the_second_identical_look_reuses_the_first(host: Host, share: Path) -> None:
    first = host.look({"share_root": str(share), "gather_envs": False})
    second = host.look({"share_root": str(share), "gather_envs": False})
    third = host.look({"share_root": str(share), "gather_envs": False})
    assert host.module_runs == 1
    assert (first["reused"], second["reused"], third["reused"]) == (False, True, True)
    assert second["changed"] is False
    assert second["ansible_facts"]["conda"] == first["ansible_facts"]["conda"]
    assert second[KEY] == first[KEY]


def test_a_recording_look_always_runs_the_module_and_is_reused_after(host: Host, share: Path) -> None:
    """conda_tree's look (record): never a reuse, even of an identical look; the next opted-in look reuses it."""
    args = {"share_root": str(share), "gather_envs": False}
    host.look(args)
    (share / "anaconda3_linux" / "conda-meta" / "history").unlink()  # the tree changed since that look
    recorded = host.look(args, reuse=RECORD)
    after = host.look(args)
    assert host.module_runs == 2
    assert recorded["reused"] is False and recorded["ansible_facts"]["conda"]["installed"] is False
    assert after["reused"] is True and after["ansible_facts"]["conda"]["installed"] is False


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda args: dict(args, tree_names={"Linux": "other"}), "other options (the play's module_defaults)"),
        (lambda args: dict(args, gather_envs=True), "another option of the look"),
    ],
)
def test_other_options_look_again(host: Host, share: Path, change: Callable[[dict], dict], why: str) -> None:
    args = {"share_root": str(share), "gather_envs": False}
    host.look(args)
    again = host.look(change(args))
    assert host.module_runs == 2, why
    assert again["reused"] is False


def test_another_account_looks_again(host: Host, share: Path) -> None:
    args = {"share_root": str(share), "gather_envs": False}
    host.look(args)
    again = host.look(args, become_user="cpkgsadm")
    assert host.module_runs == 2
    assert again["reused"] is False


def test_facts_changed_by_another_look_end_the_reuse(host: Host, share: Path) -> None:
    """conda_tree looks again after its installer (not registered): the next opted-in look must not hand back
    the look from before the install."""
    args = {"share_root": str(share), "gather_envs": False}
    (share / "anaconda3_linux" / "conda-meta" / "history").unlink()
    before = host.look(args)
    assert before["ansible_facts"]["conda"]["installed"] is False
    (share / "anaconda3_linux" / "conda-meta" / "history").write_text("")
    host.look(args, reuse=False, register=False)  # the look after the installer
    after = host.look(args)
    assert host.module_runs == 3
    assert after["reused"] is False
    assert after["ansible_facts"]["conda"]["installed"] is True


def test_a_dropped_look_is_not_reused(host: Host, share: Path) -> None:
    """conda_tree sets __cpkgs_conda_facts to {} after changing the tree: the next role looks again."""
    args = {"share_root": str(share), "gather_envs": False}
    host.look(args)
    (share / "anaconda3_linux" / ".condarc").write_text("channels: [x]\n")
    host.vars[STASH] = {}
    again = host.look(args)
    assert host.module_runs == 2
    assert again["reused"] is False
    assert str(share / "anaconda3_linux" / ".condarc") in again["ansible_facts"]["conda"]["condarc"]["files"]


def test_cleared_facts_end_the_reuse(host: Host, share: Path) -> None:
    args = {"share_root": str(share), "gather_envs": False}
    host.look(args)
    host.vars["ansible_facts"] = {}  # meta: clear_facts
    again = host.look(args)
    assert host.module_runs == 2
    assert again["ansible_facts"]["conda"]["root_prefix"] == str(share / "anaconda3_linux")


def test_an_async_look_runs_the_module(host: Host, share: Path) -> None:
    args = {"share_root": str(share), "gather_envs": False}
    host.look(args)
    host.look(args, async_val=10)
    assert host.module_runs == 2


def test_a_delegated_look_runs_the_module(host: Host, share: Path) -> None:
    args = {"share_root": str(share), "gather_envs": False}
    host.look(args)
    delegated = host.look(args, delegate_to="builder2")
    assert host.module_runs == 2
    assert KEY not in delegated


def test_a_failed_look_is_not_reused(host: Host, share: Path) -> None:
    bad = {"share_root": "relative/share", "gather_envs": False}
    failed = host.look(bad)
    assert failed.get("failed") is True
    assert KEY not in failed
    host.look(bad)
    assert host.module_runs == 2


def test_reusable_needs_the_same_key_and_facts() -> None:
    key = look_key({"share_root": "/s"}, "node1", remote_user="admin")
    facts = {"conda": {"root_prefix": "/s/anaconda3_linux"}}
    stash = {KEY: key, "ansible_facts": facts, "changed": False}
    assert reusable(stash, key, facts) == facts["conda"]
    assert reusable(stash, key, {"conda": {"root_prefix": "/elsewhere"}}) is None
    assert reusable(stash, look_key({"share_root": "/s"}, "node2", remote_user="admin"), facts) is None
    assert reusable(dict(stash, skipped=True), key, facts) is None
    assert reusable({}, key, facts) is None
    assert reusable(None, key, facts) is None


def test_the_become_method_counts_only_with_become() -> None:
    plain = look_key({}, "node1", remote_user="admin", become_method="sudo")
    assert look_key({}, "node1", remote_user="admin", become_method="su", become_user="ignored") == plain
    su_root = look_key({}, "node1", remote_user="admin", become=True, become_method="su", become_user="root")
    assert su_root != look_key({}, "node1", remote_user="admin", become=True, become_method="sudo", become_user="root")


def test_refusals_fail_the_look_before_it_looks(host: Host, share: Path) -> None:
    """A role's input checks ride on its look (internal option ``_refuse``): with refusals the task fails with
    them, joined, and no module runs; nothing is registered as a look to reuse."""
    refusals = ["conda_envs_umask 9x9 must be octal.", "conda_envs_list names a twice."]
    result = host.look({"share_root": str(share), "gather_envs": False, "_refuse": refusals})
    assert result["failed"] is True
    assert result["msg"] == "conda_envs_umask 9x9 must be octal. conda_envs_list names a twice."
    assert host.module_runs == 0
    assert "ansible_facts" not in result and KEY not in result
    after = host.look({"share_root": str(share), "gather_envs": False})
    assert after["reused"] is False and host.module_runs == 1


def test_no_refusals_is_the_plain_look_and_its_reuse(host: Host, share: Path) -> None:
    """An empty ``_refuse`` changes nothing: the module runs without it, and a later look with other (empty)
    refusals, or none, reuses the look."""
    first = host.look({"share_root": str(share), "gather_envs": False, "_refuse": []})
    assert first["reused"] is False and host.module_runs == 1
    second = host.look({"share_root": str(share), "gather_envs": False})
    third = host.look({"share_root": str(share), "gather_envs": False, "_refuse": []})
    assert second["reused"] is True and third["reused"] is True and host.module_runs == 1


@pytest.mark.parametrize("given", ["one message", [1, "two"], {"a": "b"}])
def test_refusals_must_be_a_list_of_messages(host: Host, share: Path, given: object) -> None:
    result = host.look({"share_root": str(share), "gather_envs": False, "_refuse": given})
    assert result["failed"] is True
    assert result["msg"] == f"_refuse: a list of messages (the role's refusals), got {given!r}"
    assert host.module_runs == 0
