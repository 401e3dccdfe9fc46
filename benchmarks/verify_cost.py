"""What the ``cpkgs.conda.conda_verify`` audit costs per 10,000 files and per GB, next to plain tools.

Two synthetic environments are made in a temporary directory, each with one package record that lists every
file (size and sha256, as ``conda-meta/*.json`` does):

* many  - N small files (default 10,000 of 4 KiB): the per-file cost (stat, open, record bookkeeping);
* big   - a few large files (default 8 of 64 MiB): the per-byte cost (hashing).

For each it times (median of 3, files in the page cache after the first pass, so disk speed is left out):

* audit       - ``audit_env`` with checksums (what a full audit does: size, then sha256 in 1 MiB blocks);
* sizes       - ``audit_env`` with ``checksums: false`` (the cheap daily run);
* sha256sum   - ``find -type f -print0 | xargs -0 sha256sum`` over the same files (the anchor for a full audit);
* find-stat   - ``find -type f -printf '%s'`` over the same files (the anchor for a sizes-only audit).

and prints seconds per 10,000 files and per GB with the ratios to the anchors. No figure is asserted.

    .venv/bin/python benchmarks/verify_cost.py [--files 10000] [--file-size 4096] [--big-files 8]
                                               [--big-size 67108864]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _testbed import BUILD

sys.path.insert(0, str(BUILD / "collections"))

from ansible_collections.cpkgs.conda.plugins.module_utils._verify import audit_env


def make_env(prefix: Path, count: int, size: int) -> None:
    """``count`` files of ``size`` bytes (distinct contents) and a record listing them."""
    (prefix / "conda-meta").mkdir(parents=True)
    paths = []
    block = os.urandom(min(size, 1 << 20))
    for index in range(count):
        rel = f"share/data/{index // 1000:03d}/f{index:06d}"
        target = prefix / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        head = index.to_bytes(8, "little")
        with open(target, "wb") as handle:
            written = 0
            while written < size:
                chunk = (head + block)[: size - written] if written == 0 else block[: size - written]
                handle.write(chunk)
                digest.update(chunk)
                written += len(chunk)
        paths.append({"_path": rel, "path_type": "hardlink", "sha256": digest.hexdigest(), "size_in_bytes": size})
    record = {"name": "synthetic", "version": "1", "build": "0", "paths_data": {"paths_version": 1, "paths": paths}}
    (prefix / "conda-meta" / "synthetic-1-0.json").write_text(json.dumps(record))
    (prefix / "conda-meta" / "history").write_text("")


def median_time(func, repeat: int = 3) -> float:
    samples = []
    for _sample in range(repeat):
        started = time.perf_counter()
        func()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def shell(cmd: str, cwd: Path) -> None:
    subprocess.run(["/bin/sh", "-c", cmd], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def measure(prefix: Path) -> dict:
    data = prefix / "share"
    shell("find . -type f -print0 | xargs -0 cat > /dev/null", data)  # warm the page cache
    figures = {
        "audit": median_time(lambda: audit_env("bench", str(prefix))),
        "sizes": median_time(lambda: audit_env("bench", str(prefix), checksums=False)),
        "sha256sum": median_time(lambda: shell("find . -type f -print0 | xargs -0 sha256sum", data)),
        "find-stat": median_time(lambda: shell("find . -type f -printf '%s\\n'", data)),
    }
    audit = audit_env("bench", str(prefix))
    assert audit.clean, audit.result()  # the records match: a sanity check of the set-up, not of timing
    figures["files"] = audit.files
    figures["bytes"] = audit.bytes
    return figures


def report(label: str, figures: dict) -> None:
    files, gigabytes = figures["files"], figures["bytes"] / 1e9
    print(f"\n{label}: {files} files, {figures['bytes'] / 2**20:.0f} MiB")
    print(f"  {'':<10} {'seconds':>8} {'s/10k files':>12} {'s/GB':>8}  ratio")
    for key, anchor in (("audit", "sha256sum"), ("sha256sum", None), ("sizes", "find-stat"), ("find-stat", None)):
        seconds = figures[key]
        ratio = f"{seconds / figures[anchor]:.2f}x {anchor}" if anchor else "(anchor)"
        print(f"  {key:<10} {seconds:8.3f} {seconds / files * 10000:12.3f} {seconds / gigabytes:8.3f}  {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--file-size", type=int, default=4096)
    parser.add_argument("--big-files", type=int, default=8)
    parser.add_argument("--big-size", type=int, default=64 << 20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cpkgs-verify-cost-") as tmp:
        many, big = Path(tmp) / "many", Path(tmp) / "big"
        make_env(many, args.files, args.file_size)
        make_env(big, args.big_files, args.big_size)
        report("many small files", measure(many))
        report("few large files", measure(big))


if __name__ == "__main__":
    main()
