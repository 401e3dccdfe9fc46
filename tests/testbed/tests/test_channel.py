"""Tests of the test-bed channel builder (tests/testbed/channel/build_channel.py).

Builds the channels into temporary directories (about 2 s each), checks the repodata
against expectations written out here, the determinism and the cache of the builder, the package metadata,
and installs packages with py-rattler (in child processes) to prove the prefix placeholder is rewritten.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
CHANNEL_SRC = REPO / "tests" / "testbed" / "channel"
BUILDER = CHANNEL_SRC / "build_channel.py"
VERIFIER = CHANNEL_SRC / "verify_channel.py"
PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
SUBDIRS = ("linux-64", "noarch", "osx-64", "osx-arm64")

ISIS_LINUX = (
    "3.6.0", "3.6.2", "3.7.0", "3.7.1", "3.8.0", "3.8.1", "3.9.0", "3.9.1",
    "4.0.0", "4.0.1", "4.1.0", "4.1.1", "4.2.0", "4.3.0",
)  # fmt: skip
CONTRACT = {
    # fn: (depends, timestamp of the recorded conda contract sample)
    "pkga-1.0-0.conda": ([], 1795302047921),
    "pkga-2.0-0.conda": (["pkgb"], 1795302048597),
    "pkgb-1.0-0.conda": (["pkgc >=1.0"], 1795302047373),
    "pkgc-1.0-0.conda": ([], 1795302046741),
}


def run_builder(outdir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the builder as a child process (py-rattler is only ever loaded in children)."""
    cmd = [sys.executable, str(BUILDER), str(outdir), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def run_verifier(*args: str) -> subprocess.CompletedProcess[str]:
    """Run verify_channel.py as a child process."""
    cmd = [sys.executable, str(VERIFIER), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def tree_digests(root: Path) -> dict[str, str]:
    """sha256 of every channel file below ROOT (lock file excluded), by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def repodata(root: Path, channel: str, subdir: str) -> dict:
    """Parsed repodata.json of one subdir."""
    return json.loads((root / channel / subdir / "repodata.json").read_text())


def package_member(path: Path, member: str) -> bytes:
    """Read one member from the info or pkg component of a .conda file."""
    from conda_package_streaming.package_streaming import stream_conda_component

    component = "info" if member.startswith("info/") else "pkg"
    with open(path, "rb") as handle:
        for tar, info in stream_conda_component(path.name, handle, component=component):
            if info.name == member:
                extracted = tar.extractfile(info)
                assert extracted is not None
                return extracted.read()
    raise AssertionError(f"{member} not in {path}")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh build of both channels."""
    outdir = tmp_path_factory.mktemp("channel-a")
    proc = run_builder(outdir)
    assert proc.returncode == 0, proc.stderr
    assert "built channels" in proc.stdout
    assert "cpkgs-testbed: 22 packages" in proc.stdout
    assert "contract: 4 packages" in proc.stdout
    return outdir


# ------------------------------------------------------------------------------------------------- repodata
@pytest.mark.parametrize("channel", ["cpkgs-testbed", "contract"])
@pytest.mark.parametrize("subdir", SUBDIRS)
def test_every_subdir_has_repodata(built: Path, channel: str, subdir: str) -> None:
    data = repodata(built, channel, subdir)
    assert data["info"]["subdir"] == subdir
    assert data["packages"] == {}  # only .conda packages
    for fn, record in data["packages.conda"].items():
        assert (built / channel / subdir / fn).is_file()
        assert record["subdir"] == subdir
        assert len(record["sha256"]) == 64
        assert record["size"] == (built / channel / subdir / fn).stat().st_size


@pytest.mark.parametrize("version", ISIS_LINUX)
def test_isis_linux_release(built: Path, version: str) -> None:
    record = repodata(built, "cpkgs-testbed", "linux-64")["packages.conda"][f"isis-{version}-0.conda"]
    cspice = "66" if version.startswith("3.") else "67"
    assert (record["name"], record["version"], record["build"]) == ("isis", version, "0")
    assert record["depends"] == ["isis-data >=1", f"libcspice {cspice}.*"]
    assert (record["arch"], record["platform"]) == ("x86_64", "linux")


def test_isis_linux_release_set(built: Path) -> None:
    records = repodata(built, "cpkgs-testbed", "linux-64")["packages.conda"].values()
    assert sorted(r["version"] for r in records if r["name"] == "isis") == sorted(ISIS_LINUX)
    assert sorted(r["version"] for r in records if r["name"] == "libcspice") == ["66", "67"]


def test_isis_timestamps_increase_with_version(built: Path) -> None:
    records = repodata(built, "cpkgs-testbed", "linux-64")["packages.conda"]
    stamps = [records[f"isis-{v}-0.conda"]["timestamp"] for v in ISIS_LINUX]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)


@pytest.mark.parametrize(
    ("subdir", "versions", "arch"), [("osx-64", ["4.2.0", "4.3.0"], "x86_64"), ("osx-arm64", ["4.3.0"], "arm64")]
)
def test_osx_subdirs(built: Path, subdir: str, versions: list[str], arch: str) -> None:
    records = repodata(built, "cpkgs-testbed", subdir)["packages.conda"]
    assert sorted(r["version"] for r in records.values() if r["name"] == "isis") == versions
    assert [r["version"] for r in records.values() if r["name"] == "libcspice"] == ["67"]
    assert all((r["arch"], r["platform"]) == (arch, "osx") for r in records.values())


def test_isis_data_is_noarch_generic(built: Path) -> None:
    records = repodata(built, "cpkgs-testbed", "noarch")["packages.conda"]
    assert list(records) == ["isis-data-1.0-0.conda"]
    assert records["isis-data-1.0-0.conda"]["noarch"] == "generic"


def test_contract_channel_exact(built: Path) -> None:
    records = repodata(built, "contract", "noarch")["packages.conda"]
    assert sorted(records) == sorted(CONTRACT)
    for subdir in ("linux-64", "osx-64", "osx-arm64"):
        assert repodata(built, "contract", subdir)["packages.conda"] == {}


@pytest.mark.parametrize("fn", sorted(CONTRACT))
def test_contract_record(built: Path, fn: str) -> None:
    record = repodata(built, "contract", "noarch")["packages.conda"][fn]
    depends, timestamp = CONTRACT[fn]
    name, version, build = fn[: -len(".conda")].rsplit("-", 2)
    assert (record["name"], record["version"], record["build"], record["build_number"]) == (name, version, build, 0)
    assert record["depends"] == depends
    assert record["license"] == "MIT"
    assert record["noarch"] == "generic"
    assert record["timestamp"] == timestamp


# ------------------------------------------------------------------------------------------------- package files
def test_prefix_placeholder_metadata(built: Path) -> None:
    pkg = built / "cpkgs-testbed" / "linux-64" / "isis-4.3.0-0.conda"
    assert package_member(pkg, "info/has_prefix").decode() == f"{PLACEHOLDER} text bin/isis-version\n"
    paths = {p["_path"]: p for p in json.loads(package_member(pkg, "info/paths.json"))["paths"]}
    script = package_member(pkg, "bin/isis-version")
    assert paths["bin/isis-version"]["file_mode"] == "text"
    assert paths["bin/isis-version"]["prefix_placeholder"] == PLACEHOLDER
    assert paths["bin/isis-version"]["sha256"] == hashlib.sha256(script).hexdigest()
    assert PLACEHOLDER.encode() in script
    assert "prefix_placeholder" not in paths["share/isis/VERSION"]
    assert package_member(pkg, "info/files").decode().splitlines() == sorted(paths)
    index = json.loads(package_member(pkg, "info/index.json"))
    assert index["subdir"] == "linux-64" and index["depends"] == ["isis-data >=1", "libcspice 67.*"]


def test_members_are_anonymous_with_fixed_mtime(built: Path) -> None:
    from conda_package_streaming.package_streaming import stream_conda_component

    pkg = built / "contract" / "noarch" / "pkgb-1.0-0.conda"
    with open(pkg, "rb") as handle:
        members = [info for _tar, info in stream_conda_component(pkg.name, handle, component="info")]
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
    assert {m.mtime for m in members} == {CONTRACT["pkgb-1.0-0.conda"][1] // 1000}
    with zipfile.ZipFile(pkg) as outer:  # zipfile stamps the wall clock unless the builder fixes it
        assert [i.filename for i in outer.infolist()] == [
            "metadata.json",
            "pkg-pkgb-1.0-0.tar.zst",
            "info-pkgb-1.0-0.tar.zst",
        ]
        year, month, day, hour, minute, second = time.gmtime(CONTRACT["pkgb-1.0-0.conda"][1] // 1000)[:6]
        expected = (year, month, day, hour, minute, second - second % 2)  # zip dates have 2 s resolution
        assert {i.date_time for i in outer.infolist()} == {expected}


# ------------------------------------------------------------------------------------------------- determinism / cache
def test_two_builds_are_byte_identical(built: Path, tmp_path: Path) -> None:
    proc = run_builder(tmp_path / "b")
    assert proc.returncode == 0, proc.stderr
    first, second = tree_digests(built), tree_digests(tmp_path / "b")
    assert sum(1 for name in first if name.endswith(".conda")) == 26
    assert first == second


def test_cache_hit_does_nothing(built: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in built.rglob("*") if p.is_file() and p.name != ".lock"}
    start = time.monotonic()
    proc = run_builder(built)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout
    assert elapsed < 1.0
    assert {p: p.stat().st_mtime_ns for p in built.rglob("*") if p.is_file() and p.name != ".lock"} == before


@pytest.mark.parametrize("damage", ["force", "stale-hash", "missing-repodata"])
def test_rebuild_when_needed(built: Path, tmp_path: Path, damage: str) -> None:
    outdir = tmp_path / "c"
    shutil.copytree(built, outdir)
    extra = []
    if damage == "force":
        extra = ["--force"]
    elif damage == "stale-hash":
        (outdir / ".recipe-hash").write_text("0" * 64 + "\n")
    else:
        (outdir / "contract" / "osx-arm64" / "repodata.json").unlink()
    proc = run_builder(outdir, *extra)
    assert proc.returncode == 0, proc.stderr
    assert "built channels" in proc.stdout
    assert tree_digests(outdir) == tree_digests(built)


def test_error_is_reported(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    proc = run_builder(not_a_dir)
    assert proc.returncode == 1
    assert proc.stderr.startswith("build_channel: error:")


# ------------------------------------------------------------------------------------------------- install for real
@pytest.mark.parametrize(("isis", "cspice"), [("3.6.0", "66"), ("4.3.0", "67")])
def test_install_rewrites_prefix(built: Path, tmp_path: Path, isis: str, cspice: str) -> None:
    prefix = tmp_path / "env"
    proc = run_verifier("install", str(built / "cpkgs-testbed"), str(prefix), f"isis={isis}")
    assert proc.returncode == 0, proc.stderr
    versions = {row["name"]: row["version"] for row in json.loads(proc.stdout)}
    assert versions == {"isis": isis, "isis-data": "1.0", "libcspice": cspice}
    env = {"PATH": "/usr/bin:/bin"}
    for tool, label in (("isis-version", f"isis {isis}"), ("libcspice-info", f"libcspice {cspice}")):
        script = prefix / "bin" / tool
        assert PLACEHOLDER not in script.read_text()
        run = subprocess.run([str(script)], capture_output=True, text=True, env=env, check=False)
        assert (run.returncode, run.stdout) == (0, f"{label} prefix={prefix}\n"), run.stderr
    meta = json.loads(next((prefix / "conda-meta").glob(f"isis-{isis}-0.json")).read_text())
    assert [spec.split()[0] for spec in meta["requested_specs"]] == ["isis"]
    script_meta = next(p for p in meta["paths_data"]["paths"] if p["_path"] == "bin/isis-version")
    assert script_meta["prefix_placeholder"] == PLACEHOLDER
    assert script_meta["sha256_in_prefix"] == hashlib.sha256((prefix / "bin" / "isis-version").read_bytes()).hexdigest()
    assert script_meta["sha256_in_prefix"] != script_meta["sha256"]
    moved = tmp_path / "moved"
    prefix.rename(moved)
    run = subprocess.run([str(moved / "bin" / "isis-version")], capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 3
    assert "does not match actual prefix" in run.stderr


@pytest.mark.parametrize(("platform", "isis"), [("osx-64", "4.3.0"), ("osx-arm64", "4.3.0"), ("linux-64", "4.3.0")])
def test_platform_selection(built: Path, platform: str, isis: str) -> None:
    proc = run_verifier("solve", str(built / "cpkgs-testbed"), "isis", "--platform", platform)
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert (rows["isis"]["version"], rows["isis"]["subdir"]) == (isis, platform)
    assert rows["libcspice"]["subdir"] == platform
    assert rows["isis-data"]["subdir"] == "noarch"


def test_osx_arm64_has_no_old_release(built: Path) -> None:
    proc = run_verifier("solve", str(built / "cpkgs-testbed"), "isis=4.2.0", "--platform", "osx-arm64")
    assert proc.returncode == 1
    assert "verify_channel: error:" in proc.stderr


def test_package_member_reports_missing(built: Path) -> None:
    """Guard for the package_member() helper the metadata tests rely on."""
    with pytest.raises(AssertionError, match="not in"):
        package_member(built / "contract" / "noarch" / "pkgc-1.0-0.conda", "info/has_prefix")


# ------------------------------------------------------------------------------------------------- realistic sizes
def payload_of(pkg: Path) -> dict[str, int]:
    """``{path: size_in_bytes}`` of a package's payload, from its info/paths.json."""
    return {p["_path"]: p["size_in_bytes"] for p in json.loads(package_member(pkg, "info/paths.json"))["paths"]}


@pytest.mark.parametrize(
    ("rel", "min_bytes", "min_files"),
    [
        ("noarch/isis-data-1.0-0.conda", 8 << 20, 40),
        ("linux-64/libcspice-66-0.conda", 4 << 20, 120),
        ("linux-64/libcspice-67-0.conda", 4 << 20, 120),
        ("linux-64/isis-3.6.0-0.conda", 1 << 20, 200),
        ("linux-64/isis-4.3.0-0.conda", 1 << 20, 200),
    ],
)
def test_linux_packages_have_realistic_payloads(built: Path, rel: str, min_bytes: int, min_files: int) -> None:
    pkg = built / "cpkgs-testbed" / rel
    sizes = payload_of(pkg)
    assert sum(sizes.values()) >= min_bytes
    assert len(sizes) >= min_files
    assert sum(1 for size in sizes.values() if size <= 8192) >= min_files  # many small files beside the big ones
    # incompressible: the package is not much smaller than what it unpacks to
    assert pkg.stat().st_size >= 0.95 * sum(sizes.values())


def test_osx_packages_stay_small(built: Path) -> None:
    packages = sorted((built / "cpkgs-testbed").glob("osx-*/*.conda"))
    assert len(packages) == 5
    assert all(pkg.stat().st_size < 16384 for pkg in packages)


def test_big_files_are_shared_by_releases_through_dependencies(built: Path) -> None:
    """The bulk of a release env comes from the dependencies all releases (isis-data) or a series share."""
    channel = built / "cpkgs-testbed"
    own = sum(payload_of(channel / "linux-64" / "isis-4.3.0-0.conda").values())
    shared = sum(payload_of(channel / "noarch" / "isis-data-1.0-0.conda").values()) + sum(
        payload_of(channel / "linux-64" / "libcspice-67-0.conda").values()
    )
    assert shared > 5 * own
    libs = {
        major: package_member(channel / "linux-64" / f"libcspice-{major}-0.conda", f"lib/libcspice.so.{major}")
        for major in ("66", "67")
    }
    assert libs["66"] != libs["67"]
    assert len(libs["66"]) == 4 << 20


def test_release_payloads_differ(built: Path) -> None:
    channel = built / "cpkgs-testbed" / "linux-64"
    one = package_member(channel / "isis-4.2.0-0.conda", "share/isis/appdata/00/part0000.dat")
    two = package_member(channel / "isis-4.3.0-0.conda", "share/isis/appdata/00/part0000.dat")
    assert one != two
    assert 512 <= len(one) <= 8192


def test_payload_change_changes_the_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(CHANNEL_SRC))
    import build_channel
    import channel_recipes

    before = build_channel.recipe_hash()
    assert build_channel.recipe_hash() == before
    changed = dict(channel_recipes.PAYLOAD["isis"], small=channel_recipes.PAYLOAD["isis"]["small"] + 1)
    monkeypatch.setitem(channel_recipes.PAYLOAD, "isis", changed)
    assert build_channel.recipe_hash() != before
