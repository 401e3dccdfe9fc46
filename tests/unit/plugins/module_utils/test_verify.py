# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The integrity audit on hand-made environments and package records."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils._conda_env import UNFROZEN_ENVIRON, CondaRunner, InputError
from ansible_collections.cpkgs.conda.plugins.module_utils._verify import (
    Verifier,
    audit_env,
    cache_damage,
    reinstall_spec,
    resolve_envs,
    size_matches,
)

PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _make_env(tmp_path: Path, *, conda_style_sizes: bool = True) -> tuple[Path, Path]:
    """An env with one package ``tool-1.0-0``: a plain file, a text file with the prefix written in, a link and a
    directory, hard-linked from a package cache copy whose ``info/paths.json`` describes the package."""
    prefix = tmp_path / "envs" / "e1"
    cache = tmp_path / "pkgs" / "tool-1.0-0"
    (cache / "info").mkdir(parents=True)
    (cache / "share").mkdir()
    (cache / "bin").mkdir()
    plain = b"data\n" * 10
    (cache / "share" / "data").write_bytes(plain)
    in_package = f"#!/bin/sh\necho {PLACEHOLDER}\n".encode()
    (cache / "bin" / "tool").write_bytes(in_package)
    (cache / "bin" / "tool-link").symlink_to("tool")
    (cache / "info" / "paths.json").write_text(
        json.dumps(
            {
                "paths": [
                    {"_path": "share/data", "path_type": "hardlink", "sha256": _sha(plain), "size_in_bytes": 50},
                    {
                        "_path": "bin/tool",
                        "path_type": "hardlink",
                        "sha256": _sha(in_package),
                        "size_in_bytes": len(in_package),
                        "prefix_placeholder": PLACEHOLDER,
                        "file_mode": "text",
                    },
                    {"_path": "bin/tool-link", "path_type": "softlink"},
                ]
            }
        )
    )
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "share").mkdir()
    (prefix / "bin").mkdir()
    os.link(cache / "share" / "data", (prefix / "share" / "data"))
    in_prefix = in_package.replace(PLACEHOLDER.encode(), str(prefix).encode())
    (prefix / "bin" / "tool").write_bytes(in_prefix)
    (prefix / "bin" / "tool-link").symlink_to("tool")
    (prefix / "share" / "empty").mkdir()
    record = {
        "name": "tool",
        "version": "1.0",
        "build": "0",
        "url": "file:///srv/channel/linux-64/tool-1.0-0.conda",
        "link": {"source": str(cache), "type": 1},
        "files": ["share/data", "bin/tool", "bin/tool-link"],
        "paths_data": {
            "paths_version": 1,
            "paths": [
                {"_path": "share/data", "path_type": "hardlink", "sha256": _sha(plain), "size_in_bytes": 50},
                {
                    "_path": "bin/tool",
                    "path_type": "hardlink",
                    "sha256": _sha(in_package),
                    "sha256_in_prefix": _sha(in_prefix),
                    # conda 26.7.1 keeps the package's size here, rattler the size in the prefix
                    "size_in_bytes": len(in_package) if conda_style_sizes else len(in_prefix),
                    "prefix_placeholder": PLACEHOLDER,
                    "file_mode": "text",
                },
                {"_path": "bin/tool-link", "path_type": "softlink"},
                {"_path": "share/empty", "path_type": "directory"},
            ],
        },
    }
    (prefix / "conda-meta" / "tool-1.0-0.json").write_text(json.dumps(record))
    (prefix / "conda-meta" / "history").write_text("")
    (prefix / "conda-meta" / "frozen").write_text("{}")
    (prefix / ".condarc").write_text("channels: []\n")
    (prefix / "share" / "__pycache__").mkdir()
    (prefix / "share" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"pyc")
    return prefix, cache


@pytest.mark.parametrize("conda_style_sizes", [True, False])
def test_an_intact_env_is_clean_and_bookkeeping_is_not_unexpected(tmp_path: Path, conda_style_sizes: bool) -> None:
    prefix, _cache = _make_env(tmp_path, conda_style_sizes=conda_style_sizes)
    audit = audit_env("e1", str(prefix))
    assert audit.clean, audit.result()
    assert audit.unexpected == []
    assert audit.frozen
    assert audit.files == 4
    assert audit.bytes == 50 + (prefix / "bin" / "tool").stat().st_size


def _same_size_edit(prefix: Path) -> None:
    path = prefix / "share" / "data"
    data = path.read_bytes()
    path.unlink()  # a new inode: the cache's copy stays intact
    path.write_bytes(data.upper())


def _relink(prefix: Path) -> None:
    (prefix / "bin" / "tool-link").unlink()
    (prefix / "bin" / "tool-link").symlink_to("elsewhere")


@pytest.mark.parametrize(
    ("damage", "kind", "path"),
    [
        (_same_size_edit, "changed", "share/data"),
        (lambda p: (p / "bin" / "tool").write_text("#!/bin/sh\n"), "changed", "bin/tool"),  # truncated
        (
            lambda p: (p / "bin" / "tool").write_bytes((p / "bin" / "tool").read_bytes().replace(b"echo", b"ECHO")),
            "changed",
            "bin/tool",
        ),  # a prefix file, same size: only sha256_in_prefix shows it
        (lambda p: (p / "share" / "data").unlink(), "missing", "share/data"),
        (lambda p: (p / "bin" / "tool-link").unlink(), "missing", "bin/tool-link"),
        (_relink, "changed", "bin/tool-link"),
        (lambda p: (p / "share" / "empty").rmdir(), "missing", "share/empty"),
    ],
)
def test_damage_is_reported_by_package(tmp_path: Path, damage, kind: str, path: str) -> None:
    prefix, _cache = _make_env(tmp_path)
    damage(prefix)
    audit = audit_env("e1", str(prefix))
    assert not audit.clean
    assert audit.damaged["tool-1.0-0"][kind] == [path]
    other = "missing" if kind == "changed" else "changed"
    assert audit.damaged["tool-1.0-0"][other] == []


def test_unexpected_files_are_reported_not_nested_envs_or_excluded(tmp_path: Path) -> None:
    prefix, _cache = _make_env(tmp_path)
    (prefix / "share" / "notes.txt").write_text("mine")
    (prefix / "share" / "link-to-dir").symlink_to("/tmp")
    (prefix / "envs" / "nested" / "conda-meta").mkdir(parents=True)
    (prefix / "local" / "conda-meta").mkdir(parents=True)  # another env somewhere below
    (prefix / "local" / "x").write_text("x")
    (prefix / "site" / "keep").mkdir(parents=True)
    (prefix / "site" / "keep" / "a").write_text("a")
    audit = audit_env("e1", str(prefix), exclude=("site/*",))
    assert audit.clean  # unexpected files are not damage
    assert audit.unexpected == ["share/link-to-dir", "share/notes.txt"]
    assert (prefix / "share" / "notes.txt").exists()
    assert audit_env("e1", str(prefix), unexpected=False).unexpected == []


def test_without_checksums_same_size_edits_go_unseen(tmp_path: Path) -> None:
    prefix, _cache = _make_env(tmp_path)
    _same_size_edit(prefix)
    assert audit_env("e1", str(prefix), checksums=False).clean
    assert audit_env("e1", str(prefix), checksums=False).bytes > 0
    assert not audit_env("e1", str(prefix)).clean
    (prefix / "share" / "data").write_text("short")
    assert audit_env("e1", str(prefix), checksums=False).damaged["tool-1.0-0"]["changed"] == ["share/data"]


def test_excluded_recorded_paths_are_not_checked(tmp_path: Path) -> None:
    prefix, _cache = _make_env(tmp_path)
    (prefix / "share" / "data").unlink()
    assert audit_env("e1", str(prefix), exclude=("share/*",)).clean


def test_unreadable_records_are_damage(tmp_path: Path) -> None:
    prefix, _cache = _make_env(tmp_path)
    (prefix / "conda-meta" / "broken-1-0.json").write_text("{not json")
    audit = audit_env("e1", str(prefix))
    assert audit.unreadable == ["conda-meta/broken-1-0.json"]
    assert not audit.clean


@pytest.mark.parametrize(
    ("entry", "size", "prefix", "ok"),
    [
        ({"size_in_bytes": 10}, 10, "/p", True),
        ({"size_in_bytes": 10}, 9, "/p", False),
        ({"size_in_bytes": 100, "prefix_placeholder": PLACEHOLDER}, 100 - 2 * 27, "/abcd", True),  # twice, 27 shorter
        ({"size_in_bytes": 100, "prefix_placeholder": PLACEHOLDER}, 100 - 28, "/abcd", False),
        ({"size_in_bytes": 100, "prefix_placeholder": PLACEHOLDER}, 100 + 27, "/abcd", False),  # longer: never
        ({"size_in_bytes": 100, "prefix_placeholder": PLACEHOLDER, "file_mode": "binary"}, 100, "/abcd", True),
        ({"size_in_bytes": 100, "prefix_placeholder": PLACEHOLDER, "file_mode": "binary"}, 72, "/abcd", False),
        ({"size_in_bytes": 100, "prefix_placeholder": "/x"}, 100, "/y", True),  # same length
        ({"size_in_bytes": 100, "prefix_placeholder": "/x"}, 101, "/y", False),
    ],
)
def test_size_rule_for_prefix_files(entry: dict, size: int, prefix: str, ok: bool) -> None:
    assert size_matches(entry, size, prefix) is ok


def test_cache_damage_is_found_when_a_hard_link_was_edited_in_place(tmp_path: Path) -> None:
    prefix, cache = _make_env(tmp_path)
    record = json.loads((prefix / "conda-meta" / "tool-1.0-0.json").read_text())
    assert cache_damage(record) is None
    with open(prefix / "share" / "data", "r+b") as handle:  # in place: the same inode as the cache's copy
        handle.truncate(3)
    assert cache_damage(record) == str(cache)
    assert cache_damage(dict(record, link={"source": str(tmp_path / "gone")})) is None


def test_reinstall_spec_names_the_exact_build() -> None:
    assert reinstall_spec({"name": "isis", "version": "4.3.0", "build": "py311_0"}) == "isis==4.3.0[build=py311_0]"


class FakeRun:
    """run_command that records calls and, on the reinstall, puts the damaged file back."""

    def __init__(self, fix=None, rc: int = 0, out: str = '{"success": true, "actions": {}}') -> None:
        self.calls: list[tuple[list, dict]] = []
        self.fix = fix
        self.rc = rc
        self.out = out

    def __call__(self, cmd: list, **kwargs: object) -> tuple[int, str, str]:
        self.calls.append((cmd, dict(kwargs)))
        if self.fix:
            self.fix()
        return self.rc, self.out, ""


def test_repair_reinstalls_just_the_damaged_package_unfrozen_and_clears_a_damaged_cache(tmp_path: Path) -> None:
    prefix, cache = _make_env(tmp_path)
    good = (prefix / "share" / "data").read_bytes()
    with open(prefix / "share" / "data", "r+b") as handle:
        handle.truncate(3)

    def fix() -> None:
        (prefix / "share" / "data").unlink()
        (prefix / "share" / "data").write_bytes(good)

    run = FakeRun(fix)
    verifier = Verifier(CondaRunner(run, "/t/bin/conda"), repair=True, override_channels=True, offline=True)
    result = verifier.run("e1", str(prefix))
    assert result["changed"] and result["clean"]
    assert result["repaired"] == ["tool-1.0-0"]
    assert result["cache_cleared"] == [str(cache)]
    assert not cache.exists()
    ((cmd, kwargs),) = run.calls
    assert cmd == [
        "/t/bin/conda",
        "install",
        "--prefix",
        str(prefix),
        "--force-reinstall",
        "--no-deps",
        "--yes",
        "--channel",
        "file:///srv/channel",
        "--override-channels",
        "--offline",
        "tool==1.0[build=0]",
        "--json",
    ]
    assert kwargs["environ_update"] == UNFROZEN_ENVIRON
    assert result["diff"]["before"] == "tool-1.0-0: changed share/data\n"
    assert (prefix / "conda-meta" / "frozen").exists()


def test_check_mode_reports_the_repair_and_changes_nothing(tmp_path: Path) -> None:
    prefix, cache = _make_env(tmp_path)
    (prefix / "share" / "data").unlink()
    run = FakeRun()
    result = Verifier(CondaRunner(run, "conda"), repair=True, check_mode=True).run("e1", str(prefix))
    assert result["changed"] and result["repaired"] == ["tool-1.0-0"] and not result["clean"]
    assert result["cache_cleared"] == []
    assert run.calls == [] and cache.exists() and not (prefix / "share" / "data").exists()


def test_no_repair_without_damage_or_without_the_option(tmp_path: Path) -> None:
    prefix, _cache = _make_env(tmp_path)
    run = FakeRun()
    assert not Verifier(CondaRunner(run, "conda"), repair=True).run("e1", str(prefix))["changed"]
    (prefix / "share" / "data").unlink()
    assert not Verifier(None).run("e1", str(prefix))["changed"]
    assert run.calls == []


def test_a_repair_that_did_not_help_fails_naming_the_package(tmp_path: Path) -> None:
    prefix, _cache = _make_env(tmp_path)
    (prefix / "share" / "data").unlink()
    verifier = Verifier(CondaRunner(FakeRun(), "conda"), repair=True, channels=["site"])
    with pytest.raises(Exception, match=r"still damaged after the reinstall: tool-1.0-0"):
        verifier.run("e1", str(prefix))


def test_resolve_envs(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "conda-meta").mkdir(parents=True)
    for name in ("b", "a"):
        (root / "envs" / name / "conda-meta").mkdir(parents=True)
    (root / "envs" / "not-an-env").mkdir()
    envs_dirs = [str(root / "envs"), str(tmp_path / "nowhere")]
    assert resolve_envs(None, str(root), envs_dirs) == [
        ("base", str(root)),
        ("a", str(root / "envs" / "a")),
        ("b", str(root / "envs" / "b")),
    ]
    assert resolve_envs(["b", "base", str(root / "envs" / "a")], str(root), envs_dirs) == [
        ("b", str(root / "envs" / "b")),
        ("base", str(root)),
        ("a", str(root / "envs" / "a")),
    ]
    with pytest.raises(InputError, match=r"^envs\[0\]: no environment named 'zz' in envs_dirs"):
        resolve_envs(["zz"], str(root), envs_dirs)
    with pytest.raises(InputError, match=r"^envs\[1\]: '.*/not-an-env' is not a conda environment"):
        resolve_envs(["a", str(root / "envs" / "not-an-env")], str(root), envs_dirs)
    with pytest.raises(InputError, match=r"^envs\[0\]: 'a/b' is neither"):
        resolve_envs(["a/b"], str(root), envs_dirs)


def test_find_envs_goes_on_past_what_it_skips(tmp_path: Path) -> None:
    """A missing envs dir, a directory that is not an env and one env seen twice (a link, the tree itself
    through a second envs dir) do not hide the envs after them."""
    root = tmp_path / "tree"
    (root / "conda-meta").mkdir(parents=True)
    (root / "envs" / "a-plain-dir").mkdir(parents=True)
    (root / "envs" / "b" / "conda-meta").mkdir(parents=True)
    (root / "envs" / "c-link").symlink_to(root / "envs" / "b")
    (root / "envs" / "d" / "conda-meta").mkdir(parents=True)
    other = tmp_path / "other"
    (other / "e" / "conda-meta").mkdir(parents=True)
    (other / "the-tree").symlink_to(root)
    envs_dirs = [str(tmp_path / "nowhere"), str(root / "envs"), str(other)]
    assert resolve_envs([], str(root), envs_dirs) == [
        ("base", str(root)),
        ("b", str(root / "envs" / "b")),
        ("d", str(root / "envs" / "d")),
        ("e", str(other / "e")),
    ]


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        (["a", ""], "envs[1]: must be an environment name or an absolute prefix, got ''"),
        ([5], "envs[0]: must be an environment name or an absolute prefix, got 5"),
        (["."], "envs[0]: '.' is neither an environment name nor an absolute prefix"),
        ([".."], "envs[0]: '..' is neither an environment name nor an absolute prefix"),
    ],
)
def test_resolve_envs_refuses_what_is_not_a_name_or_prefix(tmp_path: Path, wanted: list, message: str) -> None:
    root = tmp_path / "tree"
    (root / "envs" / "a" / "conda-meta").mkdir(parents=True)
    with pytest.raises(InputError) as info:
        resolve_envs(wanted, str(root), [str(root / "envs")])
    assert str(info.value) == message


def test_resolve_envs_root_is_base_and_each_env_once(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / "conda-meta").mkdir(parents=True)
    (root / "envs" / "a" / "conda-meta").mkdir(parents=True)
    (root / "envs" / "notenv").mkdir()
    envs_dirs = [str(root / "envs")]
    assert resolve_envs(["root", "base", "a", str(root / "envs" / "a")], str(root), envs_dirs) == [
        ("base", str(root)),
        ("a", str(root / "envs" / "a")),
    ]
    with pytest.raises(InputError, match=r"^envs\[0\]: no environment named 'notenv' in envs_dirs"):
        resolve_envs(["notenv"], str(root), envs_dirs)


# ------------------------------------------------------------- what the mutation run (benchmarks/mutation.py) found


def test_the_result_reports_frozen_and_unreadable_records(tmp_path: Path) -> None:
    prefix, _cache = _make_env(tmp_path)
    (prefix / "conda-meta" / "a-broken-1-0.json").write_text("{not json")
    (prefix / "conda-meta" / "b-list-1-0.json").write_text("[]")
    (prefix / "conda-meta" / "c-nameless-1-0.json").write_text('{"version": "1"}')
    result = audit_env("e1", str(prefix)).result()
    assert result["frozen"] is True
    assert result["unreadable"] == [
        "conda-meta/a-broken-1-0.json",
        "conda-meta/b-list-1-0.json",
        "conda-meta/c-nameless-1-0.json",
    ]
    assert result["counts"]["packages"] == 1  # the readable record after the unreadable ones is still audited
    (prefix / "conda-meta" / "frozen").unlink()
    assert audit_env("e1", str(prefix)).result()["frozen"] is False


def test_a_fresh_audit_shares_no_lists_with_another(tmp_path: Path) -> None:
    prefix, _cache = _make_env(tmp_path)
    first = audit_env("e1", str(prefix))
    first.unreadable.append("x")
    assert audit_env("e1", str(prefix)).unreadable == []


@pytest.mark.parametrize(
    ("record", "label", "spec"),
    [
        ({"name": "isis", "version": "4.3.0", "build": "py311_0"}, "isis-4.3.0-py311_0", "isis==4.3.0[build=py311_0]"),
        ({"name": "isis", "version": "4.3.0", "build_string": "h1_2"}, "isis-4.3.0-h1_2", "isis==4.3.0[build=h1_2]"),
        ({"name": "isis", "version": "4.3.0"}, "isis-4.3.0-", "isis==4.3.0[build=]"),
    ],
)
def test_label_and_spec_take_the_build_from_either_key(record: dict, label: str, spec: str) -> None:
    from ansible_collections.cpkgs.conda.plugins.module_utils._verify import record_label

    assert record_label(record) == label
    assert reinstall_spec(record) == spec


def test_the_cache_is_found_from_extracted_package_dir_too(tmp_path: Path) -> None:
    prefix, cache = _make_env(tmp_path)
    record = json.loads((prefix / "conda-meta" / "tool-1.0-0.json").read_text())
    del record["link"]
    record["extracted_package_dir"] = str(cache)
    (cache / "share" / "data").write_bytes(b"short")
    assert cache_damage(record) == str(cache)


def _cache_with(tmp_path: Path, entries: list, files: dict | None = None) -> dict:
    cache = tmp_path / "pkgs" / "p-1-0"
    (cache / "info").mkdir(parents=True)
    for rel, data in (files or {}).items():
        target = cache / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            target.mkdir()
        elif isinstance(data, tuple):
            target.symlink_to(data[0])
        else:
            target.write_bytes(data)
    (cache / "info" / "paths.json").write_text(json.dumps({"paths": entries}))
    return {"name": "p", "version": "1", "build": "0", "link": {"source": str(cache)}}


@pytest.mark.parametrize(
    ("entries", "files", "damaged"),
    [
        ([{"_path": "d", "path_type": "directory"}], {"d": None}, False),
        ([{"_path": "d", "path_type": "directory"}], {"d": b"x"}, True),  # a file where a directory was
        ([{"_path": "f"}], {"f": b"abc"}, False),  # hardlink by default, no size or sha: exists and regular
        ([{"_path": "f"}], {"f": None}, True),  # a directory where a file was
        ([{"_path": "f", "size_in_bytes": 3}], {"f": b"abc"}, False),
        ([{"_path": "f", "size_in_bytes": 4}], {"f": b"abc"}, True),
        ([{"_path": "f", "sha256": hashlib.sha256(b"abc").hexdigest()}], {"f": b"abc"}, False),
        ([{"_path": "f", "sha256": hashlib.sha256(b"abd").hexdigest()}], {"f": b"abc"}, True),
        ([{"_path": "l", "path_type": "softlink"}], {"l": ("f",), "f": b"x"}, False),
        ([{"_path": "l", "path_type": "softlink"}], {"l": b"x"}, True),
        ([{"_path": "../outside"}], {}, True),  # an entry that leaves the package cannot be checked
        (["not an entry"], {}, True),
        ([{"path": "no _path"}], {}, True),
        ([{"_path": "gone"}], {}, True),
    ],
)
def test_cache_damage_per_kind_of_entry(tmp_path: Path, entries: list, files: dict, damaged: bool) -> None:
    record = _cache_with(tmp_path, entries, files)
    assert (cache_damage(record) is not None) is damaged


def test_a_cache_without_paths_json_is_not_trusted(tmp_path: Path) -> None:
    record = _cache_with(tmp_path, [])
    assert cache_damage(record) is None  # an empty package is intact
    (Path(record["link"]["source"]) / "info" / "paths.json").unlink()
    assert cache_damage(record) == record["link"]["source"]


@pytest.mark.parametrize(
    ("urls", "channels"),
    [
        (["https://conda.anaconda.org/conda-forge/linux-64/a-1-0.conda"], ["https://conda.anaconda.org/conda-forge"]),
        (["file:///srv/ch/noarch/a-1-0.conda", "file:///srv/ch/linux-64/b-1-0.conda"], ["file:///srv/ch"]),
        (["https://h/noarch/a-1-0.conda"], ["https://h"]),  # the shortest URL that names a channel
        (["https://a-1-0.conda", "/srv/ch/noarch/a-1-0.conda", None], []),  # no channel in them: conda's own channels
    ],
)
def test_repair_takes_the_channels_from_the_packages_urls(urls: list, channels: list) -> None:
    records = [{"name": f"p{index}", "url": url} for index, url in enumerate(urls)]
    args = Verifier(None).channel_args(records)
    assert [args[i + 1] for i, arg in enumerate(args) if arg == "--channel"] == channels


def test_defaults_check_sums_and_unexpected_files_and_ask_conda_online(tmp_path: Path) -> None:
    prefix, _cache = _make_env(tmp_path)
    (prefix / "stray.txt").write_text("x")
    _same_size_edit(prefix)
    result = Verifier(None).run("e1", str(prefix))
    assert result["unexpected"] == ["stray.txt"]
    assert result["packages"] == {"tool-1.0-0": {"changed": ["share/data"], "missing": []}}
    assert Verifier(None).channel_args([{"url": "file:///srv/ch/noarch/a-1-0.conda"}]) == [
        "--channel",
        "file:///srv/ch",
    ]


def test_a_clean_audit_reports_nothing_changed(tmp_path: Path) -> None:
    prefix, _cache = _make_env(tmp_path)
    result = Verifier(None).run("e1", str(prefix))
    assert result["changed"] is False
    assert (result["repaired"], result["cache_cleared"]) == ([], [])


def test_repair_without_conda_names_the_option(tmp_path: Path) -> None:
    prefix, _cache = _make_env(tmp_path)
    (prefix / "share" / "data").unlink()
    with pytest.raises(InputError) as caught:
        Verifier(None, repair=True).run("e1", str(prefix))
    assert str(caught.value) == "conda_exe: no conda executable to repair with"


def test_repair_diff_lists_each_damaged_file_and_the_failure_names_the_command(tmp_path: Path) -> None:
    from ansible_collections.cpkgs.conda.plugins.module_utils._conda_env import CondaError

    prefix, _cache = _make_env(tmp_path)
    _same_size_edit(prefix)
    (prefix / "bin" / "tool").unlink()
    checked = Verifier(CondaRunner(FakeRun(), "conda"), repair=True, check_mode=True).run("e1", str(prefix))
    assert checked["diff"] == {
        "before": "tool-1.0-0: changed share/data\ntool-1.0-0: missing bin/tool\n",
        "after": "",
        "before_header": f"{prefix} (damaged package files)",
        "after_header": f"{prefix} (damaged package files)",
    }
    runner = CondaRunner(FakeRun(), "conda")
    with pytest.raises(CondaError) as caught:
        Verifier(runner, repair=True).run("e1", str(prefix))
    assert caught.value.message == (
        f"{prefix}: still damaged after the reinstall: "
        "tool-1.0-0 {'changed': ['share/data'], 'missing': ['bin/tool']}"
    )
    assert caught.value.rc == 0
    assert caught.value.cmd == runner.calls[-1]


def test_the_repair_diff_lists_every_damaged_package(tmp_path: Path) -> None:
    prefix, _cache = _make_env(tmp_path)
    _same_size_edit(prefix)
    other = {"name": "other", "version": "2", "build": "1", "files": ["share/other", "share/more"]}
    (prefix / "conda-meta" / "other-2-1.json").write_text(json.dumps(other))
    checked = Verifier(CondaRunner(FakeRun(), "conda"), repair=True, check_mode=True).run("e1", str(prefix))
    assert checked["repaired"] == ["other-2-1", "tool-1.0-0"]
    assert checked["diff"]["before"] == (
        "other-2-1: missing share/more\nother-2-1: missing share/other\ntool-1.0-0: changed share/data\n"
    )


@pytest.mark.parametrize(
    ("make", "entry", "verdict"),
    [
        (lambda p: p.mkdir(), {"path_type": "directory"}, "ok"),
        (lambda p: p.write_text("x"), {"path_type": "directory"}, "missing"),
        (lambda p: p.symlink_to("elsewhere"), {"path_type": "hardlink"}, "changed"),
        (lambda p: p.mkdir(), {"path_type": "hardlink"}, "missing"),
        (lambda p: p.write_text("x"), {"path_type": "softlink"}, "changed"),
        (lambda p: p.write_text("abc"), {"sha256": _sha(b"abd"), "size_in_bytes": 3}, "changed"),  # hardlink by default
        (lambda p: p.write_text("abc"), {"path_type": "hardlink", "size_in_bytes": 4}, "changed"),
        # a file conda generates at install (a .pyc): its record's sha256 and size are the package's, not checked
        (lambda p: p.write_text("abc"), {"path_type": "pyc_file", "sha256": _sha(b"x"), "size_in_bytes": 9}, "ok"),
        (lambda p: p.write_text("abc"), {"path_type": "pyc_file", "sha256_in_prefix": _sha(b"x")}, "changed"),
    ],
)
def test_each_kind_of_recorded_path(tmp_path: Path, make, entry: dict, verdict: str) -> None:
    from ansible_collections.cpkgs.conda.plugins.module_utils._verify import check_entry

    make(tmp_path / "p")
    assert check_entry(str(tmp_path), "p", entry, True, None)[0] == verdict


def test_a_binary_prefix_file_keeps_its_size() -> None:
    entry = {"size_in_bytes": 100, "prefix_placeholder": PLACEHOLDER, "file_mode": "binary"}
    assert size_matches(entry, 100 - 27, "/abcd") is False  # as a text file's it would be the prefix once shorter
    assert size_matches(dict(entry, file_mode="text"), 100 - 27, "/abcd") is True


def test_files_listed_only_in_paths_data_are_not_unexpected(tmp_path: Path) -> None:
    prefix, _cache = _make_env(tmp_path)
    record_path = prefix / "conda-meta" / "tool-1.0-0.json"
    record = json.loads(record_path.read_text())
    del record["files"]
    record["paths_data"]["paths"].append({"_path": "./", "path_type": "directory"})  # the prefix itself: skipped
    record_path.write_text(json.dumps(record))
    audit = audit_env("e1", str(prefix))
    assert audit.unexpected == []
    assert audit.clean
    assert audit.files == 4
