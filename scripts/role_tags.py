"""Which tasks of a role each tag runs, read statically from the role's task files the way Ansible does it.

Ansible's rules (the ones that matter here):
- tags on a block, or on ``import_tasks`` / ``import_role`` (static), are inherited by every task inside;
- tags on ``include_tasks`` / ``include_role`` (dynamic) select the include itself only; the included tasks
  get only the tags of its ``apply:`` (and their own);
- ``always`` runs under any ``--tags`` selection.

``tag_map(role_dir)`` returns ``{tag: [Task, ...]}`` for every task reachable from ``tasks/main.yml`` (and
the role's other entry points), and ``dropped_tags(role_dir)`` the includes whose tags do not reach the
tasks they include: a user who runs ``--tags`` with such a tag runs the include and nothing in it.
Used by scripts/gen_role_docs.py (the Tags table of each role page) and tests/roles/test_tags.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

INCLUDES = ("include_tasks", "ansible.builtin.include_tasks", "include_role", "ansible.builtin.include_role")
IMPORTS = ("import_tasks", "ansible.builtin.import_tasks", "import_role", "ansible.builtin.import_role")
BLOCK_KEYS = ("block", "rescue", "always")


@dataclass(frozen=True)
class Task:
    """One task as a user sees it: the role and file it is in, its name and its effective tags."""

    role: str
    file: str
    name: str
    tags: frozenset[str]
    loads: bool = False  # an include or import: it loads tasks, it does nothing itself


@dataclass(frozen=True)
class DroppedTags:
    """An include whose own tags are not passed to what it includes."""

    role: str
    file: str
    name: str
    missing: frozenset[str]


def _as_set(value: object) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(t.strip() for t in value.split(",") if t.strip())
    return frozenset(str(v) for v in value)  # type: ignore[union-attr]


def _action(task: dict) -> tuple[str, object] | None:
    for key in (*INCLUDES, *IMPORTS):
        if key in task:
            return key.rsplit(".", 1)[-1], task[key]
    return None


class RoleTags:
    """Walks the task files of the roles under ``roles_dir`` (a collection's ``roles/``)."""

    def __init__(self, roles_dir: Path) -> None:
        self.roles_dir = roles_dir
        self.tasks: list[Task] = []
        self.dropped: list[DroppedTags] = []
        self._seen: set[tuple[str, str, frozenset[str]]] = set()

    def walk_role(self, role: str, entry: str = "main", inherited: frozenset[str] = frozenset()) -> None:
        path = self.roles_dir / role / "tasks" / f"{entry}.yml"
        self.walk_file(role, path, inherited)

    def walk_file(self, role: str, path: Path, inherited: frozenset[str]) -> None:
        key = (role, str(path), inherited)
        if key in self._seen:  # a file included in a loop, or twice: once per tag set is enough
            return
        self._seen.add(key)
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        rel = str(path.relative_to(self.roles_dir))
        self._walk_list(role, rel, path.parent, data, inherited)

    def _walk_list(self, role: str, rel: str, here: Path, tasks: list, inherited: frozenset[str]) -> None:
        for task in tasks:
            if not isinstance(task, dict):
                continue
            tags = inherited | _as_set(task.get("tags"))
            if any(k in task for k in BLOCK_KEYS):
                for k in BLOCK_KEYS:
                    self._walk_list(role, rel, here, task.get(k) or [], tags)
                continue
            action = _action(task)
            self.tasks.append(Task(role, rel, str(task.get("name", "(unnamed)")), tags, loads=action is not None))
            if action is not None:
                self._follow(role, rel, here, task, tags)

    def _follow(self, role: str, rel: str, here: Path, task: dict, tags: frozenset[str]) -> None:
        """Walk what an include or import loads, with the tags it passes on."""
        kind, args = _action(task) or ("", None)
        missing: frozenset[str] = frozenset()
        if kind.startswith("import"):
            passed = tags
        else:
            apply = args.get("apply", {}) if isinstance(args, dict) else {}
            passed = _as_set((apply or {}).get("tags"))
            missing = _as_set(task.get("tags")) - passed - {"always"}
        first = len(self.tasks)
        self._load(role, here, kind, args, passed)
        # A tag the include does not pass on still selects the included tasks that carry it themselves.
        missing = missing - {tag for loaded in self.tasks[first:] for tag in loaded.tags}
        if missing:
            self.dropped.append(DroppedTags(role, rel, str(task.get("name", "(unnamed)")), frozenset(missing)))

    def _load(self, role: str, here: Path, kind: str, args: object, passed: frozenset[str]) -> None:
        """Walk the file or role an include or import names."""
        if kind.endswith("tasks"):
            name = args.get("file") if isinstance(args, dict) else args
            if isinstance(name, str) and "{{" not in name:
                self.walk_file(role, here / name, passed)
        else:
            name = args.get("name") if isinstance(args, dict) else None
            entry = args.get("tasks_from", "main") if isinstance(args, dict) else "main"
            if isinstance(name, str) and "{{" not in name:
                other = name.rsplit(".", 1)[-1]
                if (self.roles_dir / other).is_dir():
                    self.walk_role(other, str(entry).removesuffix(".yml"), passed)


def entry_points(role_dir: Path) -> list[str]:
    """``main`` and the other entry points declared in ``meta/argument_specs.yml``."""
    spec_file = role_dir / "meta" / "argument_specs.yml"
    names = ["main"]
    if spec_file.is_file():
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8")) or {}
        names += [n for n in (spec.get("argument_specs") or {}) if n != "main"]
    return names


def walk(role_dir: Path) -> RoleTags:
    """All tasks reachable from the role's entry points."""
    walker = RoleTags(role_dir.parent)
    for entry in entry_points(role_dir):
        walker.walk_role(role_dir.name, entry)
    return walker


def tag_map(role_dir: Path) -> dict[str, list[Task]]:
    """``{tag: tasks it runs}`` for the tags of the role's own tasks (``always`` and ``never`` left out)."""
    result: dict[str, list[Task]] = {}
    for task in walk(role_dir).tasks:
        for tag in task.tags - {"always", "never"}:
            result.setdefault(tag, []).append(task)
    return dict(sorted(result.items()))


def dropped_tags(role_dir: Path) -> list[DroppedTags]:
    """Includes whose tags select the include but none of what it includes."""
    return walk(role_dir).dropped
