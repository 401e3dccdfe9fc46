# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
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

HAND_WRITTEN = """\
# written by hand, keep this comment
channels:
  - defaults   # the old default
  - bioconda
ssl_verify: true  # site proxy
envs_dirs:
  - /nfs/cpkgs/anaconda3_linux/envs
"""


def _apply(text: str, *settings: dict) -> tuple[CondarcDocument, list[str], str]:
    doc = CondarcDocument(text, "/x/.condarc")
    changes = doc.apply(normalize_settings(None, list(settings)))
    return doc, changes, doc.dump()


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("exact", ["conda-forge"], ["conda-forge"]),
        ("add", ["conda-forge", "bioconda"], ["defaults", "bioconda", "conda-forge"]),
        ("prepend", ["conda-forge", "bioconda"], ["conda-forge", "bioconda", "defaults"]),
        ("remove", ["defaults", "not-there"], ["bioconda"]),
    ],
)
def test_list_modes_and_idempotence(mode: str, value: list, expected: list) -> None:
    setting = {"key": "channels", "value": value, "list_mode": mode}
    doc, changes, text = _apply(HAND_WRITTEN, setting)
    assert doc.value("channels") == expected
    assert changes
    assert "# written by hand, keep this comment" in text
    assert "ssl_verify: true  # site proxy" in text
    assert parse_condarc(text)[0]["envs_dirs"] == ["/nfs/cpkgs/anaconda3_linux/envs"]
    # the second run changes nothing and returns the text untouched
    again, changes2, text2 = _apply(text, setting)
    assert changes2 == []
    assert text2 == text
    assert again.value("channels") == expected


def test_comment_of_a_kept_item_survives() -> None:
    _doc, _changes, text = _apply(HAND_WRITTEN, {"key": "channels", "value": ["x"], "list_mode": "prepend"})
    assert "- defaults   # the old default" in text


def test_no_change_keeps_the_exact_text() -> None:
    odd = "channels:\n- defaults\nssl_verify:   true\n"
    doc, changes, text = _apply(odd, {"key": "channels", "value": ["defaults"]}, {"key": "ssl_verify", "value": True})
    assert changes == []
    assert text == odd
    assert doc.value("ssl_verify") is True


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ({"key": "auto_update_conda", "value": False}, {"auto_update_conda": False}),
        ({"key": "channel_priority", "value": "strict"}, {"channel_priority": "strict"}),
        ({"key": "auto_stack", "value": 1}, {"auto_stack": 1}),
        ({"key": "ssl_verify", "state": "absent"}, {}),
        ({"key": "proxy_servers", "value": {"http": "http://p:3128"}}, {"proxy_servers": {"http": "http://p:3128"}}),
        ({"key": "channels", "value": "conda-forge"}, {"channels": ["conda-forge"]}),  # a string is a one-item list
    ],
)
def test_scalars_maps_and_absent(setting: dict, expected: dict) -> None:
    _doc, changes, text = _apply("ssl_verify: false\n", setting)
    data = parse_condarc(text)[0]
    for key, value in expected.items():
        assert data[key] == value
    if setting.get("state") == "absent":
        assert "ssl_verify" not in data
    assert changes


def test_map_add_merges() -> None:
    text = "proxy_servers:\n  http: http://a:1\n"
    doc, _changes, _text = _apply(text, {"key": "proxy_servers", "value": {"https": "http://b:2"}, "list_mode": "add"})
    assert doc.value("proxy_servers") == {"http": "http://a:1", "https": "http://b:2"}


def test_final_marker_added_read_by_conda_rules_and_removed() -> None:
    doc, changes, text = _apply(HAND_WRITTEN, {"key": "channels", "value": ["conda-forge"], "final": True})
    assert "channels: marked #!final" in changes
    assert parse_condarc(text)[1] == {"channels"}
    assert doc.is_final("channels")
    _doc2, changes2, text2 = _apply(text, {"key": "channels", "value": ["conda-forge"], "final": True})
    assert changes2 == []
    _doc3, changes3, text3 = _apply(text2, {"key": "channels", "value": ["conda-forge"], "final": False})
    assert changes3 == ["channels: unmarked #!final"]
    assert parse_condarc(text3)[1] == set()


def test_final_on_a_scalar_key() -> None:
    _doc, _changes, text = _apply("", {"key": "auto_update_conda", "value": False, "final": True})
    assert text == "auto_update_conda: false  #!final\n"
    assert parse_condarc(text) == ({"auto_update_conda": False}, {"auto_update_conda"})


def test_empty_file_and_removing_the_last_key() -> None:
    _doc, changes, text = _apply("", {"key": "channels", "value": ["conda-forge"]})
    assert text == "channels:\n  - conda-forge\n"
    assert changes == ["channels: set to ['conda-forge']"]
    _doc, _changes, text = _apply(text, {"key": "channels", "state": "absent"})
    assert text == ""


@pytest.mark.parametrize(
    ("single", "many", "message"),
    [
        (
            None,
            [{"key": "auto_stack", "value": "two"}],
            "settings[0].value: 'auto_stack' must be an integer, got 'two' (str)",
        ),
        (
            None,
            [{"key": "channels", "value": [1, 2]}],
            "settings[0].value: 'channels' must be a list of strings, got [1, 2] (list)",
        ),
        (
            None,
            [{"key": "auto_update_conda", "value": "no"}],
            "settings[0].value: 'auto_update_conda' must be a boolean, got 'no' (str)",
        ),
        (
            None,
            [{"key": "channel_priority", "value": "high"}],
            "settings[0].value: 'channel_priority' must be one of strict, flexible, disabled, got 'high' (str)",
        ),
        (
            None,
            [{"key": "solver", "value": "mamba"}],
            "settings[0].value: 'solver' must be one of classic, libmamba, rattler, got 'mamba' (str)",
        ),
        (
            None,
            [{"key": "auto_update_conda", "value": True, "list_mode": "remove"}],
            "settings[0].list_mode: 'remove' needs a list key, 'auto_update_conda' is a boolean",
        ),
        (None, [{"key": "channels"}], "settings[0].value: required for 'channels' with state=present"),
        (
            None,
            [{"key": "channels", "value": ["a"]}, {"key": "channels", "value": ["b"]}],
            "settings[1].key: 'channels' is given twice",
        ),
        (
            None,
            [{"key": "bad key:", "value": 1}],
            "settings[0].key: not a .condarc key: 'bad key:' (a letter or _ first, then letters, digits, _ . -)",
        ),
        ({"key": "auto_stack", "value": True}, None, "value: 'auto_stack' must be an integer, got True (bool)"),
        (None, [], "settings: give at least one key (or use key/value)"),
    ],
)
def test_bad_input_names_parameter_and_value(single: dict | None, many: list | None, message: str) -> None:
    with pytest.raises(CondarcEditError) as info:
        normalize_settings(single, many)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("channels: [a\nssl_verify: true\n", "/x/.condarc: line 2: not valid YAML"),
        ("- just\n- a list\n", "/x/.condarc: the top level must be a mapping"),
        ("key: 'unterminated\n", "/x/.condarc: line"),
    ],
)
def test_invalid_file_is_refused_with_file_and_line(text: str, message: str) -> None:
    with pytest.raises(CondarcEditError) as info:
        CondarcDocument(text, "/x/.condarc")
    assert message in str(info.value)


def test_unknown_keys_are_reported() -> None:
    settings = normalize_settings(None, [{"key": "my_plugin_key", "value": 3}, {"key": "channels", "value": ["a"]}])
    assert CondarcDocument("").unknown_keys(settings) == ["my_plugin_key"]


def test_final_file_marks_every_key_and_is_idempotent() -> None:
    doc = CondarcDocument(HAND_WRITTEN, "/x/.condarc")
    changes = doc.set_final_file(True)
    assert sorted(changes) == ["channels: marked #!final", "envs_dirs: marked #!final", "ssl_verify: marked #!final"]
    text = doc.dump()
    assert parse_condarc(text)[1] == {"channels", "ssl_verify", "envs_dirs"}
    assert CondarcDocument(text).set_final_file(True) == []
    unmarked = CondarcDocument(text)
    assert len(unmarked.set_final_file(False)) == 3
    assert parse_condarc(unmarked.dump())[1] == set()


@pytest.mark.parametrize(
    ("single", "many", "message"),
    [
        ({"key": "foo\nenvs_dirs", "value": ["/x"]}, None, "key: not a .condarc key: 'foo\\nenvs_dirs'"),
        (None, [{"key": "channels\n", "value": ["a"]}], "settings[0].key: not a .condarc key: 'channels\\n'"),
        (None, [{"key": "a\tb", "value": 1}], "settings[0].key: not a .condarc key: 'a\\tb'"),
        (None, [{"key": "bell\x07", "value": 1}], "settings[0].key: not a .condarc key: 'bell\\x07'"),
        (None, [{"key": "1channels", "value": 1}], "settings[0].key: not a .condarc key: '1channels'"),
        (None, [{"key": "a b", "value": 1}], "settings[0].key: not a .condarc key: 'a b'"),
    ],
)
def test_keys_with_control_characters_are_refused(single: dict | None, many: list | None, message: str) -> None:
    """Such a key would be written as a YAML complex key, which the collection's own reader rejects."""
    with pytest.raises(CondarcEditError) as info:
        normalize_settings(single, many)
    assert message in str(info.value)


@pytest.mark.parametrize("key", ["my_key", "plugin.option", "_private", "conda-build", "X_1.y-2"])
def test_plain_keys_are_accepted_and_read_back(key: str) -> None:
    doc = CondarcDocument("", "/x/.condarc")
    doc.apply(normalize_settings({"key": key, "value": 1}, None))
    assert parse_condarc(doc.dump())[0] == {key: 1}


class _TaggedText(str):
    """Like ansible-core 2.16's AnsibleUnsafeText: a str subclass whose ``__str__`` returns itself."""

    # Returning a str subclass from __str__ is the very behaviour this test reproduces.
    def __str__(self) -> str:  # pylint: disable=invalid-str-returned
        return self

    def encode(self, *args: object, **kwargs: object) -> bytes:
        return _TaggedBytes(str.encode(self, *args, **kwargs))  # type: ignore[arg-type]


class _TaggedBytes(bytes):
    """AnsibleUnsafeBytes: decoding gives tagged text again."""

    def decode(self, *args: object, **kwargs: object) -> str:
        return _TaggedText(bytes.decode(self, *args, **kwargs))  # type: ignore[arg-type]


def test_tagged_strings_from_ansible_are_written_as_plain_yaml() -> None:
    """ruamel.yaml cannot represent str subclasses; the settings hold plain values whatever Ansible passed."""
    (setting,) = normalize_settings({"key": _TaggedText("channels"), "value": [_TaggedText("conda-forge")]}, None)
    assert setting.key.__class__ is str
    assert [v.__class__ for v in setting.value] == [str]
    document = CondarcDocument("", ".condarc")
    document.apply([setting])
    assert document.dump() == "channels:\n  - conda-forge\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"scope": "system", "settings": [{"key": "channels", "value": ["a"], "state": "gone"}]}, "state"),
        ({"scope": "system", "settings": ["channels"]}, "settings"),
        ({"scope": "system", "settings": [{"key": "a", "value": 1, "colour": "red"}]}, "colour"),
        ({"scope": "system", "settings": [{"key": "a", "value": 1, "final": "maybe"}]}, "final"),
        ({"scope": "system", "key": "a", "value": 1, "settings": [{"key": "b", "value": 2}]}, "mutually exclusive"),
        ({"scope": "system", "key": "a", "value": 1, "list_mode": "append"}, "list_mode"),
    ],
)
def test_the_argument_spec_refuses_what_the_editor_no_longer_checks(args: dict, message: str) -> None:
    """Choices, types, unknown options and exclusions are the argument_spec's job (the action plugin runs it
    before anything else); the editor checks only what it cannot: the key rule and values against keys."""
    validator = ArgumentSpecValidator(
        argument_spec(), mutually_exclusive=MUTUALLY_EXCLUSIVE, required_one_of=REQUIRED_ONE_OF
    )
    errors = validator.validate(args).error_messages
    assert any(message in error for error in errors), errors
