# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of ``cpkgs.conda.condarc``: one place for the module (on the host) and its action plugin (on
the controller, which validates them before anything runs)."""

from __future__ import annotations

from ansible_collections.cpkgs.conda.plugins.module_utils._tree import tree_argument_spec

STATES = ("present", "absent")
LIST_MODES = ("exact", "add", "prepend", "remove")
MUTUALLY_EXCLUSIVE = [("scope", "path"), ("key", "settings")]
REQUIRED_ONE_OF = [("scope", "path"), ("key", "settings", "final_file")]


def _one_key() -> dict:
    """The options of one key: the module's own and those of each ``settings`` item (an option without a type is
    a string, Ansible's default)."""
    return {
        "key": {"no_log": False},  # a conda key, not a secret (validate-modules asks of options named like one)
        "value": {"type": "raw"},
        "state": {"choices": list(STATES), "default": "present"},
        "list_mode": {"choices": list(LIST_MODES), "default": "exact"},
        "final": {"type": "bool"},
    }


def argument_spec() -> dict:
    """The module's argument_spec (``settings`` items are checked as suboptions)."""
    setting = _one_key()
    setting["key"]["required"] = True
    return dict(
        tree_argument_spec(),
        scope={"choices": ["system", "user", "env"]},
        path={"type": "path"},
        user={},
        env={},
        **_one_key(),
        settings={"type": "list", "elements": "dict", "options": setting},
        final_file={"type": "bool"},
        backup={"type": "bool", "default": False},
        # Internal, set by the action plugin: the new text, and the sha1 of the text it was computed from. Not
        # documented, so their type is spelled out (validate-modules: doc-missing-type).
        _content={"type": "str"},
        _expected_sha1={"type": "str"},
    )
