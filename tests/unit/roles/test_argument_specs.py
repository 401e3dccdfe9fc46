# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every role's meta/argument_specs.yml documents exactly its defaults, with the same default values."""

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
