"""In-silico CAR-T: cellular kinetics, B-cell depletion and reconstitution, autoantibodies.

A model family (base class :class:`KineticModel` owns simulation and fitting; subclasses state
only their math):

* :class:`SteinCarTModel` — CAR-T expansion / bi-exponential decline, closed form (Stein 2019);
* :class:`CarTBCellModel` — CAR-T driving B-cell killing (precursor transit chain, conditioning)
  and autoantibody turnover, RK4 vectorised over patients;

plus :func:`simulate_cohort` / :func:`summarize_cohort` for virtual cohorts, the parameter
sets as data (:func:`load_parameter_set`), the NONMEM-style observation table of population
kinetics (:func:`read_observations`) and simulated observations (:func:`sample_observations`).
Pure: no I/O besides reading packaged parameter data and an observation CSV. See docs/kinetics.md.
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
from remission.kinetics.observations import OBSERVATION_COLUMNS, read_observations, validate_observations
from remission.kinetics.parameters import (
    BUILTIN_SETS,
    Parameter,
    ParameterSet,
    load_parameter_set,
    parse_parameter_set,
)
from remission.kinetics.sampling import SampledCohort, sample_observations

__all__ = [
    "BUILTIN_SETS",
    "ENDPOINTS",
    "OBSERVATION_COLUMNS",
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
    "SampledCohort",
    "SteinCarTModel",
    "car_t_stein",
    "load_parameter_set",
    "parse_parameter_set",
    "read_observations",
    "sample_observations",
    "simulate_cohort",
    "summarize_cohort",
    "validate_observations",
]
