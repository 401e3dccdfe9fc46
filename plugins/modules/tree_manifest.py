#!/usr/bin/python
# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tree_manifest
short_description: Write a manifest of a conda tree, or check a copy of the tree against one
version_added: 0.1.0
description:
  - With O(state=present), scans a directory tree (the golden copy of a cluster node's common tree) and writes a
    manifest of every entry (type, size, mode, modification time and sha256 of files, targets of symlinks,
    hard links). The file is rewritten only when the tree changed.
  - Hard links are recorded by link group. The paths of the tree that share one inode form a group whose first
    path in sorted order is its leader; the entry of every other member names it (C(link)). A copy that lost the
    links (C(rsync) without C(-H)) or links files the tree does not is drift (C(drift.changed)), as is a file
    whose size, mode or modification time differs. A manifest written by version 1 of this format (no links, no
    times) is still read; then links and times are not compared.
  - With O(state=verified), scans a copy of the tree (a node's local disk) and compares it with the manifest. It
    changes nothing; RV(drift) lists the missing, extra and changed paths and RV(in_sync) says whether there are none.
  - Standard library only. Hashing reads every file once.
author:
  - cpkgs.conda maintainers (@cpkgs)
extends_documentation_fragment:
  - cpkgs.conda.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
options:
  path:
    description: The tree's root directory.
    type: path
    required: true
  manifest:
    description:
      - The manifest file (JSON). It is replaced atomically (a temporary file with a unique name next to it, then
        renamed); an existing file keeps its owner, group and mode, a new one gets V(0644) minus the umask.
      - A symbolic link there is followed only when the account the module runs as owns the link and its directory.
    type: path
    required: true
  state:
    description: V(present) writes the manifest of O(path); V(verified) compares O(path) with it.
    type: str
    choices: [present, verified]
    default: present
  exclude:
    description:
      - Paths relative to O(path) to leave out, as shell patterns (C(pkgs/*)). With O(state=verified) the manifest's
        own list is used unless this is given.
      - A string is taken as Ansible takes any string for a list option, split at commas, so C(pkgs/*) is one
        pattern. A manifest whose own C(exclude) is not a list of strings is refused.
    type: list
    elements: str
  checksums:
    description:
      - Hash file contents (sha256); a hard-link group is hashed once.
      - Without it only type, size, mode, modification time, symlink targets and hard links are compared, which
        reads no file's contents; a file changed in place with its size and time kept goes unseen (an audit with
        checksums finds it).
    type: bool
    default: true
seealso:
  - module: cpkgs.conda.conda_facts
"""

EXAMPLES = r"""
- name: Manifest of the golden copy on the share
  cpkgs.conda.tree_manifest:
    path: /nfs/cpkgs/golden/anaconda3_linux
    manifest: /nfs/cpkgs/golden/anaconda3_linux.manifest.json
    exclude: ["pkgs/*"]

- name: Check a node's local copy
  cpkgs.conda.tree_manifest:
    path: /usr/local/cpkgs/anaconda3_linux
    manifest: /nfs/cpkgs/golden/anaconda3_linux.manifest.json
    state: verified
  register: node_tree

- name: Report drift
  ansible.builtin.debug:
    var: node_tree.drift
  when: not node_tree.in_sync
"""

RETURN = r"""
files:
  description: How many entries the tree has (files, directories and links, exclusions left out).
  returned: success
  type: int
  sample: 4211
bytes:
  description: The total size of the tree's files.
  returned: success
  type: int
  sample: 734003200
unique_bytes:
  description: The total size of the tree's files counting each hard-link group once (what a copy that keeps the
    links holds).
  returned: success
  type: int
  sample: 402653184
link_groups:
  description: How many groups of paths share an inode (hard links) in the tree.
  returned: success
  type: int
  sample: 1520
in_sync:
  description: Whether the tree matches the manifest (O(state=verified)).
  returned: state is verified
  type: bool
  sample: false
drift:
  description: Paths (relative to O(path)) that are C(missing), C(extra) or C(changed) against the manifest.
  returned: state is verified
  type: dict
  sample: {missing: [], extra: [envs/old/bin/tool], changed: [envs/isis4.3.0/bin/isis-version]}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cpkgs.conda.plugins.module_utils._files import (
    FileError,
    read_file,
    resolve_owned_link,
    write_file,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._manifest import (
    compare,
    dump,
    link_groups,
    load,
    scan,
    unique_bytes,
)


def _totals(entries: dict) -> dict:
    return {
        "files": len(entries),
        "bytes": sum(e.get("size", 0) for e in entries.values()),
        "unique_bytes": unique_bytes(entries),
        "link_groups": len(link_groups(entries)),
    }


def _read_manifest(path: str) -> str | None:
    """The manifest's text, None when there is none; ``FileError`` names the file."""
    real = resolve_owned_link(path)
    data = read_file(real)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(path, f"{path}: not a tree manifest (not UTF-8: {exc.reason})") from None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "manifest": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["present", "verified"], "default": "present"},
            "exclude": {"type": "list", "elements": "str"},
            "checksums": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not os.path.isdir(params["path"]):
        module.fail_json(msg=f"path: {params['path']!r} is not a directory")
    manifest_path = params["manifest"]
    try:
        current = _read_manifest(manifest_path)
    except FileError as exc:
        module.fail_json(msg=f"manifest: {exc}")
    if params["state"] == "verified":
        if current is None:
            module.fail_json(msg=f"manifest: cannot read {manifest_path}: No such file or directory")
        try:
            manifest = load(current, manifest_path)
        except ValueError as exc:
            module.fail_json(msg=f"manifest: {exc}")
        exclude = params["exclude"] if params["exclude"] is not None else manifest["exclude"]
        actual = scan(params["path"], exclude, checksums=params["checksums"])
        drift = compare(manifest["entries"], actual, links=manifest["version"] >= 2)
        in_sync = not any(drift.values())
        module.exit_json(changed=False, in_sync=in_sync, drift=drift, **_totals(actual))
    exclude = params["exclude"] or []
    entries = scan(params["path"], exclude, checksums=params["checksums"])
    text = dump(entries, exclude)
    changed = current != text
    if changed and not module.check_mode:
        try:
            write_file(resolve_owned_link(manifest_path), text.encode("utf-8"))
        except FileError as exc:
            module.fail_json(msg=f"manifest: {exc}")
    module.exit_json(changed=changed, **_totals(entries))


if __name__ == "__main__":
    main()
