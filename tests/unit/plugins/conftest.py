# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures the unit tests share: a scratch directory other accounts can enter, the test's own switch to
another account, and running a module's ``main()`` with given arguments."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core before 2.19

    @contextlib.contextmanager
    def patch_module_args(args: dict) -> Iterator[None]:
        from unittest import mock

        from ansible.module_utils import basic

        with mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()):
            yield


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory every account can reach (pytest's own tmp_path is 0700 root)."""
    base = Path(tempfile.mkdtemp(prefix="cpkgs-unit-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


# What ansible-core (2.19+) imports lazily when a module exits: imported as root before a switch, since the
# account switched to may not read ansible-test's copy of ansible (a 0700 directory of root's).
_LAZY_IMPORTS = tuple(
    f"ansible.module_utils._internal._json._profiles._{name}"
    for name in ("module_legacy_c2m", "module_legacy_m2c", "module_modern_c2m", "module_modern_m2c")
)


@contextlib.contextmanager
def _euid(uid: int, gid: int, groups: list[int] | None = None) -> Iterator[None]:
    for name in _LAZY_IMPORTS:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    saved = os.getgroups()
    os.setgroups([gid] if groups is None else groups)
    os.setegid(gid)
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(saved)


@pytest.fixture
def euid() -> Callable[[int, int], contextlib.AbstractContextManager[None]]:
    """The test's own switch to a non-root account (not the code under test's): ``with euid(uid, gid):``, or
    ``with euid(uid, gid, groups):`` with the supplementary groups given (by default the one group ``gid``)."""
    return _euid


def _warning_text(warning: object) -> str:
    """A warning as text: ansible-core 2.19+ returns ``{event: {msg: ...}, ...}``, earlier ones the text."""
    if isinstance(warning, dict):
        return _warning_text(warning.get("event", warning.get("msg")))
    return str(warning)


@pytest.fixture
def run_module(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Callable[[ModuleType, dict], dict]:
    """``run_module(module, args)``: the JSON result of ``module.main()`` (which always exits), its
    ``warnings`` as plain texts whatever the ansible-core."""
    try:  # ansible-core 2.19+: once controller code is imported (an action plugin's test), module warnings go to
        # the controller's display instead of the result; the module runs as on a host
        from ansible.module_utils import _internal

        monkeypatch.setattr(_internal, "is_controller", False, raising=False)
    except ImportError:
        pass

    from ansible.module_utils.common import warnings

    def run(module: ModuleType, args: dict) -> dict:
        # Warnings and deprecations are kept per process (each module runs in one of its own on a host): start
        # each run with none, so one test's warnings do not show in another's result.
        for name in ("_global_warnings", "_global_deprecations"):
            if hasattr(warnings, name):
                monkeypatch.setattr(warnings, name, type(getattr(warnings, name))())
        with patch_module_args(args), pytest.raises(SystemExit):
            module.main()
        result = json.loads(capsys.readouterr().out)
        if "warnings" in result:
            result["warnings"] = [_warning_text(warning) for warning in result["warnings"]]
        return result

    return run
