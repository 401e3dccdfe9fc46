"""Second stage of the stand-in installer: run by the installer header, with the python it found, after unpacking.

It lays out what a constructor installer leaves in a tree (Miniforge-like) around the unpacked stand-in:
``bin/conda`` and ``condabin/conda`` (absolute shebang to that python), ``etc/profile.d/conda.sh`` and
``conda.csh`` with the prefix filled in, the ``conda-meta`` record of the imitated conda (build ``standin_0``)
and ``conda-meta/history``, ``envs/`` and ``pkgs/``. Everything it writes respects the umask.
Standard library only (it runs on the target's bare ``python3``).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import time
from pathlib import Path

CONDA_NAME = "conda"
BUILD = "standin_0"
CHANNEL = "file:///cpkgs-testbed-standin"
SUBDIR = "linux-64"
LIB_DIR = "lib/cpkgs-standin"
PROFILE_FILES = ("etc/profile.d/conda.sh", "etc/profile.d/conda.csh")
LAUNCHERS = ("bin/conda", "condabin/conda")
CA_BUNDLE = "ssl/cacert.pem"
# where OpenSSL/rustls-native-certs find a system CA store (Debian/Ubuntu, RHEL/Fedora, SUSE, Alpine/macOS)
SYSTEM_CA = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
)

LAUNCHER = """#!{python}
# conda stand-in of the cpkgs test bed (a test fixture on py-rattler, not conda). Written by its installer.
import os
import sys

sys.path.insert(0, {lib!r})
# py-rattler cannot build its HTTP client without CA certificates (Debian minbase has none): use the tree's.
if not (os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR")) and not any(
    os.path.exists(p) for p in {system_ca!r}
):
    os.environ["SSL_CERT_FILE"] = {ca!r}

from conda_standin.cli import main

if __name__ == "__main__":
    try:
        rc = main(sys.argv[1:])
    except SystemExit as exc:
        rc = exc.code
    if rc is not None and not isinstance(rc, int):
        print(rc, file=sys.stderr)
        rc = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # py-rattler may crash at interpreter exit (see TESTBED-NOTES): leave without running finalizers.
    os._exit(rc or 0)
"""


def current_umask() -> int:
    """The process umask (read without changing it for longer than the call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def sh_quote(value: str) -> str:
    """``value`` inside single quotes for a POSIX shell (the template already has the quotes)."""
    return value.replace("'", "'\\''")


def csh_quote(value: str) -> str:
    """``value`` inside single quotes for csh/tcsh (``!`` is special even there)."""
    return value.replace("'", "'\\''").replace("!", "'\\!'")


def write_text(path: Path, text: str, executable: bool = False) -> None:
    """Write ``text`` atomically; mode 0666/0777 minus the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    mode = (0o777 if executable else 0o666) & ~current_umask()
    tmp.chmod(mode)
    tmp.replace(path)


def write_launchers(prefix: Path, python: str) -> None:
    """``bin/conda`` and ``condabin/conda``: python scripts that run ``conda_standin.cli.main``."""
    text = LAUNCHER.format(python=python, lib=str(prefix / LIB_DIR), system_ca=SYSTEM_CA, ca=str(prefix / CA_BUNDLE))
    for rel in LAUNCHERS:
        write_text(prefix / rel, text, executable=True)


def render_profiles(prefix: Path, python: str) -> None:
    """Fill ``@PREFIX@``, ``@CONDA_EXE@`` and ``@CONDA_PYTHON_EXE@`` into the unpacked conda.sh/conda.csh."""
    values = {"@PREFIX@": str(prefix), "@CONDA_EXE@": str(prefix / "bin" / "conda"), "@CONDA_PYTHON_EXE@": python}
    for rel in PROFILE_FILES:
        path = prefix / rel
        quote = csh_quote if rel.endswith(".csh") else sh_quote
        text = path.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(key, quote(value))
        write_text(path, text)


def managed_files(prefix: Path) -> list[str]:
    """The files the stand-in owns in the tree (the ``files`` of its conda-meta record), sorted."""
    files = [*LAUNCHERS, *PROFILE_FILES, CA_BUNDLE]
    lib = prefix / LIB_DIR
    files += [p.relative_to(prefix).as_posix() for p in lib.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(files)


def write_conda_meta(prefix: Path, version: str, installer: str, mode: str) -> None:
    """The record ``conda-VERSION-standin_0.json`` (what version readers look at) and ``conda-meta/history``."""
    meta = prefix / "conda-meta"
    meta.mkdir(exist_ok=True)
    for old in meta.glob(f"{CONDA_NAME}-*-standin_*.json"):
        old.unlink()
    files = managed_files(prefix)
    fn = f"{CONDA_NAME}-{version}-{BUILD}.conda"
    record = {
        "name": CONDA_NAME,
        "version": version,
        "build": BUILD,
        "build_number": 0,
        "channel": CHANNEL,
        "subdir": SUBDIR,
        "fn": fn,
        "url": f"{CHANNEL}/{SUBDIR}/{fn}",
        "depends": [],
        "constrains": [],
        "license": "BSD-3-Clause",
        "summary": "cpkgs test-bed conda stand-in on py-rattler (a test fixture, not conda)",
        "timestamp": 0,
        "requested_spec": CONDA_NAME,
        "files": files,
        "paths_data": {"paths_version": 1, "paths": [{"_path": f, "path_type": "hardlink"} for f in files]},
        "link": {"source": "", "type": 1},
    }
    write_text(meta / f"{CONDA_NAME}-{version}-{BUILD}.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
    entry = f"==> {stamp} <==\n# cmd: {installer}-{version}-Linux-x86_64.sh ({mode})\n"
    entry += f"+{CHANNEL}::{CONDA_NAME}-{version}-{BUILD}\n"
    history = meta / "history"
    old_text = history.read_text(encoding="utf-8") if history.is_file() else ""
    write_text(history, old_text + entry)


def main(argv: list[str] | None = None) -> int:
    """Finish an unpacked stand-in tree (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--mode", choices=("install", "update", "force"), default="install")
    parser.add_argument("--version", required=True)
    parser.add_argument("--installer", default="cpkgs-conda-standin")
    args = parser.parse_args(argv)
    prefix = Path(args.prefix)
    write_launchers(prefix, args.python)
    render_profiles(prefix, args.python)
    for name in ("envs", "pkgs"):
        (prefix / name).mkdir(exist_ok=True)
    write_conda_meta(prefix, args.version, args.installer, args.mode)
    compileall.compile_dir(str(prefix / LIB_DIR), quiet=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
