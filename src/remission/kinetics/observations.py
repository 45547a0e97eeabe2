"""The observation table of population kinetics: one row per sample, NONMEM-style.

Columns (:data:`OBSERVATION_COLUMNS`, the contract read by the population fit):

========================  =============================================================================
``ID``                    patient identifier (text; a registry ``patient_id`` or ``1``, ``2``...)
``TIME``                  days from the CAR-T infusion (day 0), ≥ 0
``DV``                    the measured value, in ``UNIT``; equal to ``LLOQ`` where ``BLQ = 1``
``ANALYTE``               ``car_t`` (CAR-T cells/µL by flow, or transgene copies/µg DNA by qPCR) or
                          ``cd19`` (CD19+ B cells/µL)
``UNIT``                  ``cells/µL`` (default of both analytes) or ``copies/µg`` (``car_t`` only);
                          ``cells/uL`` and ``copies/ug`` are read as the same
``LLOQ``                  lower limit of quantification of the sample, in ``UNIT`` (> 0; empty: unknown)
``BLQ``                   1 when the sample is below ``LLOQ`` (censored: Beal's M3 uses ``P(y < LLOQ)``)
``MDV``                   1 when the row carries no observation (NONMEM "missing dependent variable")
``DOSE_PER_KG``           infused CAR-T cells/kg
``DISEASE``               ``SLE``, ``IIM``, ``SSc`` or ``other`` (text; NONMEM users ``=DROP`` or code it)
``BASELINE_CD19``         CD19+ B cells/µL before the infusion
``AGE``                   years at the infusion
``WEIGHT``                kg before the infusion
========================  =============================================================================

Covariates are one value per patient (they may be empty). ``BLQ`` convention: a censored sample
keeps ``MDV = 0`` (it enters the likelihood, as M3 requires) and its ``DV`` is set to ``LLOQ``
(a file may leave it empty, or give the value read below the limit, 0 included). ``BLQ`` and
``MDV`` may be absent or empty: ``BLQ`` is then ``DV < LLOQ`` and ``MDV`` is 1 exactly where ``DV``
is empty.

NONMEM columns are accepted: ``EVID`` 0 (observation, the default), 1 (dose) or 2 (other event);
``AMT`` and ``CMT``. A dose record (``EVID = 1``, at ``TIME = 0``, one per patient) is not a
sample: its ``AMT`` (cells/kg) becomes the patient's ``DOSE_PER_KG`` wherever that is empty.
``EVID = 2`` rows are dropped; ``CMT`` is checked to be a number and then ignored (``ANALYTE``
says what was measured). Other columns are ignored.

Reading a CSV file is the one I/O of this module; :func:`validate_observations` is pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from remission.errors import InvalidInputError, Problem

#: The columns of the observation table, in order (the contract of the population fit).
OBSERVATION_COLUMNS: tuple[str, ...] = (
    "ID",
    "TIME",
    "DV",
    "ANALYTE",
    "UNIT",
    "LLOQ",
    "BLQ",
    "MDV",
    "DOSE_PER_KG",
    "DISEASE",
    "BASELINE_CD19",
    "AGE",
    "WEIGHT",
)
#: Columns a file must have (the others may be absent: they are then empty or derived).
REQUIRED_COLUMNS: tuple[str, ...] = ("ID", "TIME", "DV", "ANALYTE")
#: NONMEM event columns that are read (and not returned).
NONMEM_COLUMNS: tuple[str, ...] = ("EVID", "AMT", "CMT")
#: The analytes and their allowed units (first = default).
ANALYTE_UNITS: dict[str, tuple[str, ...]] = {
    "car_t": ("cells/µL", "copies/µg"),
    "cd19": ("cells/µL",),
}
#: ASCII spellings of the units, read as the canonical ones.
UNIT_ALIASES: dict[str, str] = {"cells/uL": "cells/µL", "copies/ug": "copies/µg"}
DISEASES: tuple[str, ...] = ("SLE", "IIM", "SSc", "other")
#: Covariates: one value per patient.
COVARIATES: tuple[str, ...] = ("DOSE_PER_KG", "DISEASE", "BASELINE_CD19", "AGE", "WEIGHT")
SCHEMA: dict[str, Any] = {
    "ID": pl.String,
    "TIME": pl.Float64,
    "DV": pl.Float64,
    "ANALYTE": pl.String,
    "UNIT": pl.String,
    "LLOQ": pl.Float64,
    "BLQ": pl.Int64,
    "MDV": pl.Int64,
    "DOSE_PER_KG": pl.Float64,
    "DISEASE": pl.String,
    "BASELINE_CD19": pl.Float64,
    "AGE": pl.Float64,
    "WEIGHT": pl.Float64,
}
#: Numeric columns and the rule each value must meet: (lower bound, bound inclusive?, upper bound).
_NUMERIC_RULES: dict[str, tuple[float, bool, float]] = {
    "TIME": (0.0, True, math.inf),
    "DV": (0.0, True, math.inf),
    "LLOQ": (0.0, False, math.inf),
    "DOSE_PER_KG": (0.0, False, math.inf),
    "BASELINE_CD19": (0.0, True, math.inf),
    "AGE": (0.0, True, 130.0),
    "WEIGHT": (0.0, False, 500.0),
    "AMT": (0.0, False, math.inf),
    "CMT": (-math.inf, True, math.inf),
}
_REASONS: dict[str, str] = {
    "TIME": "must be ≥ 0 (days from the infusion; pre-infusion values belong in BASELINE_CD19)",
    "DV": "must be a number ≥ 0",
    "LLOQ": "must be a number > 0",
    "DOSE_PER_KG": "must be a number > 0 (CAR-T cells/kg)",
    "BASELINE_CD19": "must be a number ≥ 0 (cells/µL)",
    "AGE": "must be a number of years between 0 and 130",
    "WEIGHT": "must be a number of kg > 0 and ≤ 500",
    "AMT": "must be a number > 0 (CAR-T cells/kg) on a dose record",
    "CMT": "must be a number",
}


def read_observations(source: str | Path | pl.DataFrame | Any) -> pl.DataFrame:
    """Read and validate an observation table (CSV path, polars or pandas DataFrame).

    Parameters
    ----------
    source : path, polars.DataFrame or pandas.DataFrame
        The table; column names are matched case-insensitively (``id`` is ``ID``).

    Returns
    -------
    polars.DataFrame
        The samples (dose and ``EVID = 2`` records removed), exactly :data:`OBSERVATION_COLUMNS`
        with the dtypes of :data:`SCHEMA`, in the order of the input.

    Raises
    ------
    InvalidInputError
        Listing every bad cell as ``row N, column C: value V: reason`` (N is the 1-based data
        row, the header excluded).

    Examples
    --------
    >>> import polars as pl
    >>> raw = pl.DataFrame({"ID": ["1", "1", "1"], "TIME": ["0", "7", "180"], "DV": ["", "12.5", ""],
    ...                     "ANALYTE": ["", "car_t", "car_t"], "LLOQ": ["", "0.1", "0.1"],
    ...                     "BLQ": ["", "0", "1"], "EVID": ["1", "0", "0"], "AMT": ["1e6", "", ""]})
    >>> obs = read_observations(raw)
    >>> obs.select("TIME", "DV", "BLQ", "MDV", "DOSE_PER_KG").rows()
    [(7.0, 12.5, 0, 0, 1000000.0), (180.0, 0.1, 1, 0, 1000000.0)]
    >>> read_observations(raw.with_columns(pl.Series("TIME", ["0", "-3", "180"])))
    Traceback (most recent call last):
    ...
    remission.errors.InvalidInputError: row 2, column TIME: value -3: must be ≥ 0 (days from the infusion; \
pre-infusion values belong in BASELINE_CD19)
    """
    return validate_observations(_load(source))


def _load(source: str | Path | pl.DataFrame | Any) -> pl.DataFrame:
    if isinstance(source, pl.DataFrame):
        return source
    if hasattr(source, "to_dict") and hasattr(source, "columns"):  # pandas, without importing it
        return pl.from_pandas(source)
    from remission.csv_errors import describe_csv_error

    path = Path(source)
    try:
        return pl.read_csv(path, infer_schema=False, encoding="utf8")
    except (OSError, pl.exceptions.PolarsError) as err:
        raise InvalidInputError([Problem(None, "input", str(path), describe_csv_error(path, err))]) from None


def validate_observations(frame: pl.DataFrame) -> pl.DataFrame:
    """Validate a raw observation table (any dtypes) and return it typed; see :func:`read_observations`."""
    frame = _canonical_names(frame)
    absent = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if absent:
        raise InvalidInputError([Problem(None, c, "", "required column is missing") for c in absent])
    n = frame.height
    text = {c: _text(frame[c]) if c in frame.columns else pl.Series(c, [None] * n, pl.String) for c in _all_columns()}
    problems: list[Problem] = []
    num = {c: _number(c, text[c], problems) for c in _NUMERIC_RULES}
    evid = _codes("EVID", text["EVID"], (0, 1, 2), 0, problems)
    sample, dose = evid == 0, evid == 1
    _check_ids(text["ID"], problems)
    _check_doses(text, num, dose, problems)
    analyte, unit = _analytes(text, sample, problems)
    blq = _codes("BLQ", text["BLQ"], (0, 1), None, problems)
    mdv = _codes("MDV", text["MDV"], (0, 1), None, problems)
    disease = _disease(text["DISEASE"], problems)
    dv, lloq = num["DV"], num["LLOQ"]
    blq = blq.fill_null((dv < lloq).fill_null(False).cast(pl.Int64))
    _check_censoring(text, dv, lloq, blq, mdv, sample, problems)
    dv = pl.select(pl.when(blq == 1).then(lloq).otherwise(dv)).to_series().alias("DV")
    mdv = mdv.fill_null(dv.is_null().cast(pl.Int64))
    out = pl.DataFrame(
        {
            "ID": text["ID"].str.strip_chars(),
            "TIME": num["TIME"],
            "DV": dv,
            "ANALYTE": analyte,
            "UNIT": unit,
            "LLOQ": lloq,
            "BLQ": blq,
            "MDV": mdv,
            "DOSE_PER_KG": num["DOSE_PER_KG"],
            "DISEASE": disease,
            "BASELINE_CD19": num["BASELINE_CD19"],
            "AGE": num["AGE"],
            "WEIGHT": num["WEIGHT"],
            "_row": pl.Series(range(1, n + 1), dtype=pl.Int64),
            "_amt": num["AMT"],
            "_dose": dose,
            "_sample": sample,
        }
    )
    out = _fill_dose(out, text, problems)
    _check_covariates(out.filter("_sample"), text, problems)
    if problems:
        raise InvalidInputError(sorted(problems, key=lambda p: (p.row or 0, _order(p.column))))
    return out.filter("_sample").select(OBSERVATION_COLUMNS).cast(SCHEMA)  # type: ignore[arg-type]


def _all_columns() -> tuple[str, ...]:
    return (*OBSERVATION_COLUMNS, *NONMEM_COLUMNS)


def _order(column: str) -> int:
    columns = _all_columns()
    return columns.index(column) if column in columns else len(columns)


def _canonical_names(frame: pl.DataFrame) -> pl.DataFrame:
    known = {c.lower(): c for c in _all_columns()}
    rename = {c: known[c.strip().lower()] for c in frame.columns if c.strip().lower() in known}
    return frame.select(pl.col(c).alias(rename[c]) for c in rename)


def _text(values: pl.Series) -> pl.Series:
    """A column as stripped text, empty cells null (numbers written the way they were given)."""
    if values.dtype != pl.String:
        if values.dtype.is_float():
            values = values.fill_nan(None)
        values = values.cast(pl.String)
    stripped = values.str.strip_chars()
    return pl.select(pl.when(stripped == "").then(None).otherwise(stripped)).to_series().alias(values.name)


def _report(problems: list[Problem], mask: pl.Series, column: str, text: pl.Series, reason: str) -> None:
    """One problem per row where ``mask`` holds (only the bad rows are visited)."""
    for i in mask.fill_null(False).arg_true().to_list():
        problems.append(Problem(i + 1, column, text[i] or "", reason))


def _number(column: str, text: pl.Series, problems: list[Problem]) -> pl.Series:
    """Parse a numeric column; bad cells are reported and become null."""
    low, inclusive, high = _NUMERIC_RULES[column]
    values = text.cast(pl.Float64, strict=False)
    ok_range = (values >= low if inclusive else values > low) & (values <= high) & values.is_finite()
    bad = text.is_not_null() & (values.is_null() | ~ok_range.fill_null(False))
    _report(problems, bad, column, text, _REASONS[column])
    return pl.select(pl.when(bad).then(None).otherwise(values)).to_series().alias(column)


def _codes(
    column: str, text: pl.Series, allowed: tuple[int, ...], default: int | None, problems: list[Problem]
) -> pl.Series:
    """Parse an integer code column (``0``/``1``, ``1.0`` too); empty cells are ``default``."""
    values = text.cast(pl.Float64, strict=False)
    ok = values.is_in([float(a) for a in allowed]).fill_null(False)
    bad = text.is_not_null() & ~ok
    expected = ", ".join(str(a) for a in allowed[:-1]) + f" or {allowed[-1]}"
    reason = f"expected {expected}"
    if column == "EVID":
        reason += " (0 observation, 1 dose, 2 other; reset events 3 and 4 are not supported)"
    _report(problems, bad, column, text, reason)
    codes = pl.select(pl.when(ok).then(values).otherwise(None)).to_series().cast(pl.Int64).alias(column)
    return codes if default is None else codes.fill_null(default)


def _check_ids(ids: pl.Series, problems: list[Problem]) -> None:
    _report(problems, ids.is_null(), "ID", ids, "required: the patient identifier")


def _check_doses(
    text: Mapping[str, pl.Series], num: Mapping[str, pl.Series], dose: pl.Series, problems: list[Problem]
) -> None:
    """Dose records: an AMT, at TIME 0, one per patient."""
    amt, time = text["AMT"], num["TIME"]
    _report(problems, dose & amt.is_null(), "AMT", amt, "required on a dose record (EVID=1): CAR-T cells/kg")
    at_zero = "a dose record (EVID=1) is the infusion: TIME must be 0 (days from the infusion)"
    _report(problems, dose & (time != 0).fill_null(False), "TIME", text["TIME"], at_zero)
    doses = pl.DataFrame({"ID": text["ID"], "dose": dose})
    repeated = doses.select(pl.col("dose") & (pl.col("dose").cast(pl.Int64).cum_sum().over("ID") > 1)).to_series()
    _report(problems, repeated, "EVID", text["EVID"], "a second dose record for this ID: one infusion per patient")


def _analytes(text: Mapping[str, pl.Series], sample: pl.Series, problems: list[Problem]) -> tuple[pl.Series, pl.Series]:
    """ANALYTE (required on samples) and UNIT (default and allowed per analyte, one per analyte)."""
    analyte, unit_text = text["ANALYTE"], text["UNIT"]
    known = analyte.is_in(list(ANALYTE_UNITS)).fill_null(False)
    expected = "expected " + " or ".join(ANALYTE_UNITS) + " (CAR-T, CD19+ B cells)"
    _report(problems, sample & ~known, "ANALYTE", analyte, expected)
    unit = unit_text.replace(UNIT_ALIASES)
    default = analyte.replace_strict({a: u[0] for a, u in ANALYTE_UNITS.items()}, default=None, return_dtype=pl.String)
    unit = unit.fill_null(default)
    pairs = [f"{a}|{u}" for a, units in ANALYTE_UNITS.items() for u in units]
    allowed = (analyte + "|" + unit).is_in(pairs).fill_null(False)
    for a, units in ANALYTE_UNITS.items():
        wrong = sample & (analyte == a).fill_null(False) & ~allowed
        _report(problems, wrong, "UNIT", unit_text, f"the unit of {a} must be " + " or ".join(units))
    seen = pl.DataFrame({"a": analyte, "u": unit}).filter(sample & known & allowed)
    for a, units in seen.group_by("a").agg(pl.col("u").unique().sort()).iter_rows():
        if len(units) > 1:
            problems.append(Problem(None, "UNIT", ", ".join(units), f"{a} is given in several units: use one"))
    blank = pl.Series([None] * analyte.len(), dtype=pl.String)
    return (
        pl.select(pl.when(known).then(analyte).otherwise(blank)).to_series().alias("ANALYTE"),
        pl.select(pl.when(known).then(unit).otherwise(blank)).to_series().alias("UNIT"),
    )


def _disease(text: pl.Series, problems: list[Problem]) -> pl.Series:
    ok = text.is_in(list(DISEASES)).fill_null(False)
    _report(problems, text.is_not_null() & ~ok, "DISEASE", text, "expected " + ", ".join(DISEASES) + " or empty")
    return pl.select(pl.when(ok).then(text).otherwise(None)).to_series().alias("DISEASE")


def _check_censoring(
    text: Mapping[str, pl.Series],
    dv: pl.Series,
    lloq: pl.Series,
    blq: pl.Series,
    mdv: pl.Series,
    sample: pl.Series,
    problems: list[Problem],
) -> None:
    """BLQ needs an LLOQ and a DV not above it; a quantified DV is not below it; MDV=0 needs a DV."""
    censored = sample & (blq == 1).fill_null(False)
    _report(problems, censored & lloq.is_null(), "LLOQ", text["LLOQ"], "required where BLQ=1 (M3 needs the limit)")
    _report(problems, censored & (dv > lloq).fill_null(False), "DV", text["DV"], "above LLOQ but BLQ=1")
    below = sample & (blq == 0).fill_null(False) & (dv < lloq).fill_null(False)
    _report(problems, below, "BLQ", text["BLQ"].fill_null("0"), "DV is below LLOQ: BLQ must be 1")
    observed = sample & (mdv == 0).fill_null(False) & ~censored & dv.is_null()
    _report(problems, observed & text["DV"].is_null(), "DV", text["DV"], "required where MDV=0 (an observation)")


def _fill_dose(out: pl.DataFrame, text: Mapping[str, pl.Series], problems: list[Problem]) -> pl.DataFrame:
    """DOSE_PER_KG from the patient's dose record where empty; a different given value is an error."""
    doses = out.filter(pl.col("_dose") & pl.col("_amt").is_not_null()).group_by("ID").agg(pl.col("_amt").first())
    out = out.join(doses, on="ID", how="left", suffix="_rec", maintain_order="left")
    clash = out["_sample"] & (out["DOSE_PER_KG"] != out["_amt_rec"]).fill_null(False)
    for i in clash.arg_true().to_list():
        problems.append(
            Problem(
                int(out["_row"][i]),
                "DOSE_PER_KG",
                text["DOSE_PER_KG"][int(out["_row"][i]) - 1] or "",
                f"differs from the AMT of the ID's dose record ({out['_amt_rec'][i]:g})",
            )
        )
    return out.with_columns(pl.col("DOSE_PER_KG").fill_null(pl.col("_amt_rec"))).drop("_amt_rec")


def _check_covariates(samples: pl.DataFrame, text: Mapping[str, pl.Series], problems: list[Problem]) -> None:
    """A covariate is one value per patient: report rows that differ from the ID's first value."""
    for c in COVARIATES:
        first = pl.col(c).drop_nulls().first().over("ID")
        bad = samples.filter(pl.col(c).is_not_null() & (pl.col(c) != first))
        for row in bad["_row"].to_list():
            cell = text[c][row - 1] or ""
            problems.append(
                Problem(row, c, cell, "differs from the ID's other rows: a covariate is one value per patient")
            )


def parse_analyte_values(text: str, option: str) -> dict[str, float]:
    """Parse ``car_t=0.1,cd19=1`` (an option of the CLI) into ``{"car_t": 0.1, "cd19": 1.0}``.

    Every analyte must be known (:data:`ANALYTE_UNITS`) and every value a finite number ≥ 0.

    Examples
    --------
    >>> parse_analyte_values("car_t=0.1, cd19=1", "lloq")
    {'car_t': 0.1, 'cd19': 1.0}
    >>> parse_analyte_values("b=1", "lloq")
    Traceback (most recent call last):
    ...
    remission.errors.InvalidInputError: column lloq: value b=1: expected analyte=number, analyte car_t or cd19
    """
    out: dict[str, float] = {}
    problems: list[Problem] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, number = (s.strip() for s in part.partition("="))
        try:
            value = float(number)
        except ValueError:
            value = math.nan
        if name not in ANALYTE_UNITS or not (math.isfinite(value) and value >= 0):
            problems.append(Problem(None, option, part, "expected analyte=number, analyte car_t or cd19"))
            continue
        out[name] = value
    if problems:
        raise InvalidInputError(problems)
    return out
