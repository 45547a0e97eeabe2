"""How the report prints a table: one table of column → label, unit and format (:data:`COLUMNS`).

The CSV beside each table keeps the machine names and raw values (``cells_per_kg`` =
``1000000.0``, flags 0/1); the HTML and PDF print the label with its unit (``CAR-T dose
(cells/kg)``), flags as Yes/No, cell doses as ``1.0 × 10⁶`` and every other number in one format.
A column not listed keeps its name when it is already written for people (``month 3``, ``SLE``)
and otherwise loses its underscores; no header prints snake_case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import polars as pl

from remission.analysis.endpoints import ContinuousSummary, format_number

Kind = Literal["text", "int", "number", "flag", "cells", "date"]

SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
MISSING = "—"


@dataclass(frozen=True)
class Column:
    """How one column prints: its ``label``, ``unit`` (after the label, in brackets) and ``kind``
    (``flag``: 1/true → Yes, 0/false → No; ``cells``: ``1.0 × 10⁶``; ``number``: ``digits``
    decimals, trailing zeros dropped; ``int``; ``date``: ISO; ``text`` as stored)."""

    label: str
    unit: str = ""
    kind: Kind = "text"
    digits: int = 1
    left: bool = False  # words read from the left; numbers and counts stay right-aligned

    @property
    def header(self) -> str:
        return f"{self.label} ({self.unit})" if self.unit else self.label


def _day(label: str) -> Column:
    """A day since infusion (day 0) on which something happened."""
    return Column(label, "day", "int")


def _flag(label: str) -> Column:
    return Column(label, kind="flag")


#: Every machine column name the report prints, with its label, unit and format.
COLUMNS: dict[str, Column] = {
    # patients and treatment
    "patient_id": Column("Patient", left=True),
    "disease": Column("Disease", left=True),
    "sex": Column("Sex", left=True),
    "age": Column("Age at infusion", "years", "int"),
    "disease_duration": Column("Disease duration", "years", "int"),
    "prior_treatment_count": Column("Prior immunosuppressive treatments", "n", "int"),
    "infusion_date": Column("Infusion date", kind="date"),
    "day_0": Column("Day 0 (infusion date)", kind="date"),
    "product": Column("Product", left=True),
    "cells_per_kg": Column("CAR-T dose", "cells/kg", "cells"),
    "conditioning": Column("Conditioning", left=True),
    "follow_up_days": Column("Follow-up", "days", "int"),
    "follow_up_months": Column("Follow-up", "months", "number", 1),
    "glucocorticoid_stop_day": _day("Last glucocorticoid"),
    "immunosuppressant_stop_day": _day("Last immunosuppressant or biologic"),
    "drug_free_stop_day": _day("Last maintenance drug"),
    "glucocorticoid_stopped": _flag("Glucocorticoids stopped"),
    "immunosuppressant_stopped": _flag("Immunosuppressants stopped"),
    "drug_free_stopped": _flag("All maintenance drugs stopped"),
    # milestones
    "remission_day": _day("First remission"),
    "relapse_day": _day("Relapse"),
    "drug_free_remission_day": _day("First drug-free remission"),
    "sustained_remission_day": _day("Remission sustained ≥ 180 days"),
    "sustained_drug_free_remission_day": _day("Drug-free remission sustained ≥ 180 days"),
    "last_assessment_day": _day("Last efficacy assessment"),
    "in_remission_at_last_visit": _flag("In remission at last visit"),
    "b_cell_return_day": _day("B-cell return"),
    "death_day": _day("Death"),
    # biology
    "car_t_peak_day": _day("CAR-T peak"),
    "car_t_peak": Column("CAR-T peak", "cells/µL", "number", 1),
    "car_t_last_detectable_day": _day("CAR-T last detectable"),
    "aplasia_start_day": _day("B-cell aplasia start"),
    "reconstitution_day": _day("B-cell reconstitution"),
    "aplasia_days": Column("B-cell aplasia", "days", "int"),
    "ongoing": _flag("Aplasia ongoing"),
    "cd19_cells_ul_baseline": Column("CD19+ B cells, baseline", "cells/µL", "number", 1),
    "cd19_cells_ul_nadir_pre_infusion": Column("CD19+ B cells, pre-infusion nadir", "cells/µL", "number", 1),
    "igg_g_l_baseline": Column("IgG, baseline", "g/L", "number", 1),
    "igg_g_l_nadir_pre_infusion": Column("IgG, pre-infusion nadir", "g/L", "number", 1),
    # safety
    "term": Column("Term", left=True),
    "category": Column("Category", left=True),
    "grade": Column("Grade", kind="int"),
    "onset_day": _day("Onset"),
    "resolution_day": _day("Resolution"),
    "serious": _flag("Serious"),
    "organism": Column("Organism", left=True),
    "treatment": Column("Treatment", left=True),
    # summaries
    "characteristic": Column("Characteristic", left=True),
    "group": Column("Group", left=True),
    "patients": Column("Patients"),
    "events": Column("Events", "n"),
    "endpoint": Column("Endpoint", left=True),
    "event": Column("Event", left=True),
    "measure": Column("Measure", left=True),
    "value": Column("Value", left=True),
    # estimands
    "population": Column("Population", left=True),
    "variable": Column("Variable", left=True),
    "intercurrent_events": Column("Intercurrent events", left=True),
    "strategy": Column("Strategy", left=True),
    "window": Column("Visit window", left=True),
    "baseline": Column("Baseline"),
    "summary": Column("Summary", left=True),
    # data quality
    "id": Column("Query"),
    "record": Column("Record", left=True),
    "rule": Column("Rule", left=True),
    "status": Column("Status", left=True),
    "message": Column("Message", left=True),
    "answer": Column("Answer", left=True),
    "open": Column("Open", kind="int"),
    "answered": Column("Answered", kind="int"),
    "closed": Column("Closed", kind="int"),
    "total": Column("Total", kind="int"),
    "source": Column("Source", left=True),
}


def column(name: str) -> Column:
    """The print rule of column ``name``: its :data:`COLUMNS` entry, else its name made readable.

    >>> column("cells_per_kg").header
    'CAR-T dose (cells/kg)'
    >>> column("at risk, month 3").header, column("SLE").header, column("icaht_late_grade").header
    ('At risk, month 3', 'SLE', 'Icaht late grade')
    """
    if name in COLUMNS:
        return COLUMNS[name]
    text = name.replace("_", " ")
    return Column(text[:1].upper() + text[1:])


def format_cells(value: float | None) -> str:
    """A cell count in scientific notation with one decimal and a superscript exponent.

    >>> format_cells(1e6), format_cells(2.5e7), format_cells(950.0), format_cells(None)
    ('1.0 × 10⁶', '2.5 × 10⁷', '9.5 × 10²', '—')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(abs(value)))
    mantissa = round(value / 10**exponent, 1)
    if abs(mantissa) >= 10:  # 9.96 × 10⁶ rounds to 10.0 × 10⁶: carry into the exponent
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.1f} × 10{str(exponent).translate(SUPERSCRIPT)}"


def format_flag(value: Any) -> str:
    """1/true → Yes, 0/false → No, missing → —.

    >>> [format_flag(v) for v in (1, 0, True, False, None, "1")]
    ['Yes', 'No', 'Yes', 'No', '—', 'Yes']
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, str):
        value = value.strip().lower() in ("1", "true", "yes")
    return "Yes" if bool(value) else "No"


def format_value(value: Any, rule: Column) -> str:
    """One cell as ``rule`` prints it; a missing value is empty (the table says what empty means).

    >>> format_value(1000000.0, column("cells_per_kg")), format_value(0, column("serious"))
    ('1.0 × 10⁶', 'No')
    >>> format_value(12.0, column("follow_up_months")), format_value(None, column("relapse_day"))
    ('12', '')
    >>> format_value(-14, column("immunosuppressant_stop_day"))
    '−14'
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool) or rule.kind == "flag":
        return format_flag(value)
    if rule.kind == "cells":
        return format_cells(float(value))
    if rule.kind == "int" and isinstance(value, int | float):
        return _minus(str(int(value)))
    if isinstance(value, float) or (rule.kind == "number" and isinstance(value, int)):
        return _minus(format_number(float(value), rule.digits))
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _minus(number: str) -> str:
    """The typographic minus (U+2212) of a printed negative number, as in the report's day ranges."""
    return "−" + number[1:] if number.startswith("-") else number


def format_frame(frame: pl.DataFrame) -> tuple[list[str], list[list[str]], list[bool]]:
    """The printed headers and cells of ``frame`` (:func:`column`, :func:`format_value`), and
    which columns are left-aligned (the first, and those of words).

    >>> format_frame(pl.DataFrame({"patient_id": ["A"], "cells_per_kg": [1e6], "serious": [True]}))
    (['Patient', 'CAR-T dose (cells/kg)', 'Serious'], [['A', '1.0 × 10⁶', 'Yes']], [True, False, False])
    """
    rules = [column(name) for name in frame.columns]
    rows = [[format_value(v, rule) for v, rule in zip(row, rules, strict=True)] for row in frame.iter_rows()]
    return [rule.header for rule in rules], rows, [i == 0 or rule.left for i, rule in enumerate(rules)]


def summary_text(summary: ContinuousSummary, digits: int = 1, *, cells: bool = False) -> str:
    """The report's one summary convention: ``median (IQR q1 to q3; range min to max)``.

    >>> from remission.analysis.endpoints import summarise_continuous
    >>> summary_text(summarise_continuous([1e6, 2e6, 4e6]), cells=True)
    '2.0 × 10⁶ (IQR 1.5 × 10⁶ to 3.0 × 10⁶; range 1.0 × 10⁶ to 4.0 × 10⁶)'
    >>> summary_text(summarise_continuous([30, 41, 52]))
    '41 (IQR 35.5 to 46.5; range 30 to 52)'
    """
    if summary.n == 0:
        return MISSING
    if not cells:
        return summary.text(digits)
    median, q1, q3, low, high = (
        format_cells(v) for v in (summary.median, summary.q1, summary.q3, summary.minimum, summary.maximum)
    )
    return f"{median} (IQR {q1} to {q3}; range {low} to {high})"
