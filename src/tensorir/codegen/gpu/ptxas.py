"""``ptxas``, NVIDIA's PTX assembler, as a checker of our PTX (no GPU needed).

Found on ``PATH`` (a CUDA toolkit) or in the ``nvidia-cuda-nvcc`` wheel (``nvidia/cu13/bin/ptxas``),
which brings it where no toolkit is installed (``pip install 'tensorir[gpu]'``).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["assemble", "find_ptxas"]


def find_ptxas() -> str | None:
    """The path of ``ptxas``: on ``PATH``, else in the nvidia-cuda-nvcc wheel; None when neither."""
    found = shutil.which("ptxas")
    if found:
        return found
    spec = importlib.util.find_spec("nvidia")
    for root in (spec.submodule_search_locations or []) if spec else []:
        for candidate in sorted(Path(root).glob("cu*/bin/ptxas")):
            return str(candidate)
    return None


def assemble(ptx: str, chip: str) -> tuple[bytes | None, str]:
    """``ptxas -arch=chip`` on ``ptx``: the cubin (None when refused) and ptxas's messages."""
    ptxas = find_ptxas()
    if ptxas is None:
        raise FileNotFoundError("ptxas is not installed: a CUDA toolkit, or pip install 'tensorir[gpu]'")
    with tempfile.TemporaryDirectory(prefix="tensorir-ptxas-") as tmp:
        source, cubin = Path(tmp) / "kernels.ptx", Path(tmp) / "kernels.cubin"
        source.write_text(ptx)
        proc = subprocess.run([ptxas, f"-arch={chip}", str(source), "-o", str(cubin)], capture_output=True, text=True)
        return (cubin.read_bytes() if proc.returncode == 0 else None), proc.stderr
