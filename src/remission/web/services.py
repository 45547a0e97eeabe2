"""What the web shell does with the store: site-filtered reads, versioned writes, audit records.

Every read takes the :class:`~remission.web.security.User` and answers only what that user may
see: a patient of another site is *not found* (never *forbidden*, which would confirm that it
exists). Every write runs in one transaction with its audit record and the patient's version bump
(optimistic locking: a write that names an older version is refused with a conflict).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine, Select, Table, bindparam, delete, func, select, update

from remission.analysis.durations import DEFAULT_DRUG_FREE
from remission.analysis.remission import describe, remission_indices, rule_for_index
from remission.errors import InvalidInputError, Problem
from remission.indices import get_index
from remission.indices._base import IndexDefinition, record_to_frame, validate_record
from remission.model import AdverseEvent, Assessment, Infusion, LabResult, Medication, Patient
from remission.store import schema
from remission.store.repository import upsert
from remission.store.writes import append_audit, bump_version, check_version, jsonable
from remission.web.security import User


class WebError(Exception):
    """An error the web layer answers with an HTTP status and the one error shape."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


class NotFound(WebError):
    status, code = 404, "not_found"


class Forbidden(WebError):
    status, code = 403, "forbidden"


class Conflict(WebError):
    status, code = 409, "conflict"


#: Record kinds a patient has, with their table and model (the REST collection names).
RECORD_KINDS: dict[str, tuple[Table, type[BaseModel]]] = {
    "infusions": (schema.infusions, Infusion),
    "assessments": (schema.assessments, Assessment),
    "labs": (schema.labs, LabResult),
    "medications": (schema.medications, Medication),
    "adverse_events": (schema.adverse_events, AdverseEvent),
}
_ORDER = {
    "infusions": "date",
    "assessments": "day",
    "labs": "day",
    "medications": "start_day",
    "adverse_events": "onset_day",
}


def _row(r: Any) -> dict[str, Any]:
    return {k: v for k, v in r._mapping.items() if k != "synthetic"} | {"synthetic": bool(r._mapping.get("synthetic"))}


def _rows(result: Any) -> list[dict[str, Any]]:
    """Every row of a query result as :func:`_row` gives it, fetched at once (a timeline holds
    hundreds of rows: row-by-row mapping access was a third of its time)."""
    keys = list(result.keys())
    rows = []
    for values in result.all():
        row = dict(zip(keys, values, strict=True))
        row["synthetic"] = bool(row.pop("synthetic", False))
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------


def _site_filter(user: User, query: Any) -> Any:
    if not user.can_read_patients():
        raise Forbidden(f"role {user.role} cannot read patient records")
    if user.all_sites:
        return query
    return query.where(schema.patients.c.site_id == (user.site_id or ""))


# Statements of the hot reads, built once: building a select costs more than running it on
# SQLite (≈ 0.2 ms against ≈ 0.08 ms for a timeline's small tables).
_PATIENT = select(schema.patients).where(schema.patients.c.patient_id == bindparam("patient_id"))
_PATIENT_AT_SITE = _PATIENT.where(schema.patients.c.site_id == bindparam("site_id"))
_SCORES = (
    select(
        schema.scores.c.assessment_id,
        schema.scores.c.index_name,
        schema.scores.c.rule_version,
        schema.scores.c["values"],
        schema.scores.c.explain,
    )
    .join(schema.assessments)
    .where(schema.assessments.c.patient_id == bindparam("patient_id"))
    .order_by(schema.scores.c.index_name)
)


@functools.cache
def _records_of_patient(kind: str) -> Select[Any]:
    table = RECORD_KINDS[kind][0]
    return (
        select(table).where(table.c.patient_id == bindparam("patient_id")).order_by(table.c[_ORDER[kind]], table.c.id)
    )


def patient_row(connection: Connection, user: User, patient_id: str) -> dict[str, Any]:
    """The patient row if ``user`` may read it; NotFound otherwise (whether absent or elsewhere)."""
    if not user.can_read_patients():
        raise Forbidden(f"role {user.role} cannot read patient records")
    if user.all_sites:
        row = connection.execute(_PATIENT, {"patient_id": patient_id}).first()
    else:
        row = connection.execute(_PATIENT_AT_SITE, {"patient_id": patient_id, "site_id": user.site_id or ""}).first()
    if row is None:
        raise NotFound(f"no patient {patient_id}")
    return _row(row)


def list_patients(
    engine: Engine, user: User, *, site: str | None = None, disease: str | None = None
) -> list[dict[str, Any]]:
    """The patients ``user`` may read (optionally of one site/disease), each with its status."""
    query = _site_filter(user, select(schema.patients).order_by(schema.patients.c.patient_id))
    if site:
        query = query.where(schema.patients.c.site_id == site)
    if disease:
        query = query.where(schema.patients.c.disease == disease)
    with engine.connect() as connection:
        patients = _rows(connection.execute(query))
        ids = [p["patient_id"] for p in patients]
        facts = _status_facts(connection, ids)
    for p in patients:
        p["status"] = derive_status(p["disease"], facts.get(p["patient_id"], _Facts()))
    return patients


def patient_record(engine: Engine, user: User, patient_id: str) -> dict[str, Any]:
    """One patient with every record, the scores of each assessment and its status."""
    with engine.connect() as connection:
        patient = patient_row(connection, user, patient_id)
        for kind in RECORD_KINDS:
            patient[kind] = _rows(connection.execute(_records_of_patient(kind), {"patient_id": patient_id}))
        score_rows = connection.execute(_SCORES, {"patient_id": patient_id}).all()
        by_assessment: dict[int, list[dict[str, Any]]] = {}
        for assessment_id, index_name, rule_version, values, explain in score_rows:
            by_assessment.setdefault(assessment_id, []).append(
                {"index": index_name, "rule_version": rule_version, "values": values, "explain": explain}
            )
    for a in patient["assessments"]:
        a["scores"] = by_assessment.get(a["id"], [])
    facts = _record_facts(patient)
    patient["status"] = derive_status(patient["disease"], facts)
    patient["periods"] = remission_periods(patient, facts.drug_free_periods)
    return patient


# --------------------------------------------------------------------------------------------
# Status: follow-up day, remission, drug-free
# --------------------------------------------------------------------------------------------


@dataclass
class _Facts:
    last_day: int | None = None
    latest: dict[str, tuple[int, Any]] = field(default_factory=dict)  # index → (day, values) of its latest score
    drug_free: bool | None = None  # None: the medication history does not reach the infusion
    drug_free_day: int | None = None
    treatment_free_days: int | None = None
    drug_free_periods: list[tuple[int, int]] = field(default_factory=list)  # read only by the timeline


def remission_rules() -> dict[str, tuple[tuple[str, str], ...]]:
    """Disease → (index, label) of the stored scores that say remission, most specific first:
    the one rule table :data:`remission.analysis.remission.RULES` (SLE DORIS, then clinical
    SLEDAI-2K = 0 for visits entered on the SLEDAI-2K form alone; myositis major TIS response; SSc
    EUSTAR-AI < 2.5)."""
    from remission.analysis.remission import RULES, rules_of

    diseases = dict.fromkeys(r.disease for r in RULES)
    return {d: tuple((r.index, r.definition if r.primary else r.label) for r in rules_of(d)) for d in diseases}


def _status_facts(connection: Connection, patient_ids: Sequence[str]) -> dict[str, _Facts]:
    facts: dict[str, _Facts] = {pid: _Facts() for pid in patient_ids}
    if not patient_ids:
        return facts
    ids = {"ids": list(patient_ids)}
    for table in ("assessments", "labs"):
        for pid, last in connection.execute(_last_days(table), ids):
            _note_day(facts[pid], last)
    _drug_free_facts(connection, patient_ids, facts)
    for pid, day, index_name, values in connection.execute(_latest_scores(), ids):
        _note_score(facts[pid], index_name, day, values)
    return facts


@functools.cache
def _last_days(table_name: str) -> Select[Any]:
    """Each patient's latest day in ``table_name``: one index probe per patient (index on
    patient_id, day; migration 0004) rather than a scan of the patients' rows."""
    table, patients = schema.metadata.tables[table_name], schema.patients
    last = select(func.max(table.c.day)).where(table.c.patient_id == patients.c.patient_id).scalar_subquery()
    return select(patients.c.patient_id, last).where(patients.c.patient_id.in_(bindparam("ids", expanding=True)))


@functools.cache
def _latest_scores() -> Select[Any]:
    """Per patient and remission index, its score at the latest visit (latest day, then latest
    stored): one window query, so only those values are read and decoded."""
    a, sc = schema.assessments, schema.scores
    rank = (
        func.row_number()
        .over(partition_by=(a.c.patient_id, sc.c.index_name), order_by=(a.c.day.desc(), a.c.id.desc()))
        .label("rank")
    )
    ranked = (
        select(a.c.patient_id, a.c.day, sc.c.index_name, sc.c.id.label("score_id"), rank)
        .join(sc, sc.c.assessment_id == a.c.id)
        .where(a.c.patient_id.in_(bindparam("ids", expanding=True)), sc.c.index_name.in_(remission_indices()))
        .subquery()
    )
    return (
        select(ranked.c.patient_id, ranked.c.day, ranked.c.index_name, sc.c["values"])
        .join(sc, sc.c.id == ranked.c.score_id)
        .where(ranked.c.rank == 1)
    )


def _record_facts(patient: Mapping[str, Any]) -> _Facts:
    """The status facts of one patient read by :func:`patient_record`, from the rows it holds
    (what :func:`_status_facts` queries for many patients; tests check both agree)."""
    facts = _Facts()
    for row in (*patient["assessments"], *patient["labs"]):
        _note_day(facts, row["day"])
    if facts.last_day is not None:
        days = _change_days(patient, facts.last_day)
        medications = _medication_frame(patient["patient_id"], patient["medications"])
        rows = _derive_drug_free([(patient["patient_id"], d) for d in days], medications)
        _set_drug_free(facts, rows[-1])  # the last of the days is the follow-up day
        facts.drug_free_periods = _free_runs([(r[1], r[3]) for r in rows], facts.last_day)
    for assessment in sorted(patient["assessments"], key=lambda a: (a["day"], a["id"])):
        for score in assessment["scores"]:
            _note_score(facts, score["index"], assessment["day"], score["values"])
    return facts


def _note_day(facts: _Facts, day: int | None) -> None:
    if day is not None:
        facts.last_day = day if facts.last_day is None else max(facts.last_day, day)


def _note_score(facts: _Facts, index_name: str, day: int, values: Any) -> None:
    """Keep the latest stored score of each index that says remission (called in day order)."""
    if index_name in remission_indices():
        facts.latest[index_name] = (day, values or {})


def _medication_frame(patient_id: str, medications: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """One patient's courses as the report's medication table (an empty start stays empty)."""
    return pl.DataFrame(
        [(patient_id, m["drug"], m["start_day"], m["stop_day"]) for m in medications],
        schema=_MEDICATION_SCHEMA,
        orient="row",
    )


_MEDICATION_SCHEMA = {"patient_id": pl.String, "drug": pl.String, "start_day": pl.Int64, "stop_day": pl.Int64}
#: The report's drug-free rule (docs/decisions/sap.md): the web shows no other.
DRUG_FREE_RULE = DEFAULT_DRUG_FREE


def _derive_drug_free(days: Sequence[tuple[str, int]], medications: pl.DataFrame) -> list[tuple[Any, ...]]:
    """(patient_id, day, treatment_free_days, drug_free) on each (patient, day) by the report's
    rule, the one function :func:`remission.analysis.durations.derive_drug_free` (≥ 30 days since
    the last dose of a glucocorticoid, immunosuppressant, biologic or antimalarial; empty = unknown,
    no medication history reaching the infusion; an empty start counts as taken)."""
    from remission.analysis.durations import derive_drug_free

    visits = pl.DataFrame(list(days), schema={"patient_id": pl.String, "day": pl.Int64}, orient="row")
    derived = derive_drug_free(visits, medications, DRUG_FREE_RULE)
    return derived.select("patient_id", "day", "treatment_free_days", "drug_free").rows()


def _set_drug_free(facts: _Facts, row: tuple[Any, ...]) -> None:
    """Drug-free on the follow-up day, since the day the treatment-free period reached its
    minimum (empty when no counted course was ever stopped), and the days since the last dose."""
    _pid, day, free_days, flag = row
    facts.drug_free = None if flag is None else bool(flag)
    facts.treatment_free_days = free_days
    facts.drug_free_day = day - free_days + DRUG_FREE_RULE.min_free_days if flag and free_days is not None else None


def _drug_free_facts(connection: Connection, patient_ids: Sequence[str], facts: dict[str, _Facts]) -> None:
    """Drug-free status of many patients on their follow-up days, from one query of their
    courses and one call of the report's rule (:func:`_derive_drug_free`)."""
    m = schema.medications
    courses_of = select(m.c.patient_id, m.c.drug, m.c.start_day, m.c.stop_day)
    rows = connection.execute(
        courses_of.where(m.c.patient_id.in_(bindparam("ids", expanding=True))), {"ids": list(patient_ids)}
    ).all()
    medications = pl.DataFrame([tuple(r) for r in rows], schema=_MEDICATION_SCHEMA, orient="row")
    days = [(pid, f.last_day) for pid, f in facts.items() if f.last_day is not None]
    if days:
        for row in _derive_drug_free(days, medications):
            _set_drug_free(facts[row[0]], row)


def _change_days(patient: Mapping[str, Any], last_day: int) -> list[int]:
    """The days on which the drug-free flag can change, from day 0 (or the first record before
    it) to ``last_day`` (always the last): a course's start, the day after its stop and its stop
    + the minimum treatment-free period. Between two of them the flag stays the same, so the
    report's rule evaluated on these days gives the drug-free periods exactly."""
    records = (*patient["assessments"], *patient["labs"])
    first = min([0, last_day, *(r["day"] for r in records if r["day"] is not None)])
    days = {first, last_day}
    for m in patient["medications"]:
        starts = () if m["start_day"] is None else (m["start_day"],)
        stops = () if m["stop_day"] is None else (m["stop_day"] + 1, m["stop_day"] + DRUG_FREE_RULE.min_free_days)
        days.update(d for d in (*starts, *stops) if first < d < last_day)
    return sorted(days)


def _free_runs(flags: Sequence[tuple[int, int | None]], last_day: int) -> list[tuple[int, int]]:
    """Day intervals where the flag is 1, each flag holding until the next change day."""
    periods: list[tuple[int, int]] = []
    for (day, flag), following in zip(flags, [*(d for d, _ in flags[1:]), last_day + 1], strict=True):
        if flag != 1:
            continue
        if periods and periods[-1][1] == day - 1:
            periods[-1] = (periods[-1][0], following - 1)
        else:
            periods.append((day, following - 1))
    return periods


def drug_free_periods(patient: Mapping[str, Any], last_day: int) -> list[tuple[int, int]]:
    """The day intervals, up to ``last_day``, in which the patient is drug-free by the report's
    rule (:func:`_derive_drug_free` on the days the flag can change); none when unknown."""
    days = _change_days(patient, last_day)
    medications = _medication_frame(patient["patient_id"], patient["medications"])
    rows = _derive_drug_free([(patient["patient_id"], d) for d in days], medications)
    return _free_runs([(r[1], r[3]) for r in rows], last_day)


def _remission_of(
    disease: str, latest: Mapping[str, tuple[int, Any]]
) -> tuple[str, bool | None, int | None, str] | None:
    for index_name, label in remission_rules().get(disease, ()):
        if index_name in latest:
            day, values = latest[index_name]
            rule = rule_for_index(index_name)
            return (label, None if rule is None else rule.is_met(values), day, describe(index_name, values))
    return None


def derive_status(disease: str, facts: Any) -> dict[str, Any]:
    """The list page's status of one patient: follow-up day, remission (by the most specific
    stored rule of its disease, with the latest value in words: TIS and its response category,
    EUSTAR-AI and whether it is below 2.5), and drug-free on the follow-up day (since which day;
    None = unknown, no medication history; the days since the last maintenance dose)."""
    remission = _remission_of(disease, facts.latest)
    return {
        "follow_up_day": facts.last_day,
        "remission": None if remission is None else remission[1],
        "remission_rule": None if remission is None else remission[0],
        "remission_day": None if remission is None else remission[2],
        "remission_detail": None if remission is None else remission[3],
        "drug_free": facts.drug_free,
        "drug_free_from_day": facts.drug_free_day if facts.drug_free else None,
        "treatment_free_days": facts.treatment_free_days,
    }


def remission_periods(
    patient: Mapping[str, Any], drug_free: Sequence[tuple[int, int]] | None = None
) -> dict[str, list[tuple[int, int]]]:
    """Day intervals of remission (consecutive assessments meeting the disease's rule) and the
    drug-free periods (``drug_free`` when already derived, else :func:`drug_free_periods` up to
    the last follow-up day)."""
    periods: dict[str, list[tuple[int, int]]] = {"remission": [], "drug_free": list(drug_free or [])}
    for index_name, _label in remission_rules().get(patient["disease"], ()):
        rule = rule_for_index(index_name)
        if rule is None:
            continue
        flags = [
            (a["day"], rule.is_met(s["values"] or {}))
            for a in patient["assessments"]
            for s in a["scores"]
            if s["index"] == index_name
        ]
        if not flags:
            continue
        start: int | None = None
        previous = None
        for day, met in sorted(flags, key=lambda f: f[0]):
            if met and start is None:
                start = day
            if not met and start is not None:
                periods["remission"].append((start, previous if previous is not None else start))
                start = None
            previous = day
        if start is not None:
            periods["remission"].append((start, previous if previous is not None else start))
        break
    last = (patient.get("status") or {}).get("follow_up_day")
    if drug_free is None and last is not None:
        periods["drug_free"] = drug_free_periods(patient, last)
    return periods


# --------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------


def _problems_from_validation(
    exc: ValidationError, row: int | None = None, data: Mapping[str, Any] | None = None
) -> list[Problem]:
    """One problem per pydantic error: the field (its dotted path) and that field's own value,
    never the whole request body (a missing field's value is empty)."""
    return [
        Problem(row, ".".join(str(p) for p in e["loc"]) or "record", _own_value(e, data), e["msg"])
        for e in exc.errors()
    ]


def _own_value(error: Mapping[str, Any], data: Mapping[str, Any] | None) -> str:
    """The value a pydantic error is about: looked up by its location in ``data`` when given,
    else the error's input unless that is the whole record (a mapping)."""
    if error.get("type") == "missing":
        return ""
    if data is not None and error["loc"]:
        value: Any = data
        for part in error["loc"]:
            in_mapping = isinstance(value, Mapping) and part in value
            in_list = isinstance(value, list | tuple) and isinstance(part, int) and part < len(value)
            if not (in_mapping or in_list):
                break
            value = value[part]
        else:
            return "" if value is None else str(value)[:80]
    given = error.get("input", "")
    return "" if isinstance(given, Mapping) or given is None else str(given)[:80]


def _day_of(when: date, infusion: date | None, day: Any, date_field: str, day_field: str) -> int:
    """The day of ``when`` relative to the infusion (day 0), as imports compute it; a ``day``
    given too must agree with it (an error naming both otherwise)."""
    if infusion is None:
        if day is None:
            reason = f"the patient has no infusion (day 0): give {day_field} or record the infusion first"
            raise InvalidInputError([Problem(None, day_field, "", reason)])
        return int(day)
    computed = (when - infusion).days
    if day is not None and str(day).strip() != str(computed):
        reason = (
            f"contradicts {date_field} {when.isoformat()}, which is day {computed} "
            f"(infusion {infusion.isoformat()}); give one of them or make them agree"
        )
        raise InvalidInputError([Problem(None, day_field, str(day)[:80], reason)])
    return computed


def _infusion_date(connection: Connection, patient_id: str) -> date | None:
    """Day 0 of a patient: the earliest stored infusion (as imports take it), None if none."""
    return connection.execute(
        select(func.min(schema.infusions.c.date)).where(schema.infusions.c.patient_id == patient_id)
    ).scalar()


def _with_days(connection: Connection, kind: str, patient_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with each day field derived from its date field (``day`` from ``date``,
    ``start_day`` from ``start_date``, …). A date that does not parse is left to the model's
    validation, which names it."""
    from remission.io.importing import DAY_FIELDS

    out = dict(data)
    pairs = DAY_FIELDS.get(kind, ())
    if not pairs:
        return out
    infusion = _infusion_date(connection, patient_id)
    for date_field, day_field in pairs:
        when = _as_date(out.get(date_field))
        if when is None:
            continue
        out[day_field] = _day_of(when, infusion, out.get(day_field), date_field, day_field)
    return out


def _changed_days(connection: Connection, kind: str, patient_id: str, changes: Mapping[str, Any]) -> dict[str, int]:
    """The day fields of the dates a change sets (a day sent too must agree with its date)."""
    from remission.io.importing import DAY_FIELDS

    pairs = [(d, f) for d, f in DAY_FIELDS.get(kind, ()) if _as_date(changes.get(d)) is not None]
    if not pairs:
        return {}
    infusion = _infusion_date(connection, patient_id)
    return {
        f: _day_of(_as_date(changes[d]), infusion, changes.get(f), d, f)  # type: ignore[arg-type]
        for d, f in pairs
    }


def check_may_create(user: User) -> None:
    """Forbidden (403) for a role that writes no site (monitor, statistician): the API checks it
    before it reads the body of a new patient (whose site the body names)."""
    if user.role not in ("admin", "investigator"):
        raise Forbidden(f"role {user.role} cannot create patients")


def check_writable(engine: Engine, user: User, patient_id: str) -> None:
    """NotFound (404) or Forbidden (403) unless ``user`` may change the patient's records: the
    API checks it before it looks at a request body (422)."""
    _check_text(schema.patients, {"patient_id": patient_id})
    with engine.connect() as connection:
        _writable(connection, user, patient_id)


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _writable(connection: Connection, user: User, patient_id: str) -> dict[str, Any]:
    patient = patient_row(connection, user, patient_id)
    if not user.can_write_site(patient["site_id"]):
        raise Forbidden(f"role {user.role} cannot change patient records")
    return patient


def create_patient(engine: Engine, user: User, data: Mapping[str, Any]) -> dict[str, Any]:
    """Create a patient of a site the user may write; answers the stored row (version 1)."""
    try:
        record = Patient.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidInputError(_problems_from_validation(exc)) from exc
    if not user.can_write_site(record.site_id):
        raise Forbidden(f"you cannot create patients at site {record.site_id}")
    row = record.model_dump(mode="json") | {"version": 1}
    _check_text(schema.patients, row)  # before any lookup: PostgreSQL refuses NUL even in a WHERE
    with engine.begin() as connection:
        if (
            connection.execute(select(schema.sites.c.site_id).where(schema.sites.c.site_id == record.site_id)).first()
            is None
        ):
            raise InvalidInputError([Problem(None, "site_id", record.site_id, "no such site")])
        if connection.execute(
            select(schema.patients.c.patient_id).where(schema.patients.c.patient_id == record.patient_id)
        ).first():
            raise Conflict(f"patient {record.patient_id} already exists")
        connection.execute(schema.patients.insert().values(**row))
        append_audit(connection, user.username, "create", "patient", record.patient_id, {"new": row})
    return patient_record(engine, user, record.patient_id)


_PATIENT_FIELDS = ("site_id", "disease", "sex", "birth_year", "diagnosis_year", "prior_treatments")


def update_patient(
    engine: Engine, user: User, patient_id: str, changes: Mapping[str, Any], expected_version: int | None
) -> dict[str, Any]:
    """Change fields of a patient, given the version the change was based on (409 when stale)."""
    unknown = sorted(set(changes) - set(_PATIENT_FIELDS))
    if unknown:
        raise InvalidInputError([Problem(None, k, str(changes[k]), "not a changeable field") for k in unknown])
    with engine.begin() as connection:
        patient = _writable(connection, user, patient_id)
        check_version(patient["patient_id"], int(patient["version"]), expected_version, required=True)
        merged = {k: patient[k] for k in ("patient_id", *_PATIENT_FIELDS)} | dict(changes)
        try:
            record = Patient.model_validate(merged)
        except ValidationError as exc:
            raise InvalidInputError(_problems_from_validation(exc)) from exc
        if not user.can_write_site(record.site_id):
            raise Forbidden(f"you cannot move patients to site {record.site_id}")
        new = record.model_dump(mode="json")
        diff = {k: [patient[k], new[k]] for k in _PATIENT_FIELDS if patient[k] != new[k]}
        _check_text(schema.patients, {k: new[k] for k in diff})
        version = bump_version(connection, patient["patient_id"], int(patient["version"]))
        if diff:
            connection.execute(
                update(schema.patients)
                .where(schema.patients.c.patient_id == patient_id)
                .values(**{k: new[k] for k in diff})
            )
        append_audit(
            connection,
            user.username,
            "update",
            "patient",
            patient_id,
            {"version": [patient["version"], version], "changes": diff},
        )
    return patient_record(engine, user, patient_id)


#: Text columns derived from other fields (the natural source key of a record entered here).
DERIVED_TEXT = frozenset({"source_key"})


def _check_text(table: Table, row: Mapping[str, Any]) -> None:
    """Refuse text the database would refuse (longer than its column on PostgreSQL, NUL) with
    InvalidInputError, as imports do, instead of a database error (a 500)."""
    from remission.store.repository import _text_problems

    problems = [
        Problem(None, p.column.split(".", 1)[-1], p.value, p.reason) for p in _text_problems(table.name, table, [row])
    ]
    given = [p for p in problems if p.column not in DERIVED_TEXT]
    problems = given or problems  # a derived key repeats the given field's bad text: name the field only
    if problems:
        raise InvalidInputError(problems)


def _insert(connection: Connection, table: Table, row: Mapping[str, Any]) -> int:
    _check_text(table, row)
    key = connection.execute(table.insert().values(**row)).inserted_primary_key
    assert key is not None
    return int(key[0])


def add_record(
    engine: Engine, user: User, patient_id: str, kind: str, data: Mapping[str, Any], expected_version: int | None = None
) -> dict[str, Any]:
    """Add one record (infusion, lab, medication, adverse event; assessments go through
    :func:`save_assessment`) to a patient; answers the stored row."""
    if kind not in RECORD_KINDS or kind == "assessments":
        raise NotFound(f"no record kind {kind}")
    table, model = RECORD_KINDS[kind]
    _check_text(schema.patients, {"patient_id": patient_id})  # PostgreSQL refuses NUL even in a WHERE
    with engine.begin() as connection:
        patient = _writable(connection, user, patient_id)  # 404/403 before any check of the body (422)
        given = {**_with_days(connection, kind, patient_id, data), "patient_id": patient_id}
        try:
            record = model.model_validate(given)
        except ValidationError as exc:
            raise InvalidInputError(_problems_from_validation(exc, data=given)) from exc
        row = record.model_dump(mode="python")
        _check_text(table, row)  # before the natural-key lookup: PostgreSQL refuses NUL even in a WHERE
        check_version(patient["patient_id"], int(patient["version"]), expected_version, required=False)
        keys = schema.NATURAL_KEYS[table.name]
        if connection.execute(select(table.c.id).where(*[table.c[k] == row[k] for k in keys])).first():
            raise Conflict(f"a {kind} record with the same {', '.join(keys)} exists already")
        new_id = _insert(connection, table, row)
        bump_version(connection, patient["patient_id"], int(patient["version"]))
        append_audit(connection, user.username, "create", kind, str(new_id), {"patient_id": patient_id, "new": row})
        stored = connection.execute(select(table).where(table.c.id == new_id)).one()
    return _row(stored)


def delete_record(
    engine: Engine, user: User, patient_id: str, kind: str, record_id: int, expected_version: int | None
) -> None:
    """Delete one record of a patient, given the patient's version (409 when stale)."""
    if kind not in RECORD_KINDS:
        raise NotFound(f"no record kind {kind}")
    table, _model = RECORD_KINDS[kind]
    with engine.begin() as connection:
        patient = _writable(connection, user, patient_id)
        check_version(patient["patient_id"], int(patient["version"]), expected_version, required=True)
        old = connection.execute(select(table).where(table.c.id == record_id, table.c.patient_id == patient_id)).first()
        if old is None:
            raise NotFound(f"no {kind} record {record_id} for patient {patient_id}")
        connection.execute(delete(table).where(table.c.id == record_id))
        bump_version(connection, patient["patient_id"], int(patient["version"]))
        detail = {"patient_id": patient_id, "old": _row(old)}
        append_audit(connection, user.username, "delete", kind, str(record_id), detail)


def _record_fields(kind: str) -> tuple[str, ...]:
    _table, model = RECORD_KINDS[kind]
    return tuple(f for f in model.model_fields if f not in ("patient_id", "synthetic"))


def update_record(
    engine: Engine,
    user: User,
    patient_id: str,
    kind: str,
    record_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
) -> dict[str, Any]:
    """Change fields of one record of a patient, given the patient's version (409 when stale).

    The audit record lists each changed field as ``[old, new]``. An assessment whose items,
    date or day change is scored again, in the same transaction, with every index stored for it
    that is scored per visit (layout ``wide``); scores of other layouts are removed (they depend
    on other visits: ``remission score-db`` recomputes them), and the audit says which.
    """
    if kind not in RECORD_KINDS:
        raise NotFound(f"no record kind {kind}")
    table, model = RECORD_KINDS[kind]
    unknown = sorted(set(changes) - set(_record_fields(kind)))
    if unknown:
        raise InvalidInputError([Problem(None, k, str(changes[k])[:80], "not a changeable field") for k in unknown])
    with engine.begin() as connection:
        patient = _writable(connection, user, patient_id)
        check_version(patient["patient_id"], int(patient["version"]), expected_version, required=True)
        old_row = connection.execute(
            select(table).where(table.c.id == record_id, table.c.patient_id == patient_id)
        ).first()
        if old_row is None:
            raise NotFound(f"no {kind} record {record_id} for patient {patient_id}")
        old = _row(old_row)
        merged = {f: old[f] for f in (*_record_fields(kind), "patient_id") if f in old} | dict(changes)
        merged |= _changed_days(connection, kind, patient_id, changes)
        try:
            record = model.model_validate(merged)
        except ValidationError as exc:
            raise InvalidInputError(_problems_from_validation(exc, data=merged)) from exc
        new = record.model_dump(mode="python")
        diff = {k: [old[k], new[k]] for k in _record_fields(kind) if k in old and old[k] != new[k]}
        _check_text(table, {k: new[k] for k in diff})
        keys = schema.NATURAL_KEYS[table.name]
        if (
            any(k in diff for k in keys)
            and connection.execute(
                select(table.c.id).where(*[table.c[k] == new[k] for k in keys], table.c.id != record_id)
            ).first()
        ):
            raise Conflict(f"a {kind} record with the same {', '.join(keys)} exists already")
        detail: dict[str, Any] = {"patient_id": patient_id, "changes": diff}
        if diff:
            connection.execute(update(table).where(table.c.id == record_id).values(**{k: new[k] for k in diff}))
            if kind == "assessments" and {"items", "day", "date"} & set(diff):
                detail["scores"] = _rescore(connection, record_id, patient_id, new)
        version = bump_version(connection, patient["patient_id"], int(patient["version"]))
        detail["version"] = [patient["version"], version]
        append_audit(connection, user.username, "update", kind, str(record_id), detail)
        stored = _row(connection.execute(select(table).where(table.c.id == record_id)).one())
    return stored | {"patient_version": version}


def _rescore(
    connection: Connection, assessment_id: int, patient_id: str, assessment: Mapping[str, Any]
) -> dict[str, Any]:
    """Score a changed assessment again with each of its stored per-visit indices."""
    s = schema.scores
    changed: dict[str, Any] = {}
    for row in connection.execute(select(s).where(s.c.assessment_id == assessment_id)).all():
        definition = get_index(row.index_name)
        if definition.layout != "wide":
            connection.execute(delete(s).where(s.c.id == row.id))
            changed[row.index_name] = [row.values, None]
            continue
        items = {k: v for k, v in (assessment["items"] or {}).items() if v is not None and v != ""}
        result = score_one(definition, items, patient_id=patient_id, day=int(assessment["day"]))
        values = jsonable(result.values)
        connection.execute(
            update(s)
            .where(s.c.id == row.id)
            .values(values=values, explain=result.explain, rule_version=result.rule_version)
        )
        changed[row.index_name] = [row.values, values]
    return changed


def delete_patient(engine: Engine, user: User, patient_id: str, expected_version: int | None) -> None:
    """Delete a patient with all its records and scores, given its version (409 when stale).

    The audit record keeps the patient row and the number of records of each kind removed (the
    records themselves were audited when written)."""
    with engine.begin() as connection:
        patient = _writable(connection, user, patient_id)
        check_version(patient["patient_id"], int(patient["version"]), expected_version, required=True)
        a = schema.assessments
        connection.execute(
            delete(schema.scores).where(
                schema.scores.c.assessment_id.in_(select(a.c.id).where(a.c.patient_id == patient_id))
            )
        )
        removed: dict[str, int] = {}
        for kind, (table, _model) in RECORD_KINDS.items():
            removed[kind] = connection.execute(delete(table).where(table.c.patient_id == patient_id)).rowcount
        result = connection.execute(
            delete(schema.patients).where(
                schema.patients.c.patient_id == patient_id, schema.patients.c.version == patient["version"]
            )
        )
        if result.rowcount != 1:
            raise Conflict(f"patient {patient_id} changed meanwhile; reload it and try again")
        append_audit(connection, user.username, "delete", "patient", patient_id, {"old": patient, "records": removed})


# --------------------------------------------------------------------------------------------
# Cohort
# --------------------------------------------------------------------------------------------


def cohort_summary(engine: Engine, user: User) -> dict[str, Any]:
    """Counts by site and disease: patients, in remission at their latest judged visit, drug-free.

    Investigators count their own site; statisticians (no patient records) get the counts of
    every site, which name no patient."""
    reader = user if user.can_read_patients() else User(user.username, "monitor", None, user.session_id)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for p in list_patients(engine, reader):
        g = groups.setdefault(
            (p["site_id"], p["disease"]),
            {"site_id": p["site_id"], "disease": p["disease"], "patients": 0, "remission": 0, "drug_free": 0},
        )
        g["patients"] += 1
        g["remission"] += bool(p["status"]["remission"])
        g["drug_free"] += bool(p["status"]["drug_free"])
    items = sorted(groups.values(), key=lambda g: (g["site_id"], g["disease"]))
    return {"items": items, "total": sum(g["patients"] for g in items)}


def cohort_milestones(engine: Engine) -> list[dict[str, Any]]:
    """Per patient the day each milestone was reached, as the report's efficacy table
    (:func:`remission.report.sections.patient_milestones`; empty = not reached)."""
    from remission.report.data import ReportData
    from remission.report.sections import patient_milestones, remission_visits

    data = ReportData.load(engine)
    if data.patients.is_empty():
        return []
    visits, _missing = remission_visits(data)
    rows: list[dict[str, Any]] = patient_milestones(data, visits).to_dicts()
    return rows


# --------------------------------------------------------------------------------------------
# Assessments: score one visit, store it with its scores and explanation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VisitScore:
    """The outputs of one index for one visit, split into values and explanation."""

    index: str
    rule_version: str
    values: dict[str, Any]
    explain: str


def score_one(
    definition: IndexDefinition, items: Mapping[str, Any], *, patient_id: str = "", day: int = 0
) -> VisitScore:
    """Score one visit as :func:`remission.score` does (the same validation and rules as a table);
    a form's visit has only the items entered, so absent columns are missing items."""
    from remission.api import score_table

    row = dict(items)
    if definition.layout != "wide":
        row = {"patient_id": patient_id, "day": day, **row}
    frame = record_to_frame(row) if row else pl.DataFrame({"__empty": [""]})
    outcome = score_table(definition.name, frame, allow_missing_columns=True)
    if outcome.problems:
        raise InvalidInputError(outcome.problems)
    scored = outcome.scored.row(0, named=True)
    explain_col = next((c for c in definition.outputs if c.endswith("_explain")), None)
    values = {c: scored[c] for c in definition.outputs if c != explain_col}
    return VisitScore(
        definition.name, definition.version, values, (scored.get(explain_col) or "") if explain_col else ""
    )


@dataclass(frozen=True)
class ScorePanel:
    """A score as a panel shows it, in three separate parts: the values (every output but the
    explanation and the missing list), the explanation (what contributed, one part per item)
    and the inputs that were missing (not assessed); never one under another's label."""

    values: tuple[tuple[str, Any], ...]
    explanation: tuple[str, ...]
    missing: tuple[str, ...]


def score_panel(values: Mapping[str, Any], explain: str | None) -> ScorePanel:
    """Split a stored or live score into its :class:`ScorePanel` parts.

    >>> panel = score_panel({"sledai2k": 16, "sledai2k_missing": "rash; fever"}, "seizure=8; psychosis=8")
    >>> panel.values, panel.explanation, panel.missing
    ((('sledai2k', 16),), ('seizure=8', 'psychosis=8'), ('rash', 'fever'))
    """

    def parts(text: Any) -> tuple[str, ...]:
        return tuple(p.strip() for p in str(text or "").split(";") if p.strip())

    missing = tuple(m for k, v in values.items() if k.endswith("_missing") for m in parts(v))
    shown = tuple((k, v) for k, v in values.items() if not k.endswith(("_missing", "_explain")))
    return ScorePanel(shown, parts(explain), missing)


def _typed_items(definition: IndexDefinition, items: Mapping[str, Any], patient_id: str, day: int) -> dict[str, Any]:
    """Items as the spec types them (bool → 0/1, numbers as numbers), for storage."""
    keys = {"patient_id": patient_id, "day": day} if definition.layout != "wide" else {}
    typed = validate_record({**keys, **items}, definition)
    out: dict[str, Any] = {}
    for code, raw in items.items():
        value = typed.get(code, raw) if code in typed else raw
        out[code] = int(value) if isinstance(value, bool) else value
    return out


def save_assessment(
    engine: Engine,
    user: User,
    patient_id: str,
    index: str,
    *,
    when: date,
    visit: str,
    items: Mapping[str, Any],
    expected_version: int | None = None,
    day: int | None = None,
) -> dict[str, Any]:
    """Validate and score one visit of ``index``, then store the assessment, its score and
    explanation, the audit record and the patient's new version in one transaction."""
    definition = get_index(index)
    if definition.layout == "per_patient":
        raise InvalidInputError([Problem(None, "index", index, "is computed per patient, not entered per visit")])
    clean = {k: v for k, v in items.items() if v is not None and v != ""}
    with engine.begin() as connection:
        patient = _writable(connection, user, patient_id)
        check_version(patient["patient_id"], int(patient["version"]), expected_version, required=False)
        day = _day_of(when, _infusion_date(connection, patient_id), day, "date", "day")
        result = score_one(definition, clean, patient_id=patient_id, day=day)
        clean = _typed_items(definition, clean, patient_id, day)
        forms = definition.forms or (index,)
        try:
            record = Assessment(
                patient_id=patient_id,
                date=when,
                day=day,
                visit=visit or f"{index} day {day}",
                form=forms[0],
                items=clean,
            )
        except ValidationError as exc:
            raise InvalidInputError(_problems_from_validation(exc)) from exc
        row = record.model_dump(mode="python")
        _check_text(schema.assessments, row)  # before the lookup: PostgreSQL refuses NUL even in a WHERE
        exists = connection.execute(
            select(schema.assessments.c.id).where(
                schema.assessments.c.patient_id == patient_id,
                schema.assessments.c.date == when,
                schema.assessments.c.visit == record.visit,
            )
        ).first()
        if exists:
            raise Conflict(f"patient {patient_id} already has a visit '{record.visit}' on {when.isoformat()}")
        assessment_id = _insert(connection, schema.assessments, row)
        upsert(
            connection,
            schema.scores,
            [
                {
                    "assessment_id": assessment_id,
                    "index_name": index,
                    "rule_version": result.rule_version,
                    "values": jsonable(result.values),
                    "explain": result.explain,
                }
            ],
        )
        version = bump_version(connection, patient["patient_id"], int(patient["version"]))
        append_audit(
            connection,
            user.username,
            "create",
            "assessment",
            str(assessment_id),
            {"patient_id": patient_id, "index": index, "day": day, "items": sorted(clean), "score": result.values},
        )
    return {
        "id": assessment_id,
        "patient_id": patient_id,
        "date": when.isoformat(),
        "day": day,
        "visit": record.visit,
        "form": record.form,
        "items": clean,
        "patient_version": version,
        "score": {
            "index": index,
            "rule_version": result.rule_version,
            "values": result.values,
            "explain": result.explain,
        },
    }


def audit_entries(engine: Engine, user: User, patient_id: str) -> list[dict[str, Any]]:
    """The audit records about one patient (its own and those of its records), newest first."""
    with engine.connect() as connection:
        patient_row(connection, user, patient_id)
        log = schema.audit_log
        rows = connection.execute(select(log).where(log.c.patient_id == patient_id).order_by(log.c.id.desc()))
        return [_row(r) for r in rows]
