# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The condarc action plugin with the condarc module run in-process where Ansible would run it on the host:
validation before anything runs, the edit on the controller, check and diff mode, the one-owner rule, and a
file changed between the read and the write."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.cpkgs.conda.plugins.action.condarc import ActionModule
from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_rules import ENV_CONDARC_HEADER
from ansible_collections.cpkgs.conda.plugins.modules import condarc

RunModule = Callable[[ModuleType, dict], dict]  # the run_module fixture (tests/unit/plugins/conftest.py)


class Action:
    """Runs the action plugin for a task's args; the module calls it makes run ``condarc.main()`` here."""

    def __init__(self, run_module: RunModule) -> None:
        self.run_module = run_module
        self.module_calls: list[dict] = []
        self.task_vars_seen: list = []  # the task_vars each module call got (how Ansible reaches the host)
        self.task_vars = {"inventory_hostname": "node1", "ansible_python_interpreter": "/usr/bin/python3"}
        self.between: Callable[[], None] | None = None  # runs after the read, before the write

    def __call__(self, args: dict, check_mode: bool = False, diff: bool = False) -> dict:
        task = SimpleNamespace(args=dict(args), check_mode=check_mode, diff=diff, async_val=0, action="condarc")
        connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir="/unused"))
        action = ActionModule(task, connection, SimpleNamespace(), None, None, None)
        action._load_name = "cpkgs.conda.condarc"

        def execute_module(module_name: str, module_args: dict, task_vars: dict | None = None) -> dict:
            assert module_name == "cpkgs.conda.condarc"
            if self.module_calls and self.between:
                self.between()
            self.module_calls.append(module_args)
            self.task_vars_seen.append(task_vars)
            flags = {"_ansible_check_mode": check_mode, "_ansible_diff": diff}
            return self.run_module(condarc, dict(module_args, **flags))

        action._execute_module = execute_module
        return action.run(task_vars=self.task_vars)


@pytest.fixture
def act(run_module: RunModule) -> Action:
    return Action(run_module)


def test_a_key_set_in_a_new_file_then_nothing_to_do(tmp_path: Path, act: Action) -> None:
    path = tmp_path / ".condarc"
    result = act({"path": str(path), "key": "channel_priority", "value": "strict"})
    assert result["changed"] is True
    assert result["path"] == str(path)
    assert result["key_values"] == {"channel_priority": "strict"}
    assert path.read_text() == "channel_priority: strict\n"
    assert len(act.module_calls) == 2  # read, then write
    assert act.module_calls[1]["_content"] == "channel_priority: strict\n"

    act.module_calls.clear()
    again = act({"path": str(path), "key": "channel_priority", "value": "strict"})
    assert (again["changed"], again["changes"]) == (False, [])
    assert len(act.module_calls) == 1  # read only: no write


def test_list_edit_keeps_comments_and_order(tmp_path: Path, act: Action) -> None:
    path = tmp_path / ".condarc"
    path.write_text("# site settings\nchannels:  # where packages come from\n  - a  # first\nalways_yes: true\n")
    result = act({"path": str(path), "key": "channels", "value": ["b"], "list_mode": "add"})
    assert result["changed"] is True
    assert result["key_values"] == {"channels": ["a", "b"]}
    assert path.read_text() == (
        "# site settings\nchannels:  # where packages come from\n  - a  # first\n  - b\nalways_yes: true\n"
    )


def test_check_mode_with_diff_writes_nothing(tmp_path: Path, act: Action) -> None:
    path = tmp_path / ".condarc"
    path.write_text("channels:\n  - a\n")
    result = act({"path": str(path), "key": "channels", "value": ["a"], "state": "absent"}, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["diff"] == {
        "before": "channels:\n  - a\n",
        "after": "",
        "before_header": str(path),
        "after_header": str(path),
    }
    assert path.read_text() == "channels:\n  - a\n"
    assert len(act.module_calls) == 1


def test_a_new_file_shows_as_absent_in_the_diff(tmp_path: Path, act: Action) -> None:
    path = tmp_path / ".condarc"
    result = act({"path": str(path), "key": "always_yes", "value": True}, check_mode=True, diff=True)
    assert result["diff"]["before_header"] == f"{path} (absent)"
    assert result["diff"]["after"] == "always_yes: true\n"
    assert not path.exists()


def test_a_file_conda_env_owns_is_refused(tmp_path: Path, act: Action) -> None:
    path = tmp_path / ".condarc"
    path.write_text(ENV_CONDARC_HEADER + "channels:\n  - a\n")
    with pytest.raises(AnsibleActionFail, match=r"is written whole by cpkgs\.conda\.conda_env"):
        act({"path": str(path), "key": "channels", "value": ["b"]})
    assert path.read_text() == ENV_CONDARC_HEADER + "channels:\n  - a\n"


def test_an_unknown_key_is_written_with_a_warning(tmp_path: Path, act: Action) -> None:
    path = tmp_path / ".condarc"
    result = act({"path": str(path), "key": "my_plugin_setting", "value": 1})
    assert result["changed"] is True
    assert result["warnings"] == [
        f"{path}: key(s) my_plugin_setting are not among the conda keys this module knows; "
        "written as given (conda plugins add keys of their own)"
    ]
    assert path.read_text() == "my_plugin_setting: 1\n"


def test_a_missing_directory_fails_and_is_a_warning_in_check_mode(tmp_path: Path, act: Action) -> None:
    path = tmp_path / "nodir" / ".condarc"
    args = {"path": str(path), "key": "always_yes", "value": True}
    checked = act(args, check_mode=True)
    assert checked["changed"] is True
    assert checked["warnings"] == [f"{path}: its directory does not exist yet"]
    with pytest.raises(AnsibleActionFail, match=r"^cannot create .*/nodir/\.condarc: its directory does not exist$"):
        act(args)
    assert not path.parent.exists()


def test_a_file_changed_after_the_read_is_not_overwritten(tmp_path: Path, act: Action) -> None:
    path = tmp_path / ".condarc"
    path.write_text("channels:\n  - a\n")
    act.between = lambda: path.write_text("channels:\n  - edited\n")
    result = act({"path": str(path), "key": "channels", "value": ["b"], "list_mode": "add"})
    assert result["failed"] is True
    assert result["changed"] is False
    assert path.read_text() == "channels:\n  - edited\n"


def test_only_the_final_marks_of_the_file(tmp_path: Path, act: Action) -> None:
    path = tmp_path / ".condarc"
    path.write_text("channels:\n  - a\n")
    result = act({"path": str(path), "final_file": True})
    assert result["changed"] is True
    assert path.read_text() == "channels:  #!final\n  - a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"key": "channels", "value": ["a"], "list_mode": "bogus"}, r"list_mode must be one of: exact, add"),
        ({"key": "channels", "settings": [{"key": "always_yes", "value": True}]}, r"mutually exclusive: key\|settings"),
        ({"scope": "user"}, r"one of the following is required: key, settings, final_file"),
        ({"key": "bad key", "value": 1}, r"bad key"),
        ({"key": "channels", "value": ["a"], "frobnicate": 1}, r"frobnicate"),
    ],
)
def test_bad_options_fail_before_the_host_is_asked(tmp_path: Path, act: Action, args: dict, message: str) -> None:
    given = dict(args)
    if "scope" not in given:
        given["path"] = str(tmp_path / ".condarc")
    with pytest.raises(AnsibleActionFail, match=message):
        act(given)
    assert act.module_calls == []
    assert not (tmp_path / ".condarc").exists()


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tree with env ``e1``; conda's environment variables unset so envs_dirs are the tree's."""
    for name in ("CONDARC", "CONDA_ENVS_DIRS", "CONDA_ENVS_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    root = tmp_path / "anaconda3_linux"
    (root / "conda-meta").mkdir(parents=True)
    (root / "envs" / "e1" / "conda-meta").mkdir(parents=True)
    (root / "envs" / "plain").mkdir()
    return root


@pytest.mark.parametrize(
    ("args", "where"),
    [
        ({"scope": "system"}, ".condarc"),
        ({"scope": "env", "env": "e1"}, "envs/e1/.condarc"),
        ({"scope": "env", "env": "{tree}/envs/e1/"}, "envs/e1/.condarc"),
    ],
)
def test_scope_picks_the_tree_s_or_the_env_s_file(tree: Path, act: Action, args: dict, where: str) -> None:
    given = {key: value.format(tree=tree) for key, value in args.items()}
    result = act(dict(given, root_prefix=str(tree), key="channels", value=["a"]))
    assert result["path"] == str(tree / where)
    assert (tree / where).read_text() == "channels:\n  - a\n"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("nosuch", "env: no environment named 'nosuch' in envs_dirs ['{tree}/envs', '{home}/.conda/envs']"),
        ("plain", "env: no environment named 'plain' in envs_dirs ['{tree}/envs', '{home}/.conda/envs']"),
        ("{tree}/envs/plain", "env: '{tree}/envs/plain' is not a conda environment (no conda-meta)"),
        ("", "env: required with scope=env (an environment name or prefix)"),
    ],
)
def test_an_env_that_is_not_there_fails_naming_it(tree: Path, act: Action, env: str, message: str) -> None:
    home = tree.parent / "home"
    args = {"root_prefix": str(tree), "scope": "env", "env": env.format(tree=tree), "key": "channels", "value": ["a"]}
    result = act(args)
    assert result["failed"] is True
    assert result["msg"] == message.format(tree=tree, home=home)
    assert len(act.module_calls) == 1  # the read failed: nothing written
    assert not (tree / "envs" / "plain" / ".condarc").exists()


def test_several_settings_and_final_file_in_one_task(tmp_path: Path, act: Action) -> None:
    path = tmp_path / ".condarc"
    settings = [{"key": "channels", "value": ["a"]}, {"key": "always_yes", "value": True}]
    result = act({"path": str(path), "settings": settings, "final_file": True})
    assert result["changed"] is True
    assert result["key_values"] == {"channels": ["a"], "always_yes": True}
    assert path.read_text() == "channels:  #!final\n  - a\nalways_yes: true #!final\n"
    single = act({"path": str(tmp_path / "b"), "key": "always_yes", "value": False, "final_file": True})
    assert (tmp_path / "b").read_text() == "always_yes: false  #!final\n"
    assert single["key_values"] == {"always_yes": False}


def test_backup_keeps_the_old_file_only_when_there_was_one(tmp_path: Path, act: Action) -> None:
    path = tmp_path / ".condarc"
    created = act({"path": str(path), "key": "always_yes", "value": True, "backup": True})
    assert "backup_file" not in created
    changed = act({"path": str(path), "key": "always_yes", "value": False, "backup": True})
    assert Path(changed["backup_file"]).read_text() == "always_yes: true\n"
    assert path.read_text() == "always_yes: false\n"


def test_each_module_call_gets_the_task_s_vars(tmp_path: Path, act: Action) -> None:
    """The module runs on the host the task's vars name (connection, interpreter): the read and the write."""
    act({"path": str(tmp_path / ".condarc"), "key": "channel_priority", "value": "strict"})
    assert len(act.task_vars_seen) == 2
    assert all(seen is act.task_vars for seen in act.task_vars_seen)


def _read_of(path: Path, act: Action, args: dict) -> dict:
    """What conda_facts' system_condarc hands over: the module's own read (compared in the facts' tests)."""
    read = act.run_module(condarc, dict(args, _ansible_check_mode=False))
    act.module_calls.clear()
    return {key: read[key] for key in ("path", "exists", "directory_exists", "content", "sha1", "attributes_differ")}


def test_a_read_handed_over_starts_no_module_when_nothing_changes(tmp_path: Path, act: Action) -> None:
    path = tmp_path / ".condarc"
    path.write_text("channel_priority: strict\n")
    args = {"path": str(path), "key": "channel_priority", "value": "strict", "mode": "0644"}
    path.chmod(0o644)
    read = _read_of(path, act, args)
    result = act(dict(args, _read=read))
    assert (result["changed"], result["changes"], act.module_calls) == (False, [], [])
    assert result["key_values"] == {"channel_priority": "strict"}


def test_a_read_handed_over_then_one_write_guarded_by_its_sha1(tmp_path: Path, act: Action) -> None:
    path = tmp_path / ".condarc"
    path.write_text("channel_priority: flexible\n")
    args = {"path": str(path), "key": "channel_priority", "value": "strict"}
    read = _read_of(path, act, args)
    result = act(dict(args, _read=read))
    assert result["changed"] is True
    assert path.read_text() == "channel_priority: strict\n"
    (write,) = act.module_calls  # no read of its own: the write only
    assert (write["_expected_sha1"], "_read" in write) == (read["sha1"], False)

    path.write_text("channel_priority: disabled\n")  # changed since the read handed over: not overwritten
    act.module_calls.clear()
    stale = act(dict(args, _read=read))
    assert stale["failed"] is True
    assert "changed while this task ran" in stale["msg"]
    assert path.read_text() == "channel_priority: disabled\n"


@pytest.mark.parametrize("given", ["text", {"path": "/x"}])
def test_a_bad_read_handed_over_is_refused_by_name(tmp_path: Path, act: Action, given: object) -> None:
    path = tmp_path / ".condarc"
    with pytest.raises(AnsibleActionFail, match=r"^_read: a read of conda_facts' system_condarc \(path, exists"):
        act({"path": str(path), "key": "a", "value": 1, "_read": given})
    assert (act.module_calls, path.exists()) == ([], False)
