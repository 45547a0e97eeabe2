"""Medications as data: the drug table and daily exposure derived from medication records.

* :mod:`remission.medications.table` — the versioned drug table (``drugs_v1.csv``): names,
  synonyms, ATC codes, classes, prednisone equivalents; :func:`drug_class`.
* :mod:`remission.medications.dose` — glucocorticoid dose as analysed: dose + unit + frequency +
  route → prednisone-equivalent mg/day (:func:`convert_to_prednisone_mg_day`), with its tables.
* :mod:`remission.medications.exposure` — pure polars derivations from medication records:
  :func:`derive_medication_exposure` (per visit: ``prednisone_mg_day`` and class flags, the
  inputs of DORIS) and :func:`derive_drug_free_days`.
"""

from __future__ import annotations

from remission.medications.dose import (
    FREQUENCIES,
    DoseConversion,
    convert_to_prednisone_mg_day,
)
from remission.medications.exposure import (
    derive_drug_free_days,
    derive_medication_exposure,
    validate_medications,
)
from remission.medications.table import (
    CLASSES,
    TABLE_VERSION,
    Drug,
    DrugTable,
    default_table,
    drug_class,
    load_drug_table,
)

__all__ = [
    "CLASSES",
    "FREQUENCIES",
    "TABLE_VERSION",
    "DoseConversion",
    "Drug",
    "DrugTable",
    "convert_to_prednisone_mg_day",
    "default_table",
    "derive_drug_free_days",
    "derive_medication_exposure",
    "drug_class",
    "load_drug_table",
    "validate_medications",
]
