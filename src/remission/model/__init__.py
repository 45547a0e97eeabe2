"""The domain model: typed, frozen records (pydantic v2)."""

from remission.model.records import (
    AdverseEvent,
    AECategory,
    Assessment,
    Cohort,
    Disease,
    Infusion,
    LabResult,
    Medication,
    Patient,
    PriorTreatment,
    Sex,
    Site,
    day_relative,
)

__all__ = [
    "AECategory",
    "AdverseEvent",
    "Assessment",
    "Cohort",
    "Disease",
    "Infusion",
    "LabResult",
    "Medication",
    "Patient",
    "PriorTreatment",
    "Sex",
    "Site",
    "day_relative",
]
