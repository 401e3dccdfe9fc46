# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options that pick the conda tree, shared by the modules that act on one."""

from __future__ import annotations


class ModuleDocFragment:
    """``extends_documentation_fragment: cpkgs.conda.tree``."""

    DOCUMENTATION = r"""
options:
  share_root:
    description: The directory that holds one tree per OS (the network share).
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
        user's own installation.
    type: path
  conda_exe:
    description:
      - Use this conda executable; its tree (two levels up) is the root prefix unless O(root_prefix) is set.
    type: path
"""
