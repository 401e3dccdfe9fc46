# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Edit the keys of one ``.condarc`` on the controller, keeping everything the edit does not own.

Used by the ``cpkgs.conda.condarc`` action plugin. The document is loaded with ruamel.yaml in round-trip
mode, so comments, key order and quoting of the keys that are not touched survive. A setting says what
one key should look like:

* ``state: absent`` removes the key;
* a scalar key (``auto_update_conda``, ``channel_priority`` …) is set to ``value``;
* a list key (``channels``, ``envs_dirs`` …) is changed by ``list_mode``: ``exact`` (the list is
  ``value``), ``add`` (missing items appended), ``prepend`` (the items first, in order: how conda's
  ``--prepend`` moves an item to the top), ``remove`` (the items taken out);
* a mapping key (``proxy_servers``, ``custom_channels``) is set whole (``exact``) or merged (``add``);
* ``final: true/false`` adds or removes conda's ``#!final`` marker on the key's line (null leaves it).

Values are checked against the types conda gives its well-known keys; an unknown key is allowed (conda
plugins add keys) and reported, so the caller can warn.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from typing import Any

try:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.util import load_yaml_guess_indent

    HAS_RUAMEL = True
except ImportError:  # pragma: no cover - reported by the action plugin
    HAS_RUAMEL = False

from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_rules import (
    FINAL_MARKER,
    is_condarc_key,
    is_final_comment,
)

__all__ = [
    "HAS_RUAMEL",
    "KEY_TYPES",
    "CondarcDocument",
    "CondarcEditError",
    "Setting",
    "normalize_settings",
]


# conda's types for the keys people set in shared installations (conda 26 `conda config --describe`).
_STR_LISTS = [
    "channels",
    "default_channels",
    "envs_dirs",
    "pkgs_dirs",
    "create_default_packages",
    "pinned_packages",
    "disallowed_packages",
    "allowlist_channels",
    "denylist_channels",
    "migrated_channel_aliases",
    "repodata_fns",
    "track_features",
    "aggressive_update_packages",
    "plugins.allowlist",
    "plugins.denylist",
]
_BOOLS = [
    "auto_update_conda",
    "notify_outdated_conda",
    "auto_activate",
    "auto_activate_base",
    "always_yes",
    "always_copy",
    "always_softlink",
    "changeps1",
    "add_pip_as_python_dependency",
    "allow_softlinks",
    "allow_non_channel_urls",
    "allow_conda_downgrades",
    "allow_cycles",
    "offline",
    "override_channels_enabled",
    "pip_interop_enabled",
    "quiet",
    "report_errors",
    "rollback_enabled",
    "shortcuts",
    "show_channel_urls",
    "use_index_cache",
    "use_local",
    "use_only_tar_bz2",
    "extra_safety_checks",
    "add_anaconda_token",
    "anaconda_upload",
    "restore_free_channel",
    "unsatisfiable_hints",
    "unsatisfiable_hints_check_depth",
    "register_envs",
    "no_plugins",
    "number_channel_notices",
    "json",
    "debug",
    "verbosity_quiet",
]
_INTS = [
    "auto_stack",
    "remote_max_retries",
    "default_threads",
    "repodata_threads",
    "fetch_threads",
    "verify_threads",
    "execute_threads",
]
_NUMBERS = ["remote_connect_timeout_secs", "remote_read_timeout_secs", "remote_backoff_factor"]
_STRS = [
    "channel_alias",
    "env_prompt",
    "client_ssl_cert",
    "client_ssl_cert_key",
    "default_python",
    "subdir",
    "solver",
    "local_repodata_ttl_unit",
    "target_prefix_override",
    "console",
]
_CHOICES = {
    "channel_priority": ("strict", "flexible", "disabled"),
    "path_conflict": ("clobber", "warn", "prevent"),
    "safety_checks": ("disabled", "warn", "enabled"),
    "solver": ("classic", "libmamba", "rattler"),
}
_MAPS = ["proxy_servers", "custom_channels", "custom_multichannels", "conda_build", "envvars_force_uppercase"]

KEY_TYPES: dict[str, str] = {}
KEY_TYPES.update(dict.fromkeys(_STR_LISTS, "list"))
KEY_TYPES.update(dict.fromkeys(_BOOLS, "bool"))
KEY_TYPES.update(dict.fromkeys(_INTS, "int"))
KEY_TYPES.update(dict.fromkeys(_NUMBERS, "number"))
KEY_TYPES.update(dict.fromkeys(_STRS, "str"))
KEY_TYPES.update(dict.fromkeys(_CHOICES, "str"))
KEY_TYPES.update(dict.fromkeys(_MAPS, "map"))
KEY_TYPES.update({"ssl_verify": "bool_or_str", "local_repodata_ttl": "bool_or_int", "envvars_force_uppercase": "bool"})

_FINAL = FINAL_MARKER


class CondarcEditError(Exception):
    """Bad input or an unreadable file; the message names the parameter or file and the value."""


@dataclass
class Setting:
    """What one key should look like; ``where`` names the parameter for error messages."""

    key: str
    value: Any = None
    state: str = "present"
    list_mode: str = "exact"
    final: bool | None = None
    where: str = ""  # "settings[2]" for an item of the settings list, "" for the one-key options

    def param(self, name: str) -> str:
        """The parameter's name as the user wrote it: ``value`` or ``settings[2].value``."""
        return f"{self.where}.{name}" if self.where else name


def _type_error(setting: Setting, expected: str) -> CondarcEditError:
    return CondarcEditError(
        f"{setting.param('value')}: {setting.key!r} must be {expected}, got {setting.value!r}"
        f" ({type(setting.value).__name__})"
    )


def _check_value(setting: Setting) -> None:
    """Refuse a value of the wrong type for a key whose conda type is known."""
    kind = KEY_TYPES.get(setting.key)
    value = setting.value
    if kind is None or setting.state == "absent":
        return
    checks = {
        "list": lambda: isinstance(value, list) and all(isinstance(item, str) for item in value),
        "bool": lambda: isinstance(value, bool),
        "int": lambda: isinstance(value, int) and not isinstance(value, bool),
        "number": lambda: isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": lambda: isinstance(value, str),
        "map": lambda: isinstance(value, dict),
        "bool_or_str": lambda: isinstance(value, (bool, str)),
        "bool_or_int": lambda: isinstance(value, (bool, int)),
    }
    names = {
        "list": "a list of strings",
        "bool": "a boolean",
        "int": "an integer",
        "number": "a number",
        "str": "a string",
        "map": "a mapping",
        "bool_or_str": "a boolean or a path",
        "bool_or_int": "a boolean or seconds",
    }
    if not checks[kind]():
        raise _type_error(setting, names[kind])
    if setting.key in _CHOICES and value not in _CHOICES[setting.key]:
        raise _type_error(setting, "one of " + ", ".join(_CHOICES[setting.key]))
    if kind != "list" and setting.list_mode in ("prepend", "remove"):
        raise CondarcEditError(
            f"{setting.param('list_mode')}: {setting.list_mode!r} needs a list key, {setting.key!r} is {names[kind]}"
        )


def _builtin(value: Any) -> Any:
    """Plain ``str``/``int``/``list``/``dict`` … of a value: Ansible hands plugins tagged subclasses, which
    ruamel.yaml cannot represent."""
    if isinstance(value, dict):
        return {_builtin(k): _builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_builtin(v) for v in value]
    if isinstance(value, str):
        # str.__str__ copies a subclass into a plain str; str(value) would not (ansible-core 2.16's
        # AnsibleUnsafeText.__str__ returns itself, and its encode/decode round trip stays tagged too)
        return str.__str__(value)
    for kind in (bool, int, float):  # bool first: it is an int
        if isinstance(value, kind):
            return kind(value)
    return value


def _one(raw: dict[str, Any], where: str = "") -> Setting:
    """One setting from options the argument_spec already checked (types, choices, unknown options): what
    it cannot check is checked here, the key rule and the value against the key."""
    setting = Setting(key=_builtin(raw.get("key")), where=where)
    key = setting.key
    if not is_condarc_key(key):
        raise CondarcEditError(
            f"{setting.param('key')}: not a .condarc key: {key!r} (a letter or _ first, then letters, digits, _ . -)"
        )
    setting.state = raw.get("state") or "present"
    setting.list_mode = raw.get("list_mode") or "exact"
    setting.final = raw.get("final")
    setting.value = _builtin(raw.get("value"))
    if setting.state == "present" and setting.value is None:
        raise CondarcEditError(f"{setting.param('value')}: required for {key!r} with state=present")
    if KEY_TYPES.get(key) == "list" and isinstance(setting.value, str):
        setting.value = [setting.value]  # one channel given as a string
    _check_value(setting)
    return setting


def normalize_settings(single: dict[str, Any] | None, many: list[Any] | None) -> list[Setting]:
    """Settings from the module's one-key options (``key``, ``value`` …) or its ``settings`` list."""
    if single and single.get("key") is not None:
        return [_one({k: v for k, v in single.items() if v is not None})]
    if not many:
        raise CondarcEditError("settings: give at least one key (or use key/value)")
    result = []
    seen: set[str] = set()
    for index, raw in enumerate(many):
        where = f"settings[{index}]"
        setting = _one(raw, where)
        if setting.key in seen:
            raise CondarcEditError(f"{where}.key: {setting.key!r} is given twice")
        seen.add(setting.key)
        result.append(setting)
    return result


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain lists and dicts, for comparing and returning."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _new_list(current: list[Any], wanted: list[Any], mode: str) -> list[Any]:
    if mode == "exact":
        return list(wanted)
    if mode == "add":
        return current + [item for item in wanted if item not in current]
    if mode == "prepend":
        return list(wanted) + [item for item in current if item not in wanted]
    return [item for item in current if item not in wanted]  # remove


class CondarcDocument:
    """One ``.condarc``'s text, editable key by key; ``changes`` lists what :meth:`apply` changed."""

    def __init__(self, text: str, path: str = ".condarc") -> None:
        if not HAS_RUAMEL:
            raise CondarcEditError("the condarc action needs the Python package ruamel.yaml on the controller")
        self.original = text
        self.yaml = YAML()  # round-trip: comments, order and quotes survive
        self.yaml.preserve_quotes = True
        # never fold a long value onto a second line: the collection's own reader (_condarc_read) reads one
        # line per value
        self.yaml.width = sys.maxsize
        try:
            # the file's own indentation for new lists; a new file gets conda config's ("  - item"); ruamel.yaml
            # puts an item at least two columns right of its dash
            _data, item_indent, offset = load_yaml_guess_indent(text)
            self.yaml.indent(sequence=item_indent, offset=2 if offset is None else offset)
            data = self.yaml.load(text)
        except (YAMLError, MarkedYAMLError) as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f": line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise CondarcEditError(f"{path}{where}: not valid YAML ({problem}); the file was left as it is") from exc
        if data is None:
            data = CommentedMap()
        if not isinstance(data, CommentedMap):
            raise CondarcEditError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
        self.data = data
        self.changes: list[str] = []

    def value(self, key: str) -> Any:
        """A key's current value as plain Python data."""
        return _plain(self.data.get(key))

    def is_final(self, key: str) -> bool:
        """Whether the key's line ends with ``#!final`` (how conda reads it)."""
        try:
            token = self.data.ca.items[key][2]
        except (KeyError, IndexError, TypeError):
            return False
        return token is not None and is_final_comment(token.value)

    def _set_final(self, key: str, final: bool) -> None:
        if final == self.is_final(key):
            return
        if final:
            # replaces a comment on the key's line: conda reads the marker only as the whole comment
            self.data.yaml_add_eol_comment(_FINAL, key)
        else:
            self.data.ca.items[key][2] = None
        self.changes.append(f"{key}: {'marked' if final else 'unmarked'} #!final")

    def _set(self, key: str, new: Any) -> None:
        if isinstance(new, list):
            node: Any = CommentedSeq(new)
        elif isinstance(new, dict):
            node = CommentedMap(new)
        else:
            node = new
        current = self.data.get(key)
        if isinstance(current, CommentedSeq) and isinstance(new, list):
            # keep the comments of items that stay
            kept = {str(item): (i, current.ca.items.get(i)) for i, item in enumerate(current)}
            for index, item in enumerate(new):
                old = kept.get(str(item))
                if old and old[1] is not None:
                    node.ca.items[index] = old[1]
        self.data[key] = node

    def apply(self, settings: list[Setting]) -> list[str]:
        """Make the document say what the settings say; return the human-readable changes."""
        for setting in settings:
            key = setting.key
            if setting.state == "absent":
                if key in self.data:
                    del self.data[key]
                    self.changes.append(f"{key}: removed")
                continue
            current = self.value(key)
            if isinstance(setting.value, list):
                base = current if isinstance(current, list) else ([] if current is None else [current])
                new: Any = _new_list(base, setting.value, setting.list_mode)
            elif isinstance(setting.value, dict) and setting.list_mode == "add" and isinstance(current, dict):
                new = dict(current, **setting.value)
            else:
                new = setting.value
            if key not in self.data or current != new:
                self._set(key, new)
                self.changes.append(
                    f"{key}: {current!r} -> {new!r}" if current is not None else f"{key}: set to {new!r}"
                )
            if setting.final is not None:
                self._set_final(key, setting.final)
        return self.changes

    def set_final_file(self, final: bool) -> list[str]:
        """Mark (or unmark) every key of the file ``#!final``: conda reads the mark per key only, so this is
        what a final file means to it."""
        for key in list(self.data):
            self._set_final(str(key), final)
        return self.changes

    def dump(self) -> str:
        """The document as text (the original text when nothing changed)."""
        if not self.changes:
            return self.original
        out = io.StringIO()
        if len(self.data) == 0:
            return ""
        self.yaml.dump(self.data, out)
        return out.getvalue()

    def unknown_keys(self, settings: list[Setting]) -> list[str]:
        """The keys among ``settings`` whose conda type this editor does not know."""
        return [setting.key for setting in settings if setting.key not in KEY_TYPES]
