# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One owner per environment ``.condarc``: conda_env writes a file whole (and marks it as its own), the
condarc module edits keys of the others; neither touches the other's file. And one key rule for both."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils._conda_env import (
    CondaRunner,
    EnvManager,
    EnvSpec,
    InputError,
    render_condarc,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_rules import (
    ENV_CONDARC_HEADER,
    is_condarc_key,
    written_by_conda_env,
)


def _no_conda(cmd, **_kwargs):
    raise AssertionError(f"conda must not run: {cmd}")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "anaconda3_linux"
    (root / "conda-meta").mkdir(parents=True)
    (root / "envs").mkdir()
    return root


def _built_env(tree: Path, name: str = "e1") -> Path:
    """An environment as this module leaves one: history, and a record of the request it was built for."""
    prefix = tree / "envs" / name
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").write_text("")
    return prefix


def _manager(tree: Path) -> EnvManager:
    return EnvManager(CondaRunner(_no_conda, str(tree / "bin" / "conda")), str(tree), [str(tree / "envs")])


def test_the_written_file_carries_the_owner_mark() -> None:
    text = render_condarc({"channels": ["a"]})
    assert text.startswith(ENV_CONDARC_HEADER)
    assert written_by_conda_env(text)


@pytest.mark.parametrize(
    "text",
    [
        "channels:\n  - a\n",  # edited by the condarc module or by hand
        "# a comment first\n" + ENV_CONDARC_HEADER,  # the mark counts only as the first line
        ENV_CONDARC_HEADER.rstrip("\n") + " and more\n",  # not the mark itself
        "",
    ],
)
def test_other_files_are_not_conda_envs(text: str) -> None:
    assert not written_by_conda_env(text)


def test_conda_env_refuses_to_overwrite_a_condarc_it_did_not_write(tree: Path) -> None:
    prefix = _built_env(tree)
    foreign = "channels:\n  - mine  # set with cpkgs.conda.condarc scope=env\n"
    (prefix / ".condarc").write_text(foreign)
    spec = EnvSpec({"name": "e1", "specs": ["pkga"], "condarc": {"channels": ["x"]}})
    with pytest.raises(InputError) as info:
        _manager(tree).run(spec)
    message = str(info.value)
    assert message.startswith(f"condarc: {prefix / '.condarc'} was not written by conda_env")
    assert "cpkgs.conda.condarc" in message
    assert (prefix / ".condarc").read_text() == foreign  # nothing changed on disk


def test_an_empty_or_absent_condarc_is_free_to_take(tree: Path) -> None:
    """A file of nothing but blank lines holds no keys of anyone's: conda_env may write it."""
    prefix = _built_env(tree)
    (prefix / ".condarc").write_text("\n\n")
    manager = EnvManager(CondaRunner(_no_conda, str(tree / "bin" / "conda")), str(tree), [str(tree / "envs")])
    manager.check_mode = True
    result: dict = {}
    manager._condarc(str(prefix), render_condarc({"channels": ["x"]}), result)
    assert result["condarc_changed"] is True


@pytest.mark.parametrize("key", ["foo\n", "foo\nenvs_dirs", "", " channels", "1st", "a b", "ключ"])
def test_one_key_rule_refuses(key: str) -> None:
    assert not is_condarc_key(key)
    with pytest.raises(InputError, match=r"^condarc: .* is not a \.condarc key"):
        render_condarc({key: 1})


@pytest.mark.parametrize("key", ["channels", "plugins.allowlist", "_private", "ssl-verify", "x1"])
def test_one_key_rule_accepts(key: str) -> None:
    assert is_condarc_key(key)
    assert f"\n{key}: 1\n" in render_condarc({key: 1})
