"""Parameter sets as data: typical values, between-patient variability and a source per value.

A parameter set is a YAML file (``remission/kinetics/data/<name>.yaml``) or a mapping with the
same shape::

    name: autoimmune
    base: null                 # or the name of a set whose values this one overrides
    parameters:
      tmax:
        value: 9.0             # typical value (population median)
        unit: day
        omega2: 0.05           # variance of the log-normal (or logit-normal) random effect
        domain: positive       # positive -> log-normal, fraction -> logit-normal
        source: "where the value comes from, or how it was calibrated"

Virtual patients draw ``value_i = value * exp(eta_i)`` (positive) or
``logit(value_i) = logit(value) + eta_i`` (fraction) with ``eta_i ~ N(0, omega2)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from remission.errors import InvalidInputError, Problem

Domain = Literal["positive", "fraction", "constant"]
FloatArray = npt.NDArray[np.float64]

#: Fields a fitted set (``remission fit-population``'s population.yaml) adds to an entry: the
#: 90 % interval of ``value`` and its relative standard error (%). Read and ignored by models.
ESTIMATE_FIELDS: tuple[str, ...] = ("ci_low", "ci_high", "rse")

#: The parameter sets shipped with remission (file stems under ``remission/kinetics/data``).
BUILTIN_SETS: tuple[str, ...] = ("autoimmune", "stein2019-ball")


@dataclass(frozen=True)
class Parameter:
    """One model parameter: typical value, unit, variability and where the numbers come from.

    Parameters
    ----------
    name : str
        Parameter code as used by the models (``tmax``, ``k_kill``...).
    value : float
        Typical (median) value in ``unit``; > 0, and < 1 for ``domain="fraction"``.
    unit : str
        Unit of ``value`` (``day``, ``1/day``, ``cells/µL``...).
    omega2 : float
        Variance (≥ 0) of the between-patient random effect on the log (or logit) scale;
        0 means every virtual patient has ``value``.
    domain : {"positive", "fraction", "constant"}
        ``positive``: log-normal; ``fraction``: logit-normal; ``constant``: a fixed
        structural number (never sampled, never fitted).
    source : str
        Citation or calibration note for ``value``.
    omega2_source : str
        Citation or calibration note for ``omega2``.
    description : str
        What the parameter means.
    """

    name: str
    value: float
    unit: str = ""
    omega2: float = 0.0
    domain: Domain = "positive"
    source: str = ""
    omega2_source: str = ""
    description: str = ""

    def to_internal(self, value: float) -> float:
        """Map a natural-scale value to the unconstrained (log or logit) scale."""
        if self.domain == "fraction":
            return math.log(value / (1.0 - value))
        return math.log(value)

    def from_internal(self, x: FloatArray) -> FloatArray:
        """Map unconstrained values back to the natural scale (vectorised)."""
        if self.domain == "fraction":
            return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)
        return np.asarray(np.exp(x), dtype=np.float64)

    def derivative(self, value: float) -> float:
        """d(value)/d(internal) at ``value``: for the delta-method standard error."""
        return value * (1.0 - value) if self.domain == "fraction" else value


@dataclass(frozen=True)
class ParameterSet:
    """An immutable, documented set of :class:`Parameter` values.

    Examples
    --------
    >>> ps = load_parameter_set("stein2019-ball")
    >>> ps["foldx"].value, ps["tmax"].unit
    (3900.0, 'day')
    >>> round(ps.with_values(tmax=10.0)["tmax"].value, 1)
    10.0
    """

    name: str
    parameters: Mapping[str, Parameter]
    description: str = ""
    source: str = ""
    units: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self.parameters[name]
        except KeyError:
            raise InvalidInputError([Problem(None, "parameter", name, f"not in parameter set {self.name!r}")]) from None

    def __contains__(self, name: object) -> bool:
        return name in self.parameters

    def typical(self) -> dict[str, float]:
        """Typical values by name."""
        return {k: p.value for k, p in self.parameters.items()}

    def with_values(self, **values: float) -> ParameterSet:
        """A copy with some typical values replaced (names must exist)."""
        for k in values:
            self[k]  # raises for unknown names
        new = {k: replace(p, value=float(values.get(k, p.value))) for k, p in self.parameters.items()}
        return replace(self, parameters=new)

    def without_variability(self) -> ParameterSet:
        """A copy with every ``omega2`` set to 0 (all virtual patients typical)."""
        return replace(self, parameters={k: replace(p, omega2=0.0) for k, p in self.parameters.items()})

    def sample(self, n: int, rng: np.random.Generator) -> dict[str, FloatArray]:
        """Draw ``n`` virtual patients' parameters (log-/logit-normal), shape ``(n,)`` each.

        Parameters are drawn in the order of the set, one normal vector each, so a seeded
        ``numpy.random.Generator`` gives the same cohort on every machine.
        """
        out: dict[str, FloatArray] = {}
        for name, p in self.parameters.items():
            if p.domain == "constant" or p.omega2 == 0.0:
                out[name] = np.full(n, p.value, dtype=np.float64)
                continue
            eta = rng.standard_normal(n) * math.sqrt(p.omega2)
            out[name] = p.from_internal(p.to_internal(p.value) + eta)
        return out


def _problem(where: str, value: object, reason: str) -> Problem:
    return Problem(None, where, str(value), reason)


def _parse_parameter(name: str, raw: object, set_name: str) -> tuple[Parameter | None, list[Problem]]:
    where = f"{set_name}.parameters.{name}"
    if not isinstance(raw, Mapping):
        return None, [_problem(where, raw, "expected a mapping with value, unit, omega2, domain, source")]
    problems: list[Problem] = []
    unknown = set(raw) - {
        "value",
        "unit",
        "omega2",
        "domain",
        "source",
        "omega2_source",
        "description",
        *ESTIMATE_FIELDS,
    }
    if unknown:
        problems.append(_problem(where, ", ".join(sorted(unknown)), "unknown field(s)"))
    domain = raw.get("domain", "positive")
    if domain not in ("positive", "fraction", "constant"):
        problems.append(_problem(f"{where}.domain", domain, "expected positive, fraction or constant"))
    try:
        value = float(raw["value"])
        omega2 = float(raw.get("omega2", 0.0))
    except (KeyError, TypeError, ValueError):
        problems.append(_problem(f"{where}.value", raw.get("value"), "expected a number (and omega2 a number)"))
        return None, problems
    if domain == "constant":
        if not math.isfinite(value):
            problems.append(_problem(f"{where}.value", value, "must be a finite number"))
    elif not math.isfinite(value) or value <= 0 or (domain == "fraction" and value >= 1):
        rule = "strictly between 0 and 1" if domain == "fraction" else "a finite number > 0"
        problems.append(_problem(f"{where}.value", value, f"must be {rule}"))
    if not math.isfinite(omega2) or omega2 < 0:
        problems.append(_problem(f"{where}.omega2", omega2, "must be a finite number ≥ 0"))
    if problems:
        return None, problems
    param = Parameter(
        name=name,
        value=value,
        unit=str(raw.get("unit", "")),
        omega2=omega2,
        domain=domain,
        source=str(raw.get("source", "")),
        omega2_source=str(raw.get("omega2_source", "")),
        description=str(raw.get("description", "")),
    )
    return param, []


def parse_parameter_set(data: Mapping[str, Any], *, default_name: str = "custom") -> ParameterSet:
    """Build a :class:`ParameterSet` from a mapping (a parsed YAML/JSON document).

    ``base: <name>`` starts from a built-in set and overrides only the parameters listed; an
    overriding entry may give only some fields (e.g. just ``value``).

    Raises
    ------
    InvalidInputError
        Listing every malformed entry.

    Examples
    --------
    >>> ps = parse_parameter_set({"base": "autoimmune", "parameters": {"tmax": {"value": 12}}})
    >>> ps["tmax"].value, ps["tmax"].unit
    (12.0, 'day')
    """
    if not isinstance(data, Mapping):
        raise InvalidInputError([_problem("parameters", type(data).__name__, "expected a mapping")])
    name = str(data.get("name", default_name))
    base_name = data.get("base")
    base = load_parameter_set(str(base_name)) if base_name else None
    raw_params = data.get("parameters")
    if not isinstance(raw_params, Mapping) or (not raw_params and base is None):
        raise InvalidInputError([_problem(f"{name}.parameters", raw_params, "expected a non-empty mapping")])
    problems: list[Problem] = []
    params: dict[str, Parameter] = dict(base.parameters) if base else {}
    for pname, raw in raw_params.items():
        if base is not None and pname in base and isinstance(raw, Mapping):
            old = base[pname]
            raw = {
                "value": old.value,
                "unit": old.unit,
                "omega2": old.omega2,
                "domain": old.domain,
                "source": old.source,
                "omega2_source": old.omega2_source,
                "description": old.description,
                **raw,
            }
        param, found = _parse_parameter(str(pname), raw, name)
        problems.extend(found)
        if param is not None:
            params[str(pname)] = param
    if problems:
        raise InvalidInputError(problems)
    units = dict(base.units) if base else {}
    units.update({str(k): str(v) for k, v in dict(data.get("units") or {}).items()})
    return ParameterSet(
        name=name,
        parameters=params,
        description=str(data.get("description", base.description if base else "")),
        source=str(data.get("source", base.source if base else "")),
        units=units,
    )


def load_parameter_set(name: str) -> ParameterSet:
    """Load a built-in parameter set by name (see :data:`BUILTIN_SETS`).

    Examples
    --------
    >>> load_parameter_set("autoimmune").units["car_t"]
    'cells/µL'
    """
    import yaml

    if name not in BUILTIN_SETS:
        raise InvalidInputError(
            [_problem("parameter set", name, f"unknown; expected one of {', '.join(BUILTIN_SETS)}")]
        )
    text = resources.files("remission.kinetics").joinpath(f"data/{name}.yaml").read_text("utf-8")
    return parse_parameter_set(yaml.safe_load(text), default_name=name)
