"""Benchmark: vectorised SLEDAI-2K through `remission.score(..., explain=False)`.

Compared in the same process with (a) a row-by-row Python loop over the same visits (timed on a
subset and reported per visit) and (b) a raw NumPy `items @ weights` product on the same 0/1
matrix (float32, BLAS). Targets (issue 2): ≥ 200× the row loop, within 3× the raw product,
10^7 visits in < 2 s on a 2-core machine. Run with `make bench`.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import polars as pl

import remission
from remission.indices.sledai2k import CODES, WEIGHTS, category_of


def visits(n: int, seed: int = 1) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    matrix = (rng.random((n, len(CODES))) < 0.1).astype(np.int8)
    return pl.DataFrame({c: matrix[:, i] for i, c in enumerate(CODES)}), matrix


def best_of(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def row_loop(table: pl.DataFrame) -> list[tuple[int | None, int | None, str | None]]:
    """The same job done row by row, as a spreadsheet port would: total, clinical SLEDAI, category."""
    weights = [WEIGHTS[c] for c in CODES]
    serology = {CODES.index("low_complement"), CODES.index("increased_dna_binding")}
    out = []
    for row in table.iter_rows():
        if any(v is None or v not in (0, 1) for v in row):
            out.append((None, None, None))
            continue
        total = sum(w for w, v in zip(weights, row, strict=True) if v)
        clinical = total - sum(weights[i] for i in serology if row[i])
        out.append((total, clinical, category_of(total)))
    return out


def main(sizes: tuple[int, ...] = (10**6, 10**7)) -> None:
    weights = np.array([WEIGHTS[c] for c in CODES], dtype=np.float32)
    print(
        f"{'visits':>12} {'remission.score s':>18} {'numpy @ s':>10} {'row loop s (est.)':>18} "
        f"{'× row loop':>11} {'÷ numpy':>8} {'visits/s':>12}"
    )
    for n in sizes:
        table, matrix = visits(n)
        as_float = matrix.astype(np.float32)
        ours = best_of(lambda t=table: remission.score("sledai2k", t, explain=False), repeat=2 if n > 10**6 else 3)
        raw = best_of(lambda m=as_float: m @ weights)
        sample = table.head(100_000)
        loop = best_of(lambda s=sample: row_loop(s), repeat=1) * n / sample.height
        check = remission.score("sledai2k", table.head(1000), explain=False)["sledai2k"].to_numpy()
        assert np.array_equal(check, (as_float[:1000] @ weights).astype(int))
        print(
            f"{n:>12,} {ours:>18.3f} {raw:>10.3f} {loop:>18.1f} {loop / ours:>11.0f} {ours / raw:>8.2f} "
            f"{n / ours:>12,.0f}"
        )


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (10**6, 10**7))
