#!/usr/bin/python
# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: conda_env
short_description: Manage conda environments of a shared tree, idempotently and without a solver when nothing changed
version_added: 0.1.0
description:
  - Creates, updates or removes a conda environment with the tree's own conda (or the one in O(conda_exe)), from
    package O(specs), an C(environment.yml) O(file) or an C(@EXPLICIT) O(lockfile).
  - A re-run that has nothing to do starts no conda process. The module records the request it applied and a
    fingerprint of the environment's package records in C(PREFIX/conda-meta/cpkgs_conda_request); when both still
    match, the environment is left alone. When either differs, conda is asked (C(--dry-run --json)), and only
    an environment that needs work is changed. O(state=latest) always asks conda.
  - O(state=present) never rebuilds an environment that already satisfies the request (real conda's C(create) on
    an existing prefix would).
  - Several environments can be managed in one task with O(envs); a re-run then costs one task, not one per
    environment.
  - conda runs with argument lists and C(--json), without C(CONDA_PREFIX), C(CONDA_SHLVL) or C(SUDO_*) in its
    environment (conda chowns files to C(SUDO_UID)), and with the O(umask) given.
  - Commands on an existing environment (the C(--dry-run) and the change) run with C(CONDA_PROTECT_FROZEN_ENVS=false)
    in conda's environment, so a frozen environment is changed like any other when the inventory changes it.
  - A failed create leaves no half-built environment behind; a failed update leaves the environment as conda
    left it (conda's own transactions roll back a failed link).
author:
  - cpkgs.conda maintainers (@cpkgs)
extends_documentation_fragment:
  - cpkgs.conda.attributes
  - cpkgs.conda.tree
attributes:
  check_mode:
    support: full
    details: conda's C(--dry-run) answers what would be linked and unlinked; for O(file) the module reports that the
      environment would be updated from the file, since C(conda env update) has no dry run.
  diff_mode:
    support: full
    details: The package list before and after, one C(name-version-build) per line, then a line C((frozen)) when the
      environment carries the CEP 22 mark; both are empty for an environment that does not exist.
  idempotent:
    support: full
  action:
    support: full
    description: An action plugin has a plan (O(plan=true)) answered by the payload of M(cpkgs.conda.conda_facts).
options:
  name:
    description:
      - The environment's name, looked up in the tree's C(envs_dirs); a new one goes to the first writable entry
        (the tree's C(envs) for its owner).
      - Names with C(/), whitespace, C(:), C(#), C(..), a leading C(-), or the names C(base) and C(root) are refused.
      - Exactly one of O(name), O(prefix) and O(envs) is required.
    type: str
  prefix:
    description: The environment's full path.
    type: path
  specs:
    description:
      - Package specs (C(isis=4.3.0), C(conda-forge::numpy>=1.26)).
      - Mutually exclusive with O(file) and O(lockfile).
    type: list
    elements: str
  file:
    description: An C(environment.yml) on the managed host (C(conda env create/update --file)).
    type: path
  lockfile:
    description:
      - An C(@EXPLICIT) lockfile on the managed host (C(conda list --explicit) output). The environment is made to
        contain exactly its packages; the comparison needs no conda.
    type: path
  channels:
    description:
      - Channels to search, in order (C(--channel)).
      - Not used with O(file), whose own C(channels) apply (C(conda env create/update) take no channel options).
    type: list
    elements: str
    default: []
  override_channels:
    description: Do not search the channels of the C(.condarc) files (C(--override-channels)).
    type: bool
    default: false
  offline:
    description: Tell conda not to use the network (C(--offline)).
    type: bool
    default: false
  state:
    description:
      - V(present) creates the environment, or changes it when the request changed or its packages changed.
      - V(latest) also updates the requested packages and their dependencies to the newest versions the specs allow.
      - V(absent) removes it (C(conda remove --all)), and its directory.
    type: str
    choices: [present, latest, absent]
    default: present
  frozen:
    description:
      - Mark the environment frozen (CEP 22 C(conda-meta/frozen)) so that conda refuses to change it without
        C(--override-frozen), or remove the mark. Unset leaves it as it is.
      - This module still changes a frozen environment when its request changes (the mark stays in place).
    type: bool
  prune:
    description: With O(file), remove packages the file no longer lists (C(conda env update --prune)).
    type: bool
    default: false
  condarc:
    description:
      - The environment's own C(PREFIX/.condarc), as a mapping of keys (for example C(channels)). The module owns
        this file whole and rewrites it when it differs; unset leaves the file alone.
      - One file, one owner. The file starts with a line saying conda_env writes it, and M(cpkgs.conda.condarc)
        refuses to edit such a file; this module refuses to overwrite an env's C(.condarc) that has keys but not that
        first line (kept with M(cpkgs.conda.condarc) O(cpkgs.conda.condarc#module:scope=env) or by hand), naming it,
        before anything changes.
      - conda reads it only while the environment is active (C($CONDA_PREFIX/.condarc)).
    type: dict
  publish:
    description:
      - Build a new environment behind a closed door. The module makes the prefix directory with mode C(0700)
        before conda runs and opens it (C(0777) less the O(umask)) only once conda succeeded, so nobody can
        activate a half-built release environment.
    type: bool
    default: true
  envs:
    description:
      - Several environments in one task. Each item takes O(name) or O(prefix), O(specs), O(file), O(lockfile),
        O(channels), O(override_channels), O(offline), O(state), O(frozen), O(prune) and O(condarc); O(channels),
        O(override_channels) and O(offline) given at the top level are the defaults of the items.
      - All are planned first from files; conda runs only for those that need work.
      - Each item is checked as the top-level options are (types, choices, exclusions), before anything runs.
    type: list
    elements: dict
    suboptions:
      name:
        description: As the top-level O(name). Exactly one of O(envs[].name) and O(envs[].prefix).
        type: str
      prefix:
        description: As the top-level O(prefix).
        type: path
      specs:
        description: As the top-level O(specs). At most one of O(envs[].specs), O(envs[].file) and O(envs[].lockfile).
        type: list
        elements: str
      file:
        description: As the top-level O(file).
        type: path
      lockfile:
        description: As the top-level O(lockfile).
        type: path
      channels:
        description: As the top-level O(channels), which is the default.
        type: list
        elements: str
      override_channels:
        description: As the top-level O(override_channels), which is the default.
        type: bool
      offline:
        description: As the top-level O(offline), which is the default.
        type: bool
      state:
        description: As the top-level O(state); V(present) when unset.
        type: str
        choices: [present, latest, absent]
      frozen:
        description: As the top-level O(frozen).
        type: bool
      prune:
        description: As the top-level O(prune); V(false) when unset.
        type: bool
      condarc:
        description: As the top-level O(condarc).
        type: dict
  plan:
    description:
      - Only say which environments need work, and why, without changing anything. No conda process starts, the
        tree's lock is not taken and nothing is written (the same in check mode). The answer comes from the files
        of each environment, as for a no-op run (the request record, the package records' fingerprint, the frozen
        mark, the C(.condarc)).
      - The task never reports a change. Each result of RV(envs) (or the single-environment result) then holds
        C(name), C(prefix), C(state), C(needs_work) and C(reason); RV(todo) lists the environments that need work.
      - An environment whose input is bad (an unreadable O(file), a directory that is not an environment) is
        planned as needing work, its C(reason) starting with C(error:), so that acting on it gives the error.
      - Meant for a play that plans many environments in one task and then acts on each one that needs work in a
        task of its own (a loop; see the C(cpkgs.conda.conda_envs) role).
      - The module's action plugin has a plan answered on the host by the payload of M(cpkgs.conda.conda_facts)
        (the same code and option checks), which a run that looked at the tree has built already; the task runs
        as the account it names, as any other. A plan run as an async job runs this module itself.
    type: bool
    default: false
  activation:
    description:
      - With O(plan=true), also check the files that load each environment without conda
        (M(cpkgs.conda.conda_activation)'s modulefiles, shell entries and kernelspecs), for the environments that
        need no other work, with the same options and the same code as that module, so that a run with nothing to
        do needs no second task to know it. Nothing is written.
      - Each such result then holds C(activation_changes), and RV(activation_todo) lists the environments whose
        files differ; run M(cpkgs.conda.conda_activation) for those (and after any environment's work).
    type: dict
    suboptions:
      formats:
        description: As M(cpkgs.conda.conda_activation)'s O(cpkgs.conda.conda_activation#module:formats).
        type: list
        elements: str
        choices: [lmod, tcl, sh, csh, kernel]
        default: [lmod, tcl, sh, csh, kernel]
      modules_dir:
        description: As M(cpkgs.conda.conda_activation)'s O(cpkgs.conda.conda_activation#module:modules_dir).
        type: path
      kernels_dir:
        description: As M(cpkgs.conda.conda_activation)'s O(cpkgs.conda.conda_activation#module:kernels_dir).
        type: path
        default: /usr/local/share/jupyter/kernels
      env_prompt:
        description: As M(cpkgs.conda.conda_activation)'s O(cpkgs.conda.conda_activation#module:env_prompt).
        type: str
        default: "({default_env}) "
      changeps1:
        description: As M(cpkgs.conda.conda_activation)'s O(cpkgs.conda.conda_activation#module:changeps1).
        type: bool
        default: true
      envvars_force_uppercase:
        description:
          - As M(cpkgs.conda.conda_activation)'s O(cpkgs.conda.conda_activation#module:envvars_force_uppercase).
        type: bool
        default: true
      condabin:
        description: As M(cpkgs.conda.conda_activation)'s O(cpkgs.conda.conda_activation#module:condabin).
        type: bool
        default: true
      module_names:
        description:
          - The module name of an environment whose name is not the default one, by its O(envs[].name) (or
            O(envs[].prefix)), as M(cpkgs.conda.conda_activation)'s
            O(cpkgs.conda.conda_activation#module:module_name).
        type: dict
        default: {}
  umask:
    description: The umask conda runs with, so a shared environment is readable by everyone.
    type: raw
    default: '0022'
  lock_timeout:
    description:
      - Seconds to wait for the tree's lock while another writer (another admin's run, a timer, another host)
        holds it; then the task fails naming the holder (host, pid, since when, what it does).
      - The lock is C(ROOT/.cpkgs-lock/lock) in the tree (see M(cpkgs.conda.tree_lock)). It is taken only when an
        environment needs work, never in check mode and never by a run that has nothing to do. Every environment
        that needs work is planned again under the lock, so one that another writer built meanwhile is found done,
        not built twice.
      - V(0) tries once and fails at once when the tree is locked.
    type: int
    default: 600
  lock_holder:
    description:
      - The O(cpkgs.conda.tree_lock#module:holder) token of a lock that a play holds with
        M(cpkgs.conda.tree_lock) (O(cpkgs.conda.tree_lock#module:state=acquired)). The module then works under that
        lock instead of taking its own, renews its lease while conda runs, and leaves it held.
      - The task fails if the tree's lock is not held by this token (its lease ended and another writer broke it).
    type: str
notes:
  - The tree's C(.condarc) channels are used unless O(override_channels=true).
  - The record C(conda-meta/cpkgs_conda_request) holds JSON but has no C(.json) suffix, so conda never reads it as a
    package record.
  - A frozen environment (O(frozen=true)) is still changed by this module when its request changes. conda reads every
    setting from a C(CONDA_<KEY>) variable, and C(CONDA_PROTECT_FROZEN_ENVS=false) does what C(--override-frozen)
    does in a conda that knows CEP 22, while older conda, which has neither, ignores it. The mark is never moved, so
    other conda processes keep seeing the environment frozen. A C(.condarc) that makes C(protect_frozen_envs)
    C(#!final) overrides the variable, and conda then refuses (C(EnvironmentIsFrozenError) in the task's message).
  - Writers of one tree are serialized by the tree's lock, which works on NFS across hosts (C(link) of a unique
    file, not C(fcntl)); a dead holder (a process gone on this host, a reboot, or on another host a heartbeat older
    than ten minutes) is broken. See M(cpkgs.conda.tree_lock).
seealso:
  - module: cpkgs.conda.tree_lock
  - module: cpkgs.conda.conda_facts
  - module: cpkgs.conda.condarc
"""

EXAMPLES = r"""
- name: One release environment, frozen once built, with its own channels
  cpkgs.conda.conda_env:
    name: isis4.3.0
    specs: [isis=4.3.0]
    channels: [usgs-astrogeology, conda-forge]
    frozen: true
    condarc:
      channels: [usgs-astrogeology, conda-forge]

- name: All release environments in one task (a no-op re-run starts no conda)
  cpkgs.conda.conda_env:
    channels: [usgs-astrogeology, conda-forge]
    envs:
      - {name: isis4.2.0, specs: [isis=4.2.0]}
      - {name: isis4.3.0, specs: [isis=4.3.0]}
      - {name: isis3.6.0, state: absent}

- name: Which releases need work (no conda process, no lock; also in check mode)
  cpkgs.conda.conda_env:
    plan: true
    envs:
      - {name: isis4.2.0, specs: [isis=4.2.0]}
      - {name: isis4.3.0, specs: [isis=4.3.0]}
  register: releases_plan

- name: Then each release that needs work, as a step of its own
  cpkgs.conda.conda_env:
    name: "{{ item.name }}"
    specs: "{{ item.specs }}"
  loop: "{{ releases_plan.envs | selectattr('needs_work') }}"
  loop_control:
    label: "{{ item.name }}: {{ item.reason }}"

- name: From an environment file, pruning what it no longer lists
  cpkgs.conda.conda_env:
    prefix: /nfs/cpkgs/anaconda3_linux/envs/isis-dev
    file: /nfs/cpkgs/recipes/isis-dev.yml
    prune: true

- name: Exactly the packages of a lockfile, with a user's own Miniforge
  cpkgs.conda.conda_env:
    conda_exe: /home/alice/miniforge3/bin/conda
    name: analysis
    lockfile: /home/alice/analysis.lock
"""

RETURN = r"""
name:
  description: The environment's name (single-environment form).
  returned: when O(envs) is not used
  type: str
  sample: isis4.3.0
prefix:
  description: The environment's path (single-environment form).
  returned: when O(envs) is not used
  type: str
  sample: /nfs/cpkgs/anaconda3_linux/envs/isis4.3.0
actions:
  description: Packages conda linked and unlinked (or would, in check mode), as C(name-version-build).
  returned: when O(envs) is not used
  type: dict
  sample: {link: [isis-4.3.0-0, libcspice-67-0], unlink: []}
packages:
  description: The environment's packages after the task (before, in check mode), as C(name-version-build).
  returned: when O(envs) is not used
  type: list
  elements: str
  sample: [isis-4.3.0-0, isis-data-1.0-0, libcspice-67-0]
envs:
  description:
    - One result per item of O(envs), each with C(name), C(prefix), C(state), C(changed), C(actions) and C(packages).
  returned: when O(envs) is used
  type: list
  elements: dict
  sample:
    - {name: isis4.3.0, prefix: /nfs/cpkgs/anaconda3_linux/envs/isis4.3.0, state: present, changed: false,
       actions: {link: [], unlink: []}, packages: [isis-4.3.0-0, isis-data-1.0-0, libcspice-67-0]}
rebuilt:
  description:
    - The environment was left closed and unrecorded by an interrupted build, and was built again (or would be).
  returned: when it happened (single-environment form; in O(envs) items likewise)
  type: bool
  sample: true
opened:
  description: The environment was complete but left closed by an interrupted build, and was opened (or would be).
  returned: when it happened (single-environment form; in O(envs) items likewise)
  type: bool
  sample: true
pending_removal:
  description:
    - Directories of removed environments that could not be deleted yet (a file held open, kept by NFS as
      C(.nfsNNNN)). The environment is already out of sight (moved into C(.cpkgs-trash) beside it, its
      C(conda-meta) gone); a later run of the task for the same environment deletes the rest.
  returned: when something is left (single-environment form; in O(envs) items likewise)
  type: list
  elements: str
  sample: [/nfs/cpkgs/anaconda3_linux/.cpkgs-trash/isis3.6.0-k2j4x9a1]
finished_removal:
  description: Directories left by earlier removals of the environment that this run deleted (or would).
  returned: when there were some (single-environment form; in O(envs) items likewise)
  type: list
  elements: str
  sample: [/nfs/cpkgs/anaconda3_linux/.cpkgs-trash/isis3.6.0-k2j4x9a1]
elapsed:
  description: Seconds the environment took (planning, conda and the module's own writes).
  returned: when O(envs) is not used and O(plan=false) (in O(envs) items likewise)
  type: float
  sample: 12.37
counts:
  description:
    - How many packages were linked and unlinked (or would be, in check mode), and how many the environment has
      after the task (before, in check mode). A build from an O(file) counts no linked packages in check mode.
  returned: when O(envs) is not used and O(plan=false) (in O(envs) items likewise)
  type: dict
  sample: {linked: 3, unlinked: 0, packages: 3}
needs_work:
  description: With O(plan=true), whether the environment needs work.
  returned: when O(plan=true) (single-environment form; in O(envs) items likewise)
  type: bool
  sample: true
reason:
  description:
    - With O(plan=true), what the work is (C(build), C(remove), C(update (request changed)), C(freeze), ...), or
      C(up to date) or C(absent) when there is none; C(error:) and the message for a bad input.
  returned: when O(plan=true) (single-environment form; in O(envs) items likewise)
  type: str
  sample: build
todo:
  description: With O(plan=true), the names (or prefixes) of the environments that need work, in the given order.
  returned: when O(plan=true)
  type: list
  elements: str
  sample: [isis4.3.0]
activation_changes:
  description:
    - With O(plan=true) and O(activation), the activation files of an environment that needs no other work that
      would be written or removed (none when they are as M(cpkgs.conda.conda_activation) would write them).
  returned: when O(plan=true), O(activation) is given and the environment needs no other work (in O(envs) items)
  type: list
  elements: str
  sample: [/nfs/cpkgs/anaconda3_linux/envs/isis4.3.0/etc/cpkgs/activate.sh]
activation_todo:
  description:
    - With O(plan=true) and O(activation), the names (or prefixes) of the environments that need no other work
      but whose activation files differ, or could not be checked (the error then shows when
      M(cpkgs.conda.conda_activation) runs for them).
  returned: when O(plan=true) and O(activation) is given
  type: list
  elements: str
  sample: [isis4.2.0]
conda_calls:
  description: How many conda processes the task started (0 on a no-op re-run of O(state=present)).
  returned: always
  type: int
  sample: 0
lock:
  description:
    - The tree's lock, when the task took it (some environment needed work) or worked under O(lock_holder).
    - C(path) is the lock; C(waited) the seconds spent waiting for another writer; C(broken) describes the dead holders
      whose locks were broken.
  returned: when the tree's lock was used
  type: dict
  sample: {path: /nfs/cpkgs/anaconda3_linux/.cpkgs-lock/lock, waited: 12.4, broken: []}
"""

import os
from typing import List, Optional, Tuple

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cpkgs.conda.plugins.module_utils._conda_env import (
    CondaError,
    CondaRunner,
    EnvManager,
    EnvSpec,
    FileError,
    InputError,
    clean_environment,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._env_plan import (
    MUTUALLY_EXCLUSIVE,
    REQUIRED_ONE_OF,
    argument_spec,
    checked,
    plan_result,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._lock import LockError, TreeLock


def _fail(module: AnsibleModule, env: EnvSpec, exc: Exception, info: dict) -> None:
    target = env.prefix or env.name
    where = f"{env.where} ({target})" if env.where else str(target)
    if isinstance(exc, CondaError):
        module.fail_json(msg=f"{where}: {exc.message}", cmd=exc.cmd, rc=exc.rc, conda_error=exc.details, **info)
    if isinstance(exc, FileError):
        module.fail_json(msg=f"{where}: {exc.message}", **info)
    module.fail_json(msg=str(exc), **info)


def _lock(module: AnsibleModule, root_prefix: str, todo: list) -> TreeLock:
    """Take the tree's lock (or adopt the one of lock_holder) for the envs that need work."""
    what = "conda_env: " + ", ".join(str(env.name or env.prefix) for env in todo)
    try:
        lock = TreeLock(
            root_prefix, timeout=module.params["lock_timeout"], what=what, holder=module.params["lock_holder"]
        )
        lock.acquire()
    except ValueError as exc:
        module.fail_json(msg=f"lock_{exc}", conda_calls=0)
    except LockError as exc:
        module.fail_json(msg=exc.message, holder=exc.holder, conda_calls=0)
    for broken in lock.broken:
        module.warn(f"broke the lock of tree {root_prefix}, left by {broken}")
    return lock


def _apply(
    module: AnsibleModule, manager: EnvManager, runner: CondaRunner, envs: list, root_prefix: str
) -> Tuple[list, dict]:
    """Plan every env from files without the lock; take it only when some env needs work, and run those
    envs again under it (another writer may have done their work meanwhile). Check mode takes no lock."""
    results: list = []
    extra: dict = {}
    planned: List[Optional[dict]] = []
    for env in envs:
        try:
            planned.append(None if module.check_mode else manager.plan_offline(env))
        except (InputError, FileError) as exc:
            _fail(module, env, exc, dict(envs=results, conda_calls=len(runner.calls)))
    todo = [env for index, env in enumerate(envs) if planned[index] is None]
    lock = _lock(module, root_prefix, todo) if todo and not module.check_mode else None
    try:
        if lock is not None:
            extra["lock"] = {"path": lock.path, "waited": round(lock.waited, 1), "broken": lock.broken}
        for index, env in enumerate(envs):
            plan = planned[index]
            if plan is not None:
                results.append(plan)
                continue
            try:
                results.append(manager.run(env))
            except (InputError, CondaError, FileError) as exc:
                _fail(module, env, exc, dict(extra, envs=results, conda_calls=len(runner.calls)))
    finally:
        if lock is not None:
            lock.release()
    if lock is not None and lock.lost:
        module.warn(
            f"the lock of tree {root_prefix} was broken by another writer while this task held it "
            "(no heartbeat for longer than its stale_after: was the host suspended?)"
        )
    return results, extra


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        required_one_of=REQUIRED_ONE_OF,
        supports_check_mode=True,
    )
    params = module.params
    try:
        envs, umask, paths = checked(params)
    except (InputError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    os.umask(umask)
    if params["plan"]:
        module.exit_json(**plan_result(params, envs, paths, module.run_command))
    conda_exe = paths.conda_exe
    if not conda_exe:
        if module.check_mode and not paths.installed:
            module.exit_json(
                changed=any(env.state != "absent" for env in envs),
                msg=f"no conda tree at {paths.root_prefix} yet: every environment would be created",
                conda_calls=0,
            )
        module.fail_json(msg=f"no conda executable in {paths.root_prefix}: install the tree first or set conda_exe")
    os.environ.clear()
    os.environ.update(clean_environment(paths.environ))
    runner = CondaRunner(module.run_command, conda_exe)
    manager = EnvManager(
        runner, paths.root_prefix or "", paths.envs_dirs(), check_mode=module.check_mode, publish=params["publish"]
    )
    results, extra = _apply(module, manager, runner, envs, paths.root_prefix or "")
    changed = any(result["changed"] for result in results)
    if params["envs"]:
        diffs = [result.pop("diff") for result in results if result["changed"]]
        module.exit_json(changed=changed, envs=results, diff=diffs, conda_calls=len(runner.calls), **extra)
    module.exit_json(conda_calls=len(runner.calls), **extra, **results[0])


if __name__ == "__main__":
    main()
