#!/usr/bin/python
# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: condarc
short_description: Manage keys of one conda configuration file (.condarc)
version_added: 0.1.0
description:
  - Sets, changes or removes keys of one C(.condarc) and keeps every key, comment and the order of what it
    does not manage.
  - The file is the tree's (O(scope=system)), a user's C(~/.condarc) (O(scope=user)), an environment's
    C(PREFIX/.condarc) (O(scope=env)) or any O(path).
  - Scalars are set or removed; lists are changed with O(list_mode) (C(exact), C(add), C(prepend),
    C(remove)); conda's C(#!final) marker is added or removed per key.
  - The YAML is parsed and written on the controller (an action plugin; it needs the Python package
    C(ruamel.yaml) there), so managed nodes need only the Python standard library. The file is replaced
    atomically (a temporary file with a unique name in the same directory, then renamed); an existing file
    keeps its owner, group and mode, a new one gets V(0644) minus the umask.
  - Values of the keys conda documents are checked against conda's types (for example C(channels) is a list of
    strings, C(auto_update_conda) a boolean, C(channel_priority) one of C(strict), C(flexible), C(disabled)).
    Other keys are written as given, with a warning, since conda plugins add keys of their own.
author:
  - cpkgs.conda maintainers (@cpkgs)
extends_documentation_fragment:
  - cpkgs.conda.attributes
  - cpkgs.conda.tree
  - ansible.builtin.files
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
  action:
    support: full
    description: The YAML is edited by an action plugin on the controller.
options:
  scope:
    description:
      - Which C(.condarc) to manage. V(system) is the tree's C(ROOT/.condarc), V(user) a user's C(~/.condarc),
        V(env) the C(.condarc) inside one environment.
      - Exactly one of O(scope) and O(path) is required.
      - An environment's C(.condarc) written by M(cpkgs.conda.conda_env) (its O(cpkgs.conda.conda_env#module:condarc)
        option; the first line of the file says so) is refused, whatever the scope or path (one file, one owner).
    type: str
    choices: [system, user, env]
  path:
    description: Manage this file instead of a scope's file.
    type: path
  user:
    description:
      - With O(scope=user), whose C(~/.condarc); defaults to the account the module runs as.
      - With O(scope=user) the file is owned by this user unless O(owner) says otherwise.
      - With O(scope=user) and the module running as root, the file is read and written as this user (effective
        uid, gid and groups), so nothing the user could not read is read (a link or hard link to a root-only
        file fails with C(Permission denied)) and a new file belongs to the user. A home the user cannot write
        fails the task.
    type: str
  env:
    description:
      - With O(scope=env), the environment, by name (looked up in the tree's C(envs_dirs)) or by prefix (a path).
    type: str
  key:
    description:
      - The one key to manage. Use O(settings) for several keys in one task.
      - Mutually exclusive with O(settings).
    type: str
  value:
    description:
      - The key's value (with O(key)). A list for list keys (a single string is taken as a one-item list), a
        mapping for mapping keys, a scalar otherwise.
      - Required with O(state=present).
    type: raw
  state:
    description: V(absent) removes the key (with O(key)).
    type: str
    choices: [present, absent]
    default: present
  list_mode:
    description:
      - How a list value changes the key's list (with O(key)).
      - V(exact) makes the list equal to O(value); V(add) appends the missing items; V(prepend) puts the items
        first, in the given order (moving them if they are further down); V(remove) takes the items out.
      - For mapping keys, V(add) merges the given entries into the mapping and V(exact) replaces it.
    type: str
    choices: [exact, add, prepend, remove]
    default: exact
  final:
    description:
      - Mark the key C(#!final) (V(true)) so files conda reads later cannot override it, or remove the mark
        (V(false)). Unset leaves the mark as it is.
      - conda reads the mark only when it is the whole comment on the key's line, so marking a key replaces
        a comment there.
    type: bool
  settings:
    description: Several keys in one task; each item takes the options O(key) to O(final).
    type: list
    elements: dict
    suboptions:
      key:
        description: The key.
        type: str
        required: true
      value:
        description: As O(value).
        type: raw
      state:
        description: As O(state).
        type: str
        choices: [present, absent]
        default: present
      list_mode:
        description: As O(list_mode).
        type: str
        choices: [exact, add, prepend, remove]
        default: exact
      final:
        description: As O(final).
        type: bool
  final_file:
    description:
      - Mark every key of the file C(#!final) (V(true)), including keys the task does not manage, or remove the mark
        from every key (V(false)). Unset leaves the marks as they are.
      - conda reads the mark per key only; a file whose every key is final is what a final file means to it. Keys
        added to the file later are not final unless marked.
    type: bool
  backup:
    description: Keep a copy of the file as it was, with a timestamp in its name, before changing it.
    type: bool
    default: false
notes:
  - A symbolic link at the file's path is followed (and its target edited) only when the account doing the I/O
    owns both the link and the directory holding it, for example root's own symlinked dotfile or a user's own;
    any other link fails the task naming the path and the link's owner.
  - Not running as root, a file that belongs to another account (or whose group is not one of the account's
    groups) is refused before anything is written, since replacing it would hand it to the account running
    the module.
  - Write errors (full disk, read-only file system, a directory that is not writable) name the file; the
    temporary file is removed.
  - Keys must be plain C(.condarc) keys (a letter or C(_) first, then letters, digits, C(_), C(.), C(-)).
  - An existing file that is not valid YAML is left byte-identical and the task fails naming the file and line.
  - When nothing changes the file is not written, so its formatting stays as it is. When something changes,
    the file is written by ruamel.yaml, which keeps comments and order but may re-indent lists of keys it
    does not manage to the file's main indentation.
  - Missing directories are not created; with O(scope=system) in check mode on a host whose tree is not
    installed yet, the task reports the file it would create.
requirements:
  - ruamel.yaml on the controller
seealso:
  - module: cpkgs.conda.conda_facts
  - name: conda's .condarc reference
    description: The keys conda reads and their types.
    link: https://docs.conda.io/projects/conda/en/latest/configuration.html
"""

EXAMPLES = r"""
- name: Shared tree defaults, channels fixed for everybody
  cpkgs.conda.condarc:
    scope: system
    settings:
      - key: channels
        value: [conda-forge]
        final: true
      - key: pkgs_dirs
        value: [/var/cache/conda/pkgs]
      - key: auto_update_conda
        value: false
      - key: notify_outdated_conda
        value: false

- name: Give alice's own conda the shared environments
  cpkgs.conda.condarc:
    scope: user
    user: alice
    key: envs_dirs
    value: /nfs/cpkgs/anaconda3_linux/envs
    list_mode: add

- name: Take them away again to reproduce a user's solver problem
  cpkgs.conda.condarc:
    scope: user
    user: alice
    key: envs_dirs
    value: /nfs/cpkgs/anaconda3_linux/envs
    list_mode: remove

- name: Channels of one release environment
  cpkgs.conda.condarc:
    scope: env
    env: isis4.3.0
    key: channels
    value: [usgs-astrogeology, conda-forge]

- name: Remove a key
  cpkgs.conda.condarc:
    path: /etc/conda/.condarc
    key: proxy_servers
    state: absent
"""

RETURN = r"""
path:
  description: The file managed.
  returned: always
  type: str
  sample: /nfs/cpkgs/anaconda3_linux/.condarc
changes:
  description: What changed (or would change in check mode), one line per key.
  returned: always
  type: list
  elements: str
  sample: ["channels: ['defaults'] -> ['conda-forge']", "channels: marked #!final"]
key_values:
  description:
    - The managed keys' values after the task (as they would be, in check mode). (Not C(values), which Jinja's
      dot notation cannot reach, as it is a method of every dict.)
  returned: success
  type: dict
  sample: {channels: [conda-forge], auto_update_conda: false}
backup_file:
  description: Where the copy of the previous file is, when O(backup=true) and the file changed.
  returned: changed and O(backup=true)
  type: str
  sample: /home/alice/.condarc.12345.2026-11-21@10:00:00~
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_args import (
    MUTUALLY_EXCLUSIVE,
    REQUIRED_ONE_OF,
    argument_spec,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_file import CondarcIO
from ansible_collections.cpkgs.conda.plugins.module_utils._files import FileError, acting_as
from ansible_collections.cpkgs.conda.plugins.module_utils._tree import find_env, has_conda_meta, paths_from_params


def resolve_path(params: dict) -> str:
    """The file a task manages; raises ValueError naming the parameter when it cannot be found."""
    if params["path"]:
        return params["path"]
    scope = params["scope"]
    if scope == "user":
        return os.path.join(paths_from_params(params, params["user"]).home, ".condarc")
    paths = paths_from_params(params)
    if paths.root_prefix is None:
        raise ValueError(f"scope={scope}: no tree for this OS ({paths.system}) in tree_names")
    if scope == "system":
        return paths.condarc_paths()["system"]
    env = params["env"]
    if not env:
        raise ValueError("env: required with scope=env (an environment name or prefix)")
    if "/" in env:
        prefix = os.path.normpath(env)
    else:
        prefix = find_env(paths.envs_dirs(), env) or ""
        if not prefix:
            raise ValueError(f"env: no environment named {env!r} in envs_dirs {paths.envs_dirs()}")
    if not has_conda_meta(prefix):
        raise ValueError(f"env: {prefix!r} is not a conda environment (no conda-meta)")
    return os.path.join(prefix, ".condarc")


def io_account(params: dict) -> str | None:
    """The account whose permissions the file is read and written with: the user of O(scope=user) when
    the module runs as root (so root never reads what the user could not, nor follows the user's links),
    else None (the module's own account)."""
    if params["scope"] == "user" and params["user"] and os.geteuid() == 0:
        return params["user"]
    return None


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        required_one_of=REQUIRED_ONE_OF,
        add_file_common_args=True,
        supports_check_mode=True,
    )
    try:
        path = resolve_path(module.params)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    file_params = dict(module.params)
    if module.params["scope"] == "user" and file_params["owner"] is None:
        file_params["owner"] = module.params["user"]
    target = CondarcIO(module, path, file_params)
    try:
        with acting_as(io_account(module.params)):
            if module.params["_content"] is None:
                result = target.report()  # first call of the action plugin
            elif module.check_mode:
                result = {"changed": True, "path": path}
            else:
                result = target.write(module.params["_content"], module.params["_expected_sha1"] or "")
    except FileError as exc:
        module.fail_json(msg=str(exc), path=path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
