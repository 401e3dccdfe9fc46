"""Solve, install and run packages of a test-bed channel with py-rattler (the channel's real-world check).

Usage:
  verify_channel.py solve CHANNEL_DIR SPEC... [--platform SUBDIR]    print the solution as JSON
  verify_channel.py install CHANNEL_DIR PREFIX SPEC... [--cache-dir D] install into PREFIX (linux-64), print JSON
  verify_channel.py check CHANNEL_DIR                                  full self-check of the cpkgs-testbed channel

``check`` installs ``isis=3.6.0`` and ``isis=4.3.0`` into temporary prefixes, runs ``bin/isis-version`` and
``bin/libcspice-info`` (they must print the real prefix, which proves the prefix placeholder was rewritten),
checks that the two releases got different libcspice versions, that a copied (relocated) prefix makes the script
fail, and that osx-arm64 solves to isis 4.3.0.

Always run this as its own process: it leaves through ``os._exit`` because py-rattler can crash at interpreter
exit after async calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


class CheckError(Exception):
    """A verification step failed."""


def channel_url(channel_dir: Path) -> str:
    """``file://`` URL of a channel directory."""
    return channel_dir.resolve().as_uri()


async def solve(channel_dir: Path, specs: list[str], platform: str, cache_dir: Path) -> list:
    """Solve SPECS against CHANNEL_DIR for PLATFORM (+ noarch); returns rattler ``RepoDataRecord``s."""
    from rattler import Gateway
    from rattler import solve as rattler_solve

    gateway = Gateway(cache_dir=cache_dir / "repodata")
    return await rattler_solve(
        sources=[channel_url(channel_dir)], specs=specs, gateway=gateway, platforms=[platform, "noarch"]
    )


async def install(channel_dir: Path, prefix: Path, specs: list[str], cache_dir: Path) -> list:
    """Solve SPECS for linux-64 and install them into PREFIX; returns the installed records."""
    from rattler import MatchSpec
    from rattler import install as rattler_install

    records = await solve(channel_dir, specs, "linux-64", cache_dir)
    requested = [MatchSpec(spec)._match_spec for spec in specs]  # TypeError with plain MatchSpec objects
    await rattler_install(
        records, target_prefix=prefix, cache_dir=cache_dir / "pkgs", show_progress=False, requested_specs=requested
    )
    return records


def describe(records: list) -> list[dict[str, str]]:
    """Plain-data view of records, sorted by name."""
    rows = [
        {
            "name": r.name.normalized,
            "version": str(r.version),
            "build": str(r.build),
            "subdir": str(r.subdir),
            "fn": str(r.file_name),
        }
        for r in records
    ]
    return sorted(rows, key=lambda row: row["name"])


def run_tool(prefix: Path, tool: str) -> subprocess.CompletedProcess[str]:
    """Run PREFIX/bin/TOOL with a clean environment."""
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    return subprocess.run(
        [str(prefix / "bin" / tool)], capture_output=True, text=True, env=env, timeout=30, check=False
    )


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckError(message)


def _check_release(channel_dir: Path, work: Path, isis: str, cspice: str) -> list[str]:
    prefix = work / f"env-{isis}"
    records = {row["name"]: row for row in describe(asyncio.run(install(channel_dir, prefix, [f"isis={isis}"], work)))}
    _expect(records["isis"]["version"] == isis, f"isis={isis} solved to {records['isis']}")
    _expect(records["libcspice"]["version"] == cspice, f"isis {isis} got libcspice {records['libcspice']}")
    lines = []
    for tool, label in (("isis-version", f"isis {isis}"), ("libcspice-info", f"libcspice {cspice}")):
        proc = run_tool(prefix, tool)
        want = f"{label} prefix={prefix}"
        _expect(
            proc.returncode == 0 and proc.stdout.strip() == want,
            f"{tool}: rc {proc.returncode} {proc.stdout!r} {proc.stderr!r}",
        )
        lines.append(f"ok: {prefix}/bin/{tool} -> {proc.stdout.strip()}")
    moved = work / f"moved-{isis}"
    shutil.copytree(prefix, moved, symlinks=True)
    proc = run_tool(moved, "isis-version")
    _expect(proc.returncode == 3, f"relocated copy should fail with rc 3, got {proc.returncode} {proc.stdout!r}")
    lines.append(f"ok: relocated copy refuses to run (rc 3): {proc.stderr.strip()}")
    return lines


def check(channel_dir: Path) -> list[str]:
    """Full self-check of the cpkgs-testbed channel; returns report lines, raises CheckError."""
    with tempfile.TemporaryDirectory(prefix="cpkgs-channel-check-") as tmp:
        work = Path(tmp)
        lines = _check_release(channel_dir, work, "3.6.0", "66") + _check_release(channel_dir, work, "4.3.0", "67")
        for platform, expected in (("osx-arm64", "4.3.0"), ("osx-64", "4.3.0")):
            rows = {row["name"]: row for row in describe(asyncio.run(solve(channel_dir, ["isis"], platform, work)))}
            _expect(rows["isis"]["subdir"] == platform and rows["isis"]["version"] == expected, f"{platform}: {rows}")
            lines.append(f"ok: {platform} solves isis to {rows['isis']['fn']} ({platform})")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(description="Solve, install and run test-bed channel packages with py-rattler.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_solve = sub.add_parser("solve")
    p_solve.add_argument("channel", type=Path)
    p_solve.add_argument("specs", nargs="+")
    p_solve.add_argument("--platform", default="linux-64")
    p_install = sub.add_parser("install")
    p_install.add_argument("channel", type=Path)
    p_install.add_argument("prefix", type=Path)
    p_install.add_argument("specs", nargs="+")
    p_install.add_argument("--cache-dir", type=Path)
    p_check = sub.add_parser("check")
    p_check.add_argument("channel", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "check":
            print("\n".join(check(args.channel)))
            return 0
        with tempfile.TemporaryDirectory(prefix="cpkgs-channel-cache-") as tmp:
            cache = getattr(args, "cache_dir", None) or Path(tmp)
            if args.command == "solve":
                records = asyncio.run(solve(args.channel, args.specs, args.platform, cache))
            else:
                records = asyncio.run(install(args.channel, args.prefix.resolve(), args.specs, cache))
            print(json.dumps(describe(records), indent=1))
    except Exception as exc:  # report any failure (solver, install, check) as one clear line and rc 1
        print(f"verify_channel: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # py-rattler can crash at interpreter exit after async calls
