"""Build real conda 26.7.1 from a source kit, a constructor-like installer of it, and a tree installed from it.

    .venv/bin/python tests/testbed/realconda/build_realconda.py --kit "$CPKGS_REAL_CONDA_KIT" --out OUTDIR

writes ``OUTDIR/realconda-26.7.1-Linux-x86_64.sh`` and its ``.sha256`` (``<sha256>  <filename>``, like Miniforge's
published checksums), then installs it into ``OUTDIR/tree`` (so tests have ``OUTDIR/tree/bin/conda``).

The kit holds ``conda-*.tar.gz`` and ``menuinst-*.tar.gz`` (``git archive`` of their release tags); PyPI has
neither (conda there is 4.3), so conda is built here: a venv of Debian's ``/usr/bin/python3`` (other accounts
can execute it, unlike a python in root's home) at a long placeholder path, conda's dependencies from PyPI
(pip cache ``$CPKGS_CACHE/pip``), menuinst and conda from the kit, ``conda init --install``. A venv is not
relocatable, so the installer replaces the placeholder with the install prefix in every text file, as
constructor does; a binary file holding the placeholder fails the build. The payload has no ``.pyc`` (they
embed the source path); the installer byte-compiles after relocating.

Cache: the installer is kept in ``$CPKGS_CACHE/realconda/<key>/``, the key covering the kit's tarballs, this
builder's files and the python version; a warm cache only copies it. ``OUTDIR/.realconda.stamp`` holds the key
of what ``OUTDIR`` holds: the same key skips everything.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
NAME = "realconda"
VERSION = "26.7.1"
MENUINST_VERSION = "2.5.2"
PLATFORM = "Linux-x86_64"
INSTALLER = f"{NAME}-{VERSION}-{PLATFORM}.sh"
MARKER = b"__CPKGS_PAYLOAD_BELOW__\n"
STAMP = f".{NAME}.stamp"
PYTHON = "/usr/bin/python3"
BUILDER_FILES = ("build_realconda.py", "header.sh.in", "post_install.py")
# conda's dependencies as its pyproject.toml lists them (minus conda-libmamba-solver, not on PyPI; setuptools
# comes with the venv), plus jsonpatch and zstandard that conda's own package pulls in
DEPENDENCIES = (
    "archspec>=0.2.3",
    "backports.zstd>=1.3.0",
    "boltons>=23.0.0",
    "charset-normalizer",
    "conda-package-handling>=2.2.0",
    "distro>=1.5.0",
    "frozendict>=2.4.2",
    "msgpack>=1.1.1",
    "packaging>=23.0",
    "platformdirs>=3.10.0",
    "pluggy>=1.6.0",
    "pycosat>=0.6.3",
    "requests>=2.28,<3",
    "ruamel.yaml>=0.11.14,<0.19",
    "tqdm>=4",
    "truststore>=0.8.0",
    "jsonpatch",
    "zstandard",
)
PLACEHOLDER_STEM = "/tmp/cpkgs-realconda-placeholder-"
# conda init writes "#!/usr/bin/env python" instead of an absolute shebang longer than 127 characters (the old
# kernel limit): the placeholder must leave room for "#!" + "/bin/python".
PLACEHOLDER_LENGTH = 100
# the scripts whose shebang must be the tree's python (conda's entry points)
ENTRY_POINTS = ("bin/conda", "condabin/conda")
# venv activation scripts that would "activate" the base as a venv; conda init writes bin/activate itself
VENV_LEFTOVERS = ("bin/activate.csh", "bin/activate.fish", "bin/Activate.ps1")
MTIME = 1767225600  # every payload member's mtime (2026-01-01T00:00:00Z)
CHANNEL = "file:///cpkgs-testbed-realconda"
SUBDIR = "linux-64"


def log(message: str) -> None:
    """Progress on stderr (stdout stays for the final path)."""
    print(f"[build_realconda] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Print how long a phase of the build took."""
    started = time.monotonic()
    yield
    log(f"{name}: {time.monotonic() - started:.1f} s")


def run(*cmd: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    """Run a command; on failure show its output and stop the build."""
    done = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"error: command failed (rc={done.returncode}): {' '.join(map(str, cmd))}")


# --- inputs and cache key ---------------------------------------------------------------------------------------
def kit_tarballs(kit: Path) -> dict[str, Path]:
    """``{"conda": ..., "menuinst": ...}``: the kit's two source tarballs, exactly one of each."""
    found = {}
    for name, version in (("conda", VERSION), ("menuinst", MENUINST_VERSION)):
        matches = sorted(kit.glob(f"{name}-*.tar.gz"))
        if len(matches) != 1:
            raise SystemExit(f"error: kit {kit}: expected one {name}-*.tar.gz, found {len(matches)}")
        if matches[0].name != f"{name}-{version}.tar.gz":
            raise SystemExit(f"error: kit {kit}: {matches[0].name} is not {name} {version}")
        found[name] = matches[0]
    return found


def python_version() -> str:
    """The full version of Debian's python3 (the venv's interpreter)."""
    if not os.access(PYTHON, os.X_OK):
        raise SystemExit(f"error: {PYTHON} not found (apt-get install python3 python3-venv)")
    out = subprocess.run(
        [PYTHON, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(tarballs: dict[str, Path], pyver: str) -> str:
    """A hash of what the installer is made of: the kit, this builder's files, the python version."""
    digest = hashlib.sha256(f"{NAME} {VERSION} {PLATFORM} python {pyver}\n".encode())
    for label, path in [*sorted(tarballs.items()), *((f"builder/{f}", HERE / f) for f in BUILDER_FILES)]:
        digest.update(f"{label}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()[:24]


def cache_dir() -> Path:
    """``${CPKGS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/cpkgs-conda}``."""
    if os.environ.get("CPKGS_CACHE"):
        return Path(os.environ["CPKGS_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cpkgs-conda"


# --- the base prefix --------------------------------------------------------------------------------------------
def new_placeholder() -> str:
    """A long, unique path for the build (parallel builds never share one), padded to a fixed length."""
    stem = f"{PLACEHOLDER_STEM}{secrets.token_hex(4)}-"
    return stem + "p" * (PLACEHOLDER_LENGTH - len(stem))


def pip_env(version: str | None = None) -> dict[str, str]:
    """Environment for pip: the shared download cache; ``version`` for setuptools-scm/hatch-vcs (no git)."""
    env = dict(os.environ, PIP_CACHE_DIR=str(cache_dir() / "pip"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    if version:
        env["SETUPTOOLS_SCM_PRETEND_VERSION"] = version
    return env


def build_base(prefix: Path, tarballs: dict[str, Path], work: Path) -> set[str]:
    """The conda base at ``prefix``; returns the files ``conda init --install`` wrote (conda's package owns them)."""
    with phase("venv"):
        run(PYTHON, "-m", "venv", prefix)
    pip = [prefix / "bin" / "python", "-m", "pip", "install", "-q", "--no-compile"]
    with phase("pip: conda's dependencies (pycosat is built from its sdist: no wheel)"):
        run(*pip, "--prefer-binary", "--use-pep517", *DEPENDENCIES, env=pip_env())
    for name in ("menuinst", "conda"):
        with tarfile.open(tarballs[name]) as tar:
            tar.extractall(work, filter="data")
    with phase("pip: menuinst and conda from the kit"):
        run(*pip, "--use-pep517", work / f"menuinst-{MENUINST_VERSION}", env=pip_env(MENUINST_VERSION))
        run(*pip, "--no-deps", work / f"conda-{VERSION}", env=pip_env(VERSION))
    for name in ("conda-meta", "envs", "pkgs"):
        (prefix / name).mkdir()
    (prefix / "conda-meta" / "history").write_text("")
    (prefix / ".condarc").write_text("solver: classic\n")
    before = snapshot(prefix)
    with phase("conda init --install"):
        home = work / "home"
        home.mkdir()
        env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        run(prefix / "bin" / "conda", "init", "--install", env=env)
    return {rel for rel, stamp in snapshot(prefix).items() if before.get(rel) != stamp}


def snapshot(prefix: Path) -> dict[str, tuple[int, int]]:
    """``{relative path: (mtime_ns, size)}`` of the regular files under ``prefix`` (no caches)."""
    out = {}
    for path in prefix.rglob("*"):
        if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
            stat = path.stat()
            out[path.relative_to(prefix).as_posix()] = (stat.st_mtime_ns, stat.st_size)
    return out


def clean_base(prefix: Path) -> None:
    """Remove what must not travel: byte code, the venv's own activation scripts, the empty history."""
    for cache in sorted(prefix.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    for pyc in prefix.rglob("*.py[co]"):
        pyc.unlink()
    for rel in (*VENV_LEFTOVERS, "conda-meta/history"):
        (prefix / rel).unlink(missing_ok=True)


# --- scan, manifest and records ---------------------------------------------------------------------------------
def members(prefix: Path) -> list[Path]:
    """Every path under ``prefix`` (directories, files, symlinks), sorted."""
    return sorted(prefix.rglob("*"), key=lambda p: p.relative_to(prefix).as_posix())


def text_files_to_relocate(prefix: Path, placeholder: str) -> list[str]:
    """The files holding the placeholder; fails when a binary file or a symlink holds it."""
    needle = placeholder.encode()
    found, bad = [], []
    for path in members(prefix):
        rel = path.relative_to(prefix).as_posix()
        if path.is_symlink():
            if placeholder in os.readlink(path):
                bad.append(f"{rel} (symlink)")
        elif path.is_file():
            data = path.read_bytes()
            if needle in data:
                (bad.append(f"{rel} (binary)") if b"\0" in data else found.append(rel))
    if bad:
        raise SystemExit("error: the placeholder is in files text replacement cannot fix: " + ", ".join(bad))
    for rel in ENTRY_POINTS:
        if not (prefix / rel).read_text(encoding="utf-8").startswith(f"#!{placeholder}/bin/"):
            raise SystemExit(f"error: {rel}: its shebang is not the tree's python (placeholder too long?)")
    return found


def dist_info_files(prefix: Path, site: str, dist: str) -> set[str]:
    """The files pip's ``RECORD`` lists for ``dist`` (``conda-26.7.1``), relative to the prefix, no byte code."""
    site_dir = prefix / site
    out = set()
    for line in (site_dir / f"{dist}.dist-info" / "RECORD").read_text(encoding="utf-8").splitlines():
        rel = line.rsplit(",", 2)[0]
        path = Path(os.path.normpath(site_dir / rel))
        if rel and path.exists() and "__pycache__" not in path.parts:
            out.add(path.relative_to(prefix).as_posix())
    return out


def path_items(prefix: Path, rels: set[str]) -> list[dict]:
    """``paths_data`` material for ``rels``: type, and for files sha256 and size of the payload's content."""
    items = []
    for rel in sorted(rels):
        path = prefix / rel
        if path.is_symlink():
            items.append({"path": rel, "type": "softlink"})
        else:
            data = path.read_bytes()
            items.append({"path": rel, "type": "file", "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    return items


def base_record(name: str, version: str, build: str, summary: str, depends: list[str]) -> dict:
    """The package fields of a conda-meta record (files and paths_data are added at install)."""
    fn = f"{name}-{version}-{build}.conda"
    return {
        "name": name,
        "version": version,
        "build": build,
        "build_number": 0,
        "channel": CHANNEL,
        "subdir": SUBDIR,
        "fn": fn,
        "url": f"{CHANNEL}/{SUBDIR}/{fn}",
        "depends": depends,
        "constrains": [],
        "license": "BSD-3-Clause" if name == "conda" else "PSF-2.0",
        "summary": summary,
        "timestamp": MTIME * 1000,
        "requested_spec": name,
        "link": {"source": "", "type": 1},
    }


def manifest(prefix: Path, placeholder: str, init_files: set[str], pyver: str) -> dict:
    """What post_install.py needs: the placeholder, the files to relocate, and the two records to write."""
    minor = ".".join(pyver.split(".")[:2])
    site = f"lib/python{minor}/site-packages"
    conda_files = dist_info_files(prefix, site, f"conda-{VERSION}") | {f for f in init_files if (prefix / f).exists()}
    python_files = {f"bin/python{s}" for s in ("", "3", minor)} | {"pyvenv.cfg", "lib64"}
    py_tag = "py" + minor.replace(".", "")
    conda = base_record(
        "conda",
        VERSION,
        f"{py_tag}_source_0",
        f"conda {VERSION} built from its source tag with pip (cpkgs test bed)",
        [f"python >={minor},<{next_minor(minor)}.0a0"],
    )
    python = base_record(
        "python",
        pyver,
        "debian_venv_0",
        f"a venv of Debian's {PYTHON} {pyver} (the interpreter is the system's, not in the tree)",
        [],
    )
    return {
        "placeholder": placeholder,
        "installer": INSTALLER,
        "site_packages": site,
        "relocate": text_files_to_relocate(prefix, placeholder),
        "records": [
            {"record": python, "paths": path_items(prefix, {f for f in python_files if os.path.lexists(prefix / f)})},
            {"record": conda, "paths": path_items(prefix, conda_files)},
        ],
    }


def next_minor(minor: str) -> str:
    """``3.11`` -> ``3.12``."""
    major, small = minor.split(".")
    return f"{major}.{int(small) + 1}"


# --- payload and installer --------------------------------------------------------------------------------------
def _tarinfo(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_payload(prefix: Path, extra: dict[str, bytes]) -> bytes:
    """A deterministic ``.tar.gz`` of the tree plus ``extra`` files (sorted, fixed metadata, modes 755/644)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in members(prefix):
            rel = path.relative_to(prefix).as_posix()
            if path.is_symlink():
                tar.addfile(_tarinfo(rel, tarfile.SYMTYPE, 0o777, link=os.readlink(path)))
            elif path.is_dir():
                tar.addfile(_tarinfo(rel, tarfile.DIRTYPE, 0o755))
            else:
                data = path.read_bytes()
                mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                tar.addfile(_tarinfo(rel, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
        tar.addfile(_tarinfo(".cpkgs-installer", tarfile.DIRTYPE, 0o755))
        for rel, data in sorted(extra.items()):
            tar.addfile(_tarinfo(rel, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0, compresslevel=6) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def render_header(payload: bytes, pyver: str) -> bytes:
    """The installer's sh header with name, version, python and the payload's size and sha256 filled in."""
    text = (HERE / "header.sh.in").read_text(encoding="utf-8")
    values = {
        "@NAME@": NAME,
        "@VERSION@": VERSION,
        "@PYTHON_MINOR@": ".".join(pyver.split(".")[:2]),
        "@PAYLOAD_SHA256@": hashlib.sha256(payload).hexdigest(),
        "@PAYLOAD_SIZE@": str(len(payload)),
    }
    for key, value in values.items():
        text = text.replace(key, value)
    return text.encode("utf-8")


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    tmp.replace(path)


def build_installer(tarballs: dict[str, Path], pyver: str, dest: Path) -> None:
    """Build the base at a fresh placeholder path and write the installer and its .sha256 into ``dest``."""
    placeholder = new_placeholder()
    prefix = Path(placeholder)
    try:
        with tempfile.TemporaryDirectory(prefix="cpkgs-realconda-work-") as tmp:
            init_files = build_base(prefix, tarballs, Path(tmp))
        with phase("scan and payload"):
            clean_base(prefix)
            data = manifest(prefix, placeholder, init_files, pyver)
            extra = {
                ".cpkgs-installer/manifest.json": json.dumps(data, indent=1, sort_keys=True).encode(),
                ".cpkgs-installer/post_install.py": (HERE / "post_install.py").read_bytes(),
                ".cpkgs-installer/condarc": (prefix / ".condarc").read_bytes(),
            }
            (prefix / ".condarc").unlink()
            payload = build_payload(prefix, extra)
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
    blob = render_header(payload, pyver) + MARKER + payload
    write_atomic(dest / INSTALLER, blob, 0o755)
    write_atomic(dest / f"{INSTALLER}.sha256", f"{hashlib.sha256(blob).hexdigest()}  {INSTALLER}\n".encode(), 0o644)
    log(f"installer: {len(blob) / 1e6:.1f} MB ({len(data['relocate'])} text files to relocate)")


def copy_installer(src: Path, dest: Path) -> None:
    """Copy the installer and its checksum from ``src`` to ``dest`` (atomically each)."""
    for name in (INSTALLER, f"{INSTALLER}.sha256"):
        write_atomic(dest / name, (src / name).read_bytes(), 0o755 if name == INSTALLER else 0o644)


def install_tree(installer: Path, tree: Path) -> None:
    """Install a fresh tree from the installer (under umask 022, so other accounts can use it)."""
    if tree.exists():
        shutil.rmtree(tree)
    run(
        "sh",
        "-c",
        'umask 022 && exec sh "$0" -b -p "$1"',
        installer,
        tree,
        env={"HOME": str(tree.parent), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )


def prune_cache(keep: Path) -> None:
    """Remove the cached installers of other keys (a changed builder or kit): each is about 12 MB."""
    for other in keep.parent.iterdir():
        if other != keep and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)


def build(kit: Path, out: Path, force: bool = False) -> Path:
    """The whole step (see the module docstring); returns the installer's path."""
    tarballs = kit_tarballs(kit)
    pyver = python_version()
    with phase("cache key"):
        key = cache_key(tarballs, pyver)
    installer, stamp, tree = out / INSTALLER, out / STAMP, out / "tree"
    fresh = installer.is_file() and (tree / "conda-meta" / "history").is_file() and stamp.is_file()
    if not force and fresh and stamp.read_text(encoding="utf-8").strip() == key:
        log(f"{out} holds build {key}: nothing to do")
        return installer
    cached = cache_dir() / NAME / key
    if force or not (cached / INSTALLER).is_file():
        with phase("installer build"):
            build_installer(tarballs, pyver, cached)
    prune_cache(cached)
    stamp.unlink(missing_ok=True)
    with phase("copy from the cache"):
        copy_installer(cached, out)
    with phase(f"install into {tree}"):
        install_tree(installer, tree)
    write_atomic(stamp, f"{key}\n".encode(), 0o644)
    log(f"installer {installer.stat().st_size / 1e6:.1f} MB; conda at {tree / 'bin' / 'conda'}")
    return installer


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kit", type=Path, required=True, help="dir with conda-*.tar.gz and menuinst-*.tar.gz")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--force", action="store_true", help="rebuild the installer even when cached")
    args = parser.parse_args(argv)
    if not args.kit.is_dir():
        parser.error(f"--kit {args.kit}: not a directory")
    started = time.monotonic()
    installer = build(args.kit.resolve(), args.out.resolve(), args.force)
    log(f"total: {time.monotonic() - started:.1f} s")
    print(installer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
