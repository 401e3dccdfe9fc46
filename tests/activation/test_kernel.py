"""The Jupyter kernelspec of an environment: found by ``jupyter kernelspec list``, and the kernel starts activated.

The test bed's channel has no python package, so the environment here is a **test-bed kernel**: a conda
environment of the tree (a release, with its activate.d scripts and env_vars.d) whose ``bin/python`` runs
the python of a venv that has ``ipykernel`` and ``jupyter_client`` from PyPI (a wrapper, not a symbolic link:
python looks for its venv beside the path it was started as)
(``CPKGS_KERNEL_PYTHON``; stage ``activation`` builds it under ``$CPKGS_BUILD/activation-venv``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import Tree, _activation, clean_env

KERNEL_PYTHON = os.environ.get("CPKGS_KERNEL_PYTHON", "")

pytestmark = pytest.mark.skipif(
    not KERNEL_PYTHON or not Path(KERNEL_PYTHON).is_file(),
    reason="CPKGS_KERNEL_PYTHON does not name a python with ipykernel and jupyter_client (stage activation sets it)",
)

START_KERNEL = """
import sys
from jupyter_client.manager import start_new_kernel
km, kc = start_new_kernel(kernel_name=sys.argv[1], startup_timeout=60)
try:
    out = []
    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
    code = "import os, sys; print(os.environ['CONDA_PREFIX'], os.environ['ISISROOT'], os.environ['CSPICE_MAJOR'], "
    code += "os.environ['PATH'].split(':')[0], sys.executable, repr(os.environ.get('ISIS_LEGACY_DATA')))"
    reply = kc.execute_interactive(code, output_hook=hook, timeout=60)
    assert reply["content"]["status"] == "ok", reply
    print("".join(out).strip())
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
"""


def _kernel_env(tree: Tree, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of a release env with ``bin/python`` linked to the kernel python; (prefix, kernels dir)."""
    prefix = tree.root / "envs" / "isis-kernel"
    if not prefix.exists():
        subprocess.run(["cp", "-a", str(tree.env("isis4.3.0")), str(prefix)], check=True)
        # Not a symbolic link: python finds its venv (pyvenv.cfg) beside the path it was started as, so a link
        # from the env would lose ipykernel. A wrapper that execs the venv's python keeps it.
        wrapper = prefix / "bin" / "python"
        wrapper.write_text(f'#!/bin/sh\nexec "{KERNEL_PYTHON}" "$@"\n')
        wrapper.chmod(0o755)
    return prefix, tmp_path / "share" / "jupyter" / "kernels"


def _write(prefix: Path, root: Path, kernels: Path, act: _activation.EnvActivation | None) -> list[str]:
    outputs, notes = _activation.plan_outputs(
        act,
        str(prefix),
        ["kernel"],
        module_name="isis/kernel",
        modules_dir=None,
        kernel_name="isis-kernel",
        kernels_dir=str(kernels),
        display_name="ISIS kernel",
        run_command=_run,
    )
    changed = [o.path for o in outputs if o.needs_change()[0]]
    for output in outputs:
        output.apply()
    return changed + notes


def _run(argv: list[str]) -> tuple[int, str, str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout, done.stderr


def test_kernelspec_listed_and_started(tree: Tree, tmp_path: Path) -> None:
    prefix, kernels = _kernel_env(tree, tmp_path)
    act = _activation.read_activation(str(prefix), str(tree.root))
    assert act.python == str(prefix / "bin" / "python")
    assert _write(prefix, tree.root, kernels, act) == [str(kernels / "isis-kernel" / "kernel.json")]
    assert _write(prefix, tree.root, kernels, act) == []  # a no-op writes nothing
    spec = json.loads((kernels / "isis-kernel" / "kernel.json").read_text())
    assert spec["env"]["ISISROOT"] == str(prefix)  # from the activate.d script, run once at generation
    assert oct((kernels / "isis-kernel" / "kernel.json").stat().st_mode & 0o777) == "0o644"

    environ = clean_env(tree.home, JUPYTER_PATH=str(kernels.parent), JUPYTER_DATA_DIR=str(tmp_path / "data"))
    listed = subprocess.run(
        [str(Path(KERNEL_PYTHON).parent / "jupyter"), "kernelspec", "list", "--json"],
        env=environ, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    found = json.loads(listed.stdout)["kernelspecs"]["isis-kernel"]
    assert found["spec"]["display_name"] == "ISIS kernel"
    assert found["spec"]["argv"][0] == str(prefix / "bin" / "python")

    started = subprocess.run(
        [KERNEL_PYTHON, "-c", START_KERNEL, "isis-kernel"],
        env=environ, capture_output=True, text=True, check=False, timeout=180,
    )  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr
    conda_prefix, isisroot, cspice, first_path, _exe, legacy = started.stdout.split()[-6:]
    assert (conda_prefix, isisroot, cspice) == (str(prefix), str(prefix), "67")
    assert first_path == str(prefix / "bin")
    # the env's JSON null: conda activate in a POSIX shell leaves it empty, whatever the login had (from-login)
    assert legacy == "''"


def test_kernel_removed_and_only_ours(tree: Tree, tmp_path: Path) -> None:
    prefix, kernels = _kernel_env(tree, tmp_path)
    act = _activation.read_activation(str(prefix), str(tree.root))
    _write(prefix, tree.root, kernels, act)
    assert _write(prefix, tree.root, kernels, None) == [str(kernels / "isis-kernel" / "kernel.json")]
    assert not (kernels / "isis-kernel").exists()
    (kernels / "isis-kernel").mkdir(parents=True)
    (kernels / "isis-kernel" / "kernel.json").write_text('{"argv": ["python"], "display_name": "someone else"}')
    assert _write(prefix, tree.root, kernels, None) == []  # not ours: left alone


def test_no_kernel_without_python(tree: Tree, tmp_path: Path) -> None:
    act = _activation.read_activation(str(tree.env("isis3.9.1")), str(tree.root))
    notes = _write(tree.env("isis3.9.1"), tree.root, tmp_path / "kernels", act)
    assert notes == [f"{tree.env('isis3.9.1')}: no bin/python, so no Jupyter kernel"]
    assert not (tmp_path / "kernels").exists()
