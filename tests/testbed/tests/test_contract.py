"""The conda stand-in against the recorded conda 26.7.1 output (tests/testbed/contract/*.json).

Each sample is replayed (the command of contract/README.md) in a fresh temporary tree against the contract
channel, and the output must have the same rc and the same JSON shape: the same keys, the same value types
(recursively; list elements compared with the shape of the sample's elements), where ``null`` in a sample
accepts ``null`` or a string. Mappings keyed by paths (``envs_details``, ``env_vars``) are compared by
their values. A sample without a scenario here fails, so a new sample is noticed.

With ``CPKGS_TEST_CONDA_EXE=/path/to/conda`` the same scenarios run against that real conda (``-p``
prefixes in a temporary directory, ``CONDARC``, ``CONDA_PKGS_DIRS`` and ``CONDA_ENVS_DIRS`` pointing there),
which checks the samples themselves.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "standin"))

from standin_testing import CONTRACT_DIR, Result, Tree, conda_exe, contract_channel

SAMPLES = sorted(path.stem for path in CONTRACT_DIR.glob("*.json"))
#: Dicts keyed by paths or variable names: their values are compared, not their keys.
MAPPINGS = {"envs_details", "env_vars"}

Shape = object


# ------------------------------------------------------------------------------------------- shapes


def shape_of(value: object, key: str = "") -> Shape:
    """A value's shape: a set of type names for scalars, ``{"dict": ...}``, ``{"list": ...}``, ``{"map": ...}``."""
    if isinstance(value, dict):
        if key in MAPPINGS:
            return {"map": _merge_all([shape_of(v) for v in value.values()])}
        return {"dict": {k: shape_of(v, k) for k, v in value.items()}}
    if isinstance(value, list):
        return {"list": _merge_all([shape_of(v) for v in value])}
    return {type(value).__name__}


def _merge_all(shapes: list[Shape]) -> Shape | None:
    merged: Shape | None = None
    for shape in shapes:
        merged = shape if merged is None else merge(merged, shape)
    return merged


def merge(a: Shape, b: Shape) -> Shape:
    """The shape allowing both ``a`` and ``b`` (union of scalar types, key-wise for dicts)."""
    if isinstance(a, set) and isinstance(b, set):
        return a | b
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        kind = next(iter(a))
        if kind == "dict":
            keys = a["dict"].keys() | b["dict"].keys()
            return {"dict": {k: merge(a["dict"].get(k, {"missing"}), b["dict"].get(k, {"missing"})) for k in keys}}
        inner = [s for s in (a[kind], b[kind]) if s is not None]
        return {kind: _merge_all(inner)}
    raise AssertionError(f"sample mixes shapes {a!r} and {b!r}")


def shape_errors(value: object, shape: Shape | None, where: str = "$") -> list[str]:
    """Differences between a value and a sample shape (empty list: it conforms)."""
    if shape is None:  # elements of an empty sample list: anything goes
        return []
    if isinstance(shape, set):
        allowed = set(shape)
        if allowed == {"NoneType"}:
            allowed.add("str")
        name = type(value).__name__
        return [] if name in allowed else [f"{where}: {name} where the sample has {sorted(shape)}"]
    kind = next(iter(shape))
    if kind == "dict":
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__} where the sample has an object"]
        errors = []
        missing, extra = shape["dict"].keys() - value.keys(), value.keys() - shape["dict"].keys()
        if missing:
            errors.append(f"{where}: missing keys {sorted(missing)}")
        if extra:
            errors.append(f"{where}: extra keys {sorted(extra)}")
        for key in shape["dict"].keys() & value.keys():
            errors += shape_errors(value[key], shape["dict"][key], f"{where}.{key}")
        return errors
    expected = dict if kind == "map" else list
    if not isinstance(value, expected):
        return [f"{where}: {type(value).__name__} where the sample has a {expected.__name__}"]
    items = value.items() if kind == "map" else enumerate(value)
    return [err for k, v in items for err in shape_errors(v, shape[kind], f"{where}[{k!r}]")]


def sample(name: str) -> object:
    return json.loads((CONTRACT_DIR / f"{name}.json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------- scenarios


class Bed:
    """A temporary tree and the commands of the samples (stand-in, or real conda with CPKGS_TEST_CONDA_EXE)."""

    def __init__(self, base: Path, channel: str) -> None:
        self.base = base
        self.channel = channel
        self.envs = base / "envs"
        self.tree = Tree(
            base,
            exe=conda_exe(),
            extra_env={"CONDA_PKGS_DIRS": str(base / "pkgs"), "CONDA_ENVS_DIRS": str(self.envs)},
        )

    def prefix(self, name: str) -> str:
        return str(self.envs / name)

    def run(self, *args: str) -> Result:
        return self.tree.run(*args)

    def create(self, name: str, *specs: str, extra: tuple[str, ...] = ()) -> Result:
        chans = ("--offline", "--override-channels", "-c", self.channel)
        return self.run("create", "-p", self.prefix(name), *chans, *specs, *extra, "-y", "--json")

    def install(self, name: str, *args: str) -> Result:
        chans = ("--offline", "--override-channels", "-c", self.channel)
        return self.run("install", "-p", self.prefix(name), *chans, *args, "--json")

    def created(self, name: str, *specs: str) -> Bed:
        result = self.create(name, *specs)
        assert result.rc == 0, result
        return self


def _create_rattler(bed: Bed) -> Result:
    bed.created("e1", "pkga")
    result = bed.create("e4", "pkga", extra=("--solver", "rattler"))
    if conda_exe() and result.rc != 0:
        pytest.skip("this conda has no rattler solver (conda-rattler-solver)")
    return result


SCENARIOS: dict[str, Callable[[Bed], Result]] = {
    "create": lambda bed: bed.create("e1", "pkga"),
    "create_exists": lambda bed: bed.created("e1", "pkga").create("e1", "pkga"),
    "create_fail": lambda bed: bed.create("e1", "nosuchpkg"),
    "create_rattlersolver": _create_rattler,
    "dryrun_change": lambda bed: bed.created("e1", "pkga").install("e1", "pkga=1.0", "--dry-run"),
    "dryrun_noop": lambda bed: bed.created("e1", "pkga").install("e1", "pkga", "--dry-run"),
    "list": lambda bed: bed.created("e1", "pkga").run("list", "-p", bed.prefix("e1"), "--json"),
    "list_r1": lambda bed: bed.created("r1", "pkga").run("list", "-p", bed.prefix("r1"), "--json"),
    "r1_downgrade": lambda bed: bed.created("r1", "pkga").install("r1", "pkga=1.0", "-y"),
    "remove_all": lambda bed: bed.created("e2", "pkgc").run("remove", "-p", bed.prefix("e2"), "--all", "-y", "--json"),
    "remove_missing": lambda bed: bed.run("remove", "-p", bed.prefix("nope"), "--all", "-y", "--json"),
    "envlist": lambda bed: bed.created("e1", "pkga").run("env", "list", "--json"),
    "info": lambda bed: bed.created("e1", "pkga").run("info", "--json"),
}
EXPECTED_RC = {"create_fail": 1, "remove_missing": 1}


@pytest.fixture(scope="module")
def channel() -> str:
    return contract_channel()


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_shape(name: str, channel: str, tmp_path: Path) -> None:
    """The stand-in (or $CPKGS_TEST_CONDA_EXE) prints what the sample shows, shape for shape, with its rc."""
    if name not in SCENARIOS:
        pytest.fail(f"contract sample {name}.json has no scenario in test_contract.py: add one")
    result = SCENARIOS[name](Bed(tmp_path, channel))
    assert result.rc == EXPECTED_RC.get(name, 0), result
    expected = sample(name)
    errors = shape_errors(result.json, shape_of(expected))
    assert not errors, "\n".join(errors)
    if isinstance(expected, dict) and "exception_name" in expected:
        assert result.json["exception_name"] == expected["exception_name"]  # type: ignore[index]


def test_every_scenario_has_a_sample() -> None:
    """No stale scenario: each one names a sample file."""
    assert sorted(SCENARIOS) == SAMPLES


@pytest.mark.parametrize(
    ("value", "sample_value", "ok"),
    [
        ({"a": 1}, {"a": 2}, True),
        ({"a": True}, {"a": 2}, False),  # bool is not int
        ({"a": 1, "b": 2}, {"a": 2}, False),  # extra key
        ({}, {"a": 2}, False),  # missing key
        ({"a": "x"}, {"a": None}, True),  # null in the sample accepts a string
        ({"a": None}, {"a": None}, True),
        ({"a": 3}, {"a": None}, False),
        ([{"a": 1}, {"a": 2}], [{"a": 1}], True),
        ([{"a": 1}, {"b": 2}], [{"a": 1}], False),
        ([1, "x"], [], True),  # an empty sample list says nothing about elements
        ({"envs_details": {"/x": {"w": None}, "/y": {"w": True}}}, {"envs_details": {"/a": {"w": True}}}, False),
        ({"envs_details": {"/x": {"w": True}}}, {"envs_details": {"/a": {"w": True}, "/b": {"w": None}}}, True),
    ],
)
def test_shape_comparison(value: object, sample_value: object, ok: bool) -> None:
    """The comparison itself can fail."""
    assert (not shape_errors(value, shape_of(sample_value))) is ok
