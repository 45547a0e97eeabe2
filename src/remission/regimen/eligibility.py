"""Eligibility evaluated from protocol data, with one explanation per criterion (pure).

Three-valued: a criterion is ``True`` (met), ``False`` (a known fact fails it) or ``None``
(undecided: it depends on a missing fact). The patient is eligible when every criterion is met,
ineligible as soon as one fails, and undecided otherwise (Kleene AND).

Examples
--------
>>> from remission.regimen.protocol import load_protocol
>>> facts = {"age_years": 34, "prior_immunosuppressants": 3, "disease": "sle",
...          "nephritis_class": "iv", "active_nephritis": 1}
>>> result = evaluate_eligibility(facts, load_protocol())
>>> result.eligible
True
>>> [(c.code, c.met) for c in result.criteria]
[('age', True), ('refractory', True), ('disease', True), ('organ_involvement', True)]
>>> print(result.criteria[0])
age: met (age between 18 and 60 years: age_years=34)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remission.errors import InvalidInputError, Problem
from remission.regimen.protocol import Condition, Criterion, Fact, Protocol

_TRUE = ("1", "1.0", "true", "yes", "y", "t")
_FALSE = ("0", "0.0", "false", "no", "n", "f")


@dataclass(frozen=True)
class CriterionResult:
    """One criterion's outcome and why: the facts it read (``fact=value``) and what was missing."""

    code: str
    text: str
    met: bool | None
    evidence: tuple[str, ...]
    missing: tuple[str, ...]

    def __str__(self) -> str:
        status = {True: "met", False: "not met", None: "undecided"}[self.met]
        detail = ", ".join(self.evidence)
        if self.missing:
            detail = (detail + "; " if detail else "") + "missing: " + ", ".join(self.missing)
        return f"{self.code}: {status} ({self.text}: {detail})"


@dataclass(frozen=True)
class EligibilityResult:
    """Overall eligibility (three-valued) and the per-criterion results, in protocol order."""

    protocol: str
    eligible: bool | None
    criteria: tuple[CriterionResult, ...]

    def explain(self) -> str:
        """One line per criterion."""
        return "\n".join(str(c) for c in self.criteria)


def parse_fact(name: str, fact: Fact, value: Any, row: int | None = None) -> Any:
    """Type one fact value (text from a CSV or a Python value); None/empty means missing."""
    if value is None or (isinstance(value, str) and value.strip() == "") or value != value:
        return None
    text = str(value).strip().lower()
    try:
        if fact.kind == "bool":
            if isinstance(value, bool):
                return value
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError
        if fact.kind == "int":
            number = float(text)
            if number != int(number):
                raise ValueError
            return int(number)
        if fact.kind == "float":
            return float(text)
    except ValueError as exc:
        raise InvalidInputError([Problem(row, name, str(value), f"expected {fact.kind}")]) from exc
    if fact.kind == "category" and fact.choices and text not in fact.choices:
        raise InvalidInputError([Problem(row, name, str(value), "expected one of " + ", ".join(fact.choices))])
    return text if fact.kind == "category" else str(value).strip()


def _resolve(value: Any, parameters: Mapping[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        return parameters[value[1:]]
    if isinstance(value, list | tuple):
        return [str(v).lower() if isinstance(v, str) else v for v in value]
    return value


def _check(cond: Condition, actual: Any, parameters: Mapping[str, Any]) -> bool:
    expected = _resolve(cond.value, parameters)
    if isinstance(expected, str):
        expected = expected.lower()
    result: bool
    if cond.op == "in":
        result = actual in expected
    elif cond.op == "==":
        result = actual == expected
    elif cond.op == "!=":
        result = actual != expected
    elif cond.op == ">=":
        result = actual >= expected
    elif cond.op == "<=":
        result = actual <= expected
    elif cond.op == ">":
        result = actual > expected
    else:
        result = actual < expected
    return bool(result)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _evaluate(criterion: Criterion, facts: Mapping[str, Any], parameters: Mapping[str, Any]) -> CriterionResult:
    conditions = list(criterion.all)
    disease = facts.get("disease")
    if criterion.by_disease:
        if disease is None:
            return CriterionResult(criterion.code, criterion.text.format(**parameters), None, (), ("disease",))
        if disease not in criterion.by_disease:
            return CriterionResult(
                criterion.code,
                criterion.text.format(**parameters),
                False,
                (f"disease={disease} (no rule)",),
                (),
            )
        conditions += list(criterion.by_disease[disease])
    passed: dict[str, bool] = {}
    missing: list[str] = []
    for cond in conditions:
        actual = facts.get(cond.fact)
        if actual is None:
            if cond.fact not in missing:
                missing.append(cond.fact)
            continue
        passed[cond.fact] = passed.get(cond.fact, True) and _check(cond, actual, parameters)
    evidence = [f"{f}={_show(facts[f])}" + ("" if ok else " fails") for f, ok in passed.items()]
    failed = not all(passed.values())
    met = False if failed else (None if missing else True)
    return CriterionResult(criterion.code, criterion.text.format(**parameters), met, tuple(evidence), tuple(missing))


def evaluate_eligibility(
    patient_facts: Mapping[str, Any],
    protocol: Protocol,
    *,
    parameters: Mapping[str, Any] | None = None,
) -> EligibilityResult:
    """Evaluate the protocol's eligibility criteria for one patient, explaining each criterion.

    Parameters
    ----------
    patient_facts : mapping of fact → value
        Facts named in the protocol's ``eligibility.facts`` (e.g. ``age_years``, ``disease``);
        missing facts are None or absent. Values may be text (CSV) and are typed by the protocol.
    protocol : Protocol
        A validated protocol.
    parameters : mapping, optional
        Overrides of the protocol's eligibility parameters (e.g. ``{"max_age_years": 70}``).

    Returns
    -------
    EligibilityResult
        ``eligible`` True/False/None and one :class:`CriterionResult` per criterion.

    Examples
    --------
    >>> from remission.regimen.protocol import load_protocol
    >>> r = evaluate_eligibility({"age_years": 65, "disease": "ssc"}, load_protocol())
    >>> r.eligible, [c.met for c in r.criteria]
    (False, [False, None, True, None])
    >>> wider = {"max_age_years": 70}
    >>> older = evaluate_eligibility({"age_years": 65}, load_protocol(), parameters=wider)
    >>> older.criteria[0].met
    True
    """
    rules = protocol.eligibility
    params: dict[str, Any] = dict(rules.parameters)
    unknown = sorted(set(parameters or {}) - set(params))
    if unknown:
        raise InvalidInputError(
            [
                Problem(
                    None,
                    "parameters",
                    name,
                    "unknown eligibility parameter (known: " + ", ".join(params) + ")",
                )
                for name in unknown
            ]
        )
    params.update(parameters or {})
    typed = {name: parse_fact(name, fact, patient_facts.get(name)) for name, fact in rules.facts.items()}
    results = tuple(_evaluate(c, typed, params) for c in rules.criteria)
    outcomes = [r.met for r in results]
    eligible = False if False in outcomes else (None if None in outcomes else True)
    return EligibilityResult(protocol.name, eligible, results)


def evaluate_table(patients: Any, protocol: Protocol, *, parameters: Mapping[str, Any] | None = None) -> Any:
    """Evaluate every patient (row) of a polars DataFrame; every invalid cell is reported.

    Returns the input columns plus ``eligible`` (1/0, empty = undecided), one ``<criterion>_met``
    column per criterion and ``eligibility_explain`` (the per-criterion reasons, ``|``-separated).

    Examples
    --------
    >>> import polars as pl
    >>> from remission.regimen.protocol import load_protocol
    >>> table = pl.DataFrame({"age_years": ["30", "70"], "prior_immunosuppressants": ["2", "4"],
    ...     "disease": ["myositis", "sle"], "active_muscle_disease": ["1", ""],
    ...     "active_lung_disease": ["yes", ""]})
    >>> evaluate_table(table, load_protocol())["eligible"].to_list()
    [1, 0]
    """
    import polars as pl

    facts = protocol.eligibility.facts
    problems: list[Problem] = []
    typed_rows: list[dict[str, Any]] = []
    for index, row in enumerate(patients.iter_rows(named=True), start=1):
        typed: dict[str, Any] = {}
        for name, fact in facts.items():
            try:
                typed[name] = parse_fact(name, fact, row.get(name), row=index)
            except InvalidInputError as err:
                problems += err.problems
        typed_rows.append(typed)
    if problems:
        raise InvalidInputError(problems)
    results = [evaluate_eligibility(t, protocol, parameters=parameters) for t in typed_rows]
    flag = {True: 1, False: 0, None: None}
    columns: dict[str, pl.Series] = {
        "eligible": pl.Series("eligible", [flag[r.eligible] for r in results], dtype=pl.Int8)
    }
    for i, criterion in enumerate(protocol.eligibility.criteria):
        name = f"{criterion.code}_met"
        columns[name] = pl.Series(name, [flag[r.criteria[i].met] for r in results], dtype=pl.Int8)
    columns["eligibility_explain"] = pl.Series(
        "eligibility_explain",
        [" | ".join(str(c) for c in r.criteria) for r in results],
        dtype=pl.Utf8,
    )
    return patients.with_columns(list(columns.values()))
