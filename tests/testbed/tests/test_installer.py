"""Tests of the stand-in installer (tests/testbed/installer): build, determinism, options, tree layout, modes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

INSTALLER_DIR = Path(__file__).resolve().parents[1] / "installer"
sys.path.insert(0, str(INSTALLER_DIR))

import make_installer  # noqa: E402
import support  # noqa: E402

VERSION_LINE = "conda 26.7.1 (cpkgs test-bed stand-in, py-rattler 0.28.0)"
BANNER = "cpkgs conda stand-in installer 26.7.1 (test fixture, not conda)"


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def wheel() -> Path:
    found = support.find_wheel()
    if found is None:
        pytest.skip(f"py-rattler 0.28.0 wheel not found: set CPKGS_RATTLER_WHEEL or run {support.PIP_HINT}")
    return found


@pytest.fixture(scope="session")
def installer(wheel: Path) -> Path:
    """The installer in $CPKGS_BUILD/installer (rebuilt only when its inputs changed)."""
    return support.ensure_installer(wheel=wheel)


@pytest.fixture(scope="session")
def bare_path() -> str:
    """A PATH like a minimal container's (/usr/bin:/bin) when its python3 is >= 3.10, else the caller's PATH."""
    probe = (
        subprocess.run(["/usr/bin/python3", "-c", "import sys; sys.exit(sys.version_info < (3, 10))"], check=False)
        if Path("/usr/bin/python3").exists()
        else None
    )
    return "/usr/bin:/bin" if probe is not None and probe.returncode == 0 else os.environ["PATH"]


@pytest.fixture(scope="session")
def tree(installer: Path, tmp_path_factory: pytest.TempPathFactory, bare_path: str) -> tuple[Path, str]:
    """A tree installed with ``-b -p`` under umask 022; returns (prefix, installer stdout)."""
    base = tmp_path_factory.mktemp("installed")
    prefix = base / "tree"
    result = support.run_installer(
        installer, "-b", "-p", str(prefix), home=base, env=support.clean_env(base, bare_path)
    )
    assert result.returncode == 0, result.stderr
    return prefix, result.stdout


def fake_wheel(path: Path) -> Path:
    """A tiny stand-in for the py-rattler wheel (enough to exercise the builder, not to run conda)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data, mode in (
            ("rattler/__init__.py", b"# fake\n", 0o644),
            ("rattler/rattler.abi3.so", b"\x7fELF fake", 0o755),
            ("py_rattler-0.28.0.dist-info/METADATA", b"Name: py-rattler\nVersion: 0.28.0\n", 0o644),
        ):
            info = zipfile.ZipInfo(name, date_time=(2025, 1, 2, 3, 4, 5))
            info.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(info, data)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def payload_of(installer: Path) -> bytes:
    return installer.read_bytes().split(make_installer.MARKER, 1)[1]


# ---------------------------------------------------------------------------------------------- build
def test_published_checksum_matches(installer: Path) -> None:
    line = (installer.parent / f"{installer.name}.sha256").read_text(encoding="utf-8")
    assert re.fullmatch(r"[0-9a-f]{64}  cpkgs-conda-standin-26\.7\.1-Linux-x86_64\.sh\n", line)
    assert line.split()[0] == sha256(installer)
    assert installer.stat().st_mode & 0o777 == 0o755


def test_rebuild_skipped_when_inputs_unchanged(installer: Path, wheel: Path) -> None:
    before = installer.stat().st_mtime_ns
    again, built = make_installer.build(support.STANDIN_SRC, wheel, installer.parent)
    assert (again, built) == (installer, False)
    assert installer.stat().st_mtime_ns == before


def test_build_is_deterministic(tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path / "py_rattler-0.28.0-fake.whl")
    first, built1 = make_installer.build(support.STANDIN_SRC, wheel, tmp_path / "one")
    # a copy of the sources with other mtimes must give the same bytes
    src = tmp_path / "src"
    shutil.copytree(support.STANDIN_SRC, src, ignore=shutil.ignore_patterns("__pycache__"))
    for path in src.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))
    second, built2 = make_installer.build(src, wheel, tmp_path / "two")
    assert built1 and built2
    assert sha256(first) == sha256(second)
    assert (first.parent / f"{first.name}.sha256").read_text() == (second.parent / f"{second.name}.sha256").read_text()


def test_changed_input_rebuilds(tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path / "py_rattler-0.28.0-fake.whl")
    src = tmp_path / "src"
    shutil.copytree(support.STANDIN_SRC, src, ignore=shutil.ignore_patterns("__pycache__"))
    first, _sha = make_installer.build(src, wheel, tmp_path / "out")
    digest = sha256(first)
    with (src / "conda_standin" / "__init__.py").open("a", encoding="utf-8") as handle:
        handle.write("# changed\n")
    again, built = make_installer.build(src, wheel, tmp_path / "out")
    assert built
    assert sha256(again) != digest


def test_payload_members_are_normalized(tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path / "py_rattler-0.28.0-fake.whl")
    installer, _sha = make_installer.build(support.STANDIN_SRC, wheel, tmp_path / "out")
    with tarfile.open(fileobj=io.BytesIO(payload_of(installer)), mode="r:gz") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", make_installer.MTIME)}
    modes = {m.name: m.mode for m in members}
    assert modes["lib/cpkgs-standin/rattler/rattler.abi3.so"] == 0o755
    assert modes["lib/cpkgs-standin/conda_standin/shell.py"] == 0o644
    assert modes["lib/cpkgs-standin"] == 0o755
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    for needed in ("etc/profile.d/conda.sh", "etc/profile.d/conda.csh", ".cpkgs-installer/post_install.py"):
        assert needed in names


def test_header_is_posix_sh(installer: Path) -> None:
    header = installer.read_bytes().split(make_installer.MARKER, 1)[0]
    result = subprocess.run(["sh", "-n"], input=header, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr
    if shutil.which("shellcheck"):
        check = subprocess.run(["shellcheck", "-s", "sh", "-"], input=header, capture_output=True, check=False)
        assert check.returncode == 0, check.stdout.decode()


# ---------------------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    ("args", "rc", "text"), [(["-h"], 0, "-p PREFIX"), (["-x"], 2, "usage:"), (["-b", "extra"], 2, "usage:")]
)
def test_options(installer: Path, tmp_path: Path, args: list[str], rc: int, text: str) -> None:
    result = support.run_installer(installer, *args, home=tmp_path)
    assert result.returncode == rc
    assert result.stdout.startswith(BANNER + "\n")
    assert text in result.stdout + result.stderr
    assert not (tmp_path / "cpkgs-conda-standin").exists()


def test_banner_and_batch_note(tree: tuple[Path, str]) -> None:
    _prefix, stdout = tree
    assert stdout.splitlines()[0] == BANNER
    assert "installation finished." in stdout
    assert "asks no questions" not in stdout


# ---------------------------------------------------------------------------------------------- the tree
@pytest.mark.parametrize(
    ("rel", "kind"),
    [
        ("bin/conda", "exec"),
        ("condabin/conda", "exec"),
        ("lib/cpkgs-standin/conda_standin/__init__.py", "file"),
        ("lib/cpkgs-standin/conda_standin/shell.py", "file"),
        ("lib/cpkgs-standin/rattler/__init__.py", "file"),
        ("lib/cpkgs-standin/rattler/rattler.abi3.so", "exec"),
        ("etc/profile.d/conda.sh", "file"),
        ("etc/profile.d/conda.csh", "file"),
        ("conda-meta/conda-26.7.1-standin_0.json", "file"),
        ("conda-meta/history", "file"),
        ("ssl/cacert.pem", "file"),
        ("envs", "dir"),
        ("pkgs", "dir"),
        (".condarc", "absent"),
        (".cpkgs-installer", "absent"),
    ],
)
def test_layout(tree: tuple[Path, str], rel: str, kind: str) -> None:
    path = tree[0] / rel
    if kind == "absent":
        assert not path.exists()
    elif kind == "dir":
        assert path.is_dir()
    else:
        assert path.is_file()
        assert bool(path.stat().st_mode & stat.S_IXUSR) == (kind == "exec")


def test_modes_follow_umask_022(tree: tuple[Path, str]) -> None:
    prefix = tree[0]
    paths = [prefix, *prefix.rglob("*")]
    assert not [p for p in paths if p.lstat().st_mode & stat.S_IWOTH], "world-writable paths"
    assert not [p for p in paths if not p.lstat().st_mode & stat.S_IROTH], "paths not world-readable"
    assert not [p for p in paths if p.is_dir() and not p.stat().st_mode & stat.S_IXOTH]


def test_empty_existing_prefix_with_umask_077(installer: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "private"
    prefix.mkdir(mode=0o700)
    result = support.run_installer(installer, "-b", "-p", str(prefix), home=tmp_path, umask="077")
    assert result.returncode == 0, result.stderr
    assert (prefix / "bin" / "conda").is_file()
    assert not [p for p in [prefix, *prefix.rglob("*")] if p.lstat().st_mode & 0o077]


@pytest.mark.parametrize("launcher", ["bin/conda", "condabin/conda"])
def test_launcher_shebang_and_version(tree: tuple[Path, str], launcher: str) -> None:
    path = tree[0] / launcher
    shebang = path.read_text(encoding="utf-8").splitlines()[0]
    python = shebang.removeprefix("#!")
    assert shebang.startswith("#!/") and " " not in python
    check = subprocess.run([python, "-c", "import sys; sys.exit(sys.version_info < (3, 10))"], check=False)
    assert check.returncode == 0
    result = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == VERSION_LINE
    assert result.stdout.split()[1] == "26.7.1"


def test_conda_meta_record(tree: tuple[Path, str]) -> None:
    prefix = tree[0]
    record = json.loads((prefix / "conda-meta" / "conda-26.7.1-standin_0.json").read_text(encoding="utf-8"))
    assert (record["name"], record["version"], record["build"]) == ("conda", "26.7.1", "standin_0")
    assert "bin/conda" in record["files"]
    assert all((prefix / rel).is_file() for rel in record["files"])
    assert "conda-26.7.1-standin_0" in (prefix / "conda-meta" / "history").read_text(encoding="utf-8")


@pytest.mark.parametrize("rel", ["etc/profile.d/conda.sh", "etc/profile.d/conda.csh"])
def test_profiles_filled_in(tree: tuple[Path, str], rel: str) -> None:
    prefix = tree[0]
    text = (prefix / rel).read_text(encoding="utf-8")
    assert "@PREFIX@" not in text and "@CONDA_EXE@" not in text and "@CONDA_PYTHON_EXE@" not in text
    assert f"'{prefix}/bin/conda'" in text


# ---------------------------------------------------------------------------------------------- existing prefixes
def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in root.rglob("*")}


@pytest.mark.parametrize("what", ["dir with a file", "a file"])
def test_refuses_existing_prefix(installer: Path, tmp_path: Path, what: str) -> None:
    prefix = tmp_path / "prefix"
    if what == "a file":
        prefix.write_text("keep me\n")
    else:
        prefix.mkdir()
        (prefix / "keep.txt").write_text("keep me\n")
    before = _snapshot(tmp_path)
    result = support.run_installer(installer, "-b", "-p", str(prefix), home=tmp_path)
    assert result.returncode == 1
    assert "ERROR" in result.stderr
    assert _snapshot(tmp_path) == before


def test_update_keeps_envs_pkgs_condarc(installer: Path, tree: tuple[Path, str], tmp_path: Path) -> None:
    prefix = tmp_path / "tree"
    shutil.copytree(tree[0], prefix, symlinks=True)
    (prefix / "envs" / "keep" / "conda-meta").mkdir(parents=True)
    (prefix / "pkgs" / "cached.conda").write_bytes(b"pkg")
    (prefix / ".condarc").write_text("channels:\n  - file:///srv/channel\n")
    stale = prefix / "lib" / "cpkgs-standin" / "conda_standin" / "stale.py"
    stale.write_text("# from an older stand-in\n")
    (prefix / "bin" / "conda").write_text("#!/bin/sh\nexit 3\n")
    result = support.run_installer(installer, "-b", "-u", "-p", str(prefix), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (prefix / "envs" / "keep" / "conda-meta").is_dir()
    assert (prefix / "pkgs" / "cached.conda").read_bytes() == b"pkg"
    assert (prefix / ".condarc").read_text() == "channels:\n  - file:///srv/channel\n"
    assert not stale.exists()
    version = subprocess.run([str(prefix / "bin" / "conda"), "--version"], capture_output=True, text=True, check=False)
    assert version.stdout.strip() == VERSION_LINE
    assert (prefix / "conda-meta" / "history").read_text().count("==> ") == 2


def test_force_lays_over_existing_dir(installer: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "tree"
    prefix.mkdir()
    (prefix / "unrelated.txt").write_text("mine\n")
    result = support.run_installer(installer, "-b", "-f", "-p", str(prefix), home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (prefix / "unrelated.txt").read_text() == "mine\n"
    assert (prefix / "condabin" / "conda").is_file()


# ---------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("damage", ["flip a payload byte", "truncate", "append garbage"])
def test_corrupted_installer_refused(installer: Path, tmp_path: Path, damage: str) -> None:
    data = bytearray(installer.read_bytes())
    if damage == "flip a payload byte":
        data[-1000] ^= 0xFF
    elif damage == "truncate":
        data = data[:-4096]
    else:
        data += b"garbage"
    broken = tmp_path / installer.name
    broken.write_bytes(bytes(data))
    prefix = tmp_path / "tree"
    result = support.run_installer(broken, "-b", "-p", str(prefix), home=tmp_path)
    assert result.returncode == 1
    assert "checksum mismatch" in result.stderr
    assert not prefix.exists()


def test_refuses_without_python310(installer: Path, tmp_path: Path) -> None:
    fakebin = tmp_path / "bin"
    fakebin.mkdir()
    for tool in ("uname",):
        (fakebin / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    old_python = fakebin / "python3"
    old_python.write_text("#!/bin/sh\n# a python older than 3.10\nexit 1\n")
    old_python.chmod(0o755)
    env = support.clean_env(tmp_path, str(fakebin), CPKGS_STANDIN_PYTHON=str(old_python))
    result = support.run_installer(installer, "-b", "-p", str(tmp_path / "tree"), home=tmp_path, env=env)
    assert result.returncode == 1
    assert f"python3 >= 3.10 (tried: {old_python})" in result.stderr
    assert not (tmp_path / "tree").exists()


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A scratch directory other accounts can enter (pytest's own tmp_path base is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="cpkgs-installer-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run as another account")
def test_tree_runs_for_other_accounts_whatever_python_the_caller_has(installer: Path, open_tmp: Path) -> None:
    """A caller whose first python3 lives where others cannot enter (a venv of a python under /root) still
    gets a tree that other accounts can run: the installer takes the system's python first."""
    private = open_tmp / "private"
    (private / "bin").mkdir(parents=True)
    (private / "bin" / "python3").symlink_to(sys.executable)
    private.chmod(0o700)
    prefix = open_tmp / "tree"
    env = support.clean_env(open_tmp, f"{private / 'bin'}:/usr/bin:/bin")
    result = support.run_installer(installer, "-b", "-p", str(prefix), home=open_tmp, env=env)
    assert result.returncode == 0, result.stderr
    home = open_tmp / "nobody-home"
    home.mkdir()
    home.chmod(0o777)
    run = subprocess.run(
        [str(prefix / "bin" / "conda"), "--version"],
        env=support.clean_env(home, "/usr/bin:/bin"),
        capture_output=True,
        text=True,
        check=False,
        user=65534,
        group=65534,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("conda 26.7.1")
