"""The conda_client hooks on the NFS rig (stage ``nfs``): a login never hangs on a share whose server is down.

tests/nfs/README.md (d): with the share mounted (a hard mount) and its server stopped, any path walk on the share
waits in state D, unkillable, until the server is back, so a login whose hook tested or sourced the tree hung.
The role renders its hooks here by ``ansible-playbook`` as root (under root_squash root is ``nobody`` on the
share); the tree is the owner's, installed from the stand-in installer. Then the rig's server is stopped
(``tests/testbed/nfsrig/server.sh stop``) and bash, zsh and tcsh source the hooks as an ordinary account: each
returns within the probe's bound, says one line on an interactive shell's stderr and nothing on a
non-interactive one, and has no conda; with the server started again the hooks set conda up again.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_nfs_share import BUILD, INSTALLERS, MOUNT, NOBODY, REPO, owner, run_as, share_root

pytestmark = [
    pytest.mark.skipif(not MOUNT, reason="CPKGS_NFS_MOUNT is not set (stage nfs starts the NFS rig and sets it)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the NFS share tests run as root (root is what gets squashed)"),
    pytest.mark.skipif(not shutil.which("ansible-playbook"), reason="no ansible-playbook (test.sh puts it on PATH)"),
]

SERVER = REPO / "tests" / "testbed" / "nfsrig" / "server.sh"
PROBE_TENTHS = 20  # the role's default: 2 s
BOUND = 6.0  # seconds a login may take with the server down (the probe's 2 s and the shell's own start)
HUNG = 20.0  # after this long a login counts as hung: the server is started again to release it
SHELLS = ("bash", "zsh", "dash", "tcsh")  # bash and zsh read with a timeout, dash and tcsh run a timer

PLAYBOOK = """\
- name: The conda_client role with the tree on the NFS share
  hosts: localhost
  connection: local
  gather_facts: true
  gather_subset: [min]
  module_defaults:
    group/cpkgs.conda.conda: {share_root: "{{ share_root }}"}
  roles:
    - role: cpkgs.conda.conda_client
      vars:
        conda_client_hook_dir: "{{ hook_dir }}"
        conda_client_system_zsh: false
        conda_client_system_csh: false
"""


def server(action: str) -> None:
    done = subprocess.run(["bash", str(SERVER), action], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, f"server.sh {action}: {done.stdout}{done.stderr}"


@dataclass
class Rig:
    prefix: Path
    hook_dir: Path
    home: Path
    play: subprocess.CompletedProcess[str]

    def hook(self, shell: str) -> Path:
        return self.hook_dir / ("zz-cpkgs-conda.csh" if shell == "tcsh" else "zz-cpkgs-conda.sh")


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    """The owner's tree on the share, and the hooks the role rendered for it (as root, into a local directory)."""
    installer = INSTALLERS["standin"]
    if not installer.is_file():
        pytest.fail(f"{installer}: the stand-in installer is not built (the bootstrap builds it)")
    own = owner()
    prefix = share_root() / "anaconda3_linux"
    work = Path(tempfile.mkdtemp(prefix="cpkgs-nfs-hook-"))
    work.chmod(0o755)
    owner_home, home, hook_dir = work / "owner", work / "home", work / "hooks"
    for path, uid, gid in ((owner_home, own.uid, own.gid), (home, NOBODY, NOBODY)):
        path.mkdir()
        os.chown(path, uid, gid)
    run_as(own, ["rm", "-rf", str(prefix)])
    env = {"HOME": str(owner_home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    argv = ["sh", "-c", 'umask 022 && exec sh "$0" "$@"', str(installer), "-b", "-p", str(prefix)]
    install = run_as(own, argv, env=env)
    assert install.returncode == 0, install.stdout + install.stderr
    # What root (nobody here) cannot read must not matter to the role: an env only the owner may read (one being
    # built) and a system .condarc only the owner may read.
    closed = run_as(
        own,
        [
            "sh",
            "-c",
            f"mkdir -m 0700 {prefix}/envs/isis4.4.0 && touch {prefix}/.condarc && chmod 0600 {prefix}/.condarc",
        ],
    )
    assert closed.returncode == 0, closed.stderr
    (work / "hook.yml").write_text(PLAYBOOK)
    play_env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    play_env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(BUILD / "collections"))
    play_argv = ["ansible-playbook", "-i", "localhost,", "-e", "ansible_python_interpreter=/usr/bin/python3"]
    play_argv += ["-e", f"share_root={share_root()}", "-e", f"hook_dir={hook_dir}", str(work / "hook.yml")]
    play = subprocess.run(play_argv, env=play_env, capture_output=True, text=True, check=False, timeout=600, cwd=REPO)
    try:
        yield Rig(prefix, hook_dir, home, play)
    finally:
        if subprocess.run(["bash", str(SERVER), "status"], check=False, capture_output=True).returncode != 0:
            server("start")
        run_as(own, ["rm", "-rf", str(prefix)], timeout=600)
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class Login:
    seconds: float
    returncode: int
    stdout: str
    stderr: str


def _controlling_tty() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def login(rig: Rig, shell: str, interactive: bool) -> Login:
    """``shell`` sources the hook as ``nobody`` and prints CONDA_EXE (or ``none``).

    Interactive: bash, zsh and dash with ``-i`` on a terminal of their own (job control on, as at a login); tcsh with
    ``prompt`` set, what csh start-up files take for an interactive shell. The exit status, what it printed,
    and how long it took; a login still running after HUNG seconds is released by starting the server.
    """
    hook = rig.hook(shell)
    if not shutil.which(shell):
        pytest.fail(f"{shell} is not installed (stage nfs installs it)")
    show = "printenv CONDA_EXE || echo none"
    if shell == "tcsh":
        argv = ["tcsh", "-f", "-c", ('set prompt="> "; ' if interactive else "") + f"source {hook}; {show}"]
    else:
        argv = [shell, "-i" if interactive else "-f", "-c", f". {hook}; {show}"]
        if shell == "bash":
            argv[1:1] = ["--norc", "--noprofile"]
        if shell == "dash" and not interactive:
            argv = ["dash", "-c", argv[-1]]
    env = {"HOME": str(rig.home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TERM": "dumb"}
    master, slave = os.openpty()
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            argv,
            stdin=slave if interactive else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            cwd="/",
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            preexec_fn=_controlling_tty if interactive else None,  # noqa: PLW1509
        )
        os.close(slave)
        try:
            proc.wait(timeout=HUNG)
        except subprocess.TimeoutExpired:
            server("start")  # the only way to release a caller waiting on the dead server
            proc.wait(timeout=60)
            pytest.fail(f"{argv} hung for more than {HUNG} s with the server down (released by starting it again)")
        finally:
            os.close(master)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Login(seconds, proc.returncode, out.read().decode(), err.read().decode())


@pytest.fixture
def server_down(rig: Rig) -> Iterator[None]:
    """The rig's server stopped (the mount stays); started again afterwards."""
    assert rig.play.returncode == 0, rig.play.stdout[-3000:]
    server("stop")
    try:
        # The share really does not answer: a stat of the tree from a child does not return in 3 s.
        stat = subprocess.Popen(["stat", str(rig.prefix)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)
        assert stat.poll() is None, "the stat returned: the share still answers with the server stopped"
        yield
    finally:
        server("start")
        stat.wait(timeout=60)


def test_role_renders_the_hooks_as_root_under_root_squash(rig: Rig) -> None:
    """The role runs as root (nobody on the share, who cannot read the tree's .condarc nor list a closed env) and
    renders both hooks naming the owner's tree: what it takes from the share (the trees, by OS) needs no read."""
    assert rig.play.returncode == 0, rig.play.stdout[-3000:]
    for shell in ("bash", "tcsh"):
        assert str(rig.prefix) in rig.hook(shell).read_text()


@pytest.mark.parametrize("shell", SHELLS)
def test_hook_sets_conda_up_with_the_server_up(rig: Rig, shell: str) -> None:
    assert rig.play.returncode == 0, rig.play.stdout[-3000:]
    done = login(rig, shell, interactive=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(rig.prefix / "bin" / "conda")], done.stdout + done.stderr
    assert done.stderr == ""


def test_logins_with_the_server_down_return_without_conda(rig: Rig, server_down: None) -> None:
    """Every shell, interactive or not: back within BOUND s, no conda, one line only on an interactive stderr."""
    failures = []
    for shell in SHELLS:
        for interactive in (True, False):
            done = login(rig, shell, interactive)
            expected_err = (
                [f"cpkgs.conda: no answer from {rig.prefix} within {PROBE_TENTHS / 10:.1f} s; conda not set up"]
                if interactive
                else []
            )
            got = (done.returncode, done.stdout.split(), done.stderr.splitlines(), done.seconds < BOUND)
            if got != (0, ["none"], expected_err, True):
                failures.append(f"{shell} interactive={interactive}: {done}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("shell", SHELLS)
def test_hook_sets_conda_up_again_once_the_server_is_back(rig: Rig, shell: str) -> None:
    assert rig.play.returncode == 0, rig.play.stdout[-3000:]
    server("stop")
    server("start")
    done = login(rig, shell, interactive=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(rig.prefix / "bin" / "conda")], done.stdout + done.stderr
    assert done.stderr == ""
