"""Every tag of the roles runs what it names (read with scripts/role_tags.py, Ansible's inheritance rules).

A tag on ``include_tasks``/``include_role`` without ``apply: {tags: ...}`` selects the include and none of the
tasks it includes: ``--tags conda_client_users`` would run one include and nothing in it. These tests fail on
such a role, and check that the static model itself tells the two cases apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from role_tags import dropped_tags, tag_map  # noqa: E402

ROLES = sorted(p.parent.parent.name for p in REPO.glob("roles/*/tasks/main.yml"))


@pytest.mark.parametrize("role", ROLES)
def test_no_include_drops_its_tags(role: str) -> None:
    assert dropped_tags(REPO / "roles" / role) == []


@pytest.mark.parametrize("role", ROLES)
def test_every_tag_runs_a_task_that_does_something(role: str) -> None:
    """Beyond includes and imports: a tag that only loads files runs nothing."""
    tags = tag_map(REPO / "roles" / role)
    assert tags, f"{role} has no tags"
    for tag, tasks in tags.items():
        assert any(not t.loads for t in tasks), f"--tags {tag} runs only {sorted(t.name for t in tasks)}"


def _role(tmp_path: Path, main: list, other: list) -> Path:
    tasks = tmp_path / "roles" / "r" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text(yaml.safe_dump(main))
    (tasks / "other.yml").write_text(yaml.safe_dump(other))
    return tasks.parent


OTHER = [{"name": "Work", "ansible.builtin.debug": {"msg": "x"}}]


def test_model_flags_an_include_without_apply(tmp_path: Path) -> None:
    role = _role(tmp_path, [{"name": "Inc", "ansible.builtin.include_tasks": "other.yml", "tags": ["t"]}], OTHER)
    (dropped,) = dropped_tags(role)
    assert (dropped.name, dropped.missing) == ("Inc", frozenset({"t"}))
    assert [t.name for t in tag_map(role)["t"]] == ["Inc"]


def test_model_follows_apply_and_imports(tmp_path: Path) -> None:
    main = [
        {
            "name": "Inc",
            "ansible.builtin.include_tasks": {"file": "other.yml", "apply": {"tags": ["t"]}},
            "tags": ["t"],
        },
        {"name": "Imp", "ansible.builtin.import_tasks": "other.yml", "tags": ["u"]},
        {"name": "Blk", "block": [{"name": "In block", "ansible.builtin.debug": {}}], "tags": ["v"]},
    ]
    role = _role(tmp_path, main, OTHER)
    tags = tag_map(role)
    assert dropped_tags(role) == []
    assert sorted(t.name for t in tags["t"]) == ["Inc", "Work"]
    assert sorted(t.name for t in tags["u"]) == ["Imp", "Work"]
    assert [t.name for t in tags["v"]] == ["In block"]


def test_model_an_include_tag_that_an_included_task_carries_itself(tmp_path: Path) -> None:
    """``--tags t`` runs the include and, of what it includes, the tasks tagged ``t`` themselves (Ansible's rule):
    the include need not apply ``t`` to all of them (which would run the others too)."""
    other = [*OTHER, {"name": "Tagged", "ansible.builtin.debug": {"msg": "y"}, "tags": ["t"]}]
    main = [
        {
            "name": "Inc",
            "ansible.builtin.include_tasks": {"file": "other.yml", "apply": {"tags": ["a"]}},
            "tags": ["a", "t"],
        }
    ]
    role = _role(tmp_path, main, other)
    assert dropped_tags(role) == []
    tags = tag_map(role)
    assert sorted(t.name for t in tags["t"]) == ["Inc", "Tagged"]
    assert sorted(t.name for t in tags["a"]) == ["Inc", "Tagged", "Work"]
    (tmp_path / "roles" / "r" / "tasks" / "other.yml").write_text(yaml.safe_dump(OTHER))
    (dropped,) = dropped_tags(role)  # no included task carries t: --tags t would run the include alone
    assert (dropped.name, dropped.missing) == ("Inc", frozenset({"t"}))
