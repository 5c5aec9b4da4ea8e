"""``tensorir-tune-products``: measure which kernel runs a matrix product on this machine, and keep it.

    tensorir-tune-products [--threads N] [--show]

Times the own register-tiled kernels against SciPy's BLAS at a grid of sizes, and the thread
pool's wake-up latency (runtime/product_table.py), then writes the table where the runtime reads
it (printed). Without this command the runtime measures on the first product that needs it.
``--show`` prints the table already recorded, measuring nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tensorir.runtime.compile_cache import get_cache
from tensorir.runtime.product_table import ProductTable, measure_product_table, table_path
from tensorir.runtime.threadpool import ThreadPool, default_thread_count, environment_thread_count


def _print(table: ProductTable) -> None:
    print(f"threads {table.threads}, worker wake-up {table.wake_seconds * 1e6:.1f} us, "
          f"{table.fma_per_second / 1e9:.1f} G multiply-adds/s on one thread")
    print(f"{'kind':12} {'dtype':8} {'m x n x k':>16} {'own (1 thread)':>15} {'BLAS':>10}  winner")
    for kind, dtype, m, n, k, own, blas in table.entries:
        size = f"{m}x{n}x{k}"
        print(f"{kind:12} {dtype:8} {size:>16} {own * 1e6:>12.1f} us {blas * 1e6:>7.1f} us  "
              f"{'own' if own <= blas else 'BLAS'}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = argparse.ArgumentParser(prog="tensorir-tune-products", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads the functions run on (default: $TENSORIR_NUM_THREADS, else every core)")
    parser.add_argument("--show", action="store_true", help="print the recorded table only")
    args = parser.parse_args(argv)
    threads = args.threads or environment_thread_count() or default_thread_count()
    if threads < 1:
        parser.error(f"--threads {threads}: give a positive number of threads")
    path = table_path(threads)
    if args.show:
        if path is None or not path.exists():
            print(f"no product table recorded for {threads} threads ({path or 'TENSORIR_PRODUCT_TABLE=off'})")
            return 1
        _print(ProductTable.from_json(path.read_text()))
        return 0
    from tensorir.runtime.native_kernels import KernelContext

    with ThreadPool(threads, min_chunk=1, align=1) as pool:
        table = measure_product_table(KernelContext(3, get_cache(""), pool), threads)
    _print(table)
    if path is None:
        print("TENSORIR_PRODUCT_TABLE=off: not written")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(table.to_json())
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
