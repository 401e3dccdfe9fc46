# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the condarc editor writes what it changes (the file's own list style, long values on one line), what it
says about text it cannot load, and how it reads conda's ``#!final`` marks."""

from __future__ import annotations

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_read import parse_condarc
from ansible_collections.cpkgs.conda.plugins.plugin_utils import _condarc_edit
from ansible_collections.cpkgs.conda.plugins.plugin_utils._condarc_edit import (
    CondarcDocument,
    CondarcEditError,
    normalize_settings,
)


def _add(text: str, key: str, value: object) -> str:
    document = CondarcDocument(text, "/x/.condarc")
    document.apply(normalize_settings({"key": key, "value": value}, None))
    return document.dump()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "envs_dirs:\n  - /e\n"),  # a new file: conda config's style
        ("ssl_verify: true\n", "ssl_verify: true\nenvs_dirs:\n  - /e\n"),  # no list to learn from
        ("channels:\n- a\n", "channels:\n- a\nenvs_dirs:\n- /e\n"),
        ("channels:\n  - a\n", "channels:\n  - a\nenvs_dirs:\n  - /e\n"),
        ("channels:\n    - a\n", "channels:\n    - a\nenvs_dirs:\n    - /e\n"),
        ("channels:\n  -   a\n", "channels:\n  -   a\nenvs_dirs:\n  -   /e\n"),
    ],
)
def test_a_new_list_is_written_in_the_file_s_own_style(text: str, expected: str) -> None:
    written = _add(text, "envs_dirs", ["/e"])
    assert written == expected
    assert parse_condarc(written)[0]["envs_dirs"] == ["/e"]


def test_a_long_value_stays_on_one_line() -> None:
    """A folded value would be a multi-line scalar, which the collection's own reader (and a person) reads worse."""
    prompt = "({name}) " + "word " * 1000 + "$ "  # 5000+ characters with spaces to fold at
    written = _add("", "env_prompt", prompt)
    assert written.count("\n") == 1
    assert parse_condarc(written)[0] == {"env_prompt": prompt}


def test_text_yaml_cannot_read_names_the_file_and_the_problem() -> None:
    """A control character is refused by YAML's reader, which knows no line: the message has none either."""
    with pytest.raises(CondarcEditError) as info:
        CondarcDocument("channels: [a\x07]\n", "/x/.condarc")
    assert str(info.value) == (
        "/x/.condarc: not valid YAML (unacceptable character #x0007: special characters are not allowed); "
        "the file was left as it is"
    )


def test_without_ruamel_the_editor_says_what_the_controller_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_condarc_edit, "HAS_RUAMEL", False)
    with pytest.raises(CondarcEditError) as info:
        CondarcDocument("channels: [a]\n", "/x/.condarc")
    assert str(info.value) == "the condarc action needs the Python package ruamel.yaml on the controller"


@pytest.mark.parametrize(
    ("text", "final"),
    [
        ("channels: [a]  #!final\n", True),
        ("channels: [a]    #!final  \n", True),
        ("channels: [a]  # !final\n", False),  # stripped of # and !, it is ' !final'
        ("channels: [a]  #!finalX\n", False),  # conda wants the marker as the whole comment
        ("channels: [a]  # final list\n", False),
        ("channels: [a]\n", False),
    ],
)
def test_final_marks_are_read_as_conda_reads_them(text: str, final: bool) -> None:
    document = CondarcDocument(text, "/x/.condarc")
    assert document.is_final("channels") is final
    assert ("channels" in parse_condarc(text)[1]) is final  # the managed nodes' reader agrees


def test_quotes_of_the_keys_left_alone_are_kept() -> None:
    text = "channel_alias: 'https://conda.example.org'\nenv_prompt: \"({name}) \"\n"
    written = _add(text, "auto_update_conda", False)
    assert written == text + "auto_update_conda: false\n"


def test_a_change_says_what_the_value_was_and_is() -> None:
    document = CondarcDocument("channels:\n  - a\nauto_stack: 1\n", "/x/.condarc")
    changes = document.apply(
        normalize_settings(None, [{"key": "channels", "value": ["b"]}, {"key": "auto_stack", "value": 2}])
    )
    assert changes == ["channels: ['a'] -> ['b']", "auto_stack: 1 -> 2"]


def test_prepend_on_a_key_that_is_not_a_list_is_refused() -> None:
    with pytest.raises(CondarcEditError) as info:
        normalize_settings({"key": "channel_priority", "value": "strict", "list_mode": "prepend"}, None)
    assert str(info.value) == "list_mode: 'prepend' needs a list key, 'channel_priority' is a string"
