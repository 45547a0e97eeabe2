"""Fuzzing every index of the registry through ``remission.score`` and ``remission score``.

Hostile cells (random unicode, huge and non-finite numbers, empty strings, wrong types), hostile
tables (missing, swapped, duplicated and unknown columns) and hostile files (empty, BOM, Latin-1,
UTF-16, random bytes, ragged rows): the only allowed failure is :class:`InvalidInputError`
(CLI: exit 2 with ``row N, column C: value V: reason`` lines and nothing written).
Anything else (another exception, a traceback, exit 1) is a bug. The example count follows the
hypothesis profile (``ci`` in ``make test``, ``thorough`` in ``make fuzz``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import remission
from remission.cli.main import app
from remission.errors import UnknownColumnsWarning
from remission.indices import registry
from remission.indices._base import IndexDefinition

INDICES = list(registry().values())
IDS = [d.name for d in INDICES]
#: Examples per index and test: a quarter of the profile's count (ci: 15, thorough: 500), so that
#: 15 indices x 6 tests stay within a minute in ``make test``.
PER_INDEX = settings(max_examples=max(10, settings().max_examples // 4))

#: Strings that broke, or could break, a parser: numbers in odd spellings, non-finite values,
#: control characters, SQL and formula injection, very long values.
NASTY = (
    "",
    " ",
    "NA",
    "nan",
    "NaN",
    "-nan",
    "inf",
    "-inf",
    "Infinity",
    "1e309",
    "-1e309",
    "1e-400",
    "9" * 400,
    "-" + "9" * 30,
    "0x1F",
    "1_000",
    "1,5",
    "1.2.3",
    "+-1",
    "٣",
    "½",
    "∞",
    "１",
    "true",
    "YES",
    "\x00",
    "a\nb",
    "\r\n",
    '"',
    "'; DROP TABLE patients; --",
    "=cmd|' /C calc'!A0",
    "\ufeff1",
    "𝟙",
    "1e5",
    "-0",
    "0.5",
    "2147483648",
    "9223372036854775808",
)

nasty_text = st.one_of(st.sampled_from(NASTY), st.text(max_size=12))
nasty_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, -1, 2, 10**6, 1e300, -1e300, math.nan, math.inf, -math.inf]),
)


def column_values(height: int) -> st.SearchStrategy[pl.Series]:
    """One column of a given height with one dtype, as a user's DataFrame could hold it."""

    def series(kind: str, values: list[Any]) -> pl.Series:
        dtype = {"text": pl.Utf8, "float": pl.Float64, "int": pl.Int64, "bool": pl.Boolean}[kind]
        return pl.Series(values, dtype=dtype, strict=False)

    text = st.lists(st.one_of(st.none(), nasty_text), min_size=height, max_size=height).map(lambda v: series("text", v))
    floats = st.lists(
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), min_size=height, max_size=height
    ).map(lambda v: series("float", v))
    ints = st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=height, max_size=height).map(
        lambda v: series("int", v)
    )
    bools = st.lists(st.one_of(st.none(), st.booleans()), min_size=height, max_size=height).map(
        lambda v: series("bool", v)
    )
    odd = st.sampled_from(
        [
            pl.Series([[1, 2]] * height, dtype=pl.List(pl.Int64)),
            pl.Series([{"a": 1}] * height),
            pl.Series([dt.timedelta(days=1)] * height),
            pl.Series([dt.date(2024, 1, 1)] * height),
            pl.Series(["1"] * height, dtype=pl.Categorical),
            pl.Series([None] * height, dtype=pl.Null),
            pl.Series([2**64 - 1] * height, dtype=pl.UInt64),
            pl.Series([math.nan] * height, dtype=pl.Float32),
        ]
    )
    return st.one_of(text, floats, ints, bools, odd)


@st.composite
def hostile_frame(draw: st.DrawFn, definition: IndexDefinition) -> pl.DataFrame:
    """A table with some of the index's columns (maybe renamed, swapped or unknown) and hostile cells."""
    codes = [c.code for c in definition.all_columns()]
    height = draw(st.integers(0, 6))
    chosen = draw(st.lists(st.sampled_from(codes), max_size=min(len(codes), 8), unique=True))
    required = [c.code for c in definition.all_columns() if c.required]
    if draw(st.booleans()):
        chosen = list(dict.fromkeys([*required, *chosen]))
    if len(chosen) >= 2 and draw(st.booleans()):  # swapped columns: values of one under the other's name
        chosen[0], chosen[1] = chosen[1], chosen[0]
    if draw(st.booleans()):
        chosen.append(draw(st.sampled_from(["extra", "Seizure", " day", "patient id", "", "é"])))
    chosen = list(dict.fromkeys(chosen))
    columns = {code: draw(column_values(height)).alias(code) for code in chosen}
    return pl.DataFrame(list(columns.values())) if columns else pl.DataFrame()


def assert_documented_failure(call: Any) -> Any:
    """Run ``call``; pass on success or on InvalidInputError with the contract's wording (an
    UnknownColumnsWarning for a column no input reads is documented behaviour too)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownColumnsWarning)
            return call()
    except remission.InvalidInputError as err:
        assert err.problems, "an InvalidInputError lists at least one problem"
        for problem in err.problems:
            assert re.fullmatch(r"(row \d+, )?column .+: value .*: .+", str(problem), flags=re.S)
        return None


@pytest.mark.parametrize("definition", INDICES, ids=IDS)
def test_score_refuses_hostile_polars_tables_only_with_invalid_input_error(definition: IndexDefinition) -> None:
    @given(hostile_frame(definition), st.sampled_from(["empty", "absent"]), st.booleans())
    @PER_INDEX
    def check(frame: pl.DataFrame, missing: str, explain: bool) -> None:
        out = assert_documented_failure(
            lambda: remission.score(definition.name, frame, missing=missing, explain=explain)
        )
        if out is not None and definition.layout != "per_patient":
            assert out.height == frame.height

    check()


@pytest.mark.parametrize("definition", INDICES, ids=IDS)
def test_score_on_error_skip_never_raises_for_bad_cells(definition: IndexDefinition) -> None:
    @given(hostile_frame(definition))
    @PER_INDEX
    def check(frame: pl.DataFrame) -> None:
        out = assert_documented_failure(lambda: remission.score(definition.name, frame, on_error="skip"))
        if out is not None and definition.layout != "per_patient":
            assert out.height <= frame.height

    check()


@st.composite
def pandas_frame(draw: st.DrawFn, definition: IndexDefinition) -> pd.DataFrame:
    """A pandas table whose object columns mix types (what read_excel or a hand-built dict gives)."""
    codes = [c.code for c in definition.all_columns()]
    chosen = draw(st.lists(st.sampled_from(codes), min_size=1, max_size=6, unique=True))
    height = draw(st.integers(1, 4))
    cell = st.one_of(st.none(), nasty_text, nasty_number, st.booleans())
    data = {code: draw(st.lists(cell, min_size=height, max_size=height)) for code in chosen}
    return pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in data.items()})


@pytest.mark.parametrize("definition", INDICES, ids=IDS)
def test_score_refuses_mixed_type_pandas_tables_only_with_invalid_input_error(definition: IndexDefinition) -> None:
    @given(pandas_frame(definition))
    @PER_INDEX
    def check(frame: pd.DataFrame) -> None:
        assert_documented_failure(lambda: remission.score(definition.name, frame))

    check()


@pytest.mark.parametrize("definition", INDICES, ids=IDS)
def test_options_of_any_value_are_parsed_or_refused(definition: IndexDefinition) -> None:
    names = [o.name for o in definition.options] + ["no_such_option"]
    value = st.one_of(nasty_text, nasty_number, st.booleans(), st.none(), st.lists(st.integers(), max_size=2))
    table = pl.DataFrame({"patient_id": ["P1"], "day": [0]}) if definition.layout != "wide" else pl.DataFrame()

    @given(st.dictionaries(st.sampled_from(names), value, max_size=2))
    @PER_INDEX
    def check(options: dict[str, Any]) -> None:
        assert_documented_failure(lambda: remission.score(definition.name, table, **options))

    check()


@given(
    index=st.one_of(st.text(max_size=10), st.integers(), st.none(), st.lists(st.text(), max_size=1)),
    missing=st.one_of(st.sampled_from(["empty", "absent"]), st.text(max_size=5), st.none(), st.lists(st.none())),
    on_error=st.one_of(st.sampled_from(["raise", "skip"]), st.text(max_size=5), st.none(), st.lists(st.none())),
)
def test_score_arguments_of_wrong_type_are_refused(index: Any, missing: Any, on_error: Any) -> None:
    assert_documented_failure(
        lambda: remission.score(index, pl.DataFrame({"rash": [1]}), missing=missing, on_error=on_error)
    )


@given(
    source=st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2), st.just(b"x"))
)
def test_score_table_argument_of_wrong_type_is_refused(source: Any) -> None:
    assert_documented_failure(lambda: remission.score("sledai2k", source))


# --------------------------------------------------------------------------------------------
# Files, through the API and the CLI
# --------------------------------------------------------------------------------------------

ENCODINGS = ("utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252")


@st.composite
def hostile_csv(draw: st.DrawFn, definition: IndexDefinition) -> bytes:
    """CSV bytes: the index's headers (maybe duplicated), hostile cells, odd encodings, ragged rows."""
    kind = draw(st.sampled_from(["table", "table", "table", "empty", "bytes", "header-only"]))
    if kind == "empty":
        return draw(st.sampled_from([b"", b"\n", b"\xef\xbb\xbf", b"\r\n\r\n", b","]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    codes = [c.code for c in definition.all_columns()]
    header = draw(st.lists(st.sampled_from(codes), min_size=1, max_size=6))  # duplicates allowed
    rows = []
    if kind == "table":
        for _ in range(draw(st.integers(1, 4))):
            width = len(header) if draw(st.integers(0, 5)) else draw(st.integers(0, len(header) + 2))
            cells = draw(st.lists(st.one_of(nasty_text, nasty_number.map(str)), min_size=width, max_size=width))
            rows.append(",".join(_quote(c) for c in cells))
    text = "\n".join([",".join(header), *rows]) + draw(st.sampled_from(["", "\n", "\r\n"]))
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 9)) == 0:  # truncated at a random byte
        data = data[: draw(st.integers(0, len(data)))]
    return data


def _quote(cell: str) -> str:
    if any(ch in cell for ch in ',"\n\r') or cell != cell.strip():
        return '"' + cell.replace('"', '""') + '"'
    return cell


@pytest.mark.parametrize("definition", INDICES, ids=IDS)
def test_score_reads_hostile_csv_files_or_refuses_them(definition: IndexDefinition, tmp_path: Path) -> None:
    @given(hostile_csv(definition))
    @settings(parent=PER_INDEX, suppress_health_check=[HealthCheck.function_scoped_fixture])
    def check(data: bytes) -> None:
        path = tmp_path / "in.csv"
        path.write_bytes(data)
        assert_documented_failure(lambda: remission.score(definition.name, path))

    check()


runner = CliRunner()
LINE = re.compile(r"(row \d+, )?column .+: value .*: .+")


def run_cli(args: list[str]) -> tuple[int, str, BaseException | None]:
    result = runner.invoke(app, args)
    return result.exit_code, result.output, result.exception


@pytest.mark.parametrize("definition", INDICES, ids=IDS)
def test_cli_exits_0_or_2_with_the_contract_wording_on_hostile_files(
    definition: IndexDefinition, tmp_path: Path
) -> None:
    flags = [o.flag for o in definition.options]

    @given(
        hostile_csv(definition),
        st.lists(
            st.one_of(st.sampled_from([*flags, "--nope"]), nasty_text.filter(lambda s: "\x00" not in s)), max_size=2
        ),
        st.sampled_from([[], ["--missing", "absent"], ["--on-error", "skip"], ["--missing", "x"], ["--on-error", "x"]]),
    )
    @settings(
        suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=max(5, settings().max_examples // 6)
    )
    def check(data: bytes, extra: list[str], mode: list[str]) -> None:
        source, target = tmp_path / "in.csv", tmp_path / "out.csv"
        target.unlink(missing_ok=True)
        source.write_bytes(data)
        code, output, exception = run_cli(
            ["score", definition.name, "--input", str(source), "--output", str(target), *mode, *extra]
        )
        assert code in (0, 2), f"exit {code}: {exception!r}\n{output}"
        if code == 2:
            assert not target.exists(), "nothing is written on exit 2"
            lines = [line for line in output.splitlines() if line.strip()]
            assert lines and all(LINE.fullmatch(line) for line in lines), output

    check()
