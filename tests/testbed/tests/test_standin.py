"""Semantics of the conda stand-in (tests/testbed/standin/conda_standin).

Configuration is tested in-process; commands that solve or link run the CLI in child processes
(py-rattler can crash at interpreter exit). Each test gets a fresh tree (ROOT/conda-meta, as the installer
makes it) with its own HOME and CONDARC; the channel is the channel helper's contract channel.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standin"))

from conda_standin import cli, config
from standin_testing import Tree, build_channels, snapshot


@pytest.fixture(scope="module")
def channel_dir() -> Path:
    """The built channels (cached by the channel builder)."""
    return build_channels()


@pytest.fixture(scope="module")
def channel(channel_dir: Path) -> str:
    """The contract channel URL."""
    return (channel_dir / "contract").as_uri()


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


def chans(channel: str) -> tuple[str, ...]:
    return ("--offline", "--override-channels", "-c", channel)


def names(tree: Tree, prefix: str | Path) -> dict[str, str]:
    """``{name: version}`` of an env, from ``list --json`` (in-process: listing does not use py-rattler)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(["list", "-p", str(prefix), "--json"], environ=tree.env())
    assert rc == 0, out.getvalue()
    return {entry["name"]: entry["version"] for entry in json.loads(out.getvalue())}


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory, channel: str) -> Path:
    """Envs made once per module and copied into the tests' trees: ``full`` (pkga), ``c`` (pkgc), ``a1`` (pkga=1.0)."""
    tree = Tree(tmp_path_factory.mktemp("templates"))
    for name, spec in (("full", "pkga"), ("c", "pkgc"), ("a1", "pkga=1.0")):
        create(tree, channel, tree.root / "envs" / name, spec)
    return tree.root / "envs"


def clone(templates: Path, template: str, dest: Path) -> Path:
    """Copy a template env to ``dest`` (faster than creating it)."""
    shutil.copytree(templates / template, dest, symlinks=True)
    return dest


def create(tree: Tree, channel: str, prefix: Path, *specs: str) -> dict:
    result = tree.run("create", "-p", str(prefix), *chans(channel), *specs, "-y", "--json")
    assert result.rc == 0, result
    return result.json  # type: ignore[return-value]


def dists(doc: dict, key: str) -> list[str]:
    return [entry["dist_name"] for entry in doc["actions"].get(key, [])]


# ------------------------------------------------------------------------------------------- version / config


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--version"], environ={}) == 0
    out = capsys.readouterr().out.strip()
    assert out == "conda 26.7.1 (cpkgs test-bed stand-in, py-rattler 0.28.0)"
    assert out.split()[1] == "26.7.1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("channels:\n  - a\n  - 'b c'\n", {"channels": ["a", "b c"]}),
        ('channels: [a, "b"]  # comment\n', {"channels": ["a", "b"]}),
        ("channels:  #!final\n- x\n", {"channels": ["x"]}),
        ("auto_stack: 1\noffline: true\nchannel_alias: ''\n", {"auto_stack": 1, "offline": True, "channel_alias": ""}),
        ("# only a comment\n\n", {}),
        ("proxy_servers:\n  http: http://p:3128\n", {"proxy_servers": {"http": "http://p:3128"}}),
        ("envs_dirs: ~\n", {"envs_dirs": None}),
        ("url: 'http://x/#frag'\n", {"url": "http://x/#frag"}),
    ],
)
def test_parse_condarc(text: str, expected: dict) -> None:
    assert config.parse_condarc(text) == expected


@pytest.mark.parametrize("text", ["- orphan\n", "key: [a, b\n", "  indented: 1\n", "not yaml at all\n"])
def test_parse_condarc_rejects(text: str) -> None:
    with pytest.raises(config.ConfigError):
        config.parse_condarc(text)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_load_config_merge_order(tmp_path: Path) -> None:
    """Lists: higher priority files first, duplicates dropped (conda's merge); $CONDARC is last in the path."""
    root, home = tmp_path / "root", tmp_path / "home"
    (root / "conda-meta").mkdir(parents=True)
    _write(root / ".condarc", "channels: [sys1, shared]\nauto_stack: 1\n")
    _write(root / "condarc.d" / "10-x.yml", "channels: [sysd]\n")
    _write(home / ".config" / "conda" / ".condarc", "channels: [xdg]\n")
    _write(home / ".condarc", "channels: [user, shared]\nenvs_dirs: [~/myenvs]\n")
    _write(tmp_path / "rc", "channels: [envvar]\npkgs_dirs: [/p1]\n")
    cfg = config.load_config(str(root), {"HOME": str(home), "CONDARC": str(tmp_path / "rc")})
    assert cfg.channels == ["envvar", "user", "shared", "xdg", "sysd", "sys1"]
    assert cfg.auto_stack == 1
    assert cfg.envs_dirs == [str(home / "myenvs"), str(root / "envs"), str(home / ".conda" / "envs")]
    assert cfg.pkgs_dirs == ["/p1"]
    assert cfg.rc_files[:2] == [str(root / ".condarc"), str(root / "condarc.d" / "10-x.yml")]
    assert cfg.rc_files[-1] == str(tmp_path / "rc")


@pytest.mark.parametrize("var", ["CONDA_ENVS_PATH", "CONDA_ENVS_DIRS"])
def test_envs_dirs_from_environment(tmp_path: Path, var: str) -> None:
    _write(tmp_path / "home" / ".condarc", "envs_dirs: [/from/rc]\n")
    env = {"HOME": str(tmp_path / "home"), var: f"/a{os.pathsep}/b", "CONDA_PKGS_DIRS": "/pk"}
    cfg = config.load_config(str(tmp_path / "root"), env)
    assert cfg.envs_dirs[:3] == ["/a", "/b", "/from/rc"]
    assert cfg.pkgs_dirs == ["/pk"]


@pytest.mark.parametrize(("with_meta", "first"), [(True, "root"), (False, "user")])
def test_default_envs_dirs_follow_root_writability(tmp_path: Path, with_meta: bool, first: str) -> None:
    """conda's rule: a writable root lists ROOT/envs first, else ~/.conda/envs first."""
    root, home = tmp_path / "root", tmp_path / "home"
    root.mkdir()
    if with_meta:
        (root / "conda-meta").mkdir()
    cfg = config.load_config(str(root), {"HOME": str(home)})
    expected = {"root": str(root / "envs"), "user": str(home / ".conda" / "envs")}
    assert cfg.envs_dirs[0] == expected[first]
    assert cfg.default_env_dir() == expected[first]
    assert cfg.pkgs_dirs == [str(root / "pkgs"), str(home / ".conda" / "pkgs")]


def test_default_env_dir_skips_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cfg = config.load_config(
        str(tmp_path / "root"), {"HOME": str(tmp_path / "h"), "CONDA_ENVS_PATH": f"{blocker}/envs"}
    )
    assert cfg.envs_dirs[0] == f"{blocker}/envs"
    assert cfg.default_env_dir() != f"{blocker}/envs"


def test_locate_env(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "envs" / "e1" / "conda-meta").mkdir(parents=True)
    (tmp_path / "elsewhere" / "conda-meta").mkdir(parents=True)
    cfg = config.load_config(str(root), {"HOME": str(tmp_path / "home")})
    assert cfg.locate_env("base") == str(root)
    assert cfg.locate_env("e1") == str(root / "envs" / "e1")
    assert cfg.locate_env("nope") is None
    assert cfg.locate_env(str(tmp_path / "elsewhere")) == str(tmp_path / "elsewhere")
    assert cfg.locate_env(str(tmp_path / "missing")) is None


def test_condarc_syntax_error_is_reported(tree: Tree) -> None:
    tree.condarc.write_text("channels: [a\n")
    result = tree.run("info", "--json")
    assert result.rc == 1
    assert result.json["exception_name"] == "LoadError"  # type: ignore[index]


# ------------------------------------------------------------------------------------------- create


def test_create_links_in_dependency_order(tree: Tree, channel: str) -> None:
    prefix = tree.root / "envs" / "e1"
    doc = create(tree, channel, prefix, "pkga")
    assert dists(doc, "LINK") == ["pkgc-1.0-0", "pkgb-1.0-0", "pkga-2.0-0"]
    assert sorted(e["fn"] for e in doc["actions"]["FETCH"]) == [
        "pkga-2.0-0.conda",
        "pkgb-1.0-0.conda",
        "pkgc-1.0-0.conda",
    ]
    assert doc["prefix"] == str(prefix)
    assert doc["actions"]["LINK"][0]["channel"] == "contract"
    assert doc["actions"]["LINK"][0]["base_url"] == channel
    assert names(tree, prefix) == {"pkga": "2.0", "pkgb": "1.0", "pkgc": "1.0"}
    meta = prefix / "conda-meta"
    assert "+" + channel + "::pkga-2.0-0" in (meta / "history").read_text()
    assert all(p.stat().st_mode & 0o044 == 0o044 for p in meta.glob("*.json")), "conda-meta must stay readable"
    assert str(prefix) in (tree.home / ".conda" / "environments.txt").read_text().splitlines()
    assert not [p for p in prefix.parent.iterdir() if p.name.startswith(".")], "no staging leftovers"


def test_create_again_rebuilds(tree: Tree, channel: str) -> None:
    """create on an existing env replaces it (rc 0, every package LINKed, nothing FETCHed)."""
    prefix = tree.root / "envs" / "e1"
    create(tree, channel, prefix, "pkga")
    (prefix / "stray.txt").write_text("x")
    doc = create(tree, channel, prefix, "pkgc")
    assert dists(doc, "LINK") == ["pkgc-1.0-0"]
    assert doc["actions"]["FETCH"] == []
    assert "UNLINK" not in doc["actions"]
    assert names(tree, prefix) == {"pkgc": "1.0"}
    assert not (prefix / "stray.txt").exists()


def test_create_named_env_goes_to_first_writable_envs_dir(tree: Tree, channel: str) -> None:
    result = tree.run("create", "-n", "named", *chans(channel), "pkgc", "-y", "--json")
    assert result.rc == 0, result
    assert result.json["prefix"] == str(tree.root / "envs" / "named")  # type: ignore[index]
    assert names(tree, tree.root / "envs" / "named") == {"pkgc": "1.0"}
    listed = tree.run("list", "-n", "named", "--json")
    assert [e["name"] for e in listed.json] == ["pkgc"]  # type: ignore[union-attr]


def test_create_uses_condarc_channels(tree: Tree, channel: str) -> None:
    (tree.root / ".condarc").write_text(f"channels:\n  - {channel}\n")
    result = tree.run("create", "-p", str(tree.root / "envs" / "e"), "pkgc", "-y", "--json")
    assert result.rc == 0, result


@pytest.mark.parametrize("kind", ["specs", "explicit"])
def test_create_from_file(tree: Tree, channel: str, channel_dir: Path, kind: str) -> None:
    spec_file = tree.base / "specs.txt"
    if kind == "specs":
        spec_file.write_text("# a comment\npkga=1.0\npkgc\n")
    else:
        url = (channel_dir / "contract" / "noarch" / "pkgc-1.0-0.conda").as_uri()
        spec_file.write_text(f"# platform: linux-64\n@EXPLICIT\n{url}\n")
    prefix = tree.root / "envs" / "f"
    result = tree.run("create", "-p", str(prefix), *chans(channel), "--file", str(spec_file), "-y", "--json")
    assert result.rc == 0, result
    assert names(tree, prefix) == ({"pkga": "1.0", "pkgc": "1.0"} if kind == "specs" else {"pkgc": "1.0"})


def without_repodata_cache(tree: Tree, after: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """AFTER, a snapshot of the tree's base, without the repodata cache a solve made: conda makes it at any solve (a
    dry run's, a failing one's: conda.core.subdir_data -> create_cache_dir), each directory it makes 02775 whatever
    the umask. Checks those modes, then leaves them out."""
    pkgs = str((tree.root / "pkgs").relative_to(tree.base))
    made = {path: mode for path, (mode, _size) in after.items() if path == pkgs or path.startswith(pkgs + "/")}
    assert made == {pkgs: 0o42775, f"{pkgs}/cache": 0o42775}
    return {path: value for path, value in after.items() if path not in made}


def test_create_dry_run_changes_nothing(tree: Tree, channel: str) -> None:
    before = snapshot(tree.base)
    result = tree.run("create", "-n", "dry", *chans(channel), "pkga", "--dry-run", "--json")
    assert result.rc == 0, result
    assert result.json["dry_run"] is True  # type: ignore[index]
    assert dists(result.json, "LINK") == ["pkgc-1.0-0", "pkgb-1.0-0", "pkga-2.0-0"]  # type: ignore[arg-type]
    # Any solve, a dry run's too, makes the repodata cache as conda does; nothing else changes.
    assert without_repodata_cache(tree, snapshot(tree.base)) == before


def test_install_explicit_file_keeps_others(tree: Tree, channel: str, channel_dir: Path, templates: Path) -> None:
    prefix = clone(templates, "c", tree.root / "envs" / "e")
    url = (channel_dir / "contract" / "noarch" / "pkga-1.0-0.conda").as_uri()
    (tree.base / "lock.txt").write_text(f"@EXPLICIT\n{url}\n")
    result = tree.run("install", "-p", str(prefix), "--file", str(tree.base / "lock.txt"), "-y", "--json")
    assert result.rc == 0, result
    assert names(tree, prefix) == {"pkga": "1.0", "pkgc": "1.0"}


def test_list_explicit_roundtrip(tree: Tree, channel: str, templates: Path) -> None:
    clone(templates, "full", tree.root / "envs" / "a")
    lock = tree.run("list", "-p", str(tree.root / "envs" / "a"), "--explicit", "--md5")
    assert lock.rc == 0 and "@EXPLICIT" in lock.stdout
    (tree.base / "lock.txt").write_text(lock.stdout)
    result = tree.run("create", "-p", str(tree.root / "envs" / "b"), "--file", str(tree.base / "lock.txt"), "--json")
    assert result.rc == 0, result
    assert names(tree, tree.root / "envs" / "b") == names(tree, tree.root / "envs" / "a")


# ------------------------------------------------------------------------------------------- install / update / remove


def test_install_adds_and_keeps(tree: Tree, channel: str, templates: Path) -> None:
    prefix = tree.root / "envs" / "e"
    clone(templates, "c", prefix)
    result = tree.run("install", "-p", str(prefix), *chans(channel), "pkga", "-y", "--json")
    assert result.rc == 0, result
    assert dists(result.json, "LINK") == ["pkgb-1.0-0", "pkga-2.0-0"]  # type: ignore[arg-type]
    assert "UNLINK" not in result.json["actions"]  # type: ignore[index]
    assert names(tree, prefix) == {"pkga": "2.0", "pkgb": "1.0", "pkgc": "1.0"}


@pytest.mark.parametrize("template", ["full", "a1"])
def test_install_nothing_to_do(tree: Tree, channel: str, templates: Path, template: str) -> None:
    """Installing an installed package (even one with a newer version available) changes nothing, like conda."""
    prefix = tree.root / "envs" / "e"
    clone(templates, template, prefix)
    before = snapshot(prefix)
    for extra in (("--dry-run",), ("-y",)):
        result = tree.run("install", "-p", str(prefix), *chans(channel), "pkga", *extra, "--json")
        assert (result.rc, result.json) == (
            0,
            {"success": True, "message": "All requested packages already installed."},
        )
    assert snapshot(prefix) == before


def test_install_update_deps_moves_requested_and_their_deps(tree: Tree, channel: str, templates: Path) -> None:
    """``--update-deps`` (what conda_env's state=latest asks) unlocks the requested packages and their deps."""
    prefix = tree.root / "envs" / "e"
    clone(templates, "a1", prefix)
    plain = tree.run("install", "-p", str(prefix), *chans(channel), "pkga", "--dry-run", "--json")
    assert plain.json == {"success": True, "message": "All requested packages already installed."}
    result = tree.run("install", "-p", str(prefix), *chans(channel), "pkga", "--update-deps", "-y", "--json")
    assert result.rc == 0, result
    assert names(tree, prefix) == {"pkga": "2.0", "pkgb": "1.0", "pkgc": "1.0"}
    again = tree.run("install", "-p", str(prefix), *chans(channel), "pkga", "--update-deps", "--dry-run", "--json")
    assert again.json == {"success": True, "message": "All requested packages already installed."}


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("2", 2), ("true", 1), ("false", 0), ("0", 0)])
def test_auto_stack_values(tmp_path: Path, value: str, expected: int) -> None:
    root = tmp_path / "root"
    (root / "conda-meta").mkdir(parents=True)
    _write(root / ".condarc", f"auto_stack: {value}\n")
    assert config.load_config(str(root), {"HOME": str(tmp_path / "home")}).auto_stack == expected


def test_downgrade_dry_run_then_real(tree: Tree, channel: str, templates: Path) -> None:
    prefix = tree.root / "envs" / "r1"
    clone(templates, "full", prefix)
    dry = tree.run("install", "-p", str(prefix), *chans(channel), "pkga=1.0", "--dry-run", "--json")
    assert dry.rc == 0 and dry.json["dry_run"] is True  # type: ignore[index]
    assert (dists(dry.json, "UNLINK"), dists(dry.json, "LINK")) == (["pkga-2.0-0"], ["pkga-1.0-0"])  # type: ignore[arg-type]
    assert names(tree, prefix)["pkga"] == "2.0", "dry run changed the env"
    real = tree.run("install", "-p", str(prefix), *chans(channel), "pkga=1.0", "-y", "--json")
    assert real.rc == 0 and "dry_run" not in real.json  # type: ignore[operator]
    assert names(tree, prefix) == {"pkga": "1.0", "pkgb": "1.0", "pkgc": "1.0"}, "conda keeps the former deps"


@pytest.mark.parametrize("args", [("pkga",), ("--all",)])
def test_update_to_latest(tree: Tree, channel: str, templates: Path, args: tuple[str, ...]) -> None:
    prefix = tree.root / "envs" / "u"
    clone(templates, "a1", prefix)
    result = tree.run("update", "-p", str(prefix), *chans(channel), *args, "-y", "--json")
    assert result.rc == 0, result
    assert names(tree, prefix)["pkga"] == "2.0"
    again = tree.run("update", "-p", str(prefix), *chans(channel), *args, "-y", "--json")
    assert again.json == {"success": True, "message": "All requested packages already installed."}


def test_update_not_installed(tree: Tree, channel: str, templates: Path) -> None:
    prefix = tree.root / "envs" / "u"
    clone(templates, "c", prefix)
    result = tree.run("update", "-p", str(prefix), *chans(channel), "pkga", "-y", "--json")
    assert result.rc == 1 and result.json["exception_name"] == "PackageNotInstalledError"  # type: ignore[index]


def test_remove_package_and_dependents(tree: Tree, channel: str, templates: Path) -> None:
    prefix = tree.root / "envs" / "e"
    clone(templates, "full", prefix)
    result = tree.run("remove", "-p", str(prefix), "pkgb", "-y", "--json")
    assert result.rc == 0, result
    assert sorted(dists(result.json, "UNLINK")) == ["pkga-2.0-0", "pkgb-1.0-0"]  # type: ignore[arg-type]
    assert names(tree, prefix) == {"pkgc": "1.0"}
    missing = tree.run("remove", "-p", str(prefix), "pkga", "-y", "--json")
    assert missing.rc == 1 and missing.json["exception_name"] == "PackagesNotFoundError"  # type: ignore[index]


def test_remove_all(tree: Tree, channel: str, templates: Path) -> None:
    prefix = tree.root / "envs" / "e"
    clone(templates, "full", prefix)
    dry = tree.run("remove", "-p", str(prefix), "--all", "--dry-run", "--json")
    assert dry.rc == 0 and prefix.exists()
    result = tree.run("remove", "-p", str(prefix), "--all", "-y", "--json")
    assert result.rc == 0, result
    assert sorted(dists(result.json, "UNLINK")) == ["pkga-2.0-0", "pkgb-1.0-0", "pkgc-1.0-0"]  # type: ignore[arg-type]
    assert not prefix.exists()
    registry = tree.home / ".conda" / "environments.txt"
    assert not registry.exists() or str(prefix) not in registry.read_text()
    base = tree.run("remove", "-p", str(tree.root), "--all", "-y", "--json")
    assert base.rc == 1 and base.json["exception_name"] == "CondaEnvironmentError"  # type: ignore[index]


# ------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("args", "exception", "solved"),  # solved: the command got to its solve (which makes the repodata cache)
    [
        (("install", "-p", "{root}/envs/nope", "pkga"), "EnvironmentLocationNotFound", False),
        (("remove", "-p", "{root}/envs/nope", "--all"), "EnvironmentLocationNotFound", False),
        (("list", "-p", "{root}/envs/nope"), "EnvironmentLocationNotFound", False),
        (("install", "-n", "nope", "pkga"), "EnvironmentNameNotFound", False),
        (("create", "-p", "{root}/envs/x", "nosuchpkg"), "PackagesNotFoundInChannelsError", True),
        (("create", "-p", "{root}/envs/x", "pkga=9"), "PackagesNotFoundInChannelsError", True),
        (("create", "-p", "{root}", "pkga"), "CondaValueError", False),
        (("create", "pkga"), "CondaValueError", False),
        (("create", "-p", "{root}/envs/x", "pkga=1.0", "pkga=2.0"), "UnsatisfiableError", True),
    ],
)
def test_errors(tree: Tree, channel: str, args: tuple[str, ...], exception: str, solved: bool) -> None:
    argv = [arg.format(root=tree.root) for arg in args]
    before = snapshot(tree.base)
    result = tree.run(*argv, *(chans(channel) if argv[0] in ("create", "install") else ()), "--json")
    assert result.rc == 1, result
    doc = result.json
    assert doc["exception_name"] == exception  # type: ignore[index]
    assert doc["error"].startswith(exception + ": ")  # type: ignore[index]
    assert {"caused_by", "error", "exception_name", "exception_type", "message"} <= set(doc)  # type: ignore[arg-type]
    after = without_repodata_cache(tree, snapshot(tree.base)) if solved else snapshot(tree.base)
    assert after == before, "a failed command changed the disk"


@pytest.mark.parametrize(("channel_path", "exception"), [("nonexistent", "UnavailableInvalidChannel"), ("", "")])
def test_channel_without_repodata(tree: Tree, channel_path: str, exception: str) -> None:
    """A channel without noarch/repodata.json is conda's UnavailableInvalidChannel; nothing is created."""
    url = (tree.base / (channel_path or "empty")).as_uri()
    if not channel_path:
        exception = "UnavailableInvalidChannel"
        (tree.base / "empty" / "linux-64").mkdir(parents=True)
    result = tree.run("create", "-p", str(tree.root / "envs" / "x"), *chans(url), "pkga", "-y", "--json")
    assert result.rc == 1 and result.json["exception_name"] == exception, result  # type: ignore[index]
    assert result.json["channel_url"].startswith(url)  # type: ignore[index]
    assert not (tree.root / "envs").exists()


def test_failed_link_leaves_nothing(tree: Tree, channel_dir: Path) -> None:
    """A create that fails while linking (corrupt package) leaves neither the prefix nor a staging dir."""
    broken = tree.base / "broken"
    shutil.copytree(channel_dir / "contract", broken)
    (broken / "noarch" / "pkgc-1.0-0.conda").write_bytes(b"not a package")
    prefix = tree.root / "envs" / "x"
    result = tree.run("create", "-p", str(prefix), *chans(broken.as_uri()), "pkga", "-y", "--json")
    assert result.rc == 1, result
    assert not prefix.exists()
    assert not (tree.root / "envs").exists() or not list((tree.root / "envs").iterdir())


def test_failed_rebuild_keeps_old_env(tree: Tree, channel: str, templates: Path, channel_dir: Path) -> None:
    prefix = tree.root / "envs" / "x"
    clone(templates, "c", prefix)
    broken = tree.base / "broken"
    shutil.copytree(channel_dir / "contract", broken)
    (broken / "noarch" / "pkga-1.0-0.conda").write_bytes(b"not a package")
    result = tree.run("create", "-p", str(prefix), *chans(broken.as_uri()), "pkga=1.0", "-y", "--json")
    assert result.rc == 1, result
    assert names(tree, prefix) == {"pkgc": "1.0"}


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("install", ""),
        ("install", '{"message": "release env"}'),
        ("update", ""),
        ("install_dry", ""),
        ("remove", ""),
        ("remove_all", ""),
        ("remove_all_dry", ""),
        ("env_update", ""),
    ],
)
def test_frozen_env(tree: Tree, channel: str, templates: Path, command: str, reason: str) -> None:
    """conda 26.7.1 refuses a frozen env (CEP 22) for these, dry runs included."""
    prefix = tree.root / "envs" / "fz"
    clone(templates, "a1", prefix)
    (prefix / "conda-meta" / "frozen").write_text(reason)
    env_file = tree.base / "env.yml"
    env_file.write_text(f"channels:\n  - {channel}\ndependencies:\n  - pkgc\n")
    args = {
        "install": ("install", "pkgc", *chans(channel)),
        "install_dry": ("install", "pkgc", "--dry-run", *chans(channel)),
        "update": ("update", "pkga", *chans(channel)),
        "remove": ("remove", "pkga"),
        "remove_all": ("remove", "--all"),
        "remove_all_dry": ("remove", "--all", "--dry-run"),
        "env_update": ("env", "update", "-f", str(env_file)),
    }[command]
    before = snapshot(prefix)
    verb = 2 if args[0] == "env" else 1
    result = tree.run(*args[:verb], "-p", str(prefix), *args[verb:], "-y", "--json")
    assert result.rc == 1, result
    assert result.json["exception_name"] == "EnvironmentIsFrozenError"  # type: ignore[index]
    expected = f"Cannot modify '{prefix}'. The environment is marked as frozen. "
    if reason:
        expected += "Reason:\n\n    release env\n\n"
    expected += "You can bypass these protections with the `--override-frozen` flag, at your own risk."
    assert result.json["message"] == expected  # type: ignore[index]
    assert snapshot(prefix) == before
    if command == "install":
        forced = tree.run(*args, "-p", str(prefix), *chans(channel), "--override-frozen", "-y", "--json")
        assert forced.rc == 0, forced
        assert "pkgc" in names(tree, prefix)


@pytest.mark.parametrize("how", ["env_var", "condarc", "env_condarc"])
def test_frozen_protection_off_by_config(tree: Tree, channel: str, templates: Path, how: str) -> None:
    """``protect_frozen_envs: false`` (``CONDA_PROTECT_FROZEN_ENVS``, a ``.condarc``, the target env's own
    ``.condarc``) lets a frozen env change, as in conda 26.7.1."""
    prefix = clone(templates, "a1", tree.root / "envs" / "fz")
    (prefix / "conda-meta" / "frozen").write_text("")
    env = {"CONDA_PROTECT_FROZEN_ENVS": "false"} if how == "env_var" else {}
    if how == "condarc":
        tree.condarc.write_text("protect_frozen_envs: false\n")
    if how == "env_condarc":
        (prefix / ".condarc").write_text("protect_frozen_envs: false\n")
    result = tree.run("install", "-p", str(prefix), *chans(channel), "pkgc", "-y", "--json", env=env)
    assert result.rc == 0, result
    assert "pkgc" in names(tree, prefix)


def test_env_var_beats_condarc_for_frozen(tree: Tree, channel: str, templates: Path) -> None:
    """``CONDA_PROTECT_FROZEN_ENVS=true`` wins over ``protect_frozen_envs: false`` in a ``.condarc``."""
    prefix = clone(templates, "a1", tree.root / "envs" / "fz")
    (prefix / "conda-meta" / "frozen").write_text("")
    tree.condarc.write_text("protect_frozen_envs: false\n")
    env = {"CONDA_PROTECT_FROZEN_ENVS": "true"}
    result = tree.run("install", "-p", str(prefix), *chans(channel), "pkgc", "-y", "--json", env=env)
    assert result.json["exception_name"] == "EnvironmentIsFrozenError"  # type: ignore[index]


def test_create_over_frozen_env_rebuilds_it(tree: Tree, channel: str, templates: Path) -> None:
    """conda's ``create`` deletes an existing env first and never checks ``frozen``: the new env is not frozen."""
    prefix = clone(templates, "a1", tree.root / "envs" / "fz")
    (prefix / "conda-meta" / "frozen").write_text('{"message": "release env"}')
    result = tree.run("create", "-p", str(prefix), *chans(channel), "pkgc", "-y", "--json")
    assert result.rc == 0, result
    assert names(tree, prefix) == {"pkgc": "1.0"}
    assert not (prefix / "conda-meta" / "frozen").exists()


def test_create_dry_run_on_existing_env_is_refused(tree: Tree, channel: str, templates: Path) -> None:
    """``create --dry-run`` over an existing env: ``CondaValueError``; on a new prefix it reports the plan."""
    prefix = clone(templates, "a1", tree.root / "envs" / "e")
    before = snapshot(prefix)
    result = tree.run("create", "-p", str(prefix), *chans(channel), "pkgc", "--dry-run", "-y", "--json")
    assert result.rc == 1, result
    assert result.json["exception_name"] == "CondaValueError"  # type: ignore[index]
    assert result.json["message"] == "Cannot `create --dry-run` with an existing conda environment"  # type: ignore[index]
    assert snapshot(prefix) == before
    fresh = tree.run(
        "create", "-p", str(tree.root / "envs" / "n"), *chans(channel), "pkgc", "--dry-run", "-y", "--json"
    )
    assert fresh.rc == 0, fresh
    assert fresh.json["dry_run"] is True  # type: ignore[index]


def test_new_env_gets_created_at(tree: Tree, channel: str) -> None:
    """A new env gets ``conda-meta/created_at``: seconds since the epoch as conda writes them (``str(float)``)."""
    before = time.time()
    prefix = tree.root / "envs" / "n"
    create(tree, channel, prefix, "pkgc")
    stamp = float((prefix / "conda-meta" / "created_at").read_text())
    assert before <= stamp <= time.time()
    listed = tree.run("env", "list", "--json").json["envs_details"][str(prefix)]  # type: ignore[index]
    assert listed["created"] == datetime.datetime.fromtimestamp(stamp, tz=datetime.timezone.utc).isoformat()


def test_target_env_condarc_is_read(tree: Tree, channel: str, templates: Path) -> None:
    """conda 26.7.1 reads the ``.condarc`` of the ``-p`` env (its ``$CONDA_PREFIX`` search entries)."""
    prefix = clone(templates, "a1", tree.root / "envs" / "e")
    (prefix / ".condarc").write_text(f"channels:\n  - {channel}\n")
    result = tree.run("install", "-p", str(prefix), "--offline", "pkgc", "-y", "--json")
    assert result.rc == 0, result
    assert "pkgc" in names(tree, prefix)
    other = clone(templates, "a1", tree.root / "envs" / "other")
    refused = tree.run("install", "-p", str(other), "--offline", "pkgc", "-y", "--json")
    assert refused.rc == 1, refused


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a tree unwritable for this user: ``chattr +i`` as root (root ignores modes), ``chmod a-w`` otherwise."""
    if os.geteuid() == 0:
        if not shutil.which("chattr") or subprocess.run(["chattr", "-R", "+i", str(path)], check=False).returncode:
            subprocess.run(["chattr", "-R", "-i", str(path)], check=False, capture_output=True)
            pytest.skip("chattr +i does not work here")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-R", "-i", str(path)], check=True)
        return
    dirs = [path, *(p for p in path.rglob("*") if p.is_dir() and not p.is_symlink())]
    modes = {d: d.stat().st_mode for d in dirs}
    for d in dirs:
        d.chmod(modes[d] & ~0o222)
    try:
        yield
    finally:
        for d in reversed(dirs):
            d.chmod(modes[d])


@pytest.mark.parametrize(
    ("args", "exception"),
    [
        (("create", "-p", "{root}/envs/new", "pkga"), "NotWritableError"),
        (("install", "-p", "{root}/envs/e", "pkga"), "EnvironmentNotWritableError"),
        (("update", "-p", "{root}/envs/e", "--all"), "EnvironmentNotWritableError"),
        (("remove", "-p", "{root}/envs/e", "--all"), "CondaMultiError"),
        (("remove", "-p", "{root}/envs/e", "pkgc"), "EnvironmentNotWritableError"),
        (("create", "-p", "{root}/envs/e", "pkgc"), "CondaMultiError"),
    ],
)
def test_permission_error_changes_nothing(
    tree: Tree, channel: str, templates: Path, args: tuple[str, ...], exception: str
) -> None:
    """A user who cannot write the tree gets conda's permission error before anything changes on disk."""
    clone(templates, "c", tree.root / "envs" / "e")
    argv = [arg.format(root=tree.root) for arg in args]
    extra = chans(channel) if argv[0] != "remove" else ()
    before = snapshot(tree.root)
    with read_only(tree.root):
        result = tree.run(*argv, *extra, "-y", "--json")
    assert result.rc == 1, result
    assert result.json["exception_name"] == exception  # type: ignore[index]
    if exception == "CondaMultiError":  # conda's shape when it cannot delete the env: the error inside `errors`
        inner = result.json["errors"]  # type: ignore[index]
        assert [error["exception_name"] for error in inner] == ["EnvironmentNotWritableError"]
        assert "message" not in result.json  # type: ignore[operator]
    assert snapshot(tree.root) == before


def test_unwritable_root_puts_named_envs_in_home(tree: Tree, channel: str) -> None:
    """conda's rule: with an unwritable root, ``create -n`` uses ``~/.conda/envs``."""
    with read_only(tree.root):
        result = tree.run("create", "-n", "mine", *chans(channel), "pkgc", "-y", "--json")
    assert result.rc == 0, result
    assert result.json["prefix"] == str(tree.home / ".conda" / "envs" / "mine")  # type: ignore[index]
    assert names(tree, tree.home / ".conda" / "envs" / "mine") == {"pkgc": "1.0"}


# ------------------------------------------------------------------------------------------- env list / run / env files


def test_env_list_scans_and_registry(tree: Tree, channel: str, templates: Path) -> None:
    clone(templates, "c", tree.root / "envs" / "e1")
    outside = tree.base / "outside"
    create(tree, channel, outside, "pkgc")
    manual = tree.root / "envs" / "manual"
    (manual / "conda-meta").mkdir(parents=True)  # not registered: found by scanning envs_dirs
    (manual / "conda-meta" / "history").write_text("")
    (manual / "conda-meta" / "frozen").write_text("")
    no_history = tree.root / "envs" / "nohistory"
    (no_history / "conda-meta").mkdir(parents=True)  # conda's test for an env is conda-meta/history
    result = tree.run("env", "list", "--json")
    assert result.rc == 0, result
    doc = result.json
    envs = doc["envs"]  # type: ignore[index]
    assert envs == sorted(envs)  # all sorted, the root among them (not last)
    mine = {str(tree.root), str(tree.root / "envs" / "e1"), str(manual)}
    assert mine <= set(envs)
    assert str(no_history) not in envs
    details = doc["envs_details"]  # type: ignore[index]
    if os.geteuid() == 0:  # root reads the environments.txt of the homes in the password database, not $HOME's
        assert str(outside) not in envs
    else:
        assert set(envs) == mine | {str(outside)}
        assert details[str(outside)]["name"] == ""  # outside envs_dirs: no name
    assert details[str(manual)]["frozen"] is True
    assert details[str(manual)]["name"] == "manual"
    assert details[str(tree.root)]["base"] is True
    assert details[str(tree.root)]["name"] == "base"
    assert details[str(tree.root / "envs" / "e1")]["writable"] is True
    active = tree.run("env", "list", "--json", env={"CONDA_PREFIX": str(manual)})
    assert active.json["envs_details"][str(manual)]["active"] is True  # type: ignore[index]


def test_info_json(tree: Tree) -> None:
    result = tree.run("info", "--json", env={"CONDA_PKGS_DIRS": "/x/pkgs"})
    assert result.rc == 0, result
    doc = result.json
    assert "cpkgs-testbed-standin" in doc["user_agent"]  # type: ignore[index]
    assert doc["root_prefix"] == str(tree.root)  # type: ignore[index]
    assert doc["pkgs_dirs"] == ["/x/pkgs"]  # type: ignore[index]
    assert doc["conda_version"] == "26.7.1"  # type: ignore[index]
    assert str(tree.condarc) in doc["config_files"] or tree.condarc.read_text() == ""  # type: ignore[index]


def test_run(tree: Tree, channel: str, templates: Path) -> None:
    prefix = tree.root / "envs" / "e"
    clone(templates, "c", prefix)
    script = 'test "$CONDA_PREFIX" = "$1" || exit 1; case "$PATH" in "$1/bin:"*) echo ok; exit 7;; esac'
    result = tree.run("run", "-p", str(prefix), "sh", "-c", script, "sh", str(prefix))
    assert result.rc == 7, result
    assert result.stdout.strip() == "ok"
    missing = tree.run("run", "-p", str(prefix), "no-such-command-xyz")
    assert missing.rc != 0


def test_env_create_and_update_prune(tree: Tree, channel: str) -> None:
    env_file = tree.base / "environment.yml"
    env_file.write_text(f"name: fromfile\nchannels:\n  - {channel}\ndependencies:\n  - pkga=1.0\n")
    result = tree.run("env", "create", "-f", str(env_file), "--json")
    assert result.rc == 0, result
    prefix = tree.root / "envs" / "fromfile"
    assert names(tree, prefix) == {"pkga": "1.0"}
    env_file.write_text(f"name: fromfile\nchannels: [{channel}]\ndependencies:\n  - pkgc\n")
    kept = tree.run("env", "update", "-f", str(env_file), "--json")
    assert kept.rc == 0, kept
    assert names(tree, prefix) == {"pkga": "1.0", "pkgc": "1.0"}
    pruned = tree.run("env", "update", "-f", str(env_file), "--prune", "--json")
    assert pruned.rc == 0, pruned
    assert names(tree, prefix) == {"pkgc": "1.0"}


def test_json_error_when_tree_unknown(tmp_path: Path) -> None:
    result = Tree(tmp_path).run("info", "--json", env={"CPKGS_STANDIN_ROOT": ""})
    assert result.rc == 1
    assert json.loads(result.stdout)["exception_name"] == "CondaError"


def test_root_from_install_layout(tmp_path: Path) -> None:
    """Installed at PREFIX/lib/cpkgs-standin/conda_standin, the stand-in's tree is PREFIX (no variable needed)."""
    prefix = tmp_path / "anaconda3"
    (prefix / "conda-meta").mkdir(parents=True)
    shutil.copytree(Path(cli.__file__).parent, prefix / "lib" / "cpkgs-standin" / "conda_standin")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "CPKGS_STANDIN"))}
    env["HOME"] = str(tmp_path / "home")
    code = "import sys; from conda_standin.cli import main; main(sys.argv[1:])"
    proc = subprocess.run(
        [sys.executable, "-c", code, "info", "--json"],
        env={**env, "PYTHONPATH": str(prefix / "lib" / "cpkgs-standin")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["root_prefix"] == str(prefix)
    assert doc["envs_dirs"][0] == str(prefix / "envs")
    assert doc["conda_location"] == str(prefix / "lib" / "cpkgs-standin" / "conda_standin")


def test_shell_commands_go_to_shell_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """``conda shell.posix ...`` is handed to conda_standin.shell.main with the whole argv."""
    seen: list[list[str]] = []
    fake = type(sys)("conda_standin.shell")
    fake.main = lambda argv: seen.append(argv) or 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "conda_standin.shell", fake)
    import conda_standin

    monkeypatch.setattr(conda_standin, "shell", fake, raising=False)
    assert cli.main(["shell.posix", "activate", "e1"], environ={}) == 42
    assert seen == [["shell.posix", "activate", "e1"]]


def test_base_env_keeps_the_standin_record(tree: Tree, channel: str) -> None:
    """In base, the installer's conda record (in no channel) survives install and update --all."""
    record = {
        "name": "conda",
        "version": "26.7.1",
        "build": "standin_0",
        "build_number": 0,
        "channel": "file:///cpkgs-testbed-standin",
        "subdir": "linux-64",
        "fn": "conda-26.7.1-standin_0.conda",
        "url": "file:///cpkgs-testbed-standin/linux-64/conda-26.7.1-standin_0.conda",
        "depends": [],
        "files": ["bin/conda"],
        "paths_data": {"paths_version": 1, "paths": [{"_path": "bin/conda", "path_type": "hardlink"}]},
        "link": {"source": "", "type": 1},
    }
    (tree.root / "conda-meta" / "conda-26.7.1-standin_0.json").write_text(json.dumps(record))
    (tree.root / "bin").mkdir()
    (tree.root / "bin" / "conda").write_text("#!/bin/sh\n")
    for args in (("install", "pkga=1.0"), ("update", "--all")):
        result = tree.run(args[0], "-n", "base", *chans(channel), *args[1:], "-y", "--json")
        assert result.rc == 0, result
    assert names(tree, tree.root) == {"conda": "26.7.1", "pkga": "2.0", "pkgb": "1.0", "pkgc": "1.0"}
    assert (tree.root / "bin" / "conda").exists()


def test_prefix_embedding_scripts_work(tree: Tree, channel_dir: Path) -> None:
    """Packages with the prefix placeholder get the final prefix, though create links in a staging dir."""
    testbed = (channel_dir / "cpkgs-testbed").as_uri()
    prefix = tree.root / "envs" / "isis"
    result = tree.run("create", "-p", str(prefix), *chans(testbed), "isis=4.3.0", "-y", "--json")
    assert result.rc == 0, result
    proc = subprocess.run([str(prefix / "bin" / "isis-version")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc
    assert f"prefix={prefix}" in proc.stdout


@pytest.fixture
def temp_account(tmp_path: Path) -> Iterator[Path]:
    """A temporary account (``useradd``) whose home is under ``tmp_path``; deleted afterwards. Root only."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd: the password database is only read as root")
    name = f"cpkgst{os.getpid() % 100000}"
    home = tmp_path / "acct-home"
    proc = subprocess.run(["useradd", "-M", "-d", str(home), name], capture_output=True, text=True, check=False)
    if proc.returncode:
        pytest.skip(f"useradd failed: {proc.stderr.strip()}")
    try:
        home.mkdir()
        yield home
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)


def test_root_reads_and_cleans_every_accounts_registry(
    tree: Tree, channel: str, templates: Path, temp_account: Path
) -> None:
    """Run as root, ``env list`` reads each account's ``~/.conda/environments.txt`` (password database homes)
    and rewrites it without prefixes that are no longer envs, as conda's ``list_all_known_prefixes`` does."""
    outside = clone(templates, "a1", tree.base / "outside" / "o1")
    gone = tree.base / "outside" / "gone"
    registry = temp_account / ".conda" / "environments.txt"
    registry.parent.mkdir()
    registry.write_text(f"{outside}\n{gone}\n")
    result = tree.run("env", "list", "--json")
    assert result.rc == 0, result
    assert str(outside) in result.json["envs"]  # type: ignore[index]
    assert str(gone) not in result.json["envs"]  # type: ignore[index]
    assert result.json["envs_details"][str(outside)]["name"] == ""  # type: ignore[index]
    assert registry.read_text() == f"{outside}\n"
