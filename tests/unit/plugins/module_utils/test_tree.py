# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from ansible_collections.cpkgs.conda.plugins.doc_fragments.tree import ModuleDocFragment
from ansible_collections.cpkgs.conda.plugins.module_utils._tree import (
    DEFAULT_SHARE_ROOT,
    DEFAULT_TREE_NAMES,
    CondaPaths,
    conda_subdir,
    conda_version,
    condarc_search_path,
    merged_list,
    paths_from_params,
    read_condarc_files,
    tree_argument_spec,
    tree_options,
    tree_options_error,
)

COLLECTION = Path(__file__).resolve().parents[4]


@pytest.mark.parametrize(
    ("system", "machine", "subdir"),
    [
        ("Linux", "x86_64", "linux-64"),
        ("Linux", "aarch64", "linux-aarch64"),
        ("Linux", "ppc64le", "linux-ppc64le"),
        ("Darwin", "x86_64", "osx-64"),
        ("Darwin", "arm64", "osx-arm64"),
        ("SunOS", "i86pc", None),
    ],
)
def test_subdir(system: str, machine: str, subdir: str | None) -> None:
    assert conda_subdir(system, machine) == subdir


@pytest.mark.parametrize(
    ("system", "kwargs", "root"),
    [
        ("Linux", {}, "/nfs/cpkgs/anaconda3_linux"),
        ("Darwin", {}, "/nfs/cpkgs/anaconda3_macOS"),
        ("Linux", {"share_root": "/srv/share/"}, "/srv/share/anaconda3_linux"),
        ("Darwin", {"tree_names": {"Darwin": "miniforge_mac"}}, "/nfs/cpkgs/miniforge_mac"),
        ("Linux", {"root_prefix": "/usr/local/cpkgs/anaconda3_linux"}, "/usr/local/cpkgs/anaconda3_linux"),
        ("Linux", {"conda_exe": "/opt/miniforge/bin/conda"}, "/opt/miniforge"),
        ("Linux", {"conda_exe": "/opt/mf/condabin/conda", "root_prefix": "/opt/other"}, "/opt/other"),
        ("FreeBSD", {}, None),
    ],
)
def test_root_prefix_rules(system: str, kwargs: dict, root: str | None) -> None:
    paths = CondaPaths(system, "x86_64", "/home/alice", **kwargs)
    assert paths.root_prefix == root


def test_trees_lists_every_os() -> None:
    paths = CondaPaths("Linux", "x86_64", "/home/alice")
    assert paths.trees == {"Darwin": "/nfs/cpkgs/anaconda3_macOS", "Linux": "/nfs/cpkgs/anaconda3_linux"}


@pytest.mark.parametrize(
    ("kwargs", "linux"),
    [
        ({"root_prefix": "/usr/local/cpkgs/anaconda3_linux"}, "/usr/local/cpkgs/anaconda3_linux"),
        ({"conda_exe": "/opt/miniforge/bin/conda"}, "/opt/miniforge"),
        ({"share_root": "/srv/cpkgs", "tree_names": {"Linux": "mf"}}, "/srv/cpkgs/mf"),
    ],
)
def test_trees_give_this_os_the_tree_it_uses(kwargs: dict, linux: str) -> None:
    """A cluster node's hooks point at its local copy; the other OSes keep their trees on the share."""
    paths = CondaPaths("Linux", "x86_64", "/home/alice", **kwargs)
    assert paths.trees["Linux"] == linux == paths.root_prefix
    assert paths.trees["Darwin"] == kwargs.get("share_root", "/nfs/cpkgs") + "/anaconda3_macOS"


# The defaults are decided here and documented by the doc fragment: the two must say the same.
def _fragment_options() -> dict:
    return yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]


def test_doc_fragment_documents_every_tree_option() -> None:
    assert sorted(_fragment_options()) == sorted(tree_argument_spec())


@pytest.mark.parametrize("name", sorted(tree_argument_spec()))
def test_doc_fragment_defaults_and_types_are_tree_py_s(name: str) -> None:
    spec, doc = tree_argument_spec()[name], _fragment_options()[name]
    assert doc.get("type") == spec.get("type"), name
    assert doc.get("default") == spec.get("default"), f"{name}: the doc fragment's default is not _tree.py's"


def test_doc_fragment_names_the_module_utils_defaults() -> None:
    options = _fragment_options()
    assert options["share_root"]["default"] == DEFAULT_SHARE_ROOT
    assert options["tree_names"]["default"] == DEFAULT_TREE_NAMES


def _takes_tree_options(module: Path) -> bool:
    """Whether a module documents the tree options (sanity's validate-modules holds docs and argument spec equal)."""
    text = module.read_text(encoding="utf-8")
    fragments = re.search(r"^extends_documentation_fragment:\n((?:\s+- .*\n)+)", text, re.MULTILINE)
    items = [line.strip()[2:].strip() for line in fragments.group(1).splitlines()] if fragments else []
    return "cpkgs.conda.tree" in items


def test_action_group_lists_the_modules_that_take_tree_options() -> None:
    """module_defaults of group/cpkgs.conda.conda reach every module with tree options, and no other (a module
    without them would refuse the unknown options)."""
    runtime = yaml.safe_load((COLLECTION / "meta" / "runtime.yml").read_text(encoding="utf-8"))
    modules = sorted((COLLECTION / "plugins" / "modules").glob("*.py"))
    expected = sorted(m.stem for m in modules if m.stem != "__init__" and _takes_tree_options(m))
    assert expected, "no module takes the tree options"
    assert sorted(runtime["action_groups"]["conda"]) == expected


def _params(**kwargs: object) -> dict:
    params = {name: spec.get("default") for name, spec in tree_argument_spec().items()}
    params.update(kwargs)
    return params


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, None),
        ({"share_root": "nfs/cpkgs"}, "share_root: must be an absolute path, got 'nfs/cpkgs'"),
        ({"root_prefix": "local/tree"}, "root_prefix: must be an absolute path, got 'local/tree'"),
        ({"conda_exe": "bin/conda"}, "conda_exe: must be an absolute path, got 'bin/conda'"),
        ({"tree_names": {"Linux": "a/b"}}, "tree_names: 'Linux' must map to a directory name, got 'a/b'"),
        ({"tree_names": {"Linux": ".."}}, "tree_names: 'Linux' must map to a directory name, got '..'"),
        ({"tree_names": ["anaconda3_linux"]}, "tree_names: must be a mapping"),
    ],
)
def test_tree_options_errors_name_the_option_and_value(kwargs: dict, error: str | None) -> None:
    message = tree_options_error(_params(**kwargs))
    if error is None:
        assert message is None
    else:
        assert message is not None and message.startswith(error)
        with pytest.raises(ValueError, match="^" + error.split(":")[0] + ":"):
            paths_from_params(_params(**kwargs))


def test_tree_options_are_the_four_options() -> None:
    params = _params(root_prefix="/opt/tree", user="alice", gather_envs=False)
    assert tree_options(params) == {
        "share_root": DEFAULT_SHARE_ROOT,
        "tree_names": DEFAULT_TREE_NAMES,
        "root_prefix": "/opt/tree",
        "conda_exe": None,
    }


def _record(meta: Path, filename: str, name: str, version: str) -> None:
    meta.mkdir(parents=True, exist_ok=True)
    (meta / filename).write_text(json.dumps({"name": name, "version": version, "build": "0"}))


def test_conda_version_reads_the_conda_record_only(tmp_path: Path) -> None:
    meta = tmp_path / "conda-meta"
    _record(meta, "conda-package-handling-2.4.0-pyh7900ff3_2.json", "conda-package-handling", "2.4.0")
    _record(meta, "conda-libmamba-solver-25.4.0-pyhd8ed1ab_0.json", "conda-libmamba-solver", "25.4.0")
    assert conda_version(str(tmp_path)) is None
    _record(meta, "conda-26.7.1-py311h06a4308_0.json", "conda", "26.7.1")
    assert conda_version(str(tmp_path)) == "26.7.1"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "nfs" / "anaconda3_linux"
    (root / "conda-meta").mkdir(parents=True)
    (root / "bin").mkdir()
    exe = root / "bin" / "conda"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return root


def test_conda_exe_found_in_tree(tree: Path, tmp_path: Path) -> None:
    paths = CondaPaths("Linux", "x86_64", str(tmp_path / "home"), share_root=str(tree.parent))
    assert paths.installed
    assert paths.conda_exe == str(tree / "bin" / "conda")
    (tree / "bin" / "conda").unlink()
    assert paths.conda_exe is None


NOBODY = 65534


@contextlib.contextmanager
def _real_account(uid: int, gid: int) -> Iterator[None]:
    """Real and effective ids switched (``os.access`` checks the real ones); the saved ones stay root's, so the
    test switches back."""
    groups = os.getgroups()
    os.setgroups([gid])
    os.setresgid(gid, gid, 0)
    os.setresuid(uid, uid, 0)
    try:
        yield
    finally:
        os.setresuid(0, 0, 0)
        os.setresgid(0, 0, 0)
        os.setgroups(groups)


@pytest.mark.parametrize("writable", [True, False])
def test_envs_dirs_put_the_user_s_first_when_the_tree_is_not_writable(shared: Path, writable: bool) -> None:
    """conda keeps new envs in the tree when its user may write it, else in ~/.conda/envs: the order says so.

    Root may write anything, so as root the question is asked as nobody, who may write the tree's
    conda-meta only when it is theirs; as another account the tree is made read-only for it.
    """
    tree = shared / "nfs" / "anaconda3_linux"
    (tree / "conda-meta").mkdir(parents=True)
    home = shared / "home"
    paths = CondaPaths("Linux", "x86_64", str(home), share_root=str(tree.parent))
    tree_first = [str(tree / "envs"), str(home / ".conda" / "envs")]
    if os.geteuid() == 0:
        if writable:
            os.chown(tree / "conda-meta", NOBODY, NOBODY)
        with _real_account(NOBODY, NOBODY):
            found = paths.envs_dirs([])
    else:
        if not writable:
            (tree / "conda-meta").chmod(0o555)
        found = paths.envs_dirs([])
    assert found == (tree_first if writable else list(reversed(tree_first)))


def test_envs_dirs_merges_files_env_var_and_expands(tree: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".condarc").write_text("envs_dirs:\n  - ~/my-envs\n  - $SCRATCH/envs\n")
    (tree / ".condarc").write_text("envs_dirs: [/nfs/cpkgs/anaconda3_linux/envs]\n")
    paths = CondaPaths(
        "Linux",
        "x86_64",
        str(home),
        environ={"SCRATCH": "/scratch/alice", "CONDA_ENVS_DIRS": "/first"},
        share_root=str(tree.parent),
    )
    dirs = paths.envs_dirs()
    # env var first, then the user's file (higher priority), then the tree's, then the defaults
    assert dirs[:4] == ["/first", str(home / "my-envs"), "/scratch/alice/envs", "/nfs/cpkgs/anaconda3_linux/envs"]
    assert str(home / ".conda" / "envs") in dirs[4:]
    assert len(dirs) == len(set(dirs))


@pytest.mark.parametrize(
    ("finals", "expected"),
    [
        ([set(), set()], ["user", "system"]),
        ([{"envs_dirs"}, set()], ["system"]),  # the system file's #!final wins over the user's file
        ([set(), {"envs_dirs"}], ["user", "system"]),
    ],
)
def test_merged_list_honours_final(finals: list, expected: list) -> None:
    files = [
        ("/tree/.condarc", {"envs_dirs": ["system"]}, finals[0]),
        ("/home/.condarc", {"envs_dirs": ["user"]}, finals[1]),
    ]
    assert merged_list(files, "envs_dirs") == expected


def test_unreadable_condarc_is_reported_not_fatal(tree: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".condarc").write_text("channels:\n  - a\n   bad: indent\n")
    paths = CondaPaths("Linux", "x86_64", str(home), share_root=str(tree.parent))
    files, problems = paths.condarc_files()
    assert files == []
    assert len(problems) == 1
    assert ".condarc: line 3" in problems[0]


def _search(*places: str) -> list[str]:
    return [f"{place}/{name}" for place in places for name in (".condarc", "condarc", "condarc.d")]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, [*_search("/etc/conda", "/var/lib/conda", "/t", "/h/.config/conda", "/h/.conda"), "/h/.condarc"]),
        (
            {"XDG_CONFIG_HOME": "/x", "CONDARC": "/srv/site.condarc"},
            [
                *_search("/etc/conda", "/var/lib/conda", "/t", "/x/conda", "/h/.config/conda", "/h/.conda"),
                "/h/.condarc",
                "/srv/site.condarc",
            ],
        ),
        (
            {"XDG_CONFIG_HOME": "/h/.config"},
            [*_search("/etc/conda", "/var/lib/conda", "/t", "/h/.config/conda", "/h/.conda"), "/h/.condarc"],
        ),
    ],
)
def test_condarc_search_path_is_conda_s(environ: dict, expected: list) -> None:
    """conda's SEARCH_PATH, lowest priority first (XDG's directory once when it is the default one)."""
    assert condarc_search_path("/t", "/h", environ) == expected


def test_condarc_d_directories_give_their_yaml_files_in_order(tmp_path: Path) -> None:
    rcd = tmp_path / "condarc.d"
    rcd.mkdir()
    (rcd / "b.yaml").write_text("always_yes: true\n")
    (rcd / "a.yml").write_text("channels: [a]\n")
    (rcd / "c.txt").write_text("channels: [c]\n")
    (rcd / "d.yml").write_text("channels: [d\n")
    (tmp_path / "empty.yml").mkdir()  # a directory: read as a condarc.d, with no YAML files in it
    files, problems = read_condarc_files([str(rcd), str(tmp_path / "missing"), str(tmp_path / "empty.yml")])
    assert files == [
        (str(rcd / "a.yml"), {"channels": ["a"]}, set()),
        (str(rcd / "b.yaml"), {"always_yes": True}, set()),
    ]
    assert problems == [f"{rcd / 'd.yml'}: line 1: flow sequence must end on the same line"]


def test_an_unreadable_condarc_is_a_problem_naming_it(shared: Path, euid: Callable) -> None:
    """Read as nobody when run as root (root reads any file)."""
    path = shared / ".condarc"
    path.write_text("channels: [a]\n")
    path.chmod(0o600 if os.geteuid() == 0 else 0)
    if os.geteuid() == 0:
        with euid(NOBODY, NOBODY):
            found = read_condarc_files([str(path)])
    else:
        found = read_condarc_files([str(path)])
    assert found == ([], [f"{path}: Permission denied"])
