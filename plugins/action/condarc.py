# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``cpkgs.conda.condarc``: the YAML is edited on the controller.

1. Validate the options and the settings here, before anything runs on the host.
2. Run the module once to find the file (by scope) and read it; or take the read a look at the tree made for this
   task (internal option ``_read``: ``conda_facts``' ``system_condarc`` result, which the ``conda_tree`` role
   hands over while the tree is unchanged since), and start no module when nothing is to change.
3. Edit the text with ruamel.yaml (comments and order kept); no change means no write.
4. Outside check mode, run the module again with the new text; it writes atomically, and only if the
   file is still what was read in step 2.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleActionFail
from ansible.module_utils.basic import FILE_COMMON_ARGUMENTS
from ansible.plugins.action import ActionBase

from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_args import (
    MUTUALLY_EXCLUSIVE,
    REQUIRED_ONE_OF,
    argument_spec,
)
from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_file import READ_KEYS
from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_rules import written_by_conda_env
from ansible_collections.cpkgs.conda.plugins.plugin_utils._condarc_edit import (
    HAS_RUAMEL,
    CondarcDocument,
    CondarcEditError,
    normalize_settings,
)

_MODULE = "cpkgs.conda.condarc"
_ONE_KEY = ("key", "value", "state", "list_mode", "final")


class ActionModule(ActionBase):
    """Edit one ``.condarc`` on the controller, read and write it on the host."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        args, settings = self._validated()
        module_args = {k: v for k, v in self._task.args.items() if k not in ("_content", "_expected_sha1", "_read")}
        read = self._read(args.get("_read"), module_args, task_vars)
        if read.get("failed"):
            return dict(result, **read)
        path = read["path"]
        if written_by_conda_env(read["content"]):
            raise AnsibleActionFail(
                f"{path} is written whole by cpkgs.conda.conda_env (its condarc option, first line"
                f" {read['content'].splitlines()[0]!r}): set these keys there; one file, one owner"
            )
        try:
            document = CondarcDocument(read["content"], path)
            changes = document.apply(settings)
            if args.get("final_file") is not None:
                changes = document.set_final_file(args["final_file"])
        except CondarcEditError as exc:
            raise AnsibleActionFail(str(exc)) from None
        new_text = document.dump()
        unknown = document.unknown_keys(settings)
        if unknown:
            result["warnings"] = [
                f"{path}: key(s) {', '.join(unknown)} are not among the conda keys this module knows; "
                "written as given (conda plugins add keys of their own)"
            ]
        result.update(path=path, changes=changes, key_values={s.key: document.value(s.key) for s in settings})
        result["changed"] = bool(changes) or read["attributes_differ"]
        if self._task.diff and changes:
            result["diff"] = {
                "before": read["content"],
                "after": new_text,
                "before_header": path if read["exists"] else f"{path} (absent)",
                "after_header": path,
            }
        if not read["exists"] and changes and not read["directory_exists"]:
            if not self._task.check_mode:
                raise AnsibleActionFail(f"cannot create {path}: its directory does not exist")
            result.setdefault("warnings", []).append(f"{path}: its directory does not exist yet")
        if not result["changed"] or self._task.check_mode:
            return result
        write_args = dict(module_args, _content=new_text, _expected_sha1=read["sha1"])
        written = self._execute_module(_MODULE, module_args=write_args, task_vars=task_vars)
        if written.get("failed"):
            return dict(result, **dict(written, changed=False))  # nothing was written
        if "backup_file" in written:
            result["backup_file"] = written["backup_file"]
        return result

    def _read(self, given: object, module_args: dict, task_vars: dict) -> dict:
        """The file as it is: the read handed over in ``_read``, or the module's (a failed read as the module's
        result)."""
        if given is None:
            return self._execute_module(_MODULE, module_args=module_args, task_vars=task_vars)
        if not isinstance(given, Mapping) or any(key not in given for key in READ_KEYS):
            expected = ", ".join(READ_KEYS)
            raise AnsibleActionFail(f"_read: a read of conda_facts' system_condarc ({expected}), got {given!r}")
        return dict(given)

    def _validated(self) -> tuple:
        """The validated options and the settings, or a failure naming the parameter, before anything runs."""
        spec = dict(argument_spec(), _read={"type": "raw"}, **FILE_COMMON_ARGUMENTS)
        _validation, args = self.validate_argument_spec(
            argument_spec=spec,
            mutually_exclusive=MUTUALLY_EXCLUSIVE,
            required_one_of=REQUIRED_ONE_OF,
        )
        if not HAS_RUAMEL:
            raise AnsibleActionFail("cpkgs.conda.condarc needs the Python package ruamel.yaml on the controller")
        try:
            if args.get("key") is None and not args.get("settings") and args.get("final_file") is not None:
                return args, []  # only the file's #!final marks change
            return args, normalize_settings({name: args.get(name) for name in _ONE_KEY}, args.get("settings"))
        except CondarcEditError as exc:
            raise AnsibleActionFail(str(exc)) from None
