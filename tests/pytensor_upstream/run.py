"""Run PyTensor's own tests with tensorir's mode as PyTensor's default mode; print the counts.

    python tests/pytensor_upstream/run.py [--cache DIR] [--offline] [--module PATH ...] [-- PYTEST ARGS]

1. The source distribution of the installed PyTensor's version is fetched from the package index
   with pip (``pip download pytensor==V --no-binary pytensor --no-deps``) into the cache folder
   (``--cache``, default ``$XDG_CACHE_HOME/tensorir/pytensor-sdist``), once.
2. Its ``tests/`` folder is unpacked beside it (never its ``pytensor/`` package: the installed
   PyTensor is the one tested). Where the distribution lacks ``tests/unittest_tools.py``, which its
   test modules import, tensorir's stand-in (``unittest_tools_standin.py``) is put there.
3. The modules asked for run under pytest with ``tensorir_upstream_plugin`` (``pytensor.config.mode``
   = ``tensorir.pytensor.mode()``), a JUnit report is read back, and the counts of passed, failed,
   skipped and errors are printed with the failures grouped by cause.

The modules asked for by default are tests/tensor/test_elemwise.py, test_basic.py and
test_math.py. PyTensor's sdists on the index do not carry tests/tensor (2.38.2 ships only
tests/test_*.py); modules not in the distribution are listed as missing, and when none of them
is there every ``tests/test_*.py`` module of the distribution runs instead.

``--tests-from DIR`` takes the tests from a checkout of PyTensor's repository instead (at the tag of
the installed version, e.g. ``rel-2.38.2``), where tests/tensor exists; its ``tests/`` folder is
copied out, so the installed PyTensor is still the one tested.

This run is long and needs the network once: it is not part of the default test run
(tests/pytensor_upstream/test_upstream_runner.py checks the runner, and runs it, marked slow,
only when the distribution is already in the cache).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_ROOT = HERE.parents[1] / "src"
REQUESTED = ("tests/tensor/test_elemwise.py", "tests/tensor/test_basic.py", "tests/tensor/test_math.py")
PLUGIN = "tensorir_upstream_plugin"

# Failure causes, first match wins: (label, pattern over "ExceptionType: message" of the failure).
CAUSES: tuple[tuple[str, str], ...] = (
    ("pytest-benchmark is not installed (the test's 'benchmark' fixture)", r"fixture 'benchmark' not found"),
    ("a test support module the sdist does not ship", r"No module named 'tests\."),
    ("graph check: the compiled graph lacks an op PyTensor's default mode has",
     r"occurs \d+ times, expected|is not in the compiled graph"),
    ("test expects a C/Python-linker detail (thunks, vm, c_code, op.perform counts)",
     r"thunk|\bvm\b|c_code|CLinker|VMLinker|PerformLinker|has no attribute 'fn'"),
    ("a node left to PyTensor has no implementation outside PyTensor's VM", r"No Python implementation"),
    ("error message or exception type differs from PyTensor's", r"DID NOT RAISE|Regex pattern did not match"),
    ("tensorir refuses the graph (its own type or shape check)", r"EvaluationError|GraphError|IRError|InputError"),
    ("numerical mismatch", r"Not equal to tolerance|Mismatched elements|assert_allclose|allclose"),
    ("tensorir's stand-in for tests/unittest_tools.py", r"unittest_tools\.py"),
)


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tensorir" / "pytensor-sdist"


def installed_pytensor_version() -> str:
    from importlib.metadata import version

    return version("pytensor")


def sdist_path(cache: Path, version: str) -> Path:
    return cache / f"pytensor-{version}.tar.gz"


def fetch_sdist(cache: Path, version: str, offline: bool) -> Path:
    """The sdist in the cache, downloaded with pip when absent (and allowed)."""
    path = sdist_path(cache, version)
    if path.is_file():
        return path
    if offline:
        raise SystemExit(f"{path} is not there and --offline forbids downloading it")
    cache.mkdir(parents=True, exist_ok=True)
    # --no-binary pytensor (not :all:): the build requirements pip prepares metadata with stay wheels.
    command = [sys.executable, "-m", "pip", "download", f"pytensor=={version}", "--no-binary", "pytensor",
               "--no-deps", "--dest", str(cache)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not path.is_file():
        raise SystemExit(f"pip could not download the pytensor {version} sdist:\n{done.stdout}\n{done.stderr}")
    return path


def copy_tests(checkout: Path, target: Path) -> Path:
    """``tests/`` of a PyTensor checkout under ``target`` (replaced each time); returns ``target``."""
    if not (checkout / "tests").is_dir():
        raise SystemExit(f"--tests-from {checkout}: no tests/ folder there (give a PyTensor repository checkout)")
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(checkout / "tests", target / "tests")
    return target


def unpack_tests(sdist: Path, target: Path) -> Path:
    """``tests/`` of the sdist under ``target`` (replaced each time); returns ``target``."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        members = []
        for member in archive.getmembers():
            parts = Path(member.name).parts
            if len(parts) >= 2 and parts[1] == "tests" and (member.isfile() or member.isdir()):
                member.name = str(Path(*parts[1:]))
                members.append(member)
        archive.extractall(target, members=members, filter="data")
    helper = target / "tests" / "unittest_tools.py"
    if not helper.exists():
        shutil.copy(HERE / "unittest_tools_standin.py", helper)
    return target


@dataclass
class Report:
    """Counts and failures read from a JUnit XML report."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (test id, "Type: message")

    def causes(self) -> collections.Counter[str]:
        return collections.Counter(classify(message) for _, message in self.failures)


def read_junit(path: Path) -> Report:
    report = Report()
    for case in ElementTree.parse(path).iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        outcome = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        if outcome is None:
            report.passed += 1
        elif outcome.tag == "skipped":
            report.skipped += 1
        else:
            if outcome.tag == "failure":
                report.failed += 1
            else:
                report.errors += 1
            text = (outcome.get("message") or "") + "\n" + (outcome.text or "")
            report.failures.append((test_id, text.strip()))
    return report


def classify(message: str) -> str:
    for label, pattern in CAUSES:
        if re.search(pattern, message):
            return label
    first = message.splitlines()[0] if message else "no message"
    return "other: " + first[:100]


def run(modules: list[str], root: Path, extra: list[str]) -> Report:
    junit = root / "junit.xml"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SOURCE_ROOT), str(HERE), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "pytest", *modules, "-p", PLUGIN, "-q", "-p", "no:cacheprovider",
               "-o", "addopts=", "--continue-on-collection-errors", "--rootdir", str(root), f"--junitxml={junit}",
               *extra]
    subprocess.run(command, cwd=root, env=env)
    return read_junit(junit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=default_cache(),
                        help="folder for the sdist (default %(default)s)")
    parser.add_argument("--offline", action="store_true", help="use the cached sdist only")
    parser.add_argument("--module", action="append",
                        help="test module path inside the sdist (repeatable)")
    parser.add_argument("--tests-from", type=Path, help="a PyTensor repository checkout to take tests/ from")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)
    version = installed_pytensor_version()
    if args.tests_from is not None:
        root = copy_tests(args.tests_from, args.cache / f"pytensor-{version}-checkout-tests")
    else:
        root = unpack_tests(fetch_sdist(args.cache, version, args.offline), args.cache / f"pytensor-{version}-tests")
    requested = args.module or list(REQUESTED)
    present = [m for m in requested if (root / m).is_file()]
    missing = [m for m in requested if m not in present]
    for m in missing:
        print(f"not in the pytensor {version} tests given: {m}")
    if not present:
        present = sorted(str(p.relative_to(root)) for p in (root / "tests").glob("test_*.py"))
        print(f"none of the requested modules is there; running the {len(present)} test modules there are: "
              + ", ".join(present))
    report = run(present, root, args.pytest_args)
    print(f"\npytensor {version} tests with tensorir's mode: {report.passed} passed, {report.failed} failed, "
          f"{report.errors} errors, {report.skipped} skipped")
    for cause, count in report.causes().most_common():
        print(f"  {count:4d}  {cause}")
    for test_id, message in report.failures:
        print(f"  - {test_id}: {classify(message)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
