"""What a no-op ``cpkgs.conda.conda_env`` run costs, next to asking conda itself.

For N environments that already match their request (N = 1, 10, 100 by default) it measures:

* logic   - the module's planning code in-process (``EnvManager.run`` per environment), median of 5;
* module  - one ``ansible -m cpkgs.conda.conda_env`` call with the list form (Ansible start-up included);
* play    - one ``ansible-playbook`` run of a one-task play with the list form;
* dry-run - conda's own answer to the same request, ``conda install --dry-run --json`` per environment
            (timed on up to 5 environments and scaled to N).

Run after ``bash scripts/test.sh`` (or ``scripts/demo.sh``) has built the test bed:

    .venv/bin/python benchmarks/conda_env_noop.py [--sizes 1,10,100] [--conda-exe PATH]

Without ``--conda-exe`` the test bed's conda stand-in is installed into a temporary tree; its dry run is the
stand-in's, which is faster than real conda (recorded: ``conda list --json`` 0.54 s, a classic-solver create
1.9-2.1 s), so the ratio printed for it understates the difference. With ``--conda-exe`` (real conda) the
environments are created with it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _testbed import BIN, BUILD, CHANNEL, INSTALLER, ansible_env

sys.path.insert(0, str(BUILD / "collections"))

from ansible_collections.cpkgs.conda.plugins.module_utils._conda_env import (
    CondaRunner,
    EnvManager,
    EnvSpec,
)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, **kwargs)


def run_command(cmd: list[str]) -> tuple[int, str, str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def env_params(prefix: Path) -> dict:
    return {
        "prefix": str(prefix),
        "specs": ["isis=4.3.0"],
        "channels": [CHANNEL],
        "override_channels": True,
        "offline": True,
    }


def prepare(work: Path, conda_exe: str, count: int) -> list[Path]:
    """``count`` environments that match their request: one built by the module logic, the rest copies."""
    envs = work / "envs"
    first = envs / "e000"
    if not first.exists():
        manager = EnvManager(CondaRunner(run_command, conda_exe), str(work), [str(envs)])
        manager.run(EnvSpec(env_params(first)))
    prefixes = [envs / f"e{i:03d}" for i in range(count)]
    for prefix in prefixes[1:]:
        if not prefix.exists():
            shutil.copytree(first, prefix, symlinks=True)
    return prefixes


def time_logic(conda_exe: str, work: Path, prefixes: list[Path]) -> float:
    runner = CondaRunner(run_command, conda_exe)
    manager = EnvManager(runner, str(work), [str(work / "envs")])
    samples = []
    for _round in range(5):
        start = time.perf_counter()
        for prefix in prefixes:
            result = manager.run(EnvSpec(env_params(prefix)))
            assert not result["changed"], result
        samples.append(time.perf_counter() - start)
    assert runner.calls == [], f"a no-op started conda: {runner.calls[:2]}"
    return statistics.median(samples)


def module_args(conda_exe: str, prefixes: list[Path]) -> dict:
    return {
        "conda_exe": conda_exe,
        "channels": [CHANNEL],
        "override_channels": True,
        "offline": True,
        "envs": [{"prefix": str(p), "specs": ["isis=4.3.0"]} for p in prefixes],
    }


def time_module(conda_exe: str, prefixes: list[Path]) -> float:
    cmd = [
        str(BIN / "ansible"),
        "localhost",
        "-c",
        "local",
        "-m",
        "cpkgs.conda.conda_env",
        "-a",
        json.dumps(module_args(conda_exe, prefixes)),
    ]
    start = time.perf_counter()
    out = run(cmd, env=ansible_env()).stdout
    elapsed = time.perf_counter() - start
    assert '"changed": false' in out and '"conda_calls": 0' in out, out[-500:]
    return elapsed


def time_play(conda_exe: str, prefixes: list[Path], work: Path) -> float:
    play = work / "play.yml"
    task = {"name": "Release environments", "cpkgs.conda.conda_env": module_args(conda_exe, prefixes)}
    play.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}]))
    start = time.perf_counter()
    out = run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(play)], env=ansible_env()).stdout
    elapsed = time.perf_counter() - start
    assert "changed=0" in out, out[-500:]
    return elapsed


def time_dry_run(conda_exe: str, prefixes: list[Path]) -> float:
    """Seconds per environment for conda's own ``install --dry-run`` of the same request."""
    sample = prefixes[:5]
    start = time.perf_counter()
    for prefix in sample:
        run(
            [
                conda_exe,
                "install",
                "--prefix",
                str(prefix),
                "--dry-run",
                "--json",
                "--channel",
                CHANNEL,
                "--override-channels",
                "--offline",
                "isis=4.3.0",
            ]
        )
    return (time.perf_counter() - start) / len(sample)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100", help="numbers of environments (default 1,10,100)")
    parser.add_argument("--conda-exe", help="a real conda; default: the test bed's stand-in in a temporary tree")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="cpkgs-bench-") as tmp:
        work = Path(tmp)
        conda_exe = args.conda_exe
        if not conda_exe:
            if not INSTALLER.exists():
                print(f"no stand-in installer at {INSTALLER}: run `bash scripts/test.sh` first", file=sys.stderr)
                return 2
            run(["bash", str(INSTALLER), "-b", "-p", str(work / "tree")])
            conda_exe = str(work / "tree" / "bin" / "conda")
        version = run([conda_exe, "--version"]).stdout.strip()
        label = f"{version}" + ("" if "stand-in" in version else " (real conda)")
        rows = []
        for size in sizes:
            prefixes = prepare(work, conda_exe, size)
            logic = time_logic(conda_exe, work, prefixes)
            module = time_module(conda_exe, prefixes)
            play = time_play(conda_exe, prefixes, work)
            dry = time_dry_run(conda_exe, prefixes) * size
            rows.append((size, logic, module, play, dry))
    print(f"No-op cpkgs.conda.conda_env over N environments; conda for the comparison: {label}")
    print(
        f"{'N':>4} {'logic ms':>9} {'ms/env':>7} {'module s':>9} {'play s':>7} {'dry-run s':>10} {'dry-run/logic':>14}"
    )
    for size, logic, module, play, dry in rows:
        print(
            f"{size:>4} {logic * 1000:>9.1f} {logic * 1000 / size:>7.2f} {module:>9.2f} {play:>7.2f} {dry:>10.2f}"
            f" {dry / logic:>13.0f}x"
        )
    print(
        "logic: planning in-process (median of 5); module/play: one Ansible call with the list form, start-up "
        "included; dry-run: conda install --dry-run per env, scaled to N. Target: < 30 ms per env."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
