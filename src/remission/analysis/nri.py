"""Binary endpoints at month m as a statistical analysis plan reports them: non-responder
imputation (NRI) as the primary display, observed cases as a sensitivity analysis, and the patients
whose follow-up has not yet reached month m counted apart (docs/decisions/sap.md).

For a group (one disease) and month ``m`` with window ``[target − h, target + h]``:

- **not yet at month m**: no assessment in the window, alive and not withdrawn by the window's end,
  and potential follow-up (data cut − infusion, in days) shorter than the window's end. Left out of
  both denominators and printed as its own count.
- **NRI** (primary): denominator = every treated patient of the group minus "not yet"; numerator =
  patients whose window assessment has the flag 1. A missed window visit, a window assessment with
  an unknown flag, death or withdrawal before or in the window count as non-response.
- **Observed cases** (sensitivity): denominator = patients whose window assessment has a known
  flag; numerator as for NRI.

Denominators are therefore fixed per group and time point: they do not shrink when a visit is
missed. Source: ICH E9(R1) (2019), the composite strategy for intercurrent events; NRI as primary
analysis of binary response in the lupus and myositis trials (e.g. anifrolumab TULIP-2, Morand et
al., N Engl J Med 2020).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from remission.analysis.endpoints import BinarySummary
from remission.analysis.windows import DEFAULT_RULE, WindowRule


@dataclass(frozen=True)
class MonthSummary:
    """One binary endpoint at one month: NRI and observed summaries and the counts beside them."""

    month: int
    nri: BinarySummary
    observed: BinarySummary
    not_yet: int
    missed: int


def summarise_at_month(
    windowed: pl.DataFrame,
    cohort: pl.DataFrame,
    flag: str,
    month: int,
    rule: WindowRule = DEFAULT_RULE,
) -> MonthSummary:
    """NRI and observed-case summaries of ``flag`` at ``month``.

    Parameters
    ----------
    windowed : polars.DataFrame
        Output of :func:`remission.analysis.windows.assign_windows` (``patient_id``, ``month``,
        ``flag``): at most one assessment per patient and month.
    cohort : polars.DataFrame
        Every treated patient of the group: ``patient_id``, ``potential_days`` (days from infusion
        to the data cut), ``exit_day`` (death or withdrawal day, empty when none).
    flag : str
        The 0/1 column of ``windowed``.
    month : int
        The month.
    rule : WindowRule
        The window rule (the window's end decides "not yet").

    Examples
    --------
    >>> w = pl.DataFrame({"patient_id": ["A", "B"], "month": [6, 6], "r": [1, None]})
    >>> c = pl.DataFrame({"patient_id": ["A", "B", "C", "D"], "potential_days": [400, 400, 400, 100],
    ...                   "exit_day": [None, None, None, None]})
    >>> s = summarise_at_month(w, c, "r", 6)
    >>> s.nri.text(), s.observed.text(), s.not_yet, s.missed
    ('1/3 (33%)', '1/1 (100%)', 1, 2)
    """
    end = rule.target_day(month) + rule.half_width(month)
    at = windowed.filter(pl.col("month") == month).select("patient_id", pl.col(flag).cast(pl.Int64).alias("_f"))
    table = cohort.join(at, on="patient_id", how="left")
    assessed = pl.col("patient_id").is_in(at["patient_id"].to_list())
    exited = pl.col("exit_day").is_not_null() & (pl.col("exit_day") <= end)
    not_yet = ~assessed & ~exited & (pl.col("potential_days") < end)
    flags = table.with_columns(_not_yet=not_yet.fill_null(False))
    reached = flags.filter(~pl.col("_not_yet"))
    yes = int((reached["_f"] == 1).sum())
    known = int(reached["_f"].is_not_null().sum())
    return MonthSummary(
        month=month,
        nri=BinarySummary(yes, reached.height),
        observed=BinarySummary(yes, known),
        not_yet=int(flags["_not_yet"].sum()),
        missed=reached.height - known,
    )


def nri_rows(
    windowed: pl.DataFrame,
    cohort: pl.DataFrame,
    flag: str,
    label: str,
    months: Sequence[int],
    rule: WindowRule = DEFAULT_RULE,
) -> list[dict[str, str]]:
    """The table rows of one endpoint: ``<label> — NRI (primary)``, ``<label> — observed cases``,
    ``<label> — missing (non-response in NRI), n`` and ``<label> — not yet at month m, n``; one
    column ``month m`` per month.

    >>> w = pl.DataFrame({"patient_id": ["A"], "month": [3], "r": [1]})
    >>> c = pl.DataFrame({"patient_id": ["A", "B"], "potential_days": [400, 400], "exit_day": [None, None]})
    >>> [r["month 3"] for r in nri_rows(w, c, "r", "remission", [3])]
    ['1/2 (50%)', '1/1 (100%)', '1', '0']
    """
    summaries = [summarise_at_month(windowed, cohort, flag, m, rule) for m in months]
    return [
        {"endpoint": f"{label} — NRI (primary)", **{f"month {s.month}": s.nri.text() for s in summaries}},
        {"endpoint": f"{label} — observed cases", **{f"month {s.month}": s.observed.text() for s in summaries}},
        {
            "endpoint": f"{label} — missing: non-response in NRI (n)",
            **{f"month {s.month}": str(s.missed) for s in summaries},
        },
        {
            "endpoint": f"{label} — not yet at month m: follow-up too short (n)",
            **{f"month {s.month}": str(s.not_yet) for s in summaries},
        },
    ]
