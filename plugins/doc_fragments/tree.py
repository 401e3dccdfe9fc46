# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options that pick the conda tree, shared by the modules that act on one.

The defaults and rules are those of ``plugins/module_utils/_tree.py``; a unit test
(``tests/unit/plugins/module_utils/test_tree.py``) fails when this page and that file disagree.
"""

from __future__ import annotations


class ModuleDocFragment:
    """``extends_documentation_fragment: cpkgs.conda.tree``."""

    DOCUMENTATION = r"""
options:
  share_root:
    description:
      - The directory that holds one tree per OS (the network share). An absolute path.
      - Set it once for every module of the collection with C(module_defaults) of the C(group/cpkgs.conda.conda) action
        group, as C(playbooks/site.yml) does from the inventory variable C(cpkgs_conda_tree_options).
    type: path
    default: /nfs/cpkgs
  tree_names:
    description:
      - Directory name of the tree for each OS under O(share_root), keyed by C(uname -s).
      - Given keys replace the defaults; the others stay.
    type: dict
    default: {Linux: anaconda3_linux, Darwin: anaconda3_macOS}
  root_prefix:
    description:
      - Use this tree instead of the one under O(share_root), for example the local copy on a cluster node or a
        user's own installation. An absolute path.
    type: path
  conda_exe:
    description:
      - Use this conda executable; its tree (two levels up) is the root prefix unless O(root_prefix) is set. An absolute
        path.
    type: path
"""
