"""What a no-op run of the ``cpkgs.conda.conda_envs`` role costs for 14 and 100 release environments, and what
a build of 14 costs planned-then-acted (one step per environment) against one single task.

For each N (no-op) it prints:

* role     - the time Ansible spends in the role (``ansible.posix.profile_roles``), the issue's target
             being under 1.5 s for 14 environments: the role as it is (one plan task, the loop skipped, the
             activation task comparing the plain entries), the same without the activation task, and the
             former single task (``conda_envs_stop_at_first_failure: true``, no activation);
* envs tasks - how many tasks of the role ran a module for the environments (the plan: 1);
* play     - the whole ``ansible-playbook`` wall time, Ansible's start-up and fact gathering included;
* per-task - the same play with one ``ansible.builtin.command: /bin/true`` task per environment instead of
             the role: the floor of any design that pays one Ansible task per environment.

The build table: 14 environments built from nothing (package cache warm) by the role as it is (one plan
task, then one loop item per environment) and by the single task, without the activation task in both.

Run after ``bash scripts/test.sh`` (or ``scripts/demo.sh``) has built the test bed:

    .venv/bin/python benchmarks/conda_envs_noop.py [--sizes 14,100]

The tree is the test bed's conda stand-in installed into a temporary directory; the environments are built
once by the role and then copied, so the run measures the no-op only. For reference, the issue recorded no-op
re-runs of 14 environments with real conda 26.7.1 on these machines: evandam.conda 13.6 s (0.97 s per task),
UDST/ansible-conda 22 s, andrewrothstein's conda-env role 19.4 s, 14 tasks of /bin/true alone 6 s.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _testbed import BIN, CHANNEL, INSTALLER, ansible_env


def write_play(path: Path, tree: Path, count: int, per_task: bool, extra: dict | None = None) -> None:
    envs = [{"name": f"e{i:03d}", "specs": ["isis=4.3.0"]} for i in range(count)]
    if per_task:
        tasks = [
            {"name": f"One task per environment {i}", "ansible.builtin.command": "/bin/true", "changed_when": False}
            for i in range(count)
        ]
        play = {"hosts": "localhost", "gather_facts": False, "tasks": tasks}
    else:
        play = {
            "hosts": "localhost",
            "gather_facts": False,
            # the tree, for every module of the collection (the role passes no tree option)
            "module_defaults": {"group/cpkgs.conda.conda": {"root_prefix": str(tree)}},
            "vars": {
                "conda_envs_channels": [CHANNEL],
                "conda_envs_offline": True,
                "conda_envs_list": envs,
                **(extra or {}),
            },
            "roles": [{"role": "cpkgs.conda.conda_envs"}],
        }
    path.write_text(json.dumps([play]))


def run_play(play: Path) -> tuple[float, float, str]:
    cmd = [
        str(BIN / "ansible-playbook"),
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        str(play),
    ]
    start = time.perf_counter()
    environ = ansible_env(ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_roles")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=environ, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"ansible-playbook failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    role = sum(float(m) for m in re.findall(r"^conda_envs -+ ([0-9.]+)s$", proc.stdout, re.MULTILINE))
    return wall, role, proc.stdout


# The former role: all environments in one task, no activation files.
SINGLE = {"conda_envs_stop_at_first_failure": True, "conda_envs_activation_formats": []}
NO_ACTIVATION = {"conda_envs_activation_formats": []}


def envs_tasks(out: str) -> int:
    """How many tasks of the role ran cpkgs.conda.conda_env (not skipped): from the task banners' results."""
    count = 0
    for block in re.split(r"(?m)^TASK \[", out)[1:]:
        title = block.split("]", 1)[0]
        is_envs = "Plan the release" in title or "Build, update or remove" in title
        if is_envs and re.search(r"(?m)^(ok|changed): \[", block):
            count += 1
    return count


def build(work: Path, tree: Path, count: int, extra: dict) -> float:
    """The role's time building ``count`` environments from nothing (the envs removed first)."""
    for prefix in (tree / "envs").glob("b*"):
        shutil.rmtree(prefix)
    play = work / "build.json"
    envs_play(play, tree, count, extra)
    _wall, role, out = run_play(play)
    if "changed=0" in out:
        raise SystemExit(f"the build changed nothing:\n{out[-2000:]}")
    return role


def envs_play(path: Path, tree: Path, count: int, extra: dict) -> None:
    """A play of the role with ``count`` environments b000... (the releases of the test bed in turn)."""
    versions = ["3.6.0", "3.6.2", "3.7.0", "3.7.1", "3.8.0", "3.8.1", "3.9.0", "3.9.1", "4.0.0", "4.0.1", "4.1.0"]
    versions += ["4.1.1", "4.2.0", "4.3.0"]
    envs = [{"name": f"b{i:03d}", "specs": [f"isis={versions[i % len(versions)]}"]} for i in range(count)]
    write_play(path, tree, 0, per_task=False, extra={**extra, "conda_envs_list": envs})


def prepare(work: Path, tree: Path, count: int) -> None:
    """Build one environment with the role, then copy it so that all ``count`` match their request."""
    first = tree / "envs" / "e000"
    if not first.exists():
        play = work / "first.json"
        write_play(play, tree, 1, per_task=False)
        run_play(play)
    for i in range(1, count):
        target = tree / "envs" / f"e{i:03d}"
        if not target.exists():
            shutil.copytree(first, target, symlinks=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="14,100")
    args = parser.parse_args()
    if not INSTALLER.exists():
        print(f"no stand-in installer at {INSTALLER}: run `bash scripts/test.sh` first", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="cpkgs-bench-envs-") as tmp:
        work = Path(tmp)
        tree = work / "tree"
        subprocess.run(["/bin/sh", str(INSTALLER), "-b", "-p", str(tree)], check=True, capture_output=True)
        for count in (int(s) for s in args.sizes.split(",")):
            prepare(work, tree, count)
            play = work / f"noop-{count}.json"
            write_play(play, tree, count, per_task=False)
            run_play(play)  # settles the request records of the copies and writes the activation files
            wall, role, out = run_play(play)
            if "changed=0" not in out:
                raise SystemExit(f"the no-op run changed something:\n{out[-2000:]}")
            plan_only = work / f"noop-plan-{count}.json"
            write_play(plan_only, tree, count, per_task=False, extra=NO_ACTIVATION)
            _wall, role_plan, _out = run_play(plan_only)
            single = work / f"noop-single-{count}.json"
            write_play(single, tree, count, per_task=False, extra=SINGLE)
            _wall, role_single, out_single = run_play(single)
            baseline = work / f"per-task-{count}.json"
            write_play(baseline, tree, count, per_task=True)
            per_task_wall, _role, _out = run_play(baseline)
            rows.append(
                (count, role, role_plan, role_single, envs_tasks(out), envs_tasks(out_single), wall, per_task_wall)
            )
        build(work, tree, 14, NO_ACTIVATION)  # warms the package cache for both
        built = [
            (name, build(work, tree, 14, extra))
            for name, extra in (("plan + 14 steps", NO_ACTIVATION), ("single task", SINGLE))
        ]
    print("No-op run of the conda_envs role (test-bed stand-in tree; no conda process starts on a no-op)")
    print(
        f"{'envs':>5} {'role s':>7} {'plan only s':>12} {'single task s':>14} {'envs tasks':>11} {'play s':>7} "
        f"{'N x /bin/true play s':>21} {'per-task/play':>14}"
    )
    for count, role, role_plan, role_single, tasks, tasks_single, wall, per_task in rows:
        print(
            f"{count:>5} {role:>7.2f} {role_plan:>12.2f} {role_single:>14.2f} {f'{tasks} ({tasks_single})':>11} "
            f"{wall:>7.2f} {per_task:>21.2f} {per_task / wall:>13.1f}x"
        )
    print(
        "role: time inside the role (profile_roles), as it is (plan task + activation task comparing the sh/csh "
        "entries); plan only: without the activation task; single task: the former role (one task for all, "
        "conda_envs_stop_at_first_failure: true, no activation). envs tasks: tasks that ran conda_env (single "
        "task's in brackets). play: ansible-playbook wall time incl. start-up. Target: the role under 1.5 s for 14 "
        "environments."
    )
    print()
    print("Build of 14 environments from nothing (package cache warm; no activation task)")
    print(f"{'how':<16} {'role s':>7}")
    for name, role in built:
        print(f"{name:<16} {role:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
