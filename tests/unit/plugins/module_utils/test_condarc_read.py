# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_read import CondarcSyntaxError, parse_condarc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("---\nchannels:\n  - conda-forge\n  - defaults\n", {"channels": ["conda-forge", "defaults"]}),
        ("channels:\n- conda-forge\n", {"channels": ["conda-forge"]}),
        ("channels: [conda-forge, 'file:///srv/ch']\n", {"channels": ["conda-forge", "file:///srv/ch"]}),
        (
            "envs_dirs:\n  - /nfs/cpkgs/anaconda3_linux/envs  # shared\n",
            {"envs_dirs": ["/nfs/cpkgs/anaconda3_linux/envs"]},
        ),
        (
            "auto_update_conda: false\nnotify_outdated_conda: no\n",
            {"auto_update_conda": False, "notify_outdated_conda": False},
        ),
        ("auto_stack: 1\n", {"auto_stack": 1}),
        (
            "proxy_servers:\n  http: http://proxy:3128\n  https: ~\n",
            {"proxy_servers": {"http": "http://proxy:3128", "https": None}},
        ),
        ("custom_channels: {local: 'file:///srv'}\n", {"custom_channels": {"local": "file:///srv"}}),
        (
            'channel_alias: "https://example.org/#not-a-comment"\n',
            {"channel_alias": "https://example.org/#not-a-comment"},
        ),
        ("changeps1: 'it''s'\n", {"changeps1": "it's"}),
        ("pkgs_dirs:\n", {"pkgs_dirs": None}),
        ("channels:\n  -\n  - a\n", {"channels": [None, "a"]}),  # an empty item is a null
        ("proxy_servers: {http: , https: 'p:1'}\n", {"proxy_servers": {"http": None, "https": "p:1"}}),
        ("version: 1.10\n", {"version": "1.10"}),
        ('proxy_servers:\n  "http": "p:1"\n  \'odd key\': x\n', {"proxy_servers": {"http": "p:1", "odd key": "x"}}),
    ],
)
def test_parse(text: str, expected: dict) -> None:
    data, final = parse_condarc(text)
    assert data == expected
    assert final == set()


@pytest.mark.parametrize(
    ("text", "final"),
    [
        ("channels:  #!final\n  - a\n", {"channels"}),
        ("#!final\nchannels: [a]\n", set()),  # conda reads #!final per key only
        ("channels: [a] #!final\nauto_stack: 1\n", {"channels"}),
        ("channels: [a] # site channels #!final\n", set()),  # conda wants the marker as the whole comment
    ],
)
def test_final_markers(text: str, final: set) -> None:
    assert parse_condarc(text)[1] == final


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("channels:\n  - a\n   b: c\n", 3, "unexpected indentation before 'b'"),
        ("- a\n", 1, "list item outside a list"),
        ("channels: [a, [b]]\n", 1, "nested flow collections are not supported"),
        ("channels: [a, b\n", 1, "flow sequence must end on the same line"),
        ("key: &anchor x\n", 1, "unsupported YAML construct '&anchor x'"),
        ("a:\n  b:\n    c: 1\n", 2, "nested mappings deeper than one level are not supported"),
        ("just text\n", 1, "expected 'key: value', got 'just text'"),
        ("a: 'open\n", 1, "unterminated quoted string 'open"),
        ('a: "open\n', 1, 'unterminated quoted string "open'),
        ("a:\n\t- x\n", 2, "tabs are not allowed for indentation"),
        ("a: ['x, y]\n", 1, "unterminated quoted string"),
        ("a:\n  b: 'x\n", 2, "unterminated quoted string 'x"),
        ("a:\n  b: [x, 'y]\n", 2, "unterminated quoted string"),
    ],
)
def test_errors_name_the_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(CondarcSyntaxError) as info:
        parse_condarc(text)
    assert (info.value.line, info.value.reason) == (line, reason)
    assert str(info.value) == f"line {line}: {reason}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("channels: ['a,b', \"c]d\", 'x''y']\n", {"channels": ["a,b", "c]d", "x'y"]}),
        ("a: {k: 'v,w', m: \"n\"}\n", {"a": {"k": "v,w", "m": "n"}}),
    ],
)
def test_quotes_in_flow_collections_hide_commas_and_brackets(text: str, expected: dict) -> None:
    assert parse_condarc(text) == (expected, set())


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ('a: 1\nb: "bad \\x"\n', 2, 'bad escape in "bad \\x"'),
        ("a: 1\nb: {k: v\n", 2, "flow mapping must end on the same line"),
        ("a: 1\nb: {k}\n", 2, "flow mapping item without ':': k"),
        ("a: 1\nb:\n  - [x, {y: z}]\n", 3, "nested flow collections are not supported"),
        ("a: 1\nb: {k: [v]}\n", 2, "nested flow collections are not supported"),
        ("a: 1\n- x\n", 2, "list item outside a list"),
        ("a: 1\nb: [x, &y]\n", 2, "unsupported YAML construct '&y'"),
        ("a: 1\nb: {&k: v}\n", 2, "unsupported YAML construct '&k'"),
        ("a: 1\nb: {k: &v}\n", 2, "unsupported YAML construct '&v'"),
        ('a: 1\n"b\\x": 1\n', 2, 'bad escape in "b\\x"'),
    ],
)
def test_errors_inside_values_name_their_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(CondarcSyntaxError) as info:
        parse_condarc(text)
    assert (info.value.line, info.value.reason) == (line, reason)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name: "caf\\u00e9 \u20ac \\t"\n', {"name": "caf\u00e9 \u20ac \t"}),  # escapes and characters beyond latin-1
        ("channels: [X11, Xorg]\nproxy: X\n", {"channels": ["X11", "Xorg"], "proxy": "X"}),
        ("  # an indented comment\n#!final\nchannels: [a]\n", {"channels": ["a"]}),
        ("a: x#not-a-comment\n", {"a": "x#not-a-comment"}),
        ("a: X#1\n", {"a": "X#1"}),
        ("proxy: X  # the proxy\n", {"proxy": "X"}),
        ("name: 'a # b'\n", {"name": "a # b"}),
        ("name: 'x'  # a comment after the quotes\n", {"name": "x"}),
        ("env_prompt: ''\nchangeps1: \"\"\n", {"env_prompt": "", "changeps1": ""}),
        ("name: XboxX\n", {"name": "XboxX"}),  # the same first and last character, not quotes
    ],
)
def test_values_as_conda_reads_them(text: str, expected: dict) -> None:
    assert parse_condarc(text)[0] == expected
