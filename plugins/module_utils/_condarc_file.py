# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One ``.condarc`` as the condarc action plugin sees it: read (text, sha1, whether its owner, group or mode
would change), and later written whole, atomically, only if it is still what was read.

The condarc module reads and writes with it; conda_facts reads the system file with it for the same action
(its O(system_condarc) option), so a run whose look at the tree already read that file needs no second read.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.cpkgs.conda.plugins.module_utils._files import (
    FileError,
    read_file,
    resolve_owned_link,
    write_file,
)

__all__ = ["READ_KEYS", "CondarcIO"]

# What a read reports, for the action plugin (which checks a read handed to it for these keys).
READ_KEYS = ("path", "exists", "directory_exists", "content", "sha1", "attributes_differ")


def _sha1(data: bytes | None) -> str:
    return "" if data is None else hashlib.sha1(data).hexdigest()  # noqa: S324 - a change check, not security


class CondarcIO:
    """Reads the file for the action plugin, and later writes its new text atomically.

    ``module`` is the AnsibleModule, ``file_params`` the owner, group and mode (the file options of
    ``load_file_common_arguments``) the file should have. Every method runs inside :func:`acting_as` of the
    account doing the I/O (the caller's: the user of the condarc module's scope=user when it runs as root; the
    tree's owner for conda_facts' read of the system file), raises :class:`FileError` and leaves failing to the
    caller. A symbolic link at the path is followed only when the account doing the I/O owns it and its
    directory.
    """

    def __init__(self, module: Any, path: str, file_params: dict) -> None:
        self.module = module
        self.path = path
        self.file_params = file_params
        self._real: str | None = None

    @property
    def real(self) -> str:
        """The file the I/O goes to: the path, or the target of a link that may be followed."""
        if self._real is None:
            self._real = resolve_owned_link(self.path)
        return self._real

    def _named(self, exc: FileError) -> FileError:
        """The error, saying which link led to the file when the path is one."""
        if self._real is None or self._real == self.path:
            return exc
        return FileError(self.path, f"{exc} ({self.path} is a symbolic link to it)")

    def read(self) -> bytes | None:
        try:
            return read_file(self.real)
        except FileError as exc:
            raise self._named(exc) from None

    def file_args(self) -> dict:
        return self.module.load_file_common_arguments(self.file_params, path=self.real)

    def attributes_differ(self) -> bool:
        """Whether owner/group/mode would change (asked in check mode, so nothing is touched)."""
        if not os.path.lexists(self.real):
            return False
        saved = self.module.check_mode
        self.module.check_mode = True
        try:
            return self.module.set_fs_attributes_if_different(self.file_args(), False)
        finally:
            self.module.check_mode = saved

    def report(self) -> dict:
        """The first call of the action plugin: the file as it is."""
        data = self.read()
        return {
            "changed": False,
            "path": self.path,
            "exists": data is not None,
            "directory_exists": os.path.isdir(os.path.dirname(self.real) or "."),
            "content": to_native(data or b"", errors="surrogate_or_strict"),
            "sha1": _sha1(data),
            "attributes_differ": self.attributes_differ(),
        }

    def write(self, content: str, expected_sha1: str) -> dict:
        """Replace the file with ``content`` unless it changed since it was read; then set its attributes."""
        current = self.read()
        result: dict = {"path": self.path, "changed": False}
        if _sha1(current) != expected_sha1:
            raise FileError(
                self.path,
                f"{self.path} changed while this task ran (expected sha1 {expected_sha1 or 'no file'}); "
                "run the task again",
            )
        data = to_bytes(content)
        if current != data:
            if current is not None and self.module.params["backup"]:
                result["backup_file"] = self.module.backup_local(self.real)
            try:
                write_file(self.real, data)
            except FileError as exc:
                raise self._named(exc) from None
            result["changed"] = True
        result["changed"] = self.module.set_fs_attributes_if_different(self.file_args(), result["changed"])
        return result
