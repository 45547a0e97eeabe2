"""Parameter-recovery study of the population fit (issue 18, item 5).

Simulates observation tables with KNOWN parameters (virtual patients drawn from a parameter set,
sampled on a fixed schedule with proportional log-normal error and LLOQs), fits them with
:func:`remission.kinetics.population.fit_population`, and reports per parameter the relative
bias of the typical value and of omega2 and the coverage of the 90 % intervals::

    PYTHONPATH=src .venv/bin/python bench/population_recovery.py --replicates 3 --patients 100

``simulate_observations`` is also the test-suite's generator of observation tables
(tests/kinetics/test_kinetics_population.py loads it from here).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

SCHEDULE: tuple[float, ...] = (0, 3, 7, 10, 14, 21, 28, 60, 90, 120, 180, 270, 365)
LLOQ: dict[str, float] = {"car_t": 0.1, "cd19": 1.0}


def simulate_observations(
    n_patients: int,
    *,
    seed: int = 0,
    parameters: Any = "autoimmune",
    days: Sequence[float] = SCHEDULE,
    residual_cv: float = 0.2,
    lloq: Mapping[str, float] = LLOQ,
    doses: Sequence[float] | None = None,
    diseases: Sequence[str] = ("SLE",),
) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """A NONMEM-style observation table of a virtual cohort, and the true parameters.

    Columns ``ID, TIME, DV, ANALYTE, LLOQ, BLQ, MDV, DOSE_PER_KG, DISEASE, BASELINE_CD19, AGE,
    WEIGHT``; ``DV = 0`` where ``BLQ = 1``. ``doses`` are drawn uniformly per patient (default
    the set's reference dose); diseases cycle through ``diseases``.
    """
    from remission.kinetics import CarTBCellModel

    model = CarTBCellModel(parameters)
    rng = np.random.default_rng(seed)
    theta = model.sample(n_patients, rng)
    ref = model.parameters["dose_ref_per_kg"].value
    dose = rng.choice(np.asarray(doses), n_patients) if doses else np.full(n_patients, ref)
    truth = {k: v.copy() for k, v in theta.items()}
    theta["cmax"] = theta["cmax"] * (dose / ref) ** theta["dose_exponent"]
    theta["dose_exponent"] = np.zeros(n_patients)
    t = np.asarray(days, dtype=np.float64)
    pred = model.predict(t, theta)
    sigma = math.sqrt(math.log1p(residual_cv**2))
    frames = []
    for analyte in ("car_t", "cd19"):
        y = pred[analyte] * np.exp(sigma * rng.standard_normal(pred[analyte].shape))
        blq = y < lloq[analyte]
        frames.append(
            pl.DataFrame(
                {
                    "ID": np.repeat(np.arange(1, n_patients + 1), t.size),
                    "TIME": np.tile(t, n_patients),
                    "DV": np.where(blq, 0.0, y).ravel(),
                    "ANALYTE": analyte,
                    "LLOQ": lloq[analyte],
                    "BLQ": blq.ravel().astype(np.int64),
                    "MDV": 0,
                    "DOSE_PER_KG": np.repeat(dose, t.size),
                    "DISEASE": np.repeat([diseases[i % len(diseases)] for i in range(n_patients)], t.size),
                    "BASELINE_CD19": np.repeat(truth["b0"], t.size),
                    "AGE": 40.0,
                    "WEIGHT": 70.0,
                }
            )
        )
    return pl.concat(frames).sort("ID", "TIME", "ANALYTE"), truth


def recovery(
    replicates: int,
    patients: int,
    seed: int,
    parameters: Any,
    warmup: int,
    samples: int,
    analytes: Sequence[str] = ("car_t", "cd19"),
) -> list[dict[str, Any]]:
    """Bias and coverage per parameter over ``replicates`` simulated data sets."""
    from remission.kinetics import load_parameter_set
    from remission.kinetics.population import fit_population

    ref = load_parameter_set(parameters) if isinstance(parameters, str) else parameters
    rows: list[dict[str, Any]] = []
    for r in range(replicates):
        obs, _ = simulate_observations(patients, seed=seed + r, parameters=ref)
        obs = obs.filter(pl.col("ANALYTE").is_in(list(analytes)))
        t0 = time.perf_counter()
        fit = fit_population(obs, seed=seed + r, parameters=ref, num_warmup=warmup, num_samples=samples)
        wall = time.perf_counter() - t0
        for name in fit.estimated:
            p = ref[name]
            typ = fit.typical_draws(name)
            om = fit.omega2_draws(name)
            for what, d, true in (("value", typ, p.value), ("omega2", om, p.omega2)):
                lo, hi = np.quantile(d, (0.05, 0.95))
                est = float(np.median(d))
                rows.append(
                    {
                        "replicate": r,
                        "parameter": name,
                        "what": what,
                        "true": true,
                        "estimate": est,
                        "rel_bias": (est - true) / true,
                        "covered": bool(lo <= true <= hi),
                        "seconds": wall,
                        "compile_and_warmup_s": fit.seconds["compile_and_warmup"],
                    }
                )
        print(f"replicate {r + 1}/{replicates}: {wall:.1f} s", file=sys.stderr)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=3)
    ap.add_argument("--patients", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--params", default="autoimmune", help="built-in parameter set")
    ap.add_argument("--warmup", type=int, default=400)
    ap.add_argument("--samples", type=int, default=400)
    ap.add_argument("--analytes", default="car_t,cd19", help="analytes kept in the simulated tables")
    ap.add_argument("--out", default=None, help="CSV of every replicate's estimates")
    args = ap.parse_args(argv)
    analytes = tuple(args.analytes.split(","))
    rows = recovery(args.replicates, args.patients, args.seed, args.params, args.warmup, args.samples, analytes)
    df = pl.DataFrame(rows)
    if args.out:
        df.write_csv(args.out)
    summary = df.group_by("parameter", "what", maintain_order=True).agg(
        pl.col("true").first(),
        (pl.col("rel_bias").mean() * 100).round(1).alias("rel_bias_%"),
        (pl.col("covered").mean() * 100).round(0).alias("coverage_90_%"),
    )
    with pl.Config(
        tbl_rows=100, tbl_formatting="MARKDOWN", tbl_hide_column_data_types=True, tbl_hide_dataframe_shape=True
    ):
        print(summary)
    print(f"mean fit time {df['seconds'].mean():.1f} s (compile+warmup {df['compile_and_warmup_s'].mean():.1f} s)")


if __name__ == "__main__":
    main()
