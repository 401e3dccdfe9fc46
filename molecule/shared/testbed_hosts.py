"""Hosts of a Molecule scenario for its testinfra tests (shared by the scenarios' tests).

Hosts are ``podman://`` hosts named after the scenario's inventory ($MOLECULE_INVENTORY_FILE): testinfra's
Ansible backend does not speak the podman connection and is several times slower. A user runs commands through
``podman exec -u``. Importing this module outside a Molecule run skips the test module.
"""

from __future__ import annotations

import functools
import os

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner

if not os.environ.get("MOLECULE_INVENTORY_FILE"):
    pytest.skip("needs molecule's inventory (MOLECULE_INVENTORY_FILE)", allow_module_level=True)


@functools.cache
def group(name: str) -> list[str]:
    """Host names of one inventory group of the scenario, sorted."""
    hosts = sorted(AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"]).get_hosts(name))
    assert hosts, f"no host in group {name}"
    return hosts


def podman_host(name: str, user: str | None = None) -> testinfra.host.Host:
    """A testinfra host for container NAME, as USER (root by default)."""
    return testinfra.get_host(f"podman://{user}@{name}" if user else f"podman://{name}")
