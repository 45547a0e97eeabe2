"""Typed, immutable records of a CAR-T registry (pydantic v2, frozen).

Every dated record also carries its day relative to the CAR-T infusion (infusion = day 0,
screening negative), computed by :func:`day_relative` once the infusion date is known.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ItemValue = float | int | str | bool | None


class Disease(StrEnum):
    """The indication: the three of the CAR-T programme, or ``other`` (patients of other
    indications brought in by SDTM/FHIR imports, e.g. the CDISC pilot's Alzheimer's disease)."""

    SLE = "SLE"
    IIM = "IIM"
    SSC = "SSc"
    OTHER = "other"


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    #: Not recorded (SDTM ``SEX = U``, FHIR ``gender = unknown`` or absent).
    UNKNOWN = "unknown"


class AECategory(StrEnum):
    CRS = "crs"
    ICANS = "icans"
    INFECTION = "infection"
    CYTOPENIA = "cytopenia"
    OTHER = "other"


class Record(BaseModel):
    """Base of every record: frozen, no unknown fields, a ``synthetic`` label for demo data."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    synthetic: bool = False


PatientId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


class Site(Record):
    """A trial site (centre)."""

    site_id: Annotated[str, Field(min_length=1, max_length=64)]
    name: str = ""
    country: str = ""


class PriorTreatment(Record):
    """A treatment given before CAR-T (counted for eligibility: refractory to ≥ 2)."""

    drug: Annotated[str, Field(min_length=1)]
    start_date: date | None = None
    stop_date: date | None = None


class Patient(Record):
    """A pseudonymous patient: never a name, never a full birth date."""

    patient_id: PatientId
    site_id: Annotated[str, Field(min_length=1, max_length=64)]
    disease: Disease
    sex: Sex
    #: None when the source does not give it (imports: SDTM without BRTHDTC/AGE, FHIR without
    #: birthDate); never guessed.
    birth_year: Annotated[int, Field(ge=1900, le=2100)] | None
    #: None when the source does not give it (SDTM and FHIR rarely do).
    diagnosis_year: Annotated[int, Field(ge=1900, le=2100)] | None
    prior_treatments: tuple[PriorTreatment, ...] = ()

    @model_validator(mode="after")
    def _diagnosis_after_birth(self) -> Patient:
        if self.diagnosis_year is None or self.birth_year is None:
            return self
        if self.diagnosis_year < self.birth_year:
            raise ValueError(f"diagnosis_year {self.diagnosis_year} is before birth_year {self.birth_year}")
        return self


class Infusion(Record):
    """The CAR-T infusion: its date is day 0."""

    patient_id: PatientId
    date: date
    product: str = "CD19 CAR-T"
    cells_per_kg: Annotated[float, Field(gt=0, le=1e9)]
    conditioning: str = "fludarabine 25 mg/m² d−5..−3 + cyclophosphamide 1000 mg/m² d−3"


class Assessment(Record):
    """One assessment (visit): index items keyed by their spec column codes."""

    patient_id: PatientId
    date: date
    day: int
    visit: str = ""
    #: The form (instrument) the items were recorded on, e.g. ``sle``, ``iim``, ``ssc``,
    #: ``toxicity``: spec codes are unique within a form, not across forms (``seizure`` is a
    #: SLEDAI-2K descriptor on the SLE form and an ICANS item on the toxicity form).
    form: Annotated[str, Field(min_length=1, max_length=32)] = "visit"
    items: dict[str, ItemValue] = Field(default_factory=dict)

    @field_validator("items")
    @classmethod
    def _codes_are_identifiers(cls, items: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in items if not k.replace("_", "").isalnum()]
        if bad:
            raise ValueError(f"item codes must be spec column codes (letters, digits, _): {bad}")
        return items


#: ADaM date imputation flag (``--DTF``): D day imputed, M month and day, Y year, month and day.
DateFlag = Literal["D", "M", "Y"]


def natural_source_key(*parts: object) -> str:
    """The identity of a record whose source gives none (plain CSV, web entry): its natural key.

    >>> natural_source_key("P-01", "prednisone", date(2024, 1, 5))
    'natural:P-01|prednisone|2024-01-05'
    """
    return "natural:" + "|".join("" if p is None else str(p) for p in parts)


def _with_identity(data: Any, *natural: str) -> Any:
    if isinstance(data, dict) and not data.get("source_key"):
        return {**data, "source_key": natural_source_key(*(data.get(k) for k in natural))}
    return data


SourceKey = Annotated[str, Field(min_length=1, max_length=255)]


class LabResult(Record):
    """One laboratory value with its reference limits."""

    patient_id: PatientId
    date: date
    day: int
    analyte: Annotated[str, Field(min_length=1, max_length=64)]
    value: float
    unit: str
    lln: float | None = None
    uln: float | None = None
    #: The source's record identity (REDCap ``redcap:…/<instance>/<analyte>``), else the natural key.
    source_key: SourceKey | None = None

    @model_validator(mode="before")
    @classmethod
    def _identity(cls, data: Any) -> Any:
        return _with_identity(data, "patient_id", "analyte", "date")


class Medication(Record):
    """A medication course; ``stop_date`` None = ongoing, ``start_date`` None = start not known.

    A record whose source gives no start date at all (SDTM ``CMSTDTC`` empty) is kept with an
    empty start, not imputed (admiral imputes no missing year); the analyses count it as taken
    from before the infusion, the conservative reading for drug-free remission.

    ``source_key`` is the source's own record identity (SDTM ``STUDYID/USUBJID/CM/CMSEQ``); a
    source without one gets :func:`natural_source_key`. ``start_dtc``/``stop_dtc`` keep the
    collected ISO 8601 text, ``*_date_flag`` says what of the analysis date was imputed.
    """

    patient_id: PatientId
    drug: Annotated[str, Field(min_length=1)]
    #: None when the source records no dose (SDTM CMDOSE, FHIR dosage often absent).
    dose: Annotated[float, Field(ge=0)] | None
    unit: str = "mg"
    route: str = "oral"
    frequency: str = "daily"
    start_date: date | None = None
    stop_date: date | None = None
    start_day: int | None = None
    stop_day: int | None = None
    source_key: SourceKey | None = None
    start_dtc: str | None = None
    start_date_flag: DateFlag | None = None
    stop_dtc: str | None = None
    stop_date_flag: DateFlag | None = None

    @model_validator(mode="before")
    @classmethod
    def _identity(cls, data: Any) -> Any:
        return _with_identity(data, "patient_id", "drug", "start_date")

    @model_validator(mode="after")
    def _stop_after_start(self) -> Medication:
        if self.start_date is not None and self.stop_date is not None and self.stop_date < self.start_date:
            raise ValueError(f"stop_date {self.stop_date} is before start_date {self.start_date}")
        return self


class AdverseEvent(Record):
    """An adverse event with its grade (ASTCT for CRS/ICANS, CTCAE otherwise)."""

    patient_id: PatientId
    term: Annotated[str, Field(min_length=1)]
    category: AECategory
    grade: Annotated[int, Field(ge=1, le=5)]
    onset_date: date
    onset_day: int
    resolution_date: date | None = None
    resolution_day: int | None = None
    serious: bool = False
    organism: str = ""
    treatment: str = ""
    source_key: SourceKey | None = None
    onset_dtc: str | None = None
    onset_date_flag: DateFlag | None = None
    #: "hh:mm" when the source collected a time of onset (CRS/ICANS onset in hours).
    onset_time: Annotated[str, Field(pattern=r"^\d{2}:\d{2}(:\d{2})?$")] | None = None
    resolution_dtc: str | None = None
    resolution_date_flag: DateFlag | None = None

    @model_validator(mode="before")
    @classmethod
    def _identity(cls, data: Any) -> Any:
        return _with_identity(data, "patient_id", "term", "onset_date")


def day_relative(when: date, infusion: date) -> int:
    """Days from the infusion (day 0) to ``when``; negative before the infusion.

    >>> from datetime import date
    >>> day_relative(date(2024, 1, 10), date(2024, 1, 1)), day_relative(date(2023, 12, 27), date(2024, 1, 1))
    (9, -5)
    """
    return (when - infusion).days


class Cohort(BaseModel):
    """All records of a set of patients, as loaded into or read from the store."""

    model_config = ConfigDict(frozen=True)
    sites: tuple[Site, ...] = ()
    patients: tuple[Patient, ...] = ()
    infusions: tuple[Infusion, ...] = ()
    assessments: tuple[Assessment, ...] = ()
    labs: tuple[LabResult, ...] = ()
    medications: tuple[Medication, ...] = ()
    adverse_events: tuple[AdverseEvent, ...] = ()
