"""`remission.api.score_rows` (the web API's scoring of JSON rows) gives exactly what the table
path gives — scored rows (values, their types, key order), rejected rows and problems — whether
it takes the scalar forms (a few plain rows) or the table."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remission.api import SCALAR_ROWS, RowsOutcome, rows_to_text_frame, score_rows, score_table
from remission.errors import InvalidInputError
from remission.indices import get_index, registry

WIDE = sorted(name for name, d in registry().items() if d.layout == "wide")

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 120),
    st.sampled_from([0.0, 1.0, 2.5, 37.9, 38.4, 0.25, -1.0, 1000.0]),
    st.sampled_from(["0", "1", " yes", "no", "2", "x", "1,5", "1e1", "A", "B", "E", "adult", "mg/L"]),
)


def by_table(name: str, rows: list[dict[str, Any]], **kwargs: Any) -> RowsOutcome:
    outcome = score_table(name, rows_to_text_frame(rows), **kwargs)
    return RowsOutcome(outcome.scored.to_dicts(), outcome.rejected.to_dicts(), outcome.problems)


def typed(outcome: RowsOutcome) -> list[list[tuple[str, Any, type]]]:
    return [[(k, v, type(v)) for k, v in row.items()] for row in [*outcome.scored, *outcome.rejected]]


@st.composite
def requests(draw: st.DrawFn, name: str) -> list[dict[str, Any]]:
    columns = [c for c in get_index(name).all_columns()]
    codes = draw(st.lists(st.sampled_from([c.code for c in columns]), min_size=1, max_size=10, unique=True))
    choices = {c.code: c.choices for c in columns if c.choices}
    n = draw(st.integers(1, 4))
    rows = []
    for _ in range(n):
        row = {}
        for code in draw(st.lists(st.sampled_from(codes), min_size=1, unique=True)):
            pick = st.sampled_from(choices[code]) if code in choices else st.nothing()
            row[code] = draw(st.one_of(VALUES, pick) if code in choices else VALUES)
        rows.append(row)
    return rows


@pytest.mark.parametrize("name", WIDE)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_scalar_rows_equal_the_table_path(name: str, data: st.DataObject) -> None:
    rows = data.draw(requests(name))
    kwargs = {"missing": data.draw(st.sampled_from(["empty", "absent"])), "explain": data.draw(st.booleans())}
    try:
        expected = by_table(name, rows, **kwargs)
    except InvalidInputError as table_error:
        with pytest.raises(InvalidInputError) as raised:
            score_rows(name, rows, **kwargs)
        assert raised.value.problems == table_error.problems
        return
    got = score_rows(name, rows, **kwargs)
    assert got.problems == expected.problems
    assert typed(got) == typed(expected)


def test_one_plain_sledai_row_takes_the_scalar_form(monkeypatch: pytest.MonkeyPatch) -> None:
    import remission.api as api

    def no_table(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the table path was taken")

    monkeypatch.setattr(api, "score_table", no_table)
    out = score_rows("sledai2k", [{"seizure": 1, "rash": True, "fever": 0}], missing="absent")
    assert out.scored[0]["sledai2k"] == 10 and out.scored[0]["rash"] == "1"
    assert out.scored[0]["sledai2k_explain"] == "seizure=8; rash=2"


def test_many_rows_take_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"seizure": 1}] * (SCALAR_ROWS + 1)
    out = score_rows("sledai2k", rows, missing="absent", explain=False)
    assert [r["sledai2k"] for r in out.scored] == [8] * len(rows)
    assert "sledai2k_explain" not in out.scored[0]


def test_an_option_is_passed_to_the_scalar_form() -> None:
    row = {
        "clinical_sledai": 0,
        "pga": 0.4,
        "prednisone_mg_day": 5,
        "antimalarial": 1,
        "immunosuppressant": 0,
        "biologic": 0,
    }
    strict = score_rows("doris", [row], prednisone_strict=True)
    default = score_rows("doris", [row])
    assert typed(strict) == typed(by_table("doris", [row], prednisone_strict=True))
    assert typed(default) == typed(by_table("doris", [row]))
