"""SRI-4 and BICLA: baseline comparison, boundaries, reduction option, missing data, CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import remission
from remission.cli.main import app
from remission.indices import sri4
from remission.indices._sle import SLEDAI_CODES
from remission.indices.bilag2004 import DOMAINS

QUIET = {c: 0 for c in SLEDAI_CODES} | {d: "D" for d in DOMAINS}
# Baseline: SLEDAI-2K 8 (arthritis 4, rash 2, alopecia 2), BILAG musculoskeletal B, pga 1.5.
BASE = {**QUIET, "arthritis": 1, "rash": 1, "alopecia": 1, "pga": 1.5, "bilag_musculoskeletal": "B"}
# Follow-up: arthritis gone (SLEDAI-2K 4, −4), musculoskeletal now C, pga unchanged.
RESPONSE = {**BASE, "arthritis": 0, "bilag_musculoskeletal": "C", "treatment_failure": 0}


def course(now: dict[str, Any], base: dict[str, Any] = BASE) -> pl.DataFrame:
    rows = [{"patient_id": "P1", "day": -7, **base}, {"patient_id": "P1", "day": 180, **now}]
    return pl.DataFrame(rows, infer_schema_length=None)


def follow_up(now: dict[str, Any], base: dict[str, Any] = BASE, **options: Any) -> dict[str, Any]:
    return remission.score("sri4", course(now, base), **options).row(1, named=True)


# Expected by hand from sri4.md (Furie 2009; Wallace 2014): (sri4, bicla, sri4_explain).
CASES = [
    ("responder", RESPONSE, 1, 1, ""),
    (
        "drop_2_fails",
        {**RESPONSE, "arthritis": 1, "rash": 0, "alopecia": 1},
        0,
        1,
        "sledai2k_reduction<4",
    ),
    ("pga_rise_exactly_0.3_fails", {**RESPONSE, "pga": 1.8}, 0, 0, "pga_rise>=0.3"),
    ("pga_rise_0.2_passes", {**RESPONSE, "pga": 1.7}, 1, 1, ""),
    ("new_bilag_a_fails", {**RESPONSE, "bilag_renal": "A"}, 0, 0, "new_bilag_a"),
    ("one_new_bilag_b_passes", {**RESPONSE, "bilag_renal": "B"}, 1, 1, ""),
    (
        "two_new_bilag_b_fail",
        {**RESPONSE, "bilag_renal": "B", "bilag_ophthalmic": "B"},
        0,
        0,
        "new_bilag_b>1",
    ),
    ("bicla_needs_b_improved", {**RESPONSE, "bilag_musculoskeletal": "B"}, 1, 0, ""),
    ("treatment_failure_fails_bicla_only", {**RESPONSE, "treatment_failure": 1}, 1, 0, ""),
    ("e_after_b_counts_as_d", {**RESPONSE, "bilag_musculoskeletal": "E"}, 1, 1, ""),
]


@pytest.mark.parametrize(
    ("now", "expected_sri4", "expected_bicla", "explain"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_sri4_bicla_against_hand_computation_from_furie_2009_and_wallace_2014(
    now: dict[str, Any], expected_sri4: int, expected_bicla: int, explain: str
) -> None:
    got = follow_up(now)
    assert (got["sri4"], got["bicla"], got["sri4_explain"]) == (
        expected_sri4,
        expected_bicla,
        explain,
    )
    scalar = sri4.score_visit(now, BASE)
    assert (scalar["sri4"], scalar["bicla"]) == (expected_sri4, expected_bicla)


@pytest.mark.parametrize(
    ("base_pga", "now_pga", "expected"),
    [(2.0, 2.3, 0), (0.7, 1.0, 0), (0.2, 0.5, 0), (2.4, 2.7, 0), (2.0, 2.29, 1), (1.0, 0.0, 1)],
    ids=["2.0_to_2.3", "0.7_to_1.0", "0.2_to_0.5", "2.4_to_2.7", "2.0_to_2.29", "improved"],
)
def test_sri4_pga_rise_of_exactly_0_3_fails_despite_binary_floats(
    base_pga: float, now_pga: float, expected: int
) -> None:
    # 2.3 - 2.0 == 0.2999999999999998 in binary; "a rise of exactly 0.3 fails" must still hold.
    assert follow_up({**RESPONSE, "pga": now_pga}, {**BASE, "pga": base_pga})["sri4"] == expected


def test_sri4_bicla_empty_without_a_or_b_at_baseline() -> None:
    base = {**BASE, "bilag_musculoskeletal": "C"}
    got = follow_up(RESPONSE, base)
    assert got["sri4"] == 1 and got["bicla"] is None
    assert got["bicla_explain"] == "no_bilag_a_or_b_at_baseline"


def test_sri4_bicla_a_at_baseline_improved_to_b() -> None:
    base = {**BASE, "bilag_renal": "A"}
    assert follow_up({**RESPONSE, "bilag_renal": "B"}, base)["bicla"] == 1
    assert follow_up({**RESPONSE, "bilag_renal": "A"}, base)["bicla"] == 0


@pytest.mark.parametrize(("reduction", "expected"), [(4, 1), (5, 0)], ids=["sri4", "sri5"])
def test_sri4_reduction_option(reduction: int, expected: int) -> None:
    got = follow_up(RESPONSE, reduction=reduction)
    assert got["sri4"] == expected
    assert got["sri4_explain"] == ("" if expected else "sledai2k_reduction<5")


def test_sri4_baseline_rows_and_rows_before_baseline_are_empty() -> None:
    rows = [
        {"patient_id": "P", "day": -30, **BASE},
        {"patient_id": "P", "day": -2, **BASE},
        {"patient_id": "P", "day": 90, **RESPONSE},
        {"patient_id": "Q", "day": 10, **RESPONSE},  # no baseline at all
    ]
    out = remission.score("sri4", pl.DataFrame(rows))
    assert out["sri4"].to_list() == [None, None, 1, None]


def test_sri4_baseline_column_marks_the_baseline() -> None:
    rows = [
        {"patient_id": "P", "day": -30, "baseline": 1, **BASE},
        {"patient_id": "P", "day": -2, "baseline": 0, **{**BASE, "arthritis": 0}},
        {"patient_id": "P", "day": 90, "baseline": 0, **RESPONSE},
    ]
    out = remission.score("sri4", pl.DataFrame(rows))
    # against day -30 (SLEDAI 8 → 4) the fall is 4; day -2 comes after the baseline: empty.
    assert out["sri4"].to_list() == [None, 1, 1]


MISSING = [
    (
        "missing_alopecia_cannot_change_reduction",
        {**RESPONSE, "alopecia": None, "rash": 0},
        1,
        "alopecia",
    ),
    ("missing_arthritis_could_change_it", {**RESPONSE, "arthritis": None}, None, "arthritis"),
    ("missing_pga_is_empty", {**RESPONSE, "pga": None}, None, "pga"),
    ("missing_pga_but_new_a_fails", {**RESPONSE, "pga": None, "bilag_renal": "A"}, 0, "pga"),
    ("missing_domain_could_be_new_a", {**RESPONSE, "bilag_renal": None}, None, "bilag_renal"),
]


@pytest.mark.parametrize(("now", "expected", "missing"), [c[1:] for c in MISSING], ids=[c[0] for c in MISSING])
def test_sri4_missing_three_valued(now: dict[str, Any], expected: int | None, missing: str) -> None:
    got = follow_up(now)
    assert got["sri4"] == expected
    assert got["sri4_missing"] == missing


grade = st.sampled_from(["A", "B", "C", "D", "E", None])


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                **{c: st.sampled_from([0, 0, 1, None]) for c in SLEDAI_CODES},
                "pga": st.sampled_from([0.0, 0.5, 0.8, 1.1, None]),
                **{d: grade for d in DOMAINS},
                "treatment_failure": st.sampled_from([0, 1, None]),
            }
        ),
        min_size=2,
        max_size=2,
    ),
    st.integers(4, 8),
)
def test_sri4_scalar_equals_vectorised(rows: list[dict[str, Any]], reduction: int) -> None:
    base, now = rows
    out = remission.score("sri4", course(now, base), reduction=reduction)
    baseline_row, follow = out.iter_rows(named=True)
    expected = sri4.score_visit(now, base, reduction=reduction).values
    assert {k: follow[k] for k in expected} == expected
    assert all(baseline_row[k] is None for k in sri4.OUTPUTS)


def test_cli_sri4_reduction_5(tmp_path: Path) -> None:
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    course(RESPONSE).write_csv(source)
    args = ["score", "sri4", "--input", str(source), "--output", str(output)]
    result = CliRunner().invoke(app, [*args, "--reduction", "5"])
    assert result.exit_code == 0, result.output
    out = pl.read_csv(output)
    assert out["sri4"].to_list() == [None, 0]
    assert out["sri4_explain"][1] == "sledai2k_reduction<5"


def test_cli_sri4_bad_grade_exits_2(tmp_path: Path) -> None:
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    course({**RESPONSE, "bilag_renal": "F"}).write_csv(source)
    result = CliRunner().invoke(app, ["score", "sri4", "--input", str(source), "--output", str(output)])
    assert result.exit_code == 2
    assert "row 2, column bilag_renal: value F: expected one of A, B, C, D, E" in result.output
    assert not output.exists()
