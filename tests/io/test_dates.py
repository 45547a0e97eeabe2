"""Partial-date imputation (io/dates.py), hand-computed against admiral's derive_vars_dt rules."""

from __future__ import annotations

import datetime as dt

import pytest

from remission.io.dates import impute_date

D = dt.date


@pytest.mark.parametrize(
    ("text", "side", "bounds", "date", "flag", "time"),
    [
        ("2014-07-03", "first", {}, D(2014, 7, 3), None, None),
        ("2014-07-03", "last", {}, D(2014, 7, 3), None, None),  # complete: never changed
        ("2014-07", "first", {}, D(2014, 7, 1), "D", None),
        ("2014-07", "last", {}, D(2014, 7, 31), "D", None),
        ("2016-02", "last", {}, D(2016, 2, 29), "D", None),  # leap year
        ("2015-02", "last", {}, D(2015, 2, 28), "D", None),
        ("2014", "first", {}, D(2014, 1, 1), "M", None),
        ("2014", "last", {}, D(2014, 12, 31), "M", None),
        # AE onset: not before the infusion when the known period contains it (admiral min_dates)
        ("2014-07", "first", {"not_before": D(2014, 7, 10)}, D(2014, 7, 10), "D", None),
        ("2014", "first", {"not_before": D(2014, 3, 5)}, D(2014, 3, 5), "M", None),
        ("2014-07", "first", {"not_before": D(2014, 8, 10)}, D(2014, 7, 1), "D", None),  # outside: no effect
        ("2014-07-02", "first", {"not_before": D(2014, 7, 10)}, D(2014, 7, 2), None, None),  # complete wins
        ("2014-07", "last", {"not_after": D(2014, 7, 20)}, D(2014, 7, 20), "D", None),  # capped at death
        ("2014-07-03T10:30", "first", {}, D(2014, 7, 3), None, "10:30"),
        ("2014-07-03T10:30:15", "first", {}, D(2014, 7, 3), None, "10:30"),
        ("2014-07-03T10", "first", {}, D(2014, 7, 3), None, None),  # an hour only is not a time of day
        (None, "first", {}, None, None, None),
        ("", "last", {}, None, None, None),
    ],
)
def test_impute_date(text, side, bounds, date, flag, time) -> None:
    imputed = impute_date(text, side, **bounds)
    assert (imputed.date, imputed.flag, imputed.time) == (date, flag, time)


@pytest.mark.parametrize("text", ["2019-13-45", "2014-02-30", "14-07-01", "2014/07/01", "July 2014", "2014-7"])
def test_unreadable_dates_are_errors_naming_the_value(text: str) -> None:
    with pytest.raises(ValueError, match=text.replace("/", ".")):
        impute_date(text, "first")


def test_imputed_interval_contains_every_completion() -> None:
    """first <= last for every partial date, and both lie in the known period."""
    for year in (2015, 2016):
        for month in range(1, 13):
            first = impute_date(f"{year}-{month:02d}", "first").date
            last = impute_date(f"{year}-{month:02d}", "last").date
            assert first is not None and last is not None
            assert first <= last and (first.year, first.month) == (last.year, last.month) == (year, month)
