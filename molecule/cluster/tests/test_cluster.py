"""Testinfra checks of the "cluster" scenario: the common tree on each node's local disk, users' envs on top.

Run after side_effect.yml, which added one release env to the golden tree, corrupted one file on the second
node, ran the nodes' role in check mode with the update published (check_update.yml), re-ran the site, rolled back
and forward, then put two nodes back in their state before the update and ran the role on them alone
(catch_up.yml); what each run moved, repaired and switched is in EVIDENCE on the node (CHECK_EVIDENCE: check mode).

Hosts are ``podman://`` hosts named after molecule's inventory ($MOLECULE_INVENTORY_FILE); the unprivileged user
runs commands through ``podman exec -u``. Run by ``molecule verify`` (testinfra verifier) or, after
``molecule side-effect``, by ``pytest molecule/cluster/tests`` with MOLECULE_INVENTORY_FILE set.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shlex
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from testbed_hosts import group, podman_host

# Keep in sync with group_vars/all.yml.
PREFIX = "/usr/local/cpkgs/anaconda3_linux"
MANIFEST = "/nfs/cpkgs/golden/anaconda3_linux.manifest.json"
VERSIONS = f"{PREFIX}.versions"
GOLDEN = "/nfs/cpkgs/golden/anaconda3_linux"
# conda_node's method on each node (host_vars/): node3 mounts the golden copy's squashfs image, the others rsync.
IMAGE_NODES = ["cluster-node3"]
# The nodes side_effect.yml ran its job loop and long job on: one per method (testbed_job_nodes).
JOB_NODES = ["cluster-node1", "cluster-node3"]
# The nodes catch_up.yml put back in their state before the update (as if down during it) and ran the role on.
CAUGHT_UP = ["cluster-node1", "cluster-node3"]
EVIDENCE = "/root/cpkgs-rollout-evidence.json"
CHECK_EVIDENCE = "/root/cpkgs-check-evidence.json"  # check_update.yml's record
PIN = "/usr/local/sbin/cpkgs-conda-pin"  # conda_node_pin_command's default
ADDED_ENV = "isis3.9.1"
RELEASES = ["isis4.2.0", "isis4.3.0", ADDED_ENV]
CORRUPTED = "envs/isis4.3.0/bin/isis-version"
USER = "alice"
HOME = f"/home/{USER}"
USER_CHANNEL = f"file://{HOME}/channel/cpkgs-testbed"
USER_ENV = "mine"
USER_ENV_PREFIX = f"{HOME}/.conda/envs/{USER_ENV}"

# rsync --itemize-changes lines: the update kind, the file type, then the attribute flags, a space and the path
# (the same pattern as the role's changed_when).
ITEMIZED = re.compile(r"^([<>ch.*][fdLDS*][^ ]*) (.*)$")

# Checks a tree against a manifest without the collection's code (plugins/module_utils/_manifest.py), so the
# test does not share a bug with what it tests: every entry's type, mode, size, sha256 or link target, and no
# entry that the manifest lacks (its exclude patterns aside, matched as the module does: `pkgs/*` also leaves out
# the `pkgs` directory itself, which rsync copies, empty). Prints the problems as JSON.
CHECK_TREE = r"""
import fnmatch, hashlib, json, os, stat, sys
root, manifest = sys.argv[1:3]
with open(manifest) as handle:
    data = json.load(handle)
entries, exclude = data["entries"], data["exclude"]
problems = []
for rel, want in sorted(entries.items()):
    path = os.path.join(root, rel)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        problems.append(["missing", rel])
        continue
    if want["type"] == "link":
        good = stat.S_ISLNK(info.st_mode) and os.readlink(path) == want["target"]
    elif want["type"] == "dir":
        good = stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == want["mode"]
    else:
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
        good = (stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == want["mode"]
                and info.st_size == want["size"] and digest == want["sha256"])
    if not good:
        problems.append(["changed", rel])
for dirpath, dirnames, filenames in os.walk(root):
    for name in dirnames + filenames:
        rel = os.path.relpath(os.path.join(dirpath, name), root)
        if rel not in entries and not any(fnmatch.fnmatch(r, p) for r in (rel, rel + "/") for p in exclude):
            problems.append(["extra", rel])
print(json.dumps({"checked": len(entries), "problems": problems}))
"""


@functools.cache
def manifest_id() -> str:
    """The version the golden copy is on the nodes: the first 16 hex digits of its manifest's sha256."""
    text = podman_host(group("cpkgs_nodes")[0]).file(MANIFEST).content
    return hashlib.sha256(text).hexdigest()[:16]


@functools.cache
def manifest() -> dict:
    """The golden copy's manifest, as the first node reads it on the share."""
    return json.loads(podman_host(group("cpkgs_nodes")[0]).file(MANIFEST).content_string)


@functools.cache
def evidence(name: str) -> dict:
    """What side_effect.yml recorded on host NAME."""
    return json.loads(podman_host(name).file(EVIDENCE).content_string)


def itemized(lines: list[str]) -> list[tuple[str, str]]:
    """(flags, path) of every itemized line of an rsync output that changes something. A hard link made
    (`hf… PATH => TARGET`) gives PATH; rsync -H also lists members of a link group that are already linked, with
    blank attribute columns (`hf          PATH => TARGET`): those change nothing and are left out."""
    out = []
    for match in map(ITEMIZED.match, lines):
        if match:
            flags, path = match.groups()
            if not path.startswith(" "):
                out.append((flags, path.split(" => ")[0]))
    return out


def relinked(lines: list[str]) -> dict[str, str]:
    """{PATH: TARGET} of the hard links an rsync output made (`hf… PATH => TARGET`)."""
    pairs = (line.split(" ", 1)[1].strip().split(" => ") for line in lines if line.startswith("hf") and " => " in line)
    return dict(pair for pair in pairs if len(pair) == 2)


def stats(lines: list[str]) -> dict[str, int]:
    """The numbers of rsync's --stats block, by label ("Total transferred file size": 6810)."""
    out = {}
    for line in lines:
        label, sep, value = line.partition(": ")
        number = re.match(r"[\d,]+", value)
        if sep and number:
            out[label] = int(number.group().replace(",", ""))
    return out


def added_files() -> dict[str, int]:
    """The regular files of the added env in the manifest, with their sizes."""
    return {
        rel: entry["size"]
        for rel, entry in manifest()["entries"].items()
        if rel.startswith(f"envs/{ADDED_ENV}/") and entry["type"] == "file"
    }


def must_send() -> tuple[int, int]:
    """How many files, and how many bytes, an update that added the env must send: one file of each group of the
    env's paths that share an inode (a lone file is a group of one) that has no member outside the env; a group
    with a member outside the env (in an older env) is linked to it on the node, sending nothing."""
    entries = manifest()["entries"]
    groups: dict[str, list[str]] = {}
    for rel, entry in entries.items():
        if entry["type"] == "file":
            groups.setdefault(entry.get("link", rel), []).append(rel)
    prefix = f"envs/{ADDED_ENV}/"
    new = [paths for paths in groups.values() if all(rel.startswith(prefix) for rel in paths)]
    return len(new), sum(entries[paths[0]]["size"] for paths in new)


def link_groups(entries: dict) -> list[list[str]]:
    """The manifest's hard-link groups (each file's entry names its group's leader in `link`), sorted."""
    groups: dict[str, list[str]] = {}
    for rel, entry in entries.items():
        if "link" in entry:
            groups.setdefault(entry["link"], [entry["link"]]).append(rel)
    return sorted(sorted(group) for group in groups.values())


def only_the_added_env(lines: list[str]) -> None:
    """An rsync run (itemized LINES) created the added env and touched nothing else but links and two parents' times.

    The two directories whose modification time changed on the builder, and only their time (`.d..t......` in
    place, `cd..t......` in a new version seeded by --link-dest): `envs/`, which got the new env as an entry, and
    `pkgs/`, the builder's package cache, whose contents are excluded from the copy but which received the new
    env's packages. Nothing outside the env is sent, linked anew or deleted: the env's files that share a package
    file with an older env are linked to the older env's path (`hf+++++++++ envs/isis3.9.1/X => envs/isis4.2.0/X`),
    which must be in the same link group in the manifest; the older env's path stays as it was (with incremental
    recursion, rsync -H would send the env's path and relink the older one to it).
    """
    items = itemized(lines)
    links = relinked(lines)
    prefix = f"envs/{ADDED_ENV}/"
    parents = {"envs/", "pkgs/"}
    groups = {rel: tuple(paths) for paths in link_groups(manifest()["entries"]) for rel in paths}
    outside = [
        (flags, path) for flags, path in items
        if not path.startswith(prefix) and not (flags in (".d..t......", "cd..t......") and path in parents)
    ]
    assert outside == [], outside
    for path, target in links.items():
        assert groups[path] == groups[target], (path, target)
    expected = {
        rel + ("/" if entry["type"] == "dir" else "")
        for rel, entry in manifest()["entries"].items()
        if rel.startswith(prefix) or rel == f"envs/{ADDED_ENV}"
    }
    inside = [item for item in items if item[1].startswith(prefix)]
    assert {path for _change, path in inside} == expected
    # every path in the env is new (created: `>f+++++++++`, `cd+++++++++`); nothing deleted (`*deleting`)
    assert [item for item in inside if not item[0].endswith("+++++++++")] == []


@pytest.fixture(scope="module", params=group("cpkgs_nodes"))
def node(request: pytest.FixtureRequest) -> testinfra.host.Host:
    """Each node, as root."""
    return podman_host(request.param)


@pytest.fixture(scope="module")
def user_env() -> str:
    """alice's own env `mine`, made on the first node in her home (the network home): its prefix.

    From her copy of the channel (the nodes have none), with isis 4.2.0, so that when it is stacked on the
    common isis4.3.0 the `isis-version` that runs shows whose bin/ comes first.
    """
    first = podman_host(group("cpkgs_nodes")[0], USER)
    first.check_output(f"rm -rf {USER_ENV_PREFIX}")
    out = first.check_output(
        f"{PREFIX}/bin/conda create -n {USER_ENV} --offline --override-channels -c {USER_CHANNEL} isis=4.2.0 -y --json"
    )
    assert json.loads(out)["prefix"] == USER_ENV_PREFIX
    return USER_ENV_PREFIX


def test_tree_is_on_local_disk(node: testinfra.host.Host) -> None:
    """The node's common tree is on its own disk, not on the share or the network home: a version directory on
    the root file system (rsync), or a read-only squashfs mount of an image file on it (image)."""
    version = node.check_output(f"readlink -f {PREFIX}")
    if node.backend.name in IMAGE_NODES:
        mount = node.mount_point(version)
        assert mount.filesystem == "fuse.squashfuse_ll" and "ro" in mount.options
        assert mount.device == "squashfuse_ll"
        assert node.check_output(f"df --output=target {version}.squashfs | tail -n 1").strip() == "/"
    else:
        assert node.check_output(f"df --output=target {version} | tail -n 1").strip() == "/"
    assert "ro" in node.mount_point("/nfs/cpkgs").options


def test_tree_matches_the_manifest(node: testinfra.host.Host) -> None:
    """Every entry of the golden copy's manifest is on the node as recorded (sha256 of every file), no extras."""
    result = json.loads(node.check_output(f"python3 -c {shlex.quote(CHECK_TREE)} {PREFIX} {MANIFEST}"))
    assert result["problems"] == []
    assert result["checked"] > 200, result
    for release in RELEASES:
        assert f"envs/{release}/bin/isis-version" in manifest()["entries"], release


def test_release_runs_on_node(node: testinfra.host.Host) -> None:
    """A user's login shell on the node activates a common release from the local tree."""
    alice = podman_host(node.backend.name, USER)
    out = alice.check_output("bash -lc 'conda activate isis4.3.0 && isis-version'")
    assert out.splitlines()[-1] == f"isis 4.3.0 prefix={PREFIX}/envs/isis4.3.0"


def test_user_env_from_one_node_activates_on_another(user_env: str) -> None:
    """The env alice made on the first node is listed on the second and activates there by name."""
    second = podman_host(group("cpkgs_nodes")[1], USER)
    envs = json.loads(second.check_output(f"{PREFIX}/bin/conda env list --json"))["envs"]
    assert user_env in envs
    out = second.check_output(f"bash -lc 'conda activate {USER_ENV} && echo $CONDA_PREFIX && isis-version'")
    assert out.splitlines()[-2:] == [user_env, f"isis 4.2.0 prefix={user_env}"]


@pytest.mark.parametrize("stack", ["--stack", ""], ids=["explicit", "auto_stack"])
def test_stacked_activation_orders_path(node: testinfra.host.Host, user_env: str, stack: str) -> None:
    """`conda activate isis4.3.0 && conda activate [--stack] mine`: both bin/ on PATH, the user's first.

    Without --stack, the auto_stack: 1 in alice's ~/.condarc (written by the role) stacks it all the same.
    """
    alice = podman_host(node.backend.name, USER)
    script = f'conda activate isis4.3.0 && conda activate {stack} {USER_ENV} && echo "$PATH" && isis-version'
    lines = alice.check_output(f"bash -lc {shlex.quote(script)}").splitlines()
    path = lines[-2].split(":")
    mine, common = f"{user_env}/bin", f"{PREFIX}/envs/isis4.3.0/bin"  # through the link, not a version's path
    assert mine in path and common in path, path
    assert path.index(mine) < path.index(common), path
    assert lines[-1] == f"isis 4.2.0 prefix={user_env}"


def test_update_moved_only_the_added_env(node: testinfra.host.Host) -> None:
    """The re-run after one env was added sent that env and nothing else: its files, byte for byte (those that
    share an inode with a file already there are linked, not sent). An image node copied one file: the image."""
    record = evidence(node.backend.name)
    if node.backend.name in IMAGE_NODES:
        assert record["sync"]["rc"] is None
        numbers = stats(record["image_copy"])
        size = node.file(f"{GOLDEN}.{manifest_id()}.squashfs").size
        assert numbers["Number of regular files transferred"] == 1
        assert numbers["Total transferred file size"] == size
        return
    sync = record["sync"]
    assert sync["rc"] == 0
    only_the_added_env(sync["stdout_lines"])
    numbers = stats(sync["stdout_lines"])
    sent = [path for flags, path in itemized(sync["stdout_lines"]) if flags.startswith(">f")]
    assert numbers["Number of regular files transferred"] == len(sent)
    assert numbers["Total transferred file size"] == sum(added_files()[path] for path in sent)
    # the env's files that share an inode with an older env's are linked to it, not sent (rsync -H without
    # incremental recursion); the env's shares some
    assert (len(sent), numbers["Total transferred file size"]) == must_send()
    assert must_send()[0] < len(added_files())
    assert numbers["Number of deleted files"] == 0


TO_COPY = "bytes to copy from the share"


def test_check_mode_told_the_update_before_it_ran(node: testinfra.host.Host) -> None:
    """With the update published and before the nodes' run, the role in check mode changed nothing on the node
    (prefix link, versions, fstab lines, mounts), said that the prefix would switch, and (rsync) listed exactly
    the files the real run then copied: `rsync --dry-run` into the new version, seeded from the one in use."""
    record = evidence(node.backend.name)
    check = json.loads(node.file(CHECK_EVIDENCE).content_string)
    assert check["check_mode"] is True
    assert check["after"] == check["before"]
    assert check["before"]["link"].startswith("anaconda3_linux.versions/")
    assert check["before"]["link"] != f"anaconda3_linux.versions/{manifest_id()}"
    assert manifest_id() not in check["before"]["versions"]
    assert check["switched"] is True
    assert check["image_copy_skipped"] is True
    (line,) = [line for line in check["report"] if line.startswith(f"{node.backend.name}: ")]
    if node.backend.name in IMAGE_NODES:
        assert check["sync"]["rc"] is None
        size = node.file(f"{GOLDEN}.{manifest_id()}.squashfs").size
        assert check["image_would"] == size
        assert line == f"{node.backend.name}: would switch to version {manifest_id()} (image), {size} {TO_COPY}"
        return
    assert check["sync"]["rc"] == 0
    only_the_added_env(check["sync"]["stdout_lines"])
    assert itemized(check["sync"]["stdout_lines"]) == itemized(record["sync"]["stdout_lines"])
    listed = stats(check["sync"]["stdout_lines"])["Total transferred file size"]
    assert listed == stats(record["sync"]["stdout_lines"])["Total transferred file size"] == must_send()[1]
    assert line == f"{node.backend.name}: would switch to version {manifest_id()} (rsync), {listed} {TO_COPY}"


def test_image_is_published_with_its_sha256() -> None:
    """Beside the golden copy: the image of the current version and its sha256 (sha256sum's format)."""
    builder = podman_host(group("cpkgs_builders")[0])
    image = f"{GOLDEN}.{manifest_id()}.squashfs"
    digest = builder.check_output(f"sha256sum {image}").split()[0]
    assert builder.file(f"{image}.sha256").content_string == f"{digest}  {image.rsplit('/', 1)[1]}\n"


# The groups of paths (below the tree, pkgs/ left out) that share one inode, as JSON: read with the standard
# library only, not with the collection's manifest code.
LINK_GROUPS = r"""
import json, os, sys
root = sys.argv[1]
groups = {}
for dirpath, dirnames, filenames in os.walk(root):
    if os.path.relpath(dirpath, root) == "pkgs":
        dirnames[:] = []
        continue
    for name in filenames:
        path = os.path.join(dirpath, name)
        info = os.lstat(path)
        if info.st_nlink > 1 and not os.path.islink(path):
            groups.setdefault(info.st_ino, []).append(os.path.relpath(path, root))
print(json.dumps(sorted(sorted(g) for g in groups.values() if len(g) > 1)))
"""


def test_hard_links_are_the_builders(node: testinfra.host.Host) -> None:
    """The same groups of paths share an inode on the node as on the builder (rsync -H in publish and copy), and
    the manifest records exactly those groups; the test bed's envs share some package files."""
    (builder,) = group("cpkgs_builders")
    script = f"python3 -c {shlex.quote(LINK_GROUPS)} {PREFIX}/"
    on_builder = json.loads(podman_host(builder).check_output(script))
    assert len(on_builder) > 0
    assert json.loads(node.check_output(script)) == on_builder
    assert link_groups(manifest()["entries"]) == on_builder


def test_publish_moved_only_the_added_env() -> None:
    """On the builder, publishing the updated tree to the share likewise sent only the added env; the site's re-run
    after it found the golden copy up to date and sent nothing."""
    (builder,) = group("cpkgs_builders")
    only_the_added_env(evidence(builder)["publish"]["stdout_lines"])
    republish = evidence(builder)["republish"]["stdout_lines"]
    assert itemized(republish) == []


def test_corrupted_file_was_found_and_repaired(node: testinfra.host.Host) -> None:
    """The node whose file was corrupted (same size and time) reported it as drift, and it was repaired.

    rsync's quick check (size and time) cannot see such a change, so the sync left it alone; the manifest's
    sha256 found it, `rsync --checksum` put it right, and the file is the golden one again. The other nodes
    were in sync and nothing was repaired there.
    """
    record = evidence(node.backend.name)
    corrupted = record["corrupted"]
    if corrupted is None:
        assert record["verify"] == {"in_sync": True, "drift": {"missing": [], "extra": [], "changed": []}}
        assert record["repair"]["ran"] is False
        return
    assert corrupted["path"] == CORRUPTED
    assert corrupted["sha256_after"] != corrupted["sha256_before"]
    assert CORRUPTED not in [path for _change, path in itemized(record["sync"]["stdout_lines"])]
    assert record["verify"] == {"in_sync": False, "drift": {"missing": [], "extra": [], "changed": [CORRUPTED]}}
    assert record["repair"]["ran"] is True
    assert itemized(record["repair"]["stdout_lines"]) == [(">fc........", CORRUPTED)]
    assert record["reverify_in_sync"] is True
    now = node.file(f"{PREFIX}/{CORRUPTED}").sha256sum
    assert now == manifest()["entries"][CORRUPTED]["sha256"] == corrupted["sha256_before"]


def test_exactly_one_node_was_corrupted() -> None:
    """side_effect.yml corrupted one node's file, the second's."""
    corrupted = [name for name in group("cpkgs_nodes") if evidence(name)["corrupted"] is not None]
    assert corrupted == [group("cpkgs_nodes")[1]]


def test_prefix_is_a_switched_version(node: testinfra.host.Host) -> None:
    """The prefix is a symlink to the golden copy's version in the versions directory beside it; two versions are
    kept (the one in use and the previous one, for a rollback), the one rolled back from last is marked."""
    assert node.file(PREFIX).is_symlink
    assert node.check_output(f"readlink {PREFIX}") == f"anaconda3_linux.versions/{manifest_id()}"
    names = node.check_output(f"ls -A {VERSIONS}").split()
    versions = [name for name in names if node.file(f"{VERSIONS}/{name}").is_directory
                and not node.file(f"{VERSIONS}/{name}").is_symlink]
    assert len(versions) == 2 and manifest_id() in versions, names
    (previous,) = (name for name in versions if name != manifest_id())
    assert node.check_output(f"readlink {VERSIONS}/previous") == previous
    images = [f"{name}.squashfs" for name in versions] if node.backend.name in IMAGE_NODES else []
    # a node caught up after being down never rolled back: no mark
    marks = [] if node.backend.name in CAUGHT_UP else [f"{previous}.rolled-back"]
    assert sorted(names) == sorted([*versions, *images, "previous", *marks])
    if images:  # each kept version mounted from its image at boot, nothing else
        fstab = [line.split() for line in node.file("/etc/fstab").content_string.splitlines() if "squashfs" in line]
        expected = [[f"{VERSIONS}/{name}.squashfs", f"{VERSIONS}/{name}", "fuse.squashfuse_ll",
                     "ro,nofail,allow_other", "0", "0"] for name in versions]
        assert sorted(fstab) == sorted(expected)


def test_update_switched_each_node(node: testinfra.host.Host) -> None:
    """The update's run switched the prefix to the new version (after the copy, the check and the repair)."""
    record = evidence(node.backend.name)
    assert record["switched"] is True
    assert record["updated_link"] == f"anaconda3_linux.versions/{manifest_id()}"


@pytest.mark.parametrize("name", JOB_NODES)
def test_job_loop_saw_the_old_tree_or_the_new_never_a_mix(name: str) -> None:
    """The job loop on a node of each method ran all through the update, each job pinned at its start
    (cpkgs-conda-pin --run): every run saw either the old tree (no added env, the old release's program) or the
    new one (the added env and its program), first old then new. A job reads the tree through the prefix more than
    once (the envs, then the program, which looks its baked prefix up again and exits 3 when that resolves to
    another version than its own): no run failed, no pin failed, and none straddled the switch."""
    lines = evidence(name)["job_loop"]
    old = f"isis4.2.0 isis4.3.0 |0|isis 4.3.0 prefix={PREFIX}/envs/isis4.3.0"
    new = f"{ADDED_ENV} isis4.2.0 isis4.3.0 |0|isis 3.9.1 prefix={PREFIX}/envs/{ADDED_ENV}"
    assert [line for line in lines if line not in (old, new)] == []
    first_new = lines.index(new)
    assert first_new > 0
    assert lines == [old] * first_new + [new] * (len(lines) - first_new)


@pytest.mark.parametrize("name", JOB_NODES)
def test_long_job_kept_the_old_tree_through_the_rollout(name: str) -> None:
    """A job pinned on a node of each method before the update's rollout waited until the node had switched, then read
    the tree through the prefix again: the old release envs and the old release's program, at the prefix, where an
    unpinned read at that moment sees the new tree (the added env). Its pin said nothing."""
    record = evidence(name)
    long_job = record["long_job"]
    assert record["switched"] is True
    assert long_job["log"] == ""
    start, after, ran = long_job["out"]
    assert start == after == "isis4.2.0 isis4.3.0 "
    assert ran == f"0|isis 4.3.0 prefix={PREFIX}/envs/isis4.3.0"
    assert long_job["unpinned_envs"] == f"{ADDED_ENV} isis4.2.0 isis4.3.0 "


def test_pin_refuses_the_nodes_own_mount_namespace(node: testinfra.host.Host) -> None:
    """The pin command the role installed refuses to run in the node's initial mount namespace (it would pin every
    process of the node) and changes nothing: the prefix stays a symlink to the version in use."""
    link = node.check_output(f"readlink {PREFIX}")
    run = node.run(PIN)
    assert run.rc == 1 and run.stdout == ""
    assert run.stderr.startswith("cpkgs-conda-pin: refusing to pin"), run.stderr
    assert node.check_output(f"readlink {PREFIX}") == link
    assert node.run(f"findmnt --mountpoint {PREFIX.rsplit('/', 1)[0]}").rc == 1


def test_rollback_is_one_step_and_holds(node: testinfra.host.Host) -> None:
    """After the update, a rollback switched the node back to the previous version (without the added env); a
    routine run left it there (the golden copy is the version rolled back from), copying and switching nothing;
    a second rollback switched it forward again."""
    record = evidence(node.backend.name)
    rollback = record["rollback"]
    assert rollback["rolled_back_link"] != record["updated_link"]
    assert rollback["rolled_back_link"].startswith("anaconda3_linux.versions/")
    assert rollback["rolled_back_envs"] == ["isis4.2.0", "isis4.3.0"]
    assert rollback["held_run"] == {"synced": False, "switched": False}
    assert rollback["held_link"] == rollback["rolled_back_link"]
    assert rollback["final_link"] == record["updated_link"]


@pytest.fixture(scope="module", params=CAUGHT_UP)
def caught_up(request: pytest.FixtureRequest) -> testinfra.host.Host:
    """Each node catch_up.yml brought back to its state before the update, as root."""
    return podman_host(request.param)


def test_down_node_was_in_its_state_before_the_update(caught_up: testinfra.host.Host) -> None:
    """Before its catch-up run the node had exactly what it had before the update (prefix link, versions
    directory, the versions' fstab lines and mounts): the old version in use, nothing of the new one, no
    "previous" link and no rollback mark."""
    record = evidence(caught_up.backend.name)["catch_up"]
    before = record["before_update"]
    assert record["restored"] == before
    assert before["link"].startswith("anaconda3_linux.versions/")
    old = before["link"].rsplit("/", 1)[1]
    assert old != manifest_id()
    assert [name for name in before["versions"] if name.startswith(manifest_id())] == []
    assert "previous" not in before["versions"]
    assert manifest_id() in record["removed"]


def test_down_node_caught_up_on_its_next_run(caught_up: testinfra.host.Host) -> None:
    """The routine run after the node was down copied the new version beside the old one, found it in sync and
    switched the prefix to it; the old version is the previous one (a rollback goes there), still whole."""
    record = evidence(caught_up.backend.name)["catch_up"]
    old = record["before_update"]["link"].rsplit("/", 1)[1]
    assert record["verify"] == {"in_sync": True, "drift": {"missing": [], "extra": [], "changed": []}}
    assert record["switched"] is True
    assert record["after"]["link"] == f"anaconda3_linux.versions/{manifest_id()}"
    assert caught_up.check_output(f"readlink {VERSIONS}/previous") == old
    assert {old, manifest_id(), "previous"} <= set(record["after"]["versions"])
    if caught_up.backend.name in IMAGE_NODES:
        assert sorted(record["after"]["mounts"]) == sorted(f"{VERSIONS}/{name}" for name in (old, manifest_id()))


def test_down_node_catch_up_moved_only_what_changed(caught_up: testinfra.host.Host) -> None:
    """rsync: the catch-up sent the added env and nothing else, seeded from the old version (--link-dest): every
    other file of the new version is the old version's inode. image: one file moved, the new image."""
    record = evidence(caught_up.backend.name)["catch_up"]
    if caught_up.backend.name in IMAGE_NODES:
        assert record["sync"]["rc"] is None
        numbers = stats(record["image_copy"])
        assert numbers["Number of regular files transferred"] == 1
        assert numbers["Total transferred file size"] == caught_up.file(f"{GOLDEN}.{manifest_id()}.squashfs").size
        return
    lines = record["sync"]["stdout_lines"]
    assert record["sync"]["rc"] == 0 and record["image_copy"] is None
    only_the_added_env(lines)
    numbers = stats(lines)
    sent = [path for flags, path in itemized(lines) if flags.startswith(">f")]
    assert numbers["Total transferred file size"] == sum(added_files()[path] for path in sent)
    assert (len(sent), numbers["Total transferred file size"]) == must_send()
    old = record["before_update"]["link"].rsplit("/", 1)[1]
    kept = sorted(
        rel for rel, entry in manifest()["entries"].items()
        if entry["type"] == "file" and not rel.startswith(f"envs/{ADDED_ENV}/")
    )
    assert len(kept) > 100, kept
    script = (
        "import json, os, sys; a, b, paths = sys.argv[1:4]; "
        "print(json.dumps([r for r in json.loads(paths) "
        "if os.lstat(os.path.join(a, r)).st_ino != os.lstat(os.path.join(b, r)).st_ino]))"
    )
    versions = f"{VERSIONS}/{old} {VERSIONS}/{manifest_id()}"
    command = f"python3 -c {shlex.quote(script)} {versions} {shlex.quote(json.dumps(kept))}"
    assert json.loads(caught_up.check_output(command)) == []
