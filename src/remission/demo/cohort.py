"""A seeded synthetic cohort patterned on the published summary of Müller et al., NEJM 2024.

15 patients (8 SLE, 3 IIM, 4 SSc), 6 men and 9 women, aged 20–60, disease duration 1–20 years,
median 5 prior treatments (range 2–14), follow-up median 15 months (range 4–29); one CD19 CAR-T
infusion of 1 × 10^6 cells/kg after fludarabine/cyclophosphamide. Every record is labelled
``synthetic=True``: these are not patients, and reports built from them say so.

The trajectories are plausible, not fitted: disease activity falls to remission within months,
glucocorticoids and immunosuppressants are tapered to zero, CAR-T cells peak around day 9,
B cells are absent for about 110 ± 32 days, mild CRS is common and one pneumonia needs hospital.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np

from remission.indices import bilag2004, mrss, sledai2k
from remission.model import (
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
)

#: Item codes come from the indices' own tables, so the demo records exactly what they score.
SLEDAI_ALL: tuple[str, ...] = sledai2k.CODES
BILAG_DOMAINS: tuple[str, ...] = tuple(d.removeprefix("bilag_") for d in bilag2004.DOMAINS)
MRSS_SITES: tuple[str, ...] = tuple(c.removeprefix("mrss_") for c in mrss.CODES)
DEMO_SEED = 2024
MONTH = 30.4375
#: Disease of each of the 15 patients, in trial order; sexes give 6 men and 9 women.
DISEASES = ("SLE",) * 8 + ("IIM",) * 3 + ("SSc",) * 4
SEXES = (
    "female",
    "female",
    "male",
    "female",
    "female",
    "male",
    "female",
    "female",
    "male",
    "female",
    "male",
    "male",
    "female",
    "male",
    "female",
)
#: Follow-up in months: median 15, range 4–29 (as published).
FOLLOW_UP_MONTHS = (29, 24, 22, 20, 18, 17, 16, 15, 15, 12, 11, 9, 8, 6, 4)
#: Prior treatments: median 5, range 2–14.
PRIOR_COUNTS = (14, 9, 7, 6, 5, 5, 5, 5, 4, 4, 3, 3, 2, 6, 5)
PRIOR_DRUGS = (
    "hydroxychloroquine",
    "azathioprine",
    "mycophenolate mofetil",
    "methotrexate",
    "belimumab",
    "rituximab",
    "cyclophosphamide",
    "tacrolimus",
    "anifrolumab",
    "intravenous immunoglobulin",
    "leflunomide",
    "tocilizumab",
    "abatacept",
    "ciclosporin",
)
VISIT_MONTHS = (1, 2, 3, 4, 5, 6, 9, 12, 15, 18, 21, 24, 27)
TOXICITY_DAYS = tuple(range(0, 15))

SLEDAI_BASELINE_ITEMS = (
    "arthritis",
    "rash",
    "alopecia",
    "mucosal_ulcers",
    "proteinuria",
    "hematuria",
    "pleurisy",
    "low_complement",
    "increased_dna_binding",
    "fever",
    "leukopenia",
)


@dataclass(frozen=True)
class _Course:
    """Per-patient random draws that shape every trajectory."""

    patient_id: str
    disease: str
    infusion: date
    follow_up_days: int
    weight_kg: float
    response_days: float  # time constant of the fall in disease activity
    b_return_day: int
    car_t_peak_day: int
    car_t_peak: float
    crs_grade: int


def _courses(rng: np.random.Generator) -> list[_Course]:
    courses = []
    start = date(2021, 2, 1)
    for i, disease in enumerate(DISEASES):
        infusion = start + timedelta(days=int(i * 55 + rng.integers(0, 20)))
        courses.append(
            _Course(
                patient_id=f"{disease}-{i + 1:02d}",
                disease=disease,
                infusion=infusion,
                follow_up_days=round(FOLLOW_UP_MONTHS[i] * MONTH),
                weight_kg=float(np.round(rng.normal(72 if SEXES[i] == "male" else 63, 9), 1)),
                response_days=float(rng.uniform(25, 70)),
                b_return_day=int(np.clip(rng.normal(110, 32), 50, 200)),
                car_t_peak_day=int(rng.integers(7, 13)),
                car_t_peak=float(np.exp(rng.normal(np.log(60), 0.6))),
                crs_grade=int(rng.choice([0, 1, 1, 1, 2], p=[0.2, 0.25, 0.25, 0.15, 0.15])),
            )
        )
    return courses


def _patient(course: _Course, index: int, rng: np.random.Generator) -> Patient:
    age = int(rng.integers(20, 61))
    birth_year = course.infusion.year - age
    duration = int(rng.integers(1, min(21, age - 15)))
    drugs = PRIOR_DRUGS[: PRIOR_COUNTS[index]]
    return Patient(
        patient_id=course.patient_id,
        site_id="ERL",
        disease=Disease(course.disease),
        sex=Sex(SEXES[index]),
        birth_year=birth_year,
        diagnosis_year=course.infusion.year - duration,
        prior_treatments=tuple(PriorTreatment(drug=d, synthetic=True) for d in drugs),
        synthetic=True,
    )


def _visit_days(course: _Course) -> list[tuple[str, int]]:
    visits = [("screening", -7)]
    visits += [(f"month {m}", round(m * MONTH)) for m in VISIT_MONTHS if round(m * MONTH) <= course.follow_up_days]
    return visits


def _activity(course: _Course, day: int) -> float:
    """Fraction of baseline disease activity left on ``day`` (1 before therapy, → 0 after)."""
    return 1.0 if day <= 0 else float(np.exp(-day / course.response_days))


def _sle_items(course: _Course, day: int, rng: np.random.Generator, resolves_at: dict[str, float]) -> dict[str, Any]:
    """SLEDAI-2K descriptors: each baseline item resolves once activity falls below its own level."""
    level = _activity(course, day)
    items: dict[str, Any] = {code: 0 for code in SLEDAI_ALL}
    for code, threshold in resolves_at.items():
        items[code] = int(level > threshold)
    items["pga"] = round(float(np.clip(2.4 * level + rng.normal(0, 0.1), 0, 3)) if level > 0.05 else 0.0, 1)
    grades = ["A", "B", "C"] if day <= 0 else (["B", "C", "D"] if level > 0.3 else ["D", "E"])
    for domain in BILAG_DOMAINS:
        items[f"bilag_{domain}"] = (
            str(rng.choice(grades)) if domain in ("renal", "musculoskeletal", "mucocutaneous") else "E"
        )
    items["hemolytic_anemia"] = 0
    items["gi_activity"] = 0
    items["investigational_drug"] = 0
    items["treatment_failure"] = 0
    return items


def _iim_items(course: _Course, day: int, rng: np.random.Generator) -> dict[str, Any]:
    level = _activity(course, day)
    return {
        "phga": round(float(np.clip(6.5 * level + rng.normal(0, 0.3), 0, 10)), 1),
        "ptga": round(float(np.clip(7.0 * level + rng.normal(0, 0.4), 0, 10)), 1),
        "mmt8": int(np.clip(round(150 - 45 * level + rng.normal(0, 2)), 0, 150)),
        "mmt8_max": 150,
        "haq_di": round(float(np.clip(1.8 * level + 0.1, 0, 3)), 3),
        "enzyme": round(float(4200 * level + 90), 0),
        "extramuscular": round(float(np.clip(4.0 * level + rng.normal(0, 0.2), 0, 10)), 1),
        "ck_u_l": round(float(4200 * level + 90), 0),
        "ck_uln_u_l": 170.0,
    }


def _ssc_items(course: _Course, day: int, rng: np.random.Generator, skin: np.ndarray) -> dict[str, Any]:
    level = _activity(course, day)
    sites = np.clip(np.round(skin * (0.45 + 0.55 * level)), 0, 3).astype(int)
    items: dict[str, Any] = {f"mrss_{s}": int(v) for s, v in zip(MRSS_SITES, sites, strict=True)}
    items.update(
        mrss=int(sites.sum()),
        delta_skin=int(day <= 0 or rng.random() < 0.2 * level),
        digital_ulcers=int(rng.random() < 0.6 * level),
        tendon_friction_rubs=int(rng.random() < 0.4 * level),
        crp_mg_l=round(float(18 * level + rng.uniform(0.5, 3)), 1),
        dlco_pct_pred=round(float(58 + 12 * (1 - level) + rng.normal(0, 2)), 1),
        fvc_pct_pred=round(float(72 + 9 * (1 - level) + rng.normal(0, 1.5)), 1),
        ptga=round(float(np.clip(6 * level + 1, 0, 10)), 1),
        mdga=round(float(np.clip(6 * level + 0.5, 0, 10)), 1),
        haq_di=round(float(np.clip(1.5 * level + 0.25, 0, 3)), 3),
        renal_crisis=0,
        fvc_decline_ild=0,
        lv_failure=0,
        pah=0,
    )
    return items


def _toxicity_items(course: _Course, day: int, rng: np.random.Generator) -> dict[str, Any]:
    crs_days = range(1, 1 + 2 * course.crs_grade + 1) if course.crs_grade else range(0)
    fever = day in crs_days
    temperature = round(float(38.2 + rng.uniform(0, 1.2)) if fever else float(36.6 + rng.uniform(0, 0.8)), 1)
    grade2 = course.crs_grade == 2 and fever and day == crs_days[-1]
    return {
        "temperature_c": temperature,
        "fever_other_cause": 0,
        "anti_cytokine_given": 0,
        "hypotension": "no_vasopressor" if grade2 else "none",
        "oxygen": "none",
        "ice_orientation": 4,
        "ice_naming": 3,
        "ice_commands": 1,
        "ice_writing": 1,
        "ice_attention": 0 if (course.patient_id == "SLE-04" and day == 6) else 1,
        "ice_score": 9 if (course.patient_id == "SLE-04" and day == 6) else 10,
        "consciousness": "normal",
        "seizure": "none",
        "motor_weakness": 0,
        "cerebral_edema": "none",
    }


def _car_t_level(course: _Course, day: int) -> float:
    """A piecewise expansion / bi-exponential decline shape (Stein 2019) for synthetic values."""
    if day < course.car_t_peak_day:
        return course.car_t_peak * float(np.exp(np.log(300) * (day - course.car_t_peak_day) / course.car_t_peak_day))
    tau = day - course.car_t_peak_day
    return course.car_t_peak * (0.97 * float(np.exp(-0.25 * tau)) + 0.03 * float(np.exp(-0.02 * tau)))


def _labs(course: _Course, rng: np.random.Generator) -> list[LabResult]:
    lab_days = sorted(
        {
            -7,
            0,
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            9,
            10,
            12,
            14,
            17,
            21,
            28,
            35,
            42,
            56,
            70,
            90,
            120,
            150,
            180,
            240,
            300,
            365,
            450,
            540,
            630,
            730,
            820,
        }
    )
    labs: list[LabResult] = []
    # IgG before therapy 9–13 g/L, falling by about 2 g/L after CAR-T and recovering slowly:
    # only patients starting low cross the 7 g/L LLN (the trial saw little hypogammaglobulinaemia).
    igg_base = float(rng.uniform(9.0, 13.0))
    for day in (d for d in lab_days if d <= course.follow_up_days):
        when = course.infusion + timedelta(days=day)
        level = _activity(course, day)
        anc = 3.5 if day < 1 else (0.3 + rng.uniform(0, 0.3) if 3 <= day <= 8 else 1.2 + rng.uniform(0, 2.5))
        b_cells = (
            150.0 * rng.uniform(0.6, 1.4)
            if day <= 0
            else (0.0 if day < course.b_return_day else float(min(200.0, 5 + 2.0 * (day - course.b_return_day))))
        )
        values: dict[str, tuple[float, str, float | None, float | None]] = {
            "anc_10e9_l": (round(anc, 2), "10^9/L", 1.8, 7.5),
            "wbc_10e9_l": (round(anc + 1.2, 2), "10^9/L", 4.0, 10.0),
            "platelets_10e9_l": (round(float(rng.uniform(140, 320)), 0), "10^9/L", 150.0, 400.0),
            "crp_mg_l": (round(float(2 + 15 * level * rng.uniform(0.5, 1.5)), 1), "mg/L", None, 5.0),
            "igg_g_l": (
                round(float(igg_base - 2.0 * (day > 0) * np.exp(-max(day - 60, 0) / 300) + rng.normal(0, 0.3)), 1),
                "g/L",
                7.0,
                16.0,
            ),
            "cd19_cells_ul": (round(b_cells, 1), "cells/µL", 100.0, 500.0),
        }
        if day >= 0:
            values["car_t_cells_ul"] = (round(_car_t_level(course, day), 2), "cells/µL", None, None)
        if course.disease == "SLE":
            values.update(
                anti_dsdna_iu_ml=(round(float(10 + 190 * level * rng.uniform(0.7, 1.3)), 0), "IU/mL", None, 100.0),
                c3_g_l=(round(float(1.05 - 0.45 * level), 2), "g/L", 0.9, 1.8),
                c4_g_l=(round(float(0.2 - 0.1 * level), 3), "g/L", 0.1, 0.4),
                proteinuria_g_24h=(round(float(0.1 + 2.5 * level), 2), "g/24 h", None, 0.15),
            )
        if course.disease == "IIM":
            values["ck_u_l"] = (round(float(90 + 4200 * level), 0), "U/L", None, 170.0)
        labs += [
            LabResult(
                patient_id=course.patient_id,
                date=when,
                day=day,
                analyte=a,
                value=v,
                unit=u,
                lln=lo,
                uln=hi,
                synthetic=True,
            )
            for a, (v, u, lo, hi) in values.items()
        ]
    return labs


def _medications(course: _Course) -> list[Medication]:
    def course_of(
        drug: str, dose: float, start: int, stop: int | None, route: str = "oral", frequency: str = "daily"
    ) -> Medication:
        return Medication(
            patient_id=course.patient_id,
            drug=drug,
            dose=dose,
            route=route,
            frequency=frequency,
            start_date=course.infusion + timedelta(days=start),
            stop_date=None if stop is None else course.infusion + timedelta(days=stop),
            start_day=start,
            stop_day=stop,
            synthetic=True,
        )

    steroid = "prednisolone" if course.disease == "IIM" else "prednisone"
    maintenance = {"SLE": "mycophenolate mofetil", "IIM": "methotrexate", "SSc": "mycophenolate mofetil"}
    meds = [
        course_of(
            maintenance[course.disease],
            15.0 if course.disease == "IIM" else 2000.0,
            -400,
            -14,
            frequency="weekly" if course.disease == "IIM" else "daily",
        ),
        course_of(steroid, 10.0, -400, 14),
        course_of(steroid, 5.0, 15, 45),
        course_of(steroid, 2.5, 46, min(75 + int(course.response_days), course.follow_up_days)),
        course_of("fludarabine", 25.0, -5, -3, route="iv"),
        course_of("cyclophosphamide", 1000.0, -3, -3, route="iv"),
    ]
    if course.disease == "SLE":
        meds.append(course_of("hydroxychloroquine", 200.0, -400, -14))
    if course.crs_grade == 2:
        meds.append(course_of("tocilizumab", 8.0, 3, 3, route="iv", frequency="once"))
    return meds


def _adverse_events(course: _Course) -> list[AdverseEvent]:
    events = []

    def event(term: str, category: str, grade: int, onset: int, resolved: int, **extra: Any) -> AdverseEvent:
        return AdverseEvent(
            patient_id=course.patient_id,
            term=term,
            category=AECategory(category),
            grade=grade,
            onset_date=course.infusion + timedelta(days=onset),
            onset_day=onset,
            resolution_date=course.infusion + timedelta(days=resolved),
            resolution_day=resolved,
            synthetic=True,
            **extra,
        )

    if course.crs_grade:
        events.append(
            event(
                "cytokine release syndrome",
                "crs",
                course.crs_grade,
                1,
                1 + 2 * course.crs_grade,
                treatment="tocilizumab" if course.crs_grade == 2 else "",
            )
        )
    if course.patient_id == "SLE-04":
        events.append(event("ICANS", "icans", 1, 6, 7))
    if course.patient_id == "IIM-10":
        events.append(event("pneumonia", "infection", 3, 61, 74, serious=True, organism="Streptococcus pneumoniae"))
    events.append(event("neutropenia", "cytopenia", 3, 3, 8))
    return events


def _assessments(course: _Course, rng: np.random.Generator) -> list[Assessment]:
    skin = rng.integers(1, 4, size=len(MRSS_SITES)).astype(float)
    active = [c for c in SLEDAI_BASELINE_ITEMS if rng.random() < 0.6]
    active += [c for c in ("arthritis", "proteinuria", "low_complement", "increased_dna_binding") if c not in active]
    resolves_at = {code: float(rng.uniform(0.03, 0.6)) for code in active}
    out = []
    for visit, day in _visit_days(course):
        items = {
            "SLE": lambda d: _sle_items(course, d, rng, resolves_at),
            "IIM": lambda d: _iim_items(course, d, rng),
            "SSc": lambda d: _ssc_items(course, d, rng, skin),
        }[course.disease](day)
        out.append(
            Assessment(
                patient_id=course.patient_id,
                date=course.infusion + timedelta(days=day),
                day=day,
                visit=visit,
                form=course.disease.lower(),
                items=items,
                synthetic=True,
            )
        )
    for day in TOXICITY_DAYS:
        out.append(
            Assessment(
                patient_id=course.patient_id,
                date=course.infusion + timedelta(days=day),
                day=day,
                visit=f"toxicity day {day}",
                form="toxicity",
                items=_toxicity_items(course, day, rng),
                synthetic=True,
            )
        )
    return out


def generate_demo_cohort(seed: int = DEMO_SEED) -> Cohort:
    """Build the 15-patient synthetic cohort; the same ``seed`` always gives the same records.

    Examples
    --------
    >>> cohort = generate_demo_cohort()
    >>> len(cohort.patients), sorted({p.disease.value for p in cohort.patients})
    (15, ['IIM', 'SLE', 'SSc'])
    >>> all(p.synthetic for p in cohort.patients)
    True
    """
    rng = np.random.default_rng(seed)
    courses = _courses(rng)
    return Cohort(
        sites=(Site(site_id="ERL", name="Synthetic site (Erlangen-style protocol)", country="DE", synthetic=True),),
        patients=tuple(_patient(c, i, rng) for i, c in enumerate(courses)),
        infusions=tuple(
            Infusion(patient_id=c.patient_id, date=c.infusion, cells_per_kg=1e6, synthetic=True) for c in courses
        ),
        assessments=tuple(a for c in courses for a in _assessments(c, rng)),
        labs=tuple(lab for c in courses for lab in _labs(c, rng)),
        medications=tuple(m for c in courses for m in _medications(c)),
        adverse_events=tuple(e for c in courses for e in _adverse_events(c)),
    )
