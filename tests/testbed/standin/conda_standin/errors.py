"""conda's error shapes: rc 1 and ``{caused_by, error, exception_name, exception_type, message, ...}``."""

from __future__ import annotations

import os

__all__ = [
    "CondaMultiError",
    "CondaStandinError",
    "condamulti",
    "dry_run_exit",
    "environment_is_frozen",
    "environment_location_not_found",
    "environment_name_not_found",
    "environment_not_writable",
    "not_writable",
    "packages_not_found",
    "packages_not_found_in_channels",
    "unsatisfiable",
]

_SEARCH_HINT = (
    "\n\nTo search for alternate channels that may provide the conda package you're\n"
    "looking for, navigate to\n\n    https://anaconda.org\n\nand use the search bar at the top of the page.\n"
)


class CondaStandinError(Exception):
    """An error reported the way conda reports it (``exception_name`` is conda's exception class name)."""

    def __init__(self, exception_name: str, message: str, rc: int = 1, **extra: object) -> None:
        super().__init__(message)
        self.exception_name = exception_name
        self.message = message
        self.rc = rc
        self.extra = extra

    def to_json(self) -> dict[str, object]:
        """The JSON document conda prints on stdout with ``--json`` (keys sorted like conda's)."""
        doc: dict[str, object] = {
            "caused_by": "None",
            "error": f"{self.exception_name}: {self.message}",
            "exception_name": self.exception_name,
            "exception_type": f"<class 'conda.exceptions.{self.exception_name}'>",
            "message": self.message,
        }
        doc.update(self.extra)
        return dict(sorted(doc.items()))

    def to_text(self) -> str:
        """The text conda prints on stderr without ``--json``."""
        return f"\n{self.exception_name}: {self.message}\n"


def _bullets(items: list[str]) -> str:
    return "".join(f"\n  - {item}" for item in items)


def packages_not_found_in_channels(packages: list[str], channel_urls: list[str]) -> CondaStandinError:
    """``PackagesNotFoundInChannelsError`` (create_fail.json)."""
    message = (
        f"The following packages are not available from current channels:\n{_bullets(packages)}\n\n"
        f"Current channels:\n{_bullets(channel_urls)}{_SEARCH_HINT}"
    )
    return CondaStandinError(
        "PackagesNotFoundInChannelsError",
        message,
        channel_urls=channel_urls,
        channels_formatted=_bullets(channel_urls),
        packages=packages,
        packages_formatted=_bullets(packages),
    )


def packages_not_found(packages: list[str], prefix: str) -> CondaStandinError:
    """``PackagesNotFoundError``: ``remove``/``update`` of packages that are not installed."""
    message = f"The following packages are missing from the target environment:\n{_bullets(packages)}\n"
    return CondaStandinError(
        "PackagesNotFoundError",
        message,
        channel_urls=[],
        channels_formatted="",
        packages=packages,
        packages_formatted=_bullets(packages),
        prefix=prefix,
    )


def unsatisfiable(detail: str) -> CondaStandinError:
    """``UnsatisfiableError`` with the solver's explanation."""
    message = f"The following specifications were found to be incompatible with each other:\n\n{detail}\n"
    return CondaStandinError("UnsatisfiableError", message, bad_deps=[])


def environment_location_not_found(location: str) -> CondaStandinError:
    """``EnvironmentLocationNotFound`` (remove_missing.json)."""
    return CondaStandinError("EnvironmentLocationNotFound", f"Not a conda environment: {location}", location=location)


def environment_name_not_found(name: str) -> CondaStandinError:
    """``EnvironmentNameNotFound`` for ``-n NAME`` that names no env."""
    message = (
        f"Could not find conda environment: {name}\n"
        "You can list all discoverable environments with `conda info --envs`.\n"
    )
    return CondaStandinError("EnvironmentNameNotFound", message, environment_name=name)


def environment_not_writable(prefix: str) -> CondaStandinError:
    """``EnvironmentNotWritableError``: the user cannot write the target env."""
    uid, gid = os.geteuid(), os.getegid()
    message = (
        "The current user does not have write permissions to the target environment.\n"
        f"  environment location: {prefix}\n  uid: {uid}\n  gid: {gid}\n"
    )
    return CondaStandinError("EnvironmentNotWritableError", message, environment_location=prefix, gid=gid, uid=uid)


def not_writable(path: str) -> CondaStandinError:
    """``NotWritableError``: a path the operation needs (new prefix's parent, package cache) is not writable."""
    uid, gid = os.geteuid(), os.getegid()
    message = (
        "The current user does not have write permissions to a required path.\n"
        f"  path: {path}\n  uid: {uid}\n  gid: {gid}\n\n"
        "If you feel that permissions on this path are set incorrectly, you can manually\n"
        f"change them by executing\n\n  $ sudo chown {uid}:{gid} {path}\n\n"
        "In general, it's not advisable to use 'sudo conda'.\n"
    )
    return CondaStandinError("NotWritableError", message, errno=13, gid=gid, path=path, uid=uid)


def environment_is_frozen(prefix: str, reason: str = "") -> CondaStandinError:
    """``EnvironmentIsFrozenError`` (CEP 22: ``PREFIX/conda-meta/frozen`` exists)."""
    message = f"Cannot modify '{prefix}'. The environment is marked as frozen. "
    if reason:
        indented = "\n".join(f"    {line}" for line in reason.splitlines())
        message += f"Reason:\n\n{indented}\n\n"
    message += "You can bypass these protections with the `--override-frozen` flag, at your own risk."
    return CondaStandinError("EnvironmentIsFrozenError", message)


class CondaMultiError(CondaStandinError):
    """conda's ``CondaMultiError``: ``{error, errors: [...], exception_name, exception_type}`` (no ``message``)."""

    def __init__(self, errors: list[CondaStandinError]) -> None:
        super().__init__("CondaMultiError", "Multiple Errors Encountered.")
        self.errors = errors

    def to_json(self) -> dict[str, object]:
        """The document conda prints: the inner errors' documents under ``errors``."""
        return {
            "error": self.message,
            "errors": [error.to_json() for error in self.errors],
            "exception_name": "CondaMultiError",
            "exception_type": "<class 'conda.CondaMultiError'>",
        }

    def to_text(self) -> str:
        """Each inner error's text."""
        return "".join(error.to_text() for error in self.errors)


def condamulti(errors: list[CondaStandinError]) -> CondaMultiError:
    """A ``CondaMultiError`` holding ``errors``."""
    return CondaMultiError(errors)


def dry_run_exit() -> CondaStandinError:
    """``DryRunExit`` (text mode only; rc 0)."""
    return CondaStandinError("DryRunExit", "Dry run. Exiting.", rc=0)
