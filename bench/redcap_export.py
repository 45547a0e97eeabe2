"""A synthetic REDCap export of N records-CSV rows in the format of the car_t_trial example project.

Used by ``bench/redcap_import.py`` and by ``tests/bench/test_redcap_export.py``. The data
dictionary and the mapping are the example project's own files (copied next to the records); the
records CSV is a classic (non-longitudinal) "CSV (raw)" export with repeating instruments, built
column-wise with NumPy/polars from a seed, so 10^6 rows take seconds.

Mix per patient (``ROWS_PER_PATIENT`` = 50 rows of the CSV, all patients SLE):

* 1 row without a repeat instrument: enrolment + infusion (both non-repeating forms);
* 16 ``sledai`` instances (every 30 days from day −7): 24 yes/no descriptors → 1 assessment each;
* 24 ``labs`` instances (weekly from day −7): C3, C4, anti-dsDNA, CRP, platelets, neutrophils
  with decimal commas; anti-dsDNA left empty on every 4th instance → 6, 6, 6, 5 lab results;
* 5 ``medications`` instances (one per drug code, so no two share a natural key);
* 4 ``adverse_events`` instances (CRS, ICANS, neutropenia, pneumonia; checkboxes ticked or not).

N is rounded down to a multiple of 50 (at least one patient), so an export of N rows holds N/50
patients, 16·N/50 assessments, 138·N/50 lab results, 5·N/50 medications and 4·N/50 adverse events.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from remission.io.redcap import DataDictionary, load_dictionary

EXAMPLE = Path(__file__).resolve().parents[1] / "src" / "remission" / "io" / "examples" / "car_t_trial"
SLEDAI, LABS, MEDS, AES = 16, 24, 5, 4
ROWS_PER_PATIENT = 1 + SLEDAI + LABS + MEDS + AES
LAB_RESULTS_PER_PATIENT = LABS * 6 - LABS // 4  # anti-dsDNA empty on every 4th instance
FIRST_INFUSION = date(2022, 1, 3)
TERMS = ("Cytokine release syndrome", "Immune effector cell-associated neurotoxicity syndrome", "Neutropenia",
         "Pneumonia")  # fmt: skip
AE_CATEGORY = ("1", "2", "4", "3")  # crs, icans, cytopenia, infection
DOSE = ("10", "400", "2000", "8", "12")  # prednisolone, HCQ, MMF (mg), tocilizumab (mg/kg), dexamethasone


def patients_of(n: int) -> int:
    """Patients in an export of ``n`` rows (``n`` rounded down to a multiple of 50, at least 1)."""
    return max(1, n // ROWS_PER_PATIENT)


def expected_counts(n: int) -> dict[str, int]:
    """Registry records a first import of the export of ``n`` rows must insert, per table."""
    p = patients_of(n)
    return {
        "sites": min(p, 3),
        "patients": p,
        "infusions": p,
        "assessments": SLEDAI * p,
        "labs": LAB_RESULTS_PER_PATIENT * p,
        "medications": MEDS * p,
        "adverse_events": AES * p,
    }


def export_columns(dictionary: DataDictionary) -> list[str]:
    """The records CSV header REDCap writes: record id, repeat columns, each form's fields and status."""
    columns = [dictionary.record_id, "redcap_repeat_instrument", "redcap_repeat_instance"]
    for form in dictionary.forms:
        for f in dictionary.form_fields(form):
            columns += [c for c, _ in f.checkbox_columns()] if f.kind == "checkbox" else [f.name]
        columns.append(f"{form}_complete")
    return columns


def _text(values: np.ndarray | pl.Series) -> pl.Series:
    return pl.Series(values).cast(pl.String)


def _comma(values: np.ndarray, decimals: int) -> pl.Series:
    """Numbers as a comma-decimal project exports them (``0,52``)."""
    return pl.Series(np.round(values, decimals)).cast(pl.String).str.replace(".", ",", literal=True)


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series(np.datetime64(FIRST_INFUSION, "D") + days.astype("timedelta64[D]")).dt.to_string("%Y-%m-%d")


def _repeat(p: int, k: int, instrument: str, order: int) -> dict[str, pl.Series]:
    """Key columns of ``k`` instances per patient: record id, instrument, instance, sort keys."""
    patient = np.repeat(np.arange(p), k)
    instance = np.tile(np.arange(1, k + 1), p)
    return {
        "__patient": pl.Series(patient),
        "__order": pl.Series(np.full(p * k, order)),
        "__instance": pl.Series(instance),
        "redcap_repeat_instrument": pl.Series([instrument] * (p * k), dtype=pl.String),
        "redcap_repeat_instance": _text(instance),
    }


def _enrolment(p: int, infusion_day: np.ndarray) -> pl.DataFrame:
    i = np.arange(p)
    birth = 1960 + i % 40
    return pl.DataFrame(
        {
            "__patient": i,
            "__order": np.zeros(p, dtype=np.int64),
            "__instance": np.zeros(p, dtype=np.int64),
            "site": _text(i % 3 + 1),
            "disease": _text(np.ones(p, dtype=np.int64)),
            "sex": _text(np.where(i % 8 == 0, 2, 1)),
            "birth_year": _text(birth),
            "diagnosis_year": _text(birth + 15 + i % 8),
            "enrolment_complete": _text(np.full(p, 2)),
            "inf_date": _dates(infusion_day),
            "inf_product": _text(i % 3 + 1),
            "inf_cells_kg": _text(np.array([1_000_000, 500_000, 2_000_000])[i % 3]),
            "infusion_complete": _text(np.full(p, 2)),
        }
    )


def _sledai(p: int, infusion_day: np.ndarray, codes: list[str], rng: np.random.Generator) -> pl.DataFrame:
    keys = _repeat(p, SLEDAI, "sledai", 1)
    days = np.repeat(infusion_day, SLEDAI) - 7 + 30 * (keys["__instance"].to_numpy() - 1)
    ticked = rng.random((p * SLEDAI, len(codes))) < 0.08
    items = {c: _text(ticked[:, j].astype(np.int64)) for j, c in enumerate(codes)}
    return pl.DataFrame(
        {**keys, "sledai_date": _dates(days), **items, "sledai_complete": _text(np.full(p * SLEDAI, 2))}
    )


def _labs(p: int, infusion_day: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    keys = _repeat(p, LABS, "labs", 2)
    instance = keys["__instance"].to_numpy()
    days = np.repeat(infusion_day, LABS) - 7 + 7 * (instance - 1)
    m = p * LABS
    dsdna = _comma(rng.uniform(5, 400, m), 1)
    return pl.DataFrame(
        {
            **keys,
            "lab_date": _dates(days),
            "lab_c3": _comma(rng.uniform(0.3, 1.6, m), 2),
            "lab_c4": _comma(rng.uniform(0.03, 0.4, m), 2),
            "lab_dsdna": pl.select(pl.when(pl.lit(instance % 4 == 0)).then(None).otherwise(dsdna)).to_series(),
            "lab_crp": _comma(rng.uniform(0.2, 80, m), 1),
            "lab_plt": _text(rng.integers(20, 450, m)),
            "lab_anc": _comma(rng.uniform(0.1, 8, m), 1),
            "labs_complete": _text(np.full(m, 2)),
        }
    )


def _medications(p: int, infusion_day: np.ndarray) -> pl.DataFrame:
    keys = _repeat(p, MEDS, "medications", 3)
    k = keys["__instance"].to_numpy() - 1
    start = np.repeat(infusion_day, MEDS) - 400 + 90 * k
    stop = start + 30 + 20 * k
    m = p * MEDS
    return pl.DataFrame(
        {
            **keys,
            "med_drug": _text(k + 1),
            "med_dose": pl.Series(np.array(DOSE)[k]),
            "med_unit": _text(np.where(k == 3, 2, 1)),
            "med_route": _text(np.where(k >= 3, 2, 1)),
            "med_start": _dates(start),
            # the first course is ongoing (no stop date)
            "med_stop": pl.select(pl.when(pl.lit(k == 0)).then(None).otherwise(_dates(stop))).to_series(),
            "medications_complete": _text(np.full(m, 2)),
        }
    )


def _adverse_events(p: int, infusion_day: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    keys = _repeat(p, AES, "adverse_events", 4)
    k = keys["__instance"].to_numpy() - 1
    onset = np.repeat(infusion_day, AES) + 1 + 5 * k
    m = p * AES
    return pl.DataFrame(
        {
            **keys,
            "ae_term": pl.Series(np.array(TERMS)[k]),
            "ae_category": pl.Series(np.array(AE_CATEGORY)[k]),
            "ae_grade": _text(rng.integers(1, 4, m)),
            "ae_onset": _dates(onset),
            # neutropenia still unresolved at export
            "ae_resolution": pl.select(pl.when(pl.lit(k == 2)).then(None).otherwise(_dates(onset + 3 + k))).to_series(),
            "ae_serious": _text((k == 3).astype(np.int64)),
            "ae_signs___a": _text((k == 0).astype(np.int64)),
            "ae_signs___b": _text(((k == 0) & (rng.random(m) < 0.3)).astype(np.int64)),
            "ae_signs___c": _text(np.zeros(m, dtype=np.int64)),
            "ae_signs____99": _text(np.zeros(m, dtype=np.int64)),
            "adverse_events_complete": _text(np.full(m, 2)),
        }
    )


def generate_export(n: int, folder: Path, seed: int = 1) -> Path:
    """Write ``records.csv`` (N rows, see the module docstring), ``dictionary.csv`` and
    ``mapping.yaml`` into ``folder``; return ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("dictionary.csv", "mapping.yaml"):
        shutil.copyfile(EXAMPLE / name, folder / name)
    dictionary = load_dictionary(EXAMPLE / "dictionary.csv")
    rng = np.random.default_rng(seed)
    p = patients_of(n)
    infusion_day = (np.arange(p) * 37) % 730
    rid = pl.Series(dictionary.record_id, [f"SLE-{i + 1:06d}" for i in range(p)])
    codes = [f.name for f in dictionary.form_fields("sledai") if f.kind == "boolean"]
    frames = [
        _enrolment(p, infusion_day),
        _sledai(p, infusion_day, codes, rng),
        _labs(p, infusion_day, rng),
        _medications(p, infusion_day),
        _adverse_events(p, infusion_day, rng),
    ]
    rows = pl.concat(frames, how="diagonal").sort("__patient", "__order", "__instance")
    rows = rows.with_columns(rid.gather(rows["__patient"]).alias(dictionary.record_id))
    header = export_columns(dictionary)
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in header if c not in rows.columns]
    rows.with_columns(missing).select(header).write_csv(folder / "records.csv")
    return folder
