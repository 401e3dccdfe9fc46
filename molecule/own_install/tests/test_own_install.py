"""Testinfra checks of the "own_install" scenario: a user's own conda installation sees the shared envs.

alice installed a conda of her own in her home (the test bed's stand-in, as a user with her own Miniforge
has); the collection added the shared envs directory to her ``~/.condarc`` envs_dirs. Hosts are ``podman://``
hosts named after molecule's inventory ($MOLECULE_INVENTORY_FILE); alice runs commands through
``podman exec -u``. Run by ``molecule verify`` (before side_effect takes the shared envs away again) or, after
``molecule converge``, by ``pytest molecule/own_install/tests`` with MOLECULE_INVENTORY_FILE set.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from testbed_hosts import group, podman_host

# Keep in sync with group_vars/all.yml.
SHARE = "/nfs/cpkgs"
SHARED_ENVS = f"{SHARE}/anaconda3_linux/envs"
RELEASES = ["4.2.0", "4.3.0"]
USER = "alice"
HOME = f"/home/{USER}"
OWN = f"{HOME}/miniforge3"
CHANNEL_URL = "file:///srv/channel/cpkgs-testbed"


@pytest.fixture(scope="module", params=group("cpkgs_clients"))
def alice(request: pytest.FixtureRequest) -> testinfra.host.Host:
    """Each client, as the user with her own installation."""
    return podman_host(request.param, USER)


def own_conda(host: testinfra.host.Host, script: str) -> str:
    """Output of SCRIPT run by bash with alice's own conda.sh sourced (her shell functions, not the shared ones)."""
    return host.check_output(f"bash -c {shlex.quote(f'source {OWN}/etc/profile.d/conda.sh && {script}')}")


def envs_dirs(host: testinfra.host.Host) -> list[str]:
    """The envs_dirs of alice's own conda, in order, as it reports them."""
    return json.loads(host.check_output(f"{OWN}/bin/conda info --json"))["envs_dirs"]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (OWN, "directory"),
        (f"{OWN}/bin/conda", "regular file"),
        (f"{OWN}/etc/profile.d/conda.sh", "regular file"),
        (f"{OWN}/conda-meta", "directory"),
        (f"{HOME}/.condarc", "regular file"),
    ],
)
def test_her_own_files_are_hers(alice: testinfra.host.Host, path: str, kind: str) -> None:
    """Her installation and her ~/.condarc exist and belong to her (the role wrote the file as her)."""
    assert alice.check_output(f"stat -c '%F:%U' {shlex.quote(path)}") == f"{kind}:{USER}"


def test_condarc_has_the_shared_envs(alice: testinfra.host.Host) -> None:
    """Her ~/.condarc lists the shared envs directory in envs_dirs (the seed's `conda config --add envs_dirs`)."""
    text = alice.file(f"{HOME}/.condarc").content_string
    assert "envs_dirs:" in text, text
    assert SHARED_ENVS in text, text


def test_her_conda_reads_the_shared_envs_dir(alice: testinfra.host.Host) -> None:
    """Her own conda puts the configured shared directory among its envs_dirs, her own tree's still there."""
    dirs = envs_dirs(alice)
    assert SHARED_ENVS in dirs
    assert f"{OWN}/envs" in dirs


def test_env_list_shows_shared_releases_and_her_base(alice: testinfra.host.Host) -> None:
    """`conda env list` of her own conda lists the shared releases (not writable by her) and her own base."""
    out = json.loads(alice.check_output(f"{OWN}/bin/conda env list --json"))
    for release in RELEASES:
        prefix = f"{SHARED_ENVS}/isis{release}"
        assert prefix in out["envs"], (release, out["envs"])
        assert out["envs_details"][prefix]["name"] == f"isis{release}", release
        assert out["envs_details"][prefix]["writable"] is False, release
    assert OWN in out["envs"]
    assert out["envs_details"][OWN]["base"] is True


@pytest.mark.parametrize("release", RELEASES)
def test_activate_shared_release_by_name(alice: testinfra.host.Host, release: str) -> None:
    """Her own conda activates a shared release by its name alone, and its tools see their prefix."""
    out = own_conda(alice, f'conda activate isis{release} && isis-version && echo "$CONDA_EXE"')
    version, conda_exe = out.splitlines()[-2:]
    assert version == f"isis {release} prefix={SHARED_ENVS}/isis{release}"
    assert conda_exe == f"{OWN}/bin/conda"


def test_she_still_creates_her_own_envs(alice: testinfra.host.Host) -> None:
    """A new env of hers goes to a directory she can write (her own tree), not into the shared one."""
    alice.check_output(
        f"{OWN}/bin/conda create -n mydata --offline --override-channels -c {CHANNEL_URL} -y --json isis-data"
    )
    try:
        prefix = f"{OWN}/envs/mydata"
        assert alice.file(f"{prefix}/conda-meta").is_directory
        assert not alice.file(f"{SHARED_ENVS}/mydata").exists
        out = json.loads(alice.check_output(f"{OWN}/bin/conda env list --json"))
        assert prefix in out["envs"]
        assert own_conda(alice, 'conda activate mydata && echo "$CONDA_PREFIX"').splitlines()[-1] == prefix
    finally:
        alice.check_output(f"{OWN}/bin/conda env remove -n mydata -y --json")
