"""REDCap records export + data dictionary → one tidy, typed polars table per instrument.

A REDCap "CSV (raw)" export is a sparse block matrix: one row per (record, event, repeat
instrument, repeat instance) and one column per field of every instrument. :func:`tidy_redcap`
splits it into one table per instrument (form) of the data dictionary, each keyed by

``<record id>, redcap_event_name, redcap_repeat_instrument, redcap_repeat_instance``

(the record-id column keeps its project name: the dictionary's first field). Every table has the
same key columns whatever the project's structure (classic or longitudinal, repeating or not), so
that a form that repeats in some events and not in others needs no special case: its
non-repeating rows have an empty ``redcap_repeat_instance``. ``redcap_arm`` (from the events file,
or from the ``_arm_N`` suffix), ``redcap_data_access_group`` and ``redcap_survey_identifier`` are
added to every table when the export has them.

Typing comes from the dictionary (validation types of raw exports, which are always ISO dates and
dot decimals except ``*_comma_decimal`` numbers):

=====================================  ====================================================
field                                  column(s)
=====================================  ====================================================
text ``date_ymd/dmy/mdy``              ``Date`` (raw exports are ``YYYY-MM-DD``)
text ``datetime_*`` (``_seconds_*``)   ``Datetime`` (``YYYY-MM-DD HH:MM[:SS]``)
text ``time``/``time_hh_mm_ss``        ``Time``
text ``integer``; slider               ``Int64``
text ``number*``; calc                 ``Float64`` (``*_comma_decimal``: ``"1,54"`` → 1.54)
radio / dropdown / sql                 ``<field>`` (code, text) + ``<field>_label``
yesno / truefalse                      ``Boolean``
checkbox                               ``<field>___<code>`` ``Boolean`` per choice
``<form>_complete``                    ``Int8`` 0/1/2 (empty: form never opened)
``<form>_timestamp`` (surveys)         ``Datetime`` + ``<form>_survey_completed`` (Boolean:
                                       false for ``[not completed]``)
anything else                          text
=====================================  ====================================================

A row belongs to an instrument when it holds data for it: a non-empty field, a ticked checkbox,
a form status or a survey timestamp (an unticked checkbox is not data: REDCap exports ``0`` for
every unticked box). Empty rows are dropped, so a repeating form never filled yields no rows
(REDCapTidieR issues #136/#234).

Examples
--------
>>> import io
>>> dictionary = load_dictionary(io.StringIO(
...     "Variable / Field Name,Form Name,Field Type,Field Label,"
...     "\\"Choices, Calculations, OR Slider Labels\\","
...     "Text Validation Type OR Show Slider Number\\n"
...     "record_id,demo,text,ID,,\\n"
...     "sex,demo,radio,Sex,\\"1, Female | 2, Male\\",\\n"
...     "crp,labs,text,CRP,,number_comma_decimal\\n"))
>>> records = io.StringIO(
...     "record_id,redcap_repeat_instrument,redcap_repeat_instance,"
...     "sex,demo_complete,crp,labs_complete\\n"
...     "7,,,1,2,,\\n"
...     "7,labs,1,,,\\"3,5\\",2\\n")
>>> tables = tidy_redcap(records, dictionary).tables
>>> tables["labs"].select("record_id", "redcap_repeat_instance", "crp").rows()
[('7', 1, 3.5)]
>>> tables["demo"].select("sex", "sex_label").rows()
[('1', 'Female')]
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from remission.errors import InvalidInputError, Problem

if TYPE_CHECKING:
    import polars as pl

Source = str | Path | IO[str] | IO[bytes]
OnError = Literal["raise", "null"]

KEY_EVENT = "redcap_event_name"
KEY_INSTRUMENT = "redcap_repeat_instrument"
KEY_INSTANCE = "redcap_repeat_instance"
ARM = "redcap_arm"
DAG = "redcap_data_access_group"
SURVEY_ID = "redcap_survey_identifier"
NOT_COMPLETED = "[not completed]"

#: Data-dictionary headers of the REDCap UI download → canonical (API metadata) names.
UI_HEADERS = {
    "variable / field name": "field_name",
    "form name": "form_name",
    "section header": "section_header",
    "field type": "field_type",
    "field label": "field_label",
    "choices, calculations, or slider labels": "select_choices_or_calculations",
    "field note": "field_note",
    "text validation type or show slider number": "text_validation_type_or_show_slider_number",
    "text validation min": "text_validation_min",
    "text validation max": "text_validation_max",
    "identifier?": "identifier",
    "branching logic (show field only if...)": "branching_logic",
    "required field?": "required_field",
    "custom alignment": "custom_alignment",
    "question number (surveys only)": "question_number",
    "matrix group name": "matrix_group_name",
    "matrix ranking?": "matrix_ranking",
    "field annotation": "field_annotation",
}
REQUIRED_DICTIONARY = ("field_name", "form_name", "field_type")
FIELD_TYPES = frozenset(
    {
        "text",
        "notes",
        "textarea",
        "calc",
        "dropdown",
        "select",
        "radio",
        "checkbox",
        "yesno",
        "truefalse",
        "file",
        "slider",
        "descriptive",
        "sql",
    }
)
CHOICE_TYPES = frozenset({"dropdown", "select", "radio", "sql"})
BOOLEAN_TYPES = frozenset({"yesno", "truefalse"})
DATE_VALIDATIONS = frozenset({"date_ymd", "date_dmy", "date_mdy"})
INTEGER_VALIDATIONS = frozenset({"integer", "int"})
TIME_VALIDATIONS = frozenset({"time", "time_hh_mm_ss"})
_NUMBER = r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"
_TRUE_FALSE = {"true": "1", "false": "0"}


@dataclass(frozen=True)
class Field:
    """One data-dictionary row: a REDCap field with its form, type, validation and choices."""

    name: str
    form: str
    field_type: str
    label: str = ""
    validation: str = ""
    choices: tuple[tuple[str, str], ...] = ()

    @property
    def kind(self) -> str:  # noqa: C901 - one branch per REDCap type, a flat table
        """Storage kind: date, datetime, time, integer, number, comma, choice, boolean, checkbox,
        text or none."""
        v = self.validation
        t = self.field_type
        if t == "descriptive":
            return "none"
        if t == "checkbox":
            return "checkbox"
        if t in BOOLEAN_TYPES:
            return "boolean"
        if t in CHOICE_TYPES:
            return "choice" if self.choices else "text"
        if t == "calc":
            return "comma"  # calculated numbers: dot even in comma projects; accept both
        if t == "slider":
            return "integer"
        if t != "text":
            return "text"
        if v in DATE_VALIDATIONS:
            return "date"
        if v.startswith("datetime_"):
            return "datetime"
        if v in TIME_VALIDATIONS:
            return "time"
        if v in INTEGER_VALIDATIONS:
            return "integer"
        if v.startswith("number") or v == "float":
            return "comma" if v.endswith("comma_decimal") else "number"
        return "text"

    def checkbox_columns(self) -> list[tuple[str, str]]:
        """``(column, code)`` of each checkbox choice: code lower-cased, non-alphanumerics → ``_``.

        REDCap writes code ``-99`` as ``field____99`` and ``A`` as ``field___a`` (REDCapTidieR #31).
        """
        return [(f"{self.name}___{re.sub(r'[^a-z0-9]', '_', code.lower())}", code) for code, _ in self.choices]


@dataclass(frozen=True)
class DataDictionary:
    """The fields of a REDCap project in dictionary order; the first is the record id."""

    fields: tuple[Field, ...]

    @property
    def record_id(self) -> str:
        return self.fields[0].name

    @property
    def forms(self) -> list[str]:
        """Instrument names in dictionary order."""
        return list(dict.fromkeys(f.form for f in self.fields))

    def form_fields(self, form: str) -> list[Field]:
        return [f for f in self.fields if f.form == form and f.name != self.record_id and f.kind != "none"]

    def columns(self) -> dict[str, tuple[Field, str | None]]:
        """Every export column the dictionary implies: name → (field, checkbox code or None)."""
        out: dict[str, tuple[Field, str | None]] = {}
        for f in self.fields:
            if f.kind == "none":
                continue
            if f.kind == "checkbox":
                for col, code in f.checkbox_columns():
                    out[col] = (f, code)
            else:
                out[f.name] = (f, None)
        return out


@dataclass(frozen=True)
class Event:
    """A longitudinal event (events CSV of the API: ``event_name,arm_num,unique_event_name``)."""

    unique_name: str
    arm: int
    label: str = ""


@dataclass
class TidyResult:
    """Tables per instrument (dictionary order); problems set to null (``on_error='null'``)."""

    tables: dict[str, pl.DataFrame]
    problems: list[Problem] = field(default_factory=list)
    record_id: str = "record_id"


# --------------------------------------------------------------------------------------------
# Reading text
# --------------------------------------------------------------------------------------------


def _read_text(source: Source, what: str) -> str:
    """Read ``source`` as UTF-8 (a BOM is dropped); refuse other encodings with a clear message."""
    if isinstance(source, str | Path):
        try:
            raw: str | bytes = Path(source).read_bytes()
        except OSError as err:
            raise InvalidInputError([Problem(None, what, str(source), f"cannot be read: {err.strerror}")]) from err
    else:
        raw = source.read()
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            bad = err.object[err.start : err.start + 1].hex()
            raise InvalidInputError(
                [
                    Problem(
                        None,
                        what,
                        f"byte 0x{bad} at offset {err.start}",
                        "is not UTF-8 (REDCap exports UTF-8; re-export or convert the file)",
                    )
                ]
            ) from err
    return raw.removeprefix("\ufeff")


def _csv_rows(text: str) -> list[list[str]]:
    # A real CSV parser: quoted cells hold commas and embedded newlines.
    return list(csv.reader(io.StringIO(text, newline="")))


def _parse_choices(text: str, field_type: str) -> tuple[tuple[str, str], ...]:
    if field_type not in CHOICE_TYPES | {"checkbox"} or not text.strip():
        return ()
    if field_type == "sql":
        return ()
    out = []
    for part in text.split("|"):
        if not part.strip():
            continue
        code, sep, label = part.partition(",")
        out.append((code.strip(), label.strip() if sep else code.strip()))
    return tuple(out)


def load_dictionary(source: Source) -> DataDictionary:
    """Read a REDCap data dictionary (UI download or API metadata CSV).

    Parameters
    ----------
    source : path or file
        CSV with the 18 UI headers (``"Variable / Field Name"``, …) or the API names
        (``field_name``, …). A UTF-8 BOM is accepted; R-written metadata with ``NA`` cells too.

    Returns
    -------
    DataDictionary
        Fields in order; ``record_id`` is the first field's name.

    Raises
    ------
    InvalidInputError
        Missing columns, unknown field types, duplicated field names, no fields.

    Examples
    --------
    >>> import io
    >>> d = load_dictionary(io.StringIO(
    ...     "field_name,form_name,field_type,select_choices_or_calculations\\n"
    ...     "study_id,f,text,\\nc,f,checkbox,\\"a, A | -9, Unknown\\"\\n"))
    >>> d.record_id, [c for c, _ in d.fields[1].checkbox_columns()]
    ('study_id', ['c___a', 'c____9'])
    """
    rows = _csv_rows(_read_text(source, "dictionary"))
    if not rows:
        raise InvalidInputError([Problem(None, "dictionary", "", "is empty")])
    header = [UI_HEADERS.get(h.strip().lower(), h.strip().lower()) for h in rows[0]]
    api_style = "field_name" in [h.strip().lower() for h in rows[0]]
    missing = [h for h in REQUIRED_DICTIONARY if h not in header]
    if missing:
        raise InvalidInputError(
            [
                Problem(
                    None,
                    "dictionary",
                    ", ".join(rows[0][:4]),
                    f"is not a REDCap data dictionary (no column {', '.join(missing)})",
                )
            ]
        )
    fields: list[Field] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for n, row in enumerate(rows[1:], start=1):
        if not any(c.strip() for c in row):
            continue
        cells = dict(zip(header, row, strict=False))

        def cell(key: str, cells: dict[str, str] = cells) -> str:
            value = cells.get(key, "").strip()
            # R-written API metadata writes missing as NA (simple/metadata.csv upstream).
            return "" if api_style and value == "NA" else value

        name, form, ftype = cell("field_name"), cell("form_name"), cell("field_type").lower()
        if not name:
            problems.append(Problem(n, "field_name", "", "is empty"))
            continue
        if name in seen:
            problems.append(Problem(n, "field_name", name, "is duplicated"))
        if ftype not in FIELD_TYPES:
            problems.append(
                Problem(
                    n,
                    "field_type",
                    ftype,
                    f"unknown REDCap field type (known: {', '.join(sorted(FIELD_TYPES))})",
                )
            )
        seen.add(name)
        fields.append(
            Field(
                name=name,
                form=form,
                field_type=ftype,
                label=cell("field_label"),
                validation=cell("text_validation_type_or_show_slider_number").lower(),
                choices=_parse_choices(cell("select_choices_or_calculations"), ftype),
            )
        )
    if not fields and not problems:
        problems.append(Problem(None, "dictionary", "", "has no fields"))
    if problems:
        raise InvalidInputError(problems)
    return DataDictionary(tuple(fields))


def load_events(source: Source) -> list[Event]:
    """Read the events CSV (``unique_event_name`` and ``arm_num`` columns required).

    Examples
    --------
    >>> import io
    >>> load_events(io.StringIO("event_name,arm_num,unique_event_name\\nDay 0,1,day_0_arm_1\\n"))
    [Event(unique_name='day_0_arm_1', arm=1, label='Day 0')]
    """
    rows = _csv_rows(_read_text(source, "events"))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if "unique_event_name" not in header or "arm_num" not in header:
        raise InvalidInputError(
            [Problem(None, "events", ",".join(header), "needs columns unique_event_name and arm_num")]
        )
    out = []
    for n, row in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise InvalidInputError(
                [Problem(n, "events", f"{len(row)} cells", f"expected {len(header)} (truncated or broken CSV)")]
            )
        cells = dict(zip(header, row, strict=True))
        arm = cells.get("arm_num", "").strip()
        if not arm.isdigit():
            raise InvalidInputError([Problem(n, "arm_num", arm, "must be a whole number")])
        out.append(Event(cells["unique_event_name"].strip(), int(arm), cells.get("event_name", "").strip()))
    return out


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


def read_records(source: Source, dictionary: DataDictionary) -> pl.DataFrame:
    """Read a raw records CSV export as text columns (empty cell → null), refusing what is not one.

    An R ``write.csv`` re-save (leading unnamed row-number column, ``NA`` cells) is refused: its
    values are no longer what REDCap exported. A file with no header (REDCap's 1-byte empty export)
    gives a table with no rows.

    A file in plain CSV (every quote opens or closes a quoted field, no line break inside a cell,
    every row as wide as the header) is parsed by Arrow's CSV reader; any other file by Python's
    :mod:`csv` module, which reads it the same way and words each broken row. Both give the same
    table for a plain file (``tests/io/test_redcap.py``).
    """
    import polars as pl

    text = _read_text(source, "records")
    fast = _read_plain_csv(text, dictionary)
    if fast is not None:
        return fast
    rows = _csv_rows(text)
    rows = [r for r in rows if any(c != "" for c in r)] if rows else rows
    if not rows:
        return pl.DataFrame({dictionary.record_id: pl.Series([], dtype=pl.String)})
    header = [h.strip() for h in rows[0]]
    _check_header(header, dictionary)
    problems = [
        Problem(n, "records", f"{len(r)} cells", f"expected {len(header)} (truncated or broken CSV)")
        for n, r in enumerate(rows[1:], start=1)
        if len(r) != len(header)
    ]
    if problems:
        raise InvalidInputError(problems)
    columns = list(zip(*rows[1:], strict=True)) if len(rows) > 1 else [() for _ in header]
    return pl.DataFrame(
        {
            h: pl.Series(h, [None if v == "" else v for v in col], dtype=pl.String)
            for h, col in zip(header, columns, strict=True)
        }
    )


def _check_header(header: list[str], dictionary: DataDictionary) -> None:
    if header and header[0] == "":
        raise InvalidInputError(
            [
                Problem(
                    None,
                    "records",
                    '""',
                    "first column has no name: this looks like an R write.csv re-save "
                    "(row numbers, NA cells), not a REDCap export; "
                    "export the records again from REDCap",
                )
            ]
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InvalidInputError([Problem(None, d, d, "column appears more than once") for d in dupes])
    if header[0] != dictionary.record_id:
        raise InvalidInputError(
            [
                Problem(
                    None,
                    header[0],
                    header[0],
                    f"records must start with the record id {dictionary.record_id!r} (the dictionary's first field)",
                )
            ]
        )


# A cell of plain CSV: unquoted without quotes or line breaks, or quoted ("" for a quote) on one line.
_PLAIN_CELL = r'(?:[^",\r\n]*|"(?:[^"\r\n]|"")*")'
_PLAIN_ROW = rf"{_PLAIN_CELL}(?:,{_PLAIN_CELL})*"
_PLAIN_CSV = rf"\A(?:{_PLAIN_ROW}\r?\n)*(?:{_PLAIN_ROW})?\z"


def _read_plain_csv(text: str, dictionary: DataDictionary) -> pl.DataFrame | None:
    """The records table by Arrow's CSV reader, or None when the text is not plain CSV (see
    :func:`read_records`): then :mod:`csv` reads it and reports what is broken, row by row.

    On plain CSV both readers split cells alike (one row per line; quoted cells unquoted, ``""``
    read as ``"``); an empty line or a row of empty cells is dropped by both, and every other row
    must be as wide as the header (Arrow refuses the file otherwise, and :mod:`csv` words why).
    """
    import polars as pl
    import pyarrow as pa
    import pyarrow.csv as pacsv

    first = text.split("\n", 1)[0]
    header = next(csv.reader([first.removesuffix("\r")]), [])
    if not any(header) or not pl.Series([text]).str.contains(_PLAIN_CSV).item():
        return None
    header = [h.strip() for h in header]
    _check_header(header, dictionary)
    strings = dict.fromkeys(header, pa.string())
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                column_types=strings,
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid:  # a row wider or narrower than the header
        return None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    if frame.columns != header:  # a name a reader changes (an empty one): csv keeps it as it is
        return None
    return frame.filter(~pl.all_horizontal(pl.all().is_null())) if frame.height else frame


def _known_columns(dictionary: DataDictionary) -> set[str]:
    known = set(dictionary.columns())
    for form in dictionary.forms:
        known |= {f"{form}_complete", f"{form}_timestamp"}
    return known | {KEY_EVENT, KEY_INSTRUMENT, KEY_INSTANCE, DAG, SURVEY_ID}


def _check_columns(frame: pl.DataFrame, dictionary: DataDictionary) -> None:
    known = _known_columns(dictionary)
    unknown = [c for c in frame.columns if c not in known]
    if unknown:
        raise InvalidInputError(
            [
                Problem(
                    None,
                    c or '""',
                    c or '""',
                    "is not a field of the data dictionary "
                    "(nor a redcap_* or <form>_complete column); "
                    "is the dictionary from the same project?",
                )
                for c in unknown
            ]
        )


# --------------------------------------------------------------------------------------------
# Typing (vectorised: one parse per column, failures found by comparing nulls)
# --------------------------------------------------------------------------------------------


def _parse_column(values: pl.Series, kind: str) -> pl.Series:
    import polars as pl

    if kind in ("boolean", "checkbox") and (values.is_in(["0", "1"]) | values.is_null()).all():
        return values == "1"  # what REDCap writes: one comparison instead of four passes
    s = values.str.strip_chars()
    if kind == "date":
        return s.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    if kind == "datetime":
        a = s.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
        b = s.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M", strict=False)
        return a.fill_null(b)
    if kind == "time":
        a = s.str.strptime(pl.Time, "%H:%M:%S", strict=False)
        return a.fill_null(s.str.strptime(pl.Time, "%H:%M", strict=False))
    if kind == "integer":
        ok = s.str.contains(r"^[-+]?\d+$")
        return pl.select(pl.when(pl.lit(ok)).then(pl.lit(s)).otherwise(None).cast(pl.Int64, strict=False)).to_series()
    if kind in ("number", "comma"):
        t = s.str.replace(",", ".", literal=True) if kind == "comma" else s
        ok = t.str.contains(rf"^{_NUMBER}$")
        return pl.select(pl.when(pl.lit(ok)).then(pl.lit(t)).otherwise(None).cast(pl.Float64, strict=False)).to_series()
    if kind in ("boolean", "checkbox"):
        low = s.str.to_lowercase().replace(_TRUE_FALSE)
        return low.replace_strict({"1": True, "0": False}, default=None, return_dtype=pl.Boolean)
    if kind == "status":
        return s.replace_strict({"0": 0, "1": 1, "2": 2}, default=None, return_dtype=pl.Int8)
    return values


def _expected(kind: str, f: Field | None) -> str:
    return {
        "date": "expected a date YYYY-MM-DD (raw exports are ISO whatever the display format)",
        "datetime": "expected a date-time YYYY-MM-DD HH:MM[:SS]",
        "time": "expected a time HH:MM[:SS]",
        "integer": "expected a whole number",
        "number": "expected a number with a decimal point",
        "comma": "expected a number (decimal comma or point)",
        "boolean": "expected 1 or 0",
        "checkbox": "expected 1 (ticked) or 0",
        "status": "expected a form status 0 (incomplete), 1 (unverified) or 2 (complete)",
        "timestamp": f"expected YYYY-MM-DD HH:MM:SS or {NOT_COMPLETED}",
        "choice": "expected one of the codes "
        + ", ".join(c for c, _ in (f.choices if f else ()))
        + (f" of {f.name}" if f else ""),
    }.get(kind, "invalid")


def _bad(original: pl.Series, parsed: pl.Series) -> pl.Series:
    return original.is_not_null() & parsed.is_null()


@dataclass
class _Typer:
    frame: pl.DataFrame
    record_id: str
    on_error: OnError
    problems: list[Problem] = field(default_factory=list)

    def record(self, mask: pl.Series, column: str, kind: str, f: Field | None = None) -> None:
        if not mask.any():
            return
        import polars as pl

        rows = self.frame.select(pl.col("__row"), pl.col(self.record_id).fill_null(""), pl.col(column)).filter(mask)
        reason = _expected(kind, f)
        for row, rid, value in rows.iter_rows():
            self.problems.append(Problem(row, column, str(value), f"record {rid}: {reason}"))

    def typed(self, column: str, kind: str, f: Field | None = None) -> pl.Series:
        original = self.frame[column]
        parsed = _parse_column(original, kind)
        self.record(_bad(original, parsed), column, kind, f)
        return parsed.alias(column)

    def choice(self, column: str, f: Field) -> tuple[pl.Series, pl.Series]:
        import polars as pl

        codes = dict(f.choices)
        s = self.frame[column].str.strip_chars()
        if set(codes) == {"0", "1"}:
            # R logical re-save of a 0/1 radio (REDCapR simple/data.csv): TRUE/FALSE are lossless.
            s = s.str.to_lowercase().replace(_TRUE_FALSE)
        ok = s.is_in(list(codes))
        code = pl.select(pl.when(pl.lit(ok)).then(pl.lit(s)).otherwise(None)).to_series().alias(column)
        self.record(_bad(self.frame[column], code), column, "choice", f)
        label = code.replace_strict(codes, default=None, return_dtype=pl.String).alias(f"{column}_label")
        return code, label


def _timestamp(typer: _Typer, column: str) -> tuple[pl.Series, pl.Series]:
    import polars as pl

    s = typer.frame[column].str.strip_chars()
    not_done = s == NOT_COMPLETED
    stamp = _parse_column(pl.select(pl.when(pl.lit(not_done)).then(None).otherwise(pl.lit(s))).to_series(), "datetime")
    typer.record(s.is_not_null() & ~not_done & stamp.is_null(), column, "timestamp")
    completed = pl.select(pl.when(pl.lit(s).is_null()).then(None).otherwise(~pl.lit(not_done))).to_series()
    form = column.removesuffix("_timestamp")
    return stamp.alias(column), completed.alias(f"{form}_survey_completed")


# --------------------------------------------------------------------------------------------
# Tidy
# --------------------------------------------------------------------------------------------


def _keys(typer: _Typer, dictionary: DataDictionary, events: Sequence[Event] | None) -> pl.DataFrame:
    import polars as pl

    frame = typer.frame
    n = frame.height
    rid = dictionary.record_id
    for row in frame.filter(frame[rid].is_null())["__row"]:
        typer.problems.append(Problem(row, rid, "", "record id is empty"))
    cols: dict[str, pl.Series] = {rid: frame[rid]}
    event = frame[KEY_EVENT] if KEY_EVENT in frame.columns else pl.Series(KEY_EVENT, [None] * n, dtype=pl.String)
    cols[KEY_EVENT] = event
    instrument = frame[KEY_INSTRUMENT] if KEY_INSTRUMENT in frame.columns else pl.Series([None] * n, dtype=pl.String)
    forms = dictionary.forms
    typer.record(
        instrument.is_not_null() & ~instrument.is_in(forms),
        KEY_INSTRUMENT,
        "choice",
        Field(KEY_INSTRUMENT, "", "radio", choices=tuple((f, f) for f in forms)),
    )
    cols[KEY_INSTRUMENT] = instrument.alias(KEY_INSTRUMENT)
    if KEY_INSTANCE in frame.columns:
        instance = typer.typed(KEY_INSTANCE, "integer")
        typer.record(instance.is_not_null() & (instance < 1), KEY_INSTANCE, "integer")
        typer.record(instrument.is_not_null() & frame[KEY_INSTANCE].is_null(), KEY_INSTANCE, "integer")
    else:
        instance = pl.Series(KEY_INSTANCE, [None] * n, dtype=pl.Int64)
    cols[KEY_INSTANCE] = instance
    if events is not None:
        arms = {e.unique_name: e.arm for e in events}
        typer.record(
            event.is_not_null() & ~event.is_in(list(arms)),
            KEY_EVENT,
            "choice",
            Field(KEY_EVENT, "", "radio", choices=tuple((e, e) for e in arms)),
        )
        cols[ARM] = event.replace_strict(arms, default=None, return_dtype=pl.Int64).alias(ARM)
    elif KEY_EVENT in frame.columns:
        cols[ARM] = event.str.extract(r"_arm_(\d+)$").cast(pl.Int64).alias(ARM)
    for extra in (DAG, SURVEY_ID):
        if extra in frame.columns:
            cols[extra] = frame[extra]
    return pl.DataFrame(cols)


def _form_columns(typer: _Typer, dictionary: DataDictionary, form: str) -> tuple[list[pl.Series], pl.Series]:
    """Typed columns of one form and a mask of the rows that hold data for it."""
    import polars as pl

    frame = typer.frame
    n = frame.height
    out: list[pl.Series] = []
    present = pl.Series([False] * n, dtype=pl.Boolean)

    def source(column: str) -> pl.Series:
        return frame[column] if column in frame.columns else pl.Series(column, [None] * n, dtype=pl.String)

    stamp = f"{form}_timestamp"
    if stamp in frame.columns:
        ts, done = _timestamp(typer, stamp)
        out += [ts, done]
        present = present | frame[stamp].is_not_null()
    for f in dictionary.form_fields(form):
        if f.kind == "checkbox":
            for column, _ in f.checkbox_columns():
                if column in frame.columns:
                    col = typer.typed(column, "checkbox")
                    present = present | col.fill_null(False)
                else:
                    col = pl.Series(column, [None] * n, dtype=pl.Boolean)
                out.append(col)
            continue
        raw = source(f.name)
        present = present | raw.is_not_null()
        if f.name not in frame.columns:
            typer.frame = frame = frame.with_columns(raw)
        if f.kind == "choice":
            out.extend(typer.choice(f.name, f))
        else:
            out.append(typer.typed(f.name, f.kind, f))
    status = f"{form}_complete"
    raw_status = source(status)
    if status not in frame.columns:
        typer.frame = frame = frame.with_columns(raw_status)
    out.append(typer.typed(status, "status"))
    present = present | raw_status.is_not_null()
    return out, present


def tidy_redcap(
    records: Source | pl.DataFrame,
    dictionary: DataDictionary | Source,
    events: Sequence[Event] | Source | None = None,
    *,
    on_error: OnError = "raise",
) -> TidyResult:
    """Split a REDCap records export into one typed table per instrument of the dictionary.

    Parameters
    ----------
    records : path, file or polars.DataFrame
        Raw CSV records export (text columns if a DataFrame; empty cells null).
    dictionary : DataDictionary, path or file
        The project's data dictionary; its first field is the record id.
    events : sequence of Event, path or file, optional
        Events of a longitudinal project: every ``redcap_event_name`` must be one of them and
        ``redcap_arm`` comes from them (else from the ``_arm_N`` suffix).
    on_error : {"raise", "null"}
        ``"raise"``: any invalid cell raises :class:`InvalidInputError` listing every one
        (``row N, column C: value V: record R: expected …``). ``"null"``: invalid cells become
        null and are listed in :attr:`TidyResult.problems`.

    Returns
    -------
    TidyResult
        ``tables[instrument]`` for every instrument (tables may have zero rows), key columns first.
    """
    import polars as pl

    if not isinstance(dictionary, DataDictionary):
        dictionary = load_dictionary(dictionary)
    if events is not None and not (isinstance(events, Sequence) and not isinstance(events, str)):
        events = load_events(events)
    frame = records if isinstance(records, pl.DataFrame) else read_records(records, dictionary)
    _check_columns(frame, dictionary)
    frame = frame.with_row_index("__row", offset=1)
    typer = _Typer(frame, dictionary.record_id, on_error)
    keys = _keys(typer, dictionary, events)  # type: ignore[arg-type]
    instrument = keys[KEY_INSTRUMENT]
    tables: dict[str, pl.DataFrame] = {}
    for form in dictionary.forms:
        columns, present = _form_columns(typer, dictionary, form)
        mine = (instrument.is_null() | (instrument == form)).fill_null(False) & present
        tables[form] = pl.DataFrame([*keys.get_columns(), *columns]).filter(mine)
    _check_duplicates(tables, typer, dictionary.record_id)
    if typer.problems and on_error == "raise":
        raise InvalidInputError(sorted(set(typer.problems), key=_problem_order))
    return TidyResult(tables, sorted(set(typer.problems), key=_problem_order), dictionary.record_id)


def _problem_order(p: Problem) -> tuple[int, str, str]:
    return (p.row or 0, p.column, p.value)


def _check_duplicates(tables: Mapping[str, pl.DataFrame], typer: _Typer, rid: str) -> None:
    import polars as pl

    keys = [rid, KEY_EVENT, KEY_INSTRUMENT, KEY_INSTANCE]
    for form, table in tables.items():
        dup = table.filter(pl.struct(keys).is_duplicated())
        for row in dup.select(keys).unique(maintain_order=True).iter_rows():
            typer.problems.append(
                Problem(
                    None,
                    form,
                    " / ".join("" if v is None else str(v) for v in row),
                    "the same record, event and instance appears more than once",
                )
            )


def write_tables(tables: Mapping[str, pl.DataFrame], out_dir: str | Path) -> list[Path]:
    """Write ``out_dir/<instrument>.csv`` for every table (atomically, file by file)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in tables.items():
        path = out / f"{name}.csv"
        tmp = path.with_name(path.name + ".part")
        table.write_csv(tmp)
        tmp.replace(path)
        written.append(path)
    return written


# --------------------------------------------------------------------------------------------
# CDISC ODM XML project files (metadata + data)
# --------------------------------------------------------------------------------------------

_ODM_TYPES = {"select": "dropdown", "textarea": "notes"}
_ODM_VALIDATION = {"int": "integer", "float": "number"}


def _ns(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def load_odm(source: str | Path) -> tuple[DataDictionary, pl.DataFrame, list[Event]]:
    """Read a REDCap "CDISC ODM (XML)" project export into (dictionary, records, events).

    The records come out as a raw export would (text columns, one row per record, event, repeat
    instrument and instance), ready for :func:`tidy_redcap`. Repeating instruments are those listed
    in ``redcap:RepeatingInstruments``.

    Raises
    ------
    InvalidInputError
        Not XML, or not a REDCap ODM export (no ``MetaDataVersion``).
    """
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(source).getroot()
    except (ET.ParseError, LookupError, UnicodeError) as err:  # LookupError: an unknown declared encoding
        raise InvalidInputError([Problem(None, "odm", str(source), f"is not well-formed XML: {err}")]) from err
    meta = next((e for e in root.iter() if _ns(e.tag) == "MetaDataVersion"), None)
    if meta is None:
        raise InvalidInputError(
            [
                Problem(
                    None,
                    "odm",
                    str(source),
                    "has no MetaDataVersion: not a REDCap ODM project export",
                )
            ]
        )
    dictionary, repeating, events = _odm_metadata(root, meta)
    return dictionary, _odm_records(root, dictionary, repeating, bool(events)), events


def _attr(e: object, name: str) -> str:
    import xml.etree.ElementTree as ET

    assert isinstance(e, ET.Element)
    for k, v in e.attrib.items():
        if _ns(k) == name:
            return v
    return ""


def _odm_metadata(root: object, meta: object) -> tuple[DataDictionary, set[tuple[str, str]], list[Event]]:
    import xml.etree.ElementTree as ET

    assert isinstance(root, ET.Element) and isinstance(meta, ET.Element)
    items = {e.get("OID", ""): e for e in meta if _ns(e.tag) == "ItemDef"}
    groups = {e.get("OID", ""): e for e in meta if _ns(e.tag) == "ItemGroupDef"}
    codelists = {
        e.get("OID", ""): tuple(
            (
                c.get("CodedValue", ""),
                "".join(t.text or "" for t in c.iter() if _ns(t.tag) == "TranslatedText"),
            )
            for c in e
            if _ns(c.tag) == "CodeListItem"
        )
        for e in meta
        if _ns(e.tag) == "CodeList"
    }
    checkbox_choices = {e.get("OID", ""): _attr(e, "CheckboxChoices") for e in meta if _ns(e.tag) == "CodeList"}
    fields: list[Field] = []
    seen: set[str] = set()
    for form in (e for e in meta if _ns(e.tag) == "FormDef"):
        form_name = _attr(form, "FormName") or form.get("OID", "").removeprefix("Form.")
        for gref in (g for g in form if _ns(g.tag) == "ItemGroupRef"):
            for iref in (
                i for i in groups.get(gref.get("ItemGroupOID", ""), ET.Element("x")) if _ns(i.tag) == "ItemRef"
            ):
                item = items.get(iref.get("ItemOID", ""))
                if item is None:
                    continue
                name = _attr(item, "Variable") or item.get("Name", "")
                ftype = _attr(item, "FieldType")
                if not ftype or name in seen or name == f"{form_name}_complete":
                    continue
                seen.add(name)
                ftype = _ODM_TYPES.get(ftype, ftype)
                ref = next((c.get("CodeListOID", "") for c in item if _ns(c.tag) == "CodeListRef"), "")
                if ftype == "checkbox":
                    choices = _parse_choices(
                        _attr(item, "CheckboxChoices") or checkbox_choices.get(ref, ""), "checkbox"
                    )
                    if not choices:  # fall back on the item names field___code
                        choices = tuple(
                            (i.split("___", 1)[1], i.split("___", 1)[1]) for i in items if i.startswith(name + "___")
                        )
                else:
                    choices = codelists.get(ref, ()) if ftype in CHOICE_TYPES else ()
                validation = _attr(item, "TextValidationType")
                fields.append(
                    Field(
                        name,
                        form_name,
                        ftype,
                        item.get("Name", ""),
                        _ODM_VALIDATION.get(validation, validation),
                        choices,
                    )
                )
    record_id = _attr(meta, "RecordIdField")
    fields.sort(key=lambda f: f.name != record_id)  # the record id first, order otherwise kept
    repeating = {
        (_attr(e, "UniqueEventName"), _attr(e, "RepeatInstrument"))
        for e in root.iter()
        if _ns(e.tag) == "RepeatingInstrument"
    }
    events = [
        Event(_attr(e, "UniqueEventName"), int(_attr(e, "ArmNum") or 1), e.get("Name", ""))
        for e in meta.iter()
        if _ns(e.tag) == "StudyEventDef" and _attr(e, "UniqueEventName")
    ]
    return DataDictionary(tuple(fields)), repeating, events


def _odm_records(  # noqa: C901
    root: object, dictionary: DataDictionary, repeating: set[tuple[str, str]], longitudinal: bool
) -> pl.DataFrame:
    import xml.etree.ElementTree as ET

    import polars as pl

    assert isinstance(root, ET.Element)
    rid = dictionary.record_id
    rows: dict[tuple[str, str, str, str], dict[str, str]] = {}
    any_repeat = False
    for subject in (e for e in root.iter() if _ns(e.tag) == "SubjectData"):
        record = subject.get("SubjectKey", "")
        # Classic projects put FormData directly under SubjectData.
        for event in [e for e in subject if _ns(e.tag) == "StudyEventData"] or [subject]:
            event_name = _attr(event, "UniqueEventName") if longitudinal else ""
            for form in (e for e in event if _ns(e.tag) == "FormData"):
                form_name = form.get("FormOID", "").removeprefix("Form.")
                is_repeat = (event_name if longitudinal else "", form_name) in repeating or (
                    not longitudinal and any(f == form_name for _, f in repeating)
                )
                any_repeat |= is_repeat
                key = (
                    record,
                    event_name,
                    form_name if is_repeat else "",
                    form.get("FormRepeatKey", "1") if is_repeat else "",
                )
                row = rows.setdefault(key, {rid: record})
                for item in form.iter():
                    if _ns(item.tag) == "ItemData" and item.get("Value") is not None:
                        oid = item.get("ItemOID", "")
                        if oid != rid:
                            row[oid] = item.get("Value", "")
    columns = [rid]
    if longitudinal:
        columns.append(KEY_EVENT)
    if any_repeat:
        columns += [KEY_INSTRUMENT, KEY_INSTANCE]
    known = _known_columns(dictionary)
    data_cols = list(dict.fromkeys(c for r in rows.values() for c in r if c != rid and c in known))
    table = {c: [] for c in columns + data_cols}  # type: dict[str, list[str | None]]
    for (record, event_name, instrument, instance), row in rows.items():
        table[rid].append(record)
        if longitudinal:
            table[KEY_EVENT].append(event_name)
        if any_repeat:
            table[KEY_INSTRUMENT].append(instrument or None)
            table[KEY_INSTANCE].append(instance or None)
        for c in data_cols:
            table[c].append(row.get(c) or None)
    return pl.DataFrame({c: pl.Series(c, v, dtype=pl.String) for c, v in table.items()})


def iter_problems(result: TidyResult) -> Iterable[str]:
    """The problems of a result as the CLI prints them."""
    return (str(p) for p in result.problems)
