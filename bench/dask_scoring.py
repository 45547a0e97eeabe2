"""Benchmark: SLEDAI-2K over N visits from Parquet with the Dask engine, against in-memory scoring.

`python bench/dask_scoring.py [N ...]` (default 10^7). For each N it writes N random visits
(24 descriptors, int8 0/1, 10 % present) as Parquet files of 10^6 rows, generated one file at a
time so that the data never sits in memory, then runs

* ``dask``: :func:`remission.scale.score_dataset` (explain=False) on a LocalCluster configured as
  the engine's default (2 worker processes, 1 thread and a 1 GiB memory limit each), started once
  before the runs (its start-up is printed apart), Parquet in → Parquet parts out;
* ``memory`` (only where N ≤ 10^7, the size that fits comfortably): ``pl.read_parquet`` +
  ``remission.score(explain=False)`` + ``write_parquet`` in one process, and the scoring call
  alone on the table already in memory.

Peak memory is the largest sum of the resident set sizes of this process and all its children
(the workers), sampled every 0.1 s — an upper bound, as pages shared between processes are
counted once per process. Data goes to $REMISSION_BENCH_DIR (default out/bench) and is kept
between runs (delete it to regenerate).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psutil

import remission
from remission.indices.sledai2k import CODES
from remission.scale import score_dataset

CHUNK = 1_000_000
ROOT = Path(os.environ.get("REMISSION_BENCH_DIR", "out/bench"))


def generate(n: int, folder: Path, seed: int = 1) -> Path:
    """N visits as Parquet files of CHUNK rows (row groups of 250 000), written chunk by chunk."""
    done = folder / "COMPLETE"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for number, start in enumerate(range(0, n, CHUNK)):
        rows = min(CHUNK, n - start)
        matrix = (rng.random((rows, len(CODES)), dtype=np.float32) < 0.1).astype(np.int8)
        frame = pl.DataFrame({c: matrix[:, i] for i, c in enumerate(CODES)})
        frame.write_parquet(folder / f"visits-{number:05d}.parquet", row_group_size=250_000)
    done.touch()
    return folder


class PeakMemory:
    """Largest RSS of this process plus its children, sampled in a thread."""

    def __init__(self, every: float = 0.1) -> None:
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in (me, *me.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(self.every)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(fn: Callable[[], Any]) -> tuple[float, int]:
    with PeakMemory() as memory:
        start = time.perf_counter()
        fn()
        seconds = time.perf_counter() - start
    return seconds, memory.peak


def in_memory(folder: Path, out: Path) -> None:
    table = pl.read_parquet(sorted(folder.glob("*.parquet")))
    remission.score("sledai2k", table, explain=False).write_parquet(out)


def cluster() -> Any:
    """The engine's default LocalCluster, started once so that its start-up is timed apart."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        memory_limit="1GiB",
        host="127.0.0.1",
        protocol="tcp://",
        dashboard_address="127.0.0.1:0",
        scheduler_kwargs={"dashboard": False},
    )


def main(sizes: tuple[int, ...]) -> None:
    print(f"machine: {os.cpu_count()} CPUs, load average before: {os.getloadavg()[0]:.1f}")
    start = time.perf_counter()
    local = cluster()
    print(f"LocalCluster start (2 worker processes): {time.perf_counter() - start:.1f} s")
    print(f"{'visits':>13} {'engine':>24} {'seconds':>9} {'visits/s':>12} {'peak RSS MiB':>13}")
    for n in sizes:
        folder = generate(n, ROOT / f"visits-{n}")
        out = ROOT / f"scored-{n}"
        rows: list[tuple[str, float, int]] = []
        address = local.scheduler_address
        seconds, peak = timed(lambda f=folder, o=out, a=address: score_dataset("sledai2k", f, o, a, explain=False))
        rows.append(("dask (parquet→parquet)", seconds, peak))
        check = pl.read_parquet(sorted(out.glob("*.parquet"))[0], n_rows=1000)
        assert check["sledai2k"].null_count() == 0
        shutil.rmtree(out, ignore_errors=True)
        if n <= 10**7:
            target = ROOT / f"scored-{n}.parquet"
            seconds, peak = timed(lambda f=folder, t=target: in_memory(f, t))
            rows.append(("memory (parquet→parquet)", seconds, peak))
            target.unlink()
            table = pl.read_parquet(sorted(folder.glob("*.parquet")))
            seconds, peak = timed(lambda t=table: remission.score("sledai2k", t, explain=False))
            rows.append(("memory (score only)", seconds, peak))
            del table
        for engine, seconds, peak in rows:
            print(f"{n:>13,} {engine:>24} {seconds:>9.2f} {n / seconds:>12,.0f} {peak / 2**20:>13,.0f}", flush=True)
    local.close()


if __name__ == "__main__":
    main(tuple(int(float(a)) for a in sys.argv[1:]) or (10**7,))
