"""Simulated observations: a virtual cohort sampled on a schedule, with residual error and BLQ.

For parameter-recovery studies and trial design: the virtual patients of
:func:`~remission.kinetics.cohort.simulate_cohort` (the same seed and chunk size draw the same
patients), their model predictions ``F`` of CAR-T and CD19+ B cells at the sampling days, and an
observation ``Y`` per sample::

    Y = F · exp(eps_p) + a · eps_a,      eps_p ~ N(0, sigma²),  eps_a ~ N(0, 1)
    sigma = sqrt(ln(1 + cv²))            (the CV of exp(eps_p) is exactly cv)

``cv`` is the proportional residual CV (log-normal: ``Y > 0`` whenever ``a = 0``) and ``a`` the
optional additive SD per analyte (combined error; ``Y`` may then be ≤ 0). A sample with
``Y < LLOQ`` is censored: ``BLQ = 1``, ``DV = LLOQ``, ``MDV = 0`` (it enters an M3 likelihood as
``P(Y < LLOQ)``). ``BASELINE_CD19`` is ``b0`` measured with the same error (a screening sample,
never below 0). The individual parameters are returned too, and the population truth
(:meth:`SampledCohort.truth`): what a recovery study compares its estimates with.

The residual errors come from a stream spawned from the seed, independent of the one that draws
the patients. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from remission.errors import InvalidInputError, Problem
from remission.kinetics.bcell import CarTBCellModel
from remission.kinetics.observations import ANALYTE_UNITS, validate_observations
from remission.kinetics.parameters import FloatArray, ParameterSet

#: The schedule of the issue (days from infusion), the CLI default of ``--sampling-days``.
DEFAULT_SAMPLING_DAYS: tuple[float, ...] = (0, 3, 7, 10, 14, 21, 28, 60, 90, 120, 180, 270, 365)
ANALYTES: tuple[str, ...] = ("car_t", "cd19")


@dataclass(frozen=True)
class SampledCohort:
    """Simulated observations and the truth they were simulated from.

    Attributes
    ----------
    observations : polars.DataFrame
        The observation table (:data:`~remission.kinetics.observations.OBSERVATION_COLUMNS`),
        one row per patient, day and analyte, sorted by patient, day, analyte.
    parameters : polars.DataFrame
        One row per patient: ``ID``, every parameter of the set (``cmax`` at the reference dose:
        the peak is ``cmax · (DOSE_PER_KG / dose_ref_per_kg) ** dose_exponent``) and ``DOSE_PER_KG``.
    residual_cv, additive, lloq :
        The error model and limits used.
    parameter_set : ParameterSet
        The typical values and ``omega2`` the patients were drawn from.
    """

    observations: pl.DataFrame
    parameters: pl.DataFrame
    residual_cv: float
    additive: Mapping[str, float]
    lloq: Mapping[str, float]
    parameter_set: ParameterSet

    def truth(self) -> dict[str, Any]:
        """The population truth as a parameter-file mapping (``remission simulate --params`` reads
        it back), with the residual error model under ``residual`` (``sigma_log`` =
        sqrt(ln(1 + cv²))) and the number of patients.

        Examples
        --------
        >>> t = sample_observations(2, [7], seed=1).truth()
        >>> t["parameters"]["tmax"]["value"], t["parameters"]["tmax"]["omega2"], t["residual"]["cv"]
        (9.0, 0.04, 0.2)
        """
        ps = self.parameter_set
        return {
            "name": ps.name,
            "base": None,
            "description": f"the truth of {self.parameters.height} simulated patients",
            "units": dict(ps.units),
            "parameters": {
                k: {"value": p.value, "unit": p.unit, "omega2": p.omega2, "domain": p.domain, "source": p.source}
                for k, p in ps.parameters.items()
            },
            "residual": {
                "cv": self.residual_cv,
                "sigma_log": math.sqrt(math.log1p(self.residual_cv**2)),
                "additive": dict(self.additive),
                "lloq": dict(self.lloq),
            },
            "n_patients": self.parameters.height,
        }

    @property
    def blq_fraction(self) -> dict[str, float]:
        """Fraction of samples below LLOQ per analyte."""
        rows = self.observations.group_by("ANALYTE").agg(pl.col("BLQ").mean()).sort("ANALYTE")
        return {str(a): float(f) for a, f in rows.iter_rows()}


def _check(
    n_patients: int,
    days: FloatArray,
    residual_cv: float,
    additive: Mapping[str, float],
    lloq: Mapping[str, float],
) -> None:
    problems: list[Problem] = []
    if not isinstance(n_patients, int | np.integer) or n_patients < 1:
        problems.append(Problem(None, "patients", str(n_patients), "must be an integer ≥ 1"))
    if days.size == 0 or not np.all(np.isfinite(days)) or np.any(days < 0):
        shown = ",".join(f"{d:g}" for d in days)
        problems.append(Problem(None, "sampling-days", shown, "expected days ≥ 0 from the infusion, e.g. 0,7,28"))
    if not (math.isfinite(residual_cv) and residual_cv >= 0):
        problems.append(Problem(None, "residual-cv", f"{residual_cv:g}", "must be a number ≥ 0 (0.2 = 20 %)"))
    for name in {**additive, **lloq}:
        if name not in ANALYTE_UNITS:
            problems.append(Problem(None, "analyte", name, "expected car_t or cd19"))
    for name, value in additive.items():
        if not (math.isfinite(value) and value >= 0):
            problems.append(Problem(None, "additive", f"{name}={value:g}", "must be a number ≥ 0"))
    for name, value in lloq.items():
        if not (math.isfinite(value) and value > 0):
            problems.append(Problem(None, "lloq", f"{name}={value:g}", "must be a number > 0"))
    if problems:
        raise InvalidInputError(problems)


def sample_observations(
    n_patients: int,
    sampling_days: Sequence[float] | npt.ArrayLike = DEFAULT_SAMPLING_DAYS,
    *,
    residual_cv: float = 0.2,
    additive: Mapping[str, float] | None = None,
    lloq: Mapping[str, float] | None = None,
    seed: int | None = None,
    dose_per_kg: float | None = None,
    parameters: ParameterSet | str = "autoimmune",
    chunk_size: int = 100_000,
) -> SampledCohort:
    """Sample ``n_patients`` virtual patients at ``sampling_days`` with residual error and BLQ.

    Parameters
    ----------
    n_patients : int
        Number of virtual patients (≥ 1).
    sampling_days : sequence of float
        Days from the infusion (≥ 0); duplicates are sampled once, in increasing order.
    residual_cv : float, default 0.2
        Proportional residual CV (log-normal, see the module docstring); 0: no proportional error.
    additive : mapping analyte -> float, optional
        Additive residual SD per analyte (``car_t``, ``cd19``), in the analyte's unit; default 0.
    lloq : mapping analyte -> float, optional
        Lower limit of quantification per analyte (> 0); default the model's
        (``car_t`` 0.1, ``cd19`` 1 cells/µL).
    seed : int, optional
        Seed: the same seed, set and chunk size give the same patients as
        :func:`~remission.kinetics.cohort.simulate_cohort`, and the same observations.
    dose_per_kg : float, optional
        CAR-T dose, cells/kg (default the set's reference dose).
    parameters : ParameterSet or str, default "autoimmune"
        Typical values and ``omega2`` of the virtual patients.
    chunk_size : int, default 100000
        Patients drawn and predicted at once (as in ``simulate_cohort``).

    Returns
    -------
    SampledCohort

    Examples
    --------
    Without error, a sample equals the model's prediction (the typical patient: ``omega2`` 0):

    >>> from remission.kinetics import load_parameter_set
    >>> ps = load_parameter_set("autoimmune").without_variability()
    >>> s = sample_observations(1, [9, 365], residual_cv=0, parameters=ps, seed=1)
    >>> [(t, a, round(dv, 2), blq) for t, a, dv, blq in s.observations.select("TIME", "ANALYTE", "DV", "BLQ").rows()]
    [(9.0, 'car_t', 50.0, 0), (9.0, 'cd19', 1.0, 1), (365.0, 'car_t', 0.1, 1), (365.0, 'cd19', 94.04, 0)]

    At day 9 the CAR-T peak is ``cmax`` (50 cells/µL) and B cells are in aplasia (censored at the
    LLOQ of 1 cell/µL); by day 365 CAR-T are below their LLOQ and B cells are back.
    """
    days = np.unique(np.asarray(sampling_days, dtype=np.float64).ravel())
    additive = dict(additive or {})
    model = CarTBCellModel(parameters, dose_per_kg=dose_per_kg)
    limits = {k: float(v) for k, v in model.default_lloq.items() if k in ANALYTES}
    limits.update(lloq or {})
    _check(n_patients, days, residual_cv, additive, limits)
    sigma = math.sqrt(math.log1p(residual_cv**2))
    rng = np.random.default_rng(seed)
    noise = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    thetas: list[dict[str, FloatArray]] = []
    values: list[FloatArray] = []  # (n, days, analytes) per chunk
    baselines: list[FloatArray] = []
    for start in range(0, n_patients, chunk_size):
        theta = model.sample(min(chunk_size, n_patients - start), rng)
        pred = model.predict(days, theta)
        f = np.stack([pred[a] for a in ANALYTES], axis=-1)
        add = np.array([additive.get(a, 0.0) for a in ANALYTES])
        values.append(_with_error(f, sigma, add, noise))
        b0 = _with_error(theta["b0"], sigma, np.array(additive.get("cd19", 0.0)), noise)
        baselines.append(np.maximum(b0, 0.0))
        thetas.append(theta)
    y = np.concatenate(values)
    theta_all = {k: np.concatenate([t[k] for t in thetas]) for k in thetas[0]}
    obs = _table(y, days, np.concatenate(baselines), limits, model)
    truth = pl.DataFrame(
        {"ID": [str(i) for i in range(1, n_patients + 1)], **theta_all, "DOSE_PER_KG": model.dose_per_kg}
    )
    return SampledCohort(validate_observations(obs), truth, float(residual_cv), additive, limits, model.parameters)


def _with_error(f: FloatArray, sigma: float, add: FloatArray, noise: np.random.Generator) -> FloatArray:
    """``F · exp(sigma · z1) + add · z2`` (both normal draws taken even when a term is 0)."""
    z_prop = noise.standard_normal(f.shape)
    z_add = noise.standard_normal(f.shape)
    return np.asarray(f * np.exp(sigma * z_prop) + add * z_add, dtype=np.float64)


def _table(
    y: FloatArray, days: FloatArray, baseline: FloatArray, lloq: Mapping[str, float], model: CarTBCellModel
) -> pl.DataFrame:
    """The long table: one row per patient, day and analyte (C order of ``y``)."""
    n, d, k = y.shape
    limit = np.broadcast_to(np.array([lloq[a] for a in ANALYTES]), y.shape)
    blq = y < limit
    unit = _car_t_unit(model.parameters)
    return pl.DataFrame(
        {
            "ID": np.repeat(np.arange(1, n + 1), d * k).astype(str),
            "TIME": np.tile(np.repeat(days, k), n),
            "DV": np.where(blq, limit, y).ravel(),
            "ANALYTE": np.tile(np.array(ANALYTES), n * d),
            "UNIT": np.tile(np.array([unit, "cells/µL"]), n * d),
            "LLOQ": limit.ravel(),
            "BLQ": blq.ravel().astype(np.int64),
            "MDV": np.zeros(n * d * k, dtype=np.int64),
            "DOSE_PER_KG": np.full(n * d * k, model.dose_per_kg),
            "DISEASE": pl.Series([None] * (n * d * k), dtype=pl.String),
            "BASELINE_CD19": np.repeat(baseline, d * k),
            "AGE": pl.Series([None] * (n * d * k), dtype=pl.Float64),
            "WEIGHT": pl.Series([None] * (n * d * k), dtype=pl.Float64),
        }
    )


def _car_t_unit(parameters: ParameterSet) -> str:
    """The observation-table unit of the set's CAR-T output (``copies/µg`` for qPCR sets)."""
    return "copies/µg" if "copies" in parameters.units.get("car_t", "") else "cells/µL"
