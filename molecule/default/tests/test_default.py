"""Testinfra checks of the "default" scenario: the tree on the share as the client and its users see it.

Hosts are ``podman://`` hosts named after molecule's inventory ($MOLECULE_INVENTORY_FILE); the unprivileged user
runs commands through ``podman exec -u``. Run by ``molecule verify`` (testinfra verifier) or, after
``molecule converge``, by ``pytest molecule/default/tests`` with MOLECULE_INVENTORY_FILE set.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from testbed_hosts import group, podman_host

# Keep in sync with group_vars/all.yml.
SHARE = "/nfs/cpkgs"
PREFIX = f"{SHARE}/anaconda3_linux"
MAC_PREFIX = f"{SHARE}/anaconda3_macOS"
RELEASES = [
    "3.6.0",
    "3.6.2",
    "3.7.0",
    "3.7.1",
    "3.8.0",
    "3.8.1",
    "3.9.0",
    "3.9.1",
    "4.0.0",
    "4.0.1",
    "4.1.0",
    "4.1.1",
    "4.2.0",
    "4.3.0",
]
ENV_NAME = "isis4.3.0"
ENV_PREFIX = f"{PREFIX}/envs/{ENV_NAME}"
ADMIN = "cpkgsadm"
USER = "alice"
CONDA_VERSION = "26.7.1"
CACHE_DIR = "/var/cache/cpkgs-conda"
CHANNEL_URL = "file:///srv/channel/cpkgs-testbed"


@pytest.fixture(scope="module", params=group("cpkgs_clients"))
def client(request: pytest.FixtureRequest) -> testinfra.host.Host:
    """Each client, as root."""
    return podman_host(request.param)


@pytest.fixture(scope="module", params=group("cpkgs_clients"))
def alice(request: pytest.FixtureRequest) -> testinfra.host.Host:
    """Each client, as the unprivileged user."""
    return podman_host(request.param, USER)


@pytest.fixture(scope="module", params=group("cpkgs_builders"))
def alice_on_builder(request: pytest.FixtureRequest) -> testinfra.host.Host:
    """Each builder, as the unprivileged user."""
    return podman_host(request.param, USER)


@pytest.fixture(scope="module", params=group("cpkgs_builders"))
def admin_on_builder(request: pytest.FixtureRequest) -> testinfra.host.Host:
    """Each builder, as the account that owns the tree."""
    return podman_host(request.param, ADMIN)


@pytest.fixture(scope="module", params=group("cpkgs_builders"))
def builder(request: pytest.FixtureRequest) -> testinfra.host.Host:
    """Each builder, as root."""
    return podman_host(request.param)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (PREFIX, "directory"),
        (f"{PREFIX}/bin/conda", "regular file"),
        (f"{PREFIX}/condabin/conda", "regular file"),
        (f"{PREFIX}/etc/profile.d/conda.sh", "regular file"),
        (f"{PREFIX}/etc/profile.d/conda.csh", "regular file"),
        (f"{PREFIX}/conda-meta", "directory"),
        (f"{PREFIX}/envs", "directory"),
        (ENV_PREFIX, "directory"),
        (f"{ENV_PREFIX}/bin/isis-version", "regular file"),
    ],
)
def test_tree_is_owned_by_admin(client: testinfra.host.Host, path: str, kind: str) -> None:
    """The tree and the release env exist and belong to the share's admin account, not root."""
    result = client.run(f"stat -c '%F:%U:%G' {shlex.quote(path)}")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == f"{kind}:{ADMIN}:{ADMIN}"


def test_nothing_is_writable_by_users(alice_on_builder: testinfra.host.Host) -> None:
    """No file or directory of the tree is writable by an ordinary user.

    Asked on the builder, where the share is mounted read-write: on the read-only client mount access(2)
    refuses every write whatever the permissions, so `find -writable` there would prove nothing.
    """
    out = alice_on_builder.check_output(f"find {PREFIX} -writable -print")
    assert out == ""


def test_no_world_writable_bits(client: testinfra.host.Host) -> None:
    """As the clients see it, nothing in the tree (symlinks aside) has the world-writable bit."""
    out = client.check_output(f"find {PREFIX} ! -type l -perm -o+w -print")
    assert out == ""


@pytest.mark.parametrize("conda", [f"{PREFIX}/bin/conda", f"{PREFIX}/condabin/conda"])
def test_conda_runs_for_users(alice: testinfra.host.Host, conda: str) -> None:
    """The tree's conda runs for an ordinary user and reports the version it imitates."""
    out = alice.check_output(f"{conda} --version")
    assert out.split()[:2] == ["conda", CONDA_VERSION]


def test_users_see_the_release_env(alice: testinfra.host.Host) -> None:
    """`conda env list` run by a user on the read-only client lists the release env as not writable."""
    out = json.loads(alice.check_output(f"{PREFIX}/bin/conda env list --json"))
    assert ENV_PREFIX in out["envs"]
    assert out["envs_details"][ENV_PREFIX]["writable"] is False


def test_users_see_all_fourteen_releases(alice: testinfra.host.Host) -> None:
    """Every release environment of the inventory is listed for a user, and none is writable by them."""
    out = json.loads(alice.check_output(f"{PREFIX}/bin/conda env list --json"))
    for release in RELEASES:
        prefix = f"{PREFIX}/envs/isis{release}"
        assert prefix in out["envs"], release
        assert out["envs_details"][prefix]["frozen"] is True, release


# The hooks the conda_client role installed, as each shell reads them at start-up: bash as a login shell
# (/etc/profile -> /etc/profile.d/zz-cpkgs-conda.sh), zsh interactive (/etc/zsh/zshrc, ~/.zshrc), tcsh
# (/etc/csh.cshrc, ~/.tcshrc). No explicit `source` of conda.sh: the hook must have done it.
@pytest.mark.parametrize(
    ("shell", "flags"),
    [("bash", "-lc"), ("zsh", "-ic"), ("tcsh", "-c")],
)
@pytest.mark.parametrize("release", ["3.6.0", "4.3.0"])
def test_release_activates_in_each_shell(alice: testinfra.host.Host, shell: str, flags: str, release: str) -> None:
    """`conda activate isisX` works straight away in bash, zsh and tcsh, and its tools see their prefix."""
    prefix = f"{PREFIX}/envs/isis{release}"
    out = alice.check_output(f"{shell} {flags} {shlex.quote(f'conda activate isis{release} && isis-version')}")
    assert out.splitlines()[-1] == f"isis {release} prefix={prefix}"


def test_hook_is_silent_without_the_share(alice: testinfra.host.Host) -> None:
    """A login shell on a host where the share is absent prints nothing and succeeds (scp keeps working)."""
    script = "sed 's#/nfs/cpkgs#/nfs/not-mounted#g' /etc/profile.d/zz-cpkgs-conda.sh > /tmp/hook.sh && . /tmp/hook.sh"
    result = alice.run(f"bash -c {shlex.quote(script + '; type conda >/dev/null 2>&1 || echo no-conda')}")
    assert result.rc == 0
    assert result.stdout == "no-conda\n"
    assert result.stderr == ""


def test_hook_picks_the_macos_tree_on_darwin(builder: testinfra.host.Host, alice: testinfra.host.Host) -> None:
    """With `uname -s` saying Darwin, the same hook sources the macOS tree (a dummy one here)."""
    builder.check_output(
        f"install -d -o {ADMIN} {MAC_PREFIX}/etc/profile.d && "
        f"echo 'CPKGS_PICKED=macOS; export CPKGS_PICKED' > {MAC_PREFIX}/etc/profile.d/conda.sh"
    )
    try:
        alice.check_output(
            "mkdir -p /tmp/fakebin && printf '#!/bin/sh\\necho Darwin\\n' > /tmp/fakebin/uname"
            " && chmod +x /tmp/fakebin/uname"
        )
        out = alice.check_output(
            "PATH=/tmp/fakebin:$PATH bash -c '. /etc/profile.d/zz-cpkgs-conda.sh; echo \"$CPKGS_PICKED\"'"
        )
        assert out.strip() == "macOS"
        linux = alice.check_output("bash -c '. /etc/profile.d/zz-cpkgs-conda.sh; echo \"$CONDA_EXE\"'")
        assert linux.strip().startswith(PREFIX)
    finally:
        builder.check_output(f"rm -rf {MAC_PREFIX}")


def _install_refused(host: testinfra.host.Host, extras: tuple[str, ...], exception: str) -> None:
    """``conda install`` into the release env, once with each of ``extras``: refused with ``exception``, and
    nothing in the env changed."""
    before = host.check_output(f"ls -l --full-time {ENV_PREFIX}/conda-meta")
    base = f"{PREFIX}/bin/conda install -p {ENV_PREFIX} --offline --override-channels -c {CHANNEL_URL} -y --json"
    for extra in extras:
        refused = host.run(f"{base} {extra} libcspice=66")
        assert refused.rc != 0
        assert json.loads(refused.stdout)["exception_name"] == exception, extra
    assert host.check_output(f"ls -l --full-time {ENV_PREFIX}/conda-meta") == before


def test_users_cannot_change_a_shared_env(alice_on_builder: testinfra.host.Host) -> None:
    """`conda install` into a shared env fails for a user and changes nothing.

    On the builder, where the share is writable for its owner: the refusal comes from the env, not the mount.
    conda 26.7.1 checks that the env is writable before it checks the frozen mark, so a user hears "not
    writable", with or without --override-frozen.
    """
    _install_refused(alice_on_builder, ("", "--override-frozen"), "EnvironmentNotWritableError")


def test_release_envs_are_frozen_against_their_owner(admin_on_builder: testinfra.host.Host) -> None:
    """Even the tree's owner cannot change a release env by accident: conda refuses, a dry run too (CEP 22)."""
    _install_refused(admin_on_builder, ("", "--dry-run"), "EnvironmentIsFrozenError")


def test_system_condarc_has_the_inventory_keys(client: testinfra.host.Host) -> None:
    """The tree's .condarc carries the role's defaults and the inventory's keys."""
    text = client.file(f"{PREFIX}/.condarc").content_string
    for line in (
        "auto_update_conda: false",
        "notify_outdated_conda: false",
        "channel_priority: strict",
        f"- {CHANNEL_URL}",
    ):
        assert line in text, text


def test_release_env_has_its_own_condarc(client: testinfra.host.Host) -> None:
    """An environment's own .condarc from the inventory."""
    assert f'- "{CHANNEL_URL}"' in client.file(f"{ENV_PREFIX}/.condarc").content_string


def test_share_is_read_only_on_clients(client: testinfra.host.Host) -> None:
    """The client mounts the share read-only: even root cannot write there."""
    assert "ro" in client.mount_point("/nfs/cpkgs").options
    result = client.run("touch /nfs/cpkgs/probe")
    assert result.rc != 0
    assert "Read-only file system" in result.stderr


def test_clients_resolve_builders(client: testinfra.host.Host) -> None:
    """Peers resolve each other by name on the scenario's network."""
    for name in group("cpkgs_builders"):
        assert client.addr(name).is_resolvable, name


def test_installer_checksum_was_verified(builder: testinfra.host.Host) -> None:
    """The installer kept on the builder is the one whose sha256 the inventory names."""
    staged = builder.check_output(f"ls {CACHE_DIR}/*.sh").split()
    assert len(staged) == 1
    expected = os.environ.get("CPKGS_TEST_INSTALLER_SHA256")
    if not expected:
        build = Path(os.environ.get("CPKGS_BUILD") or Path(__file__).resolve().parents[3] / ".build")
        expected = (build / "installer" / f"{Path(staged[0]).name}.sha256").read_text().split()[0]
    assert builder.file(staged[0]).sha256sum == expected
