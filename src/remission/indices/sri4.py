"""SRI-4 (SLE Responder Index) and BICLA, comparing each follow-up assessment with baseline.

Sources: Furie RA, Petri MA, Wallace DJ, et al. Novel evidence-based systemic lupus erythematosus
responder index. Arthritis Rheum 2009;61:1143–51 (doi:10.1002/art.24698). BICLA: Wallace DJ,
Kalunian K, Petri MA, et al. Ann Rheum Dis 2014;73:183–90 (doi:10.1136/annrheumdis-2012-202760).

Long format (``patient_id``, ``day``): the baseline is the row marked ``baseline`` = 1, else the
patient's latest assessment with ``day <= 0`` (:func:`~remission.indices._base.with_baseline`).
Baseline rows, rows on or before the baseline day and patients without a baseline get empty
outputs. :data:`CRITERIA` is the single table of both responder definitions. SLEDAI-2K is the
full score of :mod:`remission.indices.sledai2k` (lab derivations included); BILAG-2004 domain
grades are those of :mod:`remission.indices.bilag2004`, a grade E after A–D counts as D.

Missing inputs: a SLEDAI-2K with missing descriptors is known to lie between its known points
and its known points plus the missing weights; a criterion is decided when every completion
decides it the same way, otherwise it (and a response it could change) is empty.

Examples
--------
>>> base = {c: 0 for c in SLEDAI_CODES} | {"arthritis": 1, "rash": 1, "pga": 1.5} | {
...     d: "D" for d in DOMAINS} | {"bilag_musculoskeletal": "B", "bilag_mucocutaneous": "C"}
>>> now = base | {"arthritis": 0, "pga": 1.7, "bilag_musculoskeletal": "D", "treatment_failure": 0}
>>> r = score_visit(now, base)
>>> r["sri4"], r["bicla"], r["sri4_explain"]
(1, 1, '')
>>> score_visit(now, base, reduction=5)["sri4_explain"]
'sledai2k_reduction<5'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from remission.errors import InvalidInputError, Problem
from remission.indices._base import (
    ROW,
    Column,
    Context,
    IndexDefinition,
    MissingRule,
    Option,
    ScalarResult,
    as_flag,
    join_labels,
    validate_record,
    with_baseline,
)
from remission.indices._sle import (
    SLEDAI_CODES,
    SLEDAI_COLUMNS,
    all3,
    flag,
    not3,
    present_columns,
    resolve_descriptors,
    sledai_bound_exprs,
    sledai_bounds,
)
from remission.indices.bilag2004 import DOMAIN_COLUMNS, DOMAINS

#: A rise of the physician global assessment must stay below this (a rise of exactly 0.3 fails).
PGA_MAX_RISE = 0.3
#: PGA differences are rounded to this many decimals before comparing (0.3 is not exact in binary).
PGA_DECIMALS = 6
DEFAULT_REDUCTION = 4
#: bicla_explain when BICLA does not apply (no BILAG A or B domain at baseline).
NO_AB = "no_bilag_a_or_b_at_baseline"
GRADES = ("A", "B", "C", "D", "E")


@dataclass(frozen=True)
class Criterion:
    """One criterion of SRI-4 and/or BICLA: its code (written when failed) and source wording."""

    code: str
    wording: str
    sri4: bool
    bicla: bool


#: SRI-4 (Furie 2009) and BICLA (Wallace 2014) criteria; ``{reduction}`` is the option's value.
CRITERIA: tuple[Criterion, ...] = (
    Criterion("sledai2k_reduction<{reduction}", "SLEDAI-2K reduced by ≥ 4 points", True, False),
    Criterion(
        "bilag_not_improved",
        "every BILAG A at baseline now B, C or D; every B now C or D",
        False,
        True,
    ),
    Criterion("new_bilag_a", "no new BILAG A domain", True, True),
    Criterion("new_bilag_b>1", "no more than one new BILAG B domain", True, True),
    Criterion("sledai2k_worse", "SLEDAI-2K not above baseline", False, True),
    Criterion("pga_rise>=0.3", "PGA not worsened by ≥ 0.3 (0–3 scale)", True, True),
    Criterion(
        "treatment_failure",
        "no treatment failure (protocol-prohibited medication or withdrawal)",
        False,
        True,
    ),
)

OPTIONS: tuple[Option, ...] = (
    Option(
        "reduction",
        "int",
        DEFAULT_REDUCTION,
        "SLEDAI-2K points the score must fall by (4 = SRI-4; 5–8 give SRI-5…SRI-8)",
    ),
)

COLUMNS: tuple[Column, ...] = (
    *SLEDAI_COLUMNS,
    Column("pga", "float", "physician global assessment (SELENA scale)", "0–3", 0, 3),
    *DOMAIN_COLUMNS,
    Column("treatment_failure", "bool", "treatment failure per protocol (BICLA)"),
)
OUTPUTS = ("sri4", "bicla", "sri4_explain", "bicla_explain", "sri4_missing")


def _reduction(options: Mapping[str, Any]) -> int:
    value = int(options.get("reduction", DEFAULT_REDUCTION))
    if not 1 <= value <= 105:
        raise InvalidInputError([Problem(None, "option reduction", str(value), "expected a whole number 1–105")])
    return value


# ------------------------------------------------------------------------------------------
# Scalar form
# ------------------------------------------------------------------------------------------


def _grade_checks(now: Mapping[str, Any], base: Mapping[str, Any]) -> tuple[bool | None, bool | None, bool | None]:
    """(BILAG improved as BICLA needs, no new A, at most one new B), three-valued."""
    improved: list[bool | None] = []
    new_a: list[bool | None] = []
    new_b: list[bool | None] = []
    for domain in DOMAINS:
        g, b = now[domain], base[domain]
        g = "D" if g == "E" and b is not None and b != "E" else g
        new_a.append(all3([None if g is None else g == "A", None if b is None else b != "A"]))
        new_b.append(all3([None if g is None else g == "B", None if b is None else b in ("C", "D", "E")]))
        if b == "A":
            improved.append(None if g is None else g in ("B", "C", "D"))
        elif b == "B":
            improved.append(None if g is None else g in ("C", "D"))
        elif b is None:
            improved.append(None if g is None or g in ("A", "B") else True)
    known_b = sum(1 for x in new_b if x)
    unknown_b = sum(1 for x in new_b if x is None)
    one_b = False if known_b > 1 else (True if known_b + unknown_b <= 1 else None)
    return all3(improved), not3(_any(new_a)), one_b


def _any(values: list[bool | None]) -> bool | None:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def _pga_ok(now: float | None, base: float | None) -> bool | None:
    if now is None or base is None:
        return None
    return round(now - base, PGA_DECIMALS) < PGA_MAX_RISE


def _has_ab(base: Mapping[str, Any]) -> bool | None:
    grades = [base[d] for d in DOMAINS]
    if any(g in ("A", "B") for g in grades):
        return True
    return None if any(g is None for g in grades) else False


def score_visit(
    visit: Mapping[str, Any],
    baseline: Mapping[str, Any] | None,
    *,
    missing: MissingRule = "empty",
    reduction: int = DEFAULT_REDUCTION,
) -> ScalarResult:
    """SRI-4 (or SRI-``reduction``) and BICLA of one follow-up assessment against its baseline.

    Parameters
    ----------
    visit, baseline : mapping of code → value
        The 24 SLEDAI-2K descriptors (0/1), ``pga`` (0–3), the nine BILAG-2004 domain grades
        ``bilag_<domain>`` (A–E) and, for BICLA, ``treatment_failure`` (0/1) of the follow-up
        visit. ``baseline`` None (no baseline) gives empty outputs.
    missing : {"empty", "absent"}
        ``"absent"`` treats missing SLEDAI-2K descriptors as absent.
    reduction : int
        SLEDAI-2K points the score must fall by (default 4).

    Returns
    -------
    ScalarResult
        ``sri4`` and ``bicla`` (1, 0 or None), ``sri4_explain`` and ``bicla_explain`` (failed
        criteria codes of :data:`CRITERIA`), ``sri4_missing``.

    Examples
    --------
    >>> base = {c: 0 for c in SLEDAI_CODES} | {"proteinuria": 1, "pga": 1.0}
    >>> now = base | {"proteinuria": 0, "pga": 1.3}
    >>> r = score_visit(now, base)   # pga rose by exactly 0.3; no BILAG grades given
    >>> r["sri4"], r["sri4_explain"], r["bicla"]
    (0, 'pga_rise>=0.3', None)
    """
    reduction = _reduction({"reduction": reduction})
    now = validate_record(visit, _ONE_VISIT)
    if baseline is None:
        return ScalarResult(values=dict.fromkeys(OUTPUTS))
    base = _validated_baseline(baseline)
    p_now, p_base = resolve_descriptors(now, missing), resolve_descriptors(base, missing)
    (now_low, now_high), (base_low, base_high) = sledai_bounds(p_now), sledai_bounds(p_base)
    fell = True if base_low - now_high >= reduction else (False if base_high - now_low < reduction else None)
    not_worse = True if now_high <= base_low else (False if now_low > base_high else None)
    improved, no_new_a, one_b = _grade_checks(now, base)
    pga_ok = _pga_ok(now["pga"], base["pga"])
    holds = [fell, improved, no_new_a, one_b, not_worse, pga_ok, not3(now["treatment_failure"])]
    sri4 = all3(h for h, c in zip(holds, CRITERIA, strict=True) if c.sri4)
    bicla = all3(h for h, c in zip(holds, CRITERIA, strict=True) if c.bicla) if _has_ab(base) else None

    def failed(which: str) -> str:
        if which == "bicla" and _has_ab(base) is False:
            return NO_AB
        return "; ".join(
            c.code.format(reduction=reduction)
            for h, c in zip(holds, CRITERIA, strict=True)
            if h is False and getattr(c, which)
        )

    missing_codes = [
        f"{c}{suffix}" for values, suffix in ((p_now, ""), (p_base, "_base")) for c in SLEDAI_CODES if values[c] is None
    ]
    missing_codes += [
        f"{c}{suffix}"
        for values, suffix in ((now, ""), (base, "_base"))
        for c in ("pga", *DOMAINS)
        if values[c] is None
    ]
    missing_codes += ["treatment_failure"] if now["treatment_failure"] is None else []
    return ScalarResult(
        values={
            "sri4": flag(sri4),
            "bicla": flag(bicla),
            "sri4_explain": failed("sri4"),
            "bicla_explain": failed("bicla"),
            "sri4_missing": "; ".join(sorted(missing_codes, key=_missing_order)),
        },
        missing=tuple(missing_codes),
    )


def _missing_order(code: str) -> int:
    return _MISSING_ORDER.index(code)


def _validated_baseline(baseline: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return validate_record(baseline, _ONE_VISIT)
    except InvalidInputError as err:
        raise InvalidInputError(
            [Problem(p.row, f"baseline.{p.column}", p.value, p.reason) for p in err.problems]
        ) from err


# ------------------------------------------------------------------------------------------
# Vectorised form
# ------------------------------------------------------------------------------------------


def _grade_exprs() -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    improved, new_a, new_b = [], [], []
    for domain in DOMAINS:
        b = pl.col(f"{domain}_base")
        raw = pl.col(domain)
        g = pl.when((raw == "E") & b.is_not_null() & (b != "E")).then(pl.lit("D")).otherwise(raw)
        new_a.append((g == "A") & (b != "A"))
        new_b.append((g == "B") & b.is_in(["C", "D", "E"]))
        improved.append(
            pl.when(b == "A")
            .then(g.is_in(["B", "C", "D"]))
            .when(b == "B")
            .then(g.is_in(["C", "D"]))
            .when(b.is_null())
            .then(pl.when(g.is_null() | g.is_in(["A", "B"])).then(None).otherwise(True))
            .otherwise(True)
        )
    known_b = pl.sum_horizontal([x.fill_null(False).cast(pl.Int32) for x in new_b])
    unknown_b = pl.sum_horizontal([x.is_null().cast(pl.Int32) for x in new_b])
    one_b = pl.when(known_b > 1).then(False).when(known_b + unknown_b <= 1).then(True).otherwise(None)
    return pl.all_horizontal(improved), ~pl.any_horizontal(new_a), one_b


def compute(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Vectorised SRI-4 and BICLA over a validated long table (``patient_id``, ``day``)."""
    reduction = _reduction(ctx.options)
    resolved = visits.with_columns(present_columns(visits, ctx))
    codes = [f"__p_{c}" for c in SLEDAI_CODES] + ["pga", *DOMAINS]
    scratch = with_baseline(resolved, codes).sort(ROW)
    now_low, now_high = sledai_bound_exprs()
    base_low, base_high = sledai_bound_exprs("_base")
    fell = (
        pl.when(base_low - now_high >= reduction)
        .then(True)
        .when(base_high - now_low < reduction)
        .then(False)
        .otherwise(None)
    )
    not_worse = pl.when(now_high <= base_low).then(True).when(now_low > base_high).then(False).otherwise(None)
    improved, no_new_a, one_b = _grade_exprs()
    pga_ok = (pl.col("pga") - pl.col("pga_base")).round(PGA_DECIMALS) < PGA_MAX_RISE
    holds = [fell, improved, no_new_a, one_b, not_worse, pga_ok, ~pl.col("treatment_failure")]
    base_grades = [pl.col(f"{d}_base") for d in DOMAINS]
    has_ab = (
        pl.when(pl.any_horizontal([g.is_in(["A", "B"]) for g in base_grades]).fill_null(False))
        .then(True)
        .when(pl.any_horizontal([g.is_null() for g in base_grades]))
        .then(None)
        .otherwise(False)
    )
    follow = pl.col("is_followup")
    sri4 = pl.when(follow).then(pl.all_horizontal([h for h, c in zip(holds, CRITERIA, strict=True) if c.sri4]))
    bicla = pl.when(follow & has_ab).then(
        pl.all_horizontal([h for h, c in zip(holds, CRITERIA, strict=True) if c.bicla])
    )

    def failed(which: str) -> pl.Expr:
        labels = [
            pl.when(~h).then(pl.lit(c.code.format(reduction=reduction)))
            for h, c in zip(holds, CRITERIA, strict=True)
            if getattr(c, which)
        ]
        return pl.when(follow).then(join_labels(labels))

    outputs = [as_flag(sri4).alias("sri4"), as_flag(bicla).alias("bicla")]
    if ctx.explain:
        outputs += [
            failed("sri4").alias("sri4_explain"),
            pl.when(follow & has_ab.not_()).then(pl.lit(NO_AB)).otherwise(failed("bicla")).alias("bicla_explain"),
            pl.when(follow).then(join_labels(_missing_exprs())).alias("sri4_missing"),
        ]
    return scratch.select(outputs)


_MISSING_ORDER: list[str] = [
    *SLEDAI_CODES,
    *(f"{c}_base" for c in SLEDAI_CODES),
    "pga",
    *DOMAINS,
    "pga_base",
    *(f"{d}_base" for d in DOMAINS),
    "treatment_failure",
]


def _missing_exprs() -> list[pl.Expr]:
    exprs: list[pl.Expr] = []
    for code in _MISSING_ORDER:
        column = f"__p_{code}" if code.removesuffix("_base") in SLEDAI_CODES else code
        exprs.append(pl.when(pl.col(column).is_null()).then(pl.lit(code)))
    return exprs


INDEX = IndexDefinition(
    name="sri4",
    forms=("sle",),
    title="SRI-4 (SLE Responder Index) and BICLA",
    source=("Furie RA, et al. Arthritis Rheum 2009;61:1143–51; Wallace DJ, et al. Ann Rheum Dis 2014;73:183–90."),
    doi="10.1002/art.24698",
    columns=COLUMNS,
    outputs=OUTPUTS,
    compute=compute,
    scalar=score_visit,
    layout="long",
    options=OPTIONS,
    missing_rule=(
        "a response is 0 when a criterion decided by the known inputs fails and empty when "
        "it depends on a missing input; SLEDAI-2K changes are judged on the range the "
        "missing descriptors allow; bicla is "
        "empty when the baseline has no BILAG A or B domain (or may have none)"
    ),
)
_ONE_VISIT = replace(INDEX, layout="wide")
