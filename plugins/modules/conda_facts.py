#!/usr/bin/python
# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: conda_facts
short_description: Report where a host's shared conda tree is and what is in it
version_added: 0.1.0
description:
  - Sets C(ansible_facts.conda) with the OS-specific paths of the shared conda installation a host uses (which
    tree, its conda executable, C(conda.sh) and C(conda.csh)), the C(.condarc) files of each scope, the
    effective C(envs_dirs), the environments with their frozen and writable state, and whether the share is a
    mount point.
  - Reads files only and needs nothing but the Python standard library on the managed node; it never starts
    conda. On macOS it runs C(mount) once to learn the share's file system type.
  - The tree is C(share_root/tree_names[uname -s]) unless O(root_prefix) or O(conda_exe) point elsewhere.
  - Roles of this collection gather these facts first and read every location from them; the tree options are
    set once per play for all the collection's modules with C(module_defaults) of the C(group/cpkgs.conda.conda)
    action group.
author:
  - cpkgs.conda maintainers (@cpkgs)
extends_documentation_fragment:
  - cpkgs.conda.attributes.FACTS
  - cpkgs.conda.tree
options:
  user:
    description:
      - Report the user scope (C(~/.condarc), C(~/.conda/envs), C(~/.conda/environments.txt)) of this account
        instead of the account that runs the module.
      - The C(CONDARC), C(CONDA_ENVS_DIRS) and C(XDG_CONFIG_HOME) variables are only taken from the module's
        environment when O(user) is not set.
      - RV(ansible_facts.conda.envs) is then what C(conda env list) shows to this account (every account's registered
        environments when it is C(root), its own otherwise).
    type: str
  gather_envs:
    description:
      - List the environments (one directory listing per C(envs_dirs) entry, and the C(~/.conda/environments.txt) of
        the account, or of every account in the password database when it is C(root), as conda does).
    type: bool
    default: true
  system_condarc:
    description:
      - Also read the tree's system C(.condarc) as M(cpkgs.conda.condarc)'s first step reads it (its text, sha1, and
        whether the owner, group and mode given here would change), for that module's action to use instead of a
        read of its own (its internal C(_read); the C(cpkgs.conda.conda_tree) role does this). The read is made as
        O(system_condarc.account), with its permissions, as the C(condarc) task that runs as that account would.
      - RV(system_condarc) is returned only when there is a tree and the module runs as that account or as root
        (which reads as that account); a file that cannot be read is left for the C(condarc) task to report.
      - The look's facts do not depend on it, so a look with it and one without are the same look for the
        roles' reuse (RV(reused)).
    type: dict
    suboptions:
      account:
        description:
          - The account the C(condarc) task runs as; by default the tree's owner (RV(ansible_facts.conda.owner)).
        type: str
      mode:
        description: The mode the C(condarc) task gives the file (its O(cpkgs.conda.condarc#module:mode)).
        type: raw
      owner:
        description: The owner the C(condarc) task gives the file.
        type: str
      group:
        description: The group the C(condarc) task gives the file.
        type: str
notes:
  - C(envs_dirs) follows conda's rules; entries that appear twice are reported once.
  - C(envs[].writable) and C(root_writable) are for the account that runs the module.
  - The roles' looks run through the module's action plugin, which may reuse an identical earlier look of the same
    run (RV(reused)); a task that does not ask for that always runs the module. The roles' checks of their own inputs
    ride on their looks (the action's internal option C(_refuse), a list of messages); a refusal fails the task with
    its messages before any look.
  - Run as C(root), conda (and so this module) reads the C(.conda/environments.txt) of every home in the password
    database (C(getpwall)), not C($HOME)'s; a file that cannot be read is skipped. On a site with automounted homes
    that touches every home; O(gather_envs=false) avoids it.
seealso:
  - module: cpkgs.conda.conda_env
  - module: cpkgs.conda.condarc
"""

EXAMPLES = r"""
- name: Learn where the shared conda tree is
  cpkgs.conda.conda_facts:

- name: Show the conda.sh a bash user sources
  ansible.builtin.debug:
    msg: "source {{ ansible_facts['conda']['conda_sh'] }}"

- name: Facts of a cluster node's local copy, for one user
  cpkgs.conda.conda_facts:
    root_prefix: /usr/local/cpkgs/anaconda3_linux
    user: alice

- name: The tree options, set once for every module of the collection (a play takes module_defaults too)
  module_defaults:
    group/cpkgs.conda.conda:
      share_root: /srv/cpkgs
  block:
    - name: Learn where the tree is
      cpkgs.conda.conda_facts:
        gather_envs: false

- name: Refuse to go on when the share is not mounted
  ansible.builtin.assert:
    that: ansible_facts['conda']['share']['is_mount']
    fail_msg: "{{ ansible_facts['conda']['share_root'] }} is not mounted"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to C(ansible_facts).
  returned: always
  type: dict
  contains:
    conda:
      description: The host's conda tree and what is in it.
      returned: always
      type: dict
      contains:
        system:
          description: C(uname -s) of the host.
          returned: always
          type: str
          sample: Linux
        machine:
          description: C(uname -m) of the host.
          returned: always
          type: str
          sample: x86_64
        subdir:
          description: The conda platform subdir; null for a platform conda does not know.
          returned: always
          type: str
          sample: linux-64
        share_root:
          description: The share root in use.
          returned: always
          type: str
          sample: /nfs/cpkgs
        tree_name:
          description: The tree's directory name for this OS; null for an OS without a tree name.
          returned: always
          type: str
          sample: anaconda3_linux
        trees:
          description:
            - The tree the users of each OS use on this host, keyed by C(uname -s) (what the shell hooks choose from).
            - C(share_root/tree_names[OS]) for every OS; this host's own OS maps to RV(ansible_facts.conda.root_prefix)
              when O(root_prefix) or O(conda_exe) moves it elsewhere (a cluster node's local copy).
          returned: always
          type: dict
          sample: {Darwin: /nfs/cpkgs/anaconda3_macOS, Linux: /nfs/cpkgs/anaconda3_linux}
        modules_dirs:
          description:
            - Where the release modulefiles of each OS's tree go by default (C(ROOT/modulefiles) of
              RV(ansible_facts.conda.trees)), keyed by C(uname -s). M(cpkgs.conda.conda_activation) writes there
              unless given O(cpkgs.conda.conda_activation#module:modules_dir).
          returned: always
          type: dict
          sample: {Darwin: /nfs/cpkgs/anaconda3_macOS/modulefiles, Linux: /nfs/cpkgs/anaconda3_linux/modulefiles}
        root_prefix:
          description: The tree this host uses.
          returned: always
          type: str
          sample: /nfs/cpkgs/anaconda3_linux
        installed:
          description:
            - Whether a tree is installed at RV(ansible_facts.conda.root_prefix), that is its installer finished.
            - It has C(conda-meta/history), conda's own test of an environment; a killed installer leaves C(conda-meta)
              without it.
          returned: always
          type: bool
          sample: true
        root_state:
          description:
            - What is at RV(ansible_facts.conda.root_prefix). V(installed) (as RV(ansible_facts.conda.installed)),
              V(absent), V(empty) (nothing, or only the tree lock's C(.cpkgs-lock)), V(interrupted) (no
              C(conda-meta/history) but the C(.cpkgs-installing) marker the C(conda_tree) role writes before it runs
              the installer, so its own install killed before it finished), V(foreign) (anything else, neither a
              finished tree nor the role's).
          returned: always
          type: str
          sample: installed
        conda_exe:
          description: The tree's conda executable; null when there is none.
          returned: always
          type: str
          sample: /nfs/cpkgs/anaconda3_linux/bin/conda
        condabin:
          description: The tree's C(condabin) directory (what C(conda.sh) puts on C(PATH)).
          returned: always
          type: str
          sample: /nfs/cpkgs/anaconda3_linux/condabin
        conda_sh:
          description: The tree's C(etc/profile.d/conda.sh) for bash and zsh users.
          returned: always
          type: str
          sample: /nfs/cpkgs/anaconda3_linux/etc/profile.d/conda.sh
        conda_csh:
          description: The tree's C(etc/profile.d/conda.csh) for csh and tcsh users.
          returned: always
          type: str
          sample: /nfs/cpkgs/anaconda3_linux/etc/profile.d/conda.csh
        conda_version:
          description: Version of the C(conda) package in the tree, read from C(conda-meta); null if absent.
          returned: always
          type: str
          sample: 26.7.1
        root_writable:
          description: Whether the account running the module may write the tree.
          returned: always
          type: bool
          sample: false
        owner:
          description:
            - The account owning the tree (the directory RV(ansible_facts.conda.root_prefix)); while the tree is not
              installed, the owner of its nearest existing parent directory (for a tree on the share, the share root's
              owner), who can create it. The uid as a string when the account has no name; null without a root prefix.
            - The roles run what writes the tree as this account (C(become_user)) unless told otherwise.
          returned: always
          type: str
          sample: cpkgsadm
        account:
          description: The account that ran the module (what a task without C(become) runs as).
          returned: always
          type: str
          sample: root
        tree_options:
          description:
            - The tree options the module ran with (O(share_root), O(tree_names), O(root_prefix), O(conda_exe)), that is
              the play's C(module_defaults), so that a role can layer one override on them (C(module_defaults) of a
              block replace the play's for the group, they do not merge).
          returned: always
          type: dict
          sample:
            share_root: /nfs/cpkgs
            tree_names: {Darwin: anaconda3_macOS, Linux: anaconda3_linux}
            root_prefix: null
            conda_exe: null
        condarc:
          description: C(.condarc) paths by scope, and the files conda reads that exist, lowest priority first.
          returned: always
          type: dict
          sample:
            system: /nfs/cpkgs/anaconda3_linux/.condarc
            user: /home/alice/.condarc
            env_var: null
            files: [/nfs/cpkgs/anaconda3_linux/.condarc, /home/alice/.condarc]
        envs_dirs:
          description: Where conda looks for environments by name, in order.
          returned: always
          type: list
          elements: str
          sample: [/nfs/cpkgs/anaconda3_linux/envs, /home/alice/.conda/envs]
        envs:
          description:
            - The environments C(conda env list) shows (empty when O(gather_envs=false)), found by conda's rules
              (C(conda/core/envs_manager.py)), that is the root, the environments in each C(envs_dirs) entry, and those
              registered in C(.conda/environments.txt) (every account's for C(root), see O(user)); a prefix counts
              when it has C(conda-meta/history).
            - The root comes first, then the C(envs_dirs) entries in order, then the registered ones (conda sorts
              them all by path).
            - C(name) is C(base) for the root, the directory name for an environment inside an C(envs_dirs) entry,
              and an empty string for any other (what C(conda env list --json) gives in C(envs_details)).
          returned: always
          type: list
          elements: dict
          sample:
            - {name: base, prefix: /nfs/cpkgs/anaconda3_linux, frozen: false, writable: false}
            - {name: isis4.3.0, prefix: /nfs/cpkgs/anaconda3_linux/envs/isis4.3.0, frozen: true, writable: false}
            - {name: '', prefix: /home/alice/projects/env, frozen: false, writable: false}
        share:
          description: The share root's state, and its owner (as for RV(ansible_facts.conda.owner)).
          returned: always
          type: dict
          sample:
            path: /nfs/cpkgs
            exists: true
            is_mount: true
            mount_point: /nfs/cpkgs
            fstype: nfs4
            writable: false
            owner: cpkgsadm
system_condarc:
  description:
    - With O(system_condarc), the tree's system C(.condarc) as M(cpkgs.conda.condarc)'s action reads it, C(path),
      C(exists), C(directory_exists), C(content), C(sha1) and C(attributes_differ).
  returned: when O(system_condarc) is given, there is a tree, and the module runs as O(system_condarc.account) or root
  type: dict
  sample:
    path: /nfs/cpkgs/anaconda3_linux/.condarc
    exists: true
    directory_exists: true
    content: "channels: [conda-forge]\n"
    sha1: 3e2c0a7f8e1d4b6a9c5f0e7d2b1a4c8f6e3d9b0a
    attributes_differ: false
reused:
  description:
    - Whether this run's earlier look stood for this one (the module did not run). Only the collection's roles ask
      for that, with the task variable C(__cpkgs_conda_facts_reuse); the earlier look must have had the same options,
      host and account, and C(ansible_facts.conda) must still be what it reported.
  returned: when the task sets C(__cpkgs_conda_facts_reuse)
  type: bool
  sample: false
cpkgs_conda_facts_key:
  description: What the look was made with (options, host, account), for the next look to compare. Internal.
  returned: when the task sets C(__cpkgs_conda_facts_reuse)
  type: str
"""

import os
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_file import READ_KEYS, CondarcIO
from ansible_collections.cpkgs.conda.plugins.module_utils._facts import (
    FactsCollector,
    account_name,
    parse_bsd_mount,
    parse_mountinfo,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._files import FileError, acting_as
from ansible_collections.cpkgs.conda.plugins.module_utils._tree import (
    paths_from_params,
    tree_argument_spec,
    tree_options,
)


def _mounts(module: AnsibleModule, system: str) -> list:
    if system == "Linux":
        try:
            with open("/proc/self/mountinfo", encoding="utf-8") as handle:
                return parse_mountinfo(handle.read())
        except OSError:
            return []
    mount = module.get_bin_path("mount", opt_dirs=["/sbin", "/usr/sbin"])
    if not mount:
        return []
    rc, out, _err = module.run_command([mount])
    return parse_bsd_mount(out) if rc == 0 else []


def _is_admin(user: str | None) -> bool:
    """Whether conda would treat the account as an admin (``os.geteuid() == 0``, conda's ``is_admin``)."""
    if user:
        return pwd.getpwnam(user).pw_uid == 0
    return os.geteuid() == 0


def _system_condarc(module: AnsibleModule, paths: object, facts: dict, spec: dict) -> dict | None:
    """The condarc action's read of the system ``.condarc``, made as the account its task runs as; None when
    there is no tree, when this process cannot act as that account, or when the file cannot be read."""
    path = paths.condarc_paths()["system"]
    account = spec["account"] or facts["owner"]
    if not path or not facts["installed"] or not account:
        return None
    if os.geteuid() != 0 and account_name(os.geteuid()) != account:
        return None
    target = CondarcIO(module, path, {key: spec[key] for key in ("mode", "owner", "group")})
    try:
        with acting_as(account):
            read = target.report()
    except FileError:
        return None
    return {key: read[key] for key in READ_KEYS}


def _answer_plan(module: AnsibleModule, given: dict) -> None:
    """Answer a plan of cpkgs.conda.conda_env for that module's action (internal option ``_plan``: the module's
    parameters), as that module answers it, from this payload that the run has built for its look at the tree."""
    # Imported here: a look without a plan (every other task of this module) does not load the plan's code on the
    # host, where each module run compiles what it imports from its zip.
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: PLC0415
    from ansible.module_utils.errors import UnsupportedError  # noqa: PLC0415

    from ansible_collections.cpkgs.conda.plugins.module_utils._conda_env import InputError  # noqa: PLC0415
    from ansible_collections.cpkgs.conda.plugins.module_utils._env_plan import (  # noqa: PLC0415
        MUTUALLY_EXCLUSIVE,
        REQUIRED_ONE_OF,
        argument_spec,
        checked,
        plan_result,
    )

    validator = ArgumentSpecValidator(
        argument_spec(), mutually_exclusive=MUTUALLY_EXCLUSIVE, required_one_of=REQUIRED_ONE_OF
    )
    validation = validator.validate(given)
    if validation.error_messages:  # worded as the module's own check of its parameters words it
        unsupported = isinstance(validation.errors[0], UnsupportedError)
        prefix = "Unsupported parameters for (cpkgs.conda.conda_env) module: " if unsupported else ""
        module.fail_json(msg=prefix + validation.errors.msg, conda_calls=0)
    params = validation.validated_parameters
    if not params["plan"]:
        module.fail_json(msg="_plan: the parameters of a cpkgs.conda.conda_env task with plan: true", conda_calls=0)
    try:
        envs, _umask, paths = checked(params)
    except (InputError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**plan_result(params, envs, paths, module.run_command))


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            tree_argument_spec(),
            user={"type": "str"},
            gather_envs={"type": "bool", "default": True},
            system_condarc={
                "type": "dict",
                "options": {
                    "account": {"type": "str"},
                    "mode": {"type": "raw"},
                    "owner": {"type": "str"},
                    "group": {"type": "str"},
                },
            },
            _plan={"type": "dict"},
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["_plan"] is not None:
        _answer_plan(module, params["_plan"])
    try:
        paths = paths_from_params(params, params["user"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    system = paths.system
    collector = FactsCollector(
        paths,
        _mounts(module, system),
        gather_envs=params["gather_envs"],
        admin=_is_admin(params["user"]),
        options=tree_options(params),
    )
    facts = collector.collect()
    for warning in collector.warnings:
        module.warn(warning)
    extra = {}
    if params["system_condarc"] is not None:
        read = _system_condarc(module, paths, facts, params["system_condarc"])
        if read is not None:
            extra["system_condarc"] = read
    module.exit_json(changed=False, ansible_facts={"conda": facts}, **extra)


if __name__ == "__main__":
    main()
