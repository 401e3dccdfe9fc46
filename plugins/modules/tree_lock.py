#!/usr/bin/python
# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tree_lock
short_description: Hold the lock of a shared conda tree across several tasks
version_added: 0.1.0
description:
  - Takes or releases the lock that serializes the writers of one conda tree (other plays, timers, other hosts on
    the same NFS share). M(cpkgs.conda.conda_env) takes it by itself for one task; this module holds it across
    several tasks, for example around an installer run.
  - The lock is C(ROOT/.cpkgs-lock/lock), a hard link of the holder's info file C(ROOT/.cpkgs-lock/holder.TOKEN)
    (host, pid, boot id, start time, O(purpose), O(lease)). It is taken with C(link), which is atomic on an NFS server,
    and checked by the link count, never with C(fcntl)/C(flock). The directory C(ROOT/.cpkgs-lock) is not under
    C(envs) or C(conda-meta), so conda never sees it; it is removed when the last writer leaves it.
  - O(state=acquired) waits up to O(timeout) seconds for another writer, then fails naming it. The module's process
    ends while the lock stays held, so there is no heartbeat; the lock is a lease of O(lease) seconds from when it
    was taken (or renewed), after which other writers may break it. Pass the returned RV(holder) to
    O(state=released), or to M(cpkgs.conda.conda_env)'s O(cpkgs.conda.conda_env#module:lock_holder), which renews
    the lease while it works.
  - O(state=released) removes the lock only when it is still held by O(holder).
author:
  - cpkgs.conda maintainers (@cpkgs)
extends_documentation_fragment:
  - cpkgs.conda.attributes
  - cpkgs.conda.tree
attributes:
  check_mode:
    support: full
    details: Reports whether the lock would be taken or released, and takes or removes nothing.
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: O(state=acquired) with the O(holder) that holds the lock renews its lease and reports no change;
      O(state=released) of a lock that is not held by O(holder) changes nothing.
options:
  state:
    description:
      - V(acquired) takes the lock (or renews it when O(holder) already holds it).
      - V(released) removes it if O(holder) holds it.
    type: str
    choices: [acquired, released]
    default: acquired
  holder:
    description:
      - The token that O(state=acquired) returned as RV(holder). Required with O(state=released) (except in check
        mode); with O(state=acquired), the lease of this holder is renewed when it still holds the lock.
    type: str
  timeout:
    description: Seconds to wait for another writer; V(0) tries once.
    type: int
    default: 600
  lease:
    description:
      - Seconds the lock stays valid after it was taken or last renewed. After that, other writers consider its holder
        dead and break it. Choose it longer than the tasks it covers.
    type: int
    default: 3600
  stale_after:
    description:
      - A lock held by a process on another host is dead when its heartbeat (the mtime of its info file, touched every
        30 seconds) is older than this. A holder on this host is dead when its process is gone or the host rebooted.
    type: int
    default: 600
  purpose:
    description: What the holder does, shown to the writers that wait for it, for example C(conda_tree installer).
    type: str
    default: tree_lock
notes:
  - The lock is not re-entrant, and a play holding it must pass RV(holder) to M(cpkgs.conda.conda_env) as
    O(cpkgs.conda.conda_env#module:lock_holder); otherwise that task waits for the play's own lock and fails after its
    O(cpkgs.conda.conda_env#module:lock_timeout).
  - A constructor installer (Anaconda, Miniconda, Miniforge) refuses an existing prefix without C(-u). Taking the lock
    of a tree that is not installed yet makes the prefix directory (for C(.cpkgs-lock)), so the installer that runs
    under the lock needs C(-u).
seealso:
  - module: cpkgs.conda.conda_env
"""

EXAMPLES = r"""
- name: Take the tree's lock for the installer run
  cpkgs.conda.tree_lock:
    share_root: /nfs/cpkgs
    purpose: "conda_tree: installer"
    lease: 1800
  register: tree_lock

- name: Run the installer (-u, since the prefix exists for the lock)
  ansible.builtin.command:
    argv: [bash, /var/cache/cpkgs/Miniforge3-Linux-x86_64.sh, -b, -u, -p, /nfs/cpkgs/anaconda3_linux]
    creates: /nfs/cpkgs/anaconda3_linux/conda-meta

- name: Build the release environments under the same lock
  cpkgs.conda.conda_env:
    lock_holder: "{{ tree_lock.holder }}"
    envs:
      - {name: isis4.3.0, specs: [isis=4.3.0]}

- name: Release the tree's lock
  cpkgs.conda.tree_lock:
    share_root: /nfs/cpkgs
    state: released
    holder: "{{ tree_lock.holder }}"
"""

RETURN = r"""
holder:
  description:
    - The token of the lock held; pass it to O(state=released) and to O(cpkgs.conda.conda_env#module:lock_holder).
    - Empty in check mode when the lock would be taken.
  returned: always
  type: str
  sample: b1-4242-3f2a9c81d0e4
path:
  description: The lock.
  returned: always
  type: str
  sample: /nfs/cpkgs/anaconda3_linux/.cpkgs-lock/lock
held_by:
  description: The current holder's info (host, pid, started, what, lease, heartbeat_at), when another holder has it.
  returned: when O(state=released) finds the lock held by another holder, or O(state=acquired) times out
  type: dict
  sample: {host: b1, pid: 4242, started: '2026-11-26T10:31:02Z', what: 'conda_env: isis4.3.0', lease: null}
waited:
  description: Seconds spent waiting for another writer.
  returned: when O(state=acquired)
  type: float
  sample: 12.4
broken:
  description: The dead holders whose locks were broken to take this one.
  returned: when O(state=acquired)
  type: list
  elements: str
  sample: ["host b1 pid 4242 since 2026-11-26T10:31:02Z (conda_env: isis4.3.0): its heartbeat is 900 s old"]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cpkgs.conda.plugins.module_utils._lock import (
    LockError,
    TreeLock,
    lock_dir,
    read_holder,
    release_token,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._tree import paths_from_params, tree_argument_spec


def _acquire(module: AnsibleModule, root: str, path: str) -> None:
    params = module.params
    holder = params["holder"]
    current = read_holder(root)
    if holder and current and current.get("token") == holder:
        if not module.check_mode:
            os.utime(os.path.join(lock_dir(root), f"holder.{holder}"))  # the lease starts again
        module.exit_json(changed=False, holder=holder, path=path, waited=0.0, broken=[])
    if module.check_mode:
        module.exit_json(changed=True, holder="", path=path, waited=0.0, broken=[])
    try:
        lock = TreeLock(
            root,
            timeout=params["timeout"],
            what=params["purpose"],
            lease=params["lease"],
            stale_after=params["stale_after"],
        )
        lock.acquire()
    except ValueError as exc:
        module.fail_json(msg=str(exc), path=path)
    except LockError as exc:
        module.fail_json(msg=exc.message, held_by=exc.holder, path=path)
    for broken in lock.broken:
        module.warn(f"broke the lock of tree {root}, left by {broken}")
    token = lock.detach()
    module.exit_json(changed=True, holder=token, path=path, waited=round(lock.waited, 1), broken=lock.broken)


def _release(module: AnsibleModule, root: str, path: str) -> None:
    holder = module.params["holder"]
    if not holder:
        if module.check_mode:  # the acquire in check mode returned no token
            module.exit_json(changed=False, holder="", path=path)
        module.fail_json(msg="holder: state=released needs the token that state=acquired returned", path=path)
    current = read_holder(root)
    ours = bool(current) and current.get("token") == holder
    if module.check_mode:
        module.exit_json(changed=ours, holder=holder, path=path)
    try:
        released = release_token(root, holder)
    except LockError as exc:
        module.fail_json(msg=exc.message, path=path)
    if released:
        module.exit_json(changed=True, holder=holder, path=path)
    current = read_holder(root)
    if current:
        module.warn(
            f"the lock of tree {root} is not held by {holder!r} (its lease ended and another writer took it): "
            "left as it is"
        )
        module.exit_json(changed=False, holder=holder, path=path, held_by=current)
    module.exit_json(changed=False, holder=holder, path=path)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            tree_argument_spec(),
            state={"type": "str", "choices": ["acquired", "released"], "default": "acquired"},
            holder={"type": "str"},
            timeout={"type": "int", "default": 600},
            lease={"type": "int", "default": 3600},
            stale_after={"type": "int", "default": 600},
            purpose={"type": "str", "default": "tree_lock"},
        ),
        supports_check_mode=True,
    )
    params = module.params
    for name, least in (("timeout", 0), ("lease", 1), ("stale_after", 1)):
        if params[name] < least:
            module.fail_json(msg=f"{name}: must be {least} or more seconds, got {params[name]}")
    try:
        root = paths_from_params(params).root_prefix
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if not root:
        module.fail_json(msg="root_prefix: no tree for this OS in tree_names; give root_prefix")
    path = os.path.join(lock_dir(root), "lock")
    if params["state"] == "acquired":
        _acquire(module, root, path)
    _release(module, root, path)


if __name__ == "__main__":
    main()
