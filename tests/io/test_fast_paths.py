"""Each column-wise shortcut of the import against the row-by-row code it stands in for.

* the REDCap records reader: Arrow on plain CSV, Python's csv module otherwise — same table or the
  same error on random texts (quotes, commas, line breaks, ragged rows);
* :func:`remission.io.mapping.map_frames` against :func:`map_records` on the example project;
* the column-wise record checks (:mod:`remission.io.columnar`) against the domain models and the
  per-record validation: a row they accept is one the per-record path stores unchanged;
* the duplicate finder and the items JSON against polars' ``is_duplicated`` and ``json.dumps``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import remission.io.redcap as redcap
from remission.errors import InvalidInputError
from remission.io import columnar
from remission.io.importing import DAY_FIELDS, ImportBatch, _validate
from remission.io.mapping import load_mapping, map_frames, map_records
from remission.io.redcap import load_dictionary, read_records, tidy_redcap

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "remission" / "io" / "examples" / "car_t_trial"
DICTIONARY = load_dictionary(io.StringIO("field_name,form_name,field_type\nrecord_id,f,text\na,f,text\nb,f,text\n"))


def read_both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    def outcome() -> Any:
        try:
            return read_records(io.StringIO(text), DICTIONARY).to_dict(as_series=False)
        except InvalidInputError as err:
            return str(err)

    fast = outcome()
    with monkeypatch.context() as m:
        m.setattr(redcap, "_read_plain_csv", lambda text, dictionary: None)
        slow = outcome()
    return fast, slow


CELL = st.text(alphabet=st.sampled_from(['"', ",", "\n", "\r", " ", "x", "é", "1"]), max_size=4)


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    rows = draw(st.lists(st.lists(CELL, min_size=0, max_size=4), max_size=6))
    quoted = draw(st.booleans())
    lines = ["record_id,a,b"]
    for row in rows:
        if quoted:
            buffer = io.StringIO()
            import csv

            csv.writer(buffer, lineterminator="\n").writerow(row)
            lines.append(buffer.getvalue().removesuffix("\n"))
        else:
            lines.append(",".join(row))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    return ending.join(lines) + draw(st.sampled_from(["", ending]))


@given(text=csv_texts())
def test_records_reader_paths_agree_on_random_csv(text: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, slow = read_both(text, monkeypatch)
    assert fast == slow


@pytest.mark.parametrize(
    "text",
    [
        'record_id,a,b\n1,"x,y","say ""hi"""\n2,,\n\n,,\n3,é,\n',  # quoted cells, empty rows, UTF-8
        "record_id,a,b\r\n1,x,y\r\n",  # CRLF
        "record_id,a,b\n",  # header only
    ],
    ids=["quoted", "crlf", "header-only"],
)
def test_plain_csv_takes_the_arrow_reader(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert redcap._read_plain_csv(text, DICTIONARY) is not None
    fast, slow = read_both(text, monkeypatch)
    assert fast == slow


@pytest.mark.parametrize(
    "text",
    [
        'record_id,a,b\n1,"two\nlines",y\n',
        "record_id,a,b\n1,x\n",
        'record_id,a,b\n1,x"y,z\n',
        "\nrecord_id,a,b\n1,x,y\n",
    ],
    ids=["newline-in-cell", "short-row", "stray-quote", "leading-blank-line"],
)
def test_other_csv_takes_the_csv_module(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert redcap._read_plain_csv(text, DICTIONARY) is None
    fast, slow = read_both(text, monkeypatch)
    assert fast == slow


# --------------------------------------------------------------------------------------------


def frames_as_records(frames: dict[str, list[pl.DataFrame]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for rtype, parts in frames.items():
        out[rtype] = []
        for frame in parts:
            for row in frame.to_dicts():
                origin = {k: row.pop(f"__{k}") for k in ("instrument", "row", "record", "event", "instance", "part")}
                out[rtype].append({**row, "_origin": origin})
    return out


MAPPINGS = {
    "example": (EXAMPLE / "mapping.yaml").read_text(encoding="utf-8"),
    "constants-and-scale": """
records:
  patient:
    instrument: enrolment
    fields:
      patient_id: {field: record_id}
      site_id: {value: ERL}
      disease: {value: SLE}
      sex: {field: sex_label}
      birth_year: {field: birth_year, scale: 1}
  lab:
    instrument: labs
    fields: {patient_id: {field: record_id}, date: {field: lab_date}}
    analytes:
      - {analyte: c3_mg_l, field: lab_c3, unit: mg/L, scale: 1000, lln: 900}
      - {analyte: plt, field: lab_plt, unit: 10^9/L}
  adverse_event:
    instrument: adverse_events
    fields:
      patient_id: {field: record_id}
      term: {field: ae_category_label}
      category: {value: other}
      grade: {field: ae_grade}
      onset_date: {field: ae_onset}
      serious: {field: ae_signs___a}
""",
}


@pytest.mark.parametrize("name", list(MAPPINGS))
def test_map_frames_gives_the_records_of_map_records(name: str) -> None:
    dictionary = load_dictionary(EXAMPLE / "dictionary.csv")
    mapping = load_mapping(MAPPINGS[name], dictionary)
    tidy = tidy_redcap(EXAMPLE / "records.csv", dictionary)
    frames = map_frames(tidy.tables, mapping, record_id=tidy.record_id)
    assert frames is not None
    want = map_records(tidy.tables, mapping, record_id=tidy.record_id, with_origin=True)
    got = frames_as_records(frames)
    for rtype, records in want.items():
        # limits (lln, uln) come out as floats, as the model stores them; the rest is the same
        assert [{**r, **{k: float(r[k]) for k in ("lln", "uln") if r.get(k) is not None}} for r in records] == got[
            rtype
        ]


def test_map_frames_leaves_problems_to_map_records() -> None:
    dictionary = load_dictionary(EXAMPLE / "dictionary.csv")
    old = 'recode: {"1": ERL, "2": HEI, "3": PAR}'
    assert old in MAPPINGS["example"]
    mapping = load_mapping(MAPPINGS["example"].replace(old, 'recode: {"1": ERL, "2": HEI}'), dictionary)
    tidy = tidy_redcap(EXAMPLE / "records.csv", dictionary)
    assert map_frames(tidy.tables, mapping, record_id=tidy.record_id) is None  # IIM-01 is at site 3
    with pytest.raises(InvalidInputError, match=r"code has no recode for patient\.site_id"):
        map_records(tidy.tables, mapping, record_id=tidy.record_id)


# --------------------------------------------------------------------------------------------
# Record checks: accepted ⇒ the per-record validation accepts it and stores the same values

TEXT = st.one_of(
    st.none(),
    st.text(alphabet=st.sampled_from(["a", "Z", "0", "_", "-", ".", " ", "\t", "\x1c", "\u3000", "é"]), max_size=6),
    st.sampled_from(["SLE", "IIM", "SSc", "other", "female", "male", "unknown", "crs", "icans", "x" * 65, "y" * 201]),
)
NUMBER = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e9, 1e9 + 1, -1.0, 1899.0, 2100.0]),
)
INTEGER = st.one_of(st.none(), st.integers(-3, 6), st.sampled_from([1899, 1900, 2100, 2101, 1990, 2**60]))
DATE = st.one_of(st.none(), st.dates(dt.date(2020, 1, 1), dt.date(2020, 12, 31)))
ITEM = st.one_of(st.none(), st.integers(-2, 2), st.floats(allow_nan=True), TEXT, st.booleans())


def column(rule: columnar.Rule, value: Any, name: str) -> pl.Series:
    if isinstance(rule, columnar.TextField):
        return pl.Series(name, [value], dtype=pl.String)
    if isinstance(rule, columnar.NumberField):
        if rule.dtype == "Int64":
            return pl.Series(name, [value], dtype=pl.Int64)
        return pl.Series(name, [value], dtype=pl.Float64)
    if isinstance(rule, columnar.DateField):
        return pl.Series(name, [value], dtype=pl.Date)
    if isinstance(rule, columnar.FlagField):
        return pl.Series(name, [value], dtype=pl.Boolean)
    return pl.Series(name, [value])


def strategy(rule: columnar.Rule) -> st.SearchStrategy[Any]:
    """Values of one field: mostly ones the model accepts (so that accepted rows are common),
    and every kind of edge (None, whitespace, bounds, nan, too long, bad item codes)."""
    return st.one_of(*[valid(rule)] * 7, edges(rule))


def valid(rule: columnar.Rule) -> st.SearchStrategy[Any]:
    if isinstance(rule, columnar.TextField):
        if rule.choices is not None:
            return st.sampled_from(rule.choices)
        if rule.pattern is not None:
            return st.sampled_from(["P1", "SLE-000001", "a.b_c-1"])
        return st.text(alphabet="abcé -", min_size=max(rule.min_length, 1), max_size=8)
    if isinstance(rule, columnar.NumberField):
        low = rule.gt if rule.gt is not None else rule.ge
        if rule.dtype == "Int64":
            return st.integers(int(low) if low is not None else -5, int(rule.le) if rule.le is not None else 5)
        return st.floats(min_value=low, max_value=rule.le, allow_nan=False, exclude_min=rule.gt is not None)
    if isinstance(rule, columnar.DateField):
        return st.dates(dt.date(2020, 1, 1), dt.date(2020, 12, 31))
    if isinstance(rule, columnar.FlagField):
        return st.booleans()
    values = st.one_of(st.integers(0, 3), st.floats(0, 10))
    return st.dictionaries(st.sampled_from(["rash", "pga_0"]), values, min_size=1)


def edges(rule: columnar.Rule) -> st.SearchStrategy[Any]:
    if isinstance(rule, columnar.TextField):
        return TEXT
    if isinstance(rule, columnar.NumberField):
        return INTEGER if rule.dtype == "Int64" else NUMBER
    if isinstance(rule, columnar.DateField):
        return st.none()
    if isinstance(rule, columnar.FlagField):
        return st.none()
    codes = st.sampled_from(["rash", "pga_0", "bad-code", "é"])
    return st.dictionaries(codes, ITEM, min_size=1, max_size=3)


@pytest.mark.parametrize("table", sorted(columnar.RULES))
@given(draws=st.data())
def test_an_accepted_row_is_stored_unchanged_by_the_per_record_path(table: str, draws: st.DataObject) -> None:
    rules = columnar.RULES[table]
    data = {name: draws.draw(strategy(rule), label=name) for name, rule in rules.items()}
    try:
        series = [column(rule, data[name], name) for name, rule in rules.items()]
        frame = pl.DataFrame(series).with_columns(pl.lit("row 1").alias("__where"))
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        return  # a value polars does not hold in that dtype: not a frame a mapping makes
    if not columnar._record_ok(table, frame)[0]:
        return
    record = {k: v for k, v in frame.drop("__where").to_dicts()[0].items()}
    for _, day in DAY_FIELDS.get(table, ()):
        record[day] = 0 if record.get(_date_of(table, day)) is not None else None
    batch = ImportBatch("test")
    batch.add(table, dict(record), "f.csv", "row 1")
    [(_, stored)] = _validate(batch)
    assert not batch.problems and stored
    if table == "patients":
        return  # written through the per-record writer
    kept = columnar._stored(table, frame.with_columns(pl.lit("K").alias(columnar.KEY))).to_dicts()[0]
    for name in rules:
        if name == "items":
            assert json.loads(kept["items"]) == stored["items"]
        else:
            assert kept[name] == stored[name], name
    for name, value in columnar.DEFAULTS[table].items():
        assert stored[name] == value


def _date_of(table: str, day: str) -> str:
    return next(d for d, f in DAY_FIELDS[table] if f == day)


def test_rules_and_defaults_cover_every_model_field() -> None:
    from remission.io.importing import MODELS

    for table, rules in columnar.RULES.items():
        days = {f for _, f in DAY_FIELDS.get(table, ())}
        defaults = set(columnar.DEFAULTS.get(table, {})) if table != "patients" else {"prior_treatments", "synthetic"}
        identity = {"source_key"} if table in columnar.NATURAL_IDENTITY else set()
        assert set(rules) | days | defaults | identity == set(MODELS[table].model_fields), table


# --------------------------------------------------------------------------------------------


@given(keys=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["a", "b"])), max_size=12))
def test_duplicate_rows_as_polars_is_duplicated(keys: list[tuple[int, str]]) -> None:
    frame = pl.DataFrame(keys, schema={"n": pl.Int64, "s": pl.String}, orient="row")
    assert columnar.duplicate_rows(frame).to_list() == frame.is_duplicated().to_list()


FLOAT = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False))
ITEMS = st.fixed_dictionaries({"rash": st.one_of(st.none(), st.integers(-(2**40), 2**40)), "pga": FLOAT, "a_1": FLOAT})


@given(items=st.lists(ITEMS, min_size=1, max_size=5), text=st.booleans())
def test_items_json_is_the_dict_without_missing_items(items: list[dict[str, Any]], text: bool) -> None:
    frame = pl.DataFrame(items, schema={"rash": pl.Int64, "pga": pl.Float64, "a_1": pl.Float64})
    if text:  # a text item takes the general encoder
        frame = frame.with_columns(pl.col("rash").cast(pl.String) + pl.lit(' "q"é'))
    encoded = columnar._items_json(frame.to_struct("items")).to_list()
    for row, got in zip(frame.to_dicts(), encoded, strict=True):
        want = {k: v for k, v in row.items() if v is not None}
        assert json.loads(got) == want
