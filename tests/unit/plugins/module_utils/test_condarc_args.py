# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of cpkgs.conda.condarc as Ansible checks them (the action plugin on the controller, the module on
the host): types, choices, defaults, and which options go together."""

from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_args import (
    MUTUALLY_EXCLUSIVE,
    REQUIRED_ONE_OF,
    argument_spec,
)


def validate(params: dict) -> tuple:
    """(the validated options, the error messages)."""
    validator = ArgumentSpecValidator(
        argument_spec(), mutually_exclusive=MUTUALLY_EXCLUSIVE, required_one_of=REQUIRED_ONE_OF
    )
    result = validator.validate(params)
    return result.validated_parameters, result.error_messages


def test_one_key_gets_the_defaults() -> None:
    params, errors = validate({"scope": "user", "key": "channels", "value": ["conda-forge"]})
    assert errors == []
    assert (params["state"], params["list_mode"], params["final"], params["backup"]) == (
        "present",
        "exact",
        None,
        False,
    )


def test_settings_items_get_the_defaults_and_their_yes_and_no() -> None:
    settings = [{"key": "channels", "value": ["x"], "final": "yes"}, {"key": "always_yes", "final": "no"}]
    params, errors = validate({"path": "/etc/conda/.condarc", "settings": settings})
    assert errors == []
    assert [(item["state"], item["list_mode"], item["final"]) for item in params["settings"]] == [
        ("present", "exact", True),
        ("present", "exact", False),
    ]


@pytest.mark.parametrize(("text", "value"), [("no", False), ("false", False), ("yes", True)])
def test_final_and_final_file_are_booleans(text: str, value: bool) -> None:
    params, errors = validate({"scope": "system", "key": "channels", "final": text, "final_file": text})
    assert errors == []
    assert (params["final"], params["final_file"]) == (value, value)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"scope": "site", "key": "channels"}, "scope"),
        ({"scope": "user", "key": "channels", "state": "gone"}, "state"),
        ({"scope": "user", "key": "channels", "list_mode": "append"}, "list_mode"),
        ({"scope": "user", "settings": [{"key": "channels", "list_mode": "append"}]}, "list_mode"),
        ({"scope": "user", "settings": [{"key": "channels", "state": "gone"}]}, "state"),
        ({"scope": "user", "settings": [{"value": 1}]}, "key"),
    ],
)
def test_a_bad_value_is_refused_naming_the_option(params: dict, named: str) -> None:
    _params, errors = validate(params)
    assert len(errors) == 1, errors
    assert named in errors[0]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"scope": "user", "path": "/etc/conda/.condarc", "key": "channels"}, "mutually exclusive: scope|path"),
        ({"scope": "user", "key": "channels", "settings": [{"key": "always_yes"}]}, "mutually exclusive: key|settings"),
        ({"key": "channels"}, "one of the following is required: scope, path"),
        ({"scope": "user"}, "one of the following is required: key, settings, final_file"),
    ],
)
def test_options_that_do_not_go_together(params: dict, error: str) -> None:
    _params, errors = validate(params)
    assert len(errors) == 1, errors
    assert errors[0].endswith(error)


def test_path_is_a_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """``~`` and environment variables in ``path`` are expanded, as in any Ansible path option."""
    monkeypatch.setenv("HOME", "/home/ana")
    monkeypatch.setenv("CPKGS_TREE", "/opt/anaconda3_linux")
    params, errors = validate({"path": "~/.condarc", "key": "channels"})
    assert (errors, params["path"]) == ([], "/home/ana/.condarc")
    params, errors = validate({"path": "$CPKGS_TREE/.condarc", "key": "channels"})
    assert (errors, params["path"]) == ([], "/opt/anaconda3_linux/.condarc")
