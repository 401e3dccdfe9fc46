"""Second stage of the real-conda installer: run by its header with /usr/bin/python3 after unpacking.

The payload is a venv built at a placeholder path (see build_realconda.py). This script, like constructor's
text-mode prefix replacement, writes PREFIX over the placeholder in every text file the build listed, puts
``.condarc`` in place unless one exists, byte-compiles site-packages (the payload has no ``.pyc``: they embed
the source path), writes the ``conda-meta`` records of conda and python, and writes ``conda-meta/history``
LAST, so that a tree with a history is a finished install. Everything it writes respects the umask.
Standard library only.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

STAGE = ".cpkgs-installer"
HISTORY = "conda-meta/history"
PARKED_HISTORY = "conda-meta/.history.installing"


def current_umask() -> int:
    """The process umask (read without changing it for longer than the call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` atomically; ``mode`` (default 0666 minus the umask) is set before the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.cpkgs-tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode if mode is not None else 0o666 & ~current_umask())
    tmp.replace(path)


def sha256_of(path: Path) -> str:
    """The sha256 of a file's content."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def relocate(prefix: Path, placeholder: str, paths: list[str]) -> None:
    """Replace ``placeholder`` with ``prefix`` in each text file of ``paths`` (mode kept)."""
    old, new = placeholder.encode(), str(prefix).encode()
    for rel in paths:
        path = prefix / rel
        data = path.read_bytes()
        if old not in data:
            raise SystemExit(f"error: {rel}: the placeholder is not there (payload and manifest disagree)")
        write_bytes(path, data.replace(old, new), path.stat().st_mode & 0o7777)


def path_entry(prefix: Path, item: dict, relocated: set[str]) -> dict:
    """One ``paths_data`` entry as conda writes it for a linked file (``sha256_in_prefix`` after relocation).

    ``prefix_placeholder`` is left out: the build's placeholder must not survive anywhere in an installed tree.
    """
    rel = item["path"]
    if item["type"] == "softlink":
        return {"_path": rel, "path_type": "softlink"}
    entry = {"_path": rel, "path_type": "hardlink", "sha256": item["sha256"], "size_in_bytes": item["size"]}
    if rel in relocated:
        entry["file_mode"] = "text"
        entry["sha256_in_prefix"] = sha256_of(prefix / rel)
    else:
        entry["sha256_in_prefix"] = item["sha256"]
    return entry


def write_records(prefix: Path, manifest: dict) -> list[str]:
    """The ``conda-meta/<name>-<version>-<build>.json`` of each record of the manifest; returns their dists."""
    meta = prefix / "conda-meta"
    meta.mkdir(exist_ok=True)
    relocated = set(manifest["relocate"])
    dists = []
    for spec in manifest["records"]:
        record = dict(spec["record"])
        items = spec["paths"]
        record["files"] = [item["path"] for item in items]
        record["paths_data"] = {
            "paths_version": 1,
            "paths": [path_entry(prefix, item, relocated) for item in items],
        }
        dist = f"{record['name']}-{record['version']}-{record['build']}"
        for old in meta.glob(f"{record['name']}-*.json"):
            old.unlink()
        write_bytes(meta / f"{dist}.json", (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
        dists.append(f"{record['channel']}::{dist}")
    return dists


def write_history(prefix: Path, dists: list[str], mode: str, installer: str) -> None:
    """Append this install to the (parked) history and write ``conda-meta/history``: the last step."""
    parked = prefix / PARKED_HISTORY
    old = parked.read_text(encoding="utf-8") if parked.is_file() else ""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    entry = f"==> {stamp} <==\n# cmd: {installer} ({mode})\n" + "".join(f"+{d}\n" for d in dists)
    write_bytes(prefix / HISTORY, (old + entry).encode())
    parked.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Finish an unpacked real-conda tree (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", required=True, type=Path)
    parser.add_argument("--mode", choices=("install", "update", "force"), default="install")
    args = parser.parse_args(argv)
    prefix: Path = args.prefix
    stage = prefix / STAGE
    manifest = json.loads((stage / "manifest.json").read_text(encoding="utf-8"))
    relocate(prefix, manifest["placeholder"], manifest["relocate"])
    condarc = prefix / ".condarc"
    if not condarc.exists():
        write_bytes(condarc, (stage / "condarc").read_bytes())
    for name in ("envs", "pkgs", "conda-meta"):
        (prefix / name).mkdir(exist_ok=True)
    compileall.compile_dir(str(prefix / manifest["site_packages"]), quiet=2, workers=0)
    dists = write_records(prefix, manifest)
    shutil.rmtree(stage)
    write_history(prefix, dists, args.mode, manifest["installer"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
