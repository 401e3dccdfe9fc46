"""What the builder's ``pkgs_dirs`` costs on the share: package cache on the tree's filesystem or elsewhere.

Usage: ``.venv/bin/python benchmarks/share_links.py [--releases N] [--tree-dir DIR] [--other-dir DIR]
[--installer PATH] [--keep]``

conda links each package's files from its package cache (``pkgs_dirs``) into every environment that uses the
package: with a hard link when the cache and the environment are on one filesystem, with a copy when they are
not. The release environments of a site share their large dependencies, so where the builder keeps its package
cache decides whether the share holds those dependencies once or once per release. This benchmark builds the
release environments of the test bed (``isis3.6.0`` ... ``isis4.3.0``, from the local channel) twice, each time
into a fresh tree installed by the installer:

* (a) ``pkgs_dirs`` on the tree's filesystem: the tree's own ``pkgs/`` (conda's default);
* (b) ``pkgs_dirs`` on another filesystem (``--other-dir``, default ``/dev/shm``, a tmpfs), as when the builder
  keeps its cache on local disk and the tree is on the share.

The trees go under ``--tree-dir`` (default: the system's temporary directory); the script refuses to run when
the two directories are on one filesystem. The cache is named in the tree's own ``.condarc`` (``pkgs_dirs``),
where ``conda_tree_condarc`` writes it. Installer: ``--installer``, else ``CPKGS_TEST_INSTALLER``, else real
conda's ``$CPKGS_BUILD/realconda/realconda-26.7.1-Linux-x86_64.sh`` when the test bed built it, else the test
bed's stand-in installer. The channel is ``$CPKGS_BUILD/channel/cpkgs-testbed`` (``bash scripts/test.sh`` or
``tests/testbed/channel/build_channel.py`` builds it).

It prints, for each layout and side by side with the ratio b/a: bytes on disk of the tree (``du``: each inode
counted once), split into the installer's base tree and what the releases add, and of its ``envs/`` and
``pkgs/``; the package archives conda keeps in the cache (``conda clean --tarballs`` frees them); the bytes of
the cache outside the tree; the bytes a copy of the tree without hard links would take (``du -l``: what
``rsync -a`` without ``-H`` writes); the number of files with more than one link; the build's wall time.
Nothing is asserted; every release's ``bin/isis-version`` is run once to prove the environments work.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _testbed import BUILD, INSTALLER

CHANNEL = BUILD / "channel" / "cpkgs-testbed"
REAL_INSTALLER = BUILD / "realconda" / "realconda-26.7.1-Linux-x86_64.sh"
RELEASES = (
    "3.6.0", "3.6.2", "3.7.0", "3.7.1", "3.8.0", "3.8.1", "3.9.0", "3.9.1",
    "4.0.0", "4.0.1", "4.1.0", "4.1.1", "4.2.0", "4.3.0",
)  # fmt: skip


class BenchError(Exception):
    """The benchmark cannot run as asked."""


@dataclass
class Layout:
    """One build: where the tree and its package cache are, and what was measured."""

    label: str
    tree: Path
    pkgs: Path
    seconds: float = 0.0
    base_bytes: int = 0


def pick_installer(given: str | None) -> tuple[str, Path]:
    """(kind, path) of the installer to use."""
    if given:
        return "given", Path(given)
    env = os.environ.get("CPKGS_TEST_INSTALLER")
    if env:
        return "CPKGS_TEST_INSTALLER", Path(env)
    if REAL_INSTALLER.is_file():
        return "real conda 26.7.1", REAL_INSTALLER
    return "test-bed stand-in", INSTALLER


def run(argv: list[str], home: Path) -> str:
    """Run ARGV with a clean login-like environment; raise BenchError naming the command on failure."""
    env = {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)}: rc {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def build(layout: Layout, installer: Path, home: Path, releases: tuple[str, ...]) -> None:
    """Install a tree, point its pkgs_dirs at LAYOUT.pkgs and create the release environments."""
    start = time.monotonic()
    run(["sh", "-c", 'umask 022 && exec sh "$0" "$@"', str(installer), "-b", "-p", str(layout.tree)], home)
    layout.base_bytes = du_bytes(layout.tree)
    layout.pkgs.mkdir(parents=True, exist_ok=True)
    condarc = layout.tree / ".condarc"
    existing = condarc.read_text() if condarc.is_file() else ""
    if "pkgs_dirs" in existing:
        raise BenchError(f"{condarc} already sets pkgs_dirs")
    condarc.write_text(existing + f"pkgs_dirs:\n  - {layout.pkgs}\n")
    conda = str(layout.tree / "bin" / "conda")
    for version in releases:
        prefix = layout.tree / "envs" / f"isis{version}"
        run(
            [conda, "create", "-y", "-q", "--offline", "-p", str(prefix), "--override-channels",
             "-c", CHANNEL.as_uri(), f"isis={version}"],
            home,
        )  # fmt: skip
        out = run([str(prefix / "bin" / "isis-version")], home)
        if not out.startswith(f"isis {version} prefix="):
            raise BenchError(f"{prefix}/bin/isis-version printed {out!r}")
    layout.seconds = time.monotonic() - start


def tool(name: str) -> str:
    """Full path of a command-line tool."""
    found = shutil.which(name)
    if not found:
        raise BenchError(f"{name} not found on PATH")
    return found


def filesystem(path: Path) -> str:
    """``SOURCE FSTYPE`` of the filesystem holding PATH (``df``)."""
    out = subprocess.run([tool("df"), "--output=source,fstype", str(path)], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.splitlines()[-1].split())


def du_bytes(path: Path, *, count_links: bool = False) -> int:
    """Bytes on disk under PATH (``du -s -B1``; each inode once unless COUNT_LINKS)."""
    if not path.exists():
        return 0
    argv = [tool("du"), "-s", "-B1", *(["-l"] if count_links else []), str(path)]
    return int(subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()[0])


def archives(pkgs: Path) -> int:
    """Bytes of the package archives (``*.conda``, ``*.tar.bz2``) kept in a package cache."""
    return sum(p.stat().st_size for p in pkgs.iterdir() if p.name.endswith((".conda", ".tar.bz2")))


def multi_linked(path: Path) -> tuple[int, int]:
    """(regular files under PATH with more than one link, all regular files under PATH)."""
    linked = total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            st = (Path(root) / name).lstat()
            if st.st_mode & 0o170000 == 0o100000:
                total += 1
                linked += st.st_nlink > 1
    return linked, total


def measure(layout: Layout) -> dict[str, float | str]:
    """The figures of one layout."""
    inside = layout.pkgs.is_relative_to(layout.tree)
    linked, files = multi_linked(layout.tree)
    env_linked, env_files = multi_linked(layout.tree / "envs")
    tree = du_bytes(layout.tree)
    outside = 0 if inside else du_bytes(layout.pkgs)
    return {
        "tree on disk (du)": tree,
        "  of which the installer's base": layout.base_bytes,
        "  of which what the releases add": tree - layout.base_bytes,
        "  of which envs/ alone": du_bytes(layout.tree / "envs"),
        "  of which pkgs/": du_bytes(layout.tree / "pkgs") if inside else 0,
        "  of which package archives in pkgs/": archives(layout.pkgs) if inside else 0,
        "package cache outside the tree": outside,
        "  of which package archives": 0 if inside else archives(layout.pkgs),
        "tree + cache outside": tree + outside,
        "tree copied without links (du -l)": du_bytes(layout.tree, count_links=True),
        "files of the tree with >1 link": linked,
        "  of all files of the tree": files,
        "env files with >1 link": env_linked,
        "  of all env files": env_files,
        "build seconds (install + envs)": round(layout.seconds, 1),
    }


def _fmt(key: str, value: float | str) -> str:
    if isinstance(value, str) or "files" in key or "seconds" in key:
        return str(value)
    return f"{value / 1e6:.1f} MB"


def table(a: dict, b: dict) -> str:
    """The side-by-side table of the two layouts."""
    rows = [("", "(a) pkgs in tree", "(b) pkgs elsewhere", "b / a")]
    for key, value in a.items():
        ratio = f"{b[key] / value:.2f}" if value else ("-" if not b[key] else "inf")
        rows.append((key, _fmt(key, value), _fmt(key, b[key]), ratio))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}" for r in rows
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--releases", type=int, default=len(RELEASES), help="build the first N releases (14)")
    parser.add_argument("--tree-dir", default=tempfile.gettempdir(), help="where the trees go (the 'share')")
    parser.add_argument("--other-dir", default="/dev/shm", help="another filesystem for layout (b)'s cache")  # noqa: S108
    parser.add_argument("--installer", help="installer .sh (default: real conda if built, else the stand-in)")
    parser.add_argument("--keep", action="store_true", help="keep the trees and print where they are")
    args = parser.parse_args(argv)
    if not 1 <= args.releases <= len(RELEASES):
        parser.error(f"--releases must be 1..{len(RELEASES)}, got {args.releases}")
    kind, installer = pick_installer(args.installer)
    try:
        if not installer.is_file():
            raise BenchError(f"installer {installer} not found (bash scripts/test.sh builds the test bed)")
        if not (CHANNEL / "noarch" / "repodata.json").is_file():
            raise BenchError(f"channel {CHANNEL} not built (tests/testbed/channel/build_channel.py)")
        tree_dir, other_dir = Path(args.tree_dir).resolve(), Path(args.other_dir).resolve()
        if tree_dir.stat().st_dev == other_dir.stat().st_dev:
            raise BenchError(f"--tree-dir {tree_dir} and --other-dir {other_dir} are on one filesystem")
        work = Path(tempfile.mkdtemp(prefix="cpkgs-share-links-", dir=tree_dir))
        other = Path(tempfile.mkdtemp(prefix="cpkgs-share-links-pkgs-", dir=other_dir))
        try:
            home = work / "home"
            home.mkdir()
            a = Layout("a", work / "a" / "anaconda3_linux", work / "a" / "anaconda3_linux" / "pkgs")
            b = Layout("b", work / "b" / "anaconda3_linux", other / "pkgs")
            releases = RELEASES[: args.releases]
            print(f"installer: {kind} ({installer})\nchannel: {CHANNEL}\nreleases: {len(releases)}")
            for layout in (a, b):
                print(f"building ({layout.label}): tree {layout.tree}, pkgs_dirs {layout.pkgs} ...", flush=True)
                build(layout, installer, home, releases)
            for layout in (a, b):
                print(f"({layout.label}) pkgs_dirs {layout.pkgs} on {filesystem(layout.pkgs)}")
            print()
            print(table(measure(a), measure(b)))
        finally:
            if args.keep:
                print(f"\nkept: {work} and {other}")
            else:
                shutil.rmtree(work, ignore_errors=True)
                shutil.rmtree(other, ignore_errors=True)
    except (BenchError, OSError, subprocess.SubprocessError) as exc:
        print(f"share_links: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
