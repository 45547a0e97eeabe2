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
from itertools import pairwise
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
#: B cells below this level (cells/µL) are aplasia (as remission.kinetics.cohort).
APLASIA_THRESHOLD = 1.0
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

    def take(self, keep: Any) -> None:
        """Keep the patients selected by ``keep`` (after finished ones are dropped)."""
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                setattr(self, name, value[keep])
            elif isinstance(value, list):
                setattr(self, name, [v[keep] for v in value])
        jordan, b_row, eo = self.phi
        self.phi = ([v[keep] for v in jordan], [v[keep] for v in b_row], eo[keep])

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
        b_row = [eo * kh ** (m - i) / math.factorial(m - 1 - i) * _psi(m - 1 - i, z) for i in range(m)]
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

    Examples
    --------
    >>> from remission.kinetics import CarTBCellModel
    >>> m = CarTBCellModel()
    >>> ends, _ = simulate_block(m, m.typical_theta(1), 365, curves=False)
    >>> float(ends["b_cell_aplasia_start_day"][0]), float(ends["b_cell_reappearance_day"][0])
    (4.0, 107.0)
    """
    block = _Block(model, theta, horizon, curves)
    grid = time_grid(horizon)
    for t0, t1 in pairwise(grid.tolist()):
        if block.idx.size == 0:
            break
        block.step(t0, t1)
        if t1 >= 0 and t1 == math.floor(t1):
            block.record(int(t1))
    out = block.out
    return {
        "b_cell_aplasia_start_day": out["start"],
        "b_cell_reappearance_day": out["back"],
        "b_cell_aplasia_days": np.where(np.isnan(out["start"]), 0.0, out["back"] - out["start"]),
        "autoantibody_fraction_day_180": out["a180"] / out["a0"],
        "autoantibody_fraction_day_90": out["a90"] / out["a0"],
    }, block.cd19


_PER_PATIENT = (
    "k_tr", "k_out", "alpha", "beta", "k_kill", "ec50", "tmax", "_rho", "_r0",
    "_c_effector", "_c_memory", "_k_cond", "_k_deg", "_k_short", "f_long", "_k_prod",
)  # fmt: skip


class _Block:
    """State of one block of patients, advanced in place step by step."""

    def __init__(self, model: Any, theta: dict[str, FloatArray], horizon: int, curves: bool):
        p = model._prepare(theta)
        n = int(np.size(p["b0"]))
        self.m = m = model.n_transit - 1  # CD19+ precursors P2..Pn
        self.horizon = horizon
        self.out = {k: np.full(n, np.nan) for k in ("start", "back", "a0", "a90", "a180")}
        self.cd19 = np.empty((n, horizon + 1)) if curves else None
        self.idx = np.arange(n)  # original positions of the active patients
        a = {k: np.array(np.broadcast_to(p[k], (n,)), dtype=np.float64) for k in _PER_PATIENT}
        a["s_star"] = a["_k_prod"]  # k_tr · P1 at steady state
        self.a = a
        p_star = a["_k_prod"] / a["k_tr"]
        self.P = [p_star.copy() for _ in range(m)]
        self.B = np.array(np.broadcast_to(p["b0"], (n,)), dtype=np.float64)
        self.M = np.ones(n)
        self.A = np.ones(n)
        self.S = a["s_star"].copy()  # source k_tr · P1 at the current time
        self.D = np.zeros(n)  # k_tr · (P1 - P1*) after conditioning
        self.Ce = np.empty(n)
        self.Cm = np.empty(n)
        self.tmp = np.empty(n)
        self.kq = [np.zeros(n) for _ in range(5)]  # kill/k_kill at t0 + j h/4
        self.have_k0 = False
        self.recurrent = False
        self.switch = float(np.ceil(np.max(a["tmax"]))) if n else 0.0  # all past the peak
        self.started = np.zeros(n, dtype=bool)
        self.back = np.zeros(n, dtype=bool)
        self.consts: dict[float, _StepConstants] = {}
        self.next_compact = COMPACT_EVERY_DAYS

    # ------------------------------------------------------------------ CAR-T killing
    def _kill_closed(self, t: float, buf: FloatArray) -> None:
        a = self.a
        if t < 0:
            buf.fill(0.0)
            return
        tau = np.maximum(t - a["tmax"], 0.0)
        c = a["_c_effector"] * np.exp(-a["alpha"] * tau) + a["_c_memory"] * np.exp(-a["beta"] * tau)
        grow = a["_r0"] * np.exp(a["_rho"] * np.minimum(t, a["tmax"]))
        c = np.where(t < a["tmax"], grow, c)
        np.divide(c, a["ec50"] + c, out=buf)

    def _kill_recurrent(self, c: _StepConstants, buf: FloatArray) -> None:
        self.Ce *= c.qa
        self.Cm *= c.qb
        np.add(self.Ce, self.Cm, out=buf)
        np.add(buf, self.a["ec50"], out=self.tmp)
        np.divide(buf, self.tmp, out=buf)

    def _loss(self, t0: float, h: float, c: _StepConstants) -> tuple[Any, Any]:
        """``-∫L`` over the two half steps (None where there is no loss)."""
        a, kq = self.a, self.kq
        lam_a: Any = None
        lam_b: Any = None
        if t0 >= 0:
            if not self.have_k0:
                self._kill_closed(t0, kq[0])
                self.have_k0 = True
            if t0 >= self.switch and not self.recurrent:
                tau = t0 - a["tmax"]
                np.multiply(a["_c_effector"], np.exp(-a["alpha"] * tau), out=self.Ce)
                np.multiply(a["_c_memory"], np.exp(-a["beta"] * tau), out=self.Cm)
                self.recurrent = True
            for j in range(1, 5):
                if self.recurrent:
                    self._kill_recurrent(c, kq[j])
                else:
                    self._kill_closed(t0 + j * h / 4, kq[j])
            lam_a = kq[0] + 4.0 * kq[1]
            lam_a += kq[2]
            lam_a *= c.simpson
            lam_b = kq[2] + 4.0 * kq[3]
            lam_b += kq[4]
            lam_b *= c.simpson
            kq[0], kq[4] = kq[4], kq[0]
        if _COND[0] <= t0 < _COND[1]:
            cond = -a["_k_cond"] * (h / 2)
            lam_a = cond.copy() if lam_a is None else lam_a + cond
            lam_b = cond.copy() if lam_b is None else lam_b + cond
        return lam_a, lam_b

    # ------------------------------------------------------------------ one step
    def step(self, t0: float, t1: float) -> None:
        h = t1 - t0
        c = self.consts.get(h)
        if c is None:
            c = self.consts[h] = _StepConstants(self.a, self.m, h)
        lam_a, lam_b = self._loss(t0, h, c)
        if lam_a is not None:
            ea, eb = np.exp(lam_a, out=lam_a), np.exp(lam_b, out=lam_b)
        sm, s1 = self._source(t0, t1, c)
        # x = (P2..Pn, B): P[0] += h/6·S0, then E·Φ0(h) x, then the mid and end sources
        P, B, tmp, m = self.P, self.B, self.tmp, self.m
        jordan, b_row, eo = c.phi
        P[0] += c.h6 * self.S
        B *= eo
        for i in range(m):
            B += b_row[i] * P[i]
        for i in range(m - 1, -1, -1):
            P[i] *= jordan[0]
            for k in range(i):
                P[i] += jordan[i - k] * P[k]
        if lam_a is not None:
            E = ea * eb
            for x in (*P, B):
                x *= E
            np.multiply(sm, eb, out=tmp)
        else:
            tmp[:] = sm
        for i in range(m):
            P[i] += c.mid_col[i] * tmp
        B += c.mid_col[m] * tmp
        P[0] += c.h6 * s1
        self.S = s1
        # A: exact decay plus Simpson for the M input; M: exact given ∫L
        M = self.M
        a_in = c.ed * M
        if lam_a is not None:
            a_in += c.ed_half4 * (M * ea)
            M *= E
        else:
            a_in += c.ed_half4 * M
        a_in += M
        self.A *= c.ed
        self.A += c.a_long
        self.A += c.a_short * a_in

    def _source(self, t0: float, t1: float, c: _StepConstants) -> tuple[FloatArray, FloatArray]:
        """``k_tr · P1`` at the mid-point and the end of the step (closed form)."""
        a = self.a
        if t0 < _COND[1]:
            s1 = _p1_source_conditioning(a, t1)
            if t1 == _COND[1]:
                self.D = s1 - a["s_star"]
            return _p1_source_conditioning(a, (t0 + t1) / 2), s1
        self.D *= c.q_tr_half
        sm = self.D + a["s_star"]
        self.D *= c.q_tr_half
        return sm, self.D + a["s_star"]

    # ------------------------------------------------------------------ endpoints
    def record(self, day: int) -> None:
        """Endpoints at an integer day; drop finished patients every few days."""
        B, idx, out = self.B, self.idx, self.out
        new = (B < APLASIA_THRESHOLD) & ~self.started
        if new.any():
            out["start"][idx[new]] = day
            self.started |= new
        up = (B > APLASIA_THRESHOLD) & self.started & ~self.back & ~new
        if up.any():
            out["back"][idx[up]] = day
            self.back |= up
        for target, key in ((0, "a0"), (90, "a90"), (180, "a180")):
            if day == target:
                out[key][idx] = self.A
        if self.cd19 is not None:
            self.cd19[idx, day] = B
        elif day >= self.next_compact:
            self.next_compact = day + COMPACT_EVERY_DAYS
            done = self.back & (self.M < M_NEGLIGIBLE)
            if done.any():
                self._finish(done, day)

    def _finish(self, done: Any, day: int) -> None:
        """A of finished patients in closed form (``f_long + (A - f_long) e^{-k_deg Δt}``)."""
        a = self.a
        for target, key in ((90, "a90"), (180, "a180")):
            if day < target <= self.horizon:
                f_long, k_deg = a["f_long"][done], a["_k_deg"][done]
                self.out[key][self.idx[done]] = f_long + (self.A[done] - f_long) * np.exp(-k_deg * (target - day))
        keep = ~done
        self.idx = self.idx[keep]
        self.a = {k: v[keep] for k, v in a.items()}
        self.P = [x[keep] for x in self.P]
        for name in ("B", "M", "A", "S", "D", "Ce", "Cm", "started", "back"):
            setattr(self, name, getattr(self, name)[keep])
        self.kq = [x[keep] for x in self.kq]
        self.tmp = np.empty(self.idx.size)
        for step in self.consts.values():
            step.take(keep)


def _p1_source_conditioning(a: dict[str, FloatArray], t: float) -> FloatArray:
    """``k_tr · P1(t)`` for ``t <= -2`` (steady state, then exponential approach under Cy/Flu)."""
    if t <= _COND[0]:
        return a["s_star"].copy()
    k = a["k_tr"] + a["_k_cond"]
    s_cond = a["s_star"] * a["k_tr"] / k  # k_tr · k_prod / (k_tr + k_cond)
    return s_cond + (a["s_star"] - s_cond) * np.exp(-k * (t - _COND[0]))
