"""Parse each module's DOCUMENTATION, EXAMPLES and RETURN as YAML (what ansible-doc does first), so stage lint
fails in seconds on what sanity's yamllint, ansible-doc and validate-modules would all fail on later; and check
that no option whose name starts with ``_`` is documented: such options are set by an action plugin, not by users,
and stay out of ansible-doc (validate-modules' ``undocumented-parameter`` is ignored for them in
``tests/sanity/ignore-*.txt``)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import yaml

NAMES = ("DOCUMENTATION", "EXAMPLES", "RETURN")


def problems(path: Path) -> list[str]:
    found = []
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in NAMES and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                try:
                    doc = yaml.safe_load(node.value.value)
                except yaml.YAMLError as exc:
                    mark = getattr(exc, "problem_mark", None)
                    line = f" (line {node.lineno + mark.line})" if mark else ""
                    found.append(f"{path}: {name}{line}: {getattr(exc, 'problem', exc)}")
                    continue
                if name == "DOCUMENTATION" and isinstance(doc, dict):
                    internal = sorted(option for option in doc.get("options") or {} if option.startswith("_"))
                    if internal:
                        found.append(f"{path}: DOCUMENTATION documents internal options {', '.join(internal)}")
    return found


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    found = [p for module in sorted((root / "plugins" / "modules").glob("*.py")) for p in problems(module)]
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
