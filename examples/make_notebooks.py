"""Generate the notebooks in examples/notebooks/ from the example scripts, so the two never drift.

The scripts are written in the "percent" format: ``# %%`` starts a code cell and
``# %% [markdown]`` a markdown cell whose lines are comments. Each notebook gets a setup cell
(so it finds the shared helpers in examples/), the script's cells without its
``if __name__ == "__main__":`` block, and a final cell that runs ``main`` in the quick setting.

    python examples/make_notebooks.py          # (re)write the notebooks
    python examples/make_notebooks.py --check  # exit 1 if a notebook is out of date (for CI)
"""

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat import v4

EXAMPLES = Path(__file__).resolve().parent
NOTEBOOKS = EXAMPLES / "notebooks"
SCRIPTS = ("logistic_regression", "mlp", "lenet", "lstm_text", "debugging")
# Scripts that run top to bottom (no ``main`` to call, no pictures to show at the end).
STANDALONE = ("debugging",)
# Pictures each program writes, shown at the end of its notebook (keys of the returned history).
PICTURES = {"lenet": ("curve", "filters")}

SETUP = """\
# Setup: the notebook shares its helpers and models with the scripts in examples/.
import os
import sys
from pathlib import Path

CANDIDATES = (Path.cwd(), Path.cwd().parent, Path.cwd() / "examples")
EXAMPLES = next(p for p in CANDIDATES if (p / "common.py").is_file())
sys.path.insert(0, str(EXAMPLES))
OUT = os.environ.get("TENSORIR_EXAMPLES_OUT", "out")
# Extra options for the run below; the tests pass "--offline" to stay off the network.
EXTRA_ARGS = os.environ.get("TENSORIR_EXAMPLES_ARGS", "").split()"""

RUN = """\
# The quick setting (a few minibatches) shows the program working; drop "--quick" for a real run.
history = main(["--quick", "--no-progress", "--out", OUT, *EXTRA_ARGS])"""


def split_cells(source: str) -> list[tuple[str, str]]:
    """(kind, text) cells of a percent-format script, without the ``__main__`` block."""
    cells: list[tuple[str, list[str]]] = []
    for line in source.splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
        elif cells:
            cells[-1][1].append(line)
    result = []
    for kind, lines in cells:
        if kind == "markdown":
            lines = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines]
        text = "\n".join(lines).strip("\n")
        if text and not text.startswith('if __name__ == "__main__":'):
            result.append((kind, text))
    return result


def build_notebook(name: str) -> nbformat.NotebookNode:
    """The notebook of ``examples/<name>.py``."""
    script_cells = split_cells((EXAMPLES / f"{name}.py").read_text())
    # The title comes first, then the setup cell, then the rest of the script.
    n_title = 1 if script_cells and script_cells[0][0] == "markdown" else 0
    cells = [*script_cells[:n_title], ("code", SETUP), *script_cells[n_title:]]
    if name not in STANDALONE:
        cells.append(("code", RUN))
        pictures = PICTURES.get(name, ("curve",))
        show = "from IPython.display import Image, display\n\n" + "\n".join(
            f'display(Image(filename=history["{key}"]))' for key in pictures
        )
        cells.append(("code", show))
    notebook = v4.new_notebook()
    for i, (kind, text) in enumerate(cells):
        cell = v4.new_markdown_cell(text) if kind == "markdown" else v4.new_code_cell(text)
        cell["id"] = f"{name.replace('_', '-')}-{i}"  # fixed ids: regenerating gives the same file
        notebook.cells.append(cell)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def main(argv: list[str] | None = None) -> int:
    """Write the notebooks, or with ``--check`` report the ones that differ from their scripts."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if a notebook is stale")
    args = parser.parse_args(argv)
    NOTEBOOKS.mkdir(exist_ok=True)
    stale = []
    for name in SCRIPTS:
        path = NOTEBOOKS / f"{name}.ipynb"
        text = nbformat.writes(build_notebook(name)) + "\n"
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(EXAMPLES.parent)}")
    if stale:
        print(f"stale notebooks: {', '.join(stale)}; run python examples/make_notebooks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
