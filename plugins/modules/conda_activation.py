#!/usr/bin/python
# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: conda_activation
short_description: Load conda environments without starting conda (modulefiles, shell entries, Jupyter kernels)
version_added: 0.2.0
description:
  - Generates, from each environment itself, what C(conda activate) does for it, into files that need no conda
    process (an L(Lmod,https://lmod.readthedocs.io) modulefile (Lua), an
    L(Environment Modules,https://modules.readthedocs.io) modulefile (Tcl), a plain shell entry
    C(PREFIX/etc/cpkgs/activate.sh) and C(activate.csh) with a C(deactivate) that restores, and a Jupyter kernelspec
    for environments that have a python).
  - "The activation is conda 26.7.1's for a non-stacked C(conda activate) while no environment is active: C(PATH)
    gets the environment's C(bin) and, when no entry ends in C(condabin), the tree's C(condabin); C(CONDA_PREFIX),
    C(CONDA_SHLVL=1), C(CONDA_DEFAULT_ENV), C(CONDA_PROMPT_MODIFIER); the environment's own variables
    (C(etc/conda/env_vars.d/*.json), then C(env_vars) of C(conda-meta/state), that is C(conda env config vars)),
    where a JSON C(null) unsets the variable as conda's shells do (C(unsetenv) in csh, C(export NAME='') in POSIX
    shells and in the kernelspec) and unloading gives its value before back; and the C(etc/conda/activate.d)
    scripts (C(deactivate.d) at deactivation)."
  - Modulefiles start no shell at load for C(activate.d/*.sh) scripts whose effect is static. The module runs the
    scripts once, in order, in C(bash) when it generates the files, twice (with different C(HOME), working
    directory and user, and in the second run with every variable the scripts name or change preset to a
    sentinel), and writes what they set, unset, prepend and append into the modulefile (C(pushenv),
    C(unsetenv), C(prepend_path), C(append_path)). A script that defines a function or an alias, changes the
    shell (options, traps, umask, directory) or a session variable (C(HOME), C(USER), C(LANG), ...), prints
    something, fails, writes into C(HOME) or the working directory, sets a variable to a value that is not UTF-8
    text, or whose effect differs between the two runs in another way than a prepend or append, is run at each
    load instead, and so is every script after it
    (the result's C(notes) say which and why). Each script's sha256 is in the modulefile, so a changed script
    rewrites it.
  - Scripts that run at each load use Lmod's C(source_sh) (Lmod 8.6 or later) or Environment Modules'
    C(source-sh) (Modules 4.6 or later), which record what a script changes and undo it at unload; C(csh)-only
    scripts always run that way (with tcsh). Variables are set with C(pushenv) (the previous value comes back at
    unload; Environment Modules 5.1 or later, older ones fall back to C(setenv)). Each modulefile belongs to the
    module family C(conda_env), so loading another environment's module swaps the first out, like a non-stacked
    C(conda activate).
  - Each modulefile's first line (the second in a Tcl file, after C(#%Module1.0)) says it is this module's and
    names the environment. When an environment's O(module_name) changes, or the environment is V(absent), the
    module removes the modulefiles with that line for that environment under other names in O(modules_dir);
    files without it (or naming another environment), and symbolic links, are never touched. Kernelspecs
    likewise, by the C(metadata.cpkgs.prefix) of their C(kernel.json), when O(kernel_name) changes.
  - The kernelspec cannot run scripts; the variables the C(activate.d/*.sh) scripts set are found by running
    them once in C(sh) when the kernelspec is generated and written into its C(env).
  - A run compares what it would write with what is there and writes nothing when they are equal; with many
    environments in O(envs) a no-op run is one task that reads a few small files per environment. Files are
    written atomically (a temporary sibling renamed over the target) and are readable by everyone (V(0644),
    directories V(0755)).
  - Standard library only.
author:
  - cpkgs.conda maintainers (@cpkgs)
extends_documentation_fragment:
  - cpkgs.conda.attributes
  - cpkgs.conda.tree
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  name:
    description:
      - An environment name, looked up in the tree's C(envs_dirs) (first C(ROOT/envs)).
      - Exactly one of O(name), O(prefix) and O(envs) is required.
    type: str
  prefix:
    description: An environment's full path.
    type: path
  module_name:
    description:
      - The module name, C(NAME/VERSION) or C(NAME) (the file is O(modules_dir)C(/NAME/VERSION.lua) for Lmod and
        O(modules_dir)C(/NAME/VERSION) for Environment Modules).
      - By default the environment name split where its version starts, C(isis4.3.0) and C(isis-4.3.0) become
        C(isis/4.3.0); a name without a version stays whole.
    type: str
  display_name:
    description:
      - The kernel's display name; by default the module name's C(NAME) upper-cased and its version,
        C(ISIS 4.3.0).
    type: str
  kernel_name:
    description:
      - The kernelspec's directory name under O(kernels_dir); by default the environment name in lower case with
        characters other than C([a-z0-9._-]) replaced by C(-).
    type: str
  envs:
    description:
      - Several environments in one task. Each item takes O(name) or O(prefix), and optionally O(module_name),
        O(display_name), O(kernel_name) and O(state); the other options apply to all.
    type: list
    elements: dict
  state:
    description:
      - V(present) writes the files of O(formats); V(absent) removes them (a kernelspec only when it is this
        module's for that environment).
    type: str
    choices: [present, absent]
    default: present
  formats:
    description:
      - What to generate. V(lmod) and V(tcl) go to O(modules_dir); V(sh) and V(csh) are C(PREFIX/etc/cpkgs/activate.sh),
        C(activate.csh) and C(deactivate.csh); V(kernel) is O(kernels_dir)C(/KERNEL_NAME/kernel.json), only for
        environments with a C(bin/python) (which needs the C(ipykernel) package to start).
      - Files of formats left out are neither written nor removed.
    type: list
    elements: str
    choices: [lmod, tcl, sh, csh, kernel]
    default: [lmod, tcl, sh, csh, kernel]
  modules_dir:
    description:
      - The module tree the site puts on C(MODULEPATH) (C(module use DIR)); Lmod and Environment Modules files live
        side by side in it (Lmod prefers the C(.lua) file, Environment Modules reads only files that start with
        C(#%Module)). By default C(ROOT/modulefiles) of the tree.
    type: path
  kernels_dir:
    description: Where kernelspecs go (a C(kernels) directory of Jupyter's data path).
    type: path
    default: /usr/local/share/jupyter/kernels
  env_prompt:
    description: conda's C(env_prompt) setting (C(CONDA_PROMPT_MODIFIER)); set it when the tree's C(.condarc) does.
    type: str
    default: "({default_env}) "
  changeps1:
    description: conda's C(changeps1); V(false) leaves C(CONDA_PROMPT_MODIFIER) empty and the prompt alone.
    type: bool
    default: true
  envvars_force_uppercase:
    description:
      - conda's C(envvars_force_uppercase) (on by default in conda); upper-cases the environment's own variable
        names.
    type: bool
    default: true
  condabin:
    description:
      - Put the tree's C(condabin) on C(PATH), as conda does at a first activation when no entry ends in
        C(condabin), so the C(conda) command works in the loaded environment.
    type: bool
    default: true
notes:
  - Loading models C(conda activate) from a shell where no conda environment is active (C(CONDA_SHLVL) 0 or
    unset, C(auto_activate_base) off). Over an active environment conda would also replace that environment's
    C(PATH) entries and run its deactivate scripts; modules and the plain entry do not.
  - Modulefiles do not run C(deactivate.d) scripts; unloading undoes what the C(activate.d) scripts changed (as
    captured, or as C(source_sh)/C(source-sh) recorded it).
  - The capture sees what a script does on the host that generates the files; a value taken from that host (its
    name, C(uname)) is written as it is there. Such a script should be kept out of a shared release, or made to
    print nothing and fail (it then runs at each load).
  - After changing an environment (install, update, the C(env_vars)), run the module again; the modulefile of a
    loaded module changes only for the next load.
seealso:
  - module: cpkgs.conda.conda_env
  - name: Loading a release (users' guide)
    description: docs/activation.md of the collection.
    link: https://github.com/cpkgs/conda/blob/main/docs/activation.md
"""

EXAMPLES = r"""
- name: Modulefiles, shell entries and kernels for the releases, in one task
  cpkgs.conda.conda_activation:
    envs:
      - name: isis4.3.0
      - name: isis4.2.0
      - name: isis3.9.1
        state: absent
    modules_dir: /nfs/cpkgs/anaconda3_linux/modulefiles

- name: Only an Lmod modulefile with a site-chosen name
  cpkgs.conda.conda_activation:
    prefix: /nfs/cpkgs/anaconda3_linux/envs/isis-dev
    module_name: isis/dev
    formats: [lmod]

- name: A Jupyter kernel for an analysis environment, in a shared kernels directory
  cpkgs.conda.conda_activation:
    name: astro-py311
    formats: [kernel]
    kernels_dir: /nfs/cpkgs/jupyter/kernels
    display_name: Astro (Python 3.11)
"""

RETURN = r"""
envs:
  description:
    - One result per environment, each with C(name) (the module name), C(prefix), C(state), C(changed), C(files)
      (paths written or removed, or that would be in check mode, including modulefiles of an earlier module name),
      C(outputs) (every file the environment has, by format), C(variables) (what the activation sets besides
      C(PATH)), C(unset) (the variables it unsets) and C(notes) (what was left out and why, and which activate.d
      scripts the modulefiles run at each load).
  returned: always
  type: list
  elements: dict
  sample:
    - name: isis/4.3.0
      prefix: /nfs/cpkgs/anaconda3_linux/envs/isis4.3.0
      state: present
      changed: true
      files: [/nfs/cpkgs/anaconda3_linux/modulefiles/isis/4.3.0.lua]
      outputs:
        lmod: [/nfs/cpkgs/anaconda3_linux/modulefiles/isis/4.3.0.lua]
        sh: [/nfs/cpkgs/anaconda3_linux/envs/isis4.3.0/etc/cpkgs/activate.sh]
      variables: {CONDA_PREFIX: /nfs/cpkgs/anaconda3_linux/envs/isis4.3.0, CONDA_SHLVL: "1"}
      unset: []
      notes: ["/nfs/cpkgs/anaconda3_linux/envs/isis4.3.0: no bin/python, so no Jupyter kernel"]
files:
  description: Every file written or removed (or that would be, in check mode), over all environments.
  returned: always
  type: list
  elements: str
  sample: [/nfs/cpkgs/anaconda3_linux/modulefiles/isis/4.3.0.lua]
warnings:
  description: Environment variables conda would ignore too (reserved names, clashes with conda's own).
  returned: when there are any
  type: list
  elements: str
  sample:
    - "/nfs/cpkgs/anaconda3_linux/envs/isis4.3.0: variable PATH is reserved; conda ignores it, so does this module"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cpkgs.conda.plugins.module_utils._activation import (
    ACTIVATION_OPTIONS,
    ActivationError,
    ActivationManager,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._tree import paths_from_params, tree_argument_spec


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            tree_argument_spec(),
            name={"type": "str"},
            prefix={"type": "path"},
            module_name={"type": "str"},
            display_name={"type": "str"},
            kernel_name={"type": "str"},
            envs={"type": "list", "elements": "dict"},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
            **ACTIVATION_OPTIONS,
        ),
        mutually_exclusive=[
            ("name", "prefix", "envs"),
            ("envs", "module_name"),
            ("envs", "display_name"),
            ("envs", "kernel_name"),
        ],
        required_one_of=[("name", "prefix", "envs")],
        supports_check_mode=True,
    )
    try:
        manager = ActivationManager(module.params, paths_from_params(module.params), module.run_command)
        result = manager.run(check_mode=module.check_mode, diff=module._diff)
    except ActivationError as exc:
        module.fail_json(msg=str(exc), envs=exc.envs)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
