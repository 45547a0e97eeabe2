"""YAML mapping: tidy REDCap instruments → plain registry record dicts.

A mapping names, for each registry record type, the instrument it comes from and where each of
its fields comes from (a REDCap field of that instrument, a key column, or a constant), with
optional choice recoding and a unit scale factor. It is validated against the data dictionary
before any data are read: every unknown record type, target field, instrument, REDCap field or
recoded choice code is reported, all at once.

Record types and their fields (what :func:`map_records` produces):

================  ==================================================================================
record type       fields
================  ==================================================================================
patient           patient_id, site_id (``site`` is accepted as an alias), disease
                  (SLE/IIM/SSc/other), sex, birth_year, diagnosis_year
infusion          patient_id, date, product, cells_per_kg
assessment        patient_id, date, visit, form (default: the instrument), items (spec code → value)
lab               patient_id, date, analyte, value, unit, lln, uln (one record per analyte)
medication        patient_id, drug, dose, unit, route, start_date, stop_date
adverse_event     patient_id, term, category (crs/icans/infection/cytopenia/other), grade (1–5),
                  onset_date, resolution_date, serious
================  ==================================================================================

YAML shape (each record type takes one block or a list of blocks)::

    version: 1
    records:
      patient:
        instrument: enrolment
        fields:
          patient_id: {field: record_id}
          disease: {field: disease, recode: {"1": SLE, "2": IIM, "3": SSc}}
      assessment:
        instrument: sledai
        fields: {patient_id: {field: record_id}, date: {field: sledai_date}}
        items: {seizure: {field: sle_seizure}, arthritis: {field: sle_arthritis}}
      lab:
        instrument: labs
        fields: {patient_id: {field: record_id}, date: {field: lab_date}}
        analytes:
          - {analyte: c3, field: lab_c3, unit: g/L, lln: 0.9, uln: 1.8}

A source is ``{field: NAME}`` (optionally ``recode: {code: value}``, ``scale: factor``) or
``{value: CONSTANT}``. Rows whose mapped values are all empty are skipped (a lab analyte with
no value gives no record); missing values stay ``None``, never 0.

Examples
--------
>>> import polars as pl, datetime as dt
>>> from remission.io.redcap import DataDictionary, Field
>>> dd = DataDictionary((Field("record_id", "labs", "text"),
...                      Field("lab_date", "labs", "text", validation="date_ymd"),
...                      Field("lab_c3", "labs", "text", validation="number")))
>>> m = load_mapping('''
... records:
...   lab:
...     instrument: labs
...     fields: {patient_id: {field: record_id}, date: {field: lab_date}}
...     analytes: [{analyte: c3, field: lab_c3, unit: g/L, lln: 0.9}]
... ''', dd)
>>> labs = pl.DataFrame({"record_id": ["p1"], "lab_date": [dt.date(2024, 1, 2)], "lab_c3": [0.7]})
>>> lab = map_records({"labs": labs}, m)["lab"][0]
>>> [lab[k] for k in ("patient_id", "date", "analyte", "value", "unit", "lln", "uln")]
['p1', datetime.date(2024, 1, 2), 'c3', 0.7, 'g/L', 0.9, None]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from remission.errors import InvalidInputError, Problem
from remission.io.dates import impute_date, iso_8601
from remission.io.redcap import ARM, DAG, KEY_EVENT, KEY_INSTANCE, KEY_INSTRUMENT, DataDictionary

if TYPE_CHECKING:
    import polars as pl

#: Registry record types → their fields and value kinds.
RECORD_TYPES: dict[str, dict[str, str]] = {
    "patient": {
        "patient_id": "text",
        "site_id": "text",
        "disease": "disease",
        "sex": "text",
        "birth_year": "int",
        "diagnosis_year": "int",
    },
    "infusion": {"patient_id": "text", "date": "date", "product": "text", "cells_per_kg": "float"},
    "assessment": {"patient_id": "text", "date": "date", "visit": "text", "form": "text"},
    "lab": {"patient_id": "text", "date": "date"},
    "medication": {
        "patient_id": "text",
        "drug": "text",
        "dose": "float",
        "unit": "text",
        "route": "text",
        "start_date": "partial_date",
        "stop_date": "partial_date",
    },
    "adverse_event": {
        "patient_id": "text",
        "term": "text",
        "category": "category",
        "grade": "grade",
        "onset_date": "partial_date",
        "resolution_date": "partial_date",
        "serious": "bool",
    },
}
REQUIRED = {t: ("patient_id",) for t in RECORD_TYPES}
DISEASES = ("SLE", "IIM", "SSc", "other")
#: Target field names accepted under another name (``site`` before the model named it site_id).
ALIASES = {"patient": {"site": "site_id"}}
AE_CATEGORIES = ("crs", "icans", "infection", "cytopenia", "other")
KEY_COLUMNS = (KEY_EVENT, KEY_INSTRUMENT, KEY_INSTANCE, ARM, DAG)
_BLOCK_KEYS = {"instrument", "fields", "items", "analytes"}
_SOURCE_KEYS = {"field", "value", "recode", "scale"}
_ANALYTE_KEYS = {"analyte", "field", "unit", "lln", "uln", "scale"}


@dataclass(frozen=True)
class Source:
    """Where one value comes from: a column (with recode/scale) or a constant."""

    column: str | None = None
    constant: Any = None
    recode: Mapping[str, Any] | None = None
    scale: float | None = None


@dataclass(frozen=True)
class Block:
    """One record type fed by one instrument."""

    record_type: str
    instrument: str
    fields: Mapping[str, Source]
    items: Mapping[str, Source] = field(default_factory=dict)
    analytes: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class RecordMapping:
    """A validated mapping: its blocks in file order, and the project it names (``project:``)."""

    blocks: tuple[Block, ...]
    #: The mapping's ``project:`` name: the first part of every REDCap source key (``redcap:<project>/…``).
    project: str | None = None


def load_mapping(source: str | Path, dictionary: DataDictionary) -> RecordMapping:
    """Parse and validate a YAML mapping (path or YAML text) against a data dictionary.

    Raises
    ------
    InvalidInputError
        Every problem at once, each as ``column <where in the mapping>: value <what>: reason``
        (unknown record type, target field, instrument, REDCap field, recode code, bad YAML).
    """
    import yaml

    is_path = isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and source.endswith((".yaml", ".yml"))
    )
    text = _read_yaml_file(Path(source)) if is_path else source
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise InvalidInputError([Problem(None, "mapping", "", f"is not valid YAML: {err}")]) from err
    problems: list[Problem] = []
    if not isinstance(doc, dict) or not isinstance(doc.get("records"), dict):
        raise InvalidInputError([Problem(None, "mapping", "", "needs a top-level 'records:' mapping")])
    for key in doc:
        if key not in ("version", "records", "project", "description"):
            problems.append(
                Problem(
                    None,
                    "mapping",
                    str(key),
                    "unknown top-level key (known: version, records, project, description)",
                )
            )
    blocks: list[Block] = []
    for rtype, spec in doc["records"].items():
        where = f"records.{rtype}"
        if rtype not in RECORD_TYPES:
            problems.append(
                Problem(
                    None,
                    where,
                    str(rtype),
                    f"unknown record type (known: {', '.join(RECORD_TYPES)})",
                )
            )
            continue
        for i, one in enumerate(spec if isinstance(spec, list) else [spec]):
            block = _block(
                rtype,
                one,
                f"{where}[{i}]" if isinstance(spec, list) else where,
                dictionary,
                problems,
            )
            if block is not None:
                blocks.append(block)
    if problems:
        raise InvalidInputError(problems)
    project = doc.get("project")
    return RecordMapping(tuple(blocks), str(project) if project not in (None, "") else None)


def _read_yaml_file(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as err:
        raise InvalidInputError([Problem(None, "mapping", str(path), f"cannot be read: {err.strerror}")]) from err
    except UnicodeDecodeError as err:
        where = f"byte 0x{err.object[err.start : err.start + 1].hex()} at offset {err.start}"
        raise InvalidInputError([Problem(None, "mapping", where, "is not UTF-8 (save the YAML as UTF-8)")]) from err


def _block(  # noqa: C901 - one check per mapping key
    rtype: str, spec: Any, where: str, dd: DataDictionary, problems: list[Problem]
) -> Block | None:
    if not isinstance(spec, dict):
        problems.append(Problem(None, where, str(spec), "expected a mapping with instrument and fields"))
        return None
    for key in spec:
        if key not in _BLOCK_KEYS:
            problems.append(Problem(None, where, str(key), f"unknown key (known: {', '.join(sorted(_BLOCK_KEYS))})"))
    instrument = spec.get("instrument")
    if instrument not in dd.forms:
        problems.append(
            Problem(
                None,
                f"{where}.instrument",
                str(instrument),
                f"not an instrument of the dictionary ({', '.join(dd.forms)})",
            )
        )
        return None
    columns = _instrument_columns(dd, instrument)
    fields: dict[str, Source] = {}
    for target, src in (spec.get("fields") or {}).items():
        target = ALIASES.get(rtype, {}).get(target, target)
        if target not in RECORD_TYPES[rtype]:
            problems.append(
                Problem(
                    None,
                    f"{where}.fields",
                    str(target),
                    f"unknown field of {rtype} (known: {', '.join(RECORD_TYPES[rtype])})",
                )
            )
            continue
        fields[target] = _source(src, f"{where}.fields.{target}", dd, columns, problems)
    for req in REQUIRED[rtype]:
        if req not in (spec.get("fields") or {}):
            problems.append(Problem(None, f"{where}.fields", req, "is required"))
    items: dict[str, Source] = {}
    if "items" in spec and rtype != "assessment":
        problems.append(Problem(None, where, "items", "only assessment records have items"))
    for code, src in (spec.get("items") or {}).items():
        items[str(code)] = _source(src, f"{where}.items.{code}", dd, columns, problems)
    if rtype == "assessment" and not items:
        problems.append(Problem(None, where, "items", "an assessment needs at least one item"))
    analytes = tuple(spec.get("analytes") or ())
    if "analytes" in spec and rtype != "lab":
        problems.append(Problem(None, where, "analytes", "only lab records have analytes"))
    if rtype == "lab" and not analytes:
        problems.append(Problem(None, where, "analytes", "a lab block needs at least one analyte"))
    for j, a in enumerate(analytes):
        w = f"{where}.analytes[{j}]"
        if not isinstance(a, dict) or "analyte" not in a or "field" not in a:
            problems.append(Problem(None, w, str(a), "needs analyte and field"))
            continue
        for key in a:
            if key not in _ANALYTE_KEYS:
                problems.append(
                    Problem(
                        None,
                        w,
                        str(key),
                        f"unknown key (known: {', '.join(sorted(_ANALYTE_KEYS))})",
                    )
                )
        if a["field"] not in columns:
            problems.append(Problem(None, f"{w}.field", str(a["field"]), f"not a field of instrument {instrument}"))
    return Block(rtype, instrument, fields, items, analytes)


def _instrument_columns(dd: DataDictionary, instrument: str) -> dict[str, Any]:
    cols: dict[str, Any] = {dd.record_id: None, **dict.fromkeys(KEY_COLUMNS)}
    for f in dd.form_fields(instrument):
        if f.kind == "checkbox":
            cols.update(dict.fromkeys(c for c, _ in f.checkbox_columns()))
        else:
            cols[f.name] = f
            if f.kind == "choice":
                cols[f"{f.name}_label"] = None
    cols[f"{instrument}_complete"] = None
    return cols


def _source(src: Any, where: str, dd: DataDictionary, columns: Mapping[str, Any], problems: list[Problem]) -> Source:
    if not isinstance(src, dict) or not ({"field", "value"} & set(src)):
        problems.append(Problem(None, where, str(src), "expected {field: NAME} or {value: CONSTANT}"))
        return Source()
    for key in src:
        if key not in _SOURCE_KEYS:
            problems.append(Problem(None, where, str(key), f"unknown key (known: {', '.join(sorted(_SOURCE_KEYS))})"))
    if "value" in src:
        return Source(constant=src["value"])
    name = src["field"]
    if name not in columns:
        problems.append(
            Problem(
                None,
                where,
                str(name),
                "not a field of this instrument (fields: "
                + ", ".join(c for c in columns if c not in KEY_COLUMNS)
                + ")",
            )
        )
        return Source(column=str(name))
    recode = src.get("recode")
    f = columns.get(name)
    if recode is not None:
        recode = {str(k): v for k, v in recode.items()}
        codes = {c for c, _ in f.choices} if f is not None and f.kind in ("choice",) else None
        if f is not None and f.kind == "boolean":
            codes = {"1", "0", "True", "False"}
        for code in recode:
            if codes is not None and code not in codes:
                problems.append(
                    Problem(
                        None,
                        f"{where}.recode",
                        code,
                        f"not a choice code of {name} ({', '.join(sorted(codes))})",
                    )
                )
    return Source(column=str(name), recode=recode, scale=src.get("scale"))


# --------------------------------------------------------------------------------------------


def _value(row: Mapping[str, Any], src: Source) -> Any:
    if src.column is None:
        return src.constant
    v = row.get(src.column)
    if v is None:
        return None
    if src.recode is not None:
        key = str(v)
        if key not in src.recode:
            raise KeyError(key)
        v = src.recode[key]
    if src.scale is not None and v is not None:
        v = float(v) * float(src.scale)
    return v


def _coerce(kind: str, v: Any) -> Any:  # noqa: C901
    if v is None:
        return None
    if kind == "partial_date" and isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S")  # the time of day kept (CRS/ICANS onset in hours)
    if kind == "partial_date" and isinstance(v, str):
        # a text field may hold a partial date: kept as ISO 8601 text, imputed where it is staged
        # (remission.io.sources: the rule of the derivation it feeds); unreadable text is an error
        text = iso_8601(v)
        impute_date(text, "first")
        return text
    if kind in ("date", "partial_date"):
        if isinstance(v, dt.datetime):
            return v.date()
        if isinstance(v, dt.date):
            return v
        return dt.date.fromisoformat(str(v))
    if kind == "int":
        f = float(v)
        if f != int(f):
            raise ValueError("not a whole number")
        return int(f)
    if kind == "float":
        return float(v)
    if kind == "bool":
        if isinstance(v, bool):
            return v
        text = str(v).strip().lower()
        if text in ("1", "true", "yes", "y"):
            return True
        if text in ("0", "false", "no", "n"):
            return False
        raise ValueError("expected yes/no")
    if kind == "disease":
        if v not in DISEASES:
            raise ValueError(f"expected one of {', '.join(DISEASES)} (recode the choice codes)")
        return v
    if kind == "category":
        if v not in AE_CATEGORIES:
            raise ValueError(f"expected one of {', '.join(AE_CATEGORIES)}")
        return v
    if kind == "grade":
        g = _coerce("int", v)
        if not 1 <= g <= 5:
            raise ValueError("a grade is 1 to 5")
        return g
    return str(v) if not isinstance(v, str) else v


def map_records(
    tables: Mapping[str, pl.DataFrame],
    mapping: RecordMapping,
    *,
    record_id: str | None = None,
    with_origin: bool = False,
    skipped: list[tuple[str, Problem]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Apply a validated mapping to tidy REDCap tables → lists of record dicts per record type.

    With ``with_origin=True`` each dict also has ``_origin``: ``{"instrument", "row"`` (1-based
    row of the tidy instrument table), ``"record", "event", "instance", "part"}`` (``part``: see
    :func:`block_parts`) for error messages and source keys.

    With a ``skipped`` list, a row with a problem gives no record of that block: its
    ``(record type, problem)`` pairs are appended to ``skipped`` instead of raised (skip mode).

    Raises
    ------
    InvalidInputError
        A value the mapping cannot place (choice code without a recode, grade out of 1–5, …),
        as ``row N, column <instrument>.<field>: value V: record R: reason``.
    """
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in RECORD_TYPES}
    problems: list[Problem] = []
    for block, part in zip(mapping.blocks, block_parts(mapping), strict=True):
        table = tables.get(block.instrument)
        if table is None:
            continue
        rid = record_id or table.columns[0]
        for n, row in enumerate(table.iter_rows(named=True), start=1):
            before = len(problems)
            mapped = _map_row(block, row, n, rid, problems)
            if skipped is not None and len(problems) > before:
                skipped.extend((block.record_type, p) for p in problems[before:])
                del problems[before:]
                continue
            if with_origin:
                origin = {
                    "instrument": block.instrument,
                    "row": n,
                    "record": row.get(rid),
                    "event": row.get(KEY_EVENT),
                    "instance": row.get(KEY_INSTANCE),
                    "part": part,
                }
                mapped = [{**m, "_origin": origin} for m in mapped]
            out[block.record_type].extend(mapped)
    if problems:
        raise InvalidInputError(problems)
    return out


def block_parts(mapping: RecordMapping) -> list[int]:
    """Per block, how many blocks before it map the same instrument to the same record type (0 for
    the first): two medication blocks of one instrument (``drug_1``, ``drug_2`` columns) give two
    records per instance, told apart in their source key by this number.

    >>> b = Block("medication", "meds", {})
    >>> block_parts(RecordMapping((b, Block("lab", "meds", {}), b)))
    [0, 0, 1]
    """
    seen: dict[tuple[str, str], int] = {}
    parts = []
    for block in mapping.blocks:
        key = (block.record_type, block.instrument)
        parts.append(seen.get(key, 0))
        seen[key] = parts[-1] + 1
    return parts


def _map_row(block: Block, row: Mapping[str, Any], n: int, rid: str, problems: list[Problem]) -> list[dict[str, Any]]:
    kinds = RECORD_TYPES[block.record_type]

    def get(name: str, src: Source, kind: str) -> Any:
        try:
            return _coerce(kind, _value(row, src))
        except KeyError as err:
            problems.append(
                Problem(
                    n,
                    f"{block.instrument}.{src.column}",
                    str(err.args[0]),
                    f"record {row.get(rid)}: code has no recode for {block.record_type}.{name}",
                )
            )
        except ValueError as err:
            problems.append(
                Problem(
                    n,
                    f"{block.instrument}.{src.column or name}",
                    str(row.get(src.column or "", src.constant)),
                    f"record {row.get(rid)}: {block.record_type}.{name}: {err}",
                )
            )
        return None

    base = {name: get(name, src, kinds[name]) for name, src in block.fields.items()}
    for name in kinds:
        base.setdefault(name, None)
    if block.record_type == "lab":
        records = []
        for a in block.analytes:
            src = Source(column=a["field"], scale=a.get("scale"))
            value = get("value", src, "float")
            if value is None:
                continue
            records.append(
                {
                    **base,
                    "analyte": a["analyte"],
                    "value": value,
                    "unit": a.get("unit"),
                    "lln": a.get("lln"),
                    "uln": a.get("uln"),
                }
            )
        return records
    if block.record_type == "assessment":
        items = {code: _plain(_value_safe(row, src)) for code, src in block.items.items()}
        if all(v is None for v in items.values()):
            return []
        return [{**base, "items": items}]
    if all(v is None for k, v in base.items() if k != "patient_id"):
        return []
    return [base]


def _value_safe(row: Mapping[str, Any], src: Source) -> Any:
    try:
        return _value(row, src)
    except KeyError:
        return row.get(src.column or "")


def _plain(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    return v


# --------------------------------------------------------------------------------------------
# Column-wise mapping: the same records as map_records, as one DataFrame per block
# --------------------------------------------------------------------------------------------

#: Origin columns of :func:`map_frames` (what ``_origin`` holds in :func:`map_records`).
ORIGIN = ("__instrument", "__row", "__record", "__event", "__instance", "__part")
#: The polars dtype of each value kind, as :func:`_coerce` returns it.
_KIND_DTYPES = {
    "text": "String",
    "disease": "String",
    "category": "String",
    "date": "Date",
    "partial_date": "Date",  # a text column of partial dates takes the row path
    "int": "Int64",
    "grade": "Int64",
    "float": "Float64",
    "bool": "Boolean",
}


#: Text that float() reads as polars does (ASCII digits only: float() also takes " 1", "1_0", "٣").
_DIGITS = r"^[+-]?[0-9]{1,15}$"
_DECIMAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


class _RowPath(Exception):
    """This block (or value) needs :func:`map_records`: a source it does not map column-wise, or
    a value that :func:`map_records` reports as a problem (it words every one)."""


def map_frames(
    tables: Mapping[str, pl.DataFrame], mapping: RecordMapping, *, record_id: str | None = None
) -> dict[str, list[pl.DataFrame]] | None:
    """:func:`map_records` column-wise: per record type, one DataFrame per mapping block.

    Each frame holds the record dicts :func:`map_records` would give (``to_dicts()`` gives them
    back: same keys, values and order; assessment items as a struct column ``items``) plus the
    origin columns :data:`ORIGIN` (``with_origin=True``'s ``_origin``).

    Returns None where :func:`map_records` must do the job: a source this function does not map
    column-wise (a recode of a number or date column, text parsed as a date or number, items
    with recode or scale, ...) or any value :func:`map_records` reports as a problem; calling it
    then gives the records or the problems, worded as always.
    """
    out: dict[str, list[pl.DataFrame]] = {t: [] for t in RECORD_TYPES}
    try:
        for block, part in zip(mapping.blocks, block_parts(mapping), strict=True):
            table = tables.get(block.instrument)
            if table is not None:
                out[block.record_type].append(_block_frame(block, table, record_id or table.columns[0], part))
    except _RowPath:
        return None
    return out


def _block_frame(block: Block, table: pl.DataFrame, rid: str, part: int = 0) -> pl.DataFrame:
    import polars as pl

    kinds = RECORD_TYPES[block.record_type]
    n = table.height
    fields = {name: _mapped(table, src, kinds[name]).alias(name) for name, src in block.fields.items()}
    for name, kind in kinds.items():
        if name not in fields:
            fields[name] = pl.Series(name, [None] * n, dtype=getattr(pl, _KIND_DTYPES[kind]))
    origin = [
        pl.Series("__instrument", [block.instrument] * n, dtype=pl.String),
        pl.Series("__row", range(1, n + 1), dtype=pl.Int64),
        table[rid].alias("__record"),
        _column(table, KEY_EVENT).alias("__event"),
        _column(table, KEY_INSTANCE).alias("__instance"),
        pl.Series("__part", [part] * n, dtype=pl.Int64),
    ]
    frame = pl.DataFrame([*fields.values(), *origin])
    if block.record_type == "lab":
        return _lab_frame(block, table, frame)
    if block.record_type == "assessment":
        items = pl.DataFrame([_item(table, src).alias(code) for code, src in block.items.items()], height=n)
        if not items.width:
            return frame.clear()
        present = items.select(pl.any_horizontal(pl.all().is_not_null())).to_series()
        return frame.with_columns(items.to_struct("items")).filter(present)
    others = [c for c in kinds if c != "patient_id"]
    return frame.filter(pl.any_horizontal(pl.col(c).is_not_null() for c in others)) if others else frame.clear()


def _lab_frame(block: Block, table: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    """One row per (source row, analyte) with a value, in source-row order then analyte order."""
    import polars as pl

    parts = []
    for j, a in enumerate(block.analytes):
        value = _mapped(table, Source(column=a["field"], scale=a.get("scale")), "float")
        constants = {k: a.get(k) for k in ("analyte", "unit", "lln", "uln")}
        if not (
            isinstance(constants["analyte"], str)
            and type(constants["unit"]) in (str, type(None))
            and all(type(constants[k]) in (int, float, type(None)) for k in ("lln", "uln"))
        ):
            raise _RowPath  # a constant the model refuses or converts: map_records keeps it as it is
        parts.append(
            frame.with_columns(
                pl.lit(constants["analyte"], dtype=pl.String).alias("analyte"),
                value.alias("value"),
                pl.lit(constants["unit"], dtype=pl.String).alias("unit"),
                # limits as the model stores them (float); an int limit is never a problem
                *(pl.lit(constants[k], dtype=pl.Float64).alias(k) for k in ("lln", "uln")),
                pl.lit(j, dtype=pl.Int64).alias("__analyte"),
            ).filter(pl.col("value").is_not_null())
        )
    if not parts:
        return frame.clear()
    labs = pl.concat(parts, how="vertical")
    return labs.sort("__row", "__analyte", maintain_order=True).drop("__analyte")


def _column(table: pl.DataFrame, name: str) -> pl.Series:
    import polars as pl

    return table[name] if name in table.columns else pl.Series(name, [None] * table.height, dtype=pl.String)


def _mapped(table: pl.DataFrame, src: Source, kind: str) -> pl.Series:
    """The column ``_coerce(kind, _value(row, src))`` gives row by row (raise _RowPath if not sure)."""
    import polars as pl

    dtype = getattr(pl, _KIND_DTYPES[kind])
    if src.column is None:
        try:
            value = _coerce(kind, src.constant)
        except (ValueError, TypeError) as err:
            raise _RowPath from err
        return pl.Series([value] * table.height, dtype=dtype)
    values = _column(table, src.column)
    if src.recode is not None:
        values = _recoded(values, src.recode)
    if src.scale is not None:
        values = _scaled(values, src.scale)
    return _coerced(values, kind).cast(dtype)


def _recoded(values: pl.Series, recode: Mapping[str, Any]) -> pl.Series:
    import polars as pl

    if values.dtype == pl.String:
        keys = values
    elif values.dtype.is_integer():
        keys = values.cast(pl.String)  # str(int) as polars writes it
    elif values.dtype == pl.Boolean:
        keys = values.replace_strict({True: "True", False: "False"}, return_dtype=pl.String)
    elif values.dtype == pl.Null:
        return values
    else:
        raise _RowPath  # str() of a float or date: leave it to map_records
    known = keys.is_in(list(recode)) | keys.is_null()
    types = {type(v) for v in recode.values() if v is not None}
    if not known.all() or len(types) != 1 or not types <= {str, int, float, bool}:
        raise _RowPath  # a code without recode (a problem), or values of mixed or other types
    dtype = {str: pl.String, int: pl.Int64, float: pl.Float64, bool: pl.Boolean}[types.pop()]
    return keys.replace_strict(dict(recode), return_dtype=dtype)


def _scaled(values: pl.Series, scale: Any) -> pl.Series:
    import polars as pl

    try:
        factor = float(scale)
    except (TypeError, ValueError) as err:
        raise _RowPath from err
    if not (values.dtype.is_integer() or values.dtype.is_float() or values.dtype in (pl.Boolean, pl.Null)):
        raise _RowPath  # float() of text parses it: leave it to map_records
    return values.cast(pl.Float64) * factor


def _coerced(values: pl.Series, kind: str) -> pl.Series:  # noqa: C901 - one branch per kind, as _coerce
    import polars as pl

    dtype = values.dtype
    if dtype == pl.Null:
        return values
    if kind == "text":
        if dtype == pl.Boolean:
            return values.replace_strict({True: "True", False: "False"}, return_dtype=pl.String)
        if dtype == pl.String or dtype.is_integer() or dtype == pl.Date:
            return values.cast(pl.String)  # as str(): int digits, ISO dates
    elif kind in ("date", "partial_date"):
        if dtype == pl.Date:
            return values
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None and kind == "date":
            return values.dt.date()
    elif kind in ("int", "grade"):
        whole = _whole(values)
        if kind == "grade" and not whole.is_between(1, 5).fill_null(True).all():
            raise _RowPath
        return whole
    elif kind == "float":
        if dtype.is_integer() or dtype.is_float() or dtype == pl.Boolean:
            return values.cast(pl.Float64)
        if dtype == pl.String and values.str.contains(_DECIMAL).fill_null(True).all():
            return values.cast(pl.Float64)  # float() of plain decimal text, correctly rounded as polars
    elif kind == "bool":
        if dtype == pl.Boolean:
            return values
        if dtype.is_integer() and values.is_in([0, 1]).fill_null(True).all():
            return values == 1  # str(v) is "1" or "0"
    elif kind in ("disease", "category"):
        allowed = DISEASES if kind == "disease" else AE_CATEGORIES
        if dtype == pl.String and (values.is_in(list(allowed)) | values.is_null()).all():
            return values
    raise _RowPath


def _whole(values: pl.Series) -> pl.Series:
    """Whole numbers as Int64 (``_coerce(int)``), or _RowPath where a value is not one."""
    import polars as pl

    if values.dtype == pl.Boolean:
        return values.cast(pl.Int64)
    if values.dtype.is_integer():
        # _coerce goes through float(): exact below 2^53 only
        if (values.abs() < 2**53).fill_null(True).all():
            return values.cast(pl.Int64)
        raise _RowPath
    if values.dtype == pl.String and values.str.contains(_DIGITS).fill_null(True).all():
        values = values.cast(pl.Int64)  # float() of plain digits (a choice code): the integer
        if (values.abs() < 2**53).fill_null(True).all():
            return values
        raise _RowPath
    if values.dtype.is_float():
        ok = values.is_finite() & (values == values.floor()) & (values.abs() < 2.0**53)
        if ok.fill_null(True).all():
            return values.cast(pl.Int64)
    raise _RowPath


def _item(table: pl.DataFrame, src: Source) -> pl.Series:
    """An assessment item as ``_plain(_value_safe(row, src))`` gives it: as recorded, booleans as 0/1."""
    import polars as pl

    if src.column is None:
        value = _plain(src.constant)
        if value is not None and type(value) not in (str, int, float):
            raise _RowPath
        return pl.Series([value] * table.height)
    if src.recode is not None or src.scale is not None:
        raise _RowPath
    values = _column(table, src.column)
    return values.cast(pl.Int64) if values.dtype == pl.Boolean else values
