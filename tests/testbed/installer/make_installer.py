"""Build the self-extracting installer of the cpkgs test-bed conda stand-in (a test fixture, not conda).

    python tests/testbed/installer/make_installer.py --standin-src tests/testbed/standin \\
        --rattler-wheel py_rattler-0.28.0-cp310-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl --out OUTDIR

writes ``OUTDIR/cpkgs-conda-standin-26.7.1-Linux-x86_64.sh`` and its ``.sha256`` (``<sha256>  <filename>``, like
Miniforge's published checksums). The installer is a POSIX sh header (``header.sh.in``) followed by a gzip'd tar
payload: the unpacked py-rattler wheel and the ``conda_standin`` package under ``lib/cpkgs-standin/``, the
``etc/profile.d/conda.sh``/``conda.csh`` templates, the second stage ``post_install.py`` and a CA bundle as
``ssl/cacert.pem`` (like Miniforge's; ``--ca-bundle``, default: certifi's of the building python). py-rattler
cannot even build its HTTP client on a system without CA certificates (Debian minbase has none), so the stand-in's
launcher points ``SSL_CERT_FILE`` at that bundle on such systems.

The build is deterministic (sorted members, fixed mtimes and modes, no owner names, gzip mtime 0): the same
inputs give the same sha256. It is skipped when ``OUTDIR`` already holds the build of the same inputs (a hash of
all input files is kept in ``OUTDIR/.cpkgs-conda-standin.inputs``); ``--force`` rebuilds.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = "cpkgs-conda-standin"
VERSION = "26.7.1"
PLATFORM = "Linux-x86_64"
INSTALLER = f"{NAME}-{VERSION}-{PLATFORM}.sh"
MARKER = b"__CPKGS_PAYLOAD_BELOW__\n"
STAMP = f".{NAME}.inputs"
LIB = "lib/cpkgs-standin"
# Fixed mtime of every payload member (2026-01-01T00:00:00Z); SOURCE_DATE_EPOCH is deliberately not read so
# that a build never depends on the environment.
MTIME = 1767225600
PROFILES = ("etc/profile.d/conda.sh", "etc/profile.d/conda.csh")
BUILDER_FILES = ("make_installer.py", "header.sh.in", "post_install.py", *PROFILES)
SKIP_PARTS = ("__pycache__",)
SKIP_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class Member:
    """One regular file of the payload: its path in the tree, content and whether it is executable."""

    path: str
    data: bytes
    executable: bool = False


def _wanted(rel: Path) -> bool:
    return not any(part in SKIP_PARTS for part in rel.parts) and rel.suffix not in SKIP_SUFFIXES


def standin_members(standin_src: Path) -> Iterator[Member]:
    """The ``conda_standin`` package (no caches) as ``lib/cpkgs-standin/conda_standin/...``."""
    package = standin_src / "conda_standin"
    if not (package / "__init__.py").is_file():
        raise SystemExit(f"error: --standin-src {standin_src}: no conda_standin/__init__.py there")
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(standin_src)
        if path.is_file() and _wanted(rel):
            yield Member(f"{LIB}/{rel.as_posix()}", path.read_bytes())


def wheel_members(wheel: Path) -> Iterator[Member]:
    """The files of the py-rattler wheel (``rattler/`` and its dist-info) under ``lib/cpkgs-standin/``."""
    with zipfile.ZipFile(wheel) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir() or not _wanted(Path(info.filename)):
                continue
            executable = bool((info.external_attr >> 16) & 0o111)
            yield Member(f"{LIB}/{info.filename}", archive.read(info), executable)


def builder_members(here: Path, ca_bundle: Path) -> Iterator[Member]:
    """The shell profiles (templates, filled in at install), the installer's second stage and the CA bundle."""
    for rel in PROFILES:
        yield Member(rel, (here / rel).read_bytes())
    yield Member(".cpkgs-installer/post_install.py", (here / "post_install.py").read_bytes())
    yield Member("ssl/cacert.pem", ca_bundle.read_bytes())


def default_ca_bundle() -> Path | None:
    """certifi's ``cacert.pem`` of the python running the build, if certifi is installed."""
    try:
        import certifi
    except ImportError:
        return None
    return Path(certifi.where())


def _dirs(paths: list[str]) -> list[str]:
    found: set[str] = set()
    for path in paths:
        parent = Path(path).parent
        while str(parent) not in (".", ""):
            found.add(parent.as_posix())
            parent = parent.parent
    return sorted(found)


def _tarinfo(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_payload(members: list[Member], compresslevel: int = 6) -> bytes:
    """A deterministic ``.tar.gz`` of ``members`` (plus their directories): sorted, fixed metadata."""
    by_path = {member.path: member for member in members}
    if len(by_path) != len(members):
        raise SystemExit("error: two payload members have the same path")
    entries = [(path, None) for path in _dirs(list(by_path))] + [(path, by_path[path]) for path in by_path]
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, member in sorted(entries, key=lambda entry: entry[0]):
            if member is None:
                tar.addfile(_tarinfo(path, tarfile.DIRTYPE, 0o755))
            else:
                mode = 0o755 if member.executable else 0o644
                tar.addfile(_tarinfo(path, tarfile.REGTYPE, mode, len(member.data)), io.BytesIO(member.data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=compresslevel) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def render_header(payload: bytes, here: Path = HERE) -> bytes:
    """The installer's sh header with name, version and the payload's size and sha256 filled in."""
    text = (here / "header.sh.in").read_text(encoding="utf-8")
    values = {
        "@NAME@": NAME,
        "@VERSION@": VERSION,
        "@PAYLOAD_SHA256@": hashlib.sha256(payload).hexdigest(),
        "@PAYLOAD_SIZE@": str(len(payload)),
    }
    for key, value in values.items():
        text = text.replace(key, value)
    if "@" in "".join(line for line in text.splitlines() if line.startswith(("INSTALLER_", "PAYLOAD_"))):
        raise SystemExit("error: header.sh.in has an unknown @PLACEHOLDER@")
    return text.encode("utf-8")


def inputs_digest(standin_src: Path, wheel: Path, ca_bundle: Path, here: Path = HERE) -> str:
    """A hash of everything the installer is made of (content and paths, not mtimes)."""
    digest = hashlib.sha256(f"{NAME} {VERSION} {PLATFORM}\n".encode())
    files = [(f"builder/{rel}", here / rel) for rel in BUILDER_FILES]
    package = standin_src / "conda_standin"
    files += [
        (f"standin/{p.relative_to(standin_src).as_posix()}", p)
        for p in sorted(package.rglob("*"))
        if p.is_file() and _wanted(p.relative_to(standin_src))
    ]
    files += [("wheel", wheel), ("ca-bundle", ca_bundle)]
    for label, path in files:
        digest.update(label.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).hexdigest().encode() + b"\n")
    return digest.hexdigest()


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    tmp.replace(path)


def build(
    standin_src: Path, wheel: Path, out: Path, force: bool = False, ca_bundle: Path | None = None
) -> tuple[Path, bool]:
    """Build (or find up to date) the installer in ``out``; returns its path and whether it was built."""
    ca_bundle = ca_bundle or default_ca_bundle()
    if ca_bundle is None or not ca_bundle.is_file():
        raise SystemExit("error: no CA bundle: pass --ca-bundle (e.g. /etc/ssl/certs/ca-certificates.crt)")
    installer = out / INSTALLER
    checksum = out / f"{INSTALLER}.sha256"
    stamp = out / STAMP
    wanted = inputs_digest(standin_src, wheel, ca_bundle)
    outputs = (installer, checksum, stamp)
    if not force and all(p.is_file() for p in outputs) and stamp.read_text(encoding="utf-8").strip() == wanted:
        return installer, False
    members = [*builder_members(HERE, ca_bundle), *standin_members(standin_src), *wheel_members(wheel)]
    payload = build_payload(members)
    data = render_header(payload) + MARKER + payload
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(installer, data, 0o755)
    _write_atomic(checksum, f"{hashlib.sha256(data).hexdigest()}  {INSTALLER}\n".encode(), 0o644)
    _write_atomic(stamp, f"{wanted}\n".encode(), 0o644)
    return installer, True


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--standin-src", type=Path, required=True, help="dir holding the conda_standin package")
    parser.add_argument("--rattler-wheel", type=Path, required=True, help="py-rattler 0.28.0 manylinux x86_64 wheel")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--ca-bundle", type=Path, help="CA bundle for ssl/cacert.pem (default: certifi's)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the inputs did not change")
    args = parser.parse_args(argv)
    if not args.rattler_wheel.is_file():
        parser.error(f"--rattler-wheel {args.rattler_wheel}: no such file")
    started = time.monotonic()
    ca_bundle = args.ca_bundle.resolve() if args.ca_bundle else None
    installer, built = build(
        args.standin_src.resolve(), args.rattler_wheel.resolve(), args.out.resolve(), args.force, ca_bundle
    )
    state = f"built in {time.monotonic() - started:.1f} s" if built else "up to date"
    print(f"{installer} ({state})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
