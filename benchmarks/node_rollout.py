"""What a cluster rollout of the ``cpkgs.conda.conda_node`` role moves and how long it takes, over 1, 2, 4, 8 nodes.

For each node count it starts that many fresh node containers and runs the role on them twice, in one batch:

* first sync   - the nodes have nothing: the whole golden copy moves to each node's local disk;
* add one env  - one release env was added to the golden tree (and published): only that env should move.

and prints, per node count: the node play's wall time, the bytes rsync moved per node (``Total bytes sent``
of the role's ``rsync --stats``: file data, file list and protocol), the changed bytes (the sizes of the
added env's files, from the manifest), their ratio, and the first sync's wall time per node. A second table
gives the durations of the role's copy and check tasks. Targets to read them against: an update moves
<= 1.1x the changed bytes per node, and the time per node stays flat as nodes are added.

Run it after ``bash scripts/test.sh`` (or ``scripts/demo.sh``) has built the test bed (image, stand-in
installer, channel, collections), in the test bed's podman environment:

    source tests/testbed/podman/env.sh
    .venv/bin/python benchmarks/node_rollout.py [--nodes 1,2,4,8] [--env-extra-mb 0]

How it measures. One builder container builds the common tree at the nodes' path with the collection's roles
(conda_tree, conda_envs with isis4.2.0 and isis4.3.0) and publishes it (conda_node's ``publish`` entry point)
to a podman volume, the stand-in for the share: as ``golden/v1``; then it adds isis3.9.1 to the same tree and
publishes again as ``golden/v2``. Both copies come from one tree by ``rsync -a``, so their unchanged files have
the same sizes and times, and a node synced from v1 and then pointed at v2 sees exactly what it would see if
the one golden copy had been updated in place; this lets every node count start again from v1 without
rebuilding anything. The nodes mount the volume read-only and run the whole role (``ansible-playbook``,
connection ``containers.podman.podman``, forks = nodes, facts ``min``, no users), so the times include
Ansible's start-up, the manifest check with sha256 of every file, and the shell hooks; the figures come from
the role's own registered rsync output (``ansible.posix.json`` callback). ``--env-extra-mb N`` adds an N MiB
data file to the added env (the test bed's packages are a few KB, real ones MB to GB), to see the fixed
per-run cost (the file list) against a realistic payload.

No figure is asserted; the run removes its containers and volume (named ``cpkgs-bench-rollout-*``) at the end,
and at the start if a previous run left them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("CPKGS_BUILD", REPO / ".build"))
INSTALLER = BUILD / "installer" / "cpkgs-conda-standin-26.7.1-Linux-x86_64.sh"
CHANNEL = BUILD / "channel" / "cpkgs-testbed"
COLLECTIONS = BUILD / "collections"
IMAGE = os.environ.get("CPKGS_TESTBED_IMAGE", "localhost/cpkgs-testbed:latest")
BIN = Path(sys.executable).parent
PODMAN = os.environ.get("MOLECULE_PODMAN_EXECUTABLE") or "podman"

PREFIX = "/usr/local/cpkgs/anaconda3_linux"
SHARE = "/nfs/cpkgs"
# The tree options for every module of the collection, as site.yml sets them (module_defaults of the action group).
TREE_OPTIONS = {"group/cpkgs.conda.conda": {"share_root": SHARE}}
NAME = "cpkgs-bench-rollout"
VOLUME = f"{NAME}-share"
BUILDER = f"{NAME}-builder"
RELEASES = [{"name": "isis4.2.0", "specs": ["isis=4.2.0"]}, {"name": "isis4.3.0", "specs": ["isis=4.3.0"]}]
ADDED = {"name": "isis3.9.1", "specs": ["isis=3.9.1"]}
COPY_TASK = "Copy the golden tree to local disk"
CHECK_TASK = "Check the local tree against the manifest"


def golden(version: str) -> str:
    return f"{SHARE}/golden/{version}/anaconda3_linux"


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([PODMAN, *args], capture_output=True, text=True, check=check)


def ansible_env() -> dict:
    environ = dict(os.environ)
    environ.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_HOME=str(BUILD / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(BUILD / "ansible-home" / "tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_HOST_KEY_CHECKING="0",
        ANSIBLE_GATHERING="explicit",
    )
    return environ


def inventory(path: Path, groups: dict[str, list[str]]) -> Path:
    hostvars = {"ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3"}
    children = {group: {"hosts": {host: {} for host in hosts}} for group, hosts in groups.items()}
    data = {"all": {"vars": hostvars, "children": children}}
    path.write_text(json.dumps(data))
    return path


def playbook(inv: Path, play: list[dict], work: Path, name: str, forks: int = 5) -> tuple[float, dict]:
    """Run PLAY; its wall time and the json callback's output."""
    path = work / f"{name}.yml"
    path.write_text(json.dumps(play))
    cmd = [str(BIN / "ansible-playbook"), "-i", str(inv), "-f", str(forks), str(path)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(), check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"ansible-playbook {name} failed (rc {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
        )
    return wall, json.loads(proc.stdout[proc.stdout.index("{"):])


def task_results(report: dict, task_name: str) -> tuple[dict, float]:
    """{host: result} of the task named TASK_NAME (its last run), and its duration in seconds."""
    found = None
    for play in report["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].split(" : ")[-1] == task_name:  # role tasks: "ROLE : NAME"
                found = task
    if found is None:
        raise SystemExit(f"no task {task_name!r} in the run")
    duration = found["task"]["duration"]
    seconds = _ts(duration["end"]) - _ts(duration["start"])
    return found["hosts"], seconds


def _ts(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def rsync_stats(lines: list[str]) -> dict[str, int]:
    out = {}
    for line in lines:
        label, sep, value = line.partition(": ")
        number = re.match(r"[\d,]+", value)
        if sep and number:
            out[label] = int(number.group().replace(",", ""))
    return out


def build_golden(work: Path, extra_mb: int) -> int:
    """Build and publish golden/v1 and golden/v2 on the builder; the changed bytes (the added env's files)."""
    podman("run", "-d", "--name", BUILDER, "--init", "--network", "none", "-v", f"{VOLUME}:{SHARE}:rw", IMAGE,
           "sleep", "infinity")
    podman("exec", BUILDER, "mkdir", "-p", "/srv/channel")
    podman("cp", str(CHANNEL), f"{BUILDER}:/srv/channel/")
    sha256 = (INSTALLER.parent / (INSTALLER.name + ".sha256")).read_text().split()[0]
    common = {
        "conda_tree_installers": {"Linux-x86_64": {"file": str(INSTALLER), "sha256": sha256}},
        "conda_envs_channels": ["file:///srv/channel/cpkgs-testbed"],
        "conda_envs_offline": True,
        "conda_node_prefix": PREFIX,
    }

    def tasks(envs: list[dict], version: str) -> list[dict]:
        """site.yml's golden play (conda_node's build entry point), publishing to golden/VERSION."""
        golden_vars = {"conda_node_golden": golden(version)}
        return [
            {"name": "Build the common tree at the nodes' local path and publish it as the golden copy",
             "ansible.builtin.include_role": {"name": "cpkgs.conda.conda_node", "tasks_from": "build"},
             "vars": {**golden_vars, "conda_node_envs_list": envs}},
        ]

    inv = inventory(work / "builder.json", {"builders": [BUILDER]})
    for version, envs in (("v1", RELEASES), ("v2", [*RELEASES, ADDED])):
        play_tasks = tasks(envs, version)
        if version == "v2" and extra_mb:
            payload = f"{PREFIX}/envs/{ADDED['name']}/share/bench-payload.bin"
            play_tasks += [
                {"name": "A payload the size of a real package's in the added env",
                 "ansible.builtin.shell": f"head -c {extra_mb}M /dev/urandom > {payload}",
                 "args": {"creates": payload}},
                {"name": "Publish the golden copy with it",
                 "ansible.builtin.include_role": {"name": "cpkgs.conda.conda_node", "tasks_from": "publish"},
                 "vars": {"conda_node_golden": golden(version)}},
            ]
        play = [{"name": f"Golden copy {version}", "hosts": "builders", "gather_facts": True,
                 "gather_subset": ["min"], "module_defaults": TREE_OPTIONS, "vars": common, "tasks": play_tasks}]
        playbook(inv, play, work, f"golden-{version}")
    manifest = json.loads(podman("exec", BUILDER, "cat", golden("v2") + ".manifest.json").stdout)
    prefix = f"envs/{ADDED['name']}/"
    return sum(e.get("size", 0) for rel, e in manifest["entries"].items() if rel.startswith(prefix))


def node_run(inv: Path, nodes: list[str], version: str, work: Path) -> dict:
    """The role on NODES from golden VERSION in one batch: wall time, per-node rsync stats, task durations."""
    play = [{
        "name": "Copy the common tree to the nodes",
        "hosts": "nodes",
        "gather_facts": True,
        "gather_subset": ["min"],
        "module_defaults": TREE_OPTIONS,
        "vars": {"conda_node_golden": golden(version), "conda_node_prefix": PREFIX},
        "roles": [{"role": "cpkgs.conda.conda_node"}],
    }]
    wall, report = playbook(inv, play, work, f"nodes-{len(nodes)}-{version}", forks=max(len(nodes), 1))
    copies, copy_s = task_results(report, COPY_TASK)
    checks, check_s = task_results(report, CHECK_TASK)
    stats = {host: rsync_stats(result["stdout_lines"]) for host, result in copies.items()}
    if set(stats) != set(nodes):
        raise SystemExit(f"copy task ran on {sorted(stats)}, expected {nodes}")
    out_of_sync = [host for host, result in checks.items() if not result.get("in_sync")]
    if out_of_sync:
        raise SystemExit(f"nodes not in sync after the copy: {out_of_sync}")
    return {"wall": wall, "stats": stats, "copy_s": copy_s, "check_s": check_s}


def cleanup(nodes: int) -> None:
    names = [BUILDER] + [f"{NAME}-node{i}" for i in range(1, nodes + 1)]
    podman("rm", "-f", "-t", "0", *names, check=False)
    podman("volume", "rm", "-f", VOLUME, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="1,2,4,8", help="node counts, comma-separated")
    parser.add_argument("--env-extra-mb", type=int, default=0, help="MiB of data added to the new env")
    args = parser.parse_args()
    counts = [int(n) for n in args.nodes.split(",")]
    if not os.environ.get("CONTAINERS_CONF"):
        print("run in the test bed's podman environment: source tests/testbed/podman/env.sh", file=sys.stderr)
        return 2
    for needed in (INSTALLER, CHANNEL, COLLECTIONS / "ansible_collections" / "containers" / "podman"):
        if not needed.exists():
            print(f"missing {needed}: run `bash scripts/test.sh` first", file=sys.stderr)
            return 2
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        print(f"no image {IMAGE}: run `bash tests/testbed/image/build_image.sh`", file=sys.stderr)
        return 2
    rows = []
    cleanup(max(counts))
    try:
        podman("volume", "create", VOLUME)
        with tempfile.TemporaryDirectory(prefix="cpkgs-bench-rollout-") as tmp:
            work = Path(tmp)
            start = time.perf_counter()
            changed = build_golden(work, args.env_extra_mb)
            print(f"golden copies built and published in {time.perf_counter() - start:.1f} s", file=sys.stderr)
            for count in counts:
                nodes = [f"{NAME}-node{i}" for i in range(1, count + 1)]
                for node in nodes:
                    podman("run", "-d", "--name", node, "--init", "--network", "none", "-v", f"{VOLUME}:{SHARE}:ro",
                           IMAGE, "sleep", "infinity")
                inv = inventory(work / f"nodes-{count}.json", {"nodes": nodes})
                first = node_run(inv, nodes, "v1", work)
                update = node_run(inv, nodes, "v2", work)
                rows.append((count, first, update))
                print(f"{count} node(s): first sync {first['wall']:.1f} s, add one env {update['wall']:.1f} s",
                      file=sys.stderr)
                podman("rm", "-f", "-t", "0", *nodes)
    finally:
        cleanup(max(counts))
    report(rows, changed, args.env_extra_mb)
    return 0


def report(rows: list, changed: int, extra_mb: int) -> None:
    def per_node(run: dict, key: str) -> int:
        values = {stats.get(key, 0) for stats in run["stats"].values()}
        return max(values)

    print(f"Rollout of the conda_node role (one batch, forks = nodes); added env {ADDED['name']}"
          + (f" with a {extra_mb} MiB payload" if extra_mb else " (test-bed packages: a few KB)"))
    head = (f"{'nodes':>5} | {'first sync s':>12} | {'first sync bytes/node':>21} | {'add-one-env s':>13} | "
            f"{'add-one-env bytes/node':>22} | {'changed bytes of the env':>24} | {'ratio moved/changed':>19} | "
            f"{'s per node':>10}")
    print(head)
    print("-" * len(head))
    for count, first, update in rows:
        moved = per_node(update, "Total bytes sent")
        print(f"{count:>5} | {first['wall']:>12.1f} | {per_node(first, 'Total bytes sent'):>21,} | "
              f"{update['wall']:>13.1f} | {moved:>22,} | {changed:>24,} | {moved / changed:>19.2f} | "
              f"{first['wall'] / count:>10.2f}")
    print()
    head = (f"{'nodes':>5} | {'first: copy task s':>18} | {'first: check task s':>19} | {'update: copy task s':>19} | "
            f"{'update: check task s':>20} | {'update: file data bytes/node':>28} | {'file data/changed':>17}")
    print(head)
    print("-" * len(head))
    for count, first, update in rows:
        data = per_node(update, "Total transferred file size")
        print(f"{count:>5} | {first['copy_s']:>18.2f} | {first['check_s']:>19.2f} | {update['copy_s']:>19.2f} | "
              f"{update['check_s']:>20.2f} | {data:>28,} | {data / changed:>17.2f}")
    print()
    print("bytes/node: rsync's `Total bytes sent` on a node (file data + file list + protocol; the largest of the "
          "nodes); file data: its `Total transferred file size`; changed bytes: the sizes of the added env's files "
          "(manifest). Times: wall clock of the node play (Ansible start-up, facts, copy, sha256 check of every "
          "file, hooks); s per node = first sync s / nodes. Task durations from the json callback, all nodes "
          "in parallel.")


if __name__ == "__main__":
    if shutil.which(PODMAN) is None:
        sys.exit(f"{PODMAN} not found")
    sys.exit(main())
