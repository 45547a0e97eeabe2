"""Fast cohort integrator of :class:`~remission.kinetics.bcell.CarTBCellModel` (NumPy only).

The B-cell model has a structure that a generic RK4 ignores: the CAR-T killing rate and the
conditioning act as ONE common loss ``L(t)`` on every CD19+ state (``P2..Pn``, ``B``, ``M``), the
progenitor ``P1`` feels no CAR-T, and the rest is linear with constant coefficients. With
``E = exp(-∫L)`` over a step ``[t0, t0 + h]`` (mid-point ``m``):

* ``M(t1) = E · M(t0)`` (exact given ``∫L``);
* ``x = (P2..Pn, B)``: ``x(t1) = E · Φ0(h) x(t0) + ∫ Φ0(t1 - s) b k_tr P1(s) e^{-∫_s^{t1} L} ds``
  where ``Φ0(h) = exp(A0 h)`` is the propagator of the chain WITHOUT killing — a per-patient
  constant (Jordan block ``e^{-k_tr h} (k_tr h)^j / j!`` and, for ``B``, incomplete-gamma
  terms), computed once per step size. Only the source (Duhamel) integral is approximated, by
  Simpson's rule at ``t0, m, t1``;
* ``P1(t)`` in closed form (a recurrence on its deviation from the steady state);
* ``∫L`` over each half step by Simpson's rule on ``kill(C(t))`` at quarter points; ``C(t)`` in
  closed form until every patient is past ``tmax``, then by exact exponential recurrences;
* ``A`` (linear, slow) by the exact decay plus Simpson's rule for the ``M`` input.

Endpoints are derived day by day; a patient whose B cells are back and whose pre-existing pool
``M`` is below ``1e-15`` has nothing left to compute (``A`` then relaxes to ``f_long`` in closed
form, with a relative error below ``1e-12``), so finished patients are dropped from the arrays
every :data:`COMPACT_EVERY_DAYS` days. All updates are in place on preallocated arrays of one
block of patients (a few hundred kB: the working set stays in the CPU cache).

Accuracy against a fine-step reference is checked in tests/kinetics/test_kinetics_exact.py and
documented in docs/kinetics.md.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from remission.kinetics.parameters import FloatArray

#: Step (days) from day -5 until :data:`FINE_UNTIL_DAY`, then :data:`COARSE_STEP_DAYS`.
FINE_STEP_DAYS = 0.25
FINE_UNTIL_DAY = 21.0
COARSE_STEP_DAYS = 1.0
#: Finished patients are removed from the working arrays this often (days).
COMPACT_EVERY_DAYS = 8
#: ``M`` below this: the plasmablast drive is over (its remaining effect on A < 1e-12).
M_NEGLIGIBLE = 1e-15
_COND = (-5.0, -2.0)


def _psi(j: int, z: FloatArray) -> FloatArray:
    """``∫_0^1 u^j e^{-z u} du`` for every ``z`` (Taylor for |z| < 1, upward recursion else)."""
    small = np.abs(z) < 1.0
    zs = np.where(small, z, 0.0)
    taylor = np.zeros_like(z)
    term = np.ones_like(z)
    for k in range(25):
        taylor += term / (j + k + 1)
        term = term * (-zs) / (k + 1)
    zl = np.where(small, 1.0, z)
    ez = np.exp(-zl)
    rec = (1.0 - ez) / zl
    for i in range(1, j + 1):
        rec = (i * rec - ez) / zl
    return np.where(small, taylor, rec)


class _StepConstants:
    """Per-patient constants of one step size ``h`` (and of ``h/2`` for the Simpson mid-point)."""

    def __init__(self, p: dict[str, FloatArray], m: int, h: float) -> None:
        k_tr, k_out = p["k_tr"], p["k_out"]
        self.h = h
        self.phi = self._phi(k_tr, k_out, m, h)  # (jordan[j], b_row[i]), eo
        jordan_h2, brow_h2, _ = self._phi(k_tr, k_out, m, h / 2)
        # Φ0(h/2) e_0: the mid-point source column (P[i] and B), times 4h/6 (Simpson weight).
        w = 4.0 * h / 6.0
        self.mid_col = [w * jordan_h2[i] for i in range(m)] + [w * brow_h2[0]]
        self.h6 = h / 6.0
        q = np.exp(-k_tr * (h / 2))
        self.q_tr_half = q  # P1 deviation decay per half step
        self.qa = np.exp(-p["alpha"] * (h / 4))
        self.qb = np.exp(-p["beta"] * (h / 4))
        self.simpson = -p["k_kill"] * (h / 12)  # -(h/2)/6 · k_kill
        self.ed = np.exp(-p["_k_deg"] * h)
        self.ed_half4 = 4.0 * np.exp(-p["_k_deg"] * (h / 2))
        self.a_long = p["f_long"] * (1.0 - self.ed)
        self.a_short = p["_k_short"] * self.h6

    @staticmethod
    def _phi(
        k_tr: FloatArray, k_out: FloatArray, m: int, h: float
    ) -> tuple[list[FloatArray], list[FloatArray], FloatArray]:
        a = np.exp(-k_tr * h)
        kh = k_tr * h
        jordan = [a * kh**j / math.factorial(j) for j in range(m)]
        eo = np.exp(-k_out * h)
        z = (k_tr - k_out) * h
        # Response of B to a unit of P[i]: e^{-k_out h} (k_tr h)^(m-i) / (m-1-i)! ψ_{m-1-i}(z).
        b_row = [
            eo * kh ** (m - i) / math.factorial(m - 1 - i) * _psi(m - 1 - i, z) for i in range(m)
        ]
        return jordan, b_row, eo


def time_grid(horizon: int) -> FloatArray:
    """Grid of the fast integrator: day -5 .. ``horizon`` (fine, then coarse steps)."""
    fine_end = min(FINE_UNTIL_DAY, float(horizon))
    fine = np.arange(-5.0, fine_end, FINE_STEP_DAYS)
    coarse = np.arange(fine_end, float(horizon), COARSE_STEP_DAYS)
    return np.concatenate([fine, coarse, [float(horizon)]])


def simulate_block(
    model: Any, theta: dict[str, FloatArray], horizon: int, curves: bool
) -> tuple[dict[str, FloatArray], FloatArray | None]:
    """Endpoints of one block of patients (and their daily B cells when ``curves``).

    Returns the endpoint arrays of :data:`~remission.kinetics.cohort.ENDPOINTS` except the CAR-T
    peak (closed form, added by the caller), and ``cd19`` of shape ``(n, horizon + 1)`` or None.
    """
    p: dict[str, Any] = dict(model._prepare(theta))
    n = int(p["b0"].size)
    m = model.n_transit - 1  # CD19+ precursors P2..Pn
    thr = 1.0  # APLASIA_THRESHOLD_CELLS_UL
    out = {
        k: np.full(n, np.nan)
        for k in ("start", "back", "a0", "a90", "a180")
    }
    cd19 = np.empty((n, horizon + 1)) if curves else None
    idx = np.arange(n)  # original positions of the active patients

    # per-patient arrays that are compacted together
    k_prod, k_tr = p["_k_prod"], p["k_tr"]
    p_star = k_prod / k_tr
    arrays: dict[str, FloatArray] = {
        k: np.ascontiguousarray(p[k], dtype=np.float64)
        for k in (
            "k_tr", "k_out", "alpha", "beta", "k_kill", "ec50", "tmax", "_rho", "_r0",
            "_c_effector", "_c_memory", "_k_cond", "_k_deg", "_k_short", "f_long",
        )
    }
    arrays["s_star"] = k_prod.copy()  # k_tr · P1 at steady state
    arrays["ec50"] = arrays["ec50"].copy()
    P = [p_star.copy() for _ in range(m)]
    B = p["b0"].astype(np.float64).copy()
    M = np.ones(n)
    A = np.ones(n)
    S = k_prod.copy()  # source k_tr · P1 at the current time
    D = np.zeros(n)  # k_tr · (P1 - P1*) after conditioning
    Ce = np.empty(n)
    Cm = np.empty(n)
    started = np.zeros(n, dtype=bool)
    back = np.zeros(n, dtype=bool)
    switch = max(float(np.ceil(np.max(p["tmax"]))), FINE_UNTIL_DAY) if n else 0.0
    grid = time_grid(horizon)
    consts: dict[float, _StepConstants] = {}
    tmp = np.empty(n)
    kq = [np.zeros(n) for _ in range(5)]  # kill/k_kill at t0, t0+h/4, m, t0+3h/4, t1
    have_k0 = False
    recurrent = False

    def kill_closed(t: float, buf: FloatArray) -> None:
        if t < 0:
            buf.fill(0.0)
            return
        a = arrays
        tau = np.maximum(t - a["tmax"], 0.0)
        c = a["_c_effector"] * np.exp(-a["alpha"] * tau) + a["_c_memory"] * np.exp(-a["beta"] * tau)
        grow = a["_r0"] * np.exp(a["_rho"] * np.minimum(t, a["tmax"]))
        c = np.where(t < a["tmax"], grow, c)
        np.divide(c, a["ec50"] + c, out=buf)

    def kill_rec(qa: FloatArray, qb: FloatArray, buf: FloatArray) -> None:
        Ce.__imul__(qa)
        Cm.__imul__(qb)
        np.add(Ce, Cm, out=buf)
        np.add(buf, arrays["ec50"], out=tmp)
        np.divide(buf, tmp, out=buf)

    next_compact = COMPACT_EVERY_DAYS
    for t0, t1 in zip(grid[:-1], grid[1:], strict=True):
        t0f, t1f = float(t0), float(t1)
        if idx.size == 0:
            break
        h = t1f - t0f
        c = consts.get(h)
        if c is None:
            c = consts[h] = _StepConstants(arrays, m, h)
        # --- loss integrals over the two half steps
        conditioning = _COND[0] <= t0f < _COND[1]
        if t0f < 0:
            lam_a = lam_b = None
        else:
            if not have_k0:
                kill_closed(t0f, kq[0])
            if t0f >= switch and not recurrent:
                tau = t0f - arrays["tmax"]
                np.multiply(arrays["_c_effector"], np.exp(-arrays["alpha"] * tau), out=Ce)
                np.multiply(arrays["_c_memory"], np.exp(-arrays["beta"] * tau), out=Cm)
                recurrent = True
            for j in range(1, 5):
                if recurrent:
                    kill_rec(c.qa, c.qb, kq[j])
                else:
                    kill_closed(t0f + j * h / 4, kq[j])
            lam_a = kq[0] + 4.0 * kq[1]
            lam_a += kq[2]
            lam_a *= c.simpson  # = -∫ kill over the first half
            lam_b = kq[2] + 4.0 * kq[3]
            lam_b += kq[4]
            lam_b *= c.simpson
            kq[0], kq[4] = kq[4], kq[0]
            have_k0 = True
        if conditioning:
            cond = -arrays["_k_cond"] * (h / 2)
            lam_a = cond.copy() if lam_a is None else lam_a + cond
            lam_b = cond.copy() if lam_b is None else lam_b + cond
        if lam_a is None:
            ea = eb = None
        else:
            ea = np.exp(lam_a, out=lam_a)
            eb = np.exp(lam_b, out=lam_b)
        # --- source k_tr·P1 at t0 (S), mid (Sm), t1 (S1)
        if conditioning or t0f < _COND[0]:
            Sm, S1 = _p1_source_conditioning(arrays, t0f + h / 2), _p1_source_conditioning(
                arrays, t1f
            )
            if t1f == _COND[1]:
                D = S1 - arrays["s_star"]
        else:
            D *= c.q_tr_half
            Sm = D + arrays["s_star"]
            D *= c.q_tr_half
            S1 = D + arrays["s_star"]
        # --- x = (P2..Pn, B): P[0] += h/6·S0, then E·Φ0(h) x, then mid and end sources
        jordan, b_row, eo = c.phi
        P[0] += c.h6 * S
        B *= eo
        for i in range(m):
            B += b_row[i] * P[i]
        for i in range(m - 1, -1, -1):
            P[i] *= jordan[0]
            for l in range(i):
                P[i] += jordan[i - l] * P[l]
        if ea is not None:
            E = ea * eb
            for x in (*P, B):
                x *= E
            np.multiply(Sm, eb, out=tmp)
        else:
            tmp[:] = Sm
        for i in range(m):
            P[i] += c.mid_col[i] * tmp
        B += c.mid_col[m] * tmp
        P[0] += c.h6 * S1
        S = S1
        # --- A (exact decay, Simpson for the M input) and M
        a_in = c.ed * M
        if ea is not None:
            Mm = M * ea
            a_in += c.ed_half4 * Mm
            M *= E
        else:
            a_in += c.ed_half4 * M
        a_in += M
        A *= c.ed
        A += c.a_long
        A += c.a_short * a_in
        # --- endpoints on integer days
        if t1f >= 0 and t1f == math.floor(t1f):
            day = int(t1f)
            below = B < thr
            new = below & ~started
            if new.any():
                out["start"][idx[new]] = day
                started |= new
            up = (B > thr) & started & ~back & ~new
            if up.any():
                out["back"][idx[up]] = day
                back |= up
            if day == 0:
                out["a0"][idx] = A
            elif day == 90:
                out["a90"][idx] = A
            elif day == 180:
                out["a180"][idx] = A
            if cd19 is not None:
                cd19[idx, day] = B
            if cd19 is None and day >= next_compact:
                next_compact = day + COMPACT_EVERY_DAYS
                done = back & (M < M_NEGLIGIBLE)
                if done.any():
                    _finish_antibody(out, idx[done], A[done], arrays, done, day, horizon)
                    keep = ~done
                    idx = idx[keep]
                    arrays = {k: v[keep] for k, v in arrays.items()}
                    P = [x[keep] for x in P]
                    B, M, A, S, D = B[keep], M[keep], A[keep], S[keep], D[keep]
                    Ce, Cm = Ce[keep], Cm[keep]
                    kq = [x[keep] for x in kq]
                    started, back = started[keep], back[keep]
                    tmp = np.empty(idx.size)
                    consts = {}
    return {
        "b_cell_aplasia_start_day": out["start"],
        "b_cell_reappearance_day": out["back"],
        "b_cell_aplasia_days": np.where(np.isnan(out["start"]), 0.0, out["back"] - out["start"]),
        "autoantibody_fraction_day_180": out["a180"] / out["a0"],
        "autoantibody_fraction_day_90": out["a90"] / out["a0"],
    }, cd19


def _p1_source_conditioning(a: dict[str, FloatArray], t: float) -> FloatArray:
    """``k_tr · P1(t)`` for ``t <= -2`` (steady state, then exponential approach under Cy/Flu)."""
    if t <= _COND[0]:
        return a["s_star"].copy()
    k = a["k_tr"] + a["_k_cond"]
    s_cond = a["s_star"] * a["k_tr"] / k  # k_tr · k_prod / (k_tr + k_cond)
    return s_cond + (a["s_star"] - s_cond) * np.exp(-k * (t - _COND[0]))


def _finish_antibody(
    out: dict[str, FloatArray],
    where: Any,
    A: FloatArray,
    arrays: dict[str, FloatArray],
    done: Any,
    day: int,
    horizon: int,
) -> None:
    """A after the plasmablast drive is over: ``f_long + (A - f_long) e^{-k_deg (t - day)}``."""
    f_long, k_deg = arrays["f_long"][done], arrays["_k_deg"][done]
    for target, key in ((90, "a90"), (180, "a180")):
        if day < target <= horizon:
            out[key][where] = f_long + (A - f_long) * np.exp(-k_deg * (target - day))
