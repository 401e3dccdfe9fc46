# Copyright (c) cpkgs.conda contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the YAML subset that ``.condarc`` files use, with the Python standard library only.

Managed nodes (a macOS system Python, a minimal Linux image) have no YAML library, but facts and the
``conda_env`` module need a few keys of the ``.condarc`` files conda reads (``envs_dirs``, ``channels``,
``pkgs_dirs``). Writing ``.condarc`` files is done on the controller with a real YAML library (the
``condarc`` action plugin); this reader only has to understand what conda's own ``conda config`` writes
and what people commonly write by hand:

* ``key: scalar`` with plain, single- or double-quoted scalars, YAML 1.1 booleans, integers and nulls;
* ``key:`` followed by a block sequence (``- item``, indented or not) or a one-level block mapping;
* flow sequences ``[a, b]`` and flow mappings ``{a: b}`` of scalars;
* comments, including conda's per-key ``#!final`` markers (reported, since they change how files merge).

Anything else raises :class:`CondarcSyntaxError` with the line number, so callers can say which file and
line they could not read instead of guessing.
"""

from __future__ import annotations

import re

from ansible_collections.cpkgs.conda.plugins.module_utils._condarc_rules import is_final_comment

__all__ = ["CondarcSyntaxError", "parse_condarc"]

_BOOLS = {
    "true": True,
    "yes": True,
    "on": True,
    "y": True,
    "false": False,
    "no": False,
    "off": False,
    "n": False,
}
_NULLS = {"", "~", "null"}
_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_KEY = re.compile(r"""^("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z_][A-Za-z0-9_.-]*)\s*:(?:\s+(.*))?$""")


class CondarcSyntaxError(ValueError):
    """A line of a ``.condarc`` this reader cannot read; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.reason = message


def _strip_comment(text: str) -> str:
    """Drop a trailing comment that is not inside quotes."""
    quote = ""
    for i, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or text[i - 1] in " \t"):
            return text[:i].rstrip()
    return text.rstrip()


def _scalar(text: str, lineno: int) -> object:
    """Convert one YAML scalar (already without comment) to a Python value."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        body = text[1:-1]
        if text[0] == "'":
            return body.replace("''", "'")
        try:
            return body.encode("latin-1", "backslashreplace").decode("unicode_escape")
        except UnicodeDecodeError as exc:
            raise CondarcSyntaxError(lineno, f"bad escape in {text}") from exc
    if text.startswith(("'", '"')):
        raise CondarcSyntaxError(lineno, f"unterminated quoted string {text}")
    if text.startswith(tuple("&*!|>%@`")):
        raise CondarcSyntaxError(lineno, f"unsupported YAML construct {text!r}")
    lowered = text.lower()
    if lowered in _NULLS:
        return None
    if lowered in _BOOLS:
        return _BOOLS[lowered]
    if _INT.match(text):
        return int(text)
    return text


def _split_flow(body: str, lineno: int) -> list[str]:
    """Split the inside of a flow collection at top-level commas (quotes respected)."""
    items: list[str] = []
    current = ""
    quote = ""
    for char in body:
        if quote:
            current += char
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current += char
        elif char in "[]{}":
            raise CondarcSyntaxError(lineno, "nested flow collections are not supported")
        elif char == ",":
            items.append(current.strip())
            current = ""
        else:
            current += char
    if quote:
        raise CondarcSyntaxError(lineno, "unterminated quoted string")
    if current.strip():
        items.append(current.strip())
    return items


def _value(text: str, lineno: int) -> object:
    """A value after ``key:`` or ``-``: a flow collection or a scalar."""
    text = text.strip()
    if text.startswith("["):
        if not text.endswith("]"):
            raise CondarcSyntaxError(lineno, "flow sequence must end on the same line")
        return [_scalar(item, lineno) for item in _split_flow(text[1:-1], lineno)]
    if text.startswith("{"):
        if not text.endswith("}"):
            raise CondarcSyntaxError(lineno, "flow mapping must end on the same line")
        result = {}
        for item in _split_flow(text[1:-1], lineno):
            key, sep, val = item.partition(":")
            if not sep:
                raise CondarcSyntaxError(lineno, f"flow mapping item without ':': {item}")
            result[str(_scalar(key, lineno))] = _scalar(val, lineno)
        return result
    return _scalar(text, lineno)


class _Reader:
    """Line-by-line state of :func:`parse_condarc`."""

    def __init__(self) -> None:
        self.data: dict[str, object] = {}
        self.final: set[str] = set()
        self.key: str | None = None  # the top-level key whose block value is being read
        self.block: list[object] | dict[str, object] | None = None

    def feed(self, lineno: int, raw: str) -> None:
        if raw.strip() == "---" and not self.data:
            return
        line = _strip_comment(raw)  # a comment line strips to nothing
        if not line.strip():
            return
        indent = len(line) - len(line.lstrip())
        if "\t" in line[:indent]:
            raise CondarcSyntaxError(lineno, "tabs are not allowed for indentation")
        stripped = line.strip()
        if stripped.startswith("- ") or stripped == "-":
            self._item(lineno, stripped[1:])
            return
        match = _KEY.match(stripped)
        if not match:
            raise CondarcSyntaxError(lineno, f"expected 'key: value', got {stripped!r}")
        name = match.group(1)
        if name.startswith(("'", '"')):
            name = str(_scalar(name, lineno))
        if indent == 0:
            self._top_key(lineno, name, match.group(2), is_final_comment(raw[len(line) :]))
        else:
            self._nested_key(lineno, name, match.group(2))

    def _item(self, lineno: int, text: str) -> None:
        if self.key is None or isinstance(self.block, dict):
            raise CondarcSyntaxError(lineno, "list item outside a list")
        if self.block is None:
            self.block = []
            self.data[self.key] = self.block
        self.block.append(_value(text, lineno))

    def _top_key(self, lineno: int, key: str, rest: str | None, final: bool) -> None:
        if final:
            self.final.add(key)
        self.block = None
        if rest:
            self.data[key] = _value(rest, lineno)
            self.key = None
        else:
            self.data[key] = None
            self.key = key

    def _nested_key(self, lineno: int, name: str, rest: str | None) -> None:
        """An indented 'name: value' belongs to a one-level block mapping under the current key."""
        if self.key is None or isinstance(self.block, list):
            raise CondarcSyntaxError(lineno, f"unexpected indentation before {name!r}")
        if rest is None:
            raise CondarcSyntaxError(lineno, "nested mappings deeper than one level are not supported")
        if self.block is None:
            self.block = {}
            self.data[self.key] = self.block
        self.block[name] = _value(rest, lineno)


def parse_condarc(text: str) -> tuple[dict[str, object], set[str]]:
    """Parse ``.condarc`` text; return ``(data, final_keys)``.

    ``final_keys`` holds the keys marked ``#!final`` (a comment ending the key's line, as conda reads it).
    """
    reader = _Reader()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        reader.feed(lineno, raw)
    return reader.data, reader.final
