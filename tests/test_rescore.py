"""Column-wise rescoring (`rescore_database`) against the row path (`score_database`): same scores,
only new and changed ones written, audited once per rescore and once per changed score."""

from __future__ import annotations

import json
import random

import polars as pl
from sqlalchemy import Engine, select, update

from remission.demo.cohort import generate_demo_cohort
from remission.pipeline import rescore_database, score_database
from remission.store import read_table, save_cohort, schema
from remission.store.bulk_scores import decode_items
from remission.store.repository import _as_text

COLUMNS = ["assessment_id", "index_name", "rule_version", "values", "explain"]


def _scores(engine: Engine) -> pl.DataFrame:
    return read_table(engine, "scores").select(COLUMNS).sort("assessment_id", "index_name")


def _audit(engine: Engine) -> list[dict[str, object]]:
    log = schema.audit_log
    with engine.connect() as connection:
        rows = connection.execute(select(log).where(log.c.action == "rescore").order_by(log.c.id))
        return [dict(r._mapping) for r in rows]


def _both_paths_agree(engine: Engine) -> None:
    score_database(engine)
    old = _scores(engine)
    with engine.begin() as connection:
        connection.execute(schema.scores.delete())
    runs = rescore_database(engine)
    assert _scores(engine).equals(old)
    assert sum(r.inserted for r in runs) == old.height
    again = rescore_database(engine)  # nothing changed: nothing written, no per-score audit
    assert sum(r.unchanged for r in again) == old.height
    assert sum(r.inserted + r.updated for r in again) == 0
    assert [e["entity"] for e in _audit(engine)] == ["scores", "scores"]


def test_both_paths_agree_on_the_demo_cohort(engine: Engine) -> None:
    save_cohort(engine, generate_demo_cohort(2024))
    _both_paths_agree(engine)


def test_both_paths_agree_on_a_randomised_cohort(engine: Engine) -> None:
    cohort = generate_demo_cohort(7)
    rng = random.Random(7)
    visits = []
    for a in cohort.assessments:  # values perturbed, some missing, some of other JSON types
        items = dict(a.items)
        for key in list(items):
            roll = rng.random()
            if roll < 0.1:
                items[key] = None
            elif roll < 0.2 and isinstance(items[key], int | bool):
                items[key] = rng.choice([0, 1, True, False, 2, "1", "x"])
        visits.append(a.model_copy(update={"items": items}))
    save_cohort(engine, cohort.model_copy(update={"assessments": tuple(visits)}))
    _both_paths_agree(engine)


def test_a_changed_score_is_rewritten_and_audited_and_filters_limit_the_writes(engine: Engine) -> None:
    save_cohort(engine, generate_demo_cohort(2024))
    rescore_database(engine, ["sledai2k"])
    full = _scores(engine)
    s = schema.scores
    with engine.begin() as connection:
        target = connection.execute(select(s.c.assessment_id).where(s.c.index_name == "sledai2k").limit(1)).scalar()
        connection.execute(update(s).where(s.c.assessment_id == target).values(values={"sledai2k": -1}))
    patient = read_table(engine, "assessments").filter(pl.col("id") == target)["patient_id"][0]
    other = read_table(engine, "patients").filter(pl.col("patient_id") != patient)["patient_id"][0]
    runs = rescore_database(engine, ["sledai2k"], patients=[other])  # another patient: target untouched
    assert runs[0].updated == 0
    runs = rescore_database(engine, ["sledai2k"], patients=[patient])
    assert runs[0].updated == 1 and runs[0].inserted == 0
    assert _scores(engine).equals(full)
    changed = [e for e in _audit(engine) if e["entity"] == "score"]
    assert len(changed) == 1
    assert changed[0]["detail"]["before"] == {"sledai2k": -1}
    assert changed[0]["detail"]["after"] == full.filter(pl.col("assessment_id") == target)["values"][0]


def test_items_decode_to_the_row_paths_values() -> None:
    docs = [
        {"a": 1, "b": 1.5, "c": True, "d": "x", "e": 2, "f": None, "g": [1]},
        {"a": 2, "b": 2, "c": False, "d": 3, "e": "y", "g": {"k": 1}, "h": True},
        {"e": True, "h": "text"},
    ]
    frame = decode_items(pl.Series([json.dumps(d) for d in docs]))
    for row, doc in zip(frame.iter_rows(named=True), docs, strict=True):
        for key, value in row.items():
            expected = _as_text(doc.get(key))
            assert (None if value is None else str(value)) == expected, (key, value, expected)
