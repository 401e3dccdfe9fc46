"""Tests of the real-conda installer built from the kit (tests/testbed/realconda), run by stage real-testbed.

``CPKGS_TEST_INSTALLER`` names the installer (``realconda-26.7.1-Linux-x86_64.sh``, its digest in ``.sha256``
beside it); without it every test is skipped. The tree is installed into a world-traversable temporary
directory so that an unprivileged account (``nobody``) can use it, as users use the shared tree.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

MARKER = b"__CPKGS_PAYLOAD_BELOW__\n"
PLACEHOLDER_STEM = b"/tmp/cpkgs-realconda-placeholder-"
NOBODY = 65534
ENV_NAME = "isis4.3.0"
REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(
    not os.environ.get("CPKGS_TEST_INSTALLER"),
    reason="CPKGS_TEST_INSTALLER is not set (stage real-testbed sets it to the real-conda installer)",
)


# ---------------------------------------------------------------------------------------------- helpers
def clean_env(home: Path) -> dict[str, str]:
    """A minimal environment without the caller's CONDA_* variables."""
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def run_installer(installer: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """``sh INSTALLER ARGS`` under umask 022, as an admin installs the shared tree."""
    return subprocess.run(
        ["sh", "-c", 'umask 022 && exec sh "$0" "$@"', str(installer), *args],
        env=clean_env(home),
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


def conda(exe: Path, *args: str, home: Path, user: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``conda ARGS`` (as ``user`` when given)."""
    return subprocess.run(
        [str(exe), *args], env=clean_env(home), capture_output=True, text=True, check=False, timeout=120, user=user
    )


def payload_manifest(installer: Path) -> dict:
    """The build's manifest inside the installer's payload (it names the placeholder)."""
    blob = installer.read_bytes()
    payload = blob[blob.index(MARKER) + len(MARKER) :]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(payload))) as tar:
        member = tar.extractfile(".cpkgs-installer/manifest.json")
        assert member is not None
        return json.loads(member.read())


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """``{path: (mtime_ns, size, mode)}`` of everything under ``root`` (symlinks not followed)."""
    out = {}
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        out[str(path.relative_to(root))] = (st.st_mtime_ns, st.st_size, st.st_mode)
    return out


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def installer() -> Path:
    path = Path(os.environ["CPKGS_TEST_INSTALLER"]).resolve()
    assert path.is_file(), f"CPKGS_TEST_INSTALLER={path}: no such file"
    return path


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A world-traversable directory in /tmp (pytest's tmp_path is 0700: other accounts could not reach it)."""
    path = Path(tempfile.mkdtemp(prefix="cpkgs-realconda-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def home(workdir: Path) -> Path:
    path = workdir / "home"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def tree(installer: Path, workdir: Path, home: Path) -> tuple[Path, str]:
    """The tree installed with ``-b -p``; returns (prefix, installer output)."""
    prefix = workdir / "conda"
    done = run_installer(installer, "-b", "-p", str(prefix), home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    return prefix, done.stdout


@pytest.fixture(scope="module")
def isis_env(tree: tuple[Path, str], home: Path) -> Path:
    """``envs/isis4.3.0`` created as root from the test bed's local channel."""
    prefix = tree[0]
    channel = Path(os.environ.get("CPKGS_BUILD") or REPO / ".build") / "channel" / "cpkgs-testbed"
    if not (channel / "noarch" / "repodata.json").is_file():
        pytest.fail(f"local channel {channel} not built (tests/testbed/channel/build_channel.py)")
    env = prefix / "envs" / ENV_NAME
    args = ("create", "-y", "-q", "-p", str(env), "--override-channels", "-c", f"file://{channel}", "isis=4.3.0")
    done = conda(prefix / "bin" / "conda", *args, home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    return env


@pytest.fixture(scope="module")
def nobody_home(workdir: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("running as another account needs root")
    path = workdir / "nobody-home"
    path.mkdir()
    os.chown(path, NOBODY, NOBODY)
    return path


# ---------------------------------------------------------------------------------------------- tests
def test_checksum_file_matches(installer: Path) -> None:
    line = Path(f"{installer}.sha256").read_text(encoding="utf-8")
    digest, name = line.split()
    assert name == installer.name
    assert digest == hashlib.sha256(installer.read_bytes()).hexdigest()


def test_install_relocates_every_file(installer: Path, tree: tuple[Path, str]) -> None:
    prefix, output = tree
    assert "installation finished." in output
    placeholder = payload_manifest(installer)["placeholder"].encode()
    assert placeholder.startswith(PLACEHOLDER_STEM)
    left = []
    for path in prefix.rglob("*"):
        if path.is_symlink():
            if os.readlink(path).encode().startswith(PLACEHOLDER_STEM):
                left.append(str(path))
        elif path.is_file() and PLACEHOLDER_STEM in path.read_bytes():
            left.append(str(path))
    assert left == []
    assert (prefix / "bin" / "conda").read_text(encoding="utf-8").startswith(f"#!{prefix}/bin/python")
    assert f"_CONDA_ROOT='{prefix}'" in (prefix / "etc" / "profile.d" / "conda.sh").read_text(encoding="utf-8")
    assert (prefix / "conda-meta" / "history").is_file()
    assert not (prefix / ".cpkgs-installer").exists()


def test_conda_version(tree: tuple[Path, str], home: Path) -> None:
    done = conda(tree[0] / "bin" / "conda", "--version", home=home)
    assert (done.returncode, done.stdout.strip()) == (0, "conda 26.7.1"), done.stderr


def test_conda_record_listed(tree: tuple[Path, str], home: Path) -> None:
    prefix = tree[0]
    records = sorted((prefix / "conda-meta").glob("conda-26.7.1-*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text(encoding="utf-8"))
    assert (record["name"], record["version"]) == ("conda", "26.7.1")
    assert "bin/conda" in record["files"]
    done = conda(prefix / "bin" / "conda", "list", "-p", str(prefix), "--json", home=home)
    assert done.returncode == 0, done.stderr
    listed = {p["name"]: p for p in json.loads(done.stdout)}
    assert listed["conda"]["version"] == "26.7.1"
    assert listed["conda"]["build_string"] == record["build"]
    assert listed["python"]["version"].startswith("3.11.")


def test_unprivileged_account(tree: tuple[Path, str], isis_env: Path, nobody_home: Path) -> None:
    prefix = tree[0]
    exe = prefix / "bin" / "conda"
    done = conda(exe, "--version", home=nobody_home, user=NOBODY)
    assert (done.returncode, done.stdout.strip()) == (0, "conda 26.7.1"), done.stderr
    done = conda(exe, "env", "list", "--json", home=nobody_home, user=NOBODY)
    assert done.returncode == 0, done.stderr
    envs = json.loads(done.stdout)["envs"]
    assert str(prefix) in envs
    assert str(isis_env) in envs
    script = f'. "{prefix}/etc/profile.d/conda.sh" && conda activate "{isis_env}" && isis-version'
    done = subprocess.run(
        ["bash", "-c", script],
        env=clean_env(nobody_home),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        user=NOBODY,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"isis 4.3.0 prefix={isis_env}"


def test_second_install_refused(installer: Path, tree: tuple[Path, str], home: Path) -> None:
    prefix = tree[0]
    before = snapshot(prefix)
    done = run_installer(installer, "-b", "-p", str(prefix), home=home)
    assert done.returncode == 1
    assert "already exists" in done.stderr and "-u" in done.stderr
    assert snapshot(prefix) == before


def test_corrupted_payload_refused(installer: Path, workdir: Path, home: Path) -> None:
    broken = workdir / "broken.sh"
    data = bytearray(installer.read_bytes())
    data[-1000] ^= 0xFF
    broken.write_bytes(bytes(data))
    prefix = workdir / "never"
    done = run_installer(broken, "-b", "-p", str(prefix), home=home)
    assert done.returncode != 0
    assert "checksum mismatch" in done.stderr
    assert not prefix.exists()


def test_update_keeps_envs_and_condarc(installer: Path, tree: tuple[Path, str], isis_env: Path, home: Path) -> None:
    prefix = tree[0]
    condarc = prefix / ".condarc"
    condarc.write_text("solver: classic\n# kept by -u\n", encoding="utf-8")
    done = run_installer(installer, "-b", "-u", "-p", str(prefix), home=home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert condarc.read_text(encoding="utf-8").endswith("# kept by -u\n")
    assert (isis_env / "conda-meta" / "history").is_file()
    history = (prefix / "conda-meta" / "history").read_text(encoding="utf-8")
    assert history.count("# cmd: realconda-26.7.1-Linux-x86_64.sh") == 2
    assert "(update)" in history
    assert not (prefix / "conda-meta" / ".history.installing").exists()
    assert len(list((prefix / "conda-meta").glob("conda-*.json"))) == 1
    done = conda(prefix / "bin" / "conda", "--version", home=home)
    assert done.stdout.strip() == "conda 26.7.1", done.stderr
