"""myositis-tis: Aggarwal 2017 points, band edges, juvenile thresholds, IMACS DOI, clinic inputs."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from remission import InvalidInputError, score
from remission.indices import myositis_tis as tis

# Neutral baseline: unchanged at follow-up every CSM scores 0 points.
BASE = {"phga": 10, "ptga": 10, "mmt8": 50, "haq_di": 2, "enzyme": 1000, "extramuscular": 10}


def _frame(rows: list[dict]) -> pl.DataFrame:
    codes = list(dict.fromkeys(k for r in rows for k in r))
    return pl.DataFrame({c: [r.get(c) for r in rows] for c in codes}, strict=False)


def _pair(base: dict, now: dict, **options) -> dict:
    rows = [{"patient_id": "p", "day": -7, **base}, {"patient_id": "p", "day": 180, **now}]
    out = score("myositis-tis", _frame(rows), **options)
    assert out["tis"][0] is None and out["tis_response"][0] is None  # baseline row empty
    return out.row(1, named=True)


# Aggarwal 2017 points applied to the public example cases A–C (../shared/examples).
PUBLISHED = [
    (
        {"phga": 6, "ptga": 7, "mmt8": 120, "haq_di": 1.5, "enzyme": 3000, "extramuscular": 4},
        {"phga": 1, "ptga": 2, "mmt8": 145, "haq_di": 0.5, "enzyme": 150, "extramuscular": 0.5},
        95.0,
        "major",
        1,
    ),
    (
        {"phga": 5, "ptga": 6, "mmt8": 60, "haq_di": 1.0, "enzyme": 800, "extramuscular": 3},
        {"phga": 4, "ptga": 5.5, "mmt8": 63, "haq_di": 0.9, "enzyme": 700, "extramuscular": 2.5},
        47.5,
        "moderate",
        0,
    ),
    (
        {"phga": 3, "ptga": 3, "mmt8": 70, "haq_di": 1.0, "enzyme": 500, "extramuscular": 2},
        {"phga": 5, "ptga": 5, "mmt8": 60, "haq_di": 1.5, "enzyme": 900, "extramuscular": 3},
        0.0,
        "none",
        0,
    ),
]


@pytest.mark.parametrize(("base", "now", "total", "response", "doi"), PUBLISHED, ids=["A", "B", "C"])
def test_tis_against_aggarwal_2017_example(base, now, total, response, doi):
    row = _pair(base, now)
    assert (row["tis"], row["tis_response"], row["imacs_doi"]) == (total, response, doi)


def test_tis_explain_gives_points_and_percent():
    row = _pair(PUBLISHED[1][0], PUBLISHED[1][1])
    # case B by hand: phga 5→4 = 20 % → 15; ptga 6→5.5 = 8.3333 % → 2.5; ...
    assert row["tis_explain"] == (
        "phga=15 (20 %); ptga=2.5 (8.3333 %); mmt8=10 (5 %); haq_di=5 (10 %); "
        "enzyme=2.5 (12.5 %); extramuscular=12.5 (16.6667 %); "
        "imacs_doi: 1 improved ≥ 20 %, 0 worsened ≥ 25 %"
    )


# (CSM, follow-up value from BASE, points) — hand-read from the spec's point table; lower band
# edges exclusive, percent rounded to 4 decimals (10 → 8.5 is exactly 15 %).
EDGES = [
    ("phga", 9.5, 0),
    ("phga", 9.4, 7.5),
    ("phga", 8.5, 7.5),
    ("phga", 8.4, 15),
    ("phga", 7.5, 15),
    ("phga", 7.4, 17.5),
    ("phga", 6, 17.5),
    ("phga", 5.9, 20),
    ("haq_di", 2.5, 0),
    ("ptga", 8.5, 2.5),
    ("ptga", 8.4, 5),
    ("ptga", 7.5, 5),
    ("ptga", 7.4, 7.5),
    ("ptga", 6, 7.5),
    ("ptga", 5.9, 10),
    ("haq_di", 1.9, 0),
    ("haq_di", 1.7, 5),
    ("haq_di", 1.68, 7.5),
    ("haq_di", 1.5, 7.5),
    ("haq_di", 1.2, 7.5),
    ("haq_di", 1.18, 10),
    ("enzyme", 850, 2.5),
    ("enzyme", 840, 5),
    ("enzyme", 750, 5),
    ("enzyme", 740, 7.5),
    ("enzyme", 600, 7.5),
    ("enzyme", 10, 7.5),
    ("extramuscular", 8.5, 7.5),
    ("extramuscular", 8.4, 12.5),
    ("extramuscular", 7.5, 12.5),
    ("extramuscular", 7.4, 15),
    ("extramuscular", 6, 15),
    ("extramuscular", 5.9, 20),
    ("mmt8", 51, 0),
    ("mmt8", 52, 10),
    ("mmt8", 55, 10),
    ("mmt8", 56, 20),
    ("mmt8", 60, 20),
    ("mmt8", 61, 27.5),
    ("mmt8", 65, 27.5),
    ("mmt8", 66, 32.5),
    ("mmt8", 45, 0),
]


@pytest.mark.parametrize(("code", "now", "points"), EDGES, ids=[f"{c}-{v}" for c, v, _ in EDGES])
def test_band_edges(code, now, points):
    row = _pair(BASE, {**BASE, code: now})
    assert row["tis"] == points


def test_exact_fifteen_percent_is_in_the_lower_band():
    # 10 → 8.5 computes as 15.000000000000002 % in binary; rounded it is exactly 15 %.
    row = _pair(BASE, {**BASE, "phga": 8.5})
    assert row["tis_explain"].startswith("phga=7.5 (15 %)")


# TIS by hand: phga 5.9 → 20, extramuscular 5.9 → 20, ptga 9/8/7 → 2.5/5/7.5, mmt8 61 → 27.5.
THRESHOLDS = [
    ({"phga": 5.9, "ptga": 7}, 27.5, "minimal", "none"),
    ({"phga": 5.9, "ptga": 5.9}, 30.0, "minimal", "minimal"),
    ({"phga": 5.9, "extramuscular": 5.9}, 40.0, "moderate", "minimal"),
    ({"phga": 5.9, "extramuscular": 5.9, "ptga": 9}, 42.5, "moderate", "minimal"),
    ({"phga": 5.9, "extramuscular": 5.9, "ptga": 8}, 45.0, "moderate", "moderate"),
    ({"phga": 5.9, "extramuscular": 5.9, "ptga": 5.9}, 50.0, "moderate", "moderate"),
    ({"phga": 5.9, "extramuscular": 5.9, "ptga": 5.9, "haq_di": 1.7}, 55.0, "moderate", "moderate"),
    ({"phga": 5.9, "extramuscular": 5.9, "mmt8": 61}, 67.5, "major", "moderate"),
    ({"phga": 5.9, "extramuscular": 5.9, "mmt8": 61, "ptga": 9}, 70.0, "major", "major"),
]


@pytest.mark.parametrize(("change", "total", "adult", "juvenile"), THRESHOLDS, ids=[str(t[1]) for t in THRESHOLDS])
def test_adult_and_juvenile_thresholds(change, total, adult, juvenile):
    now = {**BASE, **change}
    assert _pair(BASE, now)["tis"] == total
    assert _pair(BASE, now)["tis_response"] == adult
    assert _pair(BASE, now, population="juvenile")["tis_response"] == juvenile


def test_unknown_population_is_an_error():
    with pytest.raises(InvalidInputError, match="option population: value child"):
        _pair(BASE, BASE, population="child")


def test_baseline_zero_scores_zero_points_and_is_flagged():
    row = _pair({**BASE, "extramuscular": 0}, {**BASE, "extramuscular": 0, "phga": 5.9})
    assert row["tis"] == 20.0
    assert "extramuscular=0 (baseline 0: percent undefined)" in row["tis_explain"]


def test_missing_csm_empties_tis_but_not_a_decided_response():
    # known: ptga 10 + mmt8 32.5 + haq 10 + enzyme 7.5 + extramuscular 20 = 80 ≥ 60 whatever phga
    now = {
        "phga": None,
        "ptga": 5.9,
        "mmt8": 66,
        "haq_di": 1.18,
        "enzyme": 10,
        "extramuscular": 5.9,
    }
    row = _pair(BASE, now)
    assert row["tis"] is None
    assert row["tis_response"] == "major"
    assert row["tis_missing"] == "phga"
    assert row["imacs_doi"] == 1  # 5 improved ≥ 20 %, a missing phga cannot undo it
    undecided = _pair(BASE, {**BASE, "phga": None})  # 0 known, up to 20 with phga
    assert undecided["tis_response"] is None
    assert "phga missing" in undecided["tis_explain"]


def test_missing_at_baseline_counts_as_missing():
    row = _pair({**BASE, "haq_di": None}, {**BASE, "phga": 5.9})
    assert row["tis"] is None
    assert row["tis_missing"] == "haq_di"


# IMACS DOI (Rider 2004) by hand from the percents: from DOI_BASE, 4 / 1.6 / 60 are 20 %
# improvements; 6.25 / 1250 / 37.5 are 25 % worsenings.
DOI_BASE = {"phga": 5, "ptga": 5, "mmt8": 50, "haq_di": 2, "enzyme": 1000, "extramuscular": 5}
DOI_CASES = [
    ({"phga": 4, "ptga": 4, "haq_di": 1.6}, 1),  # 3 improved by 20 %
    ({"phga": 4, "ptga": 4}, 0),  # only 2 improved
    ({"phga": 4, "ptga": 4, "haq_di": 1.6, "mmt8": 37.5}, 0),  # MMT-8 worsened by 25 %
    ({"phga": 4, "ptga": 4, "haq_di": 1.6, "mmt8": 38}, 1),  # MMT-8 worsened by 24 % only
    ({"phga": 4, "ptga": 4, "haq_di": 1.6, "enzyme": 1250, "extramuscular": 6.25}, 1),  # 2 worse
    (
        {"phga": 4, "haq_di": 1.6, "mmt8": 60, "ptga": 6.25, "enzyme": 1250, "extramuscular": 6.25},
        0,
    ),
]


@pytest.mark.parametrize(
    ("change", "doi"),
    DOI_CASES,
    ids=["3-up", "2-up", "mmt8-worse", "mmt8-24", "2-worse", "3-worse"],
)
def test_imacs_doi(change, doi):
    assert _pair(DOI_BASE, {**DOI_BASE, **change})["imacs_doi"] == doi


# -- clinic inputs: MMT-8 by group, enzyme choice, CK ------------------------------------------

GROUPS_R = {c: 8 for c in tis.MMT8_CODES if not c.endswith("_l")}  # neck + 7 right = 8 cells
GROUPS_BOTH = {c: 8 for c in tis.MMT8_CODES}  # neck + 14 = 15 cells


def test_mmt8_from_unilateral_groups():
    now = {**{k: v for k, v in BASE.items() if k != "mmt8"}, **GROUPS_R, "mmt8_neck_flexors": 10}
    base = {**{k: v for k, v in BASE.items() if k != "mmt8"}, **GROUPS_R, "mmt8_neck_flexors": 2}
    row = _pair(base, now)
    # baseline 2 + 7·8 = 58, now 10 + 56 = 66: (66 − 58)/58 = 13.7931 % → 20 points
    assert row["tis"] == 20.0
    assert "mmt8=20 (13.7931 %; sum of 8 groups, unilateral 0–80)" in row["tis_explain"]


def test_mmt8_from_bilateral_groups_and_missing_side():
    rest = {k: v for k, v in BASE.items() if k != "mmt8"}
    base = {**rest, **GROUPS_BOTH}  # 120
    now = {**rest, **GROUPS_BOTH, "mmt8_deltoid_r": 10, "mmt8_deltoid_l": 10}  # 124: 3.3333 %
    row = _pair(base, now)
    assert row["tis"] == 10.0
    assert "sum of 15 groups, bilateral 0–150" in row["tis_explain"]
    gap = _pair(base, {**now, "mmt8_biceps_l": None})  # bilateral with one cell missing
    assert gap["tis"] is None and gap["tis_missing"] == "mmt8"


def test_recorded_mmt8_wins_over_groups():
    row = _pair({**BASE, **GROUPS_R}, {**BASE, **GROUPS_R, "mmt8": 66})
    assert row["tis"] == 32.5  # 50 → 66 recorded, the groups (64 = 64) are ignored


def test_mmt8_scale_change_is_an_error():
    rest = {k: v for k, v in BASE.items() if k != "mmt8"}
    with pytest.raises(InvalidInputError, match=r"row 2, column mmt8: .*differs from the baseline"):
        _pair({**rest, **GROUPS_BOTH}, {**rest, **GROUPS_R})


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"mmt8_max": 100}, "column mmt8_max: value 100: expected 80"),
        ({"mmt8_max": 80, "mmt8": 81}, "column mmt8: value 81.0: exceeds mmt8_max = 80"),
        (
            {"mmt8_max": 150, **GROUPS_R},
            "column mmt8_max: value 150: the MMT-8 groups given make a 0–80",
        ),
    ],
    ids=["not-80-or-150", "above-max", "groups-disagree"],
)
def test_mmt8_scale_problems(cells, message):
    with pytest.raises(InvalidInputError, match=message):
        _pair(BASE, {**BASE, **cells})


def _no_enzyme(values: dict) -> dict:
    return {k: v for k, v in values.items() if k != "enzyme"}


def test_most_abnormal_enzyme_at_baseline_is_tracked():
    # CK 360/180 = 2 × ULN, aldolase 30/7.5 = 4 × ULN → aldolase; 30 → 27 = 10 % → 2.5 points
    labs = {"ck_uln_u_l": 180, "aldolase_uln_u_l": 7.5}
    base = {**_no_enzyme(BASE), **labs, "ck_u_l": 360, "aldolase_u_l": 30}
    now = {**_no_enzyme(BASE), **labs, "ck_u_l": 36, "aldolase_u_l": 27}
    row = _pair(base, now)
    assert row["tis"] == 2.5
    assert "enzyme=2.5 (10 %; aldolase_u_l, most abnormal at baseline: 4 × ULN)" in row["tis_explain"]
    assert row["ck_normal"] == 1


def test_single_enzyme_without_uln_is_used():
    row = _pair({**_no_enzyme(BASE), "ldh_u_l": 600}, {**_no_enzyme(BASE), "ldh_u_l": 300})
    assert row["tis"] == 7.5  # 50 % → 7.5
    assert "ldh_u_l, the only enzyme at baseline" in row["tis_explain"]


def test_several_enzymes_with_a_missing_uln_cannot_choose():
    base = {**_no_enzyme(BASE), "ck_u_l": 900, "ck_uln_u_l": 180, "alt_u_l": 80}
    row = _pair(base, {**base, "ck_u_l": 100})
    assert row["tis"] is None
    assert "cannot choose" in row["tis_explain"]


def test_followup_missing_the_chosen_enzyme_is_missing():
    base = {**_no_enzyme(BASE), "ck_u_l": 900, "ck_uln_u_l": 180, "ast_u_l": 80, "ast_uln_u_l": 40}
    row = _pair(base, {**_no_enzyme(BASE), "ast_u_l": 20, "ast_uln_u_l": 40})
    assert row["tis"] is None  # CK (5 × ULN) chosen at baseline, not measured at follow-up
    assert row["tis_missing"] == "enzyme"


@pytest.mark.parametrize(
    ("ck", "uln", "normal"),
    [(150, 180, 1), (180, 180, 1), (181, 180, 0), (None, 180, None)],
    ids=["below", "equal", "above", "missing"],
)
def test_ck_normal(ck, uln, normal):
    rows = [{"patient_id": "p", "day": 0, **BASE, "ck_u_l": ck, "ck_uln_u_l": uln}]
    out = score("myositis-tis", _frame(rows))
    assert out["ck_normal"][0] == normal


# -- properties ------------------------------------------------------------------------------

ten = st.one_of(st.none(), st.floats(0, 10, allow_nan=False).map(lambda x: round(x, 1)))
csms = st.fixed_dictionaries(
    {
        "phga": ten,
        "ptga": ten,
        "extramuscular": ten,
        "mmt8": st.one_of(st.none(), st.integers(0, 80)),
        "haq_di": st.one_of(st.none(), st.sampled_from([0, 0.125, 0.5, 1, 1.25, 2, 3])),
        "enzyme": st.one_of(st.none(), st.integers(0, 5000)),
    }
)


@given(base=csms, now=csms, population=st.sampled_from(["adult", "juvenile"]))
def test_scalar_equals_vectorised(base, now, population):
    row = _pair(base, now, population=population)
    scalar = tis.score_visit(now, base, population=population)
    for code in tis.OUTPUTS:
        assert scalar[code] == row[code], code
    if row["tis"] is not None:
        assert 0 <= row["tis"] <= 100


@given(
    code=st.sampled_from(["phga", "ptga", "haq_di", "extramuscular"]),
    a=st.floats(0, 1),
    b=st.floats(0, 1),
)
def test_tis_never_falls_as_a_measure_improves(code, a, b):
    top = 3 if code == "haq_di" else 10
    worse, better = sorted((a * top, b * top), reverse=True)
    t_worse = _pair(BASE, {**BASE, code: worse})["tis"]
    t_better = _pair(BASE, {**BASE, code: better})["tis"]
    assert t_better >= t_worse
