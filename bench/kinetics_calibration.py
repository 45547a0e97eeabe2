"""Calibration figure: the default virtual cohort against Mackensen 2022 (docs/kinetics.md).

Usage::

    PYTHONPATH=src python bench/kinetics_calibration.py [--patients 2000] [--seed 20240221]
        [--out docs/img/kinetics_calibration.png]

Left: histogram of the day of B-cell reappearance (first day B > 1 cell/µL after aplasia) with
the published mean ± SD (110 ± 32 days, n = 5 SLE; Mackensen, Nat Med 2022). Right: histogram of
the CAR-T peak day with the day 7-14 target band.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from remission.kinetics import simulate_cohort

TARGET_MEAN, TARGET_SD = 110.0, 32.0  # Mackensen 2022
PEAK_BAND = (7.0, 14.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20240221)
    parser.add_argument("--out", type=Path, default=Path("docs/img/kinetics_calibration.png"))
    args = parser.parse_args()

    res = simulate_cohort(args.patients, seed=args.seed)
    back = res.patients["b_cell_reappearance_day"]
    back = back[~np.isnan(back)]
    peak = res.patients["car_t_peak_day"]
    mean, sd = back.mean(), back.std(ddof=1)
    in_band = np.mean((peak >= PEAK_BAND[0]) & (peak <= PEAK_BAND[1]))

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    bins = np.arange(0, max(400, back.max() + 10), 10)
    ax1.hist(back, bins=bins, density=True, alpha=0.6, label=f"simulated: {mean:.0f} ± {sd:.0f} d")
    grid = np.linspace(0, bins[-1], 400)
    normal = np.exp(-0.5 * ((grid - TARGET_MEAN) / TARGET_SD) ** 2) / (TARGET_SD * np.sqrt(2 * np.pi))
    ax1.plot(grid, normal, "k--", label="target N(110, 32²) (Mackensen 2022)")
    ax1.axvspan(TARGET_MEAN - TARGET_SD, TARGET_MEAN + TARGET_SD, color="grey", alpha=0.15)
    ax1.axvline(mean, color="C0")
    ax1.set_xlabel("day of B-cell reappearance (B > 1 cell/µL)")
    ax1.set_ylabel("density")
    ax1.legend(fontsize=8)
    ax2.hist(peak, bins=np.arange(3, 20, 0.5), alpha=0.6, label=f"median {np.median(peak):.1f} d")
    ax2.axvspan(*PEAK_BAND, color="grey", alpha=0.15, label=f"day 7-14 ({100 * in_band:.0f} % inside)")
    ax2.set_xlabel("day of CAR-T peak")
    ax2.set_ylabel("virtual patients")
    ax2.legend(fontsize=8)
    fig.suptitle(f"Default autoimmune cohort: {res.n_patients} virtual patients, seed {args.seed}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(
        f"reappearance mean {mean:.1f} SD {sd:.1f} (n={back.size}); "
        f"peak median {np.median(peak):.2f}, "
        f"{100 * in_band:.1f} % in day 7-14; figure: {args.out}"
    )


if __name__ == "__main__":
    main()
