"""DORIS 2021 — definition of remission in SLE: remission, complete remission, drug-free remission.

Source: van Vollenhoven RF, Bertsias G, Doria A, et al. 2021 DORIS definition of remission in
SLE: final recommendations from an international task force. Lupus Sci Med 2021;8:e000538
(doi:10.1136/lupus-2021-000538). Framework: van Vollenhoven R, et al. Ann Rheum Dis
2017;76:554–61. Drug-free remission as reported after CAR-T by Mackensen A, et al. Nat Med
2022;28:2124–32 and Müller F, et al. N Engl J Med 2024;390:687–700.

One table, :data:`CRITERIA`, drives both forms. Each criterion names the input it tests, the
comparison, the limit (a number or the name of an option) and the definitions that need it:

* ``doris_remission``: clinical SLEDAI = 0, pga < 0.5 and prednisone ≤ 5 mg/day
  (antimalarials, immunosuppressants and biologics allowed);
* ``doris_complete_remission``: remission, no serological activity (``low_complement`` = 0,
  ``increased_dna_binding`` = 0), no prednisone, no immunosuppressant, no biologic (antimalarial
  allowed);
* ``drug_free_remission``: remission and no prednisone, immunosuppressant, biologic or
  antimalarial (option ``allow_antimalarial`` lets antimalarials pass).

The SLEDAI-2K descriptors are those of :mod:`remission.indices.sledai2k`, with its lab
derivations. Outputs are three-valued: 0 when a criterion with known inputs fails, empty only
when the answer depends on a missing input.

Examples
--------
>>> visit = {c: 0 for c in SLEDAI_CODES} | {"pga": 0.3, "prednisone_mg_day": 5,
...          "antimalarial": 1, "immunosuppressant": 0, "biologic": 0}
>>> r = score_visit(visit)
>>> r["doris_remission"], r["doris_complete_remission"], r["drug_free_remission"]
(1, 0, 0)
>>> r["doris_explain"]
'complete: prednisone>0; drug_free: prednisone>0, antimalarial=1'
>>> score_visit(visit | {"pga": 0.5, "prednisone_mg_day": 7.5})["doris_failed"]
'pga>=0.5; prednisone>5'
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from remission.indices._base import (
    Column,
    Context,
    IndexDefinition,
    MissingRule,
    Option,
    ScalarResult,
    as_flag,
    join_labels,
    validate_record,
)
from remission.indices._sle import (
    CLINICAL_CODES,
    SEROLOGY,
    SLEDAI_CODES,
    SLEDAI_COLUMNS,
    SLEDAI_WEIGHTS,
    all3,
    flag,
    present_col,
    present_columns,
    resolve_descriptors,
)

REMISSION = "doris_remission"
COMPLETE = "doris_complete_remission"
DRUG_FREE = "drug_free_remission"

#: Default prednisone limit of DORIS remission, mg/day (abstract: "5 mg/day or less").
PREDNISONE_LIMIT = 5.0


@dataclass(frozen=True)
class Criterion:
    """One DORIS criterion: ``value(code) <op> limit`` must hold for the definitions listed.

    ``limit`` is a number, or the name of an option holding it. ``failed`` is the label written
    to ``doris_failed``/``doris_explain`` when the criterion is known not to hold
    (``{limit}`` is replaced by the limit).
    """

    code: str
    op: str  # "<", "<=", "==", "absent"
    limit: float | str
    failed: str
    wording: str
    definitions: tuple[str, ...]


#: The DORIS 2021 table (van Vollenhoven 2021, Table 2, and the drug-free variant).
CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "clinical_sledai",
        "==",
        0,
        "clinical_sledai>0",
        "clinical SLEDAI-2K = 0 (serology ignored)",
        (REMISSION,),
    ),
    Criterion("pga", "<", 0.5, "pga>=0.5", "physician global assessment < 0.5 (0–3)", (REMISSION,)),
    Criterion(
        "prednisone_mg_day",
        "<=",
        "prednisone_limit",
        "prednisone>{limit}",
        "prednisolone-equivalent ≤ 5 mg/day",
        (REMISSION,),
    ),
    Criterion("low_complement", "absent", 0, "low_complement", "no low complement", (COMPLETE,)),
    Criterion(
        "increased_dna_binding",
        "absent",
        0,
        "increased_dna_binding",
        "no raised anti-dsDNA",
        (COMPLETE,),
    ),
    Criterion("prednisone_mg_day", "==", 0, "prednisone>0", "no glucocorticoid", (COMPLETE, DRUG_FREE)),
    Criterion(
        "immunosuppressant",
        "absent",
        0,
        "immunosuppressant=1",
        "no immunosuppressant",
        (COMPLETE, DRUG_FREE),
    ),
    Criterion("biologic", "absent", 0, "biologic=1", "no biologic", (COMPLETE, DRUG_FREE)),
    Criterion(
        "antimalarial",
        "absent",
        0,
        "antimalarial=1",
        "no antimalarial (unless allow_antimalarial)",
        (DRUG_FREE,),
    ),
)

OPTIONS: tuple[Option, ...] = (
    Option(
        "allow_antimalarial",
        "bool",
        False,
        "drug_free_remission accepts antimalarials (hydroxychloroquine counted as compatible)",
    ),
    Option(
        "prednisone_limit",
        "float",
        PREDNISONE_LIMIT,
        "prednisone-equivalent limit of doris_remission in mg/day (default 5, inclusive)",
    ),
    Option(
        "prednisone_strict",
        "bool",
        False,
        "use prednisone < limit (the paper's table) instead of ≤ limit (its abstract)",
    ),
)
DEFAULTS: dict[str, Any] = {o.name: o.default for o in OPTIONS}

DRUG_COLUMNS: tuple[Column, ...] = (
    Column("pga", "float", "physician global assessment (SELENA scale)", "0–3", 0, 3),
    Column("prednisone_mg_day", "float", "prednisone-equivalent dose today", "mg/day", 0, 5000),
    Column("antimalarial", "bool", "currently taking an antimalarial (medications.md)"),
    Column("immunosuppressant", "bool", "currently taking an immunosuppressant or immunomodulator"),
    Column("biologic", "bool", "currently taking a biologic"),
)
COLUMNS: tuple[Column, ...] = (*SLEDAI_COLUMNS, *DRUG_COLUMNS)
OUTPUTS = (REMISSION, COMPLETE, DRUG_FREE, "doris_failed", "doris_explain", "doris_missing")

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
}


def _settings(options: Mapping[str, Any]) -> dict[str, Any]:
    return {**DEFAULTS, **options}


def _active(criterion: Criterion, options: Mapping[str, Any]) -> bool:
    return not (criterion.code == "antimalarial" and options["allow_antimalarial"])


def _op_and_limit(criterion: Criterion, options: Mapping[str, Any]) -> tuple[str, float]:
    if isinstance(criterion.limit, str):
        return ("<" if options["prednisone_strict"] else "<="), float(options[criterion.limit])
    return criterion.op, float(criterion.limit)


def _failed_label(criterion: Criterion, options: Mapping[str, Any]) -> str:
    op, limit = _op_and_limit(criterion, options)
    label = criterion.failed.format(limit=f"{limit:g}")
    return label.replace(">", ">=") if op == "<" and isinstance(criterion.limit, str) else label


def _holds(criterion: Criterion, value: Any, options: Mapping[str, Any]) -> Any:
    """The criterion on a scalar (None = unknown) or a polars expression (Kleene)."""
    op, limit = _op_and_limit(criterion, options)
    if op == "absent":
        return (None if value is None else not value) if not isinstance(value, pl.Expr) else ~value
    if value is None:
        return None
    return _OPS[op](value, limit)


def _needed_codes(options: Mapping[str, Any]) -> tuple[str, ...]:
    drugs = [c.code for c in DRUG_COLUMNS if c.code != "antimalarial" or not options["allow_antimalarial"]]
    return (*CLINICAL_CODES, *SEROLOGY, *drugs)


# ------------------------------------------------------------------------------------------
# Scalar form
# ------------------------------------------------------------------------------------------


def _clinical_value(present: Mapping[str, bool | None]) -> int | None:
    """Clinical SLEDAI if fixed; its known lower bound when already > 0; else None."""
    low = sum(SLEDAI_WEIGHTS[c] for c in CLINICAL_CODES if present[c])
    if low > 0:
        return low
    return None if any(present[c] is None for c in CLINICAL_CODES) else 0


def score_visit(visit: Mapping[str, Any], *, missing: MissingRule = "empty", **options: Any) -> ScalarResult:
    """DORIS remission, complete and drug-free remission of one visit, with the criteria not met.

    Parameters
    ----------
    visit : mapping of code → value
        The 24 SLEDAI-2K descriptors (0/1; lab measurements of sledai2k.md may replace empty
        ones), ``pga`` (0–3), ``prednisone_mg_day`` (mg/day prednisone equivalent, ≥ 0) and the
        0/1 drug flags ``antimalarial``, ``immunosuppressant``, ``biologic``. None = missing.
    missing : {"empty", "absent"}
        ``"absent"`` treats missing SLEDAI-2K descriptors as absent.
    **options
        ``allow_antimalarial`` (bool, default False), ``prednisone_limit`` (mg/day, default 5),
        ``prednisone_strict`` (bool, default False: prednisone ≤ limit passes).

    Returns
    -------
    ScalarResult
        ``doris_remission``, ``doris_complete_remission``, ``drug_free_remission`` (1, 0 or None),
        ``doris_failed`` (remission criteria not met), ``doris_explain`` (active clinical items
        and what blocks complete/drug-free remission), ``doris_missing``.

    Examples
    --------
    >>> base = {c: 0 for c in SLEDAI_CODES} | {"pga": 0.0, "prednisone_mg_day": 0,
    ...         "antimalarial": 1, "immunosuppressant": 0, "biologic": 0}
    >>> score_visit(base, allow_antimalarial=True)["drug_free_remission"]
    1
    >>> r = score_visit(base | {"pga": None, "prednisone_mg_day": 7.5})
    >>> r["doris_remission"], r["doris_failed"], r["doris_missing"]
    (0, 'prednisone>5', 'pga')
    """
    opts = _settings(INDEX.parse_options(options))
    values = validate_record(visit, INDEX)
    present = resolve_descriptors(values, missing)
    inputs: dict[str, Any] = {**values, **present, "clinical_sledai": _clinical_value(present)}
    holds = {i: _holds(c, inputs[c.code], opts) for i, c in enumerate(CRITERIA) if _active(c, opts)}
    result = {
        name: all3(h for i, h in holds.items() if name in CRITERIA[i].definitions)
        for name in (REMISSION, COMPLETE, DRUG_FREE)
    }
    result[COMPLETE] = all3([result[REMISSION], result[COMPLETE]])
    result[DRUG_FREE] = all3([result[REMISSION], result[DRUG_FREE]])
    failed = [i for i, h in holds.items() if h is False]
    clinical = [f"{c}={SLEDAI_WEIGHTS[c]}" for c in CLINICAL_CODES if present[c]]
    groups = [f"clinical_sledai: {', '.join(clinical)}"] if clinical else []
    for name, short in ((COMPLETE, "complete"), (DRUG_FREE, "drug_free")):
        labels = [
            _failed_label(CRITERIA[i], opts)
            for i in failed
            if name in CRITERIA[i].definitions and REMISSION not in CRITERIA[i].definitions
        ]
        if labels:
            groups.append(f"{short}: {', '.join(labels)}")
    missing_codes = [c for c in _needed_codes(opts) if inputs[c] is None]
    return ScalarResult(
        values={
            REMISSION: flag(result[REMISSION]),
            COMPLETE: flag(result[COMPLETE]),
            DRUG_FREE: flag(result[DRUG_FREE]),
            "doris_failed": "; ".join(
                _failed_label(CRITERIA[i], opts) for i in failed if REMISSION in CRITERIA[i].definitions
            ),
            "doris_explain": "; ".join(groups),
            "doris_missing": "; ".join(missing_codes),
        },
        missing=tuple(missing_codes),
    )


# ------------------------------------------------------------------------------------------
# Vectorised form
# ------------------------------------------------------------------------------------------


def _value_expr(code: str) -> pl.Expr:
    if code == "clinical_sledai":
        return pl.col("__clinical")
    return present_col(code) if code in SLEDAI_CODES else pl.col(code)


def _clinical_expr() -> pl.Expr:
    low = pl.sum_horizontal(
        [present_col(c).fill_null(False).cast(pl.Int32) * SLEDAI_WEIGHTS[c] for c in CLINICAL_CODES]
    )
    any_missing = pl.any_horizontal([present_col(c).is_null() for c in CLINICAL_CODES])
    return pl.when(low > 0).then(low).when(any_missing).then(None).otherwise(0)


def _explain_expr(checks: list[tuple[Criterion, pl.Expr]], opts: Mapping[str, Any]) -> pl.Expr:
    clinical = join_labels(
        [pl.when(present_col(c)).then(pl.lit(f"{c}={SLEDAI_WEIGHTS[c]}")) for c in CLINICAL_CODES],
        ", ",
    )
    groups = [pl.when(clinical != "").then(pl.format("clinical_sledai: {}", clinical))]
    for name, short in ((COMPLETE, "complete"), (DRUG_FREE, "drug_free")):
        labels = join_labels(
            [
                pl.when(~h).then(pl.lit(_failed_label(c, opts)))
                for c, h in checks
                if name in c.definitions and REMISSION not in c.definitions
            ],
            ", ",
        )
        groups.append(pl.when(labels != "").then(pl.format(f"{short}: {{}}", labels)))
    return join_labels(groups)


def compute(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Vectorised DORIS over a validated wide table (one row per assessment)."""
    opts = _settings(ctx.options)
    scratch = visits.with_columns(present_columns(visits, ctx)).with_columns(_clinical_expr().alias("__clinical"))
    checks = [(c, _holds(c, _value_expr(c.code), opts)) for c in CRITERIA if _active(c, opts)]
    remission = pl.all_horizontal([h for c, h in checks if REMISSION in c.definitions])
    complete = pl.all_horizontal([remission, *[h for c, h in checks if COMPLETE in c.definitions]])
    drug_free = pl.all_horizontal([remission, *[h for c, h in checks if DRUG_FREE in c.definitions]])
    outputs = [
        as_flag(remission).alias(REMISSION),
        as_flag(complete).alias(COMPLETE),
        as_flag(drug_free).alias(DRUG_FREE),
        join_labels(
            [pl.when(~h).then(pl.lit(_failed_label(c, opts))) for c, h in checks if REMISSION in c.definitions]
        ).alias("doris_failed"),
    ]
    if ctx.explain:
        needed = [pl.when(_value_expr(c).is_null()).then(pl.lit(c)) for c in _needed_codes(opts)]
        outputs += [
            _explain_expr(checks, opts).alias("doris_explain"),
            join_labels(needed).alias("doris_missing"),
        ]
    return scratch.select(outputs)


INDEX = IndexDefinition(
    name="doris",
    forms=("sle",),
    title="DORIS 2021 remission, complete remission and drug-free remission in SLE",
    source="van Vollenhoven RF, et al. Lupus Sci Med 2021;8:e000538.",
    doi="10.1136/lupus-2021-000538",
    columns=COLUMNS,
    outputs=OUTPUTS,
    compute=compute,
    scalar=score_visit,
    options=OPTIONS,
    missing_rule=(
        "each flag is 0 when a criterion with known inputs fails and empty when it depends "
        "on a missing "
        "input; clinical SLEDAI is known > 0 as soon as one clinical descriptor is present"
    ),
)
