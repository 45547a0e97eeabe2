"""In-silico CAR-T: cellular kinetics, B-cell depletion and reconstitution, autoantibodies.

A model family (base class :class:`KineticModel` owns simulation and fitting; subclasses state
only their math):

* :class:`SteinCarTModel` — CAR-T expansion / bi-exponential decline, closed form (Stein 2019);
* :class:`CarTBCellModel` — CAR-T driving B-cell killing (precursor transit chain, conditioning)
  and autoantibody turnover, RK4 vectorised over patients;

plus :func:`simulate_cohort` / :func:`summarize_cohort` for virtual cohorts and the parameter
sets as data (:func:`load_parameter_set`). Pure: no I/O besides reading packaged parameter data.
See docs/kinetics.md.
"""

from __future__ import annotations

from remission.kinetics._base import (
    ConvergenceWarning,
    FitFailedError,
    KineticModel,
    KineticsError,
    NotFittedError,
    ODEKineticModel,
)
from remission.kinetics.bcell import CarTBCellModel
from remission.kinetics.cart import SteinCarTModel, car_t_stein
from remission.kinetics.cohort import (
    ENDPOINTS,
    PATIENT_COLUMNS,
    CohortResult,
    simulate_cohort,
    summarize_cohort,
)
from remission.kinetics.parameters import (
    BUILTIN_SETS,
    Parameter,
    ParameterSet,
    load_parameter_set,
    parse_parameter_set,
)

__all__ = [
    "BUILTIN_SETS",
    "ENDPOINTS",
    "PATIENT_COLUMNS",
    "CarTBCellModel",
    "CohortResult",
    "ConvergenceWarning",
    "FitFailedError",
    "KineticModel",
    "KineticsError",
    "NotFittedError",
    "ODEKineticModel",
    "Parameter",
    "ParameterSet",
    "SteinCarTModel",
    "car_t_stein",
    "load_parameter_set",
    "parse_parameter_set",
    "simulate_cohort",
    "summarize_cohort",
]
