"""Benchmark: time and peak memory of `simulate_cohort` for large virtual cohorts.

Usage::

    PYTHONPATH=src python bench/kinetics.py                  # 1e5 and 1e6 patients, 730 days
    PYTHONPATH=src python bench/kinetics.py --sizes 100000 --days 365

Each size runs in a fresh subprocess, so the peak resident memory (ru_maxrss) is that run's own.
Results are printed as a Markdown table (copy it into docs/kinetics.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time


def _one(n: int, days: int, chunk: int) -> dict[str, float]:
    import resource

    import numpy as np

    from remission.kinetics import simulate_cohort

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    res = simulate_cohort(n, days=days, seed=1, chunk_size=chunk)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    back = res.patients["b_cell_reappearance_day"]
    return {
        "patients": n,
        "days": days,
        "chunk_size": chunk,
        "seconds": elapsed,
        "patients_per_second": n / elapsed,
        "peak_rss_mib": peak / 1024,
        "rss_before_mib": base / 1024,
        "reappearance_mean": float(np.nanmean(back)),
        "reappearance_sd": float(np.nanstd(back, ddof=1)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.days, args.chunk_size)))
        return
    print(
        f"python {platform.python_version()}, {platform.machine()}, {platform.processor() or 'cpu'}"
    )
    print("| patients | days | chunk | time (s) | patients/s | peak RSS (MiB) | reappearance (d) |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for n in args.sizes:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            str(n),
            "--days",
            str(args.days),
            "--chunk-size",
            str(args.chunk_size),
        ]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        print(
            f"| {n:,} | {r['days']} | {r['chunk_size']:,} | {r['seconds']:.1f} "
            f"| {r['patients_per_second']:,.0f} | {r['peak_rss_mib']:.0f} "
            f"| {r['reappearance_mean']:.1f} ± {r['reappearance_sd']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
