# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The conda_env logic against a fake conda that answers with real conda 26.7.1 output (tests/testbed/contract)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ansible_collections.cpkgs.conda.plugins.module_utils._conda_env import (
    REQUEST_FILE,
    CondaError,
    CondaRunner,
    EnvManager,
    EnvSpec,
    InputError,
    clean_environment,
    fingerprint,
    is_environment,
    planning_manager,
    render_condarc,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_read import parse_condarc
from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_rules import ENV_CONDARC_HEADER
from ansible_collections.cpkgs.conda.plugins.module_utils._files import FileError

CONTRACT = Path(__file__).resolve().parents[3] / "testbed" / "contract"


def sample(name: str) -> dict:
    return json.loads((CONTRACT / name).read_text())


class FakeConda:
    """Answers conda commands with the recorded samples and makes the prefix look like conda left it."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.environs: list[dict] = []  # the environ_update of each call
        self.dry_run_answer = "dryrun_noop.json"
        self.fail_create = False
        self.fail_install = False
        self.seen_modes: list[int] = []  # the prefix's mode when create ran
        self.seen_frozen: list[bool] = []  # whether conda-meta/frozen existed when install/remove ran

    @staticmethod
    def _prefix(cmd: list[str]) -> Path:
        return Path(cmd[cmd.index("--prefix") + 1])

    @staticmethod
    def _link(prefix: Path, records: list[dict]) -> None:
        meta = prefix / "conda-meta"
        meta.mkdir(parents=True, exist_ok=True)
        (meta / "history").touch()  # conda writes it with every env; it is what makes a prefix an env
        for rec in records:
            (meta / f"{rec['dist_name']}.json").write_text(
                json.dumps(
                    {
                        "name": rec["name"],
                        "version": rec["version"],
                        "build": rec["build_string"],
                        "url": f"{rec['base_url']}/noarch/{rec['dist_name']}.conda",
                    }
                )
            )

    @staticmethod
    def _frozen_error(prefix: Path) -> str:
        """What real conda 26.7.1 prints (with ``--json``) for a command that would change a frozen env."""
        mark = (prefix / "conda-meta" / "frozen").read_text()
        reason = json.loads(mark).get("message", "") if mark else ""
        message = f"Cannot modify '{prefix}'. The environment is marked as frozen. "
        if reason:
            message += "Reason:\n\n    " + reason + "\n\n"
        message += "You can bypass these protections with the `--override-frozen` flag, at your own risk."
        return json.dumps(
            {
                "caused_by": "None",
                "error": f"EnvironmentIsFrozenError: {message}",
                "exception_name": "EnvironmentIsFrozenError",
                "exception_type": "<class 'conda.exceptions.EnvironmentIsFrozenError'>",
                "message": message,
            }
        )

    @staticmethod
    def _protects_frozen(cmd: list[str], environ_update: dict | None) -> bool:
        """conda's ``protect_frozen_envs``: true unless ``--override-frozen`` or ``CONDA_PROTECT_FROZEN_ENVS``."""
        if "--override-frozen" in cmd:
            return False
        environ = {**os.environ, **(environ_update or {})}
        return environ.get("CONDA_PROTECT_FROZEN_ENVS", "true").strip().lower() not in ("false", "no", "off", "n", "0")

    def __call__(self, cmd: list[str], environ_update: dict | None = None) -> tuple[int, str, str]:
        self.calls.append(cmd)
        self.environs.append(dict(environ_update or {}))
        sub = cmd[1:3] if cmd[1] == "env" else cmd[1:2]
        if sub in (["install"], ["update"], ["remove"], ["env", "update"]) and "--prefix" in cmd:
            # Real conda checks CEP 22's mark before anything else, dry runs included (conda/cli/install.py,
            # main_remove.py, main_env_update.py).
            prefix = self._prefix(cmd)
            if (prefix / "conda-meta" / "frozen").is_file() and self._protects_frozen(cmd, environ_update):
                return 1, self._frozen_error(prefix), ""
        if sub == ["create"] and "--file" in cmd and "--dry-run" not in cmd:
            return self._create_explicit(self._prefix(cmd), Path(cmd[cmd.index("--file") + 1]))
        return self._answer(cmd, sub)

    def _answer(self, cmd: list[str], sub: list[str]) -> tuple[int, str, str]:
        if "--dry-run" in cmd:
            name = "create.json" if sub == ["create"] else self.dry_run_answer
            return 0, (CONTRACT / name).read_text(), ""
        prefix = self._prefix(cmd)
        if sub in (["install"], ["remove"]):
            self.seen_frozen.append((prefix / "conda-meta" / "frozen").exists())
        if sub == ["create"]:
            self.seen_modes.append(prefix.stat().st_mode & 0o777 if prefix.exists() else -1)
            if self.fail_create:
                (prefix / "conda-meta").mkdir(parents=True)  # conda got half-way
                return 1, (CONTRACT / "create_fail.json").read_text(), ""
            self._link(prefix, sample("create.json")["actions"]["LINK"])
            return 0, (CONTRACT / "create.json").read_text(), ""
        if sub == ["install"]:
            if self.fail_install:
                return 1, (CONTRACT / "create_fail.json").read_text(), ""
            data = sample("r1_downgrade.json")
            for rec in data["actions"]["UNLINK"]:
                (prefix / "conda-meta" / f"{rec['dist_name']}.json").unlink()
            self._link(prefix, data["actions"]["LINK"])
            return 0, json.dumps(data), ""
        if sub == ["remove"]:
            for record in (prefix / "conda-meta").glob("*.json"):
                record.unlink()
            return 0, (CONTRACT / "remove_all.json").read_text(), ""
        raise AssertionError(f"unexpected conda call {cmd}")

    @staticmethod
    def _create_explicit(prefix: Path, lockfile: Path) -> tuple[int, str, str]:
        """``create --file LOCK``, as conda 26.7.1 does it: an existing prefix is deleted whole first (its
        .condarc and frozen mark too), the lock's packages linked, and nothing printed with ``--json``."""
        if prefix.exists():
            for path in sorted(prefix.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
        meta = prefix / "conda-meta"
        meta.mkdir(parents=True, exist_ok=True)
        for url in (line for line in lockfile.read_text().splitlines() if line and line[0] not in "#@"):
            name, version, build = url.rsplit("/", 1)[1].removesuffix(".conda").rsplit("-", 2)
            record = {"name": name, "version": version, "build": build, "url": url}
            (meta / f"{name}-{version}-{build}.json").write_text(json.dumps(record))
        (meta / "history").write_text("")
        return 0, "", ""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "anaconda3_linux"
    (root / "conda-meta").mkdir(parents=True)
    (root / "envs").mkdir()
    return root


@pytest.fixture
def conda() -> FakeConda:
    return FakeConda()


def manager(tree: Path, conda: FakeConda, check_mode: bool = False, envs_dirs: list | None = None) -> EnvManager:
    runner = CondaRunner(conda, str(tree / "bin" / "conda"))
    return EnvManager(runner, str(tree), envs_dirs or [str(tree / "envs")], check_mode=check_mode)


def env(**params) -> EnvSpec:
    params.setdefault("name", "e1")
    if "prefix" in params:
        params.pop("name")
    return EnvSpec(params)


def test_create_then_noop_without_conda(tree: Path, conda: FakeConda) -> None:
    request = {"specs": ["pkga"], "channels": ["file:///srv/conda-channel"], "override_channels": True}
    first = manager(tree, conda).run(env(**request))
    assert first["changed"] is True
    assert first["prefix"] == str(tree / "envs" / "e1")
    assert first["actions"]["link"] == ["pkga-2.0-0", "pkgb-1.0-0", "pkgc-1.0-0"]
    assert first["packages"] == ["pkga-2.0-0", "pkgb-1.0-0", "pkgc-1.0-0"]
    create = conda.calls[0]
    assert create[:4] == [str(tree / "bin" / "conda"), "create", "--prefix", str(tree / "envs" / "e1")]
    assert create[-1] == "--json"
    assert "--override-channels" in create
    assert (tree / "envs" / "e1" / "conda-meta" / REQUEST_FILE).is_file()
    conda.calls.clear()
    second = manager(tree, conda).run(env(**request))
    assert second["changed"] is False
    assert conda.calls == []  # no solver, no conda process at all
    assert second["packages"] == first["packages"]


def test_spec_order_does_not_matter(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga", "pkgc"]))
    conda.calls.clear()
    assert manager(tree, conda).run(env(specs=["pkgc", "pkga"]))["changed"] is False
    assert conda.calls == []


def test_packages_changed_by_hand_asks_conda(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    (tree / "envs" / "e1" / "conda-meta" / "pkgc-1.0-0.json").unlink()
    conda.calls.clear()
    conda.dry_run_answer = "dryrun_noop.json"
    result = manager(tree, conda).run(env(specs=["pkga"]))
    assert len(conda.calls) == 1 and "--dry-run" in conda.calls[0]
    assert result["changed"] is False
    conda.calls.clear()
    assert manager(tree, conda).run(env(specs=["pkga"]))["changed"] is False  # record refreshed
    assert conda.calls == []


def test_changed_request_in_check_mode_then_apply(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    record = (tree / "envs" / "e1" / "conda-meta" / REQUEST_FILE).read_text()
    conda.calls.clear()
    conda.dry_run_answer = "dryrun_change.json"
    checked = manager(tree, conda, check_mode=True).run(env(specs=["pkga=1.0"]))
    assert checked["changed"] is True
    assert checked["actions"] == {"link": ["pkga-1.0-0"], "unlink": ["pkga-2.0-0"]}
    assert "pkga-1.0-0" in checked["diff"]["after"] and "pkga-2.0-0" in checked["diff"]["before"]
    assert [c for c in conda.calls if "--dry-run" not in c] == []
    assert (tree / "envs" / "e1" / "conda-meta" / REQUEST_FILE).read_text() == record  # nothing written
    applied = manager(tree, conda).run(env(specs=["pkga=1.0"]))
    assert applied["changed"] is True
    assert applied["actions"] == {"link": ["pkga-1.0-0"], "unlink": ["pkga-2.0-0"]}
    assert "pkga-1.0-0" in applied["packages"]
    conda.calls.clear()
    assert manager(tree, conda).run(env(specs=["pkga=1.0"]))["changed"] is False
    assert conda.calls == []


def test_check_mode_create_writes_nothing(tree: Path, conda: FakeConda) -> None:
    result = manager(tree, conda, check_mode=True).run(env(specs=["pkga"]))
    assert result["changed"] is True
    assert result["actions"]["link"] == ["pkga-2.0-0", "pkgb-1.0-0", "pkgc-1.0-0"]
    assert all("--dry-run" in call for call in conda.calls)
    assert not (tree / "envs" / "e1").exists()


def test_latest_always_asks_conda(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    conda.calls.clear()
    result = manager(tree, conda).run(env(specs=["pkga"], state="latest"))
    assert result["changed"] is False
    assert len(conda.calls) == 1
    assert "--update-deps" in conda.calls[0] and "--dry-run" in conda.calls[0]


def test_failed_create_leaves_nothing_behind(tree: Path, conda: FakeConda) -> None:
    conda.fail_create = True
    with pytest.raises(CondaError) as info:
        manager(tree, conda).run(env(specs=["nosuchpkg"]))
    assert info.value.message.startswith("PackagesNotFoundInChannelsError: The following packages are not available")
    assert "nosuchpkg" in info.value.message
    assert info.value.rc == 1
    assert not (tree / "envs" / "e1").exists()


def test_failed_update_keeps_env_and_record(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    meta = tree / "envs" / "e1" / "conda-meta"
    before = sorted(p.name for p in meta.iterdir())
    record = (meta / REQUEST_FILE).read_text()
    conda.dry_run_answer = "dryrun_change.json"
    conda.fail_install = True
    with pytest.raises(CondaError, match="PackagesNotFoundInChannelsError"):
        manager(tree, conda).run(env(specs=["pkga=1.0"]))
    assert sorted(p.name for p in meta.iterdir()) == before
    assert (meta / REQUEST_FILE).read_text() == record  # the next run asks conda again


def test_absent(tree: Path, conda: FakeConda) -> None:
    assert manager(tree, conda).run(env(state="absent"))["changed"] is False
    assert conda.calls == []
    manager(tree, conda).run(env(specs=["pkga"]))
    checked = manager(tree, conda, check_mode=True).run(env(state="absent"))
    assert checked["changed"] is True and (tree / "envs" / "e1").exists()
    removed = manager(tree, conda).run(env(state="absent"))
    assert removed["changed"] is True
    assert removed["actions"]["unlink"] == ["pkga-2.0-0", "pkgb-1.0-0", "pkgc-1.0-0"]
    assert not (tree / "envs" / "e1").exists()


def test_absent_refuses_the_tree(tree: Path, conda: FakeConda) -> None:
    with pytest.raises(InputError, match=f"^prefix: refusing to remove the tree itself \\({tree}\\)$"):
        manager(tree, conda).run(env(prefix=str(tree), state="absent"))


@pytest.mark.parametrize("frozen", [True, False])
def test_frozen_mark(tree: Path, conda: FakeConda, frozen: bool) -> None:
    manager(tree, conda).run(env(specs=["pkga"], frozen=not frozen))
    mark = tree / "envs" / "e1" / "conda-meta" / "frozen"
    assert mark.exists() is (not frozen)
    assert manager(tree, conda, check_mode=True).run(env(specs=["pkga"], frozen=frozen))["changed"] is True
    assert mark.exists() is (not frozen)
    assert manager(tree, conda).run(env(specs=["pkga"], frozen=frozen))["changed"] is True
    assert mark.exists() is frozen
    assert manager(tree, conda).run(env(specs=["pkga"], frozen=frozen))["changed"] is False


def test_lockfile_compares_urls_without_conda(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    lock = tree.parent / "e1.lock"
    urls = [f"file:///srv/conda-channel/noarch/{n}.conda" for n in ("pkga-2.0-0", "pkgb-1.0-0", "pkgc-1.0-0")]
    lock.write_text("# conda list --explicit\n@EXPLICIT\n" + "\n".join(urls) + "\n")
    conda.calls.clear()
    assert manager(tree, conda).run(env(lockfile=str(lock)))["changed"] is False
    assert conda.calls == []
    lock.write_text("@EXPLICIT\n" + "\n".join(urls[1:]) + "\n")
    checked = manager(tree, conda, check_mode=True).run(env(lockfile=str(lock)))
    assert checked["changed"] is True
    assert checked["actions"] == {"link": [], "unlink": ["pkga-2.0-0"]}
    assert conda.calls == []


def test_name_found_in_a_later_envs_dir_and_new_ones_in_the_first_writable(tree: Path, conda: FakeConda) -> None:
    other = tree.parent / "home" / ".conda" / "envs"
    (other / "mine" / "conda-meta").mkdir(parents=True)
    mgr = manager(tree, conda, envs_dirs=[str(tree / "envs"), str(other)])
    assert mgr.prefix_of(env(name="mine", state="absent")) == str(other / "mine")
    assert mgr.prefix_of(env(name="new", state="absent")) == str(tree / "envs" / "new")


def test_fingerprint_follows_package_records(tree: Path) -> None:
    meta = tree / "conda-meta"
    before = fingerprint(str(tree))
    (meta / "history").write_text("")
    (meta / REQUEST_FILE).write_text("{}")
    assert fingerprint(str(tree)) == before  # only package records count
    (meta / "pkga-2.0-0.json").write_text("{}")
    assert fingerprint(str(tree)) != before


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"name": "a/b", "specs": ["x"]}, "name: 'a/b' is not a valid environment name"),
        ({"name": "..", "specs": ["x"]}, "name: '..' is not a valid environment name"),
        ({"name": "two words", "specs": ["x"]}, "is not a valid environment name"),
        ({"name": "-rf", "specs": ["x"]}, "name: '-rf' must not start with '-'"),
        ({"name": "", "specs": ["x"]}, "name: an environment name must not be empty, got ''"),
        ({"specs": ["x"]}, "name: give exactly one of name and prefix"),
        ({"name": "x" * 300, "specs": ["x"]}, "name: 'xxxxxxxx…' (300 bytes) is too long for a directory name"),
        ({"prefix": "/envs/" + "y" * 256, "specs": ["x"]}, "prefix: '/envs/yyyyyyyy…' has a part of 256 bytes"),
        ({"name": "base", "specs": ["x"]}, "name: 'base' is the tree itself"),
        ({"name": "root", "specs": ["x"]}, "name: 'root' is the tree itself"),
        ({"prefix": "relative/env", "specs": ["x"]}, "prefix: must be an absolute path, got 'relative/env'"),
        ({"name": "e"}, "specs: state=present needs specs, file or lockfile"),
        ({"name": "e", "specs": ["--force"]}, "specs: '--force' is not a package spec"),
        ({"name": "e", "lockfile": "/x.lock", "state": "latest"}, "state: latest makes no sense with a lockfile"),
    ],
)
def test_bad_input(params: dict, message: str) -> None:
    with pytest.raises(InputError) as info:
        EnvSpec(params)
    assert message in str(info.value)


def test_bad_input_in_list_names_the_item() -> None:
    with pytest.raises(InputError, match=r"envs\[3\]\.name: 'a/b'"):
        EnvSpec({"name": "a/b", "specs": ["x"]}, "envs[3]")


def test_unreadable_file_names_the_parameter(tree: Path) -> None:
    with pytest.raises(InputError, match=r"file: cannot read '/nonexistent/env\.yml'"):
        EnvSpec({"name": "e", "file": "/nonexistent/env.yml"}).request()


def test_clean_environment() -> None:
    cleaned = clean_environment(
        {
            "PATH": "/bin",
            "CONDA_PREFIX": "/x",
            "CONDA_SHLVL": "2",
            "CONDA_PREFIX_1": "/y",
            "SUDO_UID": "1000",
            "SUDO_USER": "alice",
            "HOME": "/root",
            "CONDA_PKGS_DIRS": "/cache",
        }
    )
    assert cleaned == {"PATH": "/bin", "HOME": "/root", "CONDA_PKGS_DIRS": "/cache"}


def test_runner_turns_conda_errors_into_messages() -> None:
    def missing(cmd: list[str]) -> tuple[int, str, str]:
        return 1, (CONTRACT / "remove_missing.json").read_text(), ""

    with pytest.raises(CondaError) as info:
        CondaRunner(missing, "/t/bin/conda").json(["list", "--prefix", "/t/envs/nope"])
    assert info.value.message == (
        "EnvironmentLocationNotFound: Not a conda environment: /nfs/cpkgs/anaconda3_linux/envs/nope"
    )

    def garbage(cmd: list[str]) -> tuple[int, str, str]:
        return 137, "", "Killed"

    with pytest.raises(CondaError, match="conda exited with rc=137: Killed"):
        CondaRunner(garbage, "/t/bin/conda").json(["info"])


def test_publish_builds_behind_a_closed_door(tree: Path, conda: FakeConda) -> None:
    old = os.umask(0o022)
    try:
        manager(tree, conda).run(env(specs=["pkga"]))
    finally:
        os.umask(old)
    assert conda.seen_modes == [0o700]  # nobody else could enter while conda built it
    assert (tree / "envs" / "e1").stat().st_mode & 0o777 == 0o755  # opened once complete


def test_without_publish_conda_makes_the_directory(tree: Path, conda: FakeConda) -> None:
    runner = CondaRunner(conda, str(tree / "bin" / "conda"))
    EnvManager(runner, str(tree), [str(tree / "envs")], publish=False).run(env(specs=["pkga"]))
    assert conda.seen_modes == [-1]


def test_env_condarc_is_written_whole_and_idempotent(tree: Path, conda: FakeConda) -> None:
    wanted = {
        "channels": ["usgs-astrogeology", "conda-forge"],
        "auto_stack": 1,
        "proxy_servers": {"http": "p:1", "odd key": "x"},
    }
    first = manager(tree, conda).run(env(specs=["pkga"], condarc=wanted))
    path = tree / "envs" / "e1" / ".condarc"
    text = path.read_text()
    assert first["condarc_changed"] is True
    assert text.startswith(ENV_CONDARC_HEADER)
    assert parse_condarc(text)[0] == wanted  # conda's reader and ours agree on what was written
    conda.calls.clear()
    again = manager(tree, conda).run(env(specs=["pkga"], condarc=wanted))
    assert again["changed"] is False and conda.calls == []
    checked = manager(tree, conda, check_mode=True).run(env(specs=["pkga"], condarc={"channels": ["x"]}))
    assert checked["changed"] is True and path.read_text() == text  # check mode writes nothing


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (["channels"], "condarc: must be a mapping"),
        ({"bad key": 1}, "condarc: 'bad key' is not a .condarc key"),
        ({"channels": [{"nested": 1}]}, "condarc.channels: values must be strings"),
    ],
)
def test_render_condarc_refuses(data: object, message: str) -> None:
    with pytest.raises(InputError) as info:
        render_condarc(data)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_fake_conda_refuses_frozen_envs_like_real_conda(tree: Path, conda: FakeConda) -> None:
    """The fake is only worth something if it refuses what real conda 26.7.1 refuses."""
    manager(tree, conda).run(env(specs=["pkga"], frozen=True))
    prefix = str(tree / "envs" / "e1")
    runner = CondaRunner(conda, str(tree / "bin" / "conda"))
    with pytest.raises(CondaError, match=r"(?s)^EnvironmentIsFrozenError: Cannot modify .*Managed by cpkgs.conda"):
        runner.json(["install", "--prefix", prefix, "--yes", "pkga=1.0", "--dry-run"])
    assert runner.json(["install", "--prefix", prefix, "--yes", "pkga=1.0", "--dry-run", "--override-frozen"])


def _frozen_env(tree: Path, conda: FakeConda) -> Path:
    manager(tree, conda).run(env(specs=["pkga"], frozen=True))
    conda.calls.clear()
    conda.environs.clear()
    conda.dry_run_answer = "dryrun_change.json"
    return tree / "envs" / "e1" / "conda-meta"


def test_frozen_env_changed_through_the_inventory(tree: Path, conda: FakeConda) -> None:
    """A fix published to a frozen release env: check shows it, apply does it, frozen after, re-run a no-op."""
    meta = _frozen_env(tree, conda)
    checked = manager(tree, conda, check_mode=True).run(env(specs=["pkga=1.0"], frozen=True))
    assert checked["changed"] is True
    assert checked["actions"] == {"link": ["pkga-1.0-0"], "unlink": ["pkga-2.0-0"]}
    assert checked["diff"]["after"].splitlines() == ["pkga-1.0-0", "pkgb-1.0-0", "pkgc-1.0-0", "(frozen)"]
    assert [c for c in conda.calls if "--dry-run" not in c] == []
    applied = manager(tree, conda).run(env(specs=["pkga=1.0"], frozen=True))
    assert applied["changed"] is True
    assert "pkga-1.0-0" in applied["packages"] and "pkga-2.0-0" not in applied["packages"]
    assert conda.seen_frozen == [True]  # conda changed it with the mark in place, not set aside
    assert all(e == {"CONDA_PROTECT_FROZEN_ENVS": "false"} for e in conda.environs)
    assert (meta / "frozen").is_file()
    assert sorted(p.name for p in meta.iterdir() if "frozen" in p.name) == ["frozen"]  # no temp name left
    conda.calls.clear()
    again = manager(tree, conda, check_mode=True).run(env(specs=["pkga=1.0"], frozen=True))
    assert again["changed"] is False
    assert manager(tree, conda).run(env(specs=["pkga=1.0"], frozen=True))["changed"] is False
    assert conda.calls == []


def test_latest_on_a_frozen_env(tree: Path, conda: FakeConda) -> None:
    meta = _frozen_env(tree, conda)
    checked = manager(tree, conda, check_mode=True).run(env(specs=["pkga"], state="latest", frozen=True))
    assert checked["changed"] is True
    applied = manager(tree, conda).run(env(specs=["pkga"], state="latest", frozen=True))
    assert applied["changed"] is True
    assert "--update-deps" in conda.calls[-1] and "--dry-run" not in conda.calls[-1]
    assert (meta / "frozen").is_file()


def test_frozen_env_removed(tree: Path, conda: FakeConda) -> None:
    _frozen_env(tree, conda)
    assert manager(tree, conda).run(env(state="absent"))["changed"] is True
    assert not (tree / "envs" / "e1").exists()


def test_failed_change_of_a_frozen_env_keeps_the_mark(tree: Path, conda: FakeConda) -> None:
    meta = _frozen_env(tree, conda)
    conda.fail_install = True
    with pytest.raises(CondaError, match="PackagesNotFoundInChannelsError"):
        manager(tree, conda).run(env(specs=["pkga=2.0"], frozen=True))
    assert (meta / "frozen").is_file()


def test_absent_diff_has_no_blank_line(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    checked = manager(tree, conda, check_mode=True).run(env(state="absent"))
    assert checked["diff"]["before"] == "pkga-2.0-0\npkgb-1.0-0\npkgc-1.0-0\n"
    assert checked["diff"]["after"] == ""
    removed = manager(tree, conda).run(env(state="absent"))
    assert removed["diff"]["after"] == ""


@pytest.mark.parametrize("check_mode", [True, False])
def test_frozen_mark_alone_shows_in_the_diff(tree: Path, conda: FakeConda, check_mode: bool) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    packages = "pkga-2.0-0\npkgb-1.0-0\npkgc-1.0-0\n"
    frozen = manager(tree, conda, check_mode=check_mode).run(env(specs=["pkga"], frozen=True))
    assert frozen["changed"] is True
    assert (frozen["diff"]["before"], frozen["diff"]["after"]) == (packages, packages + "(frozen)\n")
    if check_mode:
        manager(tree, conda).run(env(specs=["pkga"], frozen=True))
    thawed = manager(tree, conda, check_mode=check_mode).run(env(specs=["pkga"], frozen=False))
    assert (thawed["diff"]["before"], thawed["diff"]["after"]) == (packages + "(frozen)\n", packages)


def _lock(path: Path, *names: str) -> Path:
    path.write_text("@EXPLICIT\n" + "".join(f"file:///srv/conda-channel/noarch/{n}.conda\n" for n in names))
    return path


def test_lockfile_env_created_though_conda_prints_nothing(tree: Path, conda: FakeConda) -> None:
    """conda prints no JSON for ``create --file LOCK --json``: the env is created, its actions are the lock's."""
    lock = _lock(tree.parent / "a.lock", "pkga-2.0-0", "pkgb-1.0-0")
    result = manager(tree, conda).run(env(lockfile=str(lock)))
    assert result["changed"] is True
    assert result["actions"] == {"link": ["pkga-2.0-0", "pkgb-1.0-0"], "unlink": []}
    assert result["packages"] == ["pkga-2.0-0", "pkgb-1.0-0"]
    assert manager(tree, conda).run(env(lockfile=str(lock)))["changed"] is False


def test_lockfile_rebuild_keeps_the_envs_own_files(tree: Path, conda: FakeConda) -> None:
    """A new lock re-creates the env, which conda does by deleting the prefix: its .condarc and frozen mark,
    not managed by this task, are put back."""
    prefix = tree / "envs" / "e1"
    manager(tree, conda).run(env(lockfile=str(_lock(tree.parent / "a.lock", "pkga-2.0-0", "pkgb-1.0-0"))))
    (prefix / ".condarc").write_text("channels: [x]\n")
    (prefix / "conda-meta" / "frozen").write_text("{}")
    result = manager(tree, conda).run(env(lockfile=str(_lock(tree.parent / "b.lock", "pkga-1.0-0", "pkgb-1.0-0"))))
    assert result["changed"] is True
    assert result["packages"] == ["pkga-1.0-0", "pkgb-1.0-0"]
    assert (prefix / ".condarc").read_text() == "channels: [x]\n"
    assert (prefix / "conda-meta" / "frozen").read_text() == "{}"
    assert conda.environs[-1] == {"CONDA_PROTECT_FROZEN_ENVS": "false"}


def test_runner_empty_answer_only_where_allowed() -> None:
    runner = CondaRunner(lambda cmd: (0, "", ""), "conda")
    assert runner.json(["create", "--file", "x.lock"], quiet_ok=True) == {}
    with pytest.raises(CondaError, match="no output"):
        runner.json(["list"])


def test_runner_names_each_error_of_a_multi_error() -> None:
    """conda's CondaMultiError has no message of its own: the errors inside it are the message."""
    answer = (CONTRACT / "readonly_remove_all.json").read_text()
    runner = CondaRunner(lambda cmd: (1, answer, ""), "conda")
    with pytest.raises(CondaError) as caught:
        runner.json(["remove", "--prefix", "/e", "--all", "--yes"])
    assert caught.value.message.startswith(
        "CondaMultiError: EnvironmentNotWritableError: The current user does not have write permissions"
    )


# ------------------------------------------------------------------- interrupted builds (killed mid-way)


def _closed_leftover(prefix: Path, complete: bool) -> None:
    """What a build killed after conda started leaves: the closed (0700) directory, conda's files in it."""
    FakeConda._link(prefix, sample("create.json")["actions"]["LINK"][: 1 if not complete else None])
    if not complete:
        (prefix / "conda-meta" / "history").unlink()
    prefix.chmod(0o700)


@pytest.mark.parametrize("complete", [False, True])
def test_closed_leftover_of_an_interrupted_build_is_rebuilt(tree: Path, conda: FakeConda, complete: bool) -> None:
    """Killed after conda started and before the env was recorded and opened: whatever conda got to, the env
    is built again and opened; it never stays closed while the module reports a no-op."""
    prefix = tree / "envs" / "e1"
    _closed_leftover(prefix, complete)
    checked = manager(tree, conda, check_mode=True).run(env(specs=["pkga"]))
    assert checked["changed"] is True
    assert prefix.stat().st_mode & 0o777 == 0o700  # check mode touched nothing
    result = manager(tree, conda).run(env(specs=["pkga"]))
    assert result["changed"] is True
    assert [c[1] for c in conda.calls] == ["create"]
    assert prefix.stat().st_mode & 0o777 == 0o755
    assert EnvManager.read_record(str(prefix)) is not None
    assert manager(tree, conda).run(env(specs=["pkga"]))["changed"] is False


def test_recorded_env_left_closed_is_opened(tree: Path, conda: FakeConda) -> None:
    """Killed between the record and the opening: the env is complete; it is opened, conda is not asked."""
    prefix = tree / "envs" / "e1"
    manager(tree, conda).run(env(specs=["pkga"]))
    prefix.chmod(0o700)
    conda.calls.clear()
    result = manager(tree, conda).run(env(specs=["pkga"]))
    assert result["changed"] is True
    assert result["opened"] is True
    assert conda.calls == []
    assert prefix.stat().st_mode & 0o777 == 0o755


def test_closed_leftover_removed_by_absent(tree: Path, conda: FakeConda) -> None:
    prefix = tree / "envs" / "e1"
    _closed_leftover(prefix, complete=False)
    assert manager(tree, conda).run(env(state="absent"))["changed"] is True
    assert not prefix.exists()


def test_directory_that_is_not_an_env_is_refused(tree: Path, conda: FakeConda) -> None:
    """conda counts a prefix as an env only with conda-meta/history; an open directory without it that the
    module did not build is someone else's: refused, naming it, and left as it is."""
    prefix = tree / "envs" / "e1"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "data.txt").write_text("keep me")
    with pytest.raises(InputError, match=r"name: .*envs/e1 exists and is not a conda environment"):
        manager(tree, conda).run(env(specs=["pkga"]))
    assert (prefix / "data.txt").read_text() == "keep me"
    assert conda.calls == []


@contextlib.contextmanager
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only), unmounted afterwards."""
    base = tmp_path / "small"
    base.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(base)], check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield base
    finally:
        subprocess.run(["umount", str(base)], check=True)


def _fill(directory: Path) -> None:
    """Take every free block of the file system ``directory`` is on."""
    with contextlib.suppress(OSError), (directory / "filler").open("wb", buffering=0) as handle:
        while True:
            handle.write(b"\0" * 4096)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_disk_after_the_build_names_the_record_and_leaves_no_temporary_file(
    tmp_path: Path, conda: FakeConda
) -> None:
    with small_tmpfs(tmp_path) as disk:
        tree = disk / "anaconda3_linux"
        (tree / "envs").mkdir(parents=True)
        answer = conda._answer

        def build_then_fill(cmd: list[str], sub: list[str]) -> tuple[int, str, str]:
            result = answer(cmd, sub)
            _fill(disk)  # conda's build took the last free block
            return result

        conda._answer = build_then_fill  # type: ignore[method-assign]
        with pytest.raises(FileError) as caught:
            manager(tree, conda).run(env(specs=["pkga"]))
        record = tree / "envs" / "e1" / "conda-meta" / REQUEST_FILE
        assert str(caught.value) == f"cannot write {record}: No space left on device"
        assert sorted(p.name for p in record.parent.iterdir() if "cpkgs" in p.name) == []  # no 0-byte leftover
        assert (tree / "envs" / "e1").stat().st_mode & 0o077 == 0  # still closed: the next run rebuilds it


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_full_disk_names_the_env_condarc_and_leaves_no_temporary_file(tmp_path: Path, conda: FakeConda) -> None:
    with small_tmpfs(tmp_path) as disk:
        tree = disk / "anaconda3_linux"
        (tree / "envs").mkdir(parents=True)
        manager(tree, conda).run(env(specs=["pkga"]))
        _fill(disk)
        with pytest.raises(FileError) as caught:
            manager(tree, conda).run(env(specs=["pkga"], condarc={"channels": ["conda-forge"]}))
        path = tree / "envs" / "e1" / ".condarc"
        assert str(caught.value) == f"cannot write {path}: No space left on device"
        assert sorted(p.name for p in path.parent.iterdir() if "condarc" in p.name) == []


def test_temporary_names_are_unique_per_writer(tree: Path, conda: FakeConda, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two writers of one env never share a temporary file (each rename publishes its own whole file)."""
    seen: list[str] = []
    real_rename = os.rename

    def spy(src: str, dst: str) -> None:
        seen.append(Path(src).name)
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", spy)
    monkeypatch.setattr(os, "replace", spy)
    for index in range(2):
        manager(tree, conda).run(env(specs=["pkga", f"pkgb{index}"], condarc={"channels": [f"c{index}"]}))
    temporaries = [name for name in seen if REQUEST_FILE in name or "condarc" in name]
    assert len(temporaries) == 4
    assert len(set(temporaries)) == 4, temporaries
    assert not any(name.endswith((f"{REQUEST_FILE}.tmp", ".condarc.cpkgs-tmp")) for name in temporaries)


# ------------------------------------------------ removal while a user's process holds a file (NFS)


def _busy_rmdir(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """``rmdir`` of directories called ``name`` fails as on NFS when a process holds a file in it open (the
    client keeps the file as ``.nfsNNNN``, so the directory is not empty)."""
    real = os.rmdir

    def rmdir(path: object, *args: object, **kwargs: object) -> None:
        if Path(str(path)).name == name:
            raise OSError(errno.ENOTEMPTY, "Directory not empty", str(path))
        real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rmdir", rmdir)


def test_removal_takes_the_env_out_of_sight_in_one_step(
    tree: Path, conda: FakeConda, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file held open keeps part of the env on disk: the env is gone from users' sight all the same (no
    half env under its name that conda would list), and a later run finishes the removal."""
    prefix = tree / "envs" / "e1"
    manager(tree, conda).run(env(specs=["pkga"]))
    (prefix / "bin").mkdir()
    (prefix / "bin" / "tool").write_text("#!/bin/sh\n")
    _busy_rmdir(monkeypatch, "bin")
    removed = manager(tree, conda).run(env(state="absent"))
    assert removed["changed"] is True
    assert not prefix.exists()
    (pending,) = removed["pending_removal"]
    assert not Path(pending, "conda-meta").exists()  # not an env for conda any more
    assert [c[1] for c in conda.calls if c[1] == "remove"] == []  # no conda to half-remove it
    monkeypatch.undo()
    assert manager(tree, conda, check_mode=True).run(env(state="absent"))["changed"] is True
    finished = manager(tree, conda).run(env(state="absent"))
    assert finished["changed"] is True
    assert finished["finished_removal"] == [pending]
    assert not Path(pending).exists()
    assert manager(tree, conda).run(env(state="absent"))["changed"] is False


def test_a_new_env_of_the_same_name_while_an_old_one_waits_for_removal(
    tree: Path, conda: FakeConda, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = tree / "envs" / "e1"
    manager(tree, conda).run(env(specs=["pkga"]))
    (prefix / "bin").mkdir()
    _busy_rmdir(monkeypatch, "bin")
    manager(tree, conda).run(env(state="absent"))
    monkeypatch.undo()
    created = manager(tree, conda).run(env(specs=["pkga"]))
    assert created["changed"] is True
    assert is_environment(str(prefix))
    assert len(created["finished_removal"]) == 1


# ------------------------------------------------------------------- plan: which envs need work, from files only


def plan(tree: Path, *specs: EnvSpec) -> list[dict]:
    """``plan`` of each env with the module's planning manager (its conda must not be asked)."""
    planner = planning_manager(str(tree), [str(tree / "envs")])
    return [planner.plan(spec) for spec in specs]


def _snapshot(tree: Path) -> dict:
    return {str(p): (p.stat().st_mode, p.stat().st_mtime_ns) for p in sorted(tree.rglob("*"))}


def test_plan_names_exactly_the_envs_that_need_work_and_why(tree: Path, conda: FakeConda) -> None:
    for name in ("done", "changed", "frozen", "gone", "latest"):
        manager(tree, conda).run(env(name=name, specs=["pkga"]))
    (tree / "envs" / "closed").mkdir()
    _closed_leftover(tree / "envs" / "closed", complete=False)
    conda.calls.clear()
    before = _snapshot(tree)
    results = plan(
        tree,
        env(name="done", specs=["pkga"]),
        env(name="new", specs=["pkga"]),
        env(name="changed", specs=["pkga=1.0"]),
        env(name="frozen", specs=["pkga"], frozen=True),
        env(name="gone", state="absent"),
        env(name="never", state="absent"),
        env(name="latest", specs=["pkga"], state="latest"),
        env(name="closed", specs=["pkga"]),
    )
    assert conda.calls == []  # no conda process
    assert _snapshot(tree) == before  # nothing written, not even the lock
    assert [(r["name"], r["needs_work"], r["reason"]) for r in results] == [
        ("done", False, "up to date"),
        ("new", True, "build"),
        ("changed", True, "update (request changed)"),
        ("frozen", True, "freeze"),
        ("gone", True, "remove"),
        ("never", False, "absent"),
        ("latest", True, "update to latest (conda decides)"),
        ("closed", True, "rebuild (left half-built by an interrupted build)"),
    ]
    assert results[0]["prefix"] == str(tree / "envs" / "done")
    assert results[1]["prefix"] == str(tree / "envs" / "new")


def test_plan_agrees_with_a_no_op_run(tree: Path, conda: FakeConda) -> None:
    """What the plan calls up to date, run leaves alone without conda; what it calls work, run changes."""
    manager(tree, conda).run(env(specs=["pkga"]))
    (tree / "envs" / "e1" / "conda-meta" / "pkgc-1.0-0.json").unlink()  # changed by hand: conda must decide
    (result,) = plan(tree, env(specs=["pkga"]))
    assert (result["needs_work"], result["reason"]) == (True, "update (packages changed: conda decides)")
    manager(tree, conda).run(env(specs=["pkga"]))  # conda says nothing to do; the record is refreshed
    conda.calls.clear()
    (result,) = plan(tree, env(specs=["pkga"]))
    assert result["needs_work"] is False
    assert manager(tree, conda).run(env(specs=["pkga"]))["changed"] is False
    assert conda.calls == []


def test_plan_reports_a_bad_input_as_work_for_that_env_only(tree: Path, conda: FakeConda) -> None:
    (tree / "envs" / "notanenv" / "conda-meta").mkdir(parents=True)
    results = plan(
        tree,
        env(name="notanenv", specs=["pkga"]),
        env(name="nofile", file=str(tree / "missing.yml")),
        env(name="fine", state="absent"),
    )
    assert [r["needs_work"] for r in results] == [True, True, False]
    assert results[0]["reason"].startswith("error: ") and "is not a conda environment" in results[0]["reason"]
    assert results[1]["reason"].startswith("error: file: cannot read")
    assert conda.calls == []


def test_run_reports_elapsed_and_counts(tree: Path, conda: FakeConda) -> None:
    created = manager(tree, conda).run(env(specs=["pkga"]))
    assert created["counts"] == {"linked": 3, "unlinked": 0, "packages": 3}
    assert isinstance(created["elapsed"], float) and created["elapsed"] >= 0
    removed = manager(tree, conda).run(env(state="absent"))
    assert removed["counts"] == {"linked": 0, "unlinked": 3, "packages": 0}


# -- what the record holds: each part of the request alone makes work --------------------------------------


class FileConda(FakeConda):
    """FakeConda that also answers ``conda env create/update --file`` with real conda 26.7.1's answers."""

    def _answer(self, cmd: list[str], sub: list[str]) -> tuple[int, str, str]:
        if sub in (["env", "create"], ["env", "update"]) and "--dry-run" not in cmd:
            prefix = self._prefix(cmd)
            name = {"create": "env_create.json", "update": "env_update.json"}[sub[1]]
            data = sample("env_update_prune.json" if "--prune" in cmd else name)
            for rec in data["actions"].get("UNLINK", []):
                (prefix / "conda-meta" / f"{rec['dist_name']}.json").unlink(missing_ok=True)
            self._link(prefix, data["actions"]["LINK"])
            return 0, json.dumps(data), ""
        return super()._answer(cmd, sub)


def _recorded(tree: Path, name: str = "e1") -> dict:
    return json.loads((tree / "envs" / name / "conda-meta" / REQUEST_FILE).read_text())["request"]


def _channel_args(cmd: list[str]) -> list[str]:
    return [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--channel"]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (["file:///srv/a"], ["file:///srv/b"]),  # another channel
        (["file:///srv/a", "file:///srv/b"], ["file:///srv/b", "file:///srv/a"]),  # the same, other priority
        ([], ["file:///srv/a"]),  # one added
    ],
)
def test_changing_only_the_channels_is_work_and_is_recorded(
    tree: Path, conda: FakeConda, before: list, after: list
) -> None:
    manager(tree, conda).run(env(specs=["pkga"], channels=before))
    assert _recorded(tree)["channels"] == before
    (planned,) = plan(tree, env(specs=["pkga"], channels=after))
    assert (planned["needs_work"], planned["reason"]) == (True, "update (request changed)")
    conda.calls.clear()
    manager(tree, conda).run(env(specs=["pkga"], channels=after))
    assert [_channel_args(call) for call in conda.calls] == [after]  # conda asked, with the new channels
    assert _recorded(tree)["channels"] == after
    conda.calls.clear()
    assert manager(tree, conda).run(env(specs=["pkga"], channels=after))["changed"] is False
    assert conda.calls == []


def test_changing_only_override_channels_is_work_and_is_recorded(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"], channels=["file:///srv/a"]))
    assert _recorded(tree)["override_channels"] is False
    (planned,) = plan(tree, env(specs=["pkga"], channels=["file:///srv/a"], override_channels=True))
    assert (planned["needs_work"], planned["reason"]) == (True, "update (request changed)")
    manager(tree, conda).run(env(specs=["pkga"], channels=["file:///srv/a"], override_channels=True))
    assert _recorded(tree)["override_channels"] is True


def _environment_yml(tree: Path) -> Path:
    path = tree.parent / "environment.yml"
    path.write_text("name: e1\ndependencies:\n  - pkga\n")
    return path


@pytest.mark.parametrize("prune", [False, True])
def test_changing_only_prune_is_work_and_is_recorded(tree: Path, prune: bool) -> None:
    conda = FileConda()
    yml = str(_environment_yml(tree))
    created = manager(tree, conda).run(env(file=yml, prune=not prune))
    assert created["changed"] is True
    assert conda.calls[0][1:3] == ["env", "create"]
    assert _recorded(tree)["prune"] is (not prune)
    (planned,) = plan(tree, env(file=yml, prune=prune))
    assert (planned["needs_work"], planned["reason"]) == (True, "update (request changed)")
    conda.calls.clear()
    updated = manager(tree, conda).run(env(file=yml, prune=prune))
    assert updated["changed"] is True
    (call,) = conda.calls
    assert call[1:3] == ["env", "update"]
    assert ("--prune" in call) is prune
    assert updated["actions"]["unlink"] == ["pkga-1.0-0"]
    assert _recorded(tree)["prune"] is prune
    conda.calls.clear()
    assert manager(tree, conda).run(env(file=yml, prune=prune))["changed"] is False
    assert conda.calls == []


def test_prune_means_nothing_without_a_file(tree: Path, conda: FakeConda) -> None:
    """prune is an option of ``conda env update --file``: with specs it is not part of the request."""
    manager(tree, conda).run(env(specs=["pkga"]))
    conda.calls.clear()
    assert manager(tree, conda).run(env(specs=["pkga"], prune=True))["changed"] is False
    assert conda.calls == []


def test_changing_only_the_file_s_content_is_work(tree: Path) -> None:
    conda = FileConda()
    yml = _environment_yml(tree)
    manager(tree, conda).run(env(file=str(yml)))
    first = _recorded(tree)["file_sha256"]
    yml.write_text("name: e1\ndependencies:\n  - pkga=1.0\n")
    (planned,) = plan(tree, env(file=str(yml)))
    assert (planned["needs_work"], planned["reason"]) == (True, "update (request changed)")
    manager(tree, conda).run(env(file=str(yml)))
    assert _recorded(tree)["file_sha256"] not in (first, None)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"prefix": "/nfs/" + "x" * 300 + "/" + "x" * 300},
            "prefix: '/nfs/xxxxxxxx…' has a part of 300 bytes (255 at most in a directory name)",
        ),
        ({"name": "n" * 300}, "name: 'nnnnnnnn…' (300 bytes) is too long for a directory name (255 at most)"),
    ],
)
def test_a_too_long_value_is_shown_cut_at_its_first_long_part(params: dict, message: str) -> None:
    with pytest.raises(InputError) as info:
        EnvSpec(dict(params, specs=["pkga"]))
    assert str(info.value) == message


def test_render_condarc_quotes_nested_keys_that_are_not_plain() -> None:
    text = render_condarc({"proxy_servers": {"http": "http://p:8080", "a b": "x", "https://x": "y"}})
    assert text.splitlines()[1:] == [
        "proxy_servers:",
        '  http: "http://p:8080"',
        '  "a b": "x"',
        '  "https://x": "y"',
    ]


# ------------------------------------------------------------- what the mutation run (benchmarks/mutation.py) found


class StrictFileConda(FileConda):
    """FileConda that, as real conda, reads the file ``--file`` names (a missing or unnamed file fails)."""

    def _answer(self, cmd: list[str], sub: list[str]) -> tuple[int, str, str]:
        named = cmd[cmd.index("--file") + 1] if "--file" in cmd else ""
        if sub in (["env", "create"], ["env", "update"]) and not (named and Path(named).is_file()):
            return 1, json.dumps({"exception_name": "EnvironmentFileNotFound", "message": "no file"}), ""
        return super()._answer(cmd, sub)


def test_update_from_a_file_names_the_file_and_records_the_request(tree: Path) -> None:
    conda = StrictFileConda()
    yml = _environment_yml(tree)
    manager(tree, conda).run(env(file=str(yml)))
    yml.write_text("name: e1\ndependencies:\n  - pkga=1.0\n")
    checked = manager(tree, conda, check_mode=True).run(env(file=str(yml)))
    assert checked["changed"] is True
    assert checked["actions"]["link"] == [f"(from {yml})"]  # conda cannot dry-run `env update`: say so
    conda.calls.clear()
    updated = manager(tree, conda).run(env(file=str(yml)))
    assert updated["changed"] is True
    (call,) = conda.calls
    assert call[call.index("--file") + 1] == str(yml)
    conda.calls.clear()
    assert manager(tree, conda).run(env(file=str(yml)))["changed"] is False
    assert conda.calls == []


def test_lockfile_update_records_the_request_and_check_mode_does_not(tree: Path, conda: FakeConda) -> None:
    prefix = tree / "envs" / "e1"
    manager(tree, conda).run(env(lockfile=str(_lock(tree.parent / "a.lock", "pkga-2.0-0", "pkgb-1.0-0"))))
    record = (prefix / "conda-meta" / REQUEST_FILE).read_text()
    new = str(_lock(tree.parent / "b.lock", "pkga-1.0-0", "pkgb-1.0-0"))
    checked = manager(tree, conda, check_mode=True).run(env(lockfile=new))
    assert checked["actions"] == {"link": ["pkga-1.0-0"], "unlink": ["pkga-2.0-0"]}
    assert (prefix / "conda-meta" / REQUEST_FILE).read_text() == record
    manager(tree, conda).run(env(lockfile=new))
    (create,) = [call for call in conda.calls if call[1] == "create" and new in call]
    assert create[create.index("--file") + 1] == new
    assert _recorded(tree)["lockfile_sha256"] == hashlib.sha256(Path(new).read_bytes()).hexdigest()
    conda.calls.clear()
    assert manager(tree, conda).run(env(lockfile=new))["changed"] is False
    assert conda.calls == []


def test_lockfile_that_already_matches_is_recorded_once(tree: Path, conda: FakeConda) -> None:
    """The env already holds the lock's packages (built from specs): no conda, and the record is refreshed so the
    next run needs no comparison of URLs either."""
    manager(tree, conda).run(env(specs=["pkga"]))
    lock = str(_lock(tree.parent / "a.lock", "pkga-2.0-0", "pkgb-1.0-0", "pkgc-1.0-0"))
    checked = manager(tree, conda, check_mode=True).run(env(lockfile=lock))
    assert checked["changed"] is False
    assert _recorded(tree)["lockfile_sha256"] is None  # check mode writes no record
    conda.calls.clear()
    assert manager(tree, conda).run(env(lockfile=lock))["changed"] is False
    assert conda.calls == []
    assert _recorded(tree)["lockfile_sha256"] is not None


def test_lockfile_rebuild_restores_the_envs_own_files_with_their_modes(tree: Path, conda: FakeConda) -> None:
    prefix = tree / "envs" / "e1"
    manager(tree, conda).run(env(lockfile=str(_lock(tree.parent / "a.lock", "pkga-2.0-0"))))
    condarc = prefix / ".condarc"
    condarc.write_text("channels: [x]\n")
    condarc.chmod(0o640)
    mark = prefix / "conda-meta" / "frozen"
    mark.write_text("{}")
    mark.chmod(0o604)
    manager(tree, conda).run(env(lockfile=str(_lock(tree.parent / "b.lock", "pkga-1.0-0"))))
    assert (condarc.read_text(), condarc.stat().st_mode & 0o7777) == ("channels: [x]\n", 0o640)
    assert (mark.read_text(), mark.stat().st_mode & 0o7777) == ("{}", 0o604)


class KeepingConda(FakeConda):
    """conda that, re-creating from a lockfile, leaves the env's .condarc where it was (and drops the rest)."""

    def _create_explicit(self, prefix: Path, lockfile: Path) -> tuple[int, str, str]:  # type: ignore[override]
        kept = (prefix / ".condarc").read_bytes() if (prefix / ".condarc").exists() else None
        answer = FakeConda._create_explicit(prefix, lockfile)
        if kept is not None:
            (prefix / ".condarc").write_bytes(b"# conda's own\n" + kept)
        return answer


def test_lockfile_rebuild_keeps_what_conda_left_in_place(tree: Path) -> None:
    conda = KeepingConda()
    prefix = tree / "envs" / "e1"
    manager(tree, conda).run(env(lockfile=str(_lock(tree.parent / "a.lock", "pkga-2.0-0"))))
    (prefix / ".condarc").write_text("channels: [x]\n")
    (prefix / "conda-meta" / "frozen").write_text("{}")
    manager(tree, conda).run(env(lockfile=str(_lock(tree.parent / "b.lock", "pkga-1.0-0"))))
    assert (prefix / ".condarc").read_text() == "# conda's own\nchannels: [x]\n"  # left as conda left it
    assert (prefix / "conda-meta" / "frozen").read_text() == "{}"  # the one conda deleted is put back


def test_lockfile_rebuild_does_not_turn_a_linked_condarc_into_a_copy(tree: Path, conda: FakeConda) -> None:
    prefix = tree / "envs" / "e1"
    manager(tree, conda).run(env(lockfile=str(_lock(tree.parent / "a.lock", "pkga-2.0-0"))))
    shared_rc = tree.parent / "site.condarc"
    shared_rc.write_text("channels: [site]\n")
    (prefix / ".condarc").symlink_to(shared_rc)
    manager(tree, conda).run(env(lockfile=str(_lock(tree.parent / "b.lock", "pkga-1.0-0"))))
    assert not (prefix / ".condarc").exists()  # conda deleted the link; no private copy appears in its place
    assert shared_rc.read_text() == "channels: [site]\n"


def test_rebuild_of_an_interrupted_build_is_reported_and_recorded(tree: Path, conda: FakeConda) -> None:
    prefix = tree / "envs" / "e1"
    _closed_leftover(prefix, complete=False)
    checked = manager(tree, conda, check_mode=True).run(env(specs=["pkga"]))
    assert checked["rebuilt"] is True
    assert checked["actions"]["link"] == [f"(rebuild of {prefix}, left by an interrupted build)"]
    result = manager(tree, conda).run(env(specs=["pkga"]))
    assert result["rebuilt"] is True
    assert _recorded(tree)["specs"] == ["pkga"]
    (planned,) = plan(tree, env(specs=["pkga"]))
    assert (planned["needs_work"], planned["reason"]) == (False, "up to date")


@pytest.mark.parametrize(
    ("value", "param"),
    [
        ({"channels": [object()]}, "condarc.channels"),
        ({"proxy_servers": {"http": object()}}, "condarc.proxy_servers"),
        ({"auto_stack": object()}, "condarc.auto_stack"),
    ],
)
def test_render_condarc_names_the_key_of_a_bad_value(value: dict, param: str) -> None:
    with pytest.raises(InputError, match=rf"^{param}: values must be strings"):
        render_condarc(value)


def test_render_condarc_writes_what_conda_reads_back() -> None:
    import yaml

    wanted = {
        "always_yes": True,
        "changeps1": False,
        "ssl_verify": None,
        "remote_max_retries": 3,
        "remote_backoff_factor": 1.5,
        "channels": [],
        "default_channels": ["a", True, None],
        "proxy_servers": {},
        "custom_channels": {"x": False},
        "env_prompt": "({name}) ",
    }
    text = render_condarc(wanted)
    assert text.startswith(ENV_CONDARC_HEADER) and text.endswith("\n") and not text.endswith("\n\n")
    assert yaml.safe_load(text) == wanted


def test_env_condarc_with_bytes_that_are_not_utf8_is_rewritten(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"], condarc={"channels": ["a"]}))
    path = tree / "envs" / "e1" / ".condarc"
    path.write_bytes(path.read_bytes() + b"# caf\xe9\n")
    result = manager(tree, conda).run(env(specs=["pkga"], condarc={"channels": ["a"]}))
    assert result["condarc_changed"] is True
    assert path.read_text() == render_condarc({"channels": ["a"]})


def test_env_condarc_follows_the_umask(tree: Path, conda: FakeConda) -> None:
    """The env's .condarc is as readable as the umask lets files be (group-writable under 0002)."""
    old = os.umask(0o002)
    try:
        manager(tree, conda).run(env(specs=["pkga"], condarc={"channels": ["a"]}))
    finally:
        os.umask(old)
    assert (tree / "envs" / "e1" / ".condarc").stat().st_mode & 0o777 == 0o664


def test_env_condarc_of_another_writer_is_refused_naming_the_option(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    path = tree / "envs" / "e1" / ".condarc"
    path.write_text("channels: [mine]\n")
    with pytest.raises(InputError, match=r"^envs\[0\]\.condarc: .*/e1/\.condarc was not written by conda_env"):
        manager(tree, conda).run(EnvSpec({"name": "e1", "specs": ["pkga"], "condarc": {"channels": ["a"]}}, "envs[0]"))
    assert path.read_text() == "channels: [mine]\n"


@pytest.mark.parametrize(
    ("answer", "err", "message"),
    [
        ({"message": "boom"}, "", "CondaError: boom"),  # rc != 0, no exception name
        ({"error": "broken pipe"}, "", "CondaError: broken pipe"),
        ({"exception_name": "X"}, "said on stderr\n", "X: said on stderr"),
        (
            {"exception_name": "CondaMultiError", "errors": [{"message": "one"}, {"exception_name": "B"}]},
            "stderr",
            "CondaMultiError: CondaError: one; B: ",  # the inner errors do not repeat stderr
        ),
    ],
)
def test_runner_error_message_from_what_conda_printed(answer: dict, err: str, message: str) -> None:
    runner = CondaRunner(lambda cmd: (1, json.dumps(answer), err), "conda")
    with pytest.raises(CondaError) as caught:
        runner.json(["install", "--prefix", "/e", "--yes", "x"])
    assert caught.value.message == message
    assert caught.value.rc == 1


def test_lockfile_comments_and_hashes_are_not_urls(tmp_path: Path) -> None:
    from ansible_collections.cpkgs.conda.plugins.module_utils._conda_env import read_lockfile

    lock = tmp_path / "e.lock"
    lock.write_text(
        "# platform: linux-64\n@EXPLICIT\n\nhttps://c/noarch/a-1-0.conda#0123abcd\n  https://c/noarch/b-1-0.tar.bz2  \n"
    )
    assert read_lockfile(str(lock)) == ["https://c/noarch/a-1-0.conda", "https://c/noarch/b-1-0.tar.bz2"]


def test_lockfile_errors_name_the_file_and_why(tmp_path: Path) -> None:
    from ansible_collections.cpkgs.conda.plugins.module_utils._conda_env import read_lockfile

    missing = tmp_path / "none.lock"
    with pytest.raises(InputError) as caught:
        read_lockfile(str(missing))
    assert str(caught.value) == f"lockfile: cannot read {str(missing)!r}: No such file or directory"
    plain = tmp_path / "plain.lock"
    plain.write_text("https://c/noarch/a-1-0.conda\n")
    with pytest.raises(InputError) as caught:
        read_lockfile(str(plain))
    assert str(caught.value) == f"lockfile: {str(plain)!r} is not an explicit lockfile (no @EXPLICIT line)"


def test_lockfile_labels_drop_the_package_suffix(tree: Path, conda: FakeConda) -> None:
    lock = tree.parent / "a.lock"
    lock.write_text("@EXPLICIT\nhttps://c/noarch/pkga-2.0-0.tar.bz2\nhttps://c/noarch/pkgb-1.0-0.conda\nhttps://c/x\n")
    checked = manager(tree, conda, check_mode=True).run(env(lockfile=str(lock)))
    assert checked["actions"]["link"] == ["pkga-2.0-0", "pkgb-1.0-0", "x"]


def test_unreadable_file_message_says_why(tree: Path) -> None:
    with pytest.raises(InputError) as caught:
        EnvSpec({"name": "e1", "file": str(tree / "none.yml")}).request()
    assert str(caught.value) == f"file: cannot read {str(tree / 'none.yml')!r}: No such file or directory"


def test_offline_reaches_every_conda_command_that_fetches(tree: Path) -> None:
    conda = FileConda()
    manager(tree, conda).run(env(specs=["pkga"], offline=True))
    yml = _environment_yml(tree)
    manager(tree, conda).run(env(name="e2", file=str(yml), offline=True))
    conda.dry_run_answer = "dryrun_change.json"
    manager(tree, conda).run(env(specs=["pkga=1.0"], offline=True))
    assert [call[1] for call in conda.calls] == ["create", "env", "install", "install"]
    assert all("--offline" in call for call in conda.calls)
    conda.calls.clear()
    manager(tree, conda).run(env(name="e3", specs=["pkga"]))
    assert "--offline" not in conda.calls[0]


def test_removed_envs_wait_in_the_tree_s_trash_and_others_leftovers_stay(tree: Path, conda: FakeConda) -> None:
    trash = tree / ".cpkgs-trash"
    (trash / "e1-x-abc123").mkdir(parents=True)  # what a removal of env "e1-x" left
    (trash / "e10-abc123").mkdir()
    manager(tree, conda).run(env(specs=["pkga"]))
    removed = manager(tree, conda).run(env(state="absent"))
    assert removed["changed"] is True
    assert "pending_removal" not in removed
    assert sorted(p.name for p in trash.iterdir()) == ["e1-x-abc123", "e10-abc123"]
    assert not (tree / "envs" / ".cpkgs-trash").exists()
    (trash / "e1-def456").mkdir()  # an earlier removal of e1 that could not finish
    again = manager(tree, conda).run(env(state="absent"))
    assert again["finished_removal"] == [str(trash / "e1-def456")]
    assert "pending_removal" not in again
    assert sorted(p.name for p in trash.iterdir()) == ["e1-x-abc123", "e10-abc123"]


# ------------------------------------------------------------------- what a caller reads in the results


def test_render_condarc_spells_scalars_as_conda_config_does() -> None:
    text = render_condarc({"always_yes": True, "changeps1": False, "ssl_verify": None, "channels": ["a"]})
    assert text.splitlines()[1:] == ["always_yes: true", "changeps1: false", "ssl_verify: null", "channels:", '  - "a"']


def test_plan_names_the_state_and_each_reason_of_an_existing_env(tree: Path, conda: FakeConda) -> None:
    for name in ("icy", "rc", "tidy"):
        manager(tree, conda).run(env(name=name, specs=["pkga"], frozen=True))
    (tree / ".cpkgs-trash" / "tidy-abc123").mkdir(parents=True)  # an earlier removal of tidy left this
    results = plan(
        tree,
        env(name="icy", specs=["pkga"], frozen=False),
        env(name="rc", specs=["pkga"], frozen=True, condarc={"channels": ["a"]}),
        env(name="tidy", specs=["pkga"], frozen=True),
    )
    assert [(r["name"], r["state"], r["needs_work"], r["reason"]) for r in results] == [
        ("icy", "present", True, "unfreeze"),
        ("rc", "present", True, "write its .condarc"),
        ("tidy", "present", True, "finish an earlier removal"),
    ]


def test_an_update_runs_conda_install_without_a_prompt(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    conda.calls.clear()
    conda.dry_run_answer = "dryrun_change.json"
    manager(tree, conda).run(env(specs=["pkga=1.0"]))
    exe, prefix = str(tree / "bin" / "conda"), str(tree / "envs" / "e1")
    assert conda.calls[-1] == [exe, "install", "--prefix", prefix, "--yes", "pkga=1.0", "--json"]


def test_an_update_reports_what_conda_did_not_what_its_dry_run_foresaw(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    conda.dry_run_answer = "install_update_deps.json"  # the solver saw another world a moment before
    applied = manager(tree, conda).run(env(specs=["pkga=1.0"]))
    assert applied["actions"] == {"link": ["pkga-1.0-0"], "unlink": ["pkga-2.0-0"]}


def test_freezing_is_reported_and_the_mark_says_who_manages_the_env(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    old = os.umask(0o002)
    try:
        frozen = manager(tree, conda).run(env(specs=["pkga"], frozen=True))
    finally:
        os.umask(old)
    assert frozen["changed"] is True and frozen["frozen_changed"] is True
    path = tree / "envs" / "e1" / "conda-meta" / "frozen"
    assert path.stat().st_mode & 0o777 == 0o644  # everyone's conda reads it; nobody but its owner changes it
    mark = json.loads(path.read_text())
    assert "cpkgs.conda" in mark["message"] and "inventory" in mark["message"]  # conda shows it to whoever tries


def test_removal_deletes_nothing_outside_the_env_whatever_the_working_directory(
    tree: Path, conda: FakeConda, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    monkeypatch.chdir(tree)  # the tree's own conda-meta is ./conda-meta here
    assert manager(tree, conda).run(env(state="absent"))["changed"] is True
    assert not (tree / "envs" / "e1").exists()
    assert (tree / "conda-meta").is_dir()


def test_a_directory_given_as_prefix_that_is_not_an_env_is_refused_naming_prefix(tree: Path, conda: FakeConda) -> None:
    prefix = tree.parent / "elsewhere" / "e1"
    (prefix / "conda-meta").mkdir(parents=True)
    with pytest.raises(InputError, match=f"^prefix: {prefix} exists and is not a conda environment"):
        manager(tree, conda).run(env(prefix=str(prefix), specs=["pkga"]))


def test_an_env_condarc_that_cannot_be_written_names_the_item() -> None:
    with pytest.raises(InputError, match=r"^envs\[2\]\.condarc: 'bad key' is not a \.condarc key"):
        EnvSpec({"name": "e1", "specs": ["pkga"], "condarc": {"bad key": 1}}, "envs[2]")


@pytest.mark.parametrize(("size", "ok"), [(255, True), (256, False)])
def test_a_name_may_fill_a_directory_name_and_no_more(size: int, ok: bool) -> None:
    name = "é" + "x" * (size - 2)  # 2 bytes + size - 2
    if ok:
        assert EnvSpec({"name": name, "specs": ["pkga"]}).name == name
    else:
        with pytest.raises(InputError, match=rf"^name: .* \({size} bytes\) is too long for a directory name"):
            EnvSpec({"name": name, "specs": ["pkga"]})


def test_no_writable_envs_dir_names_the_env(tree: Path, conda: FakeConda) -> None:
    blocked = tree.parent / "blocked"
    blocked.write_text("a file, not a directory\n")
    mgr = manager(tree, conda, envs_dirs=[str(blocked)])
    with pytest.raises(InputError, match=r"^name: none of envs_dirs \[.*blocked'\] is writable, so 'e1' cannot be"):
        mgr.run(env(specs=["pkga"]))
    assert conda.calls == []


def test_a_fingerprint_without_records_is_that_of_no_packages(tmp_path: Path) -> None:
    (tmp_path / "empty" / "conda-meta").mkdir(parents=True)
    assert fingerprint(str(tmp_path / "none")) == fingerprint(str(tmp_path / "empty"))
    (tmp_path / "empty" / "conda-meta" / "a-1-0.json").write_text("{}")
    assert fingerprint(str(tmp_path / "none")) != fingerprint(str(tmp_path / "empty"))


def test_records_with_build_string_only_are_labelled_by_it(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    meta = tree / "envs" / "e1" / "conda-meta"
    record = {"name": "old", "version": "0.1", "build_string": "h1_0"}
    (meta / "old-0.1-h1_0.json").write_text(json.dumps(record))
    removed = manager(tree, conda, check_mode=True).run(env(state="absent"))
    assert removed["actions"]["unlink"] == ["old-0.1-h1_0", "pkga-2.0-0", "pkgb-1.0-0", "pkgc-1.0-0"]


class ListActionsConda(FakeConda):
    """Answers a dry run with ``actions`` as a list of action mappings (as conda prints for some commands)."""

    def _answer(self, cmd: list[str], sub: list[str]) -> tuple[int, str, str]:
        if "--dry-run" in cmd:
            actions = [
                {"LINK": [{"name": "pkgb", "version": "1.0", "build_string": "0"}], "PREFIX": "/p"},
                None,
                {"LINK": [{"dist_name": "pkga-2.0-0"}], "UNLINK": ["old-1-0"]},
            ]
            return 0, json.dumps({"success": True, "actions": actions}), ""
        return super()._answer(cmd, sub)


def test_actions_printed_as_a_list_are_merged(tree: Path) -> None:
    checked = manager(tree, ListActionsConda(), check_mode=True).run(env(specs=["pkga"]))
    assert checked["actions"] == {"link": ["pkga-2.0-0", "pkgb-1.0-0"], "unlink": ["old-1-0"]}


def test_a_create_runs_conda_create_without_a_prompt(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"], channels=["file:///c"]))
    exe, prefix = str(tree / "bin" / "conda"), str(tree / "envs" / "e1")
    assert conda.calls == [[exe, "create", "--prefix", prefix, "--yes", "--channel", "file:///c", "pkga", "--json"]]


def test_check_mode_keeps_the_frozen_mark_of_an_env_it_was_not_asked_about(tree: Path, conda: FakeConda) -> None:
    _frozen_env(tree, conda)
    checked = manager(tree, conda, check_mode=True).run(env(specs=["pkga=1.0"]))
    prefix = tree / "envs" / "e1"
    assert checked["diff"]["after"].splitlines() == ["pkga-1.0-0", "pkgb-1.0-0", "pkgc-1.0-0", "(frozen)"]
    assert checked["diff"]["before_header"] == checked["diff"]["after_header"] == f"{prefix} (packages)"


def test_an_env_outside_the_tree_waits_for_removal_beside_it(tree: Path, conda: FakeConda) -> None:
    prefix = tree.parent / "projects" / "e1"
    manager(tree, conda).run(env(prefix=str(prefix), specs=["pkga"]))
    assert manager(tree, conda).run(env(prefix=str(prefix), state="absent"))["changed"] is True
    assert not prefix.exists()
    assert (tree.parent / "projects" / ".cpkgs-trash").is_dir()  # the same file system as the env
    assert not (tree / ".cpkgs-trash").exists()


def test_runner_errors_keep_the_command() -> None:
    def refused(cmd: list[str]) -> tuple[int, str, str]:  # an error reported with rc 0
        return 0, json.dumps({"exception_name": "CondaValueError", "message": "bad spec"}), ""

    with pytest.raises(CondaError, match=r"^CondaValueError: bad spec$") as info:
        CondaRunner(refused, "/t/bin/conda").json(["install", "x"])
    assert info.value.cmd == ["/t/bin/conda", "install", "x", "--json"]

    def killed(cmd: list[str]) -> tuple[int, str, str]:
        return 137, "", ""

    with pytest.raises(CondaError, match=r"^conda exited with rc=137: no output$") as info:
        CondaRunner(killed, "/t/bin/conda").json(["info"])
    assert (info.value.rc, info.value.cmd) == (137, ["/t/bin/conda", "info", "--json"])


def test_check_mode_removal_of_a_frozen_env_shows_nothing_after(tree: Path, conda: FakeConda) -> None:
    _frozen_env(tree, conda)
    checked = manager(tree, conda, check_mode=True).run(env(state="absent"))
    assert checked["diff"]["before"].splitlines()[-1] == "(frozen)"
    assert checked["diff"]["after"] == ""


def test_the_record_is_readable_by_every_account_that_plans(tree: Path, conda: FakeConda) -> None:
    old = os.umask(0o002)
    try:
        manager(tree, conda).run(env(specs=["pkga"]))
    finally:
        os.umask(old)
    assert (tree / "envs" / "e1" / "conda-meta" / REQUEST_FILE).stat().st_mode & 0o777 == 0o644


def test_plan_of_a_bad_input_still_names_the_env(tree: Path) -> None:
    (result,) = plan(tree, env(name="nofile", file=str(tree / "missing.yml")))
    assert (result["name"], result["prefix"], result["state"]) == ("nofile", None, "present")
    assert result["reason"] == f"error: file: cannot read {str(tree / 'missing.yml')!r}: No such file or directory"


def test_plan_reasons_of_an_unrecorded_env_and_of_a_removal_left_half_done(tree: Path, conda: FakeConda) -> None:
    _frozen_env(tree, conda)
    (tree / "envs" / "e1" / "conda-meta" / REQUEST_FILE).unlink()  # built by hand, or by another tool
    (tree / ".cpkgs-trash" / "gone-abc123").mkdir(parents=True)  # what a removal of env "gone" left
    results = plan(tree, env(specs=["pkga"]), env(name="gone", state="absent"))
    assert [(r["needs_work"], r["reason"]) for r in results] == [
        (True, "update (no record of the request: conda decides)"),
        (True, "finish an earlier removal"),
    ]


class SilentConda(FakeConda):
    """Changes the env as asked but prints nothing (rc 0), as a crashed or foreign tool might."""

    def _answer(self, cmd: list[str], sub: list[str]) -> tuple[int, str, str]:
        answer = super()._answer(cmd, sub)
        return (0, "", "") if sub == ["install"] and "--dry-run" not in cmd else answer


def test_an_install_that_prints_nothing_is_an_error(tree: Path) -> None:
    conda = SilentConda()
    manager(tree, conda).run(env(specs=["pkga"]))
    conda.dry_run_answer = "dryrun_change.json"
    with pytest.raises(CondaError, match=r"^conda exited with rc=0: no output$"):
        manager(tree, conda).run(env(specs=["pkga=1.0"]))


def test_a_removal_unmakes_the_env_before_it_deletes_a_package_file(
    tree: Path, conda: FakeConda, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed part-way, a removal must not leave something conda takes for an env: conda-meta goes first."""
    prefix = tree / "envs" / "e1"
    manager(tree, conda).run(env(specs=["pkga"]))
    for part in ("bin", "etc", "include", "lib", "man", "sbin", "share", "ssl", "var", "x86_64-conda-linux-gnu"):
        (prefix / part).mkdir()
        (prefix / part / "payload").write_text("")
    env_seen: list[bool] = []
    real = os.unlink

    def unlink(path: object, *args: object, **kwargs: object) -> None:
        if Path(str(path)).name == "payload":
            env_seen.append(any((tree / ".cpkgs-trash").glob("e1-*/conda-meta")))
        real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "unlink", unlink)
    assert manager(tree, conda).run(env(state="absent"))["changed"] is True
    assert env_seen == [False] * 10


def test_a_broken_package_record_does_not_hide_the_others(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    (tree / "envs" / "e1" / "conda-meta" / "aaa-0-0.json").write_text("{not json")
    checked = manager(tree, conda, check_mode=True).run(env(state="absent"))
    assert checked["actions"]["unlink"] == ["pkga-2.0-0", "pkgb-1.0-0", "pkgc-1.0-0"]


def test_a_prefix_part_may_fill_a_directory_name(tmp_path: Path) -> None:
    prefix = str(tmp_path / ("p" * 255))
    assert EnvSpec({"prefix": prefix, "specs": ["pkga"]}).prefix == prefix


def test_a_record_written_by_this_version_s_format_is_honoured(tree: Path, conda: FakeConda) -> None:
    """The request record is read by later runs, possibly of a later release: its format is a contract."""
    manager(tree, conda).run(env(specs=["pkga"], channels=["file:///c"]))
    prefix = tree / "envs" / "e1"
    request = {
        "version": 1,
        "specs": ["pkga"],
        "channels": ["file:///c"],
        "override_channels": False,
        "file_sha256": None,
        "lockfile_sha256": None,
        "prune": None,
    }
    record = {"request": request, "fingerprint": fingerprint(str(prefix))}
    (prefix / "conda-meta" / REQUEST_FILE).write_text(json.dumps(record))
    conda.calls.clear()
    assert manager(tree, conda).run(env(specs=["pkga"], channels=["file:///c"]))["changed"] is False
    assert conda.calls == []


def test_a_missing_lockfile_names_the_option(tree: Path, conda: FakeConda) -> None:
    lock = tree.parent / "gone.lock"
    with pytest.raises(InputError, match=f"^lockfile: cannot read {str(lock)!r}: No such file or directory$"):
        manager(tree, conda).run(env(lockfile=str(lock)))


def test_elapsed_is_the_run_s_own_time(tree: Path, conda: FakeConda) -> None:
    assert 0 <= manager(tree, conda).run(env(specs=["pkga"]))["elapsed"] < 30


def test_a_rebuilt_leftover_was_nothing_before(tree: Path, conda: FakeConda) -> None:
    """A closed leftover was never published, even when conda had made it an env: the diff starts from nothing."""
    prefix = tree / "envs" / "e1"
    _closed_leftover(prefix, complete=True)
    checked = manager(tree, conda, check_mode=True).run(env(specs=["pkga"]))
    assert checked["diff"]["before"] == ""


def test_removing_an_env_ignores_who_owns_its_condarc(tree: Path, conda: FakeConda) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    (tree / "envs" / "e1" / ".condarc").write_text("channels: [mine]\n")  # another writer's
    assert manager(tree, conda).run(env(state="absent", condarc={"channels": ["a"]}))["changed"] is True
    assert not (tree / "envs" / "e1").exists()


def test_a_removal_that_cannot_finish_again_stays_pending(
    tree: Path, conda: FakeConda, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager(tree, conda).run(env(specs=["pkga"]))
    (tree / "envs" / "e1" / "bin").mkdir()
    _busy_rmdir(monkeypatch, "bin")
    (pending,) = manager(tree, conda).run(env(state="absent"))["pending_removal"]
    again = manager(tree, conda).run(env(state="absent"))
    assert (again["finished_removal"], again["pending_removal"]) == ([pending], [pending])


def test_a_failed_build_reports_conda_s_error_though_its_leftover_is_stuck(
    tree: Path, conda: FakeConda, monkeypatch: pytest.MonkeyPatch
) -> None:
    conda.fail_create = True
    _busy_rmdir(monkeypatch, "conda-meta")
    with pytest.raises(CondaError, match=r"^PackagesNotFoundInChannelsError"):
        manager(tree, conda).run(env(specs=["nosuchpkg"]))


def test_a_directory_made_beforehand_keeps_its_mode(tree: Path, conda: FakeConda) -> None:
    prefix = tree / "envs" / "e1"
    prefix.mkdir(mode=0o750)
    prefix.chmod(0o750)
    assert manager(tree, conda).run(env(specs=["pkga"]))["changed"] is True
    assert prefix.stat().st_mode & 0o777 == 0o750


def test_check_mode_build_from_a_file_names_the_file(tree: Path) -> None:
    yml = _environment_yml(tree)
    checked = manager(tree, FileConda(), check_mode=True).run(env(file=str(yml)))
    assert checked["actions"] == {"link": [f"(from {yml})"], "unlink": []}
