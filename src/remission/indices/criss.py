"""CRISS — ACR provisional Composite Response Index in diffuse cutaneous systemic sclerosis.

Source: Khanna D, Berrocal VJ, Giannini EH, et al. The American College of Rheumatology
provisional composite response index for clinical trials in early diffuse cutaneous systemic
sclerosis. Arthritis Rheumatol 2016;68:299–311. doi:10.1002/art.39501

Step 1: a new SSc-attributable organ event since baseline (renal crisis, confirmed FVC decline
with ILD, left-ventricular failure, pulmonary arterial hypertension) means not improved,
probability 0. Step 2: with Δ = now − baseline,

    LP = −5.54 − 0.81·ΔmRSS + 0.21·ΔFVC%pred − 0.40·ΔPtGA − 0.44·ΔMDGA − 3.41·ΔHAQ-DI
    P  = exp(LP) / (1 + exp(LP)),  improved when P ≥ 0.60.

Long format (``patient_id``, ``day``); baseline per the spec README. Events are cumulative; an
event recorded at an earlier follow-up visit is carried forward (docs/decisions/myositis-ssc.md).
With a missing measure, ``criss_improved`` is still given when every value of the missing measure
within its allowed range gives the same answer.

Examples
--------
>>> baseline = {"mrss": 25, "fvc_pct_pred": 80, "ptga": 6, "mdga": 6, "haq_di": 1.5}
>>> now = {"mrss": 17, "fvc_pct_pred": 82, "ptga": 5, "mdga": 4, "haq_di": 1.125, **NO_EVENTS}
>>> result = score_visit(now, baseline)
>>> round(result["criss_probability"], 8), result["criss_improved"]
(0.98052106, 1)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from remission.indices._base import (
    ROW,
    Column,
    Context,
    Contribution,
    IndexDefinition,
    MissingRule,
    ScalarResult,
    as_flag,
    join_labels,
    validate_record,
    with_baseline,
)
from remission.indices._numbers import (
    num_text,
    num_text_expr,
    round_expr,
    round_to,
    signed_text,
    signed_text_expr,
)


@dataclass(frozen=True)
class Term:
    """One step-2 term: the measure's code, its coefficient on Δ and its allowed range."""

    code: str
    measure: str
    coefficient: float
    minimum: float
    maximum: float
    unit: str = ""


@dataclass(frozen=True)
class Event:
    """One step-1 event (0/1, cumulative since baseline)."""

    code: str
    wording: str


INTERCEPT = -5.54
#: The step-2 model of Khanna 2016 (Table 3).
TERMS: tuple[Term, ...] = (
    Term("mrss", "modified Rodnan skin score", -0.81, 0, 51, "points"),
    Term("fvc_pct_pred", "forced vital capacity", 0.21, 0, 200, "% predicted"),
    Term("ptga", "patient global assessment", -0.40, 0, 10, "0–10"),
    Term("mdga", "physician global assessment", -0.44, 0, 10, "0–10"),
    Term("haq_di", "HAQ disability index", -3.41, 0, 3, "0–3"),
)
#: Step 1 (Khanna 2016): new SSc-attributable organ involvement since baseline.
EVENTS: tuple[Event, ...] = (
    Event("renal_crisis", "scleroderma renal crisis"),
    Event("fvc_decline_ild", "FVC fall ≥ 15 % (relative), confirmed, ILD on HRCT, FVC < 80 % pred."),
    Event("lv_failure", "new left-ventricular failure (LVEF ≤ 45 %) needing treatment"),
    Event("pah", "new pulmonary arterial hypertension on right-heart catheterisation, treated"),
)
IMPROVED_FROM = 0.60
MEASURES: tuple[str, ...] = tuple(t.code for t in TERMS)
EVENT_CODES: tuple[str, ...] = tuple(e.code for e in EVENTS)

COLUMNS: tuple[Column, ...] = (
    *(Column(t.code, "float", t.measure, t.unit, t.minimum, t.maximum) for t in TERMS),
    *(Column(e.code, "bool", e.wording) for e in EVENTS),
)
OUTPUTS = ("criss_probability", "criss_improved", "criss_explain", "criss_missing")

#: All four step-1 events absent, handy in examples and tests.
NO_EVENTS: dict[str, int] = {c: 0 for c in EVENT_CODES}


def probability(lp: float) -> float:
    """The logistic probability exp(LP)/(1 + exp(LP)) of a linear predictor.

    Examples
    --------
    >>> probability(0.0)
    0.5
    """
    return math.exp(lp) / (1.0 + math.exp(lp))


def _delta_bounds(term: Term, now: float | None, base: float | None) -> tuple[float, float]:
    if now is not None and base is not None:
        return now - base, now - base
    low_now, high_now = (now, now) if now is not None else (term.minimum, term.maximum)
    low_base, high_base = (base, base) if base is not None else (term.minimum, term.maximum)
    return low_now - high_base, high_now - low_base


# ------------------------------------------------------------------------------------------
# Scalar form
# ------------------------------------------------------------------------------------------


def score_visit(
    visit: Mapping[str, Any], baseline: Mapping[str, Any], *, missing: MissingRule = "empty"
) -> ScalarResult:
    """Score one follow-up assessment against the patient's baseline.

    Parameters
    ----------
    visit : mapping of code → value
        The five measures of :data:`TERMS` (units in :data:`COLUMNS`) and the four cumulative
        step-1 events of :data:`EVENTS` (0/1) at this assessment.
    baseline : mapping of code → value
        The five measures at baseline.
    missing : {"empty", "absent"}
        ``"absent"`` takes a missing step-1 event as not occurred.

    Returns
    -------
    ScalarResult
        ``criss_probability`` (0–1, not rounded; 0 after a step-1 event), ``criss_improved``
        (1 when P ≥ 0.60), ``criss_explain`` and ``criss_missing``.

    Examples
    --------
    >>> base = {"mrss": 20, "fvc_pct_pred": 90, "ptga": 5, "mdga": 5, "haq_di": 1.0}
    >>> now = {**base, "renal_crisis": 1, "fvc_decline_ild": 0, "lv_failure": 0, "pah": 0}
    >>> r = score_visit(now, base)
    >>> r["criss_probability"], r["criss_improved"], r["criss_explain"]
    (0.0, 0, 'step 1: renal_crisis')
    """
    now = validate_record(visit, _WIDE)
    base = validate_record({k: baseline.get(k) for k in MEASURES}, _WIDE)
    events = {e: (False if now[e] is None and missing == "absent" else now[e]) for e in EVENT_CODES}
    occurred = [e for e in EVENT_CODES if events[e]]
    missing_codes = tuple(e for e in EVENT_CODES if events[e] is None) + tuple(
        t.code for t in TERMS if now[t.code] is None or base[t.code] is None
    )
    if occurred:
        explanation = tuple(Contribution(e, "step 1") for e in occurred)
        return _result(0.0, 0, "step 1: " + ", ".join(occurred), explanation, missing_codes)
    lp_low = lp_high = INTERCEPT
    labels, explanation_list = [], []
    for term in TERMS:
        low, high = _delta_bounds(term, now[term.code], base[term.code])
        parts = sorted((term.coefficient * low, term.coefficient * high))
        lp_low, lp_high = lp_low + parts[0], lp_high + parts[1]
        if low == high:
            labels.append(f"Δ{term.code}={num_text(round_to(low))} ({signed_text(round_to(term.coefficient * low))})")
            explanation_list.append(Contribution(f"Δ{term.code}", term.coefficient * low))
        else:
            labels.append(f"Δ{term.code} missing")
    events_known = all(events[e] is not None for e in EVENT_CODES)
    exact = lp_low == lp_high and len(explanation_list) == len(TERMS)
    prob = probability(lp_low) if exact and events_known else None
    p_low, p_high = probability(lp_low), probability(lp_high)
    improved: int | None
    if p_high < IMPROVED_FROM:
        improved = 0
    elif p_low >= IMPROVED_FROM and events_known:
        improved = 1
    else:
        improved = None
    if exact:
        labels.append(f"LP={num_text(round_to(lp_low))}")
    return _result(prob, improved, "; ".join(labels), tuple(explanation_list), missing_codes)


def _result(
    prob: float | None,
    improved: int | None,
    explain: str,
    explanation: tuple[Contribution, ...],
    missing_codes: tuple[str, ...],
) -> ScalarResult:
    return ScalarResult(
        values={
            "criss_probability": prob,
            "criss_improved": improved,
            "criss_explain": explain,
            "criss_missing": "; ".join(missing_codes),
        },
        explanation=explanation,
        missing=missing_codes,
    )


# ------------------------------------------------------------------------------------------
# Vectorised form
# ------------------------------------------------------------------------------------------


def _cumulated_events(frame: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Carry a step-1 event recorded at an earlier follow-up forward to later follow-ups."""
    ordered = frame.sort(["patient_id", "day", ROW])
    exprs = []
    for code in EVENT_CODES:
        value = pl.col(code).fill_null(False) if ctx.missing == "absent" else pl.col(code)
        seen = (value.fill_null(False) & pl.col("is_followup")).cast(pl.Int32).cum_sum().over("patient_id")
        exprs.append(pl.when(seen > 0).then(True).otherwise(value).alias(f"__ev_{code}"))
        exprs.append((seen > 0).and_(~value.fill_null(False)).alias(f"__carried_{code}"))
    return ordered.with_columns(exprs).sort(ROW)


def _lp_bounds() -> tuple[pl.Expr, pl.Expr, list[pl.Expr], list[pl.Expr]]:
    low, high = pl.lit(INTERCEPT), pl.lit(INTERCEPT)
    labels, known = [], []
    for t in TERMS:
        now, base = pl.col(t.code), pl.col(f"{t.code}_base")
        d_low = pl.coalesce([now, pl.lit(t.minimum)]) - pl.coalesce([base, pl.lit(t.maximum)])
        d_high = pl.coalesce([now, pl.lit(t.maximum)]) - pl.coalesce([base, pl.lit(t.minimum)])
        a, b = t.coefficient * d_low, t.coefficient * d_high
        low, high = low + pl.min_horizontal(a, b), high + pl.max_horizontal(a, b)
        delta = now - base
        known.append(delta.is_not_null())
        labels.append(
            pl.when(delta.is_not_null())
            .then(
                pl.format(
                    f"Δ{t.code}={{}} ({{}})",
                    num_text_expr(round_expr(delta)),
                    signed_text_expr(round_expr(t.coefficient * delta)),
                )
            )
            .otherwise(pl.lit(f"Δ{t.code} missing"))
        )
    return low, high, labels, known


def _probability_expr(lp: pl.Expr) -> pl.Expr:
    return lp.exp() / (1.0 + lp.exp())


def compute(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Vectorised CRISS over a validated long table (``patient_id``, ``day``)."""
    frame = _cumulated_events(with_baseline(visits, MEASURES), ctx)
    events = [pl.col(f"__ev_{e}") for e in EVENT_CODES]
    any_event = pl.any_horizontal([e.fill_null(False) for e in events])
    events_known = pl.all_horizontal([e.is_not_null() for e in events])
    lp_low, lp_high, labels, known = _lp_bounds()
    exact = pl.all_horizontal(known)
    p_low, p_high = _probability_expr(lp_low), _probability_expr(lp_high)
    follow = pl.col("is_followup")
    prob = pl.when(follow & any_event).then(0.0).when(follow & exact & events_known).then(p_low)
    improved = (
        pl.when(~follow)
        .then(None)
        .when(any_event)
        .then(False)
        .when(p_high < IMPROVED_FROM)
        .then(False)
        .when((p_low >= IMPROVED_FROM) & events_known)
        .then(True)
    )
    outputs = [prob.alias("criss_probability"), as_flag(improved).alias("criss_improved")]
    if ctx.explain:
        outputs += _explain_exprs(events, any_event, labels, exact, lp_low)
    return frame.select(outputs)


def _explain_exprs(
    events: list[pl.Expr], any_event: pl.Expr, labels: list[pl.Expr], exact: pl.Expr, lp: pl.Expr
) -> list[pl.Expr]:
    step1 = join_labels(
        [
            pl.when(ev.fill_null(False)).then(
                pl.when(pl.col(f"__carried_{code}"))
                .then(pl.lit(f"{code} (recorded at an earlier visit)"))
                .otherwise(pl.lit(code))
            )
            for ev, code in zip(events, EVENT_CODES, strict=True)
        ],
        ", ",
    )
    lp_label = pl.when(exact).then(pl.format("LP={}", num_text_expr(round_expr(lp))))
    follow = pl.col("is_followup")
    explain = (
        pl.when(pl.col("is_baseline"))
        .then(None)
        .when(pl.col("_base_day").is_null())
        .then(pl.lit("no baseline assessment for this patient"))
        .when(~follow)
        .then(pl.lit("before baseline: not scored"))
        .when(any_event)
        .then(pl.concat_str([pl.lit("step 1: "), step1]))
        .otherwise(join_labels([*labels, lp_label]))
    )
    missing = join_labels(
        [pl.when(ev.is_null()).then(pl.lit(code)) for ev, code in zip(events, EVENT_CODES, strict=True)]
        + [pl.when(~k).then(pl.lit(t.code)) for k, t in zip(_known_exprs(), TERMS, strict=True)]
    )
    return [explain.alias("criss_explain"), pl.when(follow).then(missing).alias("criss_missing")]


def _known_exprs() -> list[pl.Expr]:
    return [(pl.col(t.code) - pl.col(f"{t.code}_base")).is_not_null() for t in TERMS]


INDEX = IndexDefinition(
    name="criss",
    forms=("ssc",),
    title="CRISS — ACR Composite Response Index in diffuse cutaneous SSc",
    source="Khanna D, Berrocal VJ, Giannini EH, et al. Arthritis Rheumatol 2016;68:299–311.",
    doi="10.1002/art.39501",
    columns=COLUMNS,
    outputs=OUTPUTS,
    compute=compute,
    scalar=score_visit,
    layout="long",
    missing_rule=(
        "criss_probability empty when a measure (now or at baseline) or a step-1 event is missing, "
        "unless a known event already makes it 0; criss_improved is given when every value of the "
        "missing measures within their ranges gives the same answer"
    ),
)
_WIDE = replace(INDEX, layout="wide")
