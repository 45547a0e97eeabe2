"""The one remission rule table: both readers agree, every disease has one labelled primary rule."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from remission.analysis.remission import RULES, derive_remission_flags, primary_rule, rules_of


@pytest.mark.parametrize(
    ("index", "values", "expected"),
    [
        ("doris", {"doris_remission": 1}, True),
        ("doris", {"doris_remission": 0}, False),
        ("doris", {"doris_remission": None}, None),
        ("myositis-tis", {"tis_response": "major"}, True),
        ("myositis-tis", {"tis_response": "moderate"}, False),
        ("eustar-ai", {"eustar_ai_active": 0}, True),
        ("eustar-ai", {"eustar_ai_active": 1}, False),
        ("sledai2k", {"clinical_sledai": 0}, True),
        ("sledai2k", {"clinical_sledai": 2}, False),
    ],
    ids=lambda v: str(v),
)
def test_scalar_and_table_readers_agree(index: str, values: dict[str, Any], expected: bool | None) -> None:
    rule = next(r for r in RULES if r.index == index)
    assert rule.is_met(values) is expected
    frame = pl.DataFrame({rule.column: [values[rule.column]]})
    flag = frame.select(rule.flag_expr().alias("f"))["f"][0]
    assert flag == (None if expected is None else int(expected))


def test_each_disease_has_one_primary_rule_with_its_own_label() -> None:
    for disease in ("SLE", "IIM", "SSc"):
        primaries = [r for r in rules_of(disease) if r.primary]
        assert len(primaries) == 1 and primaries[0] is primary_rule(disease)
    labels = {primary_rule(d).label for d in ("SLE", "IIM", "SSc")}  # type: ignore[union-attr]
    assert len(labels) == 3 and not any(label.lower() == "remission" for label in labels)
    assert primary_rule("IIM").kind == "response"  # type: ignore[union-attr]


def test_flags_from_stored_scores_and_reason_when_not_computed() -> None:
    assessments = pl.DataFrame(
        {
            "assessment_id": [1, 2, 3],
            "patient_id": ["A", "A", "B"],
            "disease": ["SLE", "SLE", "SSc"],
            "form": ["sle", "sle", "ssc"],
            "day": [-3, 90, 90],
        }
    )
    doris = pl.DataFrame({"assessment_id": [1, 2], "doris_remission": [0, 1]})
    visits, missing = derive_remission_flags(
        assessments, lambda i: doris if i == "doris" else pl.DataFrame(), ["SLE", "SSc"]
    )
    assert visits.select("patient_id", "day", "remission").rows() == [("A", -3, 0), ("A", 90, 1), ("B", 90, None)]
    assert missing == {"SSc": "eustar-ai not computed"}
