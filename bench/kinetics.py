"""Benchmark: virtual cohorts of 10^5 and 10^6 patients × 730 days against a solve_ivp loop.

Usage::

    PYTHONPATH=src python bench/kinetics.py              # 1e5 and 1e6 patients, 730 days
    PYTHONPATH=src python bench/kinetics.py --sizes 100000 --ivp-patients 200

Each cohort size runs in a fresh subprocess, so its peak resident memory (ru_maxrss, the whole
process: interpreter, libraries and arrays) is its own. CPU seconds above wall seconds show the
two threads at work; equal ones, that the other core was busy. The baseline — SciPy ``solve_ivp``
(LSODA, rtol 1e-6, atol 1e-9) one patient at a time, the same model and endpoints — is timed on
``--ivp-patients`` patients in the same run and extrapolated linearly. The old generic RK4 path
(``solver="rk4"``) is timed on 10^4 patients for the speed-up of this change. Targets (issue 8):
10^6 patients in < 30 s, ≥ 100× the solve_ivp loop, peak memory < 4 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time


def _cohort(n: int, days: int, solver: str) -> dict[str, float]:
    import resource

    import numpy as np

    from remission.kinetics import simulate_cohort

    start = time.perf_counter()
    cpu = time.process_time()
    res = simulate_cohort(n, days=days, seed=1, solver=solver)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    back = res.patients["b_cell_reappearance_day"]
    return {
        "patients": n,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "patients_per_second": n / elapsed,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "reappearance_mean": float(np.nanmean(back)),
        "reappearance_sd": float(np.nanstd(back, ddof=1)),
        "load": os.getloadavg()[0],
    }


def _ivp_loop(n: int, days: int) -> float:
    """Seconds per patient of a solve_ivp loop computing the same endpoints."""
    import numpy as np

    from remission.kinetics import CarTBCellModel
    from remission.kinetics._reference import bcell_ivp

    model = CarTBCellModel()
    theta = model.sample(n, np.random.default_rng(1))
    record = np.arange(0.0, days + 1.0)
    start = time.perf_counter()
    for i in range(n):
        out = bcell_ivp(model, {k: v[i : i + 1] for k, v in theta.items()}, record,
                        rtol=1e-6, atol=1e-9)  # fmt: skip
        b = out["cd19"]
        below = np.flatnonzero(b < 1.0)
        if below.size:
            np.flatnonzero((b > 1.0) & (record > below[0]))
    return (time.perf_counter() - start) / n


def _sub(*args: str) -> dict[str, float]:
    cmd = [sys.executable, __file__, *args]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--ivp-patients", type=int, default=1000)
    parser.add_argument("--rk4-patients", type=int, default=10_000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--solver", default="exponential", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_cohort(args.one, args.days, args.solver)))
        return
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start")  # fmt: skip
    per_ivp = _ivp_loop(args.ivp_patients, args.days)
    print(f"solve_ivp loop: {args.ivp_patients} patients, {per_ivp * 1e3:.1f} ms/patient "
          f"-> 10^6 patients ≈ {per_ivp * 1e6 / 3600:.1f} h (load {os.getloadavg()[0]:.1f})")  # fmt: skip
    rk4 = _sub("--one", str(args.rk4_patients), "--days", str(args.days), "--solver", "rk4")
    print(f"previous RK4 path: {args.rk4_patients} patients, {rk4['patients_per_second']:,.0f} "
          f"patients/s (load {rk4['load']:.1f})")  # fmt: skip
    print("| patients | time (s) | CPU (s) | patients/s | × solve_ivp | × RK4 | peak RSS (MiB) "
          "| reappearance (d) | load |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for n in args.sizes:
        r = _sub("--one", str(n), "--days", str(args.days))
        ratio = per_ivp * n / r["seconds"]
        print(
            f"| {n:,} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} "
            f"| {r['patients_per_second']:,.0f} | {ratio:,.0f} "
            f"| {r['patients_per_second'] / rk4['patients_per_second']:.1f} "
            f"| {r['peak_rss_mib']:.0f} "
            f"| {r['reappearance_mean']:.1f} ± {r['reappearance_sd']:.1f} | {r['load']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
