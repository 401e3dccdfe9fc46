# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""When one look at a host's trees may stand for the next: the key of a look and what a stash must hold
(the action plugin that uses them: tests/unit/plugins/action/test_conda_facts_action.py)."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.cpkgs.conda.plugins.plugin_utils._facts_reuse import KEY, look_key, reusable

FACTS = {"conda": {"root_prefix": "/s/anaconda3_linux", "envs": [{"name": "isis4.3.0"}]}}


def test_an_option_yaml_read_as_a_date_makes_a_key() -> None:
    """``release: 2026-11-26`` in a play is a date, not a string, by the time the action plugin sees it."""
    day = look_key({"release": datetime.date(2026, 11, 26)}, "node1")
    assert day == look_key({"release": datetime.date(2026, 11, 26)}, "node1")
    assert day != look_key({"release": datetime.date(2026, 11, 27)}, "node1")


def test_the_key_does_not_depend_on_the_order_of_the_options() -> None:
    assert look_key({"share_root": "/s", "gather_envs": False}, "node1") == look_key(
        {"gather_envs": False, "share_root": "/s"}, "node1"
    )


@pytest.mark.parametrize(
    ("other", "why"),
    [
        ({"host": "node2"}, "another host"),
        ({"remote_user": "ops"}, "another remote user"),
        ({"become": True, "become_method": "sudo", "become_user": "root"}, "become"),
        ({"become": True}, "become with the connection's default method and user"),
        ({"args": {"share_root": "/t"}}, "other options"),
    ],
)
def test_each_part_of_the_key_counts(other: dict, why: str) -> None:
    base = {"args": {"share_root": "/s"}, "host": "node1", "remote_user": "admin"}
    changed = dict(base, **other)
    assert look_key(changed.pop("args"), changed.pop("host"), **changed) != look_key(
        base["args"], base["host"], remote_user="admin"
    ), why


@pytest.mark.parametrize(
    ("stash", "why"),
    [
        ({"failed": True}, "a failed look"),
        ({"skipped": True}, "a skipped look"),
        ({"ansible_facts": None}, "a look without facts"),
        ({"ansible_facts": {}}, "a look without conda facts"),
        ({"ansible_facts": {"conda": "installed"}}, "conda facts that are not a mapping"),
    ],
)
def test_a_stash_that_cannot_stand_for_a_look(stash: dict, why: str) -> None:
    key = look_key({"share_root": "/s"}, "node1")
    full = {KEY: key, "ansible_facts": FACTS, "changed": False}
    assert reusable(full, key, FACTS) == FACTS["conda"]
    assert reusable(dict(full, **stash), key, FACTS) is None, why


def test_the_reused_facts_are_a_copy() -> None:
    key = look_key({"share_root": "/s"}, "node1")
    facts = reusable({KEY: key, "ansible_facts": FACTS}, key, FACTS)
    facts["envs"].append({"name": "other"})
    assert FACTS["conda"]["envs"] == [{"name": "isis4.3.0"}]


def test_without_current_facts_nothing_is_reused() -> None:
    key = look_key({"share_root": "/s"}, "node1")
    assert reusable({KEY: key, "ansible_facts": FACTS}, key, None) is None
    assert reusable({KEY: key, "ansible_facts": FACTS}, key, {}) is None


def test_the_system_condarc_read_is_not_part_of_the_look() -> None:
    """conda_tree's look also reads the system .condarc for its condarc task; the facts are the same, so the next
    roles' looks without that option reuse it."""
    plain = look_key({"share_root": "/s", "gather_envs": False}, "node1")
    with_read = look_key({"share_root": "/s", "gather_envs": False, "system_condarc": {"mode": "0644"}}, "node1")
    assert with_read == plain
    assert look_key({"share_root": "/t", "gather_envs": False, "system_condarc": {}}, "node1") != plain
