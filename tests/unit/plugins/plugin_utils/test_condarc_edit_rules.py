# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The condarc editor's value rules per conda key type, settings applied in order, and what the options'
argument spec converts and defaults (the action plugin and the module share it)."""

from __future__ import annotations

import re

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_args import (
    MUTUALLY_EXCLUSIVE,
    REQUIRED_ONE_OF,
    argument_spec,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_read import parse_condarc
from ansible_collections.cpkgs.conda.plugins.plugin_utils._condarc_edit import (
    CondarcDocument,
    CondarcEditError,
    normalize_settings,
)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("remote_backoff_factor", True, "a number"),
        ("remote_backoff_factor", "2", "a number"),
        ("channel_alias", 1, "a string"),
        ("proxy_servers", ["http://p"], "a mapping"),
        ("ssl_verify", 5, "a boolean or a path"),
        ("local_repodata_ttl", "1h", "a boolean or seconds"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_type(key: str, value: object, expected: str) -> None:
    with pytest.raises(CondarcEditError) as info:
        normalize_settings(None, [{"key": key, "value": value}])
    assert str(info.value) == f"settings[0].value: {key!r} must be {expected}, got {value!r} ({type(value).__name__})"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("remote_backoff_factor", 2),
        ("remote_read_timeout_secs", 60.5),
        ("ssl_verify", "/etc/ssl/site.pem"),
        ("ssl_verify", False),
        ("local_repodata_ttl", 3600),
        ("local_repodata_ttl", True),
        ("proxy_servers", {"http": "http://p:3128"}),
    ],
)
def test_values_of_the_key_s_type_are_written(key: str, value: object) -> None:
    document = CondarcDocument("", "/x/.condarc")
    document.apply(normalize_settings({"key": key, "value": value}, None))
    assert yaml.safe_load(document.dump()) == {key: value}  # what conda reads back


def test_settings_after_a_removal_or_a_no_op_still_apply() -> None:
    text = "channels:\n  - a\nauto_stack: 1\n"
    document = CondarcDocument(text, "/x/.condarc")
    changes = document.apply(
        normalize_settings(
            None,
            [
                {"key": "auto_stack", "value": 1},  # already so
                {"key": "channels", "state": "absent"},
                {"key": "always_yes", "value": True},
            ],
        )
    )
    assert changes == ["channels: removed", "always_yes: set to True"]
    assert parse_condarc(document.dump())[0] == {"auto_stack": 1, "always_yes": True}


def test_adding_to_a_missing_or_scalar_list_key() -> None:
    missing = CondarcDocument("", "/x/.condarc")
    missing.apply(normalize_settings({"key": "channels", "value": ["b"], "list_mode": "add"}, None))
    assert missing.value("channels") == ["b"]
    scalar = CondarcDocument("channels: a\n", "/x/.condarc")
    scalar.apply(normalize_settings({"key": "channels", "value": ["b"], "list_mode": "add"}, None))
    assert scalar.value("channels") == ["a", "b"]


def test_an_exact_mapping_replaces_the_old_one() -> None:
    document = CondarcDocument("proxy_servers:\n  http: a\n  https: b\n", "/x/.condarc")
    document.apply(normalize_settings({"key": "proxy_servers", "value": {"http": "c"}}, None))
    assert document.value("proxy_servers") == {"http": "c"}
    merged = CondarcDocument("proxy_servers:\n  http: a\n  https: b\n", "/x/.condarc")
    merged.apply(normalize_settings({"key": "proxy_servers", "value": {"http": "c"}, "list_mode": "add"}, None))
    assert merged.value("proxy_servers") == {"http": "c", "https": "b"}


def test_a_yaml_error_names_the_file_line_and_problem() -> None:
    with pytest.raises(CondarcEditError) as info:
        CondarcDocument("channels:\n  - a\n b: [\n", "/x/.condarc")
    assert re.match(
        r"^/x/\.condarc: line 3: not valid YAML \(expected .+\); the file was left as it is$", str(info.value)
    )
    with pytest.raises(CondarcEditError, match=r"^/x/\.condarc: the top level must be a mapping of keys, got str$"):
        CondarcDocument("just text\n", "/x/.condarc")


def _validated(args: dict) -> dict:
    validator = ArgumentSpecValidator(
        argument_spec(), mutually_exclusive=MUTUALLY_EXCLUSIVE, required_one_of=REQUIRED_ONE_OF
    )
    result = validator.validate(args)
    assert result.error_messages == []
    return result.validated_parameters


def test_the_argument_spec_converts_and_defaults() -> None:
    single = _validated({"scope": "system", "key": "channels", "value": ["a"], "final_file": "yes"})
    assert (single["state"], single["list_mode"], single["final_file"]) == ("present", "exact", True)
    many = _validated({"scope": "env", "env": 5, "settings": [{"key": "channels", "value": ["a"], "final": "yes"}]})
    assert many["env"] == "5"
    assert many["settings"][0]["final"] is True
    assert (many["settings"][0]["state"], many["settings"][0]["list_mode"]) == ("present", "exact")


def test_the_argument_spec_refuses_an_unknown_scope() -> None:
    validator = ArgumentSpecValidator(
        argument_spec(), mutually_exclusive=MUTUALLY_EXCLUSIVE, required_one_of=REQUIRED_ONE_OF
    )
    errors = validator.validate({"scope": "site", "key": "channels", "value": ["a"]}).error_messages
    assert any("scope" in error and "system, user, env" in error for error in errors), errors


def test_key_names_are_not_secrets() -> None:
    """A key's name is not hidden from the results (a no_log key would mask 'channels' in the file's text)."""
    validator = ArgumentSpecValidator(
        argument_spec(), mutually_exclusive=MUTUALLY_EXCLUSIVE, required_one_of=REQUIRED_ONE_OF
    )
    single = validator.validate({"scope": "system", "key": "channels", "value": ["a"]})
    many = validator.validate({"scope": "system", "settings": [{"key": "channels", "value": ["a"]}]})
    assert single._no_log_values == set()
    assert many._no_log_values == set()
