"""conda's package entries (LINK/UNLINK/``list --json``) from plain ``conda-meta`` JSON, without py-rattler.

``conda list --json`` is called often; reading the records with the standard library keeps it fast.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["link_entry", "meta_entries"]


def link_entry(name: str, version: str, build: str, build_number: int, *, url: str, subdir: str) -> dict[str, object]:
    """One entry as conda prints it: ``base_url`` = channel URL, ``channel`` = its last path component."""
    base = url.rsplit("/", 2)[0] if url.count("/") >= 2 else url
    return {
        "base_url": base,
        "build_number": int(build_number),
        "build_string": build,
        "channel": base.rstrip("/").rsplit("/", 1)[-1],
        "dist_name": f"{name}-{version}-{build}",
        "name": name,
        "platform": subdir,
        "version": version,
    }


def meta_entries(prefix: str) -> list[dict[str, object]]:
    """The entries of every ``PREFIX/conda-meta/*.json`` record, sorted by name."""
    entries = []
    for path in sorted((Path(prefix) / "conda-meta").glob("*.json")):
        with path.open(encoding="utf-8") as handle:
            record = json.load(handle)
        url = str(record.get("url") or f"{str(record.get('channel') or '').rstrip('/')}/{record.get('subdir')}/x")
        entries.append(
            link_entry(
                str(record["name"]),
                str(record["version"]),
                str(record["build"]),
                int(record.get("build_number") or 0),
                url=url,
                subdir=str(record.get("subdir") or url.rsplit("/", 2)[-2]),
            )
        )
    return sorted(entries, key=lambda entry: str(entry["name"]))
