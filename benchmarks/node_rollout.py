"""What a cluster rollout of the ``cpkgs.conda.conda_node`` role moves and how long it takes, both methods, 1-8 nodes.

For each method (``rsync``: the golden copy's changed files into a new version seeded with hard links from the
one in use; ``image``: the golden copy's squashfs image, one file, mounted) and each node count, it starts that
many fresh node containers and runs the role on them three times, in one batch:

* first rollout - the nodes have nothing: the whole golden copy (or its image) moves to each node's local disk;
* add one env   - one release env was added to the golden tree (and published): a new version;
* routine       - nothing new: the run's fixed cost (Ansible, facts, the role's checks), which the two above pay too.

and prints one table: per method and node count, the bytes moved per node against the tree's unique bytes (each
hard-link group once; target <= 1.05 on a first rollout) and, on the update, against the changed bytes (the added
env's files that share no inode with a file already there; target <= 1.1), the files opened on the share per
node, the seconds per node (flat from 4 to 8 nodes), and the update's wall time against the first rollout's
(target <= 0.3), also net of the routine run's (what each rollout costs above a run that moves nothing).

Run it after ``bash scripts/test.sh`` (or ``scripts/demo.sh``) has built the test bed (image, stand-in
installer, channel, collections), in the test bed's podman environment:

    source tests/testbed/podman/env.sh
    .venv/bin/python benchmarks/node_rollout.py [--nodes 1,2,4,8] [--methods rsync,image] [--env-extra-mb 0]
        [--tree-extra-mb 0]

Methods: ``rsync`` and ``image`` are conda_node_method's; ``rsync-inc`` is the rsync method with rsync's
incremental recursion put back (``conda_node_rsync_options: [--inc-recursive]``, after the role's
``--no-inc-recursive``), to show what it costs an update.

How it measures. One builder container builds the common tree at the nodes' path with the collection's roles
(conda_tree, conda_envs with isis4.2.0 and isis4.3.0) and publishes it (conda_node's ``publish`` entry point,
method image: with its squashfs image) to a podman volume, the stand-in for the share: as ``golden/v1``; then it
adds isis3.9.1 to the same tree and publishes again as ``golden/v2``. Both copies come from one tree, so their
unchanged files have the same sizes and times, and a node on v1 pointed at v2 sees exactly what it would see if
the one golden copy had been updated; every node count starts again from v1 without rebuilding anything. The
nodes mount the volume read-only and run the whole role (``ansible-playbook``, connection
``containers.podman.podman``, forks = nodes, facts ``min``, no users, no hooks), so the times include Ansible's
start-up and the role's checks (sizes and times, no hashing: a routine run). Bytes moved: rsync's ``Total bytes
sent`` of the role's copy (file data, file list and protocol; for the image, its one file). Files opened on the
share: the files rsync read (``Number of regular files transferred``) plus the manifest, or the manifest, the
image and its sha256; the rsync method also stats every entry of the golden copy (``Number of files``, shown
apart). ``--env-extra-mb N`` adds an N MiB data file to the added env (the test bed's packages are small);
``--tree-extra-mb N`` adds N MiB of data files to the first release env of v1, which v2 keeps as they are: a tree
of a site's size, whose first rollout moves gigabytes while the update still moves the added env.
Under the table: what the update's ``Total bytes sent`` is made of (rsync's ``Literal data``, ``File list size``,
the rest: protocol), the bytes of files sent again although they share an inode with a file the node had, and
the size of a squashfs image of the added env alone (what a per-env image would move) beside the whole new
image and the changed bytes, and what a first rollout as per-env images would move (an image of the tree without
its envs' contents plus one image per env) beside the whole image.

The image nodes run with ``--device /dev/fuse --cap-add SYS_ADMIN`` and mount with ``fuse.squashfuse_ll``; the
builder and those nodes get squashfs-tools and squashfuse from Debian packages fetched once on this machine
(``apt-get download``, into $CPKGS_BUILD/debs). No figure is asserted; the run removes its containers and volume
(named ``cpkgs-bench-rollout-*``) at the end, and at the start if a previous run left them.
"""

from __future__ import annotations

import argparse
import hashlib
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
COPY_TASKS = {"rsync": "Copy the golden tree into a new version beside the one in use",
              "image": "Copy the golden copy's image to local disk"}
# A benchmark method: conda_node_method and the extra rsync options it runs with.
METHODS = {"rsync": ("rsync", []), "rsync-inc": ("rsync", ["--inc-recursive"]), "image": ("image", [])}
CHECK_TASK = "Check the version against the manifest"
DEBS_DIR = BUILD / "debs"
DEBS = ["squashfs-tools", "liblzo2-2", "squashfuse", "libsquashfuse0", "fuse3", "libfuse3-3"]
FUSE_OPTS = ["--device", "/dev/fuse", "--cap-add", "SYS_ADMIN"]


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


def install_debs(container: str) -> None:
    """squashfs-tools and squashfuse into CONTAINER from Debian packages fetched once on this machine."""
    if not list(DEBS_DIR.glob("squashfuse_*.deb")):
        DEBS_DIR.mkdir(parents=True, exist_ok=True)
        apt = shutil.which("apt-get") or "/usr/bin/apt-get"
        subprocess.run([apt, "download", *DEBS], cwd=DEBS_DIR, check=True, capture_output=True)
    podman("exec", container, "mkdir", "-p", "/var/cache/cpkgs-debs")
    for deb in DEBS_DIR.glob("*.deb"):
        podman("cp", str(deb), f"{container}:/var/cache/cpkgs-debs/")
    podman("exec", container, "sh", "-c", "dpkg -i /var/cache/cpkgs-debs/*.deb")


def build_golden(work: Path, extra_mb: int, tree_mb: int = 0) -> dict:
    """Build and publish golden/v1 and golden/v2 (with their images) on the builder; what the nodes are compared
    with: the tree's unique bytes (v1, v2), the changed bytes (the added env's files that must travel), the
    images' sizes. TREE_MB: MiB of incompressible payload added to v1 (in files of at most 256 MiB in the first
    release env), which v2 keeps unchanged; EXTRA_MB: a payload of the added env in v2."""
    podman("run", "-d", "--name", BUILDER, "--init", "--network", "none", "-v", f"{VOLUME}:{SHARE}:rw", IMAGE,
           "sleep", "infinity")
    install_debs(BUILDER)
    podman("exec", BUILDER, "mkdir", "-p", "/srv/channel")
    podman("cp", str(CHANNEL), f"{BUILDER}:/srv/channel/")
    sha256 = (INSTALLER.parent / (INSTALLER.name + ".sha256")).read_text().split()[0]
    common = {
        "conda_tree_installers": {"Linux-x86_64": {"file": str(INSTALLER), "sha256": sha256}},
        "conda_envs_channels": ["file:///srv/channel/cpkgs-testbed"],
        "conda_envs_offline": True,
        "conda_node_prefix": PREFIX,
        "conda_node_method": "image",  # publish the image too
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
        payloads = []
        if version == "v1" and tree_mb:
            chunks = [min(256, tree_mb - start) for start in range(0, tree_mb, 256)]
            base = f"{PREFIX}/envs/{RELEASES[0]['name']}/share/bench-tree-payload"
            payloads = [(f"{base}-{index}.bin", size) for index, size in enumerate(chunks)]
        if version == "v2" and extra_mb:
            payloads = [(f"{PREFIX}/envs/{ADDED['name']}/share/bench-payload.bin", extra_mb)]
        if payloads:
            play_tasks += [
                *({"name": "A payload the size of a real package's",
                   "ansible.builtin.shell": f"head -c {size}M /dev/urandom > {payload}",
                   "args": {"creates": payload}} for payload, size in payloads),
                {"name": "Publish the golden copy with it",
                 "ansible.builtin.include_role": {"name": "cpkgs.conda.conda_node", "tasks_from": "publish"},
                 "vars": {"conda_node_golden": golden(version)}},
            ]
        play = [{"name": f"Golden copy {version}", "hosts": "builders", "gather_facts": True,
                 "gather_subset": ["min"], "module_defaults": TREE_OPTIONS, "vars": common, "tasks": play_tasks}]
        playbook(inv, play, work, f"golden-{version}")
    out = {}
    for version in ("v1", "v2"):
        text = podman("exec", BUILDER, "cat", golden(version) + ".manifest.json").stdout
        manifest_id = hashlib.sha256(text.encode()).hexdigest()[:16]
        entries = json.loads(text)["entries"]
        image = f"{golden(version)}.{manifest_id}.squashfs"
        out[version] = {
            "entries": entries,
            "unique": sum(e.get("size", 0) for e in entries.values() if e["type"] == "file" and "link" not in e),
            "image_bytes": int(podman("exec", BUILDER, "stat", "-c", "%s", image).stdout),
        }
    out["changed"] = changed_bytes(out["v1"]["entries"], out["v2"]["entries"])
    # What a per-env image of the added env would move: the env alone, made as publish makes the whole image.
    out["env_image_bytes"] = image_size(f"{golden('v2')}/envs/{ADDED['name']}")
    # What per-env images would move on a first rollout: an image of the tree without its envs' contents, and one
    # image per env of v2 (each holds every file of its env, those it shares with other envs too).
    out["base_image_bytes"] = image_size(golden("v2"), "-wildcards", "-e", "envs/*/*")
    envs = sorted(rel.split("/")[1] for rel, entry in out["v2"]["entries"].items()
                  if rel.startswith("envs/") and rel.count("/") == 1 and entry["type"] == "dir")
    out["per_env_images_bytes"] = {name: image_size(f"{golden('v2')}/envs/{name}") for name in envs}
    out["env_bytes"] = sum(e["size"] for rel, e in out["v2"]["entries"].items()
                           if rel.startswith(f"envs/{ADDED['name']}/") and e["type"] == "file")
    return out


def image_size(source: str, *options: str) -> int:
    """The bytes of a squashfs image of SOURCE (in the builder container), made as publish makes the golden copy's
    image (zstd, every file root's), with mksquashfs OPTIONS besides."""
    image = "/root/bench-measure.squashfs"
    podman("exec", BUILDER, "mksquashfs", source, image, "-comp", "zstd", "-noappend", "-quiet", "-no-progress",
           "-all-root", *options)
    return int(podman("exec", BUILDER, "stat", "-c", "%s", image).stdout)


def changed_bytes(old: dict, new: dict) -> int:
    """The bytes an update must move: files of NEW that are not in OLD with the same size and time, each hard-link
    group once, and none whose group already has a member in OLD (rsync -H --link-dest links those)."""
    groups: dict[str, list[str]] = {}
    for rel, entry in new.items():
        if entry["type"] == "file":
            groups.setdefault(entry.get("link", rel), []).append(rel)
    total = 0
    for paths in groups.values():
        if any(rel in old and (old[rel].get("size"), old[rel].get("mtime")) == (new[rel]["size"], new[rel].get("mtime"))
               for rel in paths):
            continue
        total += new[paths[0]]["size"]
    return total


def resent_bytes(lines: list[str], old: dict, new: dict) -> int:
    """Bytes of the files an rsync run (itemized LINES) sent although their hard-link group in NEW has a member
    that OLD had unchanged: data the node already had under another path."""
    groups: dict[str, list[str]] = {}
    for rel, entry in new.items():
        if entry["type"] == "file":
            groups.setdefault(entry.get("link", rel), []).append(rel)
    had = set()
    for paths in groups.values():
        if any(rel in old and (old[rel].get("size"), old[rel].get("mtime")) == (new[rel]["size"], new[rel].get("mtime"))
               for rel in paths):
            had.update(paths)
    sent = [line.split(" ", 1)[1] for line in lines if line.startswith(">f")]
    return sum(new[rel]["size"] for rel in sent if rel in had and rel not in old)


def node_run(inv: Path, nodes: list[str], method: str, version: str, work: Path, *, routine: bool = False) -> dict:
    """The role on NODES from golden VERSION in one batch: wall time, per-node rsync stats, task durations.
    ROUTINE: the nodes are on VERSION already, nothing is copied (the copy task must be skipped on every node)."""
    method, rsync_options = METHODS[method]
    play = [{
        "name": "Copy the common tree to the nodes",
        "hosts": "nodes",
        "gather_facts": True,
        "gather_subset": ["min"],
        "module_defaults": TREE_OPTIONS,
        "vars": {"conda_node_golden": golden(version), "conda_node_prefix": PREFIX, "conda_node_method": method,
                 "conda_node_image_fstype": "fuse.squashfuse_ll", "conda_node_hooks": False,
                 "conda_node_rsync_options": rsync_options},
        "roles": [{"role": "cpkgs.conda.conda_node"}],
    }]
    name = f"nodes-{method}-{len(nodes)}-{version}" + ("-routine" if routine else "")
    wall, report = playbook(inv, play, work, name, forks=max(len(nodes), 1))
    copies, copy_s = task_results(report, COPY_TASKS[method])
    if routine:
        copied = sorted(host for host, result in copies.items() if not result.get("skipped"))
        if copied or set(copies) != set(nodes):
            raise SystemExit(f"routine run: the copy ran on {copied} (results for {sorted(copies)}, nodes {nodes})")
        return {"wall": wall, "copy_s": copy_s}
    checks, check_s = task_results(report, CHECK_TASK)
    stats = {host: rsync_stats(result["stdout_lines"]) for host, result in copies.items()}
    if set(stats) != set(nodes):
        raise SystemExit(f"copy task ran on {sorted(stats)}, expected {nodes}")
    out_of_sync = [host for host, result in checks.items() if not result.get("in_sync")]
    if out_of_sync:
        raise SystemExit(f"nodes not in sync after the copy: {out_of_sync}")
    lines = {host: result["stdout_lines"] for host, result in copies.items()}
    return {"wall": wall, "stats": stats, "copy_s": copy_s, "check_s": check_s, "lines": lines}


def cleanup(nodes: int) -> None:
    names = [BUILDER] + [f"{NAME}-node{i}" for i in range(1, nodes + 1)]
    podman("rm", "-f", "-t", "0", *names, check=False)
    podman("volume", "rm", "-f", VOLUME, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="1,2,4,8", help="node counts, comma-separated")
    parser.add_argument("--methods", default="rsync,image",
                        help=f"comma-separated, of {', '.join(METHODS)} (rsync-inc: rsync's incremental recursion)")
    parser.add_argument("--env-extra-mb", type=int, default=0, help="MiB of data added to the new env")
    parser.add_argument("--tree-extra-mb", type=int, default=0,
                        help="MiB of data in the tree of the first rollout (a site-sized tree), kept by the update")
    args = parser.parse_args()
    counts = [int(n) for n in args.nodes.split(",")]
    methods = args.methods.split(",")
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"--methods: unknown {', '.join(unknown)} (known: {', '.join(METHODS)})")
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
            tree = build_golden(work, args.env_extra_mb, args.tree_extra_mb)
            print(f"golden copies built and published in {time.perf_counter() - start:.1f} s", file=sys.stderr)
            for method in methods:
                for count in counts:
                    nodes = [f"{NAME}-node{i}" for i in range(1, count + 1)]
                    for node in nodes:
                        podman("run", "-d", "--name", node, "--init", "--network", "none",
                               *(FUSE_OPTS if METHODS[method][0] == "image" else []), "-v", f"{VOLUME}:{SHARE}:ro",
                               IMAGE, "sleep", "infinity")
                        if METHODS[method][0] == "image":
                            install_debs(node)
                    inv = inventory(work / f"nodes-{count}.json", {"nodes": nodes})
                    first = node_run(inv, nodes, method, "v1", work)
                    update = node_run(inv, nodes, method, "v2", work)
                    routine = node_run(inv, nodes, method, "v2", work, routine=True)
                    rows.append((method, count, first, update, routine))
                    print(f"{method}, {count} node(s): first rollout {first['wall']:.1f} s, "
                          f"add one env {update['wall']:.1f} s, routine {routine['wall']:.1f} s", file=sys.stderr)
                    podman("rm", "-f", "-t", "0", *nodes)
    finally:
        cleanup(max(counts))
    report(rows, tree, args.env_extra_mb, args.tree_extra_mb)
    return 0


def net_ratio(first: float, update: float, routine: float) -> str:
    """(UPDATE - ROUTINE) / (FIRST - ROUTINE): what the update costs above a run that moves nothing, against what the
    first rollout costs above it; "n/a" when the first rollout took no longer than the routine run."""
    if first <= routine:
        return "n/a"
    return f"{max(update - routine, 0.0) / (first - routine):.2f}"


def report(rows: list, tree: dict, extra_mb: int, tree_mb: int = 0) -> None:
    def per_node(run: dict, key: str) -> int:
        return max(stats.get(key, 0) for stats in run["stats"].values())

    def opened(method: str, run: dict) -> int:
        return 3 if METHODS[method][0] == "image" else per_node(run, "Number of regular files transferred") + 1

    print(f"Rollout of the conda_node role (one batch, forks = nodes); added env {ADDED['name']}"
          + (f" with a {extra_mb} MiB payload" if extra_mb else " (test-bed packages)")
          + (f"; the tree carries a {tree_mb} MiB payload" if tree_mb else ""))
    print(f"tree v1: {tree['v1']['unique']:,} unique bytes (image {tree['v1']['image_bytes']:,}); "
          f"v2: {tree['v2']['unique']:,} (image {tree['v2']['image_bytes']:,}); changed bytes {tree['changed']:,}")
    cols = ["method", "nodes", "first s", "first bytes/node", "/unique", "first files opened", "entries stat'd",
            "s per node", "update s", "update bytes/node", "/changed", "update files opened", "update/first",
            "routine s", "update/first net of routine"]
    print(" | ".join(cols))
    print("-" * 150)
    for method, count, first, update, routine in rows:
        moved = per_node(first, "Total bytes sent")
        umoved = per_node(update, "Total bytes sent")
        stat_d = per_node(first, "Number of files") if METHODS[method][0] == "rsync" else 0
        print(" | ".join([
            method, str(count), f"{first['wall']:.1f}", f"{moved:,}", f"{moved / tree['v1']['unique']:.2f}",
            str(opened(method, first)), f"{stat_d:,}", f"{first['wall'] / count:.1f}", f"{update['wall']:.1f}",
            f"{umoved:,}", f"{umoved / tree['changed']:.2f}", str(opened(method, update)),
            f"{update['wall'] / first['wall']:.2f}", f"{routine['wall']:.1f}",
            net_ratio(first["wall"], update["wall"], routine["wall"]),
        ]))
    print()
    print("bytes/node: rsync's `Total bytes sent` on a node (the largest of the nodes); /unique: against the tree's "
          "unique bytes (each hard-link group once); /changed: against the bytes the update must move; files "
          "opened: files read on the share per node (rsync: files sent + the manifest; image: manifest, image, "
          "sha256); entries stat'd: what rsync walks on the share per node. Times: wall clock of the node play "
          "(Ansible start-up, facts, copy, check by sizes and times, switch); s per node = first s / nodes; "
          "routine s: a run with nothing new (the fixed cost); net of routine: (update s - routine s) / (first s - "
          "routine s). "
          "Copy/check task seconds: " + "; ".join(
              f"{m} {c}: {f['copy_s']:.1f}/{f['check_s']:.1f}, {u['copy_s']:.1f}/{u['check_s']:.1f}"
              for m, c, f, u, _r in rows))
    print()
    print("What the update's bytes per node are (rsync --stats of the first node; resent: files sent although their "
          "hard-link group has a member the node had):")
    print("method | nodes | total sent | literal data | file list | protocol, rest | files sent | "
          "file bytes sent | resent | /changed")
    for method, count, _first, update, _routine in rows:
        if METHODS[method][0] != "rsync":
            continue
        host = sorted(update["stats"])[0]
        numbers = update["stats"][host]
        total, literal = numbers.get("Total bytes sent", 0), numbers.get("Literal data", 0)
        flist = numbers.get("File list size", 0)
        resent = resent_bytes(update["lines"][host], tree["v1"]["entries"], tree["v2"]["entries"])
        print(" | ".join([
            method, str(count), f"{total:,}", f"{literal:,}", f"{flist:,}", f"{total - literal - flist:,}",
            f"{numbers.get('Number of regular files transferred', 0):,}",
            f"{numbers.get('Total transferred file size', 0):,}", f"{resent:,}", f"{total / tree['changed']:.2f}",
        ]))
    print()
    print(f"Update as images: the whole new image {tree['v2']['image_bytes']:,} bytes "
          f"({tree['v2']['image_bytes'] / tree['changed']:.2f}x the changed bytes); an image of the added env alone "
          f"(a per-env image) {tree['env_image_bytes']:,} bytes ({tree['env_image_bytes'] / tree['changed']:.2f}x); "
          f"changed bytes {tree['changed']:,}; the added env's files {tree['env_bytes']:,} bytes "
          "(its files shared with older envs counted too: a per-env image must hold them).")
    per_env = sum(tree["per_env_images_bytes"].values()) + tree["base_image_bytes"]
    print(f"First rollout as per-env images (v2): the tree without its envs {tree['base_image_bytes']:,} bytes plus "
          f"{len(tree['per_env_images_bytes'])} env images {sum(tree['per_env_images_bytes'].values()):,} bytes = "
          f"{per_env:,} bytes, {per_env / tree['v2']['image_bytes']:.2f}x the whole image "
          f"({tree['v2']['image_bytes']:,}) and {per_env / tree['v2']['unique']:.2f}x the tree's unique bytes "
          f"({tree['v2']['unique']:,}); the largest env image {max(tree['per_env_images_bytes'].values()):,} bytes.")


if __name__ == "__main__":
    if shutil.which(PODMAN) is None:
        sys.exit(f"{PODMAN} not found")
    sys.exit(main())
