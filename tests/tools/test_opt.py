"""``tensorir-opt``: passes, IR printing, options and one-line diagnostics."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from tensorir.dialects.parser import parse_module
from tensorir.tools.opt import main, parse_pipeline, run

SRC = """func.func @f(%x: tensor<?xf64>) -> tensor<?xf64> {
  %0 = "tir.neg"(%x) : (tensor<?xf64>) -> tensor<?xf64>
  %1 = "tir.neg"(%0) : (tensor<?xf64>) -> tensor<?xf64>
  %2 = "tir.exp"(%1) : (tensor<?xf64>) -> tensor<?xf64>
  func.return %2 : tensor<?xf64>
}
"""


def _run(args: list[str], tmp_path: Path, text: str = SRC) -> tuple[int, str, str]:
    path = tmp_path / "in.mlir"
    path.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    try:
        code = run([str(path), *args], out, err)
    except Exception as exc:  # UsageError: what main() prints
        return 1, out.getvalue(), str(exc)
    return code, out.getvalue(), err.getvalue()


def test_runs_passes_and_prints_parsable_ir(tmp_path: Path) -> None:
    code, out, _ = _run(["-p", "canonicalize,dce"], tmp_path)
    assert code == 0
    assert "tir.neg" not in out and '"tir.exp"(%x)' in out
    parse_module(out)


def test_print_ir_after(tmp_path: Path) -> None:
    code, _, err = _run(["-p", "cse,canonicalize", "--print-ir-after=canonicalize"], tmp_path)
    assert code == 0 and err.count("IR Dump After") == 1 and "After canonicalize" in err
    code, _, err = _run(["-p", "cse,canonicalize", "--print-ir-after-all"], tmp_path)
    assert err.count("IR Dump After") == 2


def test_list_passes() -> None:
    out = io.StringIO()
    assert run(["--list-passes"], out, io.StringIO()) == 0
    for name in ("cse", "canonicalize", "fold", "dce", "stabilize", "specialize", "fuse", "blas", "memory"):
        assert f"  {name} " in out.getvalue()


def test_pass_options() -> None:
    (p,) = parse_pipeline("fold{max_elements=7}")
    assert p.max_elements == 7  # type: ignore[attr-defined]
    assert parse_pipeline("canonicalize{fold=false}")[0].fold is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "pipeline, message",
    [
        ("cse,nosuch", "<pass-pipeline>:1:5: unknown pass 'nosuch'"),
        ("fold{nosuch=1}", "has no option 'nosuch'"),
        ("fold{max_elements=x}", "takes a int"),
    ],
)
def test_bad_pipeline_is_one_line(
    pipeline: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "in.mlir"
    path.write_text(SRC)
    assert main([str(path), "-p", pipeline]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_malformed_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.mlir"
    path.write_text(SRC.replace('"tir.exp"(%1)', '"tir.exp"(%9)'))
    assert main([str(path), "-p", "cse"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:4:") and "undefined value %9" in err and err.count("\n") == 1


def test_unknown_op_and_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.mlir"
    path.write_text(SRC.replace("tir.exp", "tir.nosuch"))
    assert main([str(path)]) == 1
    assert "unknown operation 'tir.nosuch'" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.mlir")]) == 1
    assert "cannot read input" in capsys.readouterr().err


def test_emit_ptx_prints_the_kernels_ptx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "in.mlir"
    path.write_text(SRC)
    assert main([str(path), "-p", "fuse", "--emit=ptx", "--chip", "sm_80"]) == 0
    ptx = capsys.readouterr().out
    assert ".target sm_80" in ptx and ptx.count(".visible .entry") == 1 and "ld.global.nc.b64" in ptx
    with pytest.raises(SystemExit):  # argparse: the message names the chips there are
        main([str(path), "--emit=ptx", "--chip", "sm_70"])
    assert "invalid choice: 'sm_70'" in capsys.readouterr().err


def test_emit_mlir_and_llvm_show_the_lowered_kernels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "in.mlir"
    path.write_text(SRC)
    assert main([str(path), "-p", "fuse", "--emit=mlir"]) == 0
    mlir = capsys.readouterr().out
    assert "func.func @" in mlir and "arith." in mlir and "tir." not in mlir.split("module {", 1)[1]
    assert main([str(path), "-p", "fuse", "--emit=llvm"]) == 0
    llvm_ir = capsys.readouterr().out
    assert "define void @" in llvm_ir


def test_stdin_output_file_and_level(tmp_path: Path) -> None:
    out_path = tmp_path / "out.mlir"
    proc = subprocess.run(
        [sys.executable, "-m", "tensorir.tools.opt", "-", "--level", "fast_run", "-o", str(out_path)],
        input=SRC,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "tir.neg" not in out_path.read_text()
