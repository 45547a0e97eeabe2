"""Files of a population kinetics fit: parameter set, individual predictions, diagnostics, plots.

``write_population_outputs(fit, out_dir)`` writes

* ``population.yaml`` — the fitted parameter set in the schema of
  ``remission/kinetics/data/*.yaml`` (so ``remission simulate --params`` reads it), each
  estimated parameter with its posterior median ``value``, ``omega2``, and ``ci_low``,
  ``ci_high`` (90 % credible interval of the typical value) and ``rse`` (%); the residual error
  and covariate effects under ``residual_error`` and ``covariates``;
* ``individual.csv`` — :func:`~remission.kinetics.population.individual_table`;
* ``diagnostics.csv`` — :func:`~remission.kinetics.population.diagnostics_table`;
* ``vpc.png`` — visual predictive check per analyte (5/50/95th percentiles of the observations
  against the 90 % intervals of the same percentiles in simulated replicates; BLQ fraction);
* ``gof.png`` — observations against population and individual predictions, and individual
  weighted residuals against time.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from remission.kinetics.population import (
    ANALYTES,
    PopulationFit,
    diagnostics_table,
    individual_table,
    population_parameter_set,
    predictions,
    simulate_replicates,
    summarize_draws,
)

UNITS = {"car_t": "CAR-T cells/µL", "cd19": "CD19+ B cells/µL"}


def population_yaml(fit: PopulationFit) -> dict[str, Any]:
    """The document written to ``population.yaml`` (a parameter file plus fit details)."""
    ps = population_parameter_set(fit)
    params: dict[str, Any] = {}
    for name, p in ps.parameters.items():
        entry: dict[str, Any] = {"value": p.value, "unit": p.unit}
        if p.domain != "constant":
            entry["omega2"] = p.omega2
        entry["domain"] = p.domain
        fitted = name in fit.estimated or (name == "dose_exponent" and "dose_exponent" in fit.draws)
        if fitted:
            draws = fit.typical_draws(name) if name in fit.estimated else fit.draws["dose_exponent"]
            s = summarize_draws(draws)
            entry.update(ci_low=s["ci_low"], ci_high=s["ci_high"], rse=s["rse"], source=p.source)
        elif p.source:
            entry["source"] = f"fixed at the {fit.reference.name} value: {p.source}"
        if p.omega2_source:
            entry["omega2_source"] = p.omega2_source
        if p.description:
            entry["description"] = p.description
        params[name] = entry
    residual = {
        k.removeprefix("sigma_"): {**summarize_draws(v), "unit": "SD of log(DV)"}
        for k, v in fit.draws.items()
        if k.startswith("sigma_")
    }
    covariates = {
        k: {
            **summarize_draws(fit.draws[k]),
            "on": "cmax",
            "form": "log-shift" if k.startswith("disease_") else "power of dose/dose_ref",
        }
        for k in fit.covariate_effects
        if k.startswith("disease_")
    }
    n = fit.data.n_patients
    return {
        "name": "population",
        "base": None,
        "description": f"Population fit (NUTS, {fit.n_draws} draws) of {n} patients from {fit.source}; "
        f"structure and fixed values of the {fit.reference.name} set.",
        "source": f"estimated from {fit.source}, {n} patients",
        "units": dict(fit.reference.units),
        "parameters": params,
        "residual_error": residual,
        "covariates": covariates,
    }


def write_population_outputs(fit: PopulationFit, out_dir: Path, *, seed: int = 0) -> list[Path]:
    """Write the five output files into ``out_dir`` (created); returns their paths."""
    import polars as pl
    import yaml

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f for f in ("population.yaml", "individual.csv", "diagnostics.csv", "vpc.png", "gof.png")]
    paths[0].write_text(yaml.safe_dump(population_yaml(fit), sort_keys=False, allow_unicode=True), "utf-8")
    pl.DataFrame(individual_table(fit)).write_csv(paths[1])
    pl.DataFrame(diagnostics_table(fit)).write_csv(paths[2])
    plot_vpc(fit, paths[3], seed=seed)
    plot_gof(fit, paths[4])
    return paths


def _bins(times: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Bin of each sample: its nominal day when there are few, else one of 12 quantile bins."""
    uniq = np.unique(times)
    if uniq.size <= 20:
        return np.searchsorted(uniq, times)
    edges = np.unique(np.quantile(times, np.linspace(0, 1, 13)))
    return np.clip(np.searchsorted(edges, times, side="right") - 1, 0, edges.size - 2)


def _percentiles(values: np.ndarray[Any, Any], q: float) -> float:
    """Percentile of censored values (NaN = below LLOQ, ranked lowest); NaN if it is BLQ."""
    filled = np.where(np.isnan(values), -np.inf, values)
    v = float(np.quantile(filled, q, method="inverted_cdf"))
    return v if math.isfinite(v) else math.nan


def _band(values: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """5-95 % quantiles over replicates per bin; NaN where the percentile is BLQ in all."""
    lo = np.full(values.shape[1], np.nan)
    hi = np.full(values.shape[1], np.nan)
    for k in range(values.shape[1]):
        seen = values[np.isfinite(values[:, k]), k]
        if seen.size:
            lo[k], hi[k] = np.quantile(seen, (0.05, 0.95))
    return lo, hi


def plot_vpc(fit: PopulationFit, path: Path, *, n_replicates: int = 100, seed: int = 0) -> None:
    """Visual predictive check: percentiles per time bin and BLQ fraction, per analyte."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = fit.data
    sim = simulate_replicates(fit, n_replicates, seed)["dv"]
    present = [a for a in ANALYTES if data.rows(a).size]
    fig, axes = plt.subplots(
        2, len(present), figsize=(6 * len(present), 6.5), squeeze=False, height_ratios=(3, 1.3), constrained_layout=True
    )
    for j, analyte in enumerate(present):
        r = data.rows(analyte)
        t, obs, s = data.time[r], data.dv[r], sim[:, r]
        b = _bins(t)
        centre = np.array([np.median(t[b == k]) for k in range(b.max() + 1)])
        ax, axb = axes[0, j], axes[1, j]
        for q, style in ((0.05, "--"), (0.5, "-"), (0.95, "--")):
            sim_q = np.array([[_percentiles(s[i, b == k], q) for k in range(centre.size)] for i in range(s.shape[0])])
            lo, hi = _band(sim_q)
            ax.fill_between(centre, lo, hi, color="tab:red" if q == 0.5 else "tab:blue", alpha=0.25, lw=0)
            obs_q = [_percentiles(obs[b == k], q) for k in range(centre.size)]
            ax.plot(centre, obs_q, style, color="k", lw=1.4, label=f"observed p{round(q * 100)}")
        seen = np.isfinite(obs)
        ax.scatter(t[seen], obs[seen], s=6, color="grey", alpha=0.4, zorder=1)
        lloq = float(np.nanmedian(data.lloq[r]))
        ax.axhline(lloq, color="tab:orange", lw=1, ls=":", label=f"LLOQ {lloq:g}")
        ax.set_yscale("log")
        ax.set_title(f"{UNITS[analyte]}: VPC ({s.shape[0]} simulated studies)")
        ax.set_ylabel(UNITS[analyte])
        ax.legend(fontsize=7, loc="upper right")
        obs_blq = [np.mean(~np.isfinite(obs[b == k])) for k in range(centre.size)]
        sim_blq = np.array([[np.mean(np.isnan(s[i, b == k])) for k in range(centre.size)] for i in range(s.shape[0])])
        lo, hi = np.quantile(sim_blq, (0.05, 0.95), axis=0)
        axb.fill_between(centre, lo, hi, color="tab:green", alpha=0.3, lw=0, label="simulated 90 %")
        axb.plot(centre, obs_blq, "k-o", ms=3, lw=1.2, label="observed")
        axb.set_ylim(-0.02, 1.02)
        axb.set_ylabel("fraction BLQ")
        axb.set_xlabel("days after infusion")
        axb.legend(fontsize=7)
    fig.suptitle("Visual predictive check: observed percentiles (lines), simulated 90 % intervals (bands)")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_gof(fit: PopulationFit, path: Path) -> None:
    """Goodness of fit: DV vs PRED, DV vs IPRED, IWRES vs time (BLQ samples left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = fit.data
    pred = predictions(fit)
    present = [a for a in ANALYTES if data.rows(a).size]
    fig, axes = plt.subplots(len(present), 3, figsize=(14, 4.2 * len(present)), squeeze=False, constrained_layout=True)
    for i, analyte in enumerate(present):
        r = data.rows(analyte)
        r = r[np.isfinite(data.dv[r])]
        dv = data.dv[r]
        for ax, key, label in (
            (axes[i, 0], "pred", "PRED (typical patient)"),
            (axes[i, 1], "ipred", "IPRED (individual)"),
        ):
            p = np.maximum(pred[key][r], 1e-6)
            ax.scatter(p, dv, s=7, alpha=0.5)
            lo, hi = min(p.min(), dv.min()), max(p.max(), dv.max())
            ax.plot([lo, hi], [lo, hi], "k-", lw=1)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel(f"observed {UNITS[analyte]}")
        ax = axes[i, 2]
        ax.scatter(data.time[r], pred["iwres"][r], s=7, alpha=0.5)
        ax.axhline(0, color="k", lw=1)
        for y in (-2, 2):
            ax.axhline(y, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("days after infusion")
        ax.set_ylabel("IWRES")
        ax.set_title(f"{analyte}: {r.size} quantified samples")
    fig.suptitle("Goodness of fit (BLQ samples not shown: they enter the likelihood censored, M3)")
    fig.savefig(path, dpi=100)
    plt.close(fig)
