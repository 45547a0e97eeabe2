"""DORIS 2021 remission: public examples, boundaries, options, missing data, scalar/vector."""

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
from remission.indices import doris
from remission.indices._sle import SLEDAI_CODES
from sharedpaths import EXAMPLES, needs

FLAGS = ["doris_remission", "doris_complete_remission", "drug_free_remission"]
QUIET = {c: 0 for c in SLEDAI_CODES}
NO_DRUGS = {
    "pga": 0.0,
    "prednisone_mg_day": 0.0,
    "antimalarial": 0,
    "immunosuppressant": 0,
    "biologic": 0,
}


def visit(**changes: Any) -> dict[str, Any]:
    return {**QUIET, **NO_DRUGS, **changes}


@needs(EXAMPLES)
def test_doris_against_public_examples() -> None:
    # Oracle: ../shared/examples/doris_expected.csv (hand-computed from the spec).
    expected = pl.read_csv(EXAMPLES / "doris_expected.csv")
    out = remission.score("doris", EXAMPLES / "doris_in.csv")
    got = out.select("case", *[pl.col(c).cast(pl.Int64) for c in FLAGS])
    assert got.to_dicts() == expected.to_dicts()


# Expected flags by hand from doris.md (remission, complete, drug-free) and the failed label.
CASES = [
    ("pga_0.5_fails", visit(pga=0.5), (0, 0, 0), "pga>=0.5"),
    ("pga_0.49_passes", visit(pga=0.49), (1, 1, 1), ""),
    ("prednisone_5.0_passes", visit(prednisone_mg_day=5.0), (1, 0, 0), ""),
    ("prednisone_5.01_fails", visit(prednisone_mg_day=5.01), (0, 0, 0), "prednisone>5"),
    (
        "pga_and_prednisone_fail",
        visit(pga=1.0, prednisone_mg_day=7.5),
        (0, 0, 0),
        "pga>=0.5; prednisone>5",
    ),
    ("arthritis_breaks_clinical_sledai", visit(arthritis=1), (0, 0, 0), "clinical_sledai>0"),
    ("serology_only_is_remission", visit(low_complement=1, increased_dna_binding=1), (1, 0, 1), ""),
    ("hcq_not_drug_free", visit(antimalarial=1), (1, 1, 0), ""),
    ("biologic_blocks_complete", visit(biologic=1), (1, 0, 0), ""),
    (
        "immunosuppressant_blocks_complete",
        visit(immunosuppressant=1, prednisone_mg_day=2.5),
        (1, 0, 0),
        "",
    ),
    # lab derivation of sledai2k.md: proteinuria 1.2 g/24 h > 0.5 makes clinical SLEDAI 4
    (
        "derived_proteinuria",
        visit(proteinuria=None, proteinuria_g_24h=1.2),
        (0, 0, 0),
        "clinical_sledai>0",
    ),
    (
        "derived_low_c3_is_serology",
        visit(low_complement=None, c3_g_l=0.5, c3_lln_g_l=0.9),
        (1, 0, 1),
        "",
    ),
]


@pytest.mark.parametrize(("row", "flags", "failed"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_doris_against_hand_computation_from_spec(row: dict[str, Any], flags: tuple[int, ...], failed: str) -> None:
    out = remission.score("doris", pl.DataFrame([row]))
    assert tuple(out.select(FLAGS).row(0)) == flags
    assert out["doris_failed"][0] == failed
    assert tuple(doris.score_visit(row)[f] for f in FLAGS) == flags


# Three-valued logic of the spec README: 0 when a known criterion fails, empty when it depends.
MISSING = [
    ("pred_7.5_pga_missing_is_0", visit(pga=None, prednisone_mg_day=7.5), (0, 0, 0), "pga"),
    ("pga_missing_else_fine_is_empty", visit(pga=None), (None, None, None), "pga"),
    ("clinical_item_missing_is_empty", visit(rash=None), (None, None, None), "rash"),
    ("clinical_item_missing_but_arthritis", visit(rash=None, arthritis=1), (0, 0, 0), "rash"),
    (
        "low_complement_missing_only_complete",
        visit(low_complement=None),
        (1, None, 1),
        "low_complement",
    ),
    ("antimalarial_missing_only_drug_free", visit(antimalarial=None), (1, 1, None), "antimalarial"),
    ("prednisone_missing", visit(prednisone_mg_day=None), (None, None, None), "prednisone_mg_day"),
    (
        "biologic_missing_but_on_mmf",
        visit(biologic=None, immunosuppressant=1),
        (1, 0, 0),
        "biologic",
    ),
]


@pytest.mark.parametrize(("row", "flags", "missing"), [c[1:] for c in MISSING], ids=[c[0] for c in MISSING])
def test_doris_missing_inputs_three_valued(row: dict[str, Any], flags: tuple[Any, ...], missing: str) -> None:
    out = remission.score("doris", pl.DataFrame([row], schema_overrides={"pga": pl.Float64}))
    assert tuple(out.select(FLAGS).row(0)) == flags
    assert out["doris_missing"][0] == missing


def test_doris_missing_absent_scores_missing_descriptors_as_absent() -> None:
    out = remission.score("doris", pl.DataFrame([visit(rash=None)]), missing="absent")
    assert out["doris_remission"][0] == 1


def test_doris_allow_antimalarial_option() -> None:
    # hydroxychloroquine only: drug-free only when antimalarials are allowed (doris.md option).
    table = pl.DataFrame([visit(antimalarial=1), visit(antimalarial=None)])
    plain = remission.score("doris", table)
    allowed = remission.score("doris", table, allow_antimalarial=True)
    assert plain["drug_free_remission"].to_list() == [0, None]
    assert allowed["drug_free_remission"].to_list() == [1, 1]


@pytest.mark.parametrize(
    ("options", "expected", "failed"),
    [
        ({}, 1, ""),
        ({"prednisone_strict": True}, 0, "prednisone>=5"),
        ({"prednisone_limit": 7.5}, 1, ""),
        ({"prednisone_limit": 2.5}, 0, "prednisone>2.5"),
    ],
    ids=["default_le_5", "strict_lt_5", "limit_7.5", "limit_2.5"],
)
def test_doris_prednisone_limit_is_a_parameter(options: dict[str, Any], expected: int, failed: str) -> None:
    out = remission.score("doris", pl.DataFrame([visit(prednisone_mg_day=5.0)]), **options)
    assert out["doris_remission"][0] == expected
    assert out["doris_failed"][0] == failed


def test_doris_explain_lists_active_items_and_blocked_definitions() -> None:
    row = visit(arthritis=1, rash=1, immunosuppressant=1)
    assert doris.score_visit(row)["doris_explain"] == (
        "clinical_sledai: arthritis=4, rash=2; complete: immunosuppressant=1; drug_free: immunosuppressant=1"
    )


def test_doris_out_of_range_pga_is_an_error() -> None:
    with pytest.raises(remission.InvalidInputError, match="row 1, column pga: value 4"):
        remission.score("doris", pl.DataFrame([{**visit(), "pga": "4"}]))


flag_or_none = st.sampled_from([0, 1, None])


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                **{c: st.sampled_from([0, 0, 0, 1, None]) for c in SLEDAI_CODES},
                "pga": st.sampled_from([0.0, 0.3, 0.49, 0.5, 1.0, None]),
                "prednisone_mg_day": st.sampled_from([0.0, 2.5, 5.0, 5.01, 7.5, None]),
                "antimalarial": flag_or_none,
                "immunosuppressant": flag_or_none,
                "biologic": flag_or_none,
            }
        ),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_doris_scalar_equals_vectorised(rows: list[dict[str, Any]], allow: bool) -> None:
    out = remission.score("doris", pl.DataFrame(rows, infer_schema_length=None), allow_antimalarial=allow)
    for row, got in zip(rows, out.iter_rows(named=True), strict=True):
        expected = doris.score_visit(row, allow_antimalarial=allow).values
        assert {k: got[k] for k in expected} == expected


def test_doris_remission_is_monotone_in_prednisone() -> None:
    doses = [0.0, 1.0, 4.99, 5.0, 5.01, 10.0, 60.0]
    out = remission.score("doris", pl.DataFrame([visit(prednisone_mg_day=d) for d in doses]))
    flags = out["doris_remission"].to_list()
    assert flags == sorted(flags, reverse=True) == [1, 1, 1, 1, 0, 0, 0]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    pl.DataFrame(rows).write_csv(path)
    return path


def test_cli_doris_allow_antimalarial(tmp_path: Path) -> None:
    source = _write(tmp_path / "in.csv", [visit(antimalarial=1)])
    plain, allowed = tmp_path / "plain.csv", tmp_path / "allowed.csv"
    runner = CliRunner()
    first = runner.invoke(app, ["score", "doris", "--input", str(source), "--output", str(plain)])
    second = runner.invoke(
        app,
        [
            "score",
            "doris",
            "--input",
            str(source),
            "--output",
            str(allowed),
            "--allow-antimalarial",
        ],
    )
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert pl.read_csv(plain)["drug_free_remission"].to_list() == [0]
    assert pl.read_csv(allowed)["drug_free_remission"].to_list() == [1]


def test_cli_doris_bad_value_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    source = _write(tmp_path / "in.csv", [{**visit(), "pga": "x"}])
    output = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["score", "doris", "--input", str(source), "--output", str(output)])
    assert result.exit_code == 2
    assert "row 1, column pga: value x: not a number" in result.output
    assert not output.exists()
