"""Reference solutions with SciPy's adaptive ``solve_ivp``, one patient at a time.

Used to check the fast integrators (tests) and as the baseline of bench/kinetics.py; far too
slow for cohorts. The right-hand sides are written out independently of the vectorised code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from remission.kinetics.parameters import FloatArray

#: Breakpoints where the B-cell model's inputs are discontinuous (integrated piece by piece).
_BREAKS = (-5.0, -2.0, 0.0)


def car_t_ode(days: npt.ArrayLike, p: Mapping[str, float], *, rtol: float = 1e-12, atol: float = 1e-300) -> FloatArray:
    """CAR-T level from the ODE form of Stein 2019, integrated numerically (DOP853).

    Expansion ``dE/dt = rho E`` from ``E(0) = cmax/foldx`` until ``tmax``
    (``rho = ln(foldx)/tmax``); then effector cells ``dE/dt = -alpha E`` and memory cells
    ``dM/dt = kappa E - beta M`` with ``kappa = FB (alpha - beta)``, ``E(tmax) = cmax``,
    ``M(tmax) = 0``; the level is ``C = E + M`` (0 before day 0). Parameters as
    :func:`~remission.kinetics.cart.car_t_stein` (dose factor applied by the caller).
    """
    from scipy.integrate import solve_ivp

    t, back = np.unique(np.asarray(days, dtype=np.float64), return_inverse=True)
    foldx, tmax, cmax = p["foldx"], p["tmax"], p["cmax"]
    alpha, fb, beta = p["alpha"], p["fb"], p["beta"]
    rho = math.log(foldx) / tmax
    kappa = fb * (alpha - beta)
    out = np.zeros_like(t)
    grow = (t >= 0) & (t < tmax)
    if grow.any():
        sol = solve_ivp(
            lambda _s, y: rho * y,
            (0.0, tmax),
            [cmax / foldx],
            t_eval=t[grow],
            rtol=rtol,
            atol=atol,
            method="DOP853",
            first_step=1e-3,
        )
        out[grow] = sol.y[0]
    late = t >= tmax
    if late.any():

        def rhs(_s: float, y: FloatArray) -> list[float]:
            return [-alpha * y[0], kappa * y[0] - beta * y[1]]

        sol = solve_ivp(
            rhs,
            (tmax, float(t[late].max())),
            [cmax, 0.0],
            t_eval=t[late],
            rtol=rtol,
            atol=atol,
            method="DOP853",
            first_step=1e-3,
        )
        out[late] = sol.y[0] + sol.y[1]
    return out[back]


def bcell_ivp(
    model: Any,
    theta: Mapping[str, Any],
    days: npt.ArrayLike,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> dict[str, FloatArray]:
    """``cd19`` and ``autoantibody`` of ONE patient by ``solve_ivp`` (LSODA, tight tolerances).

    ``theta`` holds the patient's parameters (scalars or arrays of size 1); ``days`` sorted,
    ≥ -5. The CAR-T forcing is the model's closed form.
    """
    from scipy.integrate import solve_ivp

    th = {k: np.atleast_1d(np.asarray(v, dtype=np.float64))[:1] for k, v in theta.items()}
    p = {k: float(np.ravel(v)[0]) for k, v in model._prepare(th).items() if np.size(v) == 1}
    n = model.n_transit
    k_tr, k_out, k_prod = p["k_tr"], p["k_out"], p["_k_prod"]
    k_cond, k_deg, f_long = p["_k_cond"], p["_k_deg"], p["f_long"]
    k_kill, ec50 = p["k_kill"], p["ec50"]

    def car_t(s: float) -> float:
        return float(np.asarray(model.car_t(th, s)).reshape(-1)[0]) if s >= 0 else 0.0

    def rhs(s: float, y: FloatArray, cond: float) -> FloatArray:
        c = car_t(s)
        loss = k_kill * c / (ec50 + c) + cond
        d = np.empty_like(y)
        d[0] = k_prod - (k_tr + cond) * y[0]
        d[1:n] = k_tr * (y[0 : n - 1] - y[1:n]) - loss * y[1:n]
        d[n] = k_tr * y[n - 1] - (k_out + loss) * y[n]
        d[n + 1] = -loss * y[n + 1]
        d[n + 2] = k_deg * ((1.0 - f_long) * y[n + 1] + f_long) - k_deg * y[n + 2]
        return d

    t = np.asarray(days, dtype=np.float64)
    b0 = p["b0"]
    y = np.array([k_prod / k_tr] * n + [b0, 1.0, 1.0])
    cd19 = np.full(t.size, b0)
    ab = np.ones(t.size)
    edges = [*_BREAKS, float(max(t.max(), 0.0))]
    for lo, hi in pairwise(edges):
        if hi <= lo:
            continue
        cond = k_cond if lo == _BREAKS[0] else 0.0
        inside = (t > lo) & (t <= hi)
        sol = solve_ivp(
            rhs,
            (lo, hi),
            y,
            args=(cond,),
            method="LSODA",
            rtol=rtol,
            atol=atol,
            t_eval=np.unique(np.concatenate([t[inside], [hi]])),
            first_step=1e-3,
        )
        if inside.any():
            at = np.searchsorted(sol.t, t[inside])
            cd19[inside] = sol.y[n, at]
            ab[inside] = sol.y[n + 2, at]
        y = sol.y[:, -1]
    return {"cd19": cd19, "autoantibody": ab}
