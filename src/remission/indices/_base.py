"""The index framework: input column specs, validation, options, results and long-format helpers.

Every index module in :mod:`remission.indices` declares ONE table of items (its criteria as data)
and builds an :class:`IndexDefinition` from it, exposing

* a vectorised form, ``compute(visits, ctx) -> polars.DataFrame`` (the output columns), run on a
  table that :func:`validate_table` has already parsed and typed, and
* a scalar form, ``score_visit(visit, ...) -> ScalarResult`` (one visit, with a per-item
  explanation).

Conventions (../shared/specs/README.md): booleans are 0/1 (also true/false, yes/no); missing is
an empty cell and never an error; an out-of-range value is an error naming row, column and value.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from remission.errors import AbsentColumn, InvalidInputError, Problem

Kind = Literal["bool", "int", "float", "category", "text"]
Layout = Literal["wide", "long", "per_patient"]
MissingRule = Literal["empty", "absent"]

TRUE_WORDS = ("1", "1.0", "true", "yes", "y", "t")
FALSE_WORDS = ("0", "0.0", "false", "no", "n", "f")
ROW = "__row"


@dataclass(frozen=True)
class Column:
    """One input column of an index: its code (the public contract), type, unit and allowed range.

    ``minimum``/``maximum`` are inclusive unless ``exclusive_minimum`` is set (e.g. weight > 0).
    """

    code: str
    kind: Kind
    description: str = ""
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    case: Literal["lower", "upper"] = "lower"
    required: bool = False
    #: The header may lack this column (an optional input: a lab an item can be derived from,
    #: a modifier whose absence the spec defines); otherwise an absent column is an error.
    optional: bool = False
    #: The header may lack this column when it has any of these (an alternative input: the
    #: measurement a descriptor is derived from, ``ice_score`` for the ICE items).
    unless: tuple[str, ...] = ()

    def allowed(self) -> str:
        """Human wording of the allowed values, used in error messages and docs."""
        if self.kind == "bool":
            return "0 or 1 (also true/false, yes/no)"
        if self.kind == "category":
            return "one of " + ", ".join(self.choices)
        if self.kind == "text":
            return "text"
        low = "" if self.minimum is None else f"{'>' if self.exclusive_minimum else '≥'} {self.minimum:g}"
        high = "" if self.maximum is None else f"≤ {self.maximum:g}"
        what = "a whole number" if self.kind == "int" else "a number"
        bounds = " and ".join(b for b in (low, high) if b)
        return f"{what} {bounds}".strip()


@dataclass(frozen=True)
class Option:
    """A documented option of an index (API keyword; CLI ``--name-with-dashes``)."""

    name: str
    kind: Literal["bool", "int", "float", "choice"]
    default: Any
    help: str
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def parse(self, value: Any) -> Any:
        """Convert an API or CLI value to the option's type, or raise InvalidInputError."""
        try:
            if self.kind == "bool":
                return _parse_bool_option(value)
            if self.kind == "int":
                return int(value)
            if self.kind == "float":
                return float(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidInputError(
                [Problem(None, f"option {self.name}", str(value), f"expected {self.kind}")]
            ) from exc
        text = str(value).strip().lower()
        if text not in self.choices:
            raise InvalidInputError(
                [Problem(None, f"option {self.name}", str(value), "expected one of " + ", ".join(self.choices))]
            )
        return text


def _parse_bool_option(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(value)


@dataclass(frozen=True)
class Contribution:
    """One line of a scalar explanation: an item, what it contributed, and where it came from."""

    code: str
    points: float | int | str
    derived_from: str | None = None

    def __str__(self) -> str:
        points = f"{self.points:g}" if isinstance(self.points, float) else str(self.points)
        text = f"{self.code}={points}"
        return f"{text} (derived: {self.derived_from})" if self.derived_from else text


@dataclass(frozen=True)
class ScalarResult:
    """What the scalar form returns for one visit: the output values and their explanation.

    ``values`` holds exactly the output columns of the vectorised form (``*_explain`` included),
    so that ``scalar == vectorised`` can be checked column by column.
    """

    values: Mapping[str, Any]
    explanation: tuple[Contribution, ...] = ()
    missing: tuple[str, ...] = ()

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


@dataclass(frozen=True)
class Context:
    """What the vectorised core receives besides the table: the missing rule, options, explain."""

    missing: MissingRule = "empty"
    explain: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)


ComputeFn = Callable[[pl.DataFrame, Context], pl.DataFrame]
#: A cross-column check on the typed table (with its ``__row`` column): returns one
#: :class:`Problem` per bad cell (1-based row), e.g. two inconsistent units of one measurement.
RowCheckFn = Callable[[pl.DataFrame], list[Problem]]


@dataclass(frozen=True)
class IndexDefinition:
    """Everything the registry, API, CLI and docs need to know about one index."""

    name: str
    title: str
    source: str
    columns: tuple[Column, ...]
    outputs: tuple[str, ...]
    compute: ComputeFn
    scalar: Callable[..., ScalarResult]
    layout: Layout = "wide"
    options: tuple[Option, ...] = ()
    doi: str = ""
    version: str = "1"
    missing_rule: str = "a missing item that could change an output makes it empty"
    row_check: RowCheckFn | None = None
    #: Columns whose presence marks a stored assessment as one of this index (default: all).
    key_items: tuple[str, ...] = ()

    def marks_assessment(self) -> tuple[str, ...]:
        """Item codes that, when any is recorded, make an assessment scoreable by this index."""
        return self.key_items or tuple(c.code for c in self.columns)

    def column(self, code: str) -> Column:
        return next(c for c in self.all_columns() if c.code == code)

    def all_columns(self) -> tuple[Column, ...]:
        if self.layout == "wide":
            return self.columns
        keys = (
            Column("patient_id", "text", "pseudonymous patient identifier", required=True),
            Column("day", "int", "days relative to CAR-T infusion (day 0)", "day", -3650, 36500, required=True),
        )
        extra = (
            (Column("baseline", "bool", "1 marks the patient's baseline row", optional=True),)
            if self.layout == "long"
            else ()
        )
        return keys + extra + self.columns

    def parse_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        known = {o.name: o for o in self.options}
        unknown = sorted(set(given) - set(known))
        if unknown:
            hint = ", ".join(known) or "none"
            raise InvalidInputError(
                [
                    Problem(None, "options", name, f"{self.name} has no such option (options: {hint})")
                    for name in unknown
                ]
            )
        return {name: (o.parse(given[name]) if name in given else o.default) for name, o in known.items()}


# --------------------------------------------------------------------------------------------
# The header contract (../shared/specs/README.md, "Header")
# --------------------------------------------------------------------------------------------

#: Identifier columns a table of any index may carry through to its output without a warning.
PASS_THROUGH: frozenset[str] = frozenset(
    {
        "patient_id",
        "day",
        "date",
        "visit",
        "visit_id",
        "visit_date",
        "site",
        "site_id",
        "subject_id",
        "usubjid",
        "record_id",
        "id",
        "case",
        "arm",
        "group",
        "cohort",
        "disease",
        "baseline",
    }
)


@dataclass(frozen=True)
class HeaderCheck:
    """What a table's header lacks (``absent``) and has in excess (``unknown``) for an index."""

    absent: tuple[AbsentColumn, ...]
    unknown: tuple[str, ...]
    #: For each unknown column, the index's input codes closest to it (maybe none).
    closest: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def unknown_text(self) -> str:
        """One line per unknown column, with the codes it may have meant to be."""
        lines = []
        for name in self.unknown:
            near = self.closest.get(name, ())
            hint = " — did you mean " + " or ".join(f"`{c}`" for c in near) + "?" if near else ""
            lines.append(f"unknown column `{name}` (not an input of this index; kept as it is){hint}")
        return "\n".join(lines)


def closest_names(name: str, candidates: Sequence[str], n: int = 2) -> tuple[str, ...]:
    """The ``candidates`` closest to ``name`` (difflib ratio ≥ 0.6, compared case-insensitively).

    >>> closest_names("pga", ["PGA", "prednisone_mg_day", "rash"])
    ('PGA',)
    >>> closest_names("seizure", ["seizures", "Arthritis"])
    ('seizures',)
    """
    folded: dict[str, str] = {}
    for candidate in candidates:
        folded.setdefault(candidate.lower(), candidate)
    near = difflib.get_close_matches(name.lower(), list(folded), n=n, cutoff=0.6)
    return tuple(folded[f] for f in near)


def check_header(header: Sequence[str], definition: IndexDefinition) -> HeaderCheck:
    """The input columns ``definition`` needs that ``header`` lacks, and the header's columns that
    no input of the index reads (identifiers of :data:`PASS_THROUGH` and outputs aside).

    A column is needed unless it is ``required`` (checked with its own message), ``optional``, or
    one of its ``unless`` alternatives is in the header.

    >>> from remission.indices import get_index
    >>> found = check_header(["PGA", "prednisone_mg_day", "foo"], get_index("doris"))
    >>> print(next(a for a in found.absent if a.code == "pga"))
    no column `pga` in the header (an input of doris) — did you mean `PGA`?
    >>> found.unknown
    ('PGA', 'foo')
    """
    present = set(header)
    codes = [c.code for c in definition.all_columns()]
    unknown = [h for h in header if h not in codes and h not in PASS_THROUGH and h not in definition.outputs]
    absent = [
        AbsentColumn(c.code, definition.name, closest_names(c.code, unknown))
        for c in definition.all_columns()
        if c.code not in present and not c.required and not c.optional and not present.intersection(c.unless)
    ]
    closest = {u: closest_names(u, codes) for u in unknown}
    return HeaderCheck(tuple(absent), tuple(unknown), closest)


# --------------------------------------------------------------------------------------------
# Validation: one vectorised pass, every problem collected.
# --------------------------------------------------------------------------------------------


def _text(expr: pl.Expr) -> pl.Expr:
    stripped = expr.cast(pl.Utf8).str.strip_chars()
    return pl.when(stripped == "").then(None).otherwise(stripped)


def _parse_bool(code: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    reason = "must be 0 or 1 (also true/false, yes/no)"
    col = pl.col(code)
    if dtype == pl.Boolean:
        return col, pl.lit(None, pl.Utf8)
    if dtype.is_integer():
        bad = (col < 0) | (col > 1)
        return pl.when(~bad).then(col.cast(pl.Boolean)), pl.when(bad).then(pl.lit(reason))
    if dtype.is_numeric():
        parsed = pl.when(col == 1).then(True).when(col == 0).then(False).otherwise(None)
        bad = col.is_not_null() & parsed.is_null()
    else:
        word = _text(col).str.to_lowercase()
        parsed = pl.when(word.is_in(TRUE_WORDS)).then(True).when(word.is_in(FALSE_WORDS)).then(False)
        bad = word.is_not_null() & parsed.is_null()
    return parsed, pl.when(bad).then(pl.lit(reason))


def _parse_number(column: Column, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    col = pl.col(column.code)
    if dtype.is_numeric():
        raw = col.cast(pl.Float64)
        not_number = pl.lit(False)
    else:
        text = _text(col).str.replace(",", ".", literal=True)
        raw = text.cast(pl.Float64, strict=False)
        not_number = text.is_not_null() & raw.is_null()
    not_finite = raw.is_not_null() & ~raw.is_finite()
    too_low = (
        pl.lit(False)
        if column.minimum is None
        else (raw <= column.minimum if column.exclusive_minimum else raw < column.minimum)
    )
    too_high = pl.lit(False) if column.maximum is None else raw > column.maximum
    not_whole = (raw != raw.round(0)) if column.kind == "int" else pl.lit(False)
    reason = (
        pl.when(not_number)
        .then(pl.lit("not a number; expected " + column.allowed()))
        .when(not_finite)
        .then(pl.lit("not a finite number; expected " + column.allowed()))
        .when(not_whole)
        .then(pl.lit("must be a whole number"))
        .when(too_low | too_high)
        .then(pl.lit("out of range; expected " + column.allowed()))
    )
    parsed = raw.cast(pl.Int64, strict=False) if column.kind == "int" else raw
    ok = ~(not_number | not_finite | not_whole.fill_null(False))
    return pl.when(ok).then(parsed), reason


def _parse_category(column: Column) -> tuple[pl.Expr, pl.Expr]:
    word = _text(pl.col(column.code))
    word = word.str.to_uppercase() if column.case == "upper" else word.str.to_lowercase()
    bad = word.is_not_null() & ~word.is_in(column.choices)
    return word, pl.when(bad).then(pl.lit("expected " + column.allowed()))


def _parse(column: Column, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    if column.kind == "bool":
        parsed, reason = _parse_bool(column.code, dtype)
    elif column.kind in ("int", "float"):
        parsed, reason = _parse_number(column, dtype)
    elif column.kind == "category":
        parsed, reason = _parse_category(column)
    else:
        parsed, reason = _text(pl.col(column.code)), pl.lit(None, pl.Utf8)
    if column.required:
        reason = pl.when(_text(pl.col(column.code)).is_null()).then(pl.lit("a value is required")).otherwise(reason)
    return parsed.alias(column.code), reason.alias(column.code)


_DTYPES: dict[str, pl.DataType] = {
    "bool": pl.Boolean(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "category": pl.Utf8(),
    "text": pl.Utf8(),
}


@dataclass(frozen=True)
class Validated:
    """A table split into its typed valid rows and the problems of the invalid ones."""

    typed: pl.DataFrame
    valid: pl.Series
    problems: list[Problem]


def validate_table(table: pl.DataFrame, definition: IndexDefinition) -> Validated:
    """Parse and type every declared column of ``table``; collect every problem, vectorised.

    Declared columns absent from the table become all-missing columns, except required ones,
    which are a problem of the whole table. Undeclared columns are ignored here (and kept in the
    output by the caller).
    """
    columns = definition.all_columns()
    absent_required = [c.code for c in columns if c.required and c.code not in table.columns]
    if absent_required:
        raise InvalidInputError(
            [
                Problem(None, code, "", f"required column is missing from the input for {definition.name}")
                for code in absent_required
            ]
        )
    present = [c for c in columns if c.code in table.columns]
    schema = table.schema  # built anew on every access: read once (wide indices have ~100 columns)
    _check_cell_types(schema, present, definition)
    clean = _clean_integer_flags(table, schema, present)
    pairs = [
        (pl.col(c.code).cast(pl.Boolean), pl.lit(None, pl.Utf8).alias(c.code))
        if c.code in clean
        else _parse(c, schema[c.code])
        for c in present
    ]
    parsed = table.select([p for p, _ in pairs]) if pairs else pl.DataFrame(schema={})
    flagged = table.select([r.is_not_null().any() for _, r in pairs]).row(0) if pairs else ()
    bad_columns = [reason for (_, reason), bad in zip(pairs, flagged, strict=True) if bad]
    reasons = table.select(bad_columns) if bad_columns else pl.DataFrame(schema={})
    missing_cols = [pl.lit(None, _DTYPES[c.kind]).alias(c.code) for c in columns if c.code not in table.columns]
    typed = pl.DataFrame({ROW: pl.int_range(table.height, dtype=pl.Int64, eager=True)})
    typed = (pl.concat([parsed, typed], how="horizontal") if pairs else typed).with_columns(missing_cols)
    problems = _collect_problems(table, reasons)
    problems += _check_baseline_marks(typed, definition)
    if definition.row_check is not None:
        problems += definition.row_check(typed)
        problems.sort(key=lambda p: (p.row or 0, p.column))
    bad_rows = sorted({p.row - 1 for p in problems if p.row is not None})
    valid = ~typed[ROW].is_in(bad_rows) if bad_rows else pl.repeat(True, table.height, eager=True)
    return Validated(typed, valid, problems)


def _clean_integer_flags(table: pl.DataFrame, schema: pl.Schema, present: Sequence[Column]) -> set[str]:
    """Yes/no columns stored as integers whose values are all 0, 1 or missing (the bulk case):
    found with one min/max pass, they are cast without the per-row checks."""
    candidates = [c.code for c in present if c.kind == "bool" and not c.required and schema[c.code].is_integer()]
    if not candidates or table.height == 0:
        return set()
    bounds = table.select(
        *[pl.col(c).min().alias(f"{i}_min") for i, c in enumerate(candidates)],
        *[pl.col(c).max().alias(f"{i}_max") for i, c in enumerate(candidates)],
    ).row(0)
    lows, highs = bounds[: len(candidates)], bounds[len(candidates) :]
    return {
        code for code, low, high in zip(candidates, lows, highs, strict=True) if low is None or (low >= 0 and high <= 1)
    }


_SCALAR_TYPES = frozenset(
    {pl.Boolean, pl.String, pl.Categorical, pl.Enum, pl.Null, pl.Date, pl.Datetime, pl.Time, pl.Binary}
)


def _check_cell_types(schema: pl.Schema, present: Sequence[Column], definition: IndexDefinition) -> None:
    """Refuse columns whose cells are not single values (lists, structs, Python objects, durations)."""
    bad = [c.code for c in present if not (schema[c.code].is_numeric() or schema[c.code].base_type() in _SCALAR_TYPES)]
    reason = f"cells must be text, numbers or booleans ({definition.name})"
    if bad:
        raise InvalidInputError([Problem(None, code, str(schema[code]), reason) for code in bad])


def _collect_problems(table: pl.DataFrame, reasons: pl.DataFrame) -> list[Problem]:
    problems: list[Problem] = []
    if reasons.width == 0:
        return problems
    for code in reasons.columns:
        reason = reasons[code]
        if reason.null_count() == len(reason):
            continue
        rows = reason.is_not_null().arg_true()
        values = table[code].gather(rows).cast(pl.Utf8)
        for row, value, why in zip(rows.to_list(), values.to_list(), reason.gather(rows).to_list(), strict=True):
            problems.append(Problem(row + 1, code, "" if value is None else value, why))
    problems.sort(key=lambda p: (p.row or 0, p.column))
    return problems


def _check_baseline_marks(typed: pl.DataFrame, definition: IndexDefinition) -> list[Problem]:
    if definition.layout != "long" or typed["baseline"].null_count() == typed.height:
        return []
    marked = typed.filter(pl.col("baseline").fill_null(False))
    dup = marked.filter(pl.col("patient_id").is_duplicated() & (pl.int_range(pl.len()).over("patient_id") > 0))
    return [
        Problem(row + 1, "baseline", "1", f"patient {pid} already has a baseline row")
        for row, pid in zip(dup[ROW].to_list(), dup["patient_id"].to_list(), strict=True)
    ]


def record_to_frame(record: Mapping[str, Any]) -> pl.DataFrame:
    """One visit (a mapping of code → value) as a one-row, all-text table for validation."""
    return pl.DataFrame(
        {k: ["" if v is None else str(v)] for k, v in record.items()}, schema={k: pl.Utf8 for k in record}
    )


#: Cells the one-row validator below reads itself: printable ASCII (so trimming and case folding
#: agree with polars') and plain decimals (which every float parser reads to the same double).
_PLAIN_CELL = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?")
_PLAIN_NUMBER = re.compile(r"-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,17})?")
_ASCII_SPACE = " \t\n\r\x0b\x0c"


def _cell_value(column: Column, word: str) -> tuple[Any, str | None] | None:
    """(typed value, problem reason) of one non-empty trimmed cell, as :func:`_parse` gives for
    a text column; None when the cell is outside the plain subset this function decides."""
    if column.kind == "bool":
        lowered = word.lower()
        if lowered in TRUE_WORDS or lowered in FALSE_WORDS:
            return lowered in TRUE_WORDS, None
        return None, "must be 0 or 1 (also true/false, yes/no)"
    if column.kind == "category":
        folded = word.upper() if column.case == "upper" else word.lower()
        return folded, None if folded in column.choices else "expected " + column.allowed()
    if column.kind == "text":
        return word, None
    number = word.replace(",", ".")
    if not _PLAIN_NUMBER.fullmatch(number):
        return None
    raw = float(number)
    if column.kind == "int" and raw != round(raw):
        return None, "must be a whole number"
    low = column.minimum is not None and (raw <= column.minimum if column.exclusive_minimum else raw < column.minimum)
    high = column.maximum is not None and raw > column.maximum
    reason = "out of range; expected " + column.allowed() if low or high else None
    return (int(raw) if column.kind == "int" else raw), reason


def validate_text_row(
    cells: Mapping[str, str | None], definition: IndexDefinition, row: int = 1
) -> tuple[dict[str, Any], list[Problem]] | None:
    """Validate one row of text cells (a CSV row, a form) without building a table.

    The same rules and messages as :func:`validate_table` on an all-text table, for the cells
    nearly every form sends: printable ASCII, numbers as plain decimals. Returns the typed
    values of every declared column and the row's problems (``row`` numbers them), or None
    when some cell is outside that subset (or the index has table-wide checks): the caller then
    uses :func:`validate_table`, which decides everything. Tested equal to it
    (tests/indices/test_validate_text_row.py)."""
    if definition.row_check is not None or definition.layout == "long":
        return None
    typed: dict[str, Any] = {}
    problems: list[Problem] = []
    for column in definition.all_columns():
        text = cells.get(column.code)
        word = None if text is None else text.strip(_ASCII_SPACE)
        if word and not _PLAIN_CELL.fullmatch(word):
            return None
        if column.code not in cells and column.required:
            return None  # a table-wide problem, raised by validate_table
        parsed = (None, None) if not word else _cell_value(column, word)
        if parsed is None:
            return None
        typed[column.code], reason = parsed
        if column.required and not word:
            reason = "a value is required"
        if reason is not None:
            problems.append(Problem(row, column.code, text or "", reason))
    problems.sort(key=lambda p: p.column)
    return typed, problems


def validate_record(record: Mapping[str, Any], definition: IndexDefinition) -> dict[str, Any]:
    """Validate one visit for a scalar form; return its typed values (None = missing)."""
    cells = {k: "" if v is None else str(v) for k, v in record.items()}  # as record_to_frame writes them
    plain = validate_text_row(cells, definition)
    if plain is not None:
        typed, problems = plain
        if problems:
            raise InvalidInputError(problems)
        return typed
    checked = validate_table(record_to_frame(record), definition)
    if checked.problems:
        raise InvalidInputError(checked.problems)
    return {c.code: checked.typed[c.code][0] for c in definition.all_columns()}


# --------------------------------------------------------------------------------------------
# Helpers for the vectorised cores.
# --------------------------------------------------------------------------------------------


def as_flag(expr: pl.Expr) -> pl.Expr:
    """A boolean (three-valued) expression as the 0/1 integer column the contract prints."""
    return expr.cast(pl.Int8)


def join_labels(labels: Sequence[pl.Expr], separator: str = "; ") -> pl.Expr:
    """Concatenate the non-null labels of a row (the ``*_explain`` / ``*_missing`` convention)."""
    if not labels:
        return pl.lit("")
    return pl.concat_str(list(labels), separator=separator, ignore_nulls=True)


def missing_labels(codes: Sequence[str]) -> pl.Expr:
    """The ``*_missing`` column: the codes whose value is null, joined by '; '."""
    return join_labels([pl.when(pl.col(c).is_null()).then(pl.lit(c)) for c in codes])


def with_baseline(visits: pl.DataFrame, codes: Sequence[str]) -> pl.DataFrame:
    """Add ``is_baseline``, ``is_followup`` and ``<code>_base`` columns to a long-format table.

    Baseline is the row with ``baseline`` = 1 when the patient has one, else the latest
    assessment with ``day <= 0`` (the last such row in input order on a tie). Follow-up rows are
    the patient's rows after the baseline day; rows on or before it other than the baseline
    itself are neither (their outputs are empty).
    """
    order = visits.with_columns(
        _cand=pl.when(pl.col("baseline").fill_null(False).any().over("patient_id"))
        .then(pl.col("baseline").fill_null(False))
        .otherwise(pl.col("day") <= 0)
    )
    base = (
        order.filter(pl.col("_cand"))
        .sort(["patient_id", "day", ROW])
        .group_by("patient_id", maintain_order=True)
        .last()
        .select(
            "patient_id",
            pl.col(ROW).alias("_base_row"),
            pl.col("day").alias("_base_day"),
            *[pl.col(c).alias(f"{c}_base") for c in codes],
        )
    )
    joined = order.join(base, on="patient_id", how="left").sort(ROW)
    return joined.with_columns(
        is_baseline=(pl.col(ROW) == pl.col("_base_row")).fill_null(False),
        is_followup=(pl.col("day") > pl.col("_base_day")).fill_null(False)
        & (pl.col(ROW) != pl.col("_base_row")).fill_null(True),
    ).drop("_cand", "_base_row")


def with_previous(visits: pl.DataFrame, codes: Sequence[str]) -> pl.DataFrame:
    """Add ``has_previous`` and ``<code>_prev`` columns: the patient's previous assessment by day."""
    ordered = visits.sort(["patient_id", "day", ROW])
    prev = [pl.col(c).shift(1).over("patient_id").alias(f"{c}_prev") for c in codes]
    first = pl.int_range(pl.len()).over("patient_id") == 0
    return ordered.with_columns(*prev, has_previous=~first).sort(ROW)
