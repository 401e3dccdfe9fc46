"""What a no-op run of the whole ``playbooks/site.yml`` costs against the Ansible floor of the same plays.

Usage: ``.venv/bin/python benchmarks/site_noop.py [--runs N] [--standin] [--pipelining on|off] [--keep]``

On this machine, as ``scripts/demo.sh`` does (its inventory ``inventories/demo``: localhost is the builder and a
client; the share is a scratch directory), it runs ``cpkgs.conda.site`` once to converge, then N times as a no-op
(each must report ``changed=0``), and as many times, interleaved, the floor: a playbook of the same plays on the
same hosts, each with its fact gathering (``gather_subset: [min]``) and one ``ansible.builtin.ping``. It prints
the wall-time medians side by side with their ratio (issue #13's target: at most 1.3), the same for the CPU time
of all processes (which other load on the machine disturbs less), the median of each no-op's ratio to the floor run
next to it (the machine's drift cancels out of each pair), and the no-op's time per role and its slowest
tasks (``ansible.posix.profile_tasks``; medians over the runs). The collection is copied first (``--source``,
default this checkout), so edits made meanwhile in a shared working tree do not reach the runs.

The tree is installed from real conda's installer when ``$CPKGS_BUILD/realconda/realconda-26.7.1-Linux-x86_64.sh``
(or ``CPKGS_TEST_INSTALLER``) exists, else from the test bed's stand-in installer (``--standin`` forces it).
Both plays run with the same Ansible settings; ``--pipelining`` sets ``ANSIBLE_PIPELINING`` for both (default:
whatever the environment says, as a site's ansible.cfg would). Build the test bed first (``bash scripts/demo.sh``
or ``bash scripts/test.sh``). A run takes about 2 minutes with real conda and N=5 (the converge builds 14
environments).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml  # ansible-core's dependency, in the venv
from _testbed import BIN, BUILD, CHANNEL, INSTALLER, REPO, ansible_env

INVENTORY = REPO / "inventories" / "demo" / "hosts.yml"
SITE = REPO / "playbooks" / "site.yml"
REAL_INSTALLER = BUILD / "realconda" / "realconda-26.7.1-Linux-x86_64.sh"
TARGET = 1.3
# profile_tasks' summary line: the task name, dashes, and the seconds
PROFILE_LINE = re.compile(r"^(?P<name>.*?) -+ (?P<seconds>\d+\.\d+)s$")


def pick_installer(standin: bool) -> tuple[str, Path]:
    real = Path(os.environ.get("CPKGS_TEST_INSTALLER") or REAL_INSTALLER)
    if not standin and real.is_file():
        return "real conda 26.7.1", real
    return "test-bed stand-in", INSTALLER


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def snapshot(source: Path, work: Path) -> Path:
    """A collections path with a copy of the collection as it is now (others may edit the checkout meanwhile)."""
    path = work / "collections"
    namespace = path / "ansible_collections"
    dest = namespace / "cpkgs" / "conda"
    dest.mkdir(parents=True)
    for name in ("galaxy.yml", "meta", "plugins", "roles", "playbooks"):
        if (source / name).is_dir():
            shutil.copytree(source / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source / name, dest / name)
    for other in (BUILD / "collections" / "ansible_collections").iterdir():  # the third-party collections
        if other.name != "cpkgs":
            (namespace / other.name).symlink_to(other)
    return path


def write_vars(work: Path, installer: Path) -> Path:
    """The demo's checkout-dependent variables (scripts/demo.sh writes the same into .demo/paths.yml)."""
    share = work / "nfs" / "cpkgs"
    share.mkdir(parents=True)
    (work / "cache").mkdir()
    variables = {
        "cpkgs_conda_tree_options": {"share_root": str(share)},
        "conda_tree_cache_dir": str(work / "cache"),
        "conda_tree_installers": {"Linux-x86_64": {"file": str(installer), "sha256": sha256(installer)}},
        "conda_envs_channels": [CHANNEL],
        "conda_client_hook_dir": str(work / "etc" / "profile.d"),
    }
    path = work / "paths.json"
    path.write_text(json.dumps(variables))
    return path


def write_floor(work: Path) -> Path:
    """The floor: site.yml's plays (same names, hosts, serial), fact gathering and one ping each."""
    floor = []
    for play in yaml.safe_load(SITE.read_text()):
        copy = {key: play[key] for key in ("name", "hosts", "serial") if key in play}
        copy.update(
            gather_facts=play.get("gather_facts", True),
            gather_subset=play.get("gather_subset", ["min"]),
            tasks=[{"name": "One ping", "ansible.builtin.ping": {}}],
        )
        floor.append(copy)
    path = work / "floor.json"
    path.write_text(json.dumps(floor))
    return path


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(playbook: str, variables: Path, environ: dict) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the run and its children, stdout) of one ansible-playbook run."""
    cmd = [str(BIN / "ansible-playbook"), "-i", str(INVENTORY), "-e", f"@{variables}", playbook]
    start, cpu = time.perf_counter(), cpu_seconds()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=environ, check=False)
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    if proc.returncode != 0:
        play_out = proc.stdout.split("TASKS RECAP", 1)[0]
        raise SystemExit(f"{' '.join(cmd)} failed:\n{play_out[-4000:]}\n{proc.stderr[-2000:]}")
    return wall, cpu, proc.stdout


def task_times(out: str) -> list[tuple[str, float]]:
    """profile_tasks' recap (in execution order): (task name, seconds)."""
    recap = out.split("TASKS RECAP", 1)[-1]
    rows = []
    for line in recap.splitlines():
        match = PROFILE_LINE.match(line.strip())
        if match:
            rows.append((match["name"], float(match["seconds"])))
    return rows


class Measures:
    """Per run: wall and CPU seconds of the site no-op and of the floor, and the no-op's task times."""

    def __init__(self) -> None:
        self.site: list[tuple[float, float]] = []
        self.floor: list[tuple[float, float]] = []
        self.tasks: dict[tuple[int, str], list[float]] = {}

    def add_site(self, wall: float, cpu: float, out: str) -> None:
        self.site.append((wall, cpu))
        for position, (name, seconds) in enumerate(task_times(out)):
            self.tasks.setdefault((position, name), []).append(seconds)


def report(measures: Measures, top: int) -> None:
    runs = len(measures.site)
    print()
    print(f"| medians of {runs} runs | site.yml no-op | floor (facts + 1 ping per play) | ratio | target |")
    print("|---|---|---|---|---|")
    for column, what in ((0, "wall s"), (1, "CPU s (all processes)")):
        site = statistics.median(m[column] for m in measures.site)
        base = statistics.median(m[column] for m in measures.floor)
        ratio = site / base
        verdict = ("met" if ratio <= TARGET else "NOT met") if column == 0 else "(less sensitive to other load)"
        print(f"| {what} | {site:.2f} | {base:.2f} | {ratio:.2f}x | ≤ {TARGET}x: {verdict} |")
    # Each no-op against the floor run right after it: the machine's drift over the runs cancels out of each pair.
    paired = [s[0] / f[0] for s, f in zip(measures.site, measures.floor, strict=True)]
    quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else [paired[0]] * 3
    print(f"each run against the floor run next to it (wall): median {statistics.median(paired):.2f}x, "
          f"quartiles {quartiles[0]:.2f}x-{quartiles[2]:.2f}x, {sum(r <= TARGET for r in paired)} of {runs} "
          f"runs ≤ {TARGET}x")  # fmt: skip
    print()
    medians = sorted(((statistics.median(v), name) for (_order, name), v in measures.tasks.items()), reverse=True)
    total = sum(seconds for seconds, _name in medians)
    roles: dict[str, list[float]] = {}
    for seconds, name in medians:
        role = name.split(" : ", 1)[0] if " : " in name else "(plays: facts, includes)"
        roles.setdefault(role, []).append(seconds)
    print(f"the no-op per role (profile_tasks, sums of the median s; {len(medians)} tasks, {total:.2f} s in all):")
    for role, times in sorted(roles.items(), key=lambda item: -sum(item[1])):
        print(f"  {sum(times):6.2f}  {role} ({len(times)} tasks)")
    print("slowest tasks of the no-op (median s):")
    for seconds, name in medians[:top]:
        print(f"  {seconds:6.2f}  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=5, help="no-op runs and floor runs (medians)")
    parser.add_argument("--standin", action="store_true", help="use the test bed's stand-in even if real conda exists")
    parser.add_argument("--pipelining", choices=["on", "off"], help="ANSIBLE_PIPELINING for both plays")
    parser.add_argument("--top", type=int, default=12, help="how many of the slowest no-op tasks to list")
    parser.add_argument("--source", type=Path, default=REPO, help="the checkout to copy the collection from")
    parser.add_argument("--keep", action="store_true", help="keep the scratch share")
    args = parser.parse_args(argv)
    kind, installer = pick_installer(args.standin)
    if not installer.is_file() or not (BUILD / "collections").is_dir():
        print(f"no installer at {installer} or no {BUILD / 'collections'}: run `bash scripts/demo.sh` first",
              file=sys.stderr)  # fmt: skip
        return 2
    work = Path(tempfile.mkdtemp(prefix="cpkgs-bench-site-"))
    (work / "home").mkdir()
    extra = {
        # real conda run as root reads and writes ~/.conda: keep it in the scratch directory
        "HOME": str(work / "home"),
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
        "PROFILE_TASKS_SORT_ORDER": "none",
        "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",
    }
    if args.pipelining:
        extra["ANSIBLE_PIPELINING"] = "True" if args.pipelining == "on" else "False"
    environ = ansible_env(**extra)
    environ["ANSIBLE_COLLECTIONS_PATH"] = str(snapshot(args.source, work))
    environ.pop("ANSIBLE_PYTHON_INTERPRETER")  # the inventory sets it (the playbook's own python)
    measures = Measures()
    try:
        variables = write_vars(work, installer)
        floor = write_floor(work)
        pipelining = environ.get("ANSIBLE_PIPELINING", "unset (False)")
        print(f"tree: {kind} ({installer}); share {work / 'nfs' / 'cpkgs'}; ANSIBLE_PIPELINING {pipelining}")
        converge, _cpu, _out = run("cpkgs.conda.site", variables, environ)
        print(f"converge: {converge:.1f} s")
        for index in range(args.runs):
            wall, cpu, out = run("cpkgs.conda.site", variables, environ)
            if not re.search(r"(?m)^localhost +: ok=\d+ +changed=0 ", out):
                play_out = out.split("TASKS RECAP", 1)[0]
                changed = re.findall(r"(?ms)^TASK \[([^]]*)\].*?^changed: .*?$", play_out)
                recap = re.findall(r"(?m)^\S+ +: ok=.*$", play_out)
                raise SystemExit(f"no-op run {index + 1} changed: {changed}; recap {recap}\n{play_out[-3000:]}")
            measures.add_site(wall, cpu, out)
            floor_wall, floor_cpu, _out = run(str(floor), variables, environ)
            measures.floor.append((floor_wall, floor_cpu))
            print(f"run {index + 1}: site no-op {wall:.2f} s ({cpu:.2f} s CPU), floor {floor_wall:.2f} s"
                  f" ({floor_cpu:.2f} s CPU)", flush=True)  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report(measures, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
