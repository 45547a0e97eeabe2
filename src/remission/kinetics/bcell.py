"""B-cell depletion and reconstitution, and autoantibodies, driven by CAR-T kinetics.

Project model (documented in docs/kinetics.md); states per patient, shape ``(n_states, n)``:

* ``P1..Pn``: B-cell precursors, a transit chain with rate ``k_tr`` (mean transit ``n/k_tr``);
* ``B``: peripheral CD19+ B cells, cells/µL;
* ``M``: the pre-existing, antigen-experienced B-cell pool that feeds the short-lived
  plasmablasts (relative to its pre-treatment size, 1);
* ``A``: autoantibody level relative to its pre-treatment steady state (1).

Equations (``C(t)`` from :func:`~remission.kinetics.cart.car_t_stein`)::

    kill(C)  = k_kill * C / (ec50 + C)
    cond(t)  = -ln(1 - cond_fraction) / 3   for -5 <= t < -2 (days -5, -4, -3), else 0
    dP1/dt   = k_prod - k_tr*P1 - cond*P1                   (P1: CD19-negative progenitor)
    dPi/dt   = k_tr*(P(i-1) - Pi) - (kill(C) + cond)*Pi     (i = 2..n, CD19+ precursors)
    dB/dt    = k_tr*Pn - k_out*B - (kill(C) + cond)*B
    dM/dt    = -(kill(C) + cond)*M
    dA/dt    = k_deg*((1 - f_long)*M + f_long) - k_deg*A

with ``k_prod = k_out * b0`` so that ``B = b0`` and ``P_i = k_prod / k_tr`` before treatment.
Reappearing B cells come from the precursor chain and are naive (Mackensen 2022), so they do
not refill ``M``: the plasmablast drive ``PB(B)`` of the spec is the surviving fraction of the
pre-existing pool, and long-lived plasma cells (CD19-negative, ``f_long``) keep producing.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from remission.kinetics._base import KineticsError, ODEKineticModel, Problem, Theta
from remission.kinetics.cart import STEIN_PARAMETERS, car_t_stein
from remission.kinetics.parameters import ParameterSet

B_CELL_PARAMETERS: tuple[str, ...] = (
    "b0",
    "k_out",
    "k_tr",
    "n_transit",
    "k_kill",
    "ec50",
    "cond_fraction",
    "f_long",
    "ab_half_life",
)
CONDITIONING_DAYS: tuple[float, float] = (-5.0, -2.0)  # days -5, -4 and -3 (end exclusive)


class CarTBCellModel(ODEKineticModel):
    """CAR-T (closed form), B cells with precursor delay, and autoantibodies (RK4).

    Outputs: ``car_t`` (cells/µL), ``cd19`` (peripheral CD19+ B cells, cells/µL) and
    ``autoantibody`` (relative to the pre-treatment level).

    Examples
    --------
    >>> m = CarTBCellModel()                       # autoimmune set, 1e6 CAR-T/kg
    >>> out = m.predict([-10, 0, 28, 365])
    >>> [round(float(b), 1) for b in out["cd19"][0]]   # b0, conditioned, aplasia, back
    [100.0, 10.0, 0.0, 94.0]
    """

    outputs: ClassVar[tuple[str, ...]] = ("car_t", "cd19", "autoantibody")
    required: ClassVar[tuple[str, ...]] = STEIN_PARAMETERS + B_CELL_PARAMETERS
    default_free: ClassVar[dict[str, tuple[str, ...]]] = {
        "car_t": STEIN_PARAMETERS,
        "cd19": ("b0", "k_kill", "ec50"),
        "autoantibody": ("f_long",),
    }
    default_lloq: ClassVar[dict[str, float]] = {"car_t": 0.1, "cd19": 1.0, "autoantibody": 0.01}

    def __init__(
        self,
        parameters: ParameterSet | str = "autoimmune",
        *,
        dose_per_kg: float | None = None,
        backend: str = "numpy",
    ) -> None:
        super().__init__(parameters, dose_per_kg=dose_per_kg, backend=backend)
        n = self.parameters["n_transit"].value
        if n != int(n) or n < 2:
            raise KineticsError([Problem(None, "n_transit", f"{n:g}", "must be an integer ≥ 2")])
        self.n_transit: int = int(n)

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the state rows: ``P1..Pn, B, M, A``."""
        return (*(f"P{i + 1}" for i in range(self.n_transit)), "B", "M", "A")

    def car_t(self, theta: Theta, t: Any) -> Any:
        """CAR-T level at day ``t`` per patient (Stein closed form, dose-scaled)."""
        return car_t_stein(
            t,
            theta["foldx"],
            theta["tmax"],
            theta["cmax"] * self.dose_factor(theta),
            theta["alpha"],
            theta["fb"],
            theta["beta"],
            xp=self._xp,
        )

    def _breakpoints(self) -> tuple[float, ...]:
        return (*CONDITIONING_DAYS, 0.0)

    def _initial_state(self, theta: Theta) -> Any:
        xp = self._xp
        b0 = xp.asarray(theta["b0"])
        p = theta["k_out"] * b0 / theta["k_tr"]
        rows = [p] * self.n_transit + [b0, xp.ones_like(b0), xp.ones_like(b0)]
        return xp.stack(rows)

    def _prepare(self, theta: Theta) -> dict[str, Any]:
        """Per-patient constants computed once per integration (not at every RK4 stage)."""
        xp = self._xp
        cmax = theta["cmax"] * self.dose_factor(theta)
        k_deg = math.log(2.0) / theta["ab_half_life"]
        return {
            **theta,
            "_rho": xp.log(theta["foldx"]) / theta["tmax"],
            "_r0": cmax / theta["foldx"],
            "_c_effector": cmax * (1.0 - theta["fb"]),
            "_c_memory": cmax * theta["fb"],
            "_tmax_min": float(xp.min(theta["tmax"])),
            "_tmax_max": float(xp.max(theta["tmax"])),
            "_k_prod": theta["k_out"] * theta["b0"],
            "_k_cond": -xp.log1p(-theta["cond_fraction"]) / 3.0,
            "_k_deg": k_deg,
            "_k_short": k_deg * (1.0 - theta["f_long"]),
            "_k_long": k_deg * theta["f_long"],
        }

    def _forcing(self, t: float, theta: Theta, step_mid: float) -> Any:
        """The CAR-T killing rate ``kill(C(t))`` per patient (no CAR-T before day 0).

        ``C(t)`` is :func:`car_t_stein` with the constants of :meth:`_prepare`; a branch is
        skipped when no patient is in it.
        """
        xp = self._xp
        if step_mid < 0:
            return 0.0 * theta["k_kill"]
        tmax = theta["tmax"]
        if t < theta["_tmax_min"]:
            c = theta["_r0"] * xp.exp(theta["_rho"] * t)
        else:
            tau = xp.maximum(t - tmax, 0.0)
            c = theta["_c_effector"] * xp.exp(-theta["alpha"] * tau) + theta["_c_memory"] * xp.exp(-theta["beta"] * tau)
            if t < theta["_tmax_max"]:
                grow = theta["_r0"] * xp.exp(theta["_rho"] * xp.minimum(t, tmax))
                c = xp.where(t < tmax, grow, c)
        return theta["k_kill"] * c / (theta["ec50"] + c)

    def _rhs(self, t: float, y: Any, theta: Theta, forcing: Any, step_mid: float) -> Any:
        xp = self._xp
        n = self.n_transit
        k_tr = theta["k_tr"]
        P, B, M, A = y[:n], y[n], y[n + 1], y[n + 2]
        if CONDITIONING_DAYS[0] <= step_mid < CONDITIONING_DAYS[1]:
            loss = forcing + theta["_k_cond"]
            dP1 = theta["_k_prod"] - (k_tr + theta["_k_cond"]) * P[0]
        else:
            loss = forcing
            dP1 = theta["_k_prod"] - k_tr * P[0]
        dP = k_tr * (P[:-1] - P[1:]) - loss * P[1:]  # P2..Pn, CD19+
        dB = k_tr * P[-1] - (theta["k_out"] + loss) * B
        dM = -loss * M
        dA = theta["_k_short"] * M + theta["_k_long"] - theta["_k_deg"] * A
        return xp.concatenate([dP1[None], dP, dB[None], dM[None], dA[None]])

    def _observe(self, t: float, y: Any, theta: Theta) -> dict[str, Any]:
        n = self.n_transit
        return {"car_t": self.car_t(theta, t), "cd19": y[n], "autoantibody": y[n + 2]}
