"""Testinfra checks of the "default" scenario: the tree on the share as the client and its users see it.

Hosts are ``podman://`` hosts named after molecule's inventory ($MOLECULE_INVENTORY_FILE); the unprivileged user
runs commands through ``podman exec -u``. Run by ``molecule verify`` (testinfra verifier) or, after
``molecule converge``, by ``pytest molecule/default/tests`` with MOLECULE_INVENTORY_FILE set.
"""

from __future__ import annotations

import functools
import json
import os
import shlex

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

# Keep in sync with group_vars/all.yml.
PREFIX = "/nfs/cpkgs/anaconda3_linux"
ENV_NAME = "isis4.3.0"
ENV_PREFIX = f"{PREFIX}/envs/{ENV_NAME}"
ADMIN = "cpkgsadm"
USER = "alice"
CONDA_VERSION = "26.7.1"
STAGING_DIR = "/srv/cpkgs-installer"

if not os.environ.get("MOLECULE_INVENTORY_FILE"):
    pytest.skip("needs molecule's inventory (MOLECULE_INVENTORY_FILE)", allow_module_level=True)


@functools.cache
def group(name: str) -> list[str]:
    """Host names of one inventory group of the scenario."""
    hosts = AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts(name)
    assert hosts, f"no host in group {name}"
    return hosts


def podman_host(name: str, user: str | None = None) -> testinfra.host.Host:
    """A testinfra host for container NAME, as USER (root by default)."""
    return testinfra.get_host(f"podman://{user}@{name}" if user else f"podman://{name}")


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


# Depends on the shell helper's conda.sh / conda.csh (tests/testbed/installer/etc/profile.d).
@pytest.mark.parametrize(
    ("shell", "hook"),
    [("bash", "conda.sh"), ("zsh", "conda.sh"), ("tcsh", "conda.csh")],
)
def test_env_activates_for_users(alice: testinfra.host.Host, shell: str, hook: str) -> None:
    """`conda activate` of the release env works in each login shell and its tools see their prefix."""
    # Two lines: csh expands aliases (conda.csh defines `conda` as one) only on lines read after the definition.
    script = f"source {PREFIX}/etc/profile.d/{hook}\nconda activate {ENV_NAME} && isis-version"
    out = alice.check_output(f"{shell} -c {shlex.quote(script)}")
    assert out.splitlines()[-1] == f"isis 4.3.0 prefix={ENV_PREFIX}"


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
    """The installer staged on the builder matches its published checksum file."""
    staged = builder.check_output(f"ls {STAGING_DIR}/*.sh").split()
    assert len(staged) == 1
    published = builder.file(f"{staged[0]}.sha256").content_string.split()[0]
    assert builder.file(staged[0]).sha256sum == published
