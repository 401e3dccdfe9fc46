# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The conda_env module's main() against a fake conda (real conda 26.7.1's recorded answers): one env and the
list form, check mode, plan, the tree's lock, and failures that name what failed."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cpkgs.conda.plugins.module_utils._conda_env import REQUEST_FILE
from ansible_collections.cpkgs.conda.plugins.module_utils._lock import TreeLock, lock_dir, read_holder, release_token
from ansible_collections.cpkgs.conda.plugins.modules import conda_env, conda_facts

RunModule = Callable[[ModuleType, dict], dict]  # the run_module fixture (tests/unit/plugins/conftest.py)
CONTRACT = Path(__file__).resolve().parents[3] / "testbed" / "contract"
CHANNEL = "file:///srv/conda-channel"
LINKED = ["pkga-2.0-0", "pkgb-1.0-0", "pkgc-1.0-0"]


class Conda:
    """The conda the module runs: answers with the recorded samples and leaves records as conda would."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail = False

    def __call__(self, cmd: list[str]) -> tuple[int, str, str]:
        self.calls.append(cmd)
        if self.fail:
            return 1, (CONTRACT / "create_fail.json").read_text(), ""
        prefix = Path(cmd[cmd.index("--prefix") + 1])
        if "--dry-run" in cmd:
            return 0, (CONTRACT / ("create.json" if cmd[1] == "create" else "dryrun_noop.json")).read_text(), ""
        if cmd[1] == "create":
            text = (CONTRACT / "create.json").read_text()
            (prefix / "conda-meta").mkdir(parents=True, exist_ok=True)
            (prefix / "conda-meta" / "history").write_text("")
            for rec in json.loads(text)["actions"]["LINK"]:
                record = {"name": rec["name"], "version": rec["version"], "build": rec["build_string"]}
                (prefix / "conda-meta" / f"{rec['dist_name']}.json").write_text(json.dumps(record))
            return 0, text, ""
        if cmd[1] == "remove":
            for record in (prefix / "conda-meta").glob("*.json"):
                record.unlink()
            return 0, (CONTRACT / "remove_all.json").read_text(), ""
        raise AssertionError(f"unexpected conda call {cmd}")


@pytest.fixture
def conda(monkeypatch: pytest.MonkeyPatch) -> Conda:
    """The fake answers AnsibleModule.run_command; the module's changes to the environment and umask are undone."""
    fake = Conda()
    monkeypatch.setattr(AnsibleModule, "run_command", lambda _self, cmd, **_kwargs: fake(cmd))
    monkeypatch.setattr(os, "environ", dict(os.environ))  # main() replaces the environment conda runs in
    return fake


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "anaconda3_linux"
    (root / "conda-meta").mkdir(parents=True)
    (root / "conda-meta" / "history").write_text("")
    (root / "envs").mkdir()
    (root / "bin").mkdir()
    (root / "bin" / "conda").write_text("#!/bin/sh\nexit 1\n")
    (root / "bin" / "conda").chmod(0o755)
    return root


def _args(tree: Path, **args: object) -> dict:
    return {"root_prefix": str(tree), "channels": [CHANNEL], "override_channels": True, **args}


@pytest.fixture(params=["conda_env", "conda_facts"])
def run_plan(request: pytest.FixtureRequest, run_module: RunModule) -> Callable[[dict], dict]:
    """``run_plan(args)``: a task's plan as the module answers it, and as conda_facts' payload answers it for the
    module's action (plugins/action/conda_env.py hands it the task's parameters unchanged as ``_plan``)."""
    if request.param == "conda_env":
        return lambda args: run_module(conda_env, args)
    return lambda args: run_module(conda_facts, {"_plan": args})


def test_create_then_a_no_op_without_conda_or_lock(tree: Path, conda: Conda, run_module: RunModule) -> None:
    created = run_module(conda_env, _args(tree, name="e1", specs=["pkga"]))
    assert created["changed"] is True
    assert created["prefix"] == str(tree / "envs" / "e1")
    assert created["actions"] == {"link": LINKED, "unlink": []}
    assert created["packages"] == LINKED
    assert created["conda_calls"] == 1
    (call,) = conda.calls
    assert call[:4] == [str(tree / "bin" / "conda"), "create", "--prefix", str(tree / "envs" / "e1")]
    assert call[-3:] == ["--override-channels", "pkga", "--json"]
    assert created["lock"]["path"] == str(Path(lock_dir(str(tree))) / "lock")
    assert read_holder(str(tree)) is None  # released
    assert (tree / "envs" / "e1" / "conda-meta" / REQUEST_FILE).is_file()
    assert "pkga-2.0-0" in created["diff"]["after"]

    conda.calls.clear()
    again = run_module(conda_env, _args(tree, name="e1", specs=["pkga"]))
    assert (again["changed"], again["conda_calls"]) == (False, 0)
    assert conda.calls == []
    assert "lock" not in again  # nothing to do: no lock taken


def test_check_mode_asks_conda_for_a_dry_run_and_writes_nothing(
    tree: Path, conda: Conda, run_module: RunModule
) -> None:
    result = run_module(conda_env, _args(tree, name="e1", specs=["pkga"], _ansible_check_mode=True))
    assert result["changed"] is True
    assert result["actions"]["link"] == LINKED
    assert [call[-2] for call in conda.calls] == ["--dry-run"]
    assert "lock" not in result
    assert not (tree / "envs" / "e1").exists()
    assert not Path(lock_dir(str(tree))).exists()


def test_the_list_form_runs_only_the_envs_that_need_work(tree: Path, conda: Conda, run_module: RunModule) -> None:
    run_module(conda_env, _args(tree, name="old", specs=["pkga"]))
    conda.calls.clear()
    envs = [{"name": "old", "specs": ["pkga"]}, {"name": "new", "specs": ["pkga"]}]
    result = run_module(conda_env, _args(tree, envs=envs))
    assert result["changed"] is True
    assert [(env["name"], env["changed"]) for env in result["envs"]] == [("old", False), ("new", True)]
    assert result["conda_calls"] == 1
    assert [call[3] for call in conda.calls] == [str(tree / "envs" / "new")]
    assert len(result["diff"]) == 1  # one diff per changed env
    assert "diff" not in result["envs"][1]
    assert "--override-channels" in conda.calls[0]  # the top-level options are the items' defaults


def test_plan_says_which_envs_need_work_without_conda(
    tree: Path, conda: Conda, run_module: RunModule, run_plan: Callable[[dict], dict]
) -> None:
    run_module(conda_env, _args(tree, name="old", specs=["pkga"]))
    conda.calls.clear()
    envs = [{"name": "old", "specs": ["pkga"]}, {"name": "new", "specs": ["pkga"]}, {"name": "gone", "state": "absent"}]
    result = run_plan(_args(tree, envs=envs, plan=True))
    assert (result["changed"], result["conda_calls"], result["todo"]) == (False, 0, ["new"])
    assert [(env["name"], env["needs_work"], env["reason"]) for env in result["envs"]] == [
        ("old", False, "up to date"),
        ("new", True, "build"),
        ("gone", False, "absent"),
    ]
    single = run_plan(_args(tree, name="new", specs=["pkga"], plan=True))
    assert (single["needs_work"], single["reason"], single["todo"]) == (True, "build", ["new"])
    assert (single["changed"], single["conda_calls"]) == (False, 0)
    assert conda.calls == []
    assert not (tree / "envs" / "new").exists()


def test_absent_removes_the_env(tree: Path, conda: Conda, run_module: RunModule) -> None:
    run_module(conda_env, _args(tree, name="e1", specs=["pkga"]))
    removed = run_module(conda_env, _args(tree, name="e1", state="absent"))
    assert removed["changed"] is True
    assert removed["actions"]["unlink"] == LINKED
    assert not (tree / "envs" / "e1").exists()
    assert run_module(conda_env, _args(tree, name="e1", state="absent"))["changed"] is False


def test_a_conda_error_fails_naming_the_env_with_conda_s_answer(
    tree: Path, conda: Conda, run_module: RunModule
) -> None:
    conda.fail = True
    result = run_module(conda_env, _args(tree, envs=[{"name": "e1", "specs": ["nosuchpkg"]}]))
    assert result["failed"] is True
    assert result["msg"].startswith("envs[0] (e1): PackagesNotFoundInChannelsError: ")
    assert result["rc"] == 1
    assert result["cmd"][1] == "create"
    assert result["conda_error"]["exception_name"] == "PackagesNotFoundInChannelsError"
    assert (result["envs"], result["conda_calls"]) == ([], 1)
    assert not (tree / "envs" / "e1").exists()  # nothing half-built left
    assert read_holder(str(tree)) is None  # the lock released on failure too


def test_a_tree_without_conda(tmp_path: Path, conda: Conda, run_module: RunModule) -> None:
    missing = tmp_path / "missing"
    checked = run_module(conda_env, _args(missing, name="e1", specs=["pkga"], _ansible_check_mode=True))
    assert checked["changed"] is True
    assert checked["msg"] == f"no conda tree at {missing} yet: every environment would be created"
    assert checked["conda_calls"] == 0
    failed = run_module(conda_env, _args(missing, name="e1", specs=["pkga"]))
    assert failed["failed"] is True
    assert failed["msg"] == f"no conda executable in {missing}: install the tree first or set conda_exe"
    assert conda.calls == []


def test_a_held_lock_fails_naming_its_holder(tree: Path, conda: Conda, run_module: RunModule) -> None:
    other = TreeLock(str(tree), timeout=0, what="another writer")
    other.acquire()
    token = other.detach()  # held as a lease, as tree_lock leaves it for a play
    try:
        result = run_module(conda_env, _args(tree, name="e1", specs=["pkga"], lock_timeout=0))
    finally:
        release_token(str(tree), token)
    assert result["failed"] is True
    assert "another writer" in result["msg"]
    assert result["holder"]["what"] == "another writer"
    assert (result["conda_calls"], conda.calls) == (0, [])


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"lock_timeout": -1}, "lock_timeout: must be 0 or more seconds, got -1"),
        ({"umask": "0999"}, "umask: must be an octal number like '0022', got '0999'"),
        ({"umask": "01000"}, "umask: must be between 0000 and 0777, got '01000'"),
        ({"name": "a/b"}, "name: "),
        ({"root_prefix": "relative"}, "root_prefix: must be an absolute path, got 'relative'"),
        (
            {"name": None, "specs": None, "envs": [{"name": "a", "specs": ["x"]}, {"name": "a", "specs": ["y"]}]},
            "envs[1].name: 'a' is already given by envs[0]",
        ),
    ],
)
def test_bad_options_fail_naming_the_option_before_conda_runs(
    tree: Path, conda: Conda, run_module: RunModule, args: dict, msg: str
) -> None:
    given = {key: value for key, value in {"name": "e1", "specs": ["pkga"], **args}.items() if value is not None}
    result = run_module(conda_env, _args(tree, **given))
    assert result["failed"] is True
    assert result["msg"].startswith(msg)
    assert conda.calls == []
    assert list((tree / "envs").iterdir()) == []


def test_the_lock_names_the_envs_it_is_taken_for(
    tree: Path, conda: Conda, run_module: RunModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer waiting for the tree is told what holds it: this module and the envs that need work."""
    run_module(conda_env, _args(tree, name="done", specs=["pkga"]))
    seen = []

    def spy(_self: AnsibleModule, cmd: list[str], **_kwargs: object) -> tuple[int, str, str]:
        seen.append(read_holder(str(tree)))  # who holds the tree while conda runs
        return conda(cmd)

    monkeypatch.setattr(AnsibleModule, "run_command", spy)
    envs = [
        {"name": "done", "specs": ["pkga"]},
        {"name": "e1", "specs": ["pkga"]},
        {"prefix": str(tree / "p1"), "specs": ["pkga"]},
    ]
    run_module(conda_env, _args(tree, envs=envs))
    assert len(seen) == 2
    assert {holder["what"] for holder in seen} == {f"conda_env: e1, {tree / 'p1'}"}


def test_a_lock_held_by_the_play_is_adopted_and_left_held(tree: Path, conda: Conda, run_module: RunModule) -> None:
    """With lock_holder (tree_lock's token) the module works under the play's lock and leaves it held."""
    play = TreeLock(str(tree), timeout=0, what="rollout")
    play.acquire()
    token = play.detach()
    try:
        result = run_module(conda_env, _args(tree, name="e1", specs=["pkga"], lock_holder=token, lock_timeout=0))
        assert (result["changed"], result["conda_calls"]) == (True, 1)
        assert read_holder(str(tree))["token"] == token  # still the play's
    finally:
        release_token(str(tree), token)


# ------------------------------------------------------------- what the mutation run (benchmarks/mutation.py) found


def test_an_unreadable_file_fails_before_any_lock_or_conda(
    tree: Path, tmp_path: Path, conda: Conda, run_module: RunModule
) -> None:
    missing = tmp_path / "none.yml"
    envs = [{"name": "e0", "specs": ["pkga"]}, {"name": "e1", "file": str(missing)}]
    result = run_module(conda_env, _args(tree, envs=envs))
    assert result["failed"] is True
    assert result["msg"] == f"envs[1].file: cannot read {str(missing)!r}: No such file or directory"
    assert (result["envs"], result["conda_calls"]) == ([], 0)
    assert "lock" not in result
    assert not Path(lock_dir(str(tree))).exists()


def test_a_failure_after_a_built_env_reports_it_and_the_lock(tree: Path, conda: Conda, run_module: RunModule) -> None:
    def fail_second(cmd: list[str]) -> tuple[int, str, str]:
        conda.fail = cmd[3].endswith("/e2")
        return Conda.__call__(conda, cmd)

    envs = [{"name": "e1", "specs": ["pkga"]}, {"name": "e2", "specs": ["nosuchpkg"]}]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AnsibleModule, "run_command", lambda _self, cmd, **_kwargs: fail_second(cmd))
        result = run_module(conda_env, _args(tree, envs=envs))
    assert result["failed"] is True
    assert result["msg"].startswith("envs[1] (e2): PackagesNotFoundInChannelsError: ")
    assert [env["name"] for env in result["envs"]] == ["e1"]
    assert result["conda_calls"] == 2
    assert result["lock"]["path"] == str(Path(lock_dir(str(tree))) / "lock")
    assert result["lock"]["broken"] == []
    assert read_holder(str(tree)) is None


def test_a_single_env_failure_names_the_env(tree: Path, conda: Conda, run_module: RunModule) -> None:
    conda.fail = True
    result = run_module(conda_env, _args(tree, prefix=str(tree / "p1"), specs=["nosuchpkg"]))
    assert result["failed"] is True
    assert result["msg"].startswith(f"{tree / 'p1'}: PackagesNotFoundInChannelsError: ")


def test_the_lock_taken_says_how_long_it_waited(tree: Path, conda: Conda, run_module: RunModule) -> None:
    created = run_module(conda_env, _args(tree, name="e1", specs=["pkga"]))
    assert created["lock"]["broken"] == []
    assert 0 <= created["lock"]["waited"] < 5


@pytest.mark.parametrize(
    ("publish", "planned"),
    [(True, (True, "open (complete, left closed by an interrupted build)")), (False, (False, "up to date"))],
)
def test_plan_knows_a_closed_env_only_when_envs_are_published(
    tree: Path, conda: Conda, run_module: RunModule, *, run_plan: Callable[[dict], dict], publish: bool, planned: tuple
) -> None:
    run_module(conda_env, _args(tree, name="e1", specs=["pkga"], publish=publish))
    (tree / "envs" / "e1").chmod(0o700)  # as an interrupted build leaves it, after the record
    result = run_plan(_args(tree, name="e1", specs=["pkga"], plan=True, publish=publish))
    assert (result["needs_work"], result["reason"]) == planned


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (
            {"name": "e1", "envs": [{"name": "e2", "specs": ["pkga"]}]},
            "parameters are mutually exclusive: name|prefix|envs",
        ),
        ({"envs": [{"name": "e2", "specs": ["pkga"]}], "specs": ["pkga"]}, "parameters are mutually exclusive: specs|"),
        ({"prefix": "/x", "name": "e1", "specs": ["pkga"]}, "parameters are mutually exclusive: name|prefix|envs"),
        ({"specs": ["pkga"]}, "one of the following is required: name, prefix, envs"),
    ],
    ids=["name-and-envs", "specs-and-envs", "name-and-prefix", "none-of-name-prefix-envs"],
)
def test_options_that_exclude_each_other_are_refused(
    tree: Path, conda: Conda, run_module: RunModule, *, run_plan: Callable[[dict], dict], args: dict, msg: str
) -> None:
    result = run_module(conda_env, {"root_prefix": str(tree), **args})
    assert result["failed"] is True
    assert result["msg"].startswith(msg)
    planned = run_plan({"root_prefix": str(tree), "plan": True, **args})  # a plan is refused the same way
    assert (planned["failed"], planned["msg"]) == (True, result["msg"])
    assert conda.calls == []


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"name": "e1", "specs": ["a"], "colour": "red"}, "colour. Supported parameters include: activation"),
        ({"name": "e1", "specs": ["a"], "lock_timeout": -1}, "lock_timeout: must be 0 or more seconds, got -1"),
        ({"name": "e1", "specs": ["a"], "umask": "999"}, "umask"),
        ({"envs": [{"name": "e1", "specs": ["a"]}, {"name": "e1", "specs": ["b"]}]}, "envs[1].name: 'e1' is already"),
    ],
    ids=["unknown-option", "lock-timeout", "umask", "name-twice"],
)
def test_a_plan_with_bad_input_is_refused_by_either_payload_as_by_the_module(
    tree: Path, conda: Conda, run_plan: Callable[[dict], dict], args: dict, msg: str
) -> None:
    result = run_plan({"root_prefix": str(tree), "plan": True, **args})
    assert result["failed"] is True
    assert msg in result["msg"]
    assert conda.calls == []
    assert not (tree / "envs" / "e1").exists()


def test_conda_facts_answers_only_a_plan(tree: Path, run_module: RunModule) -> None:
    result = run_module(conda_facts, {"_plan": _args(tree, name="e1", specs=["pkga"])})  # no plan: true
    assert result["failed"] is True
    assert result["msg"] == "_plan: the parameters of a cpkgs.conda.conda_env task with plan: true"


def test_plan_checks_the_activation_files_as_conda_activation_writes_them(
    tree: Path, conda: Conda, run_module: RunModule, run_plan: Callable[[dict], dict]
) -> None:
    from ansible_collections.cpkgs.conda.plugins.modules import conda_activation

    run_module(conda_env, _args(tree, name="old1.0", specs=["pkga"]))
    run_module(conda_env, _args(tree, name="gone2.0", specs=["pkga"]))
    modules = tree / "modulefiles"
    activation = {"formats": ["lmod", "sh"], "modules_dir": str(modules), "module_names": {"old1.0": "tool/1.0"}}
    envs = [
        {"name": "old1.0", "specs": ["pkga"]},
        {"name": "gone2.0", "state": "absent"},
        {"name": "new", "specs": ["pkga"]},
    ]
    conda.calls.clear()

    stale = run_plan(_args(tree, envs=envs, plan=True, activation=activation))
    old_files = [str(modules / "tool" / "1.0.lua"), str(tree / "envs" / "old1.0" / "etc" / "cpkgs" / "activate.sh")]
    assert stale["activation_todo"] == ["old1.0"]  # gone2.0 needs work (a removal), new a build: not checked
    assert sorted(stale["envs"][0]["activation_changes"]) == sorted(old_files)
    assert "activation_changes" not in stale["envs"][1] and "activation_changes" not in stale["envs"][2]
    assert not modules.exists()  # the plan writes nothing

    written = run_module(
        conda_activation,
        {"root_prefix": str(tree), "formats": ["lmod", "sh"], "modules_dir": str(modules),
         "envs": [{"name": "old1.0", "module_name": "tool/1.0"}, {"name": "gone2.0"}]},
    )  # fmt: skip
    assert sorted(written["envs"][0]["files"]) == sorted(old_files)
    run_module(conda_env, _args(tree, name="gone2.0", state="absent"))  # its modulefile stays behind
    assert (modules / "gone" / "2.0.lua").is_file()
    conda.calls.clear()

    plan = run_plan(_args(tree, envs=envs, plan=True, activation=activation))
    assert plan["activation_todo"] == ["gone2.0"]  # old1.0 is as written; the removed env's modulefile is left
    assert (plan["envs"][0]["activation_changes"], plan["envs"][1]["activation_changes"]) == (
        [],
        [str(modules / "gone" / "2.0.lua")],
    )
    renamed = dict(activation, module_names={})  # the default module name would be old/1.0: a rename
    assert run_plan(_args(tree, envs=envs[:1], plan=True, activation=renamed))["activation_todo"] == ["old1.0"]
    assert conda.calls == []  # the plans started no conda
