"""conda_node's pin command (roles/conda_node/templates/cpkgs-conda-pin.sh.j2), rendered by Ansible as the role
renders it and run on this machine against a scratch prefix: a symlink to one of two version directories beside
it, as on a node.

Each case runs in a sandbox of its own (``unshare --mount --pid --fork --mount-proc``): its PID 1 is the sandbox's
shell, whose mount namespace stands in for the node's initial one ("the host"); a job is a mount namespace made
inside it. A job switches the host's prefix itself, synchronously, by entering the host's namespace
(``nsenter --mount=/proc/1/ns/mnt``), then reads the tree again. Nothing the cases mount reaches this machine's
own mount table. Needs root and util-linux (unshare, nsenter, findmnt); skipped otherwise."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from role_vars import REPO, render

TEMPLATE = REPO / "roles" / "conda_node" / "templates" / "cpkgs-conda-pin.sh.j2"
SANDBOX = ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private", "/bin/sh", "-c"]


def _why_not() -> str:
    if os.geteuid() != 0:
        return f"the pin needs root (mount(2)), the tests run as uid {os.geteuid()}"
    for tool in ("unshare", "nsenter", "findmnt", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    probe = subprocess.run([*SANDBOX, "unshare --mount true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return f"no mount namespaces here: {probe.stderr.strip()}"
    return ""


pytestmark = pytest.mark.skipif(bool(_why_not()), reason=_why_not() or "runs")


@pytest.fixture(scope="module")
def pin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pin command as the role installs it (its default prefix is the role's default conda_node_prefix)."""
    tmp = tmp_path_factory.mktemp("render")
    text = render(tmp, "conda_node", {"localhost": {"__unused": {}}},
                  f"lookup('ansible.builtin.template', '{TEMPLATE}')")  # fmt: skip
    path = tmp / "cpkgs-conda-pin"
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def top(tmp_path: Path) -> Path:
    """A node's prefix parent: anaconda3_linux -> anaconda3_linux.versions/A (B beside it), and other entries of
    each type a parent may hold."""
    top = tmp_path / "top"
    for version in ("A", "B"):
        envs = top / "anaconda3_linux.versions" / version / "envs"
        envs.mkdir(parents=True)
        (envs / "release").write_text(f"version {version}\n")
    (top / "anaconda3_linux").symlink_to("anaconda3_linux.versions/A")
    (top / "other").mkdir()
    (top / "other" / "data").write_text("other data\n")
    (top / "notes.txt").write_text("notes\n")
    (top / ".hidden").write_text("hidden\n")
    (top / "link").symlink_to("other")
    return top


def sandbox(script: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SANDBOX, script], capture_output=True, text=True, check=False, timeout=60,
                          env=dict(os.environ, LC_ALL="C", **env))  # fmt: skip


# A job's reads around a switch the host makes meanwhile: its tree, then the host's switch to B (a new link renamed
# over the prefix, as the role does), its tree again, and the host's own view at that moment.
JOB = """
cat "$PREFIX/envs/release"
nsenter --mount=/proc/1/ns/mnt sh -c 'ln -s anaconda3_linux.versions/B "$PREFIX.new" && mv -T "$PREFIX.new" "$PREFIX"'
cat "$PREFIX/envs/release"
nsenter --mount=/proc/1/ns/mnt cat "$PREFIX/envs/release"
"""


def test_a_pinned_job_keeps_its_version_after_the_switch(pin: Path, top: Path) -> None:
    prefix = top / "anaconda3_linux"
    run = sandbox(f'"$PIN" --prefix "$PREFIX" --run /bin/sh -c {_quote(JOB)}', PIN=str(pin), PREFIX=str(prefix))
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines() == ["version A", "version A", "version B"]
    assert str(prefix.readlink()) == "anaconda3_linux.versions/B"  # the switch was the host's, and stays


def test_an_unpinned_job_sees_the_switch(top: Path) -> None:
    """The control: the same job in a mount namespace of its own but not pinned reads the new version."""
    prefix = top / "anaconda3_linux"
    run = sandbox(f"unshare --mount --propagation private /bin/sh -c {_quote(JOB)}", PREFIX=str(prefix))
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines() == ["version A", "version B", "version B"]


def test_the_pin_in_a_jobs_own_namespace_and_again(pin: Path, top: Path) -> None:
    """The form a job's prolog uses (the namespace exists already); a second pin there changes nothing."""
    prefix = top / "anaconda3_linux"
    job = f'"$PIN" --prefix "$PREFIX" && "$PIN" --prefix "$PREFIX" && echo pinned && {JOB}'
    run = sandbox(f"unshare --mount --propagation private /bin/sh -c {_quote(job)}", PIN=str(pin),
                  PREFIX=str(prefix))  # fmt: skip
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines() == ["pinned", "version A", "version A", "version B"]


def test_the_parent_keeps_its_other_entries_and_nothing_reaches_the_host(pin: Path, top: Path) -> None:
    prefix = top / "anaconda3_linux"
    job = """
    cd "$TOP" && ls -A && readlink link && cat other/data notes.txt .hidden
    ls anaconda3_linux.versions && [ -d anaconda3_linux ] && ! [ -L anaconda3_linux ] && echo "prefix is a directory"
    mkdir "$TOP/new" 2>/dev/null || echo "parent is read-only"
    nsenter --mount=/proc/1/ns/mnt findmnt -R "$TOP" || echo "no mount in the host's namespace"
    """
    run = sandbox(f'"$PIN" --prefix "$PREFIX" --run /bin/sh -c {_quote(job)}', PIN=str(pin), PREFIX=str(prefix),
                  TOP=str(top))  # fmt: skip
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines() == [
        ".hidden", "anaconda3_linux", "anaconda3_linux.versions", "link", "notes.txt", "other",
        "other", "other data", "notes", "hidden",
        "A", "B", "prefix is a directory",
        "parent is read-only",
        "no mount in the host's namespace",
    ]  # fmt: skip
    assert sorted(p.name for p in top.iterdir()) == [".hidden", "anaconda3_linux", "anaconda3_linux.versions",
                                                     "link", "notes.txt", "other"]  # fmt: skip
    assert str(prefix.readlink()) == "anaconda3_linux.versions/A"


def test_an_image_version_stays_after_the_host_unmounts_it(pin: Path, top: Path) -> None:
    """Image mode: the version is a mount point (a tmpfs stands in for the squashfs image here). A pinned job
    keeps it when the host switches away, detaches it (umount -l) and removes its directory, as the role's pruning
    does."""
    prefix = top / "anaconda3_linux"
    version = top / "anaconda3_linux.versions" / "C"
    host = """
    mkdir "$VERSION" && mount -t tmpfs image "$VERSION" && mkdir "$VERSION/envs" &&
    echo "version C" >"$VERSION/envs/release" &&
    ln -s anaconda3_linux.versions/C "$PREFIX.new" && mv -T "$PREFIX.new" "$PREFIX" || exit 1
    "$PIN" --prefix "$PREFIX" --run /bin/sh -c '
        cat "$PREFIX/envs/release"
        nsenter --mount=/proc/1/ns/mnt sh -c "
            ln -s anaconda3_linux.versions/A \\"\\$PREFIX.new\\" && mv -T \\"\\$PREFIX.new\\" \\"\\$PREFIX\\" &&
            umount -l \\"\\$VERSION\\" && rmdir \\"\\$VERSION\\""
        cat "$PREFIX/envs/release"
        nsenter --mount=/proc/1/ns/mnt cat "$PREFIX/envs/release"'
    """
    run = sandbox(host, PIN=str(pin), PREFIX=str(prefix), VERSION=str(version))
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout.splitlines() == ["version C", "version C", "version A"]
    assert not version.exists()


def test_it_refuses_the_initial_mount_namespace(pin: Path, top: Path) -> None:
    prefix = top / "anaconda3_linux"
    run = sandbox('"$PIN" --prefix "$PREFIX"; echo "rc=$?"; findmnt -R "$TOP" || echo "nothing mounted"',
                  PIN=str(pin), PREFIX=str(prefix), TOP=str(top))  # fmt: skip
    assert run.stdout.splitlines() == ["rc=1", "nothing mounted"]
    assert run.stderr.startswith("cpkgs-conda-pin: refusing to pin in the initial mount namespace (mnt:["), run.stderr
    assert "the one of PID 1" in run.stderr
    assert str(prefix.readlink()) == "anaconda3_linux.versions/A"


def test_it_refuses_to_run_unless_root(pin: Path, top: Path) -> None:
    # the script on stdin: the test's directories are not open to another account
    run = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-s", "--",
                          "--prefix", str(top / "anaconda3_linux"), "--run", "true"],
                         input=pin.read_text(), capture_output=True, text=True, check=False)  # fmt: skip
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr == "cpkgs-conda-pin: must run as root (mount(2) needs CAP_SYS_ADMIN), not as uid 65534\n"


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("relative/anaconda3_linux", "--prefix must be an absolute path, got 'relative/anaconda3_linux'"),
        ("{top}/notes.txt", "{top}/notes.txt is not a symlink to a version of the tree: nothing to pin"),
        ("{top}/missing", "{top}/missing is not a symlink to a version of the tree: nothing to pin"),
        ("{top}/link/data", "{top}/other/data is not a symlink to a version of the tree: nothing to pin"),
    ],
)
def test_bad_prefixes_are_named_and_nothing_is_mounted(pin: Path, top: Path, prefix: str, message: str) -> None:
    run = sandbox('"$PIN" --prefix "$PREFIX" --run true; echo "rc=$?"; findmnt -R "$TOP" || echo "nothing mounted"',
                  PIN=str(pin), PREFIX=prefix.format(top=top), TOP=str(top))  # fmt: skip
    assert run.stdout.splitlines() == ["rc=1", "nothing mounted"]
    assert run.stderr == f"cpkgs-conda-pin: {message.format(top=top)}\n"


def test_the_default_prefix_is_the_roles(pin: Path) -> None:
    assert "\nprefix=/usr/local/cpkgs/anaconda3_linux\n" in pin.read_text()


def test_usage(pin: Path) -> None:
    run = subprocess.run([str(pin), "--run"], capture_output=True, text=True, check=False)
    assert run.returncode == 2
    assert run.stderr.startswith("usage: cpkgs-conda-pin [--prefix PREFIX]")


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_as_posix_sh(pin: Path) -> None:
    run = subprocess.run(["shellcheck", "-s", "sh", str(pin)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def test_the_role_finds_the_version_a_running_job_pinned_and_keeps_it(pin: Path, top: Path, tmp_path: Path) -> None:
    """The role's probe (``__conda_node_pinned_probe``, a raw task before the prune) finds version A through the
    mountinfo of a job pinned on it; after a switch to B and C, the prune keeps A while the job runs."""
    prefix = top / "anaconda3_linux"
    for name in ("probe", "prune0", "prune1", "prune2"):
        (tmp_path / name).mkdir()
    probe = render(tmp_path / "probe", "conda_node", {"localhost": {"__unused": {}}}, "__conda_node_pinned_probe",
                   {"conda_node_prefix": str(prefix)})  # fmt: skip
    # a raw task's command: some connections (podman) execute it without a shell, so it must start with a program
    argv = shlex.split(probe)
    assert Path(argv[0]).is_absolute() and os.access(argv[0], os.X_OK), argv[:2]
    job = f"""
    "$PIN" --prefix "$PREFIX" --run sh -c 'touch "$READY"; while [ ! -e "$STOP" ]; do sleep 0.05; done' &
    while [ ! -e "$READY" ]; do sleep 0.05; done
    echo "pinned:"; {probe}
    touch "$STOP"; wait; echo "unpinned:"; {probe}
    """
    run = sandbox(job, PIN=str(pin), PREFIX=str(prefix), READY=str(tmp_path / "ready"), STOP=str(tmp_path / "stop"))
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["pinned:", str(top / "anaconda3_linux.versions" / "A"), "unpinned:"]

    versions = top / "anaconda3_linux.versions"
    found = [{"path": str(versions / name), "ctime": ctime} for name, ctime in (("A", 1), ("B", 2), ("C", 3), ("D", 4))]
    variables = {"conda_node_prefix": str(prefix), "__conda_node_target": str(versions / "D"),
                 "__conda_node_previous": str(versions / "C")}  # fmt: skip
    for roots, prunable in (([], ["A"]), ([str(versions / "A")], []), (["/elsewhere/A", str(versions / "B")], ["A"])):
        registered = {"__conda_node_versions_found": {"files": found},
                      "__conda_node_pinned_roots": {"stdout_lines": roots}}  # fmt: skip
        kept = render(tmp_path / f"prune{len(roots)}", "conda_node", {"localhost": registered}, "__conda_node_prunable",
                      dict(variables, conda_node_keep_versions=3))  # fmt: skip
        assert kept == [str(versions / name) for name in prunable], roots
