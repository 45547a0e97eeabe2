"""Population kinetics: a nonlinear mixed-effects (hierarchical Bayesian) fit across patients.

The structural model is the simulator's: CAR-T by the closed form of Stein et al. (2019)
(:func:`~remission.kinetics.cart.car_t_stein`) driving B-cell killing in the precursor-chain
ODE of :class:`~remission.kinetics.bcell.CarTBCellModel` (JAX forms in
:mod:`remission.kinetics._popjax`). Statistical model, per patient ``i`` and estimated
parameter ``k`` (internal scale: log, or logit for fractions)::

    z_ik   = mu_k + omega_k * eta_ik (+ covariate effects),   eta_ik ~ N(0, 1)
    log DV = log f(t; theta_i) + eps,                          eps ~ N(0, sigma_analyte^2)

so that ``theta_ik = exp(z_ik)`` is log-normal with variance ``omega_k^2`` (the ``omega2`` of
the parameter files). A sample below its limit of quantification contributes
``log Phi((log LLOQ - log f) / sigma)`` (Beal's M3 method: censored, never LLOQ/2 or dropped).
Priors are weakly informative and centred on the reference parameter set:
``mu_k ~ N(internal(value_k), 2^2)``, ``omega_k ~ HalfNormal(1)``, ``sigma ~ HalfNormal(1)``,
covariate coefficients ``N(., 1)``. The posterior is sampled with NumPyro's NUTS (see
docs/decisions/population-kinetics.md for the choice and docs/kinetics.md for the recovery
study). JAX and NumPyro are imported only when a fit runs.

Estimated by default (:data:`CAR_T_ESTIMATED`, :data:`B_CELL_ESTIMATED`); the others stay at
the reference set's values — see :data:`FIXED_WHY` for the reason of each.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from remission.errors import InvalidInputError, Problem
from remission.kinetics.cart import STEIN_PARAMETERS
from remission.kinetics.parameters import FloatArray, Parameter, ParameterSet, load_parameter_set

if TYPE_CHECKING:
    import polars as pl

#: CAR-T parameters estimated (typical value and omega2) when CAR-T is observed.
CAR_T_ESTIMATED: tuple[str, ...] = STEIN_PARAMETERS
#: B-cell parameters estimated when CD19+ B cells are observed.
B_CELL_ESTIMATED: tuple[str, ...] = ("b0", "k_out", "ec50")
#: Why the other model parameters are fixed at the reference set's values by default.
FIXED_WHY: dict[str, str] = {
    "k_kill": "B cells are below the LLOQ within days: only 'fast enough' is seen (any value "
    "above about 1/day gives the same data)",
    "k_tr": "confounded with k_out and ec50 by the 3-4 samples after reappearance",
    "n_transit": "structural (integer number of compartments)",
    "cond_fraction": "conditioning acts before day 0, not sampled by the schedule",
    "f_long": "autoantibodies are not part of the observation table",
    "ab_half_life": "autoantibodies are not part of the observation table",
}
#: Columns the fit reads (the NONMEM-style observation table).
REQUIRED_COLUMNS: tuple[str, ...] = ("ID", "TIME", "DV", "ANALYTE", "LLOQ", "BLQ", "MDV")
ANALYTES: tuple[str, ...] = ("car_t", "cd19")
COVARIATES: tuple[str, ...] = ("dose_per_kg", "disease")
PRIOR_SD = 2.0
OMEGA_PRIOR_SCALE = 1.0
SIGMA_PRIOR_SCALE = 1.0
#: Quantiles of the reported intervals (90 %).
INTERVAL: tuple[float, float] = (0.05, 0.95)
#: How chains run: "sequential" (vectorised chains measured 8x slower per step on CPU).
CHAIN_METHOD = "sequential"

ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PopulationData:
    """The observation table as arrays (one entry per observed sample, MDV = 0).

    ``pid`` indexes :attr:`ids`; ``logdv`` is NaN where ``blq``; doses in cells/kg.
    """

    ids: tuple[str, ...]
    dose_per_kg: FloatArray
    disease: tuple[str, ...]
    analyte: tuple[str, ...]
    pid: np.ndarray[Any, Any]
    time: FloatArray
    dv: FloatArray
    blq: np.ndarray[Any, Any]
    lloq: FloatArray

    @property
    def n_patients(self) -> int:
        """Number of patients."""
        return len(self.ids)

    def rows(self, analyte: str) -> np.ndarray[Any, Any]:
        """Positions of the samples of ``analyte``."""
        return np.flatnonzero(np.asarray(self.analyte) == analyte)


def prepare_observations(observations: pl.DataFrame, dose_ref_per_kg: float) -> PopulationData:
    """Check the columns the fit needs and turn the table into :class:`PopulationData`.

    Rows with ``MDV = 1`` are not observations and are skipped. A missing ``DOSE_PER_KG``
    means the reference dose; a missing ``DISEASE`` is ``"unknown"``.
    """
    import polars as pl

    missing = [c for c in REQUIRED_COLUMNS if c not in observations.columns]
    if missing:
        raise InvalidInputError([Problem(None, c, "", "required column absent from the observations") for c in missing])
    df = observations.with_row_index("_row", offset=1).filter(pl.col("MDV").fill_null(0) == 0)
    problems: list[Problem] = []
    for row, analyte in zip(df["_row"], df["ANALYTE"], strict=True):
        if analyte not in ANALYTES:
            problems.append(Problem(int(row), "ANALYTE", str(analyte), "expected car_t or cd19"))
    blq = df["BLQ"].fill_null(0).cast(pl.Int64).to_numpy() == 1
    dv = df["DV"].cast(pl.Float64).to_numpy()
    lloq = df["LLOQ"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    for i in np.flatnonzero(blq & ~(lloq > 0)):
        problems.append(Problem(int(df["_row"][int(i)]), "LLOQ", str(lloq[i]), "must be > 0 where BLQ=1"))
    lloq = np.where(blq | (lloq > 0), lloq, 1.0)  # a quantified sample's LLOQ is not in its likelihood
    for i in np.flatnonzero(~blq & ~(dv > 0)):
        problems.append(Problem(int(df["_row"][int(i)]), "DV", str(dv[i]), "must be > 0 where BLQ=0"))
    if df.height == 0:
        problems.append(Problem(None, "MDV", "", "no observation (every row has MDV=1)"))
    if problems:
        raise InvalidInputError(problems[:50])
    ids_col = df["ID"].cast(pl.String)
    ids = tuple(dict.fromkeys(ids_col.to_list()))
    index = {v: i for i, v in enumerate(ids)}
    first = df.with_columns(ids_col.alias("_id")).unique("_id", keep="first", maintain_order=True)
    dose = (
        first["DOSE_PER_KG"].cast(pl.Float64).fill_null(dose_ref_per_kg).to_numpy()
        if "DOSE_PER_KG" in first.columns
        else np.full(len(ids), dose_ref_per_kg)
    )
    disease = (
        tuple(str(v) for v in first["DISEASE"].cast(pl.String).fill_null("unknown"))
        if "DISEASE" in first.columns
        else ("unknown",) * len(ids)
    )
    return PopulationData(
        ids=ids,
        dose_per_kg=np.asarray(dose, dtype=np.float64),
        disease=disease,
        analyte=tuple(str(a) for a in df["ANALYTE"]),
        pid=np.array([index[v] for v in ids_col.to_list()], dtype=np.int64),
        time=df["TIME"].cast(pl.Float64).to_numpy(),
        dv=np.where(blq, np.nan, dv),
        blq=blq,
        lloq=lloq,
    )


@dataclass(frozen=True)
class PopulationFit:
    """A fitted population model: posterior draws and what was fitted.

    Attributes
    ----------
    reference : ParameterSet
        The parameter set giving the structure, the priors' centres and the fixed values.
    estimated : tuple of str
        Parameters whose typical value and omega2 were estimated.
    covariate_effects : tuple of str
        Names of the estimated covariate coefficients (``dose_exponent``, ``disease_<level>``).
    data : PopulationData
        The observations fitted.
    draws : dict of str to ndarray
        Posterior draws (chains concatenated): ``mu_<p>`` and ``omega_<p>`` (internal scale),
        ``sigma_<analyte>``, the covariate coefficients, and ``eta`` of shape
        ``(draws, n_patients, len(estimated))``.
    chains : int
        Number of chains (draws are chain-major, ``draws // chains`` each).
    seconds : dict of str to float
        ``compile_and_warmup`` and ``sampling`` times.
    source : str
        The name of the observation file, for the ``source`` of the output parameters.
    """

    reference: ParameterSet
    estimated: tuple[str, ...]
    covariate_effects: tuple[str, ...]
    data: PopulationData
    draws: dict[str, FloatArray]
    chains: int
    seconds: dict[str, float] = field(default_factory=dict)
    source: str = "observations"
    disease_levels: tuple[str, ...] = ()
    leapfrog_steps: float = math.nan

    @property
    def n_draws(self) -> int:
        """Number of posterior draws (all chains)."""
        return int(self.draws["eta"].shape[0])

    def typical_draws(self, name: str) -> FloatArray:
        """Posterior draws of the typical value of ``name`` on the natural scale."""
        return self.reference[name].from_internal(self.draws[f"mu_{name}"])

    def omega2_draws(self, name: str) -> FloatArray:
        """Posterior draws of ``omega2`` of ``name``."""
        return np.asarray(self.draws[f"omega_{name}"] ** 2, dtype=np.float64)

    def individual_draws(self) -> dict[str, FloatArray]:
        """Every model parameter per draw and patient, shape ``(draws, n_patients)``.

        ``cmax`` includes the patient's dose and disease factors (the peak actually reached).
        """
        return _individual(self.reference, self.estimated, self.draws, self.data, self.disease_levels)


def _design(data: PopulationData, covariates: Sequence[str]) -> tuple[tuple[str, ...], FloatArray]:
    """Disease levels other than the most frequent (reference) one, and their 0/1 columns."""
    if "disease" not in covariates:
        return (), np.zeros((data.n_patients, 0))
    values, counts = np.unique(np.asarray(data.disease), return_counts=True)
    reference = values[np.argmax(counts)]
    levels = tuple(str(v) for v in values if v != reference)
    cols = np.array([[d == lv for lv in levels] for d in data.disease], dtype=np.float64)
    return levels, cols.reshape(data.n_patients, len(levels))


def _individual(
    reference: ParameterSet,
    estimated: tuple[str, ...],
    draws: Mapping[str, Any],
    data: PopulationData,
    disease_levels: tuple[str, ...],
    xp: Any = np,
) -> dict[str, Any]:
    """Individual parameters (natural scale) from ``mu``, ``omega``, ``eta`` and covariates.

    Shared by the NumPyro model (``xp = jax.numpy``, one draw) and the summaries (NumPy, all
    draws: arrays get a leading draw axis).
    """
    eta = draws["eta"]
    out: dict[str, Any] = {}
    for j, name in enumerate(estimated):
        mu = xp.asarray(draws[f"mu_{name}"])[..., None]
        omega = xp.asarray(draws[f"omega_{name}"])[..., None]
        z = mu + omega * eta[..., j]
        out[name] = xp.exp(z) if reference[name].domain != "fraction" else 1.0 / (1.0 + xp.exp(-z))
    shape = out[estimated[0]].shape
    for name, p in reference.parameters.items():
        if name not in out:
            out[name] = xp.full(shape, p.value)
    exponent = (
        xp.asarray(draws["dose_exponent"])[..., None]
        if "dose_exponent" in draws
        else reference["dose_exponent"].value
        if "dose_exponent" in reference
        else 0.0
    )
    ref_dose = reference["dose_ref_per_kg"].value if "dose_ref_per_kg" in reference else 1e6
    log_factor = exponent * xp.asarray(np.log(data.dose_per_kg / ref_dose))
    if disease_levels:
        design = _design(data, ("disease",))[1]
        coef = xp.stack([xp.asarray(draws[f"disease_{lv}"]) for lv in disease_levels], axis=-1)
        log_factor = log_factor + (coef[..., None, :] * design).sum(axis=-1)
    out["cmax"] = out["cmax"] * xp.exp(log_factor)
    return out


def _numpyro_model(
    reference: ParameterSet,
    estimated: tuple[str, ...],
    data: PopulationData,
    covariates: tuple[str, ...],
    disease_levels: tuple[str, ...],
    centred: tuple[str, ...] = CAR_T_ESTIMATED,
) -> Callable[[], None]:
    """The NumPyro model function (closure over the data arrays)."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from jax.scipy.special import log_ndtr

    from remission.kinetics import _popjax

    n_transit = int(reference["n_transit"].value) if "n_transit" in reference else 4
    car = data.rows("car_t")
    cd = data.rows("cd19")
    grid = _popjax.time_grid(float(data.time[cd].max()) if cd.size else 0.0)
    node, weight = _popjax.interpolation(grid, data.time[cd])
    car_pid, cd_pid = jnp.asarray(data.pid[car]), jnp.asarray(data.pid[cd])
    car_t_days = jnp.asarray(data.time[car])
    columns = {
        a: (jnp.asarray(np.nan_to_num(np.log(data.dv[r]))), jnp.asarray(data.blq[r]), jnp.asarray(np.log(data.lloq[r])))
        for a, r in (("car_t", car), ("cd19", cd))
    }
    node_j, weight_j = jnp.asarray(node), jnp.asarray(weight)
    n, k = data.n_patients, len(estimated)
    idx_c = np.array([j for j, p in enumerate(estimated) if p in centred], dtype=np.int64)
    idx_n = np.array([j for j, p in enumerate(estimated) if p not in centred], dtype=np.int64)
    dose_prior = reference["dose_exponent"].value if "dose_exponent" in reference else 1.0

    def loglik(analyte: str, logpred: Any, sigma: Any) -> Any:
        logy, blq, loglloq = columns[analyte]
        z = (logy - logpred) / sigma
        observed = -0.5 * z**2 - jnp.log(sigma) - 0.5 * math.log(2 * math.pi)
        censored = log_ndtr((loglloq - logpred) / sigma)  # Beal's M3
        return jnp.where(blq, censored, observed).sum()

    def model() -> None:
        draws: dict[str, Any] = {}
        for name in estimated:
            p = reference[name]
            draws[f"mu_{name}"] = numpyro.sample(f"mu_{name}", dist.Normal(p.to_internal(p.value), PRIOR_SD))
            draws[f"omega_{name}"] = numpyro.sample(f"omega_{name}", dist.HalfNormal(OMEGA_PRIOR_SCALE))
        if "dose_per_kg" in covariates:
            draws["dose_exponent"] = numpyro.sample("dose_exponent", dist.Normal(dose_prior, 1.0))
        for level in disease_levels:
            draws[f"disease_{level}"] = numpyro.sample(f"disease_{level}", dist.Normal(0.0, 1.0))
        mu = jnp.stack([draws[f"mu_{p}"] for p in estimated])
        omega = jnp.stack([draws[f"omega_{p}"] for p in estimated])
        eta = jnp.zeros((n, k))
        with numpyro.plate("patients", n):
            # centred where the data pin each patient down (CAR-T), non-centred where they
            # mostly do not (B-cell parameters behind BLQ samples): the efficient choice each
            if idx_c.size:
                z = numpyro.sample("z_centred", dist.Normal(mu[idx_c], omega[idx_c]).to_event(1))
                eta = eta.at[:, idx_c].set((z - mu[idx_c]) / omega[idx_c])
            if idx_n.size:
                e = numpyro.sample("eta_noncentred", dist.Normal(jnp.zeros(idx_n.size), 1.0).to_event(1))
                eta = eta.at[:, idx_n].set(e)
        draws["eta"] = numpyro.deterministic("eta", eta)
        theta = _individual(reference, estimated, draws, data, disease_levels, xp=jnp)
        total = 0.0
        if car.size:
            sigma = numpyro.sample("sigma_car_t", dist.HalfNormal(SIGMA_PRIOR_SCALE))
            level = _popjax.car_t({kk: v[car_pid] for kk, v in theta.items()}, car_t_days)
            total = total + loglik("car_t", jnp.log(jnp.maximum(level, 1e-300)), sigma)
        if cd.size:
            sigma = numpyro.sample("sigma_cd19", dist.HalfNormal(SIGMA_PRIOR_SCALE))
            logb = jnp.log(jnp.maximum(_popjax.b_cells_on_grid(theta, grid, n_transit), 1e-300))
            pred = (1 - weight_j) * logb[cd_pid, node_j] + weight_j * logb[cd_pid, node_j + 1]
            total = total + loglik("cd19", pred, sigma)
        numpyro.factor("loglik", total)

    return model


def _check_options(covariates: Sequence[str], estimate: Sequence[str], reference: ParameterSet) -> None:
    problems = [
        Problem(None, "covariates", c, f"expected some of {', '.join(COVARIATES)}")
        for c in covariates
        if c not in COVARIATES
    ]
    for name in estimate:
        if name not in reference or reference[name].domain == "constant":
            problems.append(Problem(None, "estimate", name, "not an estimable parameter of the set"))
    if problems:
        raise InvalidInputError(problems)


def fit_population(
    observations: pl.DataFrame,
    covariates: Sequence[str] = (),
    seed: int = 0,
    *,
    parameters: ParameterSet | str = "autoimmune",
    estimate: Sequence[str] | None = None,
    num_warmup: int = 400,
    num_samples: int = 400,
    num_chains: int = 2,
    progress: ProgressCallback | None = None,
    source: str = "observations",
) -> PopulationFit:
    """Fit the population CAR-T + B-cell model to an observation table (NUTS).

    Parameters
    ----------
    observations : polars.DataFrame
        NONMEM-style long table: ``ID, TIME`` (days from infusion), ``DV``, ``ANALYTE``
        (``car_t`` cells/µL, ``cd19`` cells/µL), ``LLOQ``, ``BLQ`` (0/1), ``MDV`` and the
        covariates ``DOSE_PER_KG`` (cells/kg), ``DISEASE``.
    covariates : sequence of {"dose_per_kg", "disease"}
        ``dose_per_kg``: estimate the exponent of ``cmax ∝ dose^e`` (else the set's fixed
        ``dose_exponent`` applies); ``disease``: a log-shift of ``cmax`` per disease other than
        the most frequent one.
    seed : int
        Seed of the sampler (same seed, data and options: same draws).
    parameters : ParameterSet or str, default "autoimmune"
        Reference set: structure, fixed values, centres of the priors.
    estimate : sequence of str, optional
        Parameters to estimate; default :data:`CAR_T_ESTIMATED` plus, when B cells are
        observed, :data:`B_CELL_ESTIMATED`.
    num_warmup, num_samples, num_chains : int
        NUTS settings (samples per chain; chains run vectorised).
    progress : callable, optional
        Called as ``progress(phase, done, total)`` (phases ``warmup``, ``sampling``).
    source : str
        Name of the observation file (for the output parameter set).

    Returns
    -------
    PopulationFit
    """
    import jax

    jax.config.update("jax_enable_x64", True)
    from numpyro.infer import MCMC, NUTS, init_to_value

    reference = load_parameter_set(parameters) if isinstance(parameters, str) else parameters
    ref_dose = reference["dose_ref_per_kg"].value if "dose_ref_per_kg" in reference else 1e6
    data = prepare_observations(observations, ref_dose)
    has_cd19 = data.rows("cd19").size > 0
    if estimate is None:
        estimate = CAR_T_ESTIMATED + (B_CELL_ESTIMATED if has_cd19 else ())
    _check_options(covariates, estimate, reference)
    estimated = tuple(estimate)
    levels, _ = _design(data, covariates)
    model = _numpyro_model(reference, estimated, data, tuple(covariates), levels)
    init: dict[str, Any] = {f"mu_{p}": reference[p].to_internal(reference[p].value) for p in estimated}
    init.update({f"omega_{p}": 0.3 for p in estimated})
    centred = [p for p in estimated if p in CAR_T_ESTIMATED]
    if centred:
        init["z_centred"] = np.tile(
            [reference[p].to_internal(reference[p].value) for p in centred], (data.n_patients, 1)
        )
    if len(centred) < len(estimated):
        init["eta_noncentred"] = np.zeros((data.n_patients, len(estimated) - len(centred)))
    kernel = NUTS(model, init_strategy=init_to_value(values=init), max_tree_depth=8)
    chunk = max(1, min(50, num_samples))
    mcmc = MCMC(
        kernel,
        num_warmup=num_warmup,
        num_samples=chunk,
        num_chains=num_chains,
        chain_method=CHAIN_METHOD,
        progress_bar=False,
    )
    key = jax.random.PRNGKey(seed)
    started = time.perf_counter()
    if progress is not None:
        progress("warmup", 0, num_warmup)
    mcmc.warmup(key, collect_warmup=False)
    warm = time.perf_counter() - started
    if progress is not None:
        progress("warmup", num_warmup, num_warmup)
    parts: list[dict[str, Any]] = []
    steps: list[np.ndarray[Any, Any]] = []
    done = 0
    while done < num_samples:
        mcmc.num_samples = min(chunk, num_samples - done)
        mcmc.run(mcmc.post_warmup_state.rng_key, extra_fields=("num_steps",))
        steps.append(np.asarray(mcmc.get_extra_fields()["num_steps"]))
        parts.append({k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()})
        mcmc.post_warmup_state = mcmc.last_state
        done += mcmc.num_samples
        if progress is not None:
            progress("sampling", done, num_samples)
    grouped = {
        k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0] if k not in ("z_centred", "eta_noncentred")
    }
    draws = {k: v.reshape(-1, *v.shape[2:]) for k, v in grouped.items()}
    return PopulationFit(
        reference=reference,
        estimated=estimated,
        covariate_effects=(("dose_exponent",) if "dose_per_kg" in covariates else ())
        + tuple(f"disease_{lv}" for lv in levels),
        data=data,
        draws=draws,
        chains=num_chains,
        seconds={"compile_and_warmup": warm, "sampling": time.perf_counter() - started - warm},
        leapfrog_steps=float(np.mean(np.concatenate(steps))),
        source=source,
        disease_levels=levels,
    )


def summarize_draws(draws: FloatArray) -> dict[str, float]:
    """Median, 90 % interval and RSE (% = 100 · SD / |mean|) of 1-D posterior draws."""
    lo, hi = np.quantile(draws, INTERVAL)
    mean = float(np.mean(draws))
    return {
        "value": float(np.median(draws)),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "rse": float(100 * np.std(draws, ddof=1) / abs(mean)) if mean else math.nan,
    }


def population_parameter_set(fit: PopulationFit) -> ParameterSet:
    """The fit as a :class:`ParameterSet` (typical values = posterior medians)."""
    from dataclasses import replace

    params: dict[str, Parameter] = {}
    n = fit.data.n_patients
    for name, p in fit.reference.parameters.items():
        if name in fit.estimated:
            s = summarize_draws(fit.typical_draws(name))
            params[name] = replace(
                p,
                value=s["value"],
                omega2=float(np.median(fit.omega2_draws(name))),
                source=f"estimated from {fit.source}, {n} patients",
                omega2_source=f"estimated from {fit.source}, {n} patients",
            )
        elif name == "dose_exponent" and "dose_exponent" in fit.draws:
            s = summarize_draws(fit.draws["dose_exponent"])
            params[name] = replace(p, value=s["value"], source=f"estimated from {fit.source}, {n} patients")
        else:
            params[name] = p
    return replace(fit.reference, name="population", parameters=params)


# ---------------------------------------------------------------------------- derived tables
def _simulation_model(reference: ParameterSet) -> Any:
    from remission.kinetics.bcell import CarTBCellModel

    return CarTBCellModel(reference)


def _as_theta(params: Mapping[str, FloatArray]) -> dict[str, FloatArray]:
    """Flat per-virtual-patient parameters with the dose already in ``cmax`` (exponent 0)."""
    theta = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in params.items()}
    theta["dose_exponent"] = np.zeros_like(theta["cmax"])
    return theta


def _thin(fit: PopulationFit, n: int) -> np.ndarray[Any, Any]:
    """Indices of (at most) ``n`` posterior draws evenly spread over all chains."""
    return np.unique(np.linspace(0, fit.n_draws - 1, min(n, fit.n_draws)).astype(np.int64))


def individual_table(fit: PopulationFit, n_draws: int = 200, horizon: int = 730) -> list[dict[str, Any]]:
    """One row per patient: individual parameters and predicted endpoints with 90 % intervals.

    Individual parameters are posterior medians. The CAR-T peak is ``(tmax, cmax)`` of the
    closed form; B-cell aplasia start and reappearance (first day below / back above
    1 cell/µL, as :func:`~remission.kinetics.simulate_cohort`) are simulated for ``n_draws``
    posterior draws of the patient's parameters (median and 5-95 % quantiles); a draw whose
    B cells are not back within ``horizon`` days counts as later than every day, so an upper
    bound beyond the horizon is reported as missing.
    """
    from remission.kinetics._exact import simulate_block

    model = _simulation_model(fit.reference)
    every = fit.individual_draws()
    pick = _thin(fit, n_draws)
    sub = {k: v[pick] for k, v in every.items()}  # (d, n)
    ends, _ = simulate_block(model, _as_theta(sub), horizon, curves=False)
    d, n = sub["cmax"].shape
    rows: list[dict[str, Any]] = []
    start = ends["b_cell_aplasia_start_day"].reshape(d, n)
    back = np.where(np.isnan(ends["b_cell_reappearance_day"]), np.inf, ends["b_cell_reappearance_day"]).reshape(d, n)
    for i, pid in enumerate(fit.data.ids):
        row: dict[str, Any] = {"ID": pid, "dose_per_kg": float(fit.data.dose_per_kg[i]), "disease": fit.data.disease[i]}
        for name in fit.estimated:
            row[name] = float(np.median(every[name][:, i]))
        peak = every["cmax"][:, i]
        row["car_t_peak_day"] = row.get("tmax", float(np.median(every["tmax"][:, i])))
        row["car_t_peak_cells_ul"] = float(np.median(peak))
        row["b_cell_aplasia_start_day"] = _finite(
            np.nanmedian(start[:, i]) if np.isfinite(start[:, i]).any() else np.nan
        )
        q = np.quantile(back[:, i], (0.5, *INTERVAL))
        row["b_cell_reappearance_day"] = _finite(q[0])
        row["b_cell_reappearance_day_p5"] = _finite(q[1])
        row["b_cell_reappearance_day_p95"] = _finite(q[2])
        rows.append(row)
    return rows


def _finite(x: float) -> float:
    return float(x) if math.isfinite(float(x)) else math.nan


def diagnostics_table(fit: PopulationFit) -> list[dict[str, Any]]:
    """Convergence and shrinkage per estimated quantity.

    ``r_hat`` is the split Gelman-Rubin statistic and ``ess`` the effective sample size
    (NumPyro's diagnostics, over all chains); ``shrinkage_percent`` (on ``omega2`` rows) is the
    eta-shrinkage ``100 * (1 - SD_i(E[eta_i]) / omega)`` — near 0 when each patient's data
    determine their parameter, near 100 when they say nothing beyond the population.
    """
    from numpyro.diagnostics import effective_sample_size, split_gelman_rubin

    def conv(x: FloatArray) -> tuple[float, float]:
        g = x.reshape(fit.chains, -1, *x.shape[1:])
        return float(np.max(split_gelman_rubin(g))), float(np.min(effective_sample_size(g)))

    rows: list[dict[str, Any]] = []
    eta_mean = fit.draws["eta"].mean(axis=0)  # (n, k) posterior means of standardised etas
    for j, name in enumerate(fit.estimated):
        for what, key in (("typical", f"mu_{name}"), ("omega2", f"omega_{name}")):
            r, e = conv(fit.draws[key])
            shrink = 100 * (1 - float(np.std(eta_mean[:, j], ddof=1))) if what == "omega2" else math.nan
            rows.append({"parameter": name, "quantity": what, "r_hat": r, "ess": e, "shrinkage_percent": shrink})
    for key in (*[k for k in fit.draws if k.startswith("sigma_")], *fit.covariate_effects):
        r, e = conv(fit.draws[key])
        rows.append({"parameter": key, "quantity": "fixed", "r_hat": r, "ess": e, "shrinkage_percent": math.nan})
    r, e = conv(fit.draws["eta"].reshape(fit.n_draws, -1))
    rows.append({"parameter": "eta", "quantity": "worst patient", "r_hat": r, "ess": e, "shrinkage_percent": math.nan})
    return rows


def predictions(fit: PopulationFit) -> dict[str, FloatArray]:
    """Per observation: ``pred`` (typical patient with their covariates), ``ipred`` (posterior
    median individual parameters) and ``iwres = (log DV - log IPRED) / sigma`` (NaN if BLQ)."""
    data = fit.data
    model = _simulation_model(fit.reference)
    every = fit.individual_draws()
    ipar = {k: np.median(v, axis=0) for k, v in every.items()}
    # the typical patient: posterior medians of the population parameters, eta = 0
    med = {k: np.median(v, axis=0, keepdims=True) for k, v in fit.draws.items() if k != "eta"}
    med["eta"] = np.zeros((1, data.n_patients, len(fit.estimated)))
    ppar = {k: v[0] for k, v in _individual(fit.reference, fit.estimated, med, data, fit.disease_levels).items()}
    times = np.unique(data.time)
    col = np.searchsorted(times, data.time)
    out = {"pred": np.empty(data.time.size), "ipred": np.empty(data.time.size)}
    for key, par in (("pred", ppar), ("ipred", ipar)):
        sim = model.predict(times, _as_theta(par))
        for analyte in ANALYTES:
            r = data.rows(analyte)
            out[key][r] = sim[analyte][data.pid[r], col[r]]
    iwres = np.full(data.time.size, np.nan)
    for analyte in ANALYTES:
        r = data.rows(analyte)
        if r.size:
            sigma = float(np.median(fit.draws[f"sigma_{analyte}"]))
            iwres[r] = (np.log(data.dv[r]) - np.log(np.maximum(out["ipred"][r], 1e-300))) / sigma
    out["iwres"] = iwres
    return out


def simulate_replicates(fit: PopulationFit, n_replicates: int = 100, seed: int = 0) -> dict[str, FloatArray]:
    """Simulated copies of the study for a visual predictive check.

    Each replicate takes one posterior draw of the population parameters, NEW patients (fresh
    etas, the observed patients' covariates), the observed sampling times, residual error and
    censoring at the LLOQ. Returns ``dv`` of shape ``(n_replicates, n_observations)`` with NaN
    where the simulated value is below the LLOQ.
    """
    rng = np.random.default_rng(seed)
    data = fit.data
    pick = _thin(fit, n_replicates)
    draws = {k: v[pick] for k, v in fit.draws.items()}
    draws["eta"] = rng.standard_normal((pick.size, data.n_patients, len(fit.estimated)))
    params = _individual(fit.reference, fit.estimated, draws, data, fit.disease_levels)
    model = _simulation_model(fit.reference)
    times = np.unique(data.time)
    col = np.searchsorted(times, data.time)
    sim = model.predict(times, _as_theta(params))
    dv = np.full((pick.size, data.time.size), np.nan)
    for analyte in ANALYTES:
        r = data.rows(analyte)
        if not r.size:
            continue
        level = sim[analyte].reshape(pick.size, data.n_patients, times.size)[:, data.pid[r], col[r]]
        sigma = draws[f"sigma_{analyte}"][:, None]
        y = level * np.exp(sigma * rng.standard_normal(level.shape))
        dv[:, r] = np.where(y < data.lloq[r], np.nan, y)
    return {"dv": dv}
