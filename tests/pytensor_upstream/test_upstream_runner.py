"""The runner of PyTensor's own tests: its pieces offline, and a short real run (slow) when the
sdist is already in the cache (it is fetched from the package index by run.py, never here)."""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytest.importorskip("pytensor", reason="the upstream runner needs the [pytensor] extra")
_spec = importlib.util.spec_from_file_location("pytensor_upstream_run", Path(__file__).with_name("run.py"))
runner = sys.modules["pytensor_upstream_run"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)


def _sdist(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"pytensor-0.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_unpack_takes_tests_only_and_adds_the_helper_stand_in(tmp_path: Path) -> None:
    sdist = _sdist(tmp_path / "p.tar.gz", {"pytensor/__init__.py": "raise SystemExit", "tests/test_a.py": "x = 1"})
    root = runner.unpack_tests(sdist, tmp_path / "unpacked")
    assert (root / "tests" / "test_a.py").read_text() == "x = 1"
    assert not (root / "pytensor").exists()  # the installed PyTensor is the one tested
    assert "stand-in" in (root / "tests" / "unittest_tools.py").read_text()


def test_junit_counts_and_failure_causes(tmp_path: Path) -> None:
    (tmp_path / "r.xml").write_text("""<testsuites><testsuite>
        <testcase classname="t" name="ok"/>
        <testcase classname="t" name="skip"><skipped message="no"/></testcase>
        <testcase classname="t" name="num"><failure message="AssertionError: Not equal to tolerance"/></testcase>
        <testcase classname="t" name="bench"><error message="fixture 'benchmark' not found"/></testcase>
    </testsuite></testsuites>""")
    report = runner.read_junit(tmp_path / "r.xml")
    assert (report.passed, report.failed, report.errors, report.skipped) == (1, 1, 1, 1)
    assert report.causes() == {"numerical mismatch": 1,
                               "pytest-benchmark is not installed (the test's 'benchmark' fixture)": 1}
    assert runner.classify("ValueError: something new").startswith("other: ValueError")


def test_missing_sdist_offline_says_so(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--offline"):
        runner.fetch_sdist(tmp_path, "0.0", offline=True)


@pytest.mark.slow
def test_a_real_module_runs_with_tensorirs_mode() -> None:
    cache = Path(os.environ.get("TENSORIR_PYTENSOR_SDIST", runner.default_cache()))
    version = runner.installed_pytensor_version()
    if not runner.sdist_path(cache, version).is_file():
        pytest.skip(f"the pytensor {version} sdist is not in {cache}; fetch it with "
                    "`python tests/pytensor_upstream/run.py` (needs the network once)")
    done = subprocess.run([sys.executable, str(Path(runner.__file__)), "--cache", str(cache), "--offline",
                           "--module", "tests/test_updates.py"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "tests with tensorir's mode: 3 passed, 0 failed" in done.stdout, done.stdout[-2000:]


def test_tests_from_a_checkout_are_copied(tmp_path: Path) -> None:
    (tmp_path / "checkout" / "tests" / "tensor").mkdir(parents=True)
    (tmp_path / "checkout" / "tests" / "tensor" / "test_math.py").write_text("y = 2")
    root = runner.copy_tests(tmp_path / "checkout", tmp_path / "out")
    assert (root / "tests" / "tensor" / "test_math.py").read_text() == "y = 2"
    with pytest.raises(SystemExit, match="no tests/ folder"):
        runner.copy_tests(tmp_path / "nothing", tmp_path / "out2")
