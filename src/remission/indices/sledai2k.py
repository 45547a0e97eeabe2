"""SLEDAI-2K — Systemic Lupus Erythematosus Disease Activity Index 2000 (and clinical SLEDAI).

Source: Gladman DD, Ibañez D, Urowitz MB. Systemic lupus erythematosus disease activity index 2000.
J Rheumatol 2002;29:288–91 (SLEDAI: Bombardier C, et al. Arthritis Rheum 1992;35:630–40).
Categories: Mikdashi J, Nived O. Arthritis Res Ther 2015;17:183.

``sledai2k`` is the sum of the weights of the descriptors present in the window (visit or the
preceding 10 days); ``clinical_sledai`` leaves out ``low_complement`` and ``increased_dna_binding``.
Eight descriptors may be derived from measurements where the descriptor cell is empty
(:data:`DERIVATIONS`); a recorded descriptor always wins, since attribution is the physician's call.

Examples
--------
>>> result = score_visit({"proteinuria": 1, "rash": 1, "low_complement": 1, **NOT_PRESENT_REST})
>>> result["sledai2k"], result["clinical_sledai"], result["sledai2k_category"]
(8, 6, 'moderate')
>>> result["sledai2k_explain"]
'proteinuria=4; rash=2; low_complement=2'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from remission.indices._base import (
    Column,
    Context,
    Contribution,
    IndexDefinition,
    MissingRule,
    ScalarResult,
    join_labels,
    validate_record,
)


@dataclass(frozen=True)
class Item:
    """A SLEDAI-2K descriptor: its column code, abbreviated definition and weight."""

    code: str
    descriptor: str
    weight: int
    serology: bool = False


#: The SLEDAI-2K table (Gladman 2002): the single source of both forms and of the docs.
ITEMS: tuple[Item, ...] = (
    Item("seizure", "recent onset, excluding metabolic, infectious or drug causes", 8),
    Item("psychosis", "severe disturbance of perception of reality; excl. uraemia, drugs", 8),
    Item("organic_brain_syndrome", "altered mental function, rapid onset, fluctuating", 8),
    Item("visual_disturbance", "retinal changes of SLE; excl. hypertension, infection, drugs", 8),
    Item("cranial_nerve_disorder", "new onset sensory or motor neuropathy of cranial nerves", 8),
    Item("lupus_headache", "severe persistent headache unresponsive to narcotic analgesia", 8),
    Item("cva", "new cerebrovascular accident; excl. arteriosclerosis", 8),
    Item("vasculitis", "ulceration, gangrene, tender finger nodules, periungual infarction", 8),
    Item("arthritis", "≥ 2 joints with pain and signs of inflammation", 4),
    Item("myositis", "proximal muscle aching/weakness with raised CK/aldolase, EMG or biopsy", 4),
    Item("urinary_casts", "heme-granular or red blood cell casts", 4),
    Item("hematuria", "> 5 RBC/high-power field; excl. stone, infection, other cause", 4),
    Item("proteinuria", "> 0.5 g/24 h", 4),
    Item("pyuria", "> 5 WBC/high-power field; excl. infection", 4),
    Item("rash", "inflammatory-type rash", 2),
    Item("alopecia", "abnormal, patchy or diffuse hair loss", 2),
    Item("mucosal_ulcers", "oral or nasal ulcerations", 2),
    Item("pleurisy", "pleuritic chest pain with rub, effusion or pleural thickening", 2),
    Item("pericarditis", "pericardial pain with rub, effusion, or ECG/echo confirmation", 2),
    Item("low_complement", "CH50, C3 or C4 below the lower limit of normal", 2, serology=True),
    Item("increased_dna_binding", "anti-dsDNA above the laboratory's normal range", 2, serology=True),
    Item("fever", "> 38 °C; excl. infectious cause", 1),
    Item("thrombocytopenia", "< 100 × 10^9/L; excl. drug causes", 1),
    Item("leukopenia", "< 3 × 10^9/L; excl. drug causes", 1),
)
CODES: tuple[str, ...] = tuple(i.code for i in ITEMS)
WEIGHTS: dict[str, int] = {i.code: i.weight for i in ITEMS}
MAX_SCORE = sum(WEIGHTS.values())  # 105

#: Activity categories (Mikdashi & Nived): lower bound of each band, in order.
CATEGORIES: tuple[tuple[int, str], ...] = ((0, "none"), (1, "mild"), (6, "moderate"), (11, "high"), (20, "very_high"))
#: Clinically meaningful change (used by SRI-4).
MEANINGFUL_CHANGE = 4


@dataclass(frozen=True)
class Derivation:
    """Derive a descriptor from a measurement: present when ``measure`` compares to its limit.

    ``limit`` is a number, or the code of a per-row limit column (a lab's LLN/ULN).
    """

    descriptor: str
    measure: str
    op: str  # ">" or "<"
    limit: float | str


#: Measurement rules of ../shared/specs/sledai2k.md. Rules for one descriptor are alternatives:
#: for proteinuria the first measurement available wins (24-h collection before UPCR); for
#: low_complement any available low pair makes it present (C3 or C4).
DERIVATIONS: tuple[Derivation, ...] = (
    Derivation("fever", "temperature_c", ">", 38.0),
    Derivation("thrombocytopenia", "platelets_10e9_l", "<", 100.0),
    Derivation("leukopenia", "wbc_10e9_l", "<", 3.0),
    Derivation("proteinuria", "proteinuria_g_24h", ">", 0.5),
    Derivation("proteinuria", "upcr_mg_mg", ">", 0.5),
    Derivation("hematuria", "urine_rbc_hpf", ">", 5.0),
    Derivation("pyuria", "urine_wbc_hpf", ">", 5.0),
    Derivation("low_complement", "c3_g_l", "<", "c3_lln_g_l"),
    Derivation("low_complement", "c4_g_l", "<", "c4_lln_g_l"),
    Derivation("increased_dna_binding", "anti_dsdna_iu_ml", ">", "anti_dsdna_uln_iu_ml"),
)
FIRST_AVAILABLE = frozenset({"proteinuria"})

MEASUREMENTS: tuple[Column, ...] = (
    Column("temperature_c", "float", "highest body temperature", "°C", 25, 45),
    Column("platelets_10e9_l", "float", "platelet count", "10^9/L", 0, 5000),
    Column("wbc_10e9_l", "float", "white blood cell count", "10^9/L", 0, 1000),
    Column("proteinuria_g_24h", "float", "urine protein", "g/24 h", 0, 100),
    Column("upcr_mg_mg", "float", "urine protein:creatinine ratio (as g/24 h)", "mg/mg", 0, 100),
    Column("urine_rbc_hpf", "float", "urine red cells", "/high-power field", 0, 10000),
    Column("urine_wbc_hpf", "float", "urine white cells", "/high-power field", 0, 10000),
    Column("c3_g_l", "float", "complement C3", "g/L", 0, 20),
    Column("c3_lln_g_l", "float", "C3 lower limit of normal", "g/L", 0, 20, exclusive_minimum=True),
    Column("c4_g_l", "float", "complement C4", "g/L", 0, 20),
    Column("c4_lln_g_l", "float", "C4 lower limit of normal", "g/L", 0, 20, exclusive_minimum=True),
    Column("anti_dsdna_iu_ml", "float", "anti-dsDNA antibodies", "IU/mL", 0, 1e6),
    Column(
        "anti_dsdna_uln_iu_ml", "float", "anti-dsDNA upper limit of normal", "IU/mL", 0, 1e6, exclusive_minimum=True
    ),
)
#: Header contract: a descriptor column may be absent when a measurement it is derived from is
#: in the header; the measurements and the window are optional inputs.
COLUMNS: tuple[Column, ...] = (
    *(
        Column(i.code, "bool", i.descriptor, unless=tuple(d.measure for d in DERIVATIONS if d.descriptor == i.code))
        for i in ITEMS
    ),
    *(replace(m, optional=True) for m in MEASUREMENTS),
    Column("window_days", "int", "descriptor window (10 or 30 days)", "days", 1, 366, optional=True),
)
OUTPUTS = ("sledai2k", "clinical_sledai", "sledai2k_category", "sledai2k_explain", "sledai2k_missing")

#: A descriptor list with every item absent, handy in examples and tests.
NOT_PRESENT_REST: dict[str, int] = {}


def category_of(score: int) -> str:
    """The activity category of a SLEDAI-2K score (Mikdashi & Nived).

    Examples
    --------
    >>> [category_of(s) for s in (0, 1, 5, 6, 10, 11, 19, 20)]
    ['none', 'mild', 'mild', 'moderate', 'moderate', 'high', 'high', 'very_high']
    """
    return [name for low, name in CATEGORIES if score >= low][-1]


# ------------------------------------------------------------------------------------------
# Scalar form
# ------------------------------------------------------------------------------------------


def _derive_one(values: Mapping[str, Any], descriptor: str) -> tuple[bool | None, str | None]:
    rules = [d for d in DERIVATIONS if d.descriptor == descriptor]
    known: list[tuple[bool, str]] = []
    for rule in rules:
        measure = values.get(rule.measure)
        limit = values.get(rule.limit) if isinstance(rule.limit, str) else rule.limit
        if measure is None or limit is None:
            continue
        hit = measure > limit if rule.op == ">" else measure < limit
        known.append((hit, f"{rule.measure}={measure!s}"))
        if descriptor in FIRST_AVAILABLE:
            break
    if not known:
        return None, None
    hits = [why for hit, why in known if hit]
    return (True, ", ".join(hits)) if hits else (False, None)


def resolve_items(values: Mapping[str, Any], missing: MissingRule) -> dict[str, tuple[bool | None, str | None]]:
    resolved: dict[str, tuple[bool | None, str | None]] = {}
    for item in ITEMS:
        recorded = values.get(item.code)
        present, why = (recorded, None) if recorded is not None else _derive_one(values, item.code)
        if present is None and missing == "absent":
            present = False
        resolved[item.code] = (present, why)
    return resolved


def score_visit(visit: Mapping[str, Any], *, missing: MissingRule = "empty") -> ScalarResult:
    """Score one visit: SLEDAI-2K, clinical SLEDAI, category and the per-item explanation.

    Parameters
    ----------
    visit : mapping of code → value
        The 24 descriptor codes (0/1; missing = None or absent) and optionally the measurement
        columns of :data:`MEASUREMENTS` (units in their column specs).
    missing : {"empty", "absent"}
        ``"absent"`` treats a missing descriptor (after derivation) as not present.

    Returns
    -------
    ScalarResult
        ``sledai2k`` (0–105 or None), ``clinical_sledai`` (0–101 or None),
        ``sledai2k_category``, ``sledai2k_explain``, ``sledai2k_missing``.

    Examples
    --------
    >>> score_visit({"seizure": 1, "fever": None, "temperature_c": 38.4})["sledai2k_explain"]
    'seizure=8; fever=1 (derived: temperature_c=38.4)'
    """
    values = validate_record(visit, INDEX)
    resolved = resolve_items(values, missing)
    explanation = tuple(Contribution(code, WEIGHTS[code], why) for code, (present, why) in resolved.items() if present)
    missing_codes = tuple(code for code, (present, _) in resolved.items() if present is None)
    known = sum(c.points for c in explanation if isinstance(c.points, int))
    total = None if missing_codes else known
    serology_missing = [c for c in missing_codes if c in ("low_complement", "increased_dna_binding")]
    serology = sum(WEIGHTS[c.code] for c in explanation if c.code in ("low_complement", "increased_dna_binding"))
    clinical = None if len(missing_codes) > len(serology_missing) else known - serology
    upper = known + sum(WEIGHTS[c] for c in missing_codes)
    category = category_of(known) if category_of(known) == category_of(upper) else None
    return ScalarResult(
        values={
            "sledai2k": total,
            "clinical_sledai": clinical,
            "sledai2k_category": category,
            "sledai2k_explain": "; ".join(str(c) for c in explanation),
            "sledai2k_missing": "; ".join(missing_codes),
        },
        explanation=explanation,
        missing=missing_codes,
    )


# ------------------------------------------------------------------------------------------
# Vectorised form
# ------------------------------------------------------------------------------------------


def _compare(rule: Derivation) -> pl.Expr:
    measure = pl.col(rule.measure)
    limit = pl.col(rule.limit) if isinstance(rule.limit, str) else pl.lit(rule.limit)
    return measure > limit if rule.op == ">" else measure < limit


def _derived_expr(descriptor: str) -> tuple[pl.Expr, pl.Expr]:
    """The derived value (three-valued) of a descriptor and the label of what made it present.

    The label is only read where the value is true, so a label of a rule that did not decide
    the value is harmless.
    """
    rules = [d for d in DERIVATIONS if d.descriptor == descriptor]
    compares = [_compare(r) for r in rules]
    labels = [
        pl.when(c).then(pl.format(f"{r.measure}={{}}", pl.col(r.measure).cast(pl.Utf8)))
        for r, c in zip(rules, compares, strict=True)
    ]
    if descriptor in FIRST_AVAILABLE:
        return pl.coalesce(compares), pl.coalesce(labels)
    any_hit = pl.any_horizontal([c.fill_null(False) for c in compares])
    any_known = pl.any_horizontal([c.is_not_null() for c in compares])
    value = pl.when(any_hit).then(True).when(any_known).then(False).otherwise(None)
    return value, join_labels(labels, ", ")


DERIVED: frozenset[str] = frozenset(d.descriptor for d in DERIVATIONS)


def present_exprs(visits: pl.DataFrame, ctx: Context) -> list[pl.Expr]:
    measured = {d.descriptor for d in DERIVATIONS if visits[d.measure].null_count() < visits.height}
    exprs = []
    for item in ITEMS:
        value = pl.col(item.code)
        if item.code in measured:
            value = pl.coalesce([value, _derived_expr(item.code)[0]])
        if ctx.missing == "absent":
            value = value.fill_null(False)
        exprs.append(value.alias(f"__p_{item.code}"))
    return exprs


def _explain_expr() -> pl.Expr:
    labels = []
    for item in ITEMS:
        text = pl.lit(f"{item.code}={item.weight}")
        if item.code in DERIVED:
            derived = pl.format(f"{item.code}={item.weight} (derived: {{}})", _derived_expr(item.code)[1])
            text = pl.when(pl.col(item.code).is_not_null()).then(text).otherwise(derived)
        labels.append(pl.when(pl.col(f"__p_{item.code}")).then(text))
    return join_labels(labels)


CATEGORY_DTYPE = pl.Enum([name for _, name in CATEGORIES])


#: The category of every possible score 0 … MAX_SCORE (a lookup table read with ``gather``).
CATEGORY_OF_SCORE = pl.Series([category_of(s) for s in range(MAX_SCORE + 1)], dtype=CATEGORY_DTYPE)


def _category_expr(low: str, high: str | None = None) -> pl.Expr:
    """The category when every completion of the missing items falls in one band, else empty.

    ``low``/``high`` are the score with every missing item absent/present (``high`` None: no
    item is missing).
    """
    category = pl.lit(CATEGORY_OF_SCORE).gather(pl.col(low))
    if high is None:
        return category
    return pl.when(category == pl.lit(CATEGORY_OF_SCORE).gather(pl.col(high))).then(category)


def _weighted_sum(items: Sequence[Item]) -> pl.Expr:
    """Σ weight × present over complete (no null) presence columns.

    ``when(present).then(weight).otherwise(0)`` selects straight from the boolean bitmap; it is
    about twice as fast as casting and multiplying (bench/sledai2k.py).
    """
    zero = pl.lit(0, pl.Int16)
    return pl.sum_horizontal(
        [pl.when(pl.col(f"__p_{i.code}")).then(pl.lit(i.weight, pl.Int16)).otherwise(zero) for i in items]
    )


def compute(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """Vectorised SLEDAI-2K over a validated table (one row per visit).

    Staged so that each sum over the 24 items is computed once: presence (with derivations), then
    the known and missing weights, then the outputs. A table with no missing descriptor (after
    derivation) takes the dense path, :func:`_compute_complete`.
    """
    scratch = visits.with_columns(present_exprs(visits, ctx))
    present = [f"__p_{c}" for c in CODES]
    complete = sum(scratch[p].null_count() for p in present) == 0
    if complete:
        return _compute_complete(scratch, ctx)
    weighted = [pl.col(p).cast(pl.Int16).fill_null(0) * WEIGHTS[c] for p, c in zip(present, CODES, strict=True)]
    serology = [pl.col(f"__p_{i.code}").cast(pl.Int16).fill_null(0) * i.weight for i in ITEMS if i.serology]
    sums = [
        pl.sum_horizontal(weighted).alias("_known"),
        pl.sum_horizontal(serology).alias("_serology"),
        pl.sum_horizontal(
            [pl.col(p).is_null().cast(pl.Int16) * WEIGHTS[c] for p, c in zip(present, CODES, strict=True)]
        ).alias("_missing_weight"),
        pl.any_horizontal([pl.col(p).is_null() for p in present]).alias("_any"),
        pl.any_horizontal([pl.col(f"__p_{i.code}").is_null() for i in ITEMS if not i.serology]).alias("_clin"),
    ]
    scratch = scratch.with_columns(sums).with_columns((pl.col("_known") + pl.col("_missing_weight")).alias("_upper"))
    outputs = [
        pl.when(~pl.col("_any")).then(pl.col("_known")).alias("sledai2k"),
        pl.when(~pl.col("_clin")).then(pl.col("_known") - pl.col("_serology")).alias("clinical_sledai"),
        _category_expr("_known", "_upper").alias("sledai2k_category"),
        join_labels([pl.when(pl.col(f"__p_{c}").is_null()).then(pl.lit(c)) for c in CODES]).alias("sledai2k_missing"),
    ]
    if ctx.explain:
        outputs.append(_explain_expr().alias("sledai2k_explain"))
    return scratch.select(outputs)


def _compute_complete(scratch: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """The dense fast path of :func:`compute`: no descriptor is missing after derivation, so the
    scores are plain weighted sums (one per weight) and the category a table lookup."""
    known = _weighted_sum(ITEMS).alias("_known")
    serology = _weighted_sum([i for i in ITEMS if i.serology])
    scratch = scratch.with_columns(known, serology.alias("_serology"))
    outputs = [
        pl.col("_known").alias("sledai2k"),
        (pl.col("_known") - pl.col("_serology")).alias("clinical_sledai"),
        _category_expr("_known").alias("sledai2k_category"),
        pl.lit("", pl.Utf8).alias("sledai2k_missing"),
    ]
    if ctx.explain:
        outputs.append(_explain_expr().alias("sledai2k_explain"))
    return scratch.select(outputs)


INDEX = IndexDefinition(
    name="sledai2k",
    forms=("sle",),
    title="SLEDAI-2K — SLE Disease Activity Index 2000",
    source="Gladman DD, Ibañez D, Urowitz MB. J Rheumatol 2002;29:288–91.",
    doi="",
    columns=COLUMNS,
    outputs=OUTPUTS,
    compute=compute,
    scalar=score_visit,
    key_items=CODES,
    missing_rule=(
        "sledai2k empty when any descriptor is missing after derivation; clinical_sledai empty when a "
        "non-serology descriptor is missing; the category is given when every completion of the missing "
        "items falls in the same band"
    ),
)
NOT_PRESENT_REST.update({c: 0 for c in CODES if c not in ("proteinuria", "rash", "low_complement")})
