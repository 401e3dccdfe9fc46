#!/usr/bin/python
# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: conda_verify
short_description: Audit the files of a conda tree and its environments against conda's package records, and repair
  damaged packages
version_added: 0.1.0
description:
  - Checks every file that the packages of the tree (the root prefix, C(base)) and of each of its environments
    installed, as listed in C(conda-meta/*.json) (C(paths_data)), and reports by environment and package the
    files that are C(missing), C(changed) (size or sha256 differs, or a symbolic link points elsewhere) and, by
    environment, C(unexpected) files that no package record lists.
  - The sha256 of a file is compared with C(sha256_in_prefix) when the record has one (conda rewrote the install
    prefix into the file), else with C(sha256). Files are read in blocks of 1 MiB, never whole.
  - Unexpected files are reported and never deleted. conda's bookkeeping and the prefix's own configuration are
    not unexpected - C(conda-meta/), C(.condarc), C(condarc.d/), C(.nonadmin), C(pkgs/) (the package cache),
    C(envs/) (the environments, each audited on its own), directories holding another environment, and
    C(__pycache__/) directories (byte code Python writes at import).
  - With O(repair=true), the damaged packages (changed or missing files) of each environment, and only those, are
    linked again with a forced reinstall (C(conda install --prefix P --force-reinstall --no-deps --yes
    NAME==VERSION[build=BUILD])), with C(CONDA_PROTECT_FROZEN_ENVS=false) in conda's environment so that a frozen
    environment (CEP 22) is repaired too and keeps its mark. A package whose extracted copy in the package cache
    is damaged as well (a hard-linked file edited in place changes both) has that copy removed first, so that
    conda extracts the package again from its tarball or fetches it from the channel. After the reinstall the
    environment is audited again; if the packages are still damaged the task fails.
  - Without O(repair) the task never changes anything and needs no conda, so it suits a timer or a monitoring
    probe, in check mode too.
author:
  - cpkgs.conda maintainers (@cpkgs)
extends_documentation_fragment:
  - cpkgs.conda.attributes
  - cpkgs.conda.tree
attributes:
  check_mode:
    support: full
    details: The audit runs in full; with O(repair=true) the task reports what it would repair (and which package
      cache copies it would remove) and changes nothing on disk.
  diff_mode:
    support: full
    details: For each environment that would be repaired, the damaged files before (one C(package - changed|missing
      path) line each) and none after.
  idempotent:
    support: full
options:
  envs:
    description:
      - The environments to audit - names looked up in the tree's C(envs_dirs), absolute prefixes, or C(base) for
        the tree itself.
      - Unset or empty audits the tree and every environment in C(envs_dirs).
    type: list
    elements: str
  checksums:
    description:
      - Hash file contents (sha256). With V(false) only presence, types, sizes and link targets are compared - a cheap
        daily run, but a file changed in place with the same size goes unseen.
    type: bool
    default: true
  unexpected:
    description: Look for files that no package record lists (a walk of each environment).
    type: bool
    default: true
  exclude:
    description:
      - Paths relative to each prefix to leave out of the audit (recorded and unexpected alike), as shell patterns
        where C(*) also matches C(/) (C(share/isis/local/*)), in addition to conda's bookkeeping.
    type: list
    elements: str
    default: []
  repair:
    description: Reinstall the damaged packages (not in check mode). Unexpected files are never touched.
    type: bool
    default: false
  channels:
    description:
      - Channels the reinstall takes the packages from (C(--channel)), in order.
      - Unset, each damaged package's own channel (from the URL in its record) is used, together with the
        C(.condarc) channels unless O(override_channels=true).
    type: list
    elements: str
    default: []
  override_channels:
    description: Do not search the channels of the C(.condarc) files during a repair (C(--override-channels)).
    type: bool
    default: false
  offline:
    description: Tell conda not to use the network during a repair (C(--offline)).
    type: bool
    default: false
  umask:
    description: The umask conda runs with during a repair, so repaired files are readable by everyone.
    type: raw
    default: '0022'
notes:
  - conda 26.7.1 records the package's size for a text file whose prefix it rewrote; such a file is the right size
    when it differs from the record by a whole number of C(len(prefix) - len(prefix_placeholder)). Records without
    C(paths_data) are checked for presence only; symbolic links are compared with the package cache's copy when the
    cache still has the package.
  - C(conda doctor) has similar checks (altered and missing files) but compares only files that have
    C(sha256_in_prefix), runs per environment and has no machine-readable report.
seealso:
  - module: cpkgs.conda.conda_env
  - module: cpkgs.conda.tree_manifest
"""

EXAMPLES = r"""
- name: Nightly audit of the tree and every environment, sizes only
  cpkgs.conda.conda_verify:
    checksums: false
  register: audit

- name: Fail the timer run when a package is damaged
  ansible.builtin.assert:
    that: audit.clean
    fail_msg: "{{ audit.envs | rejectattr('clean') | map(attribute='packages') | list }}"

- name: Full audit and repair of two release environments from the site channel, frozen or not
  cpkgs.conda.conda_verify:
    envs: [isis4.2.0, isis4.3.0]
    repair: true
    channels: [https://conda.example.org/usgs-astrogeology]
    override_channels: true

- name: What would be repaired in a user's own Miniforge
  cpkgs.conda.conda_verify:
    conda_exe: /home/alice/miniforge3/bin/conda
    envs: [base, /home/alice/miniforge3/envs/analysis]
    repair: true
  check_mode: true
  diff: true
"""

RETURN = r"""
clean:
  description:
    - Whether no audited environment has a changed or missing file or an unreadable record (after the repair, when
      one ran). Unexpected files do not count.
  returned: success
  type: bool
  sample: false
envs:
  description:
    - One result per audited environment - C(name), C(prefix), C(frozen), C(clean); C(packages), the damaged
      packages as C(name-version-build) each with its C(changed) and C(missing) paths (relative to the prefix);
      C(unexpected) paths; C(unreadable) record files; C(counts); C(repaired), the packages reinstalled (or that
      would be, in check mode); C(cache_cleared), the package cache copies removed before the reinstall; C(changed).
  returned: success
  type: list
  elements: dict
  sample:
    - name: isis4.3.0
      prefix: /nfs/cpkgs/anaconda3_linux/envs/isis4.3.0
      frozen: true
      clean: false
      changed: false
      packages:
        isis-4.3.0-0:
          changed: [bin/isis-version, share/isis/VERSION]
          missing: [etc/conda/activate.d/isis-activate.sh]
      unexpected: [share/isis/notes.txt]
      unreadable: []
      repaired: []
      cache_cleared: []
      counts: {packages: 3, damaged_packages: 1, changed: 2, missing: 1, unexpected: 1, unreadable: 0, files: 7,
               bytes: 1098}
counts:
  description:
    - Totals over the audited environments - C(envs), C(packages), C(damaged_packages), C(changed), C(missing),
      C(unexpected), C(unreadable), C(repaired), C(files) (recorded paths checked) and C(bytes) (size of the files
      checked).
  returned: success
  type: dict
  sample: {envs: 2, packages: 5, damaged_packages: 1, changed: 2, missing: 1, unexpected: 1, unreadable: 0,
           repaired: 0, files: 280, bytes: 4194304}
files:
  description: How many recorded paths were checked.
  returned: success
  type: int
  sample: 280
bytes:
  description: The total size of the recorded files checked (hashed, with O(checksums=true)).
  returned: success
  type: int
  sample: 4194304
conda_calls:
  description: How many conda processes the task started (0 unless something was repaired).
  returned: always
  type: int
  sample: 0
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cpkgs.conda.plugins.module_utils._conda_env import (
    CondaError,
    CondaRunner,
    InputError,
    clean_environment,
    parse_umask,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._tree import paths_from_params, tree_argument_spec
from ansible_collections.cpkgs.conda.plugins.module_utils._verify import Verifier, resolve_envs

_COUNT_KEYS = ("packages", "damaged_packages", "changed", "missing", "unexpected", "unreadable", "files", "bytes")


def _totals(results: list) -> dict:
    counts = {key: sum(r["counts"][key] for r in results) for key in _COUNT_KEYS}
    counts["envs"] = len(results)
    counts["repaired"] = sum(len(r["repaired"]) for r in results)
    return counts


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            tree_argument_spec(),
            envs={"type": "list", "elements": "str"},
            checksums={"type": "bool", "default": True},
            unexpected={"type": "bool", "default": True},
            exclude={"type": "list", "elements": "str", "default": []},
            repair={"type": "bool", "default": False},
            channels={"type": "list", "elements": "str", "default": []},
            override_channels={"type": "bool", "default": False},
            offline={"type": "bool", "default": False},
            umask={"type": "raw", "default": "0022"},
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        umask = parse_umask(params["umask"])
        paths = paths_from_params(params)
    except (InputError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    root = paths.root_prefix
    if not paths.installed:
        where = "root_prefix" if params["root_prefix"] else "conda_exe" if params["conda_exe"] else "share_root"
        module.fail_json(msg=f"{where}: no conda tree at {root!r} (no conda-meta)")
    try:
        targets = resolve_envs(params["envs"], root or "", paths.envs_dirs())
    except InputError as exc:
        module.fail_json(msg=str(exc))
    runner = None
    if params["repair"]:
        conda_exe = paths.conda_exe
        if not conda_exe:
            module.fail_json(msg=f"conda_exe: no conda executable in {root}: repair needs one; set conda_exe")
        os.environ.clear()
        os.environ.update(clean_environment(paths.environ))
        os.umask(umask)
        runner = CondaRunner(module.run_command, conda_exe)
    verifier = Verifier(
        runner,
        checksums=params["checksums"],
        unexpected=params["unexpected"],
        exclude=tuple(params["exclude"]),
        repair=params["repair"],
        check_mode=module.check_mode,
        channels=params["channels"],
        override_channels=params["override_channels"],
        offline=params["offline"],
    )
    results = []
    for name, prefix in targets:
        try:
            results.append(verifier.run(name, prefix))
        except CondaError as exc:
            module.fail_json(
                msg=f"{name} ({prefix}): {exc.message}",
                cmd=exc.cmd,
                rc=exc.rc,
                conda_error=exc.details,
                envs=results,
                conda_calls=len(runner.calls) if runner else 0,
            )
        except (InputError, OSError) as exc:
            calls = len(runner.calls) if runner else 0
            module.fail_json(msg=f"{name} ({prefix}): {exc}", envs=results, conda_calls=calls)
    diffs = [result.pop("diff") for result in results if "diff" in result]
    counts = _totals(results)
    module.exit_json(
        changed=any(result["changed"] for result in results),
        clean=all(result["clean"] for result in results),
        envs=results,
        counts=counts,
        files=counts["files"],
        bytes=counts["bytes"],
        diff=diffs,
        conda_calls=len(runner.calls) if runner else 0,
    )


if __name__ == "__main__":
    main()
