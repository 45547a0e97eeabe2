"""Contract tests over the whole registry of indices (STYLE.md rule 7).

Every index: has a source, documented columns and outputs, a docstring with an example; refuses an
out-of-range value with the contract's wording; and, for wide indices, its scalar form equals
its vectorised form on random valid tables.
"""

from __future__ import annotations

import inspect
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import remission
from remission.errors import MissingColumnsError
from remission.indices import registry
from remission.indices._base import Column, IndexDefinition, check_header

INDICES = list(registry().values())
WIDE = [d for d in INDICES if d.layout == "wide"]


def cell(column: Column) -> st.SearchStrategy[Any]:
    if column.kind == "bool":
        return st.sampled_from([0, 1, None])
    if column.kind == "category":
        return st.sampled_from([*column.choices, None])
    if column.kind in ("int", "float"):
        low = column.minimum if column.minimum is not None else 0.0
        high = column.maximum if column.maximum is not None else low + 1000.0
        if column.exclusive_minimum:
            low += 1e-3
        if column.kind == "int":
            return st.one_of(st.none(), st.integers(int(low), int(high)))
        return st.one_of(st.none(), st.floats(low, high, allow_nan=False).map(lambda v: round(v, 3)))
    return st.sampled_from(["a", "b", None])


@pytest.mark.parametrize("definition", INDICES, ids=[d.name for d in INDICES])
def test_index_is_documented(definition: IndexDefinition) -> None:
    module = inspect.getmodule(definition.compute)
    assert (module is not None and module.__doc__ and "Source" in module.__doc__) or definition.source
    assert definition.outputs and definition.columns
    assert all(c.code.isidentifier() for c in definition.columns)
    assert 0 < len(definition.version) <= 32  # stored in scores.rule_version, VARCHAR(32)
    assert definition.scalar.__doc__ and ">>>" in definition.scalar.__doc__  # a runnable example


@pytest.mark.parametrize("definition", INDICES, ids=[d.name for d in INDICES])
def test_header_with_every_column_passes_and_one_dropped_is_refused(definition: IndexDefinition) -> None:
    """The header contract (specs README "Header"): a header with every declared column, and one
    with only the needed ones, pass; dropping a needed column with no alternative is an error
    naming it (a hand-picked one per index: the first criterion input of its spec)."""
    dropped = FIRST_NEEDED[definition.name]
    keys = {"patient_id": "P1", "day": "0"} if definition.layout != "wide" else {}
    codes = [c.code for c in definition.all_columns() if c.code not in keys]
    cells = {**{k: [v] for k, v in keys.items()}, **{c: [None] for c in codes}}
    full = pl.DataFrame(cells, schema={c: pl.Utf8 for c in cells})
    remission.score(definition.name, full)
    needed = [k for k in keys] + [a.code for a in check_header(list(keys), definition).absent]
    remission.score(definition.name, full.select(needed))
    pattern = f"no column `{dropped}` in the header \\(an input of {definition.name}\\)"
    with pytest.raises(MissingColumnsError, match=pattern):
        remission.score(definition.name, full.select(needed).drop(dropped))


#: For each index, an input its spec makes a criterion (so never optional in a header).
FIRST_NEEDED = {
    "bilag2004": "bilag_renal",
    "criss": "mrss",
    "crs": "hypotension",
    "doris": "pga",
    "eustar-ai": "dlco_pct_pred",
    "icaht": "anc_10e9_l",
    "icans": "consciousness",
    "ice": "ice_naming",
    "lldas": "prednisone_mg_day",
    "mrss": "mrss_face",
    "myositis-tis": "haq_di",
    "regimen": "weight_kg",
    "sledai2k": "seizure",
    "sri4": "treatment_failure",
}


@pytest.mark.parametrize("definition", INDICES, ids=[d.name for d in INDICES])
def test_out_of_range_value_is_refused_with_row_column_value(definition: IndexDefinition) -> None:
    bounded = next((c for c in definition.columns if c.maximum is not None), None)
    if bounded is None:
        pytest.skip("no bounded numeric column")
    row: dict[str, Any] = {"patient_id": "P1", "day": 0} if definition.layout != "wide" else {}
    row[bounded.code] = str(bounded.maximum * 10 + 10)
    with pytest.raises(remission.InvalidInputError, match=f"row 1, column {bounded.code}: value "):
        remission.score(definition.name, pl.DataFrame([row]), allow_missing_columns=True)


@pytest.mark.parametrize("definition", WIDE, ids=[d.name for d in WIDE])
def test_scalar_equals_vectorised_on_random_tables(definition: IndexDefinition) -> None:
    rows_strategy = st.lists(
        st.fixed_dictionaries({c.code: cell(c) for c in definition.columns}), min_size=1, max_size=8
    )

    @given(rows_strategy)
    def check(rows: list[dict[str, Any]]) -> None:
        table = pl.DataFrame(rows, infer_schema_length=None)
        try:
            out = remission.score(definition.name, table)
        except remission.InvalidInputError:
            return  # a combination the index refuses as a whole (documented cross-field rule)
        for row, got in zip(rows, out.iter_rows(named=True), strict=True):
            expected = definition.scalar(row).values
            for key, value in expected.items():
                if isinstance(value, float) and got[key] is not None:
                    assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
                else:
                    assert got[key] == value, key

    check()
