"""Recipe data of the cpkgs test-bed channels (fake packages, no real software inside).

Two channels are described here and built by ``build_channel.py``:

* ``cpkgs-testbed``: ISIS-like releases. ``isis X`` depends on ``isis-data >=1`` (noarch generic) and on
  ``libcspice 66.*`` (3.x releases) or ``libcspice 67.*`` (4.x releases), so upgrades change a dependency and
  pins are testable. The ``bin/`` scripts embed the install prefix through conda's text-mode prefix
  placeholder and fail (rc 3) when the embedded prefix is not where the script actually lives.
  ``osx-64`` and ``osx-arm64`` carry a few metadata-only releases for platform-selection tests.
  Sizes are realistic in shape (see ``PAYLOAD``): ``isis-data`` (shared by all 14 linux-64 releases) and
  ``libcspice`` (66 shared by the eight 3.x releases, 67 by the six 4.x ones) carry MBs of incompressible,
  deterministic bytes (a SHAKE-256 stream seeded with the package and path, so rebuilds are byte-identical),
  and each release carries a library of its own and many small files. The osx packages stay small.
* ``contract``: ``pkga 1.0/2.0 -> pkgb -> pkgc`` (noarch generic, license MIT, build ``0``), the channel the
  recorded conda contract samples were made with (same names, versions, depends and timestamps).

Everything is plain data so the builder can hash it: changing a recipe changes the channel hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

#: conda's standard prefix placeholder (conda-build default), replaced at install time.
PREFIX_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"

#: Subdirs every channel carries (with a repodata.json, empty where no package lives).
SUBDIRS = ("linux-64", "noarch", "osx-64", "osx-arm64")

#: ISIS-like releases on linux-64, oldest first.
ISIS_LINUX_VERSIONS = (
    "3.6.0", "3.6.2", "3.7.0", "3.7.1", "3.8.0", "3.8.1", "3.9.0", "3.9.1",
    "4.0.0", "4.0.1", "4.1.0", "4.1.1", "4.2.0", "4.3.0",
)  # fmt: skip

#: Metadata-only releases for macOS subdirs (platform selection tests).
ISIS_OSX_VERSIONS = {"osx-64": ("4.2.0", "4.3.0"), "osx-arm64": ("4.3.0",)}

#: Build timestamps (ms since the epoch) are fixed so packages are byte-identical between builds:
#: isis-data and libcspice on 2023-11-14, then one isis release every 30 days (4.3.0 in December 2024).
BASE_TIMESTAMP_MS = 1_700_000_000_000
RELEASE_STEP_MS = 30 * 86_400_000

#: Timestamps of the packages the conda contract samples were recorded with (FETCH records).
CONTRACT_TIMESTAMPS = {
    ("pkga", "1.0"): 1795302047921,
    ("pkga", "2.0"): 1795302048597,
    ("pkgb", "1.0"): 1795302047373,
    ("pkgc", "1.0"): 1795302046741,
}


#: Sizes of the generated payload (bytes). Built for linux-64 and noarch only. With these, one env holds about
#: 14.6 MB; on disk the 14 release envs took 226 MB as full copies and 57 MB hard-linked from one package cache
#: (benchmarks/share_links.py). The channel is about 45 MB and builds in a few seconds.
PAYLOAD = {
    "isis-data": {
        "large": (
            ("share/isis-data/base/kernels/pck00011.tpc", 3 << 20),
            ("share/isis-data/base/kernels/de430.bsp", 5 << 20),
        ),
        "small": 40,
    },
    "libcspice": {"large": (("lib/libcspice.so.{major}", 4 << 20),), "small": 120},
    "isis": {"large": (("lib/libisis.so.{version}", 1 << 20),), "small": 200},
}
#: Small files are 512 bytes .. 8 KiB (deterministic sizes from their seed).
SMALL_MIN, SMALL_MAX = 512, 8192


@dataclass(frozen=True)
class PkgFile:
    """One file of a package payload (path relative to the prefix).

    With ``size`` > 0 the content is not ``content`` but ``size`` bytes of the SHAKE-256 stream seeded with
    ``seed`` (incompressible and the same at every build); see ``file_bytes``.
    """

    path: str
    content: str
    executable: bool = False
    has_prefix: bool = False
    size: int = 0
    seed: str = ""


def file_bytes(pkg_file: PkgFile) -> bytes:
    """The bytes of a package file: its text, or its generated stream."""
    if pkg_file.size:
        return hashlib.shake_256(pkg_file.seed.encode()).digest(pkg_file.size)
    return pkg_file.content.encode()


def generated(path: str, seed: str, size: int) -> PkgFile:
    """A file of SIZE deterministic, incompressible bytes."""
    return PkgFile(path, "", size=size, seed=seed)


def payload(name: str, prefix_dir: str, **fmt: str) -> tuple[PkgFile, ...]:
    """The generated files of package NAME (``PAYLOAD[name]``): large files, then small ones below PREFIX_DIR."""
    spec = PAYLOAD[name]
    tag = "-".join([name, *fmt.values()])
    files = [generated(path.format(**fmt), f"{tag}/{path.format(**fmt)}", size) for path, size in spec["large"]]
    for i in range(spec["small"]):
        path = f"{prefix_dir}/{i // 50:02d}/part{i:04d}.dat"
        seed = f"{tag}/{path}"
        size = SMALL_MIN + int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big") % (SMALL_MAX - SMALL_MIN)
        files.append(generated(path, seed, size))
    return tuple(files)


@dataclass(frozen=True)
class Recipe:
    """Everything needed to build one ``.conda`` package."""

    name: str
    version: str
    subdir: str
    timestamp: int
    depends: tuple[str, ...] = ()
    build: str = "0"
    build_number: int = 0
    license: str = "MIT"
    summary: str = ""
    files: tuple[PkgFile, ...] = field(default_factory=tuple)

    @property
    def noarch(self) -> bool:
        """True for noarch generic packages."""
        return self.subdir == "noarch"

    @property
    def filename(self) -> str:
        """The package file name, ``name-version-build.conda``."""
        return f"{self.name}-{self.version}-{self.build}.conda"


def prefix_script(tool: str, label: str) -> str:
    """A POSIX sh script printing ``LABEL prefix=PREFIX`` that checks its embedded prefix.

    The placeholder line is rewritten by the installer (text mode). The script resolves where it really lives
    (``$(dirname "$0")/..``) and exits 3 if that is not the embedded prefix, so relocation bugs show.
    """
    return f"""#!/bin/sh
# {tool}: fake tool from the cpkgs test-bed channel ({label}); not real software.
# The next line is rewritten at install time (conda prefix placeholder, text mode).
embedded='{PREFIX_PLACEHOLDER}'
actual=$(cd "$(dirname "$0")/.." && pwd -P) || exit 2
expected=$(cd "$embedded" 2>/dev/null && pwd -P) || expected=$embedded
if [ "$actual" != "$expected" ]; then
    echo "{tool}: embedded prefix '$embedded' does not match actual prefix '$actual'" >&2
    exit 3
fi
echo "{label} prefix=$embedded"
"""


def _cspice_for(isis_version: str) -> str:
    """The libcspice major an isis release pins (3.x -> 66, 4.x -> 67)."""
    return "66" if isis_version.startswith("3.") else "67"


#: What the release packages' activation scripts do, as ISIS's own package does: ISISROOT is the environment,
#: ISISDATA its data area; the deactivate scripts unset both. conda sources ``*.sh`` in POSIX shells and
#: ``*.csh`` in csh/tcsh (``etc/conda/activate.d``, sorted; ``deactivate.d``, reverse order).
ISIS_ACTIVATE_SH = 'export ISISROOT="${CONDA_PREFIX}"\nexport ISISDATA="${CONDA_PREFIX}/share/isis-data"\n'
ISIS_ACTIVATE_CSH = 'setenv ISISROOT "${CONDA_PREFIX}"\nsetenv ISISDATA "${CONDA_PREFIX}/share/isis-data"\n'
ISIS_DEACTIVATE_SH = "unset ISISROOT\nunset ISISDATA\n"
ISIS_DEACTIVATE_CSH = "unsetenv ISISROOT\nunsetenv ISISDATA\n"


def _isis_recipe(version: str, subdir: str, timestamp: int) -> Recipe:
    extra = payload("isis", "share/isis/appdata", version=version) if subdir == "linux-64" else ()
    return Recipe(
        name="isis",
        version=version,
        subdir=subdir,
        timestamp=timestamp,
        depends=("isis-data >=1", f"libcspice {_cspice_for(version)}.*"),
        summary=f"Fake ISIS-like release {version} (cpkgs test bed)",
        files=(
            PkgFile("bin/isis-version", prefix_script("isis-version", f"isis {version}"), True, True),
            PkgFile("share/isis/VERSION", f"{version}\n"),
            PkgFile("etc/conda/activate.d/isis-activate.sh", ISIS_ACTIVATE_SH),
            PkgFile("etc/conda/activate.d/isis-activate.csh", ISIS_ACTIVATE_CSH),
            PkgFile("etc/conda/deactivate.d/isis-deactivate.sh", ISIS_DEACTIVATE_SH),
            PkgFile("etc/conda/deactivate.d/isis-deactivate.csh", ISIS_DEACTIVATE_CSH),
            *extra,
        ),
    )


def _cspice_recipe(major: str, subdir: str, timestamp: int) -> Recipe:
    extra = payload("libcspice", "include/cspice", major=major) if subdir == "linux-64" else ()
    return Recipe(
        name="libcspice",
        version=major,
        subdir=subdir,
        timestamp=timestamp,
        summary=f"Fake SPICE-like library {major} (cpkgs test bed)",
        files=(
            PkgFile("bin/libcspice-info", prefix_script("libcspice-info", f"libcspice {major}"), True, True),
            PkgFile("share/libcspice/VERSION", f"{major}\n"),
            # A package's own activation variables (conda reads etc/conda/env_vars.d/*.json at activation).
            PkgFile("etc/conda/env_vars.d/libcspice.json", json.dumps({"CSPICE_MAJOR": major}) + "\n"),
            *extra,
        ),
    )


def testbed_recipes() -> list[Recipe]:
    """Recipes of the ``cpkgs-testbed`` channel."""
    recipes = [
        Recipe(
            name="isis-data",
            version="1.0",
            subdir="noarch",
            timestamp=BASE_TIMESTAMP_MS,
            summary="Fake ISIS data area (cpkgs test bed)",
            files=(
                PkgFile("share/isis-data/README", "Fake ISIS data area of the cpkgs test bed.\n"),
                *payload("isis-data", "share/isis-data/base/translations"),
            ),
        )
    ]
    for subdir in ("linux-64", *ISIS_OSX_VERSIONS):
        for i, major in enumerate(("66", "67")):
            if subdir != "linux-64" and major == "66":
                continue
            recipes.append(_cspice_recipe(major, subdir, BASE_TIMESTAMP_MS + (i + 1) * 1000))
    for i, version in enumerate(ISIS_LINUX_VERSIONS):
        recipes.append(_isis_recipe(version, "linux-64", BASE_TIMESTAMP_MS + (i + 1) * RELEASE_STEP_MS))
    for subdir, versions in ISIS_OSX_VERSIONS.items():
        for version in versions:
            index = ISIS_LINUX_VERSIONS.index(version)
            recipes.append(_isis_recipe(version, subdir, BASE_TIMESTAMP_MS + (index + 1) * RELEASE_STEP_MS))
    return recipes


def contract_recipes() -> list[Recipe]:
    """Recipes of the ``contract`` channel (as in the recorded conda contract samples)."""
    depends = {("pkga", "1.0"): (), ("pkga", "2.0"): ("pkgb",), ("pkgb", "1.0"): ("pkgc >=1.0",), ("pkgc", "1.0"): ()}
    return [
        Recipe(
            name=name,
            version=version,
            subdir="noarch",
            timestamp=CONTRACT_TIMESTAMPS[(name, version)],
            depends=deps,
            summary=f"Contract test package {name} {version} (cpkgs test bed)",
            files=(PkgFile(f"share/{name}/{name}.txt", f"{name} {version}\n"),),
        )
        for (name, version), deps in depends.items()
    ]


def channels() -> dict[str, list[Recipe]]:
    """All channels by directory name."""
    return {"cpkgs-testbed": testbed_recipes(), "contract": contract_recipes()}
