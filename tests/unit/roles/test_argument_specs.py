# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every role's meta/argument_specs.yml documents exactly its defaults, with the same default values, in every entry
point (main, and tasks_from entry points such as conda_node's publish and rollback), written out (no YAML anchors)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"
ROLE_NAMES = sorted(p.name for p in ROLES.iterdir() if (p / "defaults" / "main.yml").is_file())


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def test_there_are_roles() -> None:
    assert ROLE_NAMES, f"no roles found under {ROLES}"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_specs_match_defaults(role: str) -> None:
    defaults = _load(ROLES / role / "defaults" / "main.yml")
    options = _load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(options) == sorted(defaults), "documented and defaulted variables differ"
    for name, value in defaults.items():
        assert options[name].get("default") == value, f"{name}: argument_specs default differs from defaults/main.yml"
        assert options[name].get("description"), f"{name}: no description"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_public_variables_are_prefixed(role: str) -> None:
    for name in _load(ROLES / role / "defaults" / "main.yml"):
        assert name.startswith(f"{role}_"), f"{name} is not prefixed with {role}_"


def _entry_points(role: str) -> dict:
    return _load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_entry_point_defaults_as_defaults(role: str) -> None:
    """An option of any entry point that is a role default has that default; one that is not is required."""
    defaults = _load(ROLES / role / "defaults" / "main.yml")
    for entry, spec in _entry_points(role).items():
        for name, option in (spec.get("options") or {}).items():
            assert option.get("description"), f"{entry}: {name}: no description"
            if name in defaults:
                assert option.get("default") == defaults[name], f"{entry}: {name}: default is not defaults/main.yml's"
            else:
                assert option.get("required") is True, f"{entry}: {name}: neither a role default nor required"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_specs_have_no_yaml_anchors(role: str) -> None:
    """ansible-doc and readers see each default written out, not a reference to another entry point's."""
    events = yaml.parse((ROLES / role / "meta" / "argument_specs.yml").read_text())
    aliases = [e.start_mark.line + 1 for e in events if isinstance(e, yaml.AliasEvent)]
    assert not aliases, f"YAML aliases at lines {aliases}"
