"""Build the local conda channels of the cpkgs test bed (real ``.conda`` packages, fake software).

Usage: ``build_channel.py OUTDIR [--force] [--verify]``

Writes ``OUTDIR/cpkgs-testbed`` and ``OUTDIR/contract`` (see ``channel_recipes.py``), each with the subdirs
linux-64, noarch, osx-64 and osx-arm64 and a ``repodata.json`` in each (indexed with py-rattler). Packages
are byte-identical between builds (fixed timestamps and mtimes, sorted members, no owner names). The build is
cached: ``OUTDIR/.recipe-hash`` holds a hash of the recipes, this source and the tool versions, and a run
with an unchanged hash does nothing. ``--force`` rebuilds; ``--verify`` also installs packages with py-rattler
into temporary prefixes and runs their prefix-checking scripts (see ``verify_channel.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from channel_recipes import PREFIX_PLACEHOLDER, SUBDIRS, Recipe, channels, file_bytes  # noqa: E402

HASH_FILE = ".recipe-hash"
LOCK_FILE = ".lock"
STAGING_DIR = ".staging"
SOURCES = ("build_channel.py", "channel_recipes.py")
TOOL_DISTRIBUTIONS = ("conda-package-streaming", "backports.zstd", "py-rattler")
ZSTD_LEVEL = 19
#: Packages whose payload exceeds LARGE_PAYLOAD bytes are compressed at ZSTD_LEVEL_LARGE: their bulk is
#: incompressible by design, and level 19 would spend seconds per MB finding that out.
LARGE_PAYLOAD = 1 << 20
ZSTD_LEVEL_LARGE = 3
ARCH_PLATFORM = {"linux-64": ("x86_64", "linux"), "osx-64": ("x86_64", "osx"), "osx-arm64": ("arm64", "osx")}


class BuildError(Exception):
    """A channel could not be built."""


# --------------------------------------------------------------------------------------------- hashing / cache
def _tool_versions() -> dict[str, str]:
    versions = {}
    for dist in TOOL_DISTRIBUTIONS:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "absent"
    return versions


def recipe_hash() -> str:
    """Hash of the recipe data, the builder sources and the versions of the packaging tools."""
    digest = hashlib.sha256()
    data = {name: [asdict(r) for r in recipes] for name, recipes in channels().items()}
    digest.update(json.dumps({"recipes": data, "tools": _tool_versions()}, sort_keys=True).encode())
    for source in SOURCES:
        path = HERE / source
        digest.update(source.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
    return digest.hexdigest()


def is_up_to_date(outdir: Path, wanted: str) -> bool:
    """True if OUTDIR holds complete channels built from the recipes hashing to WANTED."""
    hash_file = outdir / HASH_FILE
    if not hash_file.is_file() or hash_file.read_text().strip() != wanted:
        return False
    return all((outdir / ch / sd / "repodata.json").is_file() for ch in channels() for sd in SUBDIRS)


@contextlib.contextmanager
def locked(outdir: Path) -> Iterator[None]:
    """Hold an exclusive lock on OUTDIR so concurrent builders do not interleave."""
    with open(outdir / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------------- package files
def _json_bytes(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def index_json(recipe: Recipe) -> dict[str, object]:
    """The ``info/index.json`` of a recipe, with the keys conda-build writes."""
    data: dict[str, object] = {
        "build": recipe.build,
        "build_number": recipe.build_number,
        "depends": list(recipe.depends),
        "license": recipe.license,
        "name": recipe.name,
        "subdir": recipe.subdir,
        "timestamp": recipe.timestamp,
        "version": recipe.version,
    }
    if recipe.noarch:
        data.update(arch=None, platform=None, noarch="generic")
    else:
        arch, platform = ARCH_PLATFORM[recipe.subdir]
        data.update(arch=arch, platform=platform)
    return data


def package_members(recipe: Recipe) -> dict[str, tuple[bytes, int]]:
    """All members of the package (payload and ``info/``) as ``{path: (content, mode)}``."""
    members: dict[str, tuple[bytes, int]] = {}
    paths = []
    has_prefix = []
    for pkg_file in sorted(recipe.files, key=lambda f: f.path):
        content = file_bytes(pkg_file)
        if pkg_file.has_prefix and PREFIX_PLACEHOLDER.encode() not in content:
            raise BuildError(f"{recipe.filename}: {pkg_file.path} is marked has_prefix but lacks the placeholder")
        members[pkg_file.path] = (content, 0o755 if pkg_file.executable else 0o644)
        entry: dict[str, object] = {
            "_path": pkg_file.path,
            "path_type": "hardlink",
            "sha256": hashlib.sha256(content).hexdigest(),
            "size_in_bytes": len(content),
        }
        if pkg_file.has_prefix:
            entry.update(file_mode="text", prefix_placeholder=PREFIX_PLACEHOLDER)
            has_prefix.append(f"{PREFIX_PLACEHOLDER} text {pkg_file.path}\n")
        paths.append(entry)
    about = {"home": "https://example.invalid/cpkgs-testbed", "license": recipe.license, "summary": recipe.summary}
    members["info/about.json"] = (_json_bytes(about), 0o644)
    members["info/files"] = ("".join(f"{p['_path']}\n" for p in paths).encode(), 0o644)
    members["info/index.json"] = (_json_bytes(index_json(recipe)), 0o644)
    members["info/paths.json"] = (_json_bytes({"paths": paths, "paths_version": 1}), 0o644)
    if has_prefix:
        members["info/has_prefix"] = ("".join(has_prefix).encode(), 0o644)
    return members


def _normalize_zip(path: Path, timestamp_ms: int) -> None:
    """Rewrite the outer zip with a fixed date for every member (zipfile stamps the current time)."""
    import zipfile

    date_time = time.gmtime(timestamp_ms // 1000)[:6]
    with zipfile.ZipFile(path) as src:
        members = [(info, src.read(info)) for info in src.infolist()]
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "x", compression=zipfile.ZIP_STORED) as dst:
        for info, data in members:
            fixed = zipfile.ZipInfo(info.filename, date_time=date_time)
            fixed.compress_type = zipfile.ZIP_STORED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, data)
    tmp.replace(path)


def build_package(recipe: Recipe, subdir_dir: Path) -> Path:
    """Write ``SUBDIR_DIR/<name>-<version>-<build>.conda`` deterministically and return its path."""
    import tarfile

    from conda_package_streaming.create import conda_builder

    stem = recipe.filename[: -len(".conda")]
    mtime = recipe.timestamp // 1000
    members = package_members(recipe)
    level = ZSTD_LEVEL_LARGE if sum(len(member[0]) for member in members.values()) > LARGE_PAYLOAD else ZSTD_LEVEL
    with conda_builder(stem, subdir_dir, compression_level=level, compression_threads=1) as tar:
        for name, (content, mode) in sorted(members.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), mode, mtime
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(content))
    path = subdir_dir / recipe.filename
    _normalize_zip(path, recipe.timestamp)
    return path


# --------------------------------------------------------------------------------------------- channels
def empty_repodata(subdir: str) -> dict[str, object]:
    """repodata.json of a subdir without packages."""
    return {"info": {"subdir": subdir}, "packages": {}, "packages.conda": {}, "repodata_version": 1}


def index_channel(channel_dir: Path) -> None:
    """Index CHANNEL_DIR with py-rattler and make sure every subdir has a repodata.json."""
    import asyncio

    from rattler.index import index_fs

    asyncio.run(index_fs(channel_dir, write_zst=False, write_shards=False, force=True))
    shutil.rmtree(channel_dir / ".tmp", ignore_errors=True)  # rattler's scratch dir
    for subdir in SUBDIRS:
        repodata = channel_dir / subdir / "repodata.json"
        data = json.loads(repodata.read_text()) if repodata.is_file() else empty_repodata(subdir)
        repodata.write_text(json.dumps(_pin_indexed_timestamps(data), separators=(",", ":")))


def _pin_indexed_timestamps(repodata: dict) -> dict:
    """Replace the indexer's wall-clock ``indexed_timestamp`` by the build timestamp (deterministic repodata)."""
    for key in ("packages", "packages.conda"):
        for record in repodata.get(key, {}).values():
            if "indexed_timestamp" in record:
                record["indexed_timestamp"] = record["timestamp"]
    return repodata


def build_channel(channel_dir: Path, recipes: list[Recipe]) -> dict[str, int]:
    """Build all RECIPES into CHANNEL_DIR and index it; return the package count per subdir."""
    counts = dict.fromkeys(SUBDIRS, 0)
    for subdir in SUBDIRS:
        (channel_dir / subdir).mkdir(parents=True, exist_ok=True)
    for recipe in recipes:
        if recipe.subdir not in counts:
            raise BuildError(f"{recipe.filename}: unknown subdir {recipe.subdir!r}")
        target = channel_dir / recipe.subdir / recipe.filename
        if target.exists():
            raise BuildError(f"duplicate package {recipe.subdir}/{recipe.filename}")
        build_package(recipe, channel_dir / recipe.subdir)
        counts[recipe.subdir] += 1
    index_channel(channel_dir)
    return counts


def build_all(outdir: Path, wanted: str) -> dict[str, dict[str, int]]:
    """Build every channel into a staging dir, then move them into OUTDIR and record the hash."""
    staging = outdir / STAGING_DIR
    shutil.rmtree(staging, ignore_errors=True)
    (outdir / HASH_FILE).unlink(missing_ok=True)
    summary = {name: build_channel(staging / name, recipes) for name, recipes in channels().items()}
    for name in summary:
        final = outdir / name
        if final.exists():
            old = outdir / f".old-{name}"
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
            shutil.rmtree(old)
        (staging / name).rename(final)
    staging.rmdir()
    (outdir / HASH_FILE).write_text(wanted + "\n")
    return summary


def run_verify(outdir: Path) -> None:
    """Run ``verify_channel.py check`` in a child process (py-rattler may crash at interpreter exit)."""
    cmd = [sys.executable, str(HERE / "verify_channel.py"), "check", str(outdir / "cpkgs-testbed")]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        raise BuildError(f"verification failed (rc {proc.returncode}):\n{proc.stderr.strip()}")


# --------------------------------------------------------------------------------------------- CLI
def _format_summary(summary: dict[str, dict[str, int]]) -> str:
    lines = []
    for name, counts in summary.items():
        detail = ", ".join(f"{sd} {n}" for sd, n in counts.items())
        lines.append(f"  {name}: {sum(counts.values())} packages ({detail})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(description="Build the local conda channels of the cpkgs test bed.")
    parser.add_argument("outdir", type=Path, help="directory receiving the channels")
    parser.add_argument("--force", action="store_true", help="rebuild even if the recipe hash is unchanged")
    parser.add_argument("--verify", action="store_true", help="install with py-rattler and run the scripts")
    args = parser.parse_args(argv)
    start = time.monotonic()
    outdir: Path = args.outdir.resolve()
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        wanted = recipe_hash()
        if args.force or not is_up_to_date(outdir, wanted):
            with locked(outdir):
                if args.force or not is_up_to_date(outdir, wanted):
                    summary = build_all(outdir, wanted)
                    print(f"built channels in {outdir} ({time.monotonic() - start:.2f} s, hash {wanted[:12]}):")
                    print(_format_summary(summary))
                else:
                    print(f"channels up to date in {outdir} (built meanwhile by another process)")
        else:
            print(f"channels up to date in {outdir} (hash {wanted[:12]}, {time.monotonic() - start:.3f} s)")
        if args.verify:
            run_verify(outdir)
    except Exception as exc:  # any failure must end in a clear message and rc 1
        print(f"build_channel: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # py-rattler can crash at interpreter exit (seen ~5% after async calls): leave without finalizers.
    os._exit(code)
