"""CAR-T cellular kinetics: piecewise expansion / bi-exponential decline (Stein et al. 2019).

Stein AM, Grupp SA, Levine JE, et al. Tisagenlecleucel model-based cellular kinetic analysis of
chimeric antigen receptor-T cells. CPT Pharmacometrics Syst Pharmacol 2019;8:285–295.
doi:10.1002/psp4.12388
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from remission.kinetics._base import KineticModel, Theta
from remission.kinetics.parameters import FloatArray

STEIN_PARAMETERS: tuple[str, ...] = ("foldx", "tmax", "cmax", "alpha", "fb", "beta")


def car_t_stein(
    t: Any,
    foldx: Any,
    tmax: Any,
    cmax: Any,
    alpha: Any,
    fb: Any,
    beta: Any,
    xp: ModuleType = np,
) -> Any:
    """CAR-T level at day ``t`` after infusion: the closed form of Stein et al. (2019).

    With ``rho = ln(foldx) / tmax`` and ``R0 = cmax / foldx``::

        t < 0          C(t) = 0                        (before infusion)
        0 <= t < tmax  C(t) = R0 * exp(rho * t)        (expansion)
        t >= tmax      C(t) = (1 - FB) * cmax * exp(-alpha * tau)
                            + FB * cmax * exp(-beta * tau),   tau = t - tmax

    The decline is the sum of an effector phase (rate ``alpha``) and a memory phase fed with
    ``kappa = FB * (alpha - beta)`` decaying with ``beta``. ``C`` is continuous at ``tmax``
    (both branches equal ``cmax``) and its maximum is ``cmax`` at ``tmax``.

    Parameters
    ----------
    t : array_like
        Days since infusion; broadcast against the parameters.
    foldx : array_like
        Fold expansion from ``R0`` to ``cmax`` (> 1).
    tmax : array_like
        Day of the peak (> 0).
    cmax : array_like
        Peak level, in the unit of the output (cells/µL, transgene copies/µg).
    alpha, beta : array_like
        Effector and memory decline rates, 1/day (> 0).
    fb : array_like
        Fraction of the peak in the memory phase (0 < fb < 1).
    xp : module
        Array namespace (``numpy`` or ``jax.numpy``).

    Returns
    -------
    array
        ``C(t)`` broadcast to the common shape.

    Examples
    --------
    Published B-ALL typical values (Stein 2019): at the peak, and 10 days later
    (24000 * (0.9921 * exp(-1.6) + 0.0079 * exp(-0.032)) = 4990.9 by hand):

    >>> p = dict(foldx=3900, tmax=9.3, cmax=24000, alpha=0.16, fb=0.0079, beta=0.0032)
    >>> float(car_t_stein(9.3, **p)), round(float(car_t_stein(19.3, **p)), 1)
    (24000.0, 4990.9)
    """
    rho = xp.log(foldx) / tmax
    r0 = cmax / foldx
    tau = xp.maximum(t - tmax, 0.0)
    grow = r0 * xp.exp(rho * xp.minimum(t, tmax))
    decline = cmax * ((1.0 - fb) * xp.exp(-alpha * tau) + fb * xp.exp(-beta * tau))
    level = xp.where(t < tmax, grow, decline)
    return xp.where(t < 0, 0.0 * level, level)


class SteinCarTModel(KineticModel):
    """CAR-T kinetics alone, closed form (Stein 2019), vectorised over patients and days.

    The peak level is ``cmax * (dose_per_kg / dose_ref_per_kg) ** dose_exponent`` when the set
    has those constants (the autoimmune set does), otherwise ``cmax``.

    Examples
    --------
    >>> m = SteinCarTModel("stein2019-ball")
    >>> out = m.predict([0.0, 9.3])
    >>> [round(float(v), 3) for v in out["car_t"][0]]   # R0 = 24000/3900, then Cmax
    [6.154, 24000.0]

    Fit a patient (noise-free data from the typical curve give back the typical values):

    >>> days = [1, 4, 7, 9.3, 14, 21, 28, 60, 90, 180]
    >>> y = m.predict(days)["car_t"][0]
    >>> fit = m.fit(days, {"car_t": y * np.exp(0.01 * np.sin(np.arange(10)))})
    >>> round(fit.params_["tmax"], 1)
    9.3
    """

    outputs: ClassVar[tuple[str, ...]] = ("car_t",)
    required: ClassVar[tuple[str, ...]] = STEIN_PARAMETERS
    default_free: ClassVar[dict[str, tuple[str, ...]]] = {"car_t": STEIN_PARAMETERS}
    default_lloq: ClassVar[dict[str, float]] = {"car_t": 0.1}

    def car_t(self, theta: Theta, t: Any) -> Any:
        """C(t) for every patient (``t`` broadcast against ``(n,)`` parameter arrays)."""
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

    def peak(self, theta: Theta) -> tuple[Any, Any]:
        """Day and level of the CAR-T peak per patient: ``(tmax, cmax * dose factor)``."""
        return theta["tmax"], theta["cmax"] * self.dose_factor(theta)

    def _predict(self, theta: Theta, days: FloatArray) -> dict[str, Any]:
        col = {k: theta[k][:, None] for k in self.required}
        if "dose_ref_per_kg" in theta:
            col.update(
                dose_ref_per_kg=theta["dose_ref_per_kg"][:, None],
                dose_exponent=theta["dose_exponent"][:, None],
            )
        return {"car_t": self.car_t(col, self._xp.asarray(days)[None, :])}
