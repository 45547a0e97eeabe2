"""Kaplan–Meier estimates checked against hand computation.

Product-limit: S(t) = Π (1 − d_i/n_i). Greenwood: Var = S² Σ d/(n(n − d)). lifelines' default CI is
the exponential Greenwood (log(−log)) interval exp(−exp(log(−log S) ± 1.959964·σ)),
σ² = Σ d/(n(n − d)) / (log S)²; the bounds below were worked out with a calculator from these
formulas for the data durations 2, 3, 3+, 5, 8+ (+ = censored).
"""

from __future__ import annotations

import polars as pl
import pytest

from remission.analysis.survival import (
    derive_relapse_free,
    derive_relapses,
    derive_time_to_first,
    kaplan_meier,
    median_time,
)

EVENTS = pl.DataFrame({"duration": [2.0, 3.0, 3.0, 5.0, 8.0], "observed": [1, 1, 0, 1, 0]})


@pytest.mark.parametrize(
    ("day", "at_risk", "survival", "lower", "upper"),
    [
        (0.0, 5, 1.0, 1.0, 1.0),
        # 1 − 1/5 = 0.8; Σ = 1/(5·4) = 0.05
        (2.0, 5, 0.8, 0.203809, 0.969180),
        # 0.8 × (1 − 1/4) = 0.6; Σ = 0.05 + 1/(4·3) = 0.133333
        (3.0, 4, 0.6, 0.125730, 0.881756),
        # the censored patient at 3 leaves: 0.6 × (1 − 1/2) = 0.3; Σ = 0.133333 + 1/(2·1) = 0.633333
        (5.0, 2, 0.3, 0.012302, 0.719218),
        (8.0, 1, 0.3, 0.012302, 0.719218),
    ],
    ids=["day0", "day2", "day3", "day5", "day8-censored"],
)
def test_kaplan_meier_by_hand(day: float, at_risk: int, survival: float, lower: float, upper: float) -> None:
    row = kaplan_meier(EVENTS).filter(pl.col("day") == day).row(0, named=True)
    assert row["at_risk"] == at_risk
    assert row["survival"] == pytest.approx(survival)
    assert row["lower"] == pytest.approx(lower, abs=1e-6)
    assert row["upper"] == pytest.approx(upper, abs=1e-6)


def test_kaplan_meier_at_chosen_days_reads_the_step_function() -> None:
    # S is 0.8 on [2, 3), 0.6 on [3, 5)
    assert kaplan_meier(EVENTS, [1, 2.5, 4])["survival"].to_list() == pytest.approx([1.0, 0.8, 0.6])


def test_median_time_and_not_reached() -> None:
    assert median_time(EVENTS) == 5.0  # first S ≤ 0.5
    assert median_time(pl.DataFrame({"duration": [4.0, 9.0], "observed": [0, 0]})) is None


def test_time_to_first_remission() -> None:
    visits = pl.DataFrame(
        {
            "patient_id": ["A", "A", "A", "B", "B", "C"],
            "day": [-7, 30, 91, 30, 183, 30],
            "remission": [1, 0, 1, 0, None, None],
        }
    )
    # A: baseline remission does not count (day > 0 only) → event at 91; B: censored at 30 (last known
    # flag); C: no known flag → left out
    assert derive_time_to_first(visits, "remission").rows() == [("A", 91.0, 1), ("B", 30.0, 0)]


def test_relapse_free_survival() -> None:
    visits = pl.DataFrame(
        {"patient_id": ["A"] * 4 + ["B"] * 2, "day": [30, 91, 183, 365, 30, 91], "remission": [0, 1, 1, 0, 0, 1]}
    )
    relapses = derive_relapses(visits, "remission")
    assert relapses.rows() == [("A", 91, 365), ("B", 91, None)]
    follow = pl.DataFrame({"patient_id": ["A", "B", "C"], "follow_up_days": [400, 200, 150]})
    deaths = pl.DataFrame({"patient_id": ["C"], "death_day": [120]})
    # A relapses at 365; B censored at 200; C (never assessed) dies at 120: an event
    assert derive_relapse_free(relapses, follow, deaths).rows() == [
        ("A", 365.0, 1),
        ("B", 200.0, 0),
        ("C", 120.0, 1),
    ]


def test_median_time_exact_half_with_float_noise() -> None:
    # Four distinct events among 8 patients: S(91) = 7/8 · 6/7 · 5/6 · 4/5 = 4/8, which the product
    # of floats gives as 0.5000000000000001; the median is still day 91, not the next event (122).
    events = pl.DataFrame({"duration": [30.0, 60, 75, 91, 122, 150, 200, 250], "observed": [1, 1, 1, 1, 1, 0, 0, 0]})
    survival_at_91 = kaplan_meier(events).filter(pl.col("day") == 91.0)["survival"][0]
    assert survival_at_91 == pytest.approx(0.5) and survival_at_91 != 0.5
    assert median_time(events) == 91.0
