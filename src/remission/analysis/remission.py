"""What "remission" means per disease: ONE rule table read by the report, the web and the demo.

Each :class:`RemissionRule` names the stored index whose output says remission, the value that
means "met", the disease's own label (never pooled under one word, docs/decisions/report.md) and
whether the flag is a *state* (DORIS, EUSTAR-AI < 2.5: judged from that visit alone) or a
*response* (ACR/EULAR TIS: an improvement from baseline, so "major response" is not remission in
the sense of an inactive disease). Sources:

- SLE: DORIS 2021 definition of remission, van Vollenhoven et al., Ann Rheum Dis 2021;80:14–21
  (doi:10.1136/annrheumdis-2020-218366); fallback clinical SLEDAI-2K = 0 (web status only, for
  visits entered on the SLEDAI-2K form alone).
- IIM: ACR/EULAR Total Improvement Score major response (TIS ≥ 60), Aggarwal et al., Arthritis
  Rheumatol 2017;69:898–910 (doi:10.1002/art.40064).
- SSc: EUSTAR activity index < 2.5 (inactive), Valentini et al., Ann Rheum Dis 2017;76:270–276
  (doi:10.1136/annrheumdis-2016-209768).

The readers are thin: :meth:`RemissionRule.is_met` for one stored score (web), and
:meth:`RemissionRule.flag_expr` for a table of scores (report); both read the same ``column`` and
``met`` value, tested equal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl


@dataclass(frozen=True)
class RemissionRule:
    """How one disease's remission is read from one index's stored outputs.

    Attributes
    ----------
    disease : str
        Disease code (SLE, IIM, SSc).
    index : str
        Registry name of the index whose stored scores hold the flag.
    column : str
        The output column read.
    met : int or str
        The value of ``column`` that means remission (empty value → not judged).
    label : str
        The disease's own name for the state, printed in every table row.
    kind : {"state", "response"}
        ``state``: judged at the visit alone; ``response``: improvement relative to baseline.
    source : str
        Citation of the definition.
    primary : bool
        The report's rule of the disease (a non-primary rule is a fallback of the web status).
    """

    disease: str
    index: str
    column: str
    met: int | str
    label: str
    kind: Literal["state", "response"]
    source: str
    primary: bool = True

    @property
    def definition(self) -> str:
        """The label with the stored output it reads, e.g. "DORIS 2021 remission (doris_remission = 1)"."""
        return f"{self.label} ({self.column} = {self.met})"

    def is_met(self, values: Mapping[str, Any]) -> bool | None:
        """Scalar reader: the flag of one stored score (``None`` when the output is empty).

        >>> RULES[0].is_met({"doris_remission": 1}), RULES[0].is_met({})
        (True, None)
        """
        value = values.get(self.column)
        return None if value is None else value == self.met

    def flag_expr(self) -> pl.Expr:
        """Vectorised reader: 1/0/empty (Int8) over a table of stored scores."""
        column = pl.col(self.column)
        if isinstance(self.met, str):
            met = column.cast(pl.String) == self.met
        else:
            met = column.cast(pl.Float64, strict=False) == float(self.met)
        return pl.when(column.is_null()).then(None).otherwise(met).cast(pl.Int8)


#: The rule table (docs/decisions/report.md, "Remission, drug-free remission, relapse").
RULES: tuple[RemissionRule, ...] = (
    RemissionRule(
        "SLE",
        "doris",
        "doris_remission",
        1,
        "DORIS 2021 remission",
        "state",
        "van Vollenhoven et al., Ann Rheum Dis 2021 (doi:10.1136/annrheumdis-2020-218366)",
    ),
    RemissionRule(
        "SLE",
        "sledai2k",
        "clinical_sledai",
        0,
        "clinical SLEDAI-2K = 0",
        "state",
        "Gladman et al., J Rheumatol 2002 (SLEDAI-2K); web fallback without a DORIS score",
        primary=False,
    ),
    RemissionRule(
        "IIM",
        "myositis-tis",
        "tis_response",
        "major",
        "ACR/EULAR major TIS response",
        "response",
        "Aggarwal et al., Arthritis Rheumatol 2017 (doi:10.1002/art.40064)",
    ),
    RemissionRule(
        "SSc",
        "eustar-ai",
        "eustar_ai_active",
        0,
        "EUSTAR-AI < 2.5",
        "state",
        "Valentini et al., Ann Rheum Dis 2017 (doi:10.1136/annrheumdis-2016-209768)",
    ),
)


def rules_of(disease: str) -> tuple[RemissionRule, ...]:
    """The rules of ``disease``, the report's (primary) first, then fallbacks.

    >>> [r.index for r in rules_of("SLE")]
    ['doris', 'sledai2k']
    """
    return tuple(sorted((r for r in RULES if r.disease == disease), key=lambda r: not r.primary))


def primary_rule(disease: str) -> RemissionRule | None:
    """The report's remission rule of ``disease`` (``None`` when the disease has none).

    >>> primary_rule("SSc").label, primary_rule("XYZ")
    ('EUSTAR-AI < 2.5', None)
    """
    return next((r for r in rules_of(disease) if r.primary), None)


def rule_for_index(index: str) -> RemissionRule | None:
    """The rule that reads ``index`` (``None`` when no rule does)."""
    return next((r for r in RULES if r.index == index), None)


def remission_indices() -> tuple[str, ...]:
    """Every index some rule reads (the web queries only these)."""
    return tuple(sorted({r.index for r in RULES}))


#: What the web prints beside the flag, per index (the latest value in words).
_DETAILS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "doris": lambda v: "",
    "sledai2k": lambda v: f"clinical SLEDAI-2K {v.get('clinical_sledai')}",
    "myositis-tis": lambda v: f"TIS {v.get('tis')}, {v.get('tis_response') or 'unknown'} response",
    "eustar-ai": lambda v: "EUSTAR-AI {} ({})".format(
        v.get("eustar_ai"),
        "unknown" if v.get("eustar_ai_active") is None else ("≥ 2.5" if v.get("eustar_ai_active") else "< 2.5"),
    ),
}


def describe(index: str, values: Mapping[str, Any]) -> str:
    """The stored value behind a remission flag, in words (empty when there is nothing to add).

    >>> describe("myositis-tis", {"tis": 62.5, "tis_response": "major"})
    'TIS 62.5, major response'
    """
    reader = _DETAILS.get(index)
    return "" if reader is None else reader(values)


def derive_remission_flags(
    assessments: pl.DataFrame, scores: Callable[[str], pl.DataFrame], diseases: list[str]
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Per disease assessment (``assessment_id``, ``patient_id``, ``disease``, ``day``) the
    ``remission`` flag of its disease's primary rule (empty where not judged), and per disease
    the reason it could not be judged (index not computed, no rule).

    ``scores(index)`` returns the stored scores of an index (``assessment_id`` and its outputs),
    empty when it was not computed. Only assessments on the disease's own form count.
    """
    missing: dict[str, str] = {}
    parts = []
    for disease in diseases:
        visits = assessments.filter((pl.col("disease") == disease) & (pl.col("form") == disease.lower()))
        if visits.is_empty():
            continue
        visits = visits.select("assessment_id", "patient_id", "disease", "day")
        rule = primary_rule(disease)
        stored = scores(rule.index) if rule is not None else pl.DataFrame()
        if rule is None or stored.is_empty() or rule.column not in stored.columns:
            missing[disease] = f"{rule.index} not computed" if rule else f"no remission definition for {disease}"
            flag = pl.DataFrame(schema={"assessment_id": pl.Int64, "remission": pl.Int8})
        else:
            flag = stored.select(pl.col("assessment_id").cast(pl.Int64), rule.flag_expr().alias("remission"))
        parts.append(visits.join(flag, on="assessment_id", how="left"))
    if not parts:
        return pl.DataFrame(), missing
    return pl.concat(parts, how="vertical_relaxed").sort("patient_id", "day"), missing
