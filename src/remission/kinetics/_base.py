"""The kinetic model family: a base class that owns simulation and fitting.

Subclasses state only their math:

* :class:`KineticModel` subclasses implement ``_predict(theta, days)`` (a closed form), and
* :class:`ODEKineticModel` subclasses implement ``_initial_state``, ``_rhs`` and ``_observe``;
  the base integrates them with a fixed-step RK4 vectorised over virtual patients (state arrays
  of shape ``(n_states, n_patients)``; no Python loop over patients).

Fitting (:meth:`KineticModel.fit`) is maximum likelihood on the log scale, shared by every model:
``log y_obs = log y_pred + eps``, ``eps ~ N(0, sigma_output^2)``; an observation equal to 0
(below the limit of quantification) contributes ``P(y < lloq)`` (Beal's M3 method). Parameters
are estimated on the log (or logit, for fractions) scale with SciPy's L-BFGS-B; gradients and the
Hessian are central finite differences evaluated in ONE vectorised batch (every perturbed
parameter vector is simulated as one virtual patient). Standard errors come from the inverse
Hessian, mapped to the natural scale by the delta method. Like lifelines, ``fit()`` returns
``self`` and the fitted attributes end in ``_``.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from itertools import pairwise
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from remission.errors import InvalidInputError, Problem
from remission.kinetics._backend import get_backend
from remission.kinetics.parameters import FloatArray, ParameterSet, load_parameter_set

Theta = Mapping[str, Any]  # name -> array of shape (n_patients,) (numpy or jax)


class KineticsError(InvalidInputError):
    """Base of the kinetics exceptions (an :class:`~remission.errors.InvalidInputError`)."""


class NotFittedError(KineticsError):
    """A fitted attribute or fitted prediction was asked for before :meth:`KineticModel.fit`."""


class FitFailedError(KineticsError):
    """The likelihood could not be evaluated or optimised for the data given."""


class ConvergenceWarning(UserWarning):
    """The optimiser stopped without convergence or the Hessian is not positive definite."""


def _as_days(days: npt.ArrayLike, what: str = "days") -> FloatArray:
    arr = np.asarray(days, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError([Problem(None, what, str(arr.shape), "expected a non-empty 1-D array")])
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InvalidInputError([Problem(int(i) + 1, what, str(arr[i]), "must be a finite number") for i in bad])
    return arr


class KineticModel(ABC):
    """Base class of the kinetic models: parameters, simulation, virtual patients and fitting.

    Parameters
    ----------
    parameters : ParameterSet or str, default "autoimmune"
        A parameter set or the name of a built-in one (see
        :func:`~remission.kinetics.parameters.load_parameter_set`).
    dose_per_kg : float, optional
        Infused CAR-T dose in cells/kg; default the set's ``dose_ref_per_kg``. The peak scales as
        ``cmax * (dose_per_kg / dose_ref_per_kg) ** dose_exponent``.
    backend : {"numpy", "jax"}, default "numpy"
        Array back-end for simulation; ``"jax"`` only when JAX is installed.
    """

    #: Names of the model outputs (columns of observed series), e.g. ``("car_t",)``.
    outputs: ClassVar[tuple[str, ...]] = ()
    #: Parameters the math reads; the parameter set must provide them.
    required: ClassVar[tuple[str, ...]] = ()
    #: Parameters estimated by default when an output is observed.
    default_free: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    #: Default lower limit of quantification per output (observations equal to 0 are below it).
    default_lloq: ClassVar[Mapping[str, float]] = {}

    def __init__(
        self,
        parameters: ParameterSet | str = "autoimmune",
        *,
        dose_per_kg: float | None = None,
        backend: str = "numpy",
    ) -> None:
        ps = load_parameter_set(parameters) if isinstance(parameters, str) else parameters
        missing = [name for name in self.required if name not in ps]
        if missing:
            raise KineticsError(
                [
                    Problem(
                        None,
                        "parameters",
                        name,
                        f"required by {type(self).__name__}, absent from set {ps.name!r}",
                    )
                    for name in missing
                ]
            )
        if dose_per_kg is None:
            dose_per_kg = ps["dose_ref_per_kg"].value if "dose_ref_per_kg" in ps else 1e6
        if not (math.isfinite(dose_per_kg) and dose_per_kg > 0):
            raise KineticsError([Problem(None, "dose_per_kg", str(dose_per_kg), "must be a finite number > 0")])
        self.parameters: ParameterSet = ps
        self.dose_per_kg: float = float(dose_per_kg)
        self.backend: str = backend
        self._xp = get_backend(backend)

    # ----------------------------------------------------------------- the math (subclasses)
    @abstractmethod
    def _predict(self, theta: Theta, days: FloatArray) -> dict[str, Any]:
        """Model outputs at ``days`` (sorted 1-D) for every patient: arrays ``(n, len(days))``."""

    # ----------------------------------------------------------------- simulation
    def typical_theta(self, n: int = 1) -> dict[str, FloatArray]:
        """The typical parameter values broadcast to ``n`` patients."""
        return {k: np.full(n, v, dtype=np.float64) for k, v in self.parameters.typical().items()}

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, FloatArray]:
        """Draw ``n`` virtual patients (log-normal between-patient variability)."""
        return self.parameters.sample(n, rng)

    def dose_factor(self, theta: Theta) -> Any:
        """``(dose_per_kg / dose_ref_per_kg) ** dose_exponent`` per patient (1 when absent)."""
        if "dose_ref_per_kg" not in theta or "dose_exponent" not in theta:
            return 1.0
        return (self.dose_per_kg / theta["dose_ref_per_kg"]) ** theta["dose_exponent"]

    def predict(self, days: npt.ArrayLike, theta: Theta | None = None) -> dict[str, FloatArray]:
        """Simulate the outputs at ``days`` (days since infusion).

        Parameters
        ----------
        days : array_like, 1-D
            Days relative to the CAR-T infusion (day 0); any order.
        theta : mapping of str to array, optional
            Per-patient parameters, arrays of shape ``(n,)`` (e.g. from :meth:`sample`). Default:
            the fitted parameters after :meth:`fit`, else the typical values (``n = 1``).

        Returns
        -------
        dict of str to ndarray
            One array of shape ``(n, len(days))`` per output, in the order of ``days``.
        """
        t = _as_days(days)
        if theta is None:
            theta = self.fitted_theta() if hasattr(self, "params_") else self.typical_theta()
        full = self.typical_theta(1)
        n = max(int(np.size(v)) for v in theta.values()) if theta else 1
        merged = {k: np.broadcast_to(np.asarray(theta.get(k, v), dtype=np.float64), (n,)) for k, v in full.items()}
        t = np.round(t, 9)  # the integration grid is rounded alike
        order = np.argsort(t, kind="stable")
        uniq, inverse = np.unique(t[order], return_inverse=True)
        out = self._predict(merged, uniq)
        back = np.empty_like(order)
        back[order] = np.arange(order.size)
        return {k: np.asarray(v, dtype=np.float64)[:, inverse][:, back] for k, v in out.items()}

    # ----------------------------------------------------------------- fitting
    def fitted_theta(self) -> dict[str, FloatArray]:
        """Fitted parameters (others at their typical values), shape ``(1,)`` each."""
        if not hasattr(self, "params_"):
            raise NotFittedError([Problem(None, type(self).__name__, "", "call fit() first")])
        theta = self.typical_theta(1)
        theta.update({k: np.array([v]) for k, v in self.params_.items()})
        return theta

    def _check_series(
        self, days: npt.ArrayLike, observed: Mapping[str, npt.ArrayLike]
    ) -> tuple[FloatArray, dict[str, FloatArray]]:
        t = _as_days(days, "day")
        problems: list[Problem] = []
        series: dict[str, FloatArray] = {}
        for name, values in observed.items():
            if name not in self.outputs:
                problems.append(
                    Problem(
                        None,
                        name,
                        "",
                        f"not an output of {type(self).__name__} (outputs: {', '.join(self.outputs)})",
                    )
                )
                continue
            y = np.asarray(values, dtype=np.float64)
            if y.shape != t.shape:
                problems.append(Problem(None, name, str(y.shape), f"expected {t.size} values like day"))
                continue
            for i in np.flatnonzero(np.isfinite(y) & (y < 0)):
                problems.append(Problem(int(i) + 1, name, f"{y[i]:g}", "must be ≥ 0 (0 = below detection)"))
            for i in np.flatnonzero(np.isinf(y)):
                problems.append(Problem(int(i) + 1, name, f"{y[i]:g}", "must be finite"))
            series[name] = y
        if not problems and not any(np.isfinite(y).sum() for y in series.values()):
            problems.append(Problem(None, "observations", "", "no observed value to fit"))
        if problems:
            raise KineticsError(problems)
        return t, series

    def fit(
        self,
        days: npt.ArrayLike,
        observed: Mapping[str, npt.ArrayLike],
        *,
        free: Sequence[str] | None = None,
        lloq: Mapping[str, float] | None = None,
    ) -> Self:
        """Fit one patient's series by maximum likelihood on the log scale.

        Parameters
        ----------
        days : array_like, 1-D
            Sampling days relative to infusion.
        observed : mapping of output name to array_like
            Observed values (same length as ``days``); NaN = not measured at that day,
            0 = below the limit of quantification ``lloq``.
        free : sequence of str, optional
            Parameters to estimate; default the union of :attr:`default_free` of the observed
            outputs. The others stay at their typical values.
        lloq : mapping of output name to float, optional
            Limits of quantification; default :attr:`default_lloq`.

        Returns
        -------
        self
            With ``params_``, ``standard_errors_``, ``sigma_``, ``sigma_standard_errors_``,
            ``log_likelihood_``, ``aic_``, ``n_observations_``, ``covariance_`` (internal
            scale), ``free_`` and ``converged_``.
        """
        t, series = self._check_series(days, observed)
        observed_outputs = [k for k, y in series.items() if np.isfinite(y).any()]
        if free is None:
            free = tuple(dict.fromkeys(p for o in observed_outputs for p in self.default_free.get(o, ())))
        unknown = [p for p in free if p not in self.parameters or self.parameters[p].domain == "constant"]
        if unknown or not free:
            raise KineticsError(
                [Problem(None, "free", p, "not a fittable parameter of the set") for p in unknown]
                or [Problem(None, "free", "", "no parameter to fit")]
            )
        limits = {**self.default_lloq, **(lloq or {})}
        objective = _Likelihood(self, t, series, observed_outputs, tuple(free), limits)
        x0 = objective.start()
        f0 = objective.batch(x0[None, :])[0]
        if not np.isfinite(f0):
            raise FitFailedError([Problem(None, "fit", "", "likelihood not finite at the typical values")])
        from scipy.optimize import minimize

        result = minimize(
            objective.value_and_gradient,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=[(x - 12.0, x + 12.0) for x in x0],
            options={"maxiter": 500, "ftol": 1e-12, "gtol": 1e-7},
        )
        x = np.asarray(result.x, dtype=np.float64)
        hessian = objective.hessian(x)
        self._store_fit(objective, x, hessian, bool(result.success), result)
        return self

    def _store_fit(
        self, objective: _Likelihood, x: FloatArray, hessian: FloatArray, success: bool, result: Any
    ) -> None:
        k = len(objective.free)
        try:
            cov = np.linalg.inv(hessian)
            positive = bool(np.all(np.linalg.eigvalsh((hessian + hessian.T) / 2) > 0))
        except np.linalg.LinAlgError:
            cov, positive = np.full_like(hessian, np.nan), False
        if not positive:
            warnings.warn(
                "Hessian not positive definite: standard errors are not available (NaN); "
                "fix some parameters (free=...) or add observations",
                ConvergenceWarning,
                stacklevel=3,
            )
            cov = np.full_like(hessian, np.nan)
        if not success:
            warnings.warn(f"optimiser did not converge: {result.message}", ConvergenceWarning, stacklevel=3)
        se_internal = np.sqrt(np.diag(cov))
        self.free_: tuple[str, ...] = objective.free
        self.params_: dict[str, float] = {}
        self.standard_errors_: dict[str, float] = {}
        for i, name in enumerate(objective.free):
            p = self.parameters[name]
            value = float(p.from_internal(np.array(x[i])))
            self.params_[name] = value
            self.standard_errors_[name] = float(p.derivative(value) * se_internal[i])
        self.sigma_: dict[str, float] = {}
        self.sigma_standard_errors_: dict[str, float] = {}
        for j, out in enumerate(objective.observed_outputs):
            s = math.exp(x[k + j])
            self.sigma_[out] = s
            self.sigma_standard_errors_[out] = float(s * se_internal[k + j])
        self.log_likelihood_: float = -float(objective.value(x))
        self.n_observations_: int = objective.n_observations
        self.aic_: float = 2 * len(x) - 2 * self.log_likelihood_
        self.covariance_: FloatArray = np.asarray(cov, dtype=np.float64)
        self.converged_: bool = success and positive
        self.optimizer_result_: Any = result

    def estimates(self) -> list[dict[str, Any]]:
        """Fitted estimates as rows: parameter, estimate, standard_error, rse_percent, unit."""
        if not hasattr(self, "params_"):
            raise NotFittedError([Problem(None, type(self).__name__, "", "call fit() first")])
        rows: list[dict[str, Any]] = []
        for name, value in self.params_.items():
            se = self.standard_errors_[name]
            rows.append(
                {
                    "parameter": name,
                    "estimate": value,
                    "standard_error": se,
                    "rse_percent": 100 * se / value,
                    "unit": self.parameters[name].unit,
                }
            )
        for out, s in self.sigma_.items():
            se = self.sigma_standard_errors_[out]
            rows.append(
                {
                    "parameter": f"sigma_{out}",
                    "estimate": s,
                    "standard_error": se,
                    "rse_percent": 100 * se / s,
                    "unit": "log scale",
                }
            )
        return rows


class _Likelihood:
    """Negative log-likelihood of one patient's series, vectorised over parameter vectors."""

    def __init__(
        self,
        model: KineticModel,
        days: FloatArray,
        series: Mapping[str, FloatArray],
        observed_outputs: Sequence[str],
        free: tuple[str, ...],
        lloq: Mapping[str, float],
    ) -> None:
        self.model = model
        self.free = free
        self.observed_outputs = tuple(observed_outputs)
        self.grid, inverse = np.unique(days, return_inverse=True)
        self.columns: list[tuple[str, npt.NDArray[np.intp], FloatArray, npt.NDArray[np.intp], float]] = []
        self.n_observations = 0
        for out in self.observed_outputs:
            y = series[out]
            seen = np.isfinite(y)
            pos = seen & (y > 0)
            cens = seen & (y == 0)
            limit = float(lloq.get(out, 1.0))
            self.columns.append((out, inverse[pos], np.log(y[pos]), inverse[cens], math.log(limit)))
            self.n_observations += int(seen.sum())
        self.params = [model.parameters[name] for name in free]

    def start(self) -> FloatArray:
        x = [p.to_internal(p.value) for p in self.params] + [math.log(0.5)] * len(self.observed_outputs)
        return np.array(x, dtype=np.float64)

    def batch(self, X: FloatArray) -> FloatArray:
        from scipy.special import log_ndtr

        b = X.shape[0]
        theta = self.model.typical_theta(b)
        for i, p in enumerate(self.params):
            theta[p.name] = p.from_internal(X[:, i])
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
            pred = self.model._predict(theta, self.grid)
            nll = np.zeros(b)
            k = len(self.params)
            for j, (out, idx, logy, cidx, loglim) in enumerate(self.columns):
                sigma = np.exp(X[:, k + j])[:, None]
                logp = np.log(np.maximum(np.asarray(pred[out], dtype=np.float64), 1e-300))
                z = (logy[None, :] - logp[:, idx]) / sigma
                nll += (0.5 * z**2 + np.log(sigma) + 0.5 * math.log(2 * math.pi)).sum(axis=1)
                if cidx.size:
                    nll -= log_ndtr((loglim - logp[:, cidx]) / sigma).sum(axis=1)
        return np.where(np.isfinite(nll), nll, np.inf)

    def value(self, x: FloatArray) -> float:
        return float(self.batch(np.asarray(x)[None, :])[0])

    def value_and_gradient(self, x: FloatArray, h: float = 1e-5) -> tuple[float, FloatArray]:
        """NLL and its central-difference gradient from ONE batch of ``2k + 1`` simulations."""
        k = x.size
        steps = np.vstack([np.zeros((1, k)), np.eye(k) * h, -np.eye(k) * h])
        f = self.batch(x[None, :] + steps)
        with np.errstate(invalid="ignore"):
            g = (f[1 : k + 1] - f[k + 1 :]) / (2 * h)
        return float(f[0]), np.where(np.isfinite(g), g, 0.0)

    def hessian(self, x: FloatArray, h: float = 1e-3) -> FloatArray:
        k = x.size
        e = np.eye(k) * h
        points = [x]
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        for i in range(k):
            points += [x + 2 * e[i], x - 2 * e[i]]
        for i, j in pairs:
            points += [x + e[i] + e[j], x + e[i] - e[j], x - e[i] + e[j], x - e[i] - e[j]]
        f = self.batch(np.array(points))
        H = np.empty((k, k))
        for i in range(k):
            H[i, i] = (f[1 + 2 * i] - 2 * f[0] + f[2 + 2 * i]) / (4 * h * h)
        base = 1 + 2 * k
        for n, (i, j) in enumerate(pairs):
            a, b_, c, d = f[base + 4 * n : base + 4 * n + 4]
            H[i, j] = H[j, i] = (a - b_ - c + d) / (4 * h * h)
        return H


class ODEKineticModel(KineticModel):
    """A kinetic model given by an ODE system, integrated by fixed-step RK4 over all patients.

    The time grid is fixed in advance (``fine_step_days`` until ``fine_until_day``, then
    ``coarse_step_days``) and always contains the breakpoints of the forcing
    (:meth:`_breakpoints`) and the requested days, so the result at a day does not depend on
    which other days are asked for. States are arrays of shape ``(n_states, n_patients)``.
    Before ``start_day`` the system is at its pre-treatment steady state.
    """

    start_day: ClassVar[float] = -5.0
    fine_step_days: ClassVar[float] = 0.25
    coarse_step_days: ClassVar[float] = 0.5
    fine_until_day: ClassVar[float] = 42.0

    @abstractmethod
    def _initial_state(self, theta: Theta) -> Any:
        """Pre-treatment steady state, shape ``(n_states, n)``."""

    def _prepare(self, theta: Theta) -> Theta:
        """Per-patient constants derived once per integration; default: ``theta`` itself."""
        return theta

    def _forcing(self, t: float, theta: Theta, step_mid: float) -> Any:
        """Time-dependent inputs at day ``t`` (e.g. the CAR-T level), shared by the RK4 stages.

        Evaluated once per distinct stage time (the midpoint value serves two stages, the end
        value is reused as the next step's start unless a breakpoint lies there).
        """
        return None

    @abstractmethod
    def _rhs(self, t: float, y: Any, theta: Theta, forcing: Any, step_mid: float) -> Any:
        """dy/dt at day ``t`` (a scalar shared by all patients), shape of ``y``.

        ``forcing`` is :meth:`_forcing` at ``t``. ``step_mid`` is the midpoint of the current
        step: piecewise-constant inputs switch on it, since a step never straddles a breakpoint.
        """

    @abstractmethod
    def _observe(self, t: float, y: Any, theta: Theta) -> dict[str, Any]:
        """The outputs at day ``t`` from state ``y``: arrays of shape ``(n,)``."""

    def _breakpoints(self) -> tuple[float, ...]:
        """Days where the forcing is discontinuous (always grid points)."""
        return ()

    def time_grid(self, end_day: float, extra: npt.ArrayLike = ()) -> FloatArray:
        """The fixed integration grid from :attr:`start_day` to ``end_day``."""
        s = self.start_day
        fine_end = min(self.fine_until_day, end_day)
        parts = [np.arange(s, fine_end, self.fine_step_days)]
        if end_day > fine_end:
            parts.append(np.arange(fine_end, end_day, self.coarse_step_days))
        parts.append(np.array([end_day]))
        parts.append(np.array([b for b in self._breakpoints() if s <= b <= end_day]))
        extra_arr = np.asarray(extra, dtype=np.float64)
        parts.append(extra_arr[(extra_arr >= s) & (extra_arr <= end_day)])
        return np.unique(np.round(np.concatenate(parts), 9))

    def integrate(self, theta: Theta, record_days: npt.ArrayLike) -> Iterator[tuple[float, Any]]:
        """Yield ``(day, state)`` at each of the sorted ``record_days``, integrating in between.

        Streaming keeps memory at a few state arrays whatever the number of days, which lets
        cohorts derive their endpoints day by day.
        """
        days = np.unique(np.round(np.asarray(record_days, dtype=np.float64), 9))
        theta = self._prepare(theta)
        y = self._initial_state(theta)
        pending = iter(days)
        day = next(pending, None)
        while day is not None and day <= self.start_day:
            yield float(day), y
            day = next(pending, None)
        if day is None:
            return
        grid = self.time_grid(float(days[-1]), days)
        wanted = set(days[days > self.start_day].tolist())
        rhs, forcing = self._rhs, self._forcing
        breaks = set(self._breakpoints())
        cached: Any = None
        for t0, t1 in pairwise(grid):
            h = float(t1 - t0)
            t0f, t1f = float(t0), float(t1)
            mid = t0f + h / 2
            f0 = forcing(t0f, theta, mid) if cached is None else cached
            fm = forcing(mid, theta, mid)
            f1 = forcing(t1f, theta, mid)
            cached = None if t1f in breaks else f1
            k1 = rhs(t0f, y, theta, f0, mid)
            k2 = rhs(mid, y + (h / 2) * k1, theta, fm, mid)
            k3 = rhs(mid, y + (h / 2) * k2, theta, fm, mid)
            k4 = rhs(t1f, y + h * k3, theta, f1, mid)
            y = y + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
            if float(t1) in wanted:
                yield float(t1), y

    def _predict(self, theta: Theta, days: FloatArray) -> dict[str, Any]:
        xp = self._xp
        columns: dict[str, list[Any]] = {name: [] for name in self.outputs}
        for t, y in self.integrate(theta, days):
            for name, value in self._observe(t, y, theta).items():
                columns[name].append(value)
        return {name: xp.stack(values, axis=1) for name, values in columns.items()}
