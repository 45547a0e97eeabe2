"""The sections of the cohort report (docs/specs report.md), each computed from stored records.

Every section reads stored scores by index name (:meth:`ReportData.scores`); an index without
stored scores makes its rows read "not available: <index> not computed" — numbers are never made
up. Every table is also written as CSV under ``tables/`` and every figure's data beside it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlalchemy import URL

from remission import __version__
from remission.analysis.baseline import derive_conditioning_start, derive_lab_baseline, drop_conditioning_interval
from remission.analysis.biology import B_CELL_APLASIA_THRESHOLD, summarise_b_cells, summarise_car_t
from remission.analysis.bounds import (
    AE_ONSET,
    MEDICATION_START,
    MEDICATION_STOP,
    MEDICATIONS_CAUSE,
    ONSETS_CAUSE,
    Bounds,
    binary_cells_with_bounds,
    derive_first_day_bounds,
    derive_treatment_emergent_bounds,
    has_imputed_dates,
    nri_rows_with_bounds,
    opposite_medications,
    patients_with_changed_flags,
    responsible_medications,
    summarise_treatment_emergent_bounds,
)
from remission.analysis.durations import (
    DEFAULT_DRUG_FREE,
    DEFAULT_SUSTAINED,
    DrugFreeRule,
    SustainedRule,
    derive_drug_free,
    derive_drug_free_remission,
    derive_remission_runs,
    derive_sustained,
)
from remission.analysis.endpoints import (
    BinarySummary,
    Endpoint,
    derive_change_from_baseline,
    endpoint_table,
    format_number,
    summarise_continuous,
)
from remission.analysis.estimands import common_estimands, estimand_table, observed_estimand, remission_estimands
from remission.analysis.nri import nri_rows
from remission.analysis.remission import derive_remission_flags, primary_rule
from remission.analysis.survival import (
    derive_relapses,
    derive_remission_duration,
    derive_time_to_first,
    derive_time_to_sustained,
    kaplan_meier,
    last_efficacy_day,
    median_time,
)
from remission.analysis.toxicity import (
    IGG_LLN_G_L,
    IGG_SEVERE_G_L,
    derive_hypogammaglobulinaemia,
    derive_max_grade,
    grade_counts,
    summarise_infections,
)
from remission.analysis.treatment import derive_on_treatment, summarise_stop_days
from remission.analysis.windows import (
    DEFAULT_RULE,
    MONTH_DAYS,
    REPORT_MONTHS,
    WindowRule,
    assign_windows,
    derive_timepoints,
    timepoint_labels,
)
from remission.report import figures
from remission.report.columns import summary_text
from remission.report.data import ReportData
from remission.report.document import FigureBlock, Section, TableBlock, write_csv
from remission.report.quality import quality_section

PROTEINURIA_REMISSION_G_24H = 0.5


def not_computed(index: str) -> str:
    """The text of a row or panel whose index has no stored scores."""
    return f"{index} not computed"


@dataclass(frozen=True)
class Context:
    """What every section builder gets: the data, the output folder, the visit-window rule."""

    data: ReportData
    out: Path
    months: tuple[int, ...] = REPORT_MONTHS
    rule: WindowRule = DEFAULT_RULE

    def table(
        self,
        caption: str,
        frame: pl.DataFrame,
        name: str,
        note: str = "",
        *,
        hidden: Sequence[str] = (),
        wide: bool = False,
    ) -> TableBlock:
        """The table as printed, its CSV written (all columns; ``hidden`` ones are left out of the
        printed table only, where another table of the report already shows them). ``wide``: a
        table of many prose columns, printed on a landscape page."""
        csv = write_csv(frame, self.out, name)
        return TableBlock.from_frame(caption, frame.drop(hidden), csv, note, wide=wide)

    @property
    def provenance(self) -> str:
        """The line drawn under every figure (:func:`provenance_line` of this report's data)."""
        return provenance_line(self.data.synthetic, self.data.engine.url, __version__)

    def figure(self, caption: str, png: bytes, frame: pl.DataFrame, name: str) -> FigureBlock:
        csv = write_csv(frame, self.out, f"figure_{name}")
        path = self.out / "figures" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return FigureBlock(caption, png, csv)


def provenance_line(synthetic: bool, url: URL, version: str) -> str:
    """Where a figure's data came from, drawn into the PNG so that a copied figure keeps it: synthetic
    or not, the database (its file name for SQLite; backend, host and name otherwise, never a
    password) and the remission version.

    >>> from sqlalchemy import make_url
    >>> provenance_line(True, make_url("sqlite:////data/out/remission.db"), "0.1.0")
    'SYNTHETIC DATA (generated, not patients) · data: remission.db (SQLite) · remission 0.1.0'
    >>> provenance_line(False, make_url("postgresql://u:secret@db.example/registry"), "0.1.0")
    'data: registry on db.example (PostgreSQL) · remission 0.1.0'
    """
    backend = url.get_backend_name()
    if backend == "sqlite":
        source = f"{Path(url.database or ':memory:').name} (SQLite)"
    else:
        name = {"postgresql": "PostgreSQL"}.get(backend, backend)
        source = f"{url.database} on {url.host} ({name})" if url.host else f"{url.database} ({name})"
    parts = (["SYNTHETIC DATA (generated, not patients)"] if synthetic else []) + [
        f"data: {source}",
        f"remission {version}",
    ]
    return " · ".join(parts)


# --------------------------------------------------------------------------------------- cohort


def _groups(data: ReportData) -> list[tuple[str, pl.DataFrame]]:
    return [(d, data.patients.filter(pl.col("disease") == d)) for d in data.diseases] + [("All", data.patients)]


def _yes(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.Float64, strict=False) == 1


def _organ_involvement(data: ReportData) -> dict[str, list[tuple[str, pl.Expr]]]:
    """Per disease: (label, predicate on the baseline assessment's items)."""
    bilag = [
        (f"BILAG-2004 {domain} A or B", pl.col(f"bilag_{domain}").is_in(["A", "B"]))
        for domain in ("renal", "musculoskeletal", "mucocutaneous", "haematological", "cardiorespiratory")
        if f"bilag_{domain}" in data.assessments.columns
    ]
    renal = [c for c in ("proteinuria", "hematuria", "urinary_casts", "pyuria") if c in data.assessments.columns]
    sle = [("renal (SLEDAI-2K urinary item)", pl.any_horizontal([_yes(pl.col(c)) for c in renal]))] if renal else []
    iim = []
    if {"mmt8", "mmt8_max"} <= set(data.assessments.columns):
        iim.append(
            (
                "muscle weakness (MMT-8 below maximum)",
                pl.col("mmt8").cast(pl.Float64) < pl.col("mmt8_max").cast(pl.Float64),
            )
        )
    if "extramuscular" in data.assessments.columns:
        iim.append(("extramuscular activity (VAS > 0)", pl.col("extramuscular").cast(pl.Float64) > 0))
    ssc = []
    proximal = [f"mrss_{s}" for s in ("upper_arm_r", "upper_arm_l", "thigh_r", "thigh_l", "anterior_chest", "abdomen")]
    if set(proximal) <= set(data.assessments.columns):
        ssc.append(
            ("diffuse skin (proximal mRSS > 0)", pl.any_horizontal([pl.col(c).cast(pl.Float64) > 0 for c in proximal]))
        )
    if {"fvc_pct_pred", "dlco_pct_pred"} <= set(data.assessments.columns):
        ssc.append(
            (
                "lung (FVC < 80 % or DLCO < 70 % predicted)",
                (pl.col("fvc_pct_pred").cast(pl.Float64) < 80) | (pl.col("dlco_pct_pred").cast(pl.Float64) < 70),
            )
        )
    if "digital_ulcers" in data.assessments.columns:
        ssc.append(("digital ulcers", _yes(pl.col("digital_ulcers"))))
    return {"SLE": sle + bilag, "IIM": iim, "SSc": ssc}


def cohort_section(ctx: Context) -> Section:
    """Baseline characteristics per disease and overall."""
    data = ctx.data
    if data.patients.is_empty():
        return Section("1. Cohort", unavailable="no patients are stored")
    groups = _groups(data)
    names = [g for g, _ in groups]

    def row(label: str, values: Sequence[str]) -> dict[str, str]:
        return {"characteristic": label, **dict(zip(names, values, strict=True))}

    rows = [row("patients, n", [str(p.height) for _, p in groups])]
    for sex in ("female", "male"):
        rows.append(
            row(f"{sex}, n/N (%)", [BinarySummary(int((p["sex"] == sex).sum()), p.height).text() for _, p in groups])
        )
    for label, column in (
        ("age at infusion, years — median (IQR; range)", "age"),
        ("disease duration, years — median (IQR; range)", "disease_duration"),
        ("prior immunosuppressive treatments — median (IQR; range)", "prior_treatment_count"),
    ):
        rows.append(row(label, [summary_text(summarise_continuous(p[column].to_list())) for _, p in groups]))
    baseline = (
        derive_timepoints(data.assessments.filter(pl.col("form") != "toxicity"), ()).filter(
            pl.col("timepoint") == "baseline"
        )
        if not data.assessments.is_empty()
        else pl.DataFrame()
    )
    for disease, organs in _organ_involvement(data).items():
        if disease not in names:
            continue
        base = baseline.filter(pl.col("disease") == disease) if not baseline.is_empty() else baseline
        for label, predicate in organs:
            flags = base.select(predicate.alias("x"))["x"] if not base.is_empty() else pl.Series([], dtype=pl.Boolean)
            text = BinarySummary(int(flags.fill_null(False).sum()), flags.drop_nulls().len()).text()
            rows.append(row(f"{disease}: {label}, n/N (%)", [text if g == disease else "" for g in names]))
    table = pl.DataFrame(rows, schema={"characteristic": pl.String, **{n: pl.String for n in names}})
    listing = data.patients.select(
        "patient_id", "disease", "sex", "age", "disease_duration", "prior_treatment_count", "infusion_date"
    )
    return Section(
        "1. Cohort",
        note="Age and disease duration in whole years at infusion (the registry stores years of birth and "
        "diagnosis only). Organ involvement is read from the baseline assessment (latest with day ≤ 0).",
        tables=[
            ctx.table("Baseline characteristics", table, "cohort_characteristics"),
            ctx.table("Patients", listing, "cohort_patients"),
        ],
    )


# ------------------------------------------------------------------------------------ treatment


def treatment_section(ctx: Context) -> Section:
    """Conditioning, cell dose, day 0 and follow-up per patient; maintenance-drug stop days."""
    data = ctx.data
    if data.infusions.is_empty():
        return Section("2. Treatment", unavailable="no CAR-T infusion is stored")
    per_patient = (
        data.infusions.sort("patient_id", "date")
        .select("patient_id", pl.col("date").alias("day_0"), "product", "cells_per_kg", "conditioning")
        .join(data.disease_of(), on="patient_id", how="left")
        .join(data.follow_up, on="patient_id", how="left")
        .with_columns(follow_up_months=(pl.col("follow_up_days") / MONTH_DAYS).round(1))
        .select(
            "patient_id",
            "disease",
            "day_0",
            "product",
            "cells_per_kg",
            "conditioning",
            "follow_up_days",
            "follow_up_months",
        )
    )
    groups = _groups(data)
    summary_rows = []
    for name, patients in groups:
        rows = per_patient.filter(pl.col("patient_id").is_in(patients["patient_id"].to_list()))
        conditioning = "; ".join(
            f"{c} ({n})" for c, n in rows.group_by("conditioning").len().sort("len", descending=True).iter_rows()
        )
        dose = summarise_continuous(rows["cells_per_kg"].to_list())
        summary_rows.append(
            {
                "group": name,
                "patients": str(rows["patient_id"].n_unique()),
                "conditioning (patients)": conditioning,
                "CAR-T cells/kg — median (IQR; range)": summary_text(dose, cells=True),
                "follow-up, months — median (IQR; range)": summary_text(
                    summarise_continuous([d / MONTH_DAYS for d in rows["follow_up_days"].drop_nulls().to_list()])
                ),
            }
        )
    summary = pl.DataFrame(summary_rows)
    stops = (
        summarise_stop_days(data.medications, data.patient_ids()).join(data.disease_of(), on="patient_id")
        if not data.medications.is_empty()
        else pl.DataFrame()
    )
    tables = [
        ctx.table("Treatment and follow-up", summary, "treatment_summary"),
        ctx.table("Infusion per patient (day 0 = infusion date)", per_patient, "treatment_patients"),
    ]
    if not stops.is_empty():
        stops = stops.select(
            "patient_id",
            "disease",
            "glucocorticoid_stop_day",
            "immunosuppressant_stop_day",
            "drug_free_stop_day",
            "glucocorticoid_stopped",
            "immunosuppressant_stopped",
            "drug_free_stopped",
        )
        tables.append(
            ctx.table(
                "Maintenance treatment: day of the last dose per patient",
                stops,
                "treatment_stop_days",
                note="Glucocorticoids; immunosuppressants with biologics; all maintenance drugs (antimalarials "
                "too). An empty day with stopped Yes: never given; stopped No: still running. Fludarabine and "
                "cyclophosphamide given from day −14 to day 0 (lymphodepletion) and tocilizumab from day 0 (CRS "
                "treatment) are not maintenance immunosuppression.",
            )
        )
    return Section(
        "2. Treatment",
        note="Follow-up runs from the infusion (day 0) to the latest stored assessment, laboratory value or "
        "adverse-event onset.",
        tables=tables,
    )


# ------------------------------------------------------------------------------------- efficacy


def _score_source(
    data: ReportData, index: str, patients: list[str], columns: dict[str, pl.Expr]
) -> tuple[pl.DataFrame, str]:
    """(patient_id, day, derived columns) from an index's stored scores, or an 'unavailable' reason."""
    scores = data.scores(index)
    if scores.is_empty():
        return pl.DataFrame(), not_computed(index)
    rows = scores.filter(pl.col("patient_id").is_in(patients))
    if rows.is_empty():
        return pl.DataFrame(), not_computed(index) + " for these patients"
    return rows.select("patient_id", "day", **columns), ""


def _lab_source(
    data: ReportData, analyte: str, patients: list[str], column: str, rule: pl.Expr
) -> tuple[pl.DataFrame, str]:
    series = data.lab(analyte).filter(pl.col("patient_id").is_in(patients))
    if series.is_empty():
        return pl.DataFrame(), f"no {analyte} laboratory values"
    return mark_lab_baseline(series.select("patient_id", "day", rule.cast(pl.Int8).alias(column)), column, data), ""


def conditioning_start(data: ReportData) -> pl.DataFrame:
    """Per patient the first lymphodepletion day (empty table without medication records)."""
    return derive_conditioning_start(data.medications)


def mark_lab_baseline(series: pl.DataFrame, value: str, data: ReportData) -> pl.DataFrame:
    """Add ``baseline`` (1 on the row that is the patient's laboratory baseline: the latest value
    before the first lymphodepletion dose, analysis/baseline.py), which
    :func:`remission.analysis.windows.baseline_visits` then takes as the baseline time point."""
    base = derive_lab_baseline(series, value, conditioning_start(data)).select(
        "patient_id", pl.col("baseline_day").alias("day"), pl.lit(1, pl.Int8).alias("baseline")
    )
    return series.join(base.drop_nulls("day"), on=["patient_id", "day"], how="left").with_columns(
        pl.col("baseline").fill_null(0)
    )


def _timepoint_table(sources: Sequence[pl.DataFrame], ctx: Context) -> pl.DataFrame:
    """Every source windowed to the report's time points and joined on (patient, time point)."""
    merged: pl.DataFrame | None = None
    for source in sources:
        if source.is_empty():
            continue
        # The day of the assessment each source took, named after the source's first value column.
        first = next(c for c in source.columns if c not in ("patient_id", "day", "assessment_id", "baseline"))
        part = (
            derive_timepoints(source, ctx.months, ctx.rule)
            .drop("month", "baseline", strict=False)
            .rename({"day": f"{first}_day"})
        )
        merged = (
            part if merged is None else merged.join(part, on=["patient_id", "timepoint"], how="full", coalesce=True)
        )
    if merged is None:
        return pl.DataFrame(schema={"patient_id": pl.String, "timepoint": pl.String})
    order = {t: i for i, t in enumerate(timepoint_labels(ctx.months))}
    return merged.sort(pl.col("timepoint").replace_strict(order, default=99), "patient_id")


def _efficacy(
    ctx: Context, title: str, disease: str, specs: Sequence[tuple[Endpoint, pl.DataFrame, str]], note: str
) -> Section:
    data = ctx.data
    if disease not in data.diseases:
        return Section(title, unavailable=f"no {disease} patient is stored")
    sources = list({id(s): s for _, s, _ in specs}.values())
    timepoints = _timepoint_table(sources, ctx)
    endpoints = [Endpoint(e.label, e.column, e.kind, e.level, reason, e.digits) for e, _, reason in specs]
    labels = timepoint_labels(ctx.months)
    table = endpoint_table(timepoints, endpoints, labels)
    key = disease.lower()
    return Section(
        title,
        note=note,
        tables=[
            ctx.table(
                f"{disease} endpoints by time point (n/N (%) or median (IQR; range))",
                table,
                f"efficacy_{key}",
                note=observed_estimand(disease, ctx.rule).text(),
            ),
        ],
        extra_csv=[write_csv(timepoints, ctx.out, f"efficacy_{key}_by_patient")],
    )


def sle_section(ctx: Context) -> Section:
    data = ctx.data
    patients = data.patient_ids("SLE")["patient_id"].to_list()
    sledai, sledai_na = _score_source(
        data,
        "sledai2k",
        patients,
        {"sledai2k": pl.col("sledai2k"), "sledai2k_zero": (pl.col("sledai2k") == 0).cast(pl.Int8)},
    )
    doris, doris_na = _score_source(data, "doris", patients, {"doris_remission": pl.col("doris_remission")})
    lldas, lldas_na = _score_source(data, "lldas", patients, {"lldas": pl.col("lldas")})
    bilag, bilag_na = _score_source(
        data,
        "bilag2004",
        patients,
        {
            "bilag_a": (pl.col("bilag2004_a_count") >= 1).cast(pl.Int8),
            "bilag_b": (pl.col("bilag2004_b_count") >= 1).cast(pl.Int8),
        },
    )
    sri4, sri4_na = _score_source(data, "sri4", patients, {"sri4": pl.col("sri4")})
    dsdna, dsdna_na = _lab_source(
        data, "anti_dsdna_iu_ml", patients, "anti_dsdna_negative", pl.col("anti_dsdna_iu_ml") <= pl.col("uln")
    )
    c3, c3_na = _lab_source(data, "c3_g_l", patients, "c3_normal", pl.col("c3_g_l") >= pl.col("lln"))
    protein, protein_na = _lab_source(
        data,
        "proteinuria_g_24h",
        patients,
        "proteinuria_below_0_5",
        pl.col("proteinuria_g_24h") < PROTEINURIA_REMISSION_G_24H,
    )
    specs = [
        (Endpoint("DORIS remission", "doris_remission"), doris, doris_na),
        (Endpoint("LLDAS", "lldas"), lldas, lldas_na),
        (Endpoint("SLEDAI-2K = 0", "sledai2k_zero"), sledai, sledai_na),
        (Endpoint("SLEDAI-2K, median (IQR; range)", "sledai2k", "continuous"), sledai, sledai_na),
        (Endpoint("BILAG-2004: any domain A", "bilag_a"), bilag, bilag_na),
        (Endpoint("BILAG-2004: any domain B", "bilag_b"), bilag, bilag_na),
        (Endpoint("SRI-4 response", "sri4"), sri4, sri4_na),
        (Endpoint("anti-dsDNA negative (≤ ULN)", "anti_dsdna_negative"), dsdna, dsdna_na),
        (Endpoint("C3 normal (≥ LLN)", "c3_normal"), c3, c3_na),
        (Endpoint("proteinuria < 0.5 g/24 h", "proteinuria_below_0_5"), protein, protein_na),
    ]
    return _efficacy(
        ctx,
        "3a. Efficacy — systemic lupus erythematosus",
        "SLE",
        specs,
        _window_note(ctx) + " Laboratory endpoints use the laboratory value nearest the target day; their "
        "baseline is the latest value before the first lymphodepletion dose (fludarabine/cyclophosphamide), "
        "or the latest with day ≤ 0 without a conditioning record; their last-visit column is the latest "
        "laboratory value after infusion (not the latest assessment).",
    )


def _window_note(ctx: Context) -> str:
    r = ctx.rule
    return (
        f"Month m counts the assessment nearest day round({r.month_days} × m) within ±{r.early_half_width} days "
        f"(m ≤ {r.early_until}) or ±{r.late_half_width} days (later months); ties go to the {r.tie} one. Baseline: "
        "latest assessment with day ≤ 0; last visit: latest assessment after infusion. N counts patients with a "
        "known value at the time point."
    )


def myositis_section(ctx: Context) -> Section:
    data = ctx.data
    patients = data.patient_ids("IIM")["patient_id"].to_list()
    tis, tis_na = _score_source(
        data, "myositis-tis", patients, {"tis": pl.col("tis"), "tis_response": pl.col("tis_response")}
    )
    ck, ck_na = _lab_source(data, "ck_u_l", patients, "ck_normal", pl.col("ck_u_l") <= pl.col("uln"))
    specs = [
        (Endpoint("TIS major response", "tis_response", "level", "major"), tis, tis_na),
        (Endpoint("TIS moderate response", "tis_response", "level", "moderate"), tis, tis_na),
        (Endpoint("TIS minimal response", "tis_response", "level", "minimal"), tis, tis_na),
        (Endpoint("TIS, median (IQR; range)", "tis", "continuous"), tis, tis_na),
        (Endpoint("CK normal (≤ ULN)", "ck_normal"), ck, ck_na),
    ]
    return _efficacy(ctx, "3b. Efficacy — idiopathic inflammatory myositis", "IIM", specs, _window_note(ctx))


def ssc_section(ctx: Context) -> Section:
    data = ctx.data
    patients = data.patient_ids("SSc")["patient_id"].to_list()
    mrss, mrss_na = _score_source(data, "mrss", patients, {"mrss": pl.col("mrss")})
    if not mrss.is_empty():
        mrss = derive_change_from_baseline(mrss, "mrss")
    eustar, eustar_na = _score_source(data, "eustar-ai", patients, {"eustar_ai": pl.col("eustar_ai")})
    if not eustar.is_empty():
        eustar = derive_change_from_baseline(eustar, "eustar_ai")
    criss, criss_na = _score_source(data, "criss", patients, {"criss_improved": pl.col("criss_improved")})
    specs = [
        (Endpoint("mRSS, median (IQR; range)", "mrss", "continuous"), mrss, mrss_na),
        (Endpoint("mRSS change from baseline, median (IQR; range)", "mrss_change", "continuous"), mrss, mrss_na),
        (Endpoint("mRSS change from baseline, %", "mrss_pct_change", "continuous", digits=0), mrss, mrss_na),
        (Endpoint("EUSTAR-AI, median (IQR; range)", "eustar_ai", "continuous", digits=2), eustar, eustar_na),
        (Endpoint("EUSTAR-AI change from baseline", "eustar_ai_change", "continuous", digits=2), eustar, eustar_na),
        (Endpoint("CRISS improved (P ≥ 0.60)", "criss_improved"), criss, criss_na),
    ]
    return _efficacy(ctx, "3c. Efficacy — systemic sclerosis", "SSc", specs, _window_note(ctx))


# ------------------------------------------------------------------- remission across diseases


def remission_visits(
    data: ReportData,
    drug_free: DrugFreeRule = DEFAULT_DRUG_FREE,
    sustained: SustainedRule = DEFAULT_SUSTAINED,
    medications: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """Per disease assessment (``patient_id``, ``disease``, ``day``): the remission flag of its
    disease's rule (:mod:`remission.analysis.remission`; empty where not judged), treatment flags on
    that day, ``drug_free`` (≥ 30 treatment-free days; empty = unknown history),
    ``drug_free_remission`` and the ``*_sustained`` flags; and the reason per disease where the
    defining index was not computed. ``medications`` replaces the stored ones (the opposite
    imputation rule's reading, :func:`remission.analysis.bounds.opposite_medications`)."""
    if data.assessments.is_empty():  # no assessment table at all (an SDTM study without forms)
        return pl.DataFrame(), {}
    visits, missing = derive_remission_flags(data.assessments, data.scores, data.diseases)
    if visits.is_empty():
        return visits, missing
    meds = data.medications if medications is None else medications
    meds = meds if not meds.is_empty() else pl.DataFrame(schema=MEDICATION_SCHEMA)
    visits = derive_drug_free(derive_on_treatment(visits, meds), meds, drug_free)
    # Without a medication history covering the follow-up, "off" is unknown (not "off").
    unknown = pl.col("drug_free").is_null()
    visits = derive_drug_free_remission(
        visits.with_columns(
            off_glucocorticoid=pl.when(unknown).then(None).otherwise(1 - pl.col("on_glucocorticoid")).cast(pl.Int8),
            off_immunosuppressant=pl.when(unknown)
            .then(None)
            .otherwise(1 - pl.col("on_immunosuppressant"))
            .cast(pl.Int8),
        )
    )
    visits = derive_sustained(visits, "remission", sustained)
    return derive_sustained(visits, "drug_free_remission", sustained), missing


MEDICATION_SCHEMA = {"patient_id": pl.String, "drug": pl.String, "start_day": pl.Int64, "stop_day": pl.Int64}


def _deaths(data: ReportData) -> pl.DataFrame:
    if data.adverse_events.is_empty():
        return pl.DataFrame(schema={"patient_id": pl.String, "death_day": pl.Int64})
    return (
        data.adverse_events.filter(pl.col("grade") == 5)
        .group_by("patient_id")
        .agg(pl.col("onset_day").min().alias("death_day"))
    )


def _first_day(visits: pl.DataFrame, flag: str, name: str) -> pl.DataFrame:
    """Per patient the first post-infusion day with ``flag == 1``."""
    return (
        visits.filter((pl.col("day") > 0) & (pl.col(flag) == 1))
        .group_by("patient_id")
        .agg(pl.col("day").min().cast(pl.Int64).alias(name))
    )


def patient_milestones(data: ReportData, visits: pl.DataFrame) -> pl.DataFrame:
    """Per patient the day each milestone was reached (empty = not reached): first remission,
    relapse, first drug-free remission, the day remission had been sustained ≥ 180 days, the last
    efficacy assessment, B-cell return, death."""
    ids = data.patients.select("patient_id", "disease")
    stops = summarise_stop_days(data.medications, ids) if not data.medications.is_empty() else ids.select("patient_id")
    table = ids.join(data.follow_up, on="patient_id", how="left").join(stops, on="patient_id", how="left")
    if not visits.is_empty():
        last = (
            visits.filter(pl.col("remission").is_not_null() & (pl.col("day") > 0))
            .sort("day")
            .group_by("patient_id")
            .agg(pl.col("remission").last().alias("in_remission_at_last_visit"))
        )
        for part in (
            derive_relapses(visits, "remission"),
            _first_day(visits, "drug_free_remission", "drug_free_remission_day"),
            _first_day(visits, "remission_sustained", "sustained_remission_day"),
            _first_day(visits, "drug_free_remission_sustained", "sustained_drug_free_remission_day"),
            last_efficacy_day(visits, "remission"),
            last,
        ):
            table = table.join(part, on="patient_id", how="left")
    for column in (
        "remission_day",
        "relapse_day",
        "drug_free_remission_day",
        "sustained_remission_day",
        "sustained_drug_free_remission_day",
        "last_assessment_day",
        "in_remission_at_last_visit",
    ):
        if column not in table.columns:
            table = table.with_columns(pl.lit(None, pl.Int64).alias(column))
    b_cells = data.lab("cd19_cells_ul")
    if not b_cells.is_empty():
        table = table.join(
            summarise_b_cells(b_cells).select("patient_id", pl.col("reconstitution_day").alias("b_cell_return_day")),
            on="patient_id",
            how="left",
        )
    else:
        table = table.with_columns(b_cell_return_day=pl.lit(None, pl.Int64))
    return table.join(_deaths(data), on="patient_id", how="left").sort("patient_id")


def _km_summary(
    events: pl.DataFrame, group: str, months: Sequence[int], rule: WindowRule, cumulative: bool
) -> dict[str, str]:
    """One row of a Kaplan–Meier table, read at each report month's target day, with the number at
    risk: months throughout, the unit of the plot's axis and its number-at-risk table."""
    days = [rule.target_day(m) for m in months]
    table = kaplan_meier(events, days)
    median = median_time(events)
    row = {
        "group": group,
        "patients": str(events.height),
        "events": str(int(events["observed"].sum())),
        "median, months": "not reached" if median is None else format_number(median / rule.month_days, 1),
    }
    for month, (at_risk, s, lo, hi) in zip(
        months, table.select("at_risk", "survival", "lower", "upper").iter_rows(), strict=True
    ):
        if cumulative:
            s, lo, hi = 1 - s, 1 - hi, 1 - lo
        row[f"month {month}"] = f"{100 * s:.0f}% ({100 * lo:.0f}–{100 * hi:.0f})"
        row[f"at risk, month {month}"] = str(at_risk)
    return row


def nri_cohort(data: ReportData, disease: str) -> pl.DataFrame:
    """The fixed NRI population of ``disease``: every treated patient with ``potential_days``
    (days from infusion to the data cut, the latest assessment date; the follow-up days when a date
    is missing) and ``exit_day`` (death)."""
    cut = data.last_record_date()
    patients = data.patients.filter(pl.col("disease") == disease).join(data.follow_up, on="patient_id", how="left")
    potential = (pl.lit(cut) - pl.col("infusion_date")).dt.total_days() if cut is not None else pl.lit(None, pl.Int64)
    return (
        patients.select(
            pl.col("patient_id").cast(pl.String),
            pl.coalesce(potential, pl.col("follow_up_days"), pl.lit(0)).cast(pl.Int64).alias("potential_days"),
        )
        .join(_deaths(data).rename({"death_day": "exit_day"}), on="patient_id", how="left")
        .sort("patient_id")
    )


def _nri_table(ctx: Context, disease: str, rows: pl.DataFrame, opposite: pl.DataFrame | None = None) -> TableBlock:
    """The disease's remission endpoints at each month: NRI (primary), observed, missing, not yet;
    the drug-free ones with their imputation bounds where ``opposite`` (the visits under the
    opposite imputation rule) gives other counts."""
    rule = primary_rule(disease)
    assert rule is not None
    label = rule.label
    cohort = nri_cohort(ctx.data, disease)
    windowed = assign_windows(rows, ctx.months, ctx.rule)
    opposite_windowed = None if opposite is None else assign_windows(opposite, ctx.months, ctx.rule)
    lines: list[dict[str, str]] = []
    for flag, name in (
        ("remission", label),
        ("remission_sustained", f"sustained {label}"),
        ("drug_free_remission", f"drug-free {label}"),
        ("drug_free_remission_sustained", f"sustained drug-free {label}"),
    ):
        if opposite_windowed is not None and flag.startswith("drug_free"):
            lines += nri_rows_with_bounds(windowed, opposite_windowed, cohort, flag, name, ctx.months, ctx.rule)
        else:
            lines += nri_rows(windowed, cohort, flag, name, ctx.months, ctx.rule)
    estimands = remission_estimands(disease, ctx.rule)[:4]
    frame = pl.DataFrame(lines, schema={"endpoint": pl.String, **{f"month {m}": pl.String for m in ctx.months}})
    return ctx.table(
        f"{disease}: {label} by month — NRI (primary) and observed cases, n/N (%); N = {cohort.height} treated",
        frame,
        f"efficacy_remission_{disease.lower()}",
        note=" ".join(e.text() for e in estimands),
    )


def _time_to_event(
    ctx: Context, disease: str, rows: pl.DataFrame, km_rows: dict[str, list[dict[str, str]]], curves: list[pl.DataFrame]
) -> None:
    """Time to remission and to sustained remission (from infusion) and duration of remission
    (from first remission), censored at the last efficacy assessment."""
    deaths = _deaths(ctx.data)
    runs = derive_remission_runs(rows, "remission")
    for name, events, cumulative in (
        ("remission", derive_time_to_first(rows, "remission"), True),
        ("sustained", derive_time_to_sustained(runs, rows, "remission"), True),
        ("rfs", derive_remission_duration(rows, "remission", deaths), False),
    ):
        if events.is_empty():
            continue
        km_rows[name].append(_km_summary(events, disease, ctx.months, ctx.rule, cumulative))
        curves.append(kaplan_meier(events).with_columns(group=pl.lit(disease), endpoint=pl.lit(name)))


#: The time-to-event tables: key, caption, figure title, y label, cumulative.
KM_TABLES = (
    (
        "remission",
        "Time to remission from infusion (Kaplan–Meier): cumulative probability, % (95 % CI), number at risk",
        "Time to remission",
        "cumulative probability of remission",
        True,
    ),
    (
        "sustained",
        "Time to sustained remission (onset of a run ≥ 180 days) from infusion (Kaplan–Meier): cumulative "
        "probability, % (95 % CI), number at risk",
        "Time to sustained remission",
        "cumulative probability of sustained remission",
        True,
    ),
    (
        "rfs",
        "Duration of remission — relapse-free survival from the first remission (Kaplan–Meier): probability "
        "still in remission and alive, % (95 % CI), number at risk; time since the first remission",
        "Duration of remission",
        "probability still in remission",
        False,
    ),
)


def _withdrawal_table(ctx: Context, visits: pl.DataFrame, opposite: pl.DataFrame | None = None) -> pl.DataFrame:
    """Endpoints with one definition across diseases, per disease and All (observed cases), each
    cell with its imputation bounds where ``opposite`` (the visits under the opposite imputation
    rule) gives another count."""
    data = ctx.data
    labels = timepoint_labels(ctx.months)
    endpoints = [
        Endpoint("off glucocorticoids", "off_glucocorticoid"),
        Endpoint("off immunosuppressants and biologics", "off_immunosuppressant"),
        Endpoint("drug-free (≥ 30 days without maintenance drug)", "drug_free"),
    ]
    blocks = []
    for group in [*data.diseases, "All"]:
        rows = visits if group == "All" else visits.filter(pl.col("disease") == group)
        timepoints = derive_timepoints(rows, ctx.months, ctx.rule)
        table = endpoint_table(timepoints, endpoints, labels)
        if opposite is not None:
            other = derive_timepoints(
                opposite if group == "All" else opposite.filter(pl.col("disease") == group), ctx.months, ctx.rule
            )
            table = pl.DataFrame(
                [
                    {"endpoint": e.label, **binary_cells_with_bounds(timepoints, other, e.column, labels)}
                    for e in endpoints
                ],
                schema=table.schema,
            )
        blocks.append(table.with_columns(group=pl.lit(group)).select("group", pl.all().exclude("group")))
    return pl.concat(blocks, how="vertical_relaxed")


def remission_section(ctx: Context) -> Section:
    """Treatment withdrawal (all diseases), each disease's remission, sustained and drug-free
    remission with NRI and observed cases, time to (sustained) remission and duration of remission."""
    data = ctx.data
    title = "3d. All diseases — treatment withdrawal, drug-free remission, time to event"
    visits, missing = remission_visits(data)
    if visits.is_empty():
        return Section(title, unavailable="no disease assessment is stored")
    curves: list[pl.DataFrame] = []
    km_rows: dict[str, list[dict[str, str]]] = {key: [] for key, *_ in KM_TABLES}
    common = common_estimands(ctx.rule)
    opposite = _opposite_visits(data)
    tables = [
        ctx.table(
            "Treatment withdrawal by time point (one definition across diseases), n/N (%) of observed cases",
            _withdrawal_table(ctx, visits, opposite),
            "efficacy_all_endpoints",
            note=" ".join(e.text() for e in common),
        )
    ]
    for disease in data.diseases:
        if disease in missing or primary_rule(disease) is None:
            continue
        rows = visits.filter(pl.col("disease") == disease)
        rows_opposite = None if opposite is None else opposite.filter(pl.col("disease") == disease)
        tables.append(_nri_table(ctx, disease, rows, rows_opposite))
        _time_to_event(ctx, disease, rows, km_rows, curves)
    milestones = patient_milestones(data, visits)
    tables.append(
        ctx.table(
            "Day each milestone was reached, per patient (day 0 = infusion; empty: not reached)",
            milestones,
            "efficacy_milestones",
            note="The days of the last maintenance-drug doses are in the treatment section (and in this table's CSV).",
            hidden=[c for c in milestones.columns if c.endswith(("_stop_day", "_stopped"))],
        )
    )
    if opposite is not None:
        tables += _drug_free_bounds_tables(ctx, visits, opposite)
    tables.append(
        ctx.table(
            "Endpoint definitions (estimands, ICH E9(R1))",
            estimand_table(data.diseases, ctx.rule),
            "estimands",
            wide=True,
        )
    )
    figures_: list[FigureBlock] = []
    if curves:
        all_curves = pl.concat(curves, how="vertical_relaxed")
        for key, caption, title_, ylabel, cumulative in KM_TABLES:
            if not km_rows[key]:
                continue
            estimand = [
                e for d in data.diseases for e in remission_estimands(d, ctx.rule) if _km_key(e.endpoint) == key
            ]
            tables.append(
                ctx.table(caption, pl.DataFrame(km_rows[key]), KM_FILES[key], note=" ".join(e.text() for e in estimand))
            )
            part = all_curves.filter(pl.col("endpoint") == key).select(
                "group", "day", "at_risk", "events", "censored", "survival", "lower", "upper"
            )
            write_csv(
                figures.km_risk_table(part, figures.km_months(part, ctx.months)), ctx.out, f"figure_km_{key}_at_risk"
            )
            figures_.append(
                ctx.figure(
                    f"Kaplan–Meier: {title_.lower()} with 95 % CI bands; under the axis the number at risk "
                    "(censored to date) per group at each labelled month",
                    figures.km_plot(
                        part,
                        title=title_,
                        ylabel=ylabel,
                        cumulative=cumulative,
                        xlabel="months since first remission" if key == "rfs" else "months since CAR-T infusion",
                        months=ctx.months,
                        provenance=ctx.provenance,
                    ),
                    part,
                    f"km_{key}",
                )
            )
    definitions = "; ".join(f"{d}: {rule.definition}" for d in data.diseases if (rule := primary_rule(d)) is not None)
    unavailable = "; ".join(f"{d}: {reason}" for d, reason in missing.items())
    return Section(
        title,
        note="Remission per disease, each under its own name (never pooled) — "
        + definitions
        + ". Drug-free: no glucocorticoid, immunosuppressant, biologic or antimalarial for at least 30 days; "
        "unknown without a medication record at or after infusion. Sustained: consecutive remission assessments "
        "spanning ≥ 180 days, a gap > 120 days between assessments breaks the run. NRI (primary): every treated "
        "patient whose follow-up reached the month is in N; a missed visit, death or withdrawal is non-response; "
        "observed cases as sensitivity; patients not yet at the month are counted apart. Time-to-event endpoints "
        "are censored at the last efficacy assessment. " + _window_note(ctx) + _bounds_note(opposite),
        tables=tables,
        figures=figures_,
        unavailable=("not available: " + unavailable) if unavailable and not curves else "",
    )


def _bounds_note(opposite: pl.DataFrame | None) -> str:
    """The section note's sentence on imputation bounds (empty when no medication date is imputed)."""
    if opposite is None:
        return ""
    return (
        " Partially dated medications: the counts are those of the conservative reading (start on the first, end "
        "on the last day of the known period); where reading each partial date at the other end of its period "
        "(start last, end first) changes a drug-free count, the cell adds the range of the two "
        "(docs/decisions/imputation.md)."
    )


def _opposite_visits(data: ReportData) -> pl.DataFrame | None:
    """:func:`remission_visits` with the medications read by the opposite imputation rule, or
    None when no medication date is imputed (the two rules agree: no bounds)."""
    if not has_imputed_dates(data.medications, MEDICATION_START[1], MEDICATION_STOP[1]):
        return None
    opposite, _ = remission_visits(data, medications=opposite_medications(data.medications))
    return opposite


#: The drug-free flags whose bounds the report shows.
DRUG_FREE_FLAGS = ("drug_free", "drug_free_remission", "drug_free_remission_sustained")


def _time_to_drug_free_bounds(data: ReportData, visits: pl.DataFrame, opposite: pl.DataFrame) -> pl.DataFrame:
    """Per disease: patients reaching drug-free remission and the median time to it (days from
    infusion), reported and under the opposite rule, with the bounds of the count."""
    rows = []
    for disease in data.diseases:
        rule = primary_rule(disease)
        reported = derive_time_to_first(visits.filter(pl.col("disease") == disease), "drug_free_remission")
        other = derive_time_to_first(opposite.filter(pl.col("disease") == disease), "drug_free_remission")
        if rule is None or reported.is_empty():
            continue
        reached = Bounds(int(reported["observed"].sum()), int(other["observed"].sum()) if not other.is_empty() else 0)
        median = median_time(reported)
        median_opposite = median_time(other) if not other.is_empty() else None
        rows.append(
            {
                "endpoint": f"time to drug-free {rule.label}",
                "group": disease,
                "patients reaching it": f"{reached.reported}; {reached.text(MEDICATIONS_CAUSE)}"
                if reached.differ
                else str(reached.reported),
                "median, days (reported)": "not reached" if median is None else format_number(median, 0),
                "median, days (opposite rule)": "not reached"
                if median_opposite is None
                else format_number(median_opposite, 0),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            c: pl.String
            for c in (
                "endpoint",
                "group",
                "patients reaching it",
                "median, days (reported)",
                "median, days (opposite rule)",
            )
        },
    )


def _drug_free_bounds_tables(ctx: Context, visits: pl.DataFrame, opposite: pl.DataFrame) -> list[TableBlock]:
    """Per patient whose drug-free status depends on a partially dated medication: the first
    (sustained) drug-free remission day under both rules, and the medication records responsible.
    Nothing when the two rules give the same flags."""
    changed = patients_with_changed_flags(visits, opposite, DRUG_FREE_FLAGS, on=("assessment_id",))
    if changed.is_empty():
        return []
    days = derive_first_day_bounds(visits, opposite, "drug_free_remission").join(
        derive_first_day_bounds(visits, opposite, "drug_free_remission_sustained"),
        on="patient_id",
        how="full",
        coalesce=True,
    )
    per_patient = (
        changed.join(ctx.data.disease_of(), on="patient_id", how="left")
        .join(days, on="patient_id", how="left")
        .sort("patient_id")
    )
    records = responsible_medications(ctx.data.medications, changed)
    rule = "medication start on the last day, end on the first day of its known period"
    return [
        ctx.table(
            f"Time to drug-free remission from infusion, as reported and under the opposite imputation rule ({rule})",
            _time_to_drug_free_bounds(ctx.data, visits, opposite),
            "efficacy_time_to_drug_free_bounds",
            note="Median: Kaplan–Meier, censored at the last assessment with a known flag.",
        ),
        ctx.table(
            "Drug-free remission depending on partially dated medications: first day reached per patient, as "
            f"reported and under the opposite imputation rule ({rule})",
            per_patient,
            "efficacy_drug_free_bounds",
            note="Reported: medication start on the first day, end on the last day of a partially known date "
            "(the conservative reading, docs/decisions/imputation.md). Empty day: not reached.",
        ),
        ctx.table(
            "Medication records responsible: partially dated maintenance records (CMSTDTC/CMENDTC as collected) "
            "with their study days as reported and under the opposite rule",
            records,
            "efficacy_drug_free_bounds_records",
        ),
    ]


KM_FILES = {
    "remission": "km_time_to_remission",
    "sustained": "km_time_to_sustained_remission",
    "rfs": "km_relapse_free_survival",
}


def _km_key(endpoint: str) -> str:
    if endpoint.startswith("time to sustained"):
        return "sustained"
    if endpoint.startswith("time to"):
        return "remission"
    return "rfs" if endpoint.startswith("duration of") else ""


# --------------------------------------------------------------------------------------- safety


def _icaht(data: ReportData) -> tuple[pl.DataFrame, str]:
    """Per-patient ICAHT grades: stored scores when present, else the icaht index applied to the
    stored ANC series; a reason when neither is possible."""
    stored = data.scores("icaht")
    if not stored.is_empty() and "icaht_early_grade" in stored.columns:
        return stored.select("patient_id", "icaht_early_grade", "icaht_late_grade"), ""
    from remission.indices import registry

    if "icaht" not in registry():
        return pl.DataFrame(), not_computed("icaht")
    anc = data.lab("anc_10e9_l")
    if anc.is_empty():
        return pl.DataFrame(), "no anc_10e9_l laboratory values"
    from remission.api import score

    scored = score("icaht", anc.select("patient_id", "day", "anc_10e9_l"), on_error="skip", explain=False)
    return scored.select("patient_id", "icaht_early_grade", "icaht_late_grade"), ""


def _grade_source(data: ReportData, category: str, index: str, column: str) -> tuple[list[pl.DataFrame], str]:
    sources = []
    used = []
    if not data.adverse_events.is_empty():
        sources.append(data.adverse_events.filter(pl.col("category") == category).select("patient_id", "grade"))
        used.append("adverse-event records")
    scores = data.scores(index)
    if not scores.is_empty() and column in scores.columns:
        sources.append(scores.select("patient_id", pl.col(column).alias("grade")))
        used.append(f"{index} scores")
    else:
        used.append(f"{index} not computed")
    return sources, ", ".join(used)


def _treatment_emergent_bounds(data: ReportData, total: int) -> tuple[tuple[str, str], pl.DataFrame] | None:
    """The "Other safety endpoints" row of treatment-emergent adverse events with their bounds
    and the events whose flag differs between the reported onset and the opposite rule's
    (analysis/bounds.py); None when none differs (no bounds are shown)."""
    events = data.adverse_events
    if not has_imputed_dates(events, AE_ONSET[1]):
        return None
    flags = derive_treatment_emergent_bounds(events)
    changed = flags.filter(pl.col("treatment_emergent") != pl.col("treatment_emergent_opposite"))
    if changed.is_empty():
        return None
    counts, patients = summarise_treatment_emergent_bounds(events)
    # The events always differ here (an AE changed its flag); the patients may not.
    share = BinarySummary(patients.reported, total).text()
    share += f"; {patients.text(ONSETS_CAUSE)}" if patients.differ else ""
    noun = "event" if counts.reported == 1 else "events"
    text = f"{share} ({counts.reported} {noun}; {counts.text(ONSETS_CAUSE)})"
    if "source_key" not in changed.columns:
        changed = changed.with_columns(source_key=pl.lit(None, pl.String))
    listing = changed.select(
        "patient_id", "term", "grade", "onset_dtc", "onset_day", "onset_day_opposite", "source_key"
    ).sort("patient_id", "onset_day")
    return ("treatment-emergent adverse events (onset on or after day 0), patients", text), listing


def safety_section(ctx: Context) -> Section:
    data = ctx.data
    patients = data.patient_ids()
    if patients.is_empty():
        return Section("4. Safety", unavailable="no patients are stored")
    crs_sources, crs_used = _grade_source(data, "crs", "crs", "crs_grade")
    icans_sources, icans_used = _grade_source(data, "icans", "icans", "icans_grade")
    crs = derive_max_grade(patients, *crs_sources)
    icans = derive_max_grade(patients, *icans_sources)
    grades = (
        grade_counts(crs)
        .rename({"patients": "CRS"})
        .join(grade_counts(icans).rename({"patients": "ICANS"}), on="grade")
        .rename({"grade": "maximum grade (ASTCT 2019)"})
    )
    tables = [
        ctx.table(
            "CRS and ICANS: patients by maximum grade, n/N (%)",
            grades,
            "safety_crs_icans",
            note=f"CRS from {crs_used}; ICANS from {icans_used}.",
        ),
        ctx.table(
            "Infections",
            summarise_infections(data.adverse_events, patients)
            if not data.adverse_events.is_empty()
            else summarise_infections(
                pl.DataFrame(
                    schema={"patient_id": pl.String, "category": pl.String, "grade": pl.Int64, "serious": pl.Boolean}
                ),
                patients,
            ),
            "safety_infections",
        ),
    ]
    other = []
    igg = data.lab("igg_g_l")
    if igg.is_empty():
        other.append(("new hypogammaglobulinaemia (IgG < 7 g/L)", "not available: no igg_g_l laboratory values"))
    else:
        hypo = derive_hypogammaglobulinaemia(drop_conditioning_interval(igg, conditioning_start(data)))
        write_csv(hypo, ctx.out, "safety_igg_by_patient")
        known = hypo["new_onset"].drop_nulls()
        other.append(
            (
                f"new hypogammaglobulinaemia (IgG < {IGG_LLN_G_L:g} g/L after day 0, baseline ≥ {IGG_LLN_G_L:g})",
                BinarySummary(int(known.sum()), known.len()).text(),
            )
        )
        severe = hypo["severe"].drop_nulls()
        other.append(
            (f"IgG < {IGG_SEVERE_G_L:g} g/L after day 0", BinarySummary(int(severe.sum()), severe.len()).text())
        )
    icaht, icaht_na = _icaht(data)
    if icaht_na:
        other.append(("ICAHT early (days 0–30), grade ≥ 3", f"not available: {icaht_na}"))
        other.append(("ICAHT late (days 31–100), grade ≥ 3", f"not available: {icaht_na}"))
    else:
        write_csv(icaht, ctx.out, "safety_icaht_by_patient")
        for label, column in (("early (days 0–30)", "icaht_early_grade"), ("late (days 31–100)", "icaht_late_grade")):
            known = icaht[column].drop_nulls()
            counts = ", ".join(f"grade {g}: {int((known == g).sum())}" for g in range(5))
            other.append((f"ICAHT {label}, patients by grade (N = {known.len()})", counts))
    deaths = _deaths(data)
    other.append(("deaths (adverse event grade 5)", BinarySummary(deaths.height, patients.height).text()))
    emergent = _treatment_emergent_bounds(data, patients.height)
    if emergent is not None:
        other.append(emergent[0])
    tables.append(
        ctx.table(
            "Other safety endpoints", pl.DataFrame(other, schema=["endpoint", "patients"], orient="row"), "safety_other"
        )
    )
    if emergent is not None:
        tables.append(
            ctx.table(
                "Adverse events whose treatment emergence depends on a partially dated onset (AESTDTC as collected): "
                "onset day as reported (first day of the known period, not before the infusion) and under the "
                "opposite rule (first day of the period)",
                emergent[1],
                "safety_treatment_emergent_bounds",
            )
        )
    if not data.adverse_events.is_empty():
        listing = data.adverse_events.select(
            "patient_id", "term", "category", "grade", "onset_day", "resolution_day", "serious", "organism", "treatment"
        ).sort("patient_id", "onset_day")
        tables.append(ctx.table("Adverse events (listing)", listing, "safety_adverse_events"))
    return Section(
        "4. Safety",
        note="Patients are counted once at their maximum grade. Hypogammaglobulinaemia is new when the baseline IgG "
        "(latest value before the first lymphodepletion dose; day ≤ 0 without a conditioning record) was at least "
        "the limit.",
        tables=tables,
    )


# -------------------------------------------------------------------------------------- biology


def biology_section(ctx: Context) -> Section:
    data = ctx.data
    car_t = data.lab("car_t_cells_ul")
    b_cells = data.lab("cd19_cells_ul")
    if car_t.is_empty() and b_cells.is_empty():
        return Section("5. Biology", unavailable="no car_t_cells_ul or cd19_cells_ul laboratory values")
    rows = []
    per_patient = data.patients.select("patient_id", "disease")
    if not car_t.is_empty():
        peaks = summarise_car_t(car_t)
        per_patient = per_patient.join(peaks, on="patient_id", how="left")
        rows.append(
            (
                "CAR-T peak day — median (IQR; range)",
                summary_text(summarise_continuous(peaks["car_t_peak_day"].to_list())),
            )
        )
        rows.append(
            (
                "CAR-T peak, cells/µL — median (IQR; range)",
                summary_text(summarise_continuous(peaks["car_t_peak"].to_list())),
            )
        )
    else:
        rows.append(("CAR-T expansion", "not available: no car_t_cells_ul laboratory values"))
    if not b_cells.is_empty():
        aplasia = summarise_b_cells(b_cells)
        per_patient = per_patient.join(aplasia, on="patient_id", how="left")
        done = aplasia.filter(pl.col("reconstitution_day").is_not_null())
        durations = [float(d) for d in done["aplasia_days"].to_list()]
        mean_sd = (
            f"{statistics.mean(durations):.0f} ± {statistics.stdev(durations):.0f} days (n = {done.height})"
            if done.height >= 2
            else (f"{durations[0]:.0f} days (n = 1)" if done.height == 1 else "—")
        )
        rows.append((f"B-cell aplasia (< {B_CELL_APLASIA_THRESHOLD:g} cell/µL) duration — mean ± SD", mean_sd))
        rows.append(
            (
                "B-cell reconstitution day — median (IQR; range)",
                summary_text(summarise_continuous(done["reconstitution_day"].to_list())),
            )
        )
        ongoing = aplasia["ongoing"]
        rows.append(
            ("aplasia ongoing at last measurement, n/N (%)", BinarySummary(int(ongoing.sum()), ongoing.len()).text())
        )
    else:
        rows.append(("B-cell aplasia", "not available: no cd19_cells_ul laboratory values"))
    per_patient = _baseline_rows(data, rows, per_patient)
    summary = pl.DataFrame(rows, schema=["measure", "value"], orient="row")
    return Section(
        "5. Biology",
        note="CAR-T peak: highest car_t_cells_ul from day 0. B-cell aplasia starts at the first CD19+ count below "
        f"{B_CELL_APLASIA_THRESHOLD:g} cell/µL after day 0 and ends at the first count at or above it "
        "(reconstitution); "
        "SD is the sample standard deviation over patients who reconstituted.",
        tables=[
            ctx.table("CAR-T expansion and B-cell aplasia", summary, "biology_summary"),
            ctx.table("Per patient", per_patient.sort("patient_id"), "biology_patients"),
        ],
    )


def _baseline_rows(data: ReportData, rows: list[tuple[str, str]], per_patient: pl.DataFrame) -> pl.DataFrame:
    """CD19+ B cells and IgG: baseline before lymphodepletion and the post-conditioning
    pre-infusion nadir, summarised (appended to ``rows``) and per patient (returned)."""
    conditioning = conditioning_start(data)
    for analyte, label in (("cd19_cells_ul", "CD19+ B cells, cells/µL"), ("igg_g_l", "IgG, g/L")):
        series = data.lab(analyte)
        if series.is_empty():
            continue
        base = derive_lab_baseline(series, analyte, conditioning)
        nadir = base[f"{analyte}_nadir_pre_infusion"].drop_nulls()
        rows.append(
            (
                f"{label}: baseline before lymphodepletion — median (IQR; range)",
                summary_text(summarise_continuous(base[f"{analyte}_baseline"].to_list())),
            )
        )
        rows.append(
            (
                f"{label}: post-conditioning pre-infusion nadir (n = {nadir.len()}) — median (IQR; range)",
                summary_text(summarise_continuous(nadir.to_list())),
            )
        )
        per_patient = per_patient.join(
            base.select("patient_id", f"{analyte}_baseline", f"{analyte}_nadir_pre_infusion"),
            on="patient_id",
            how="left",
        )
    return per_patient


# -------------------------------------------------------------------------------------- figures


def _swimmer(ctx: Context, visits: pl.DataFrame) -> FigureBlock:
    data = ctx.data
    milestones = patient_milestones(data, visits)
    lanes = milestones.select(
        "patient_id",
        "disease",
        pl.col("follow_up_days").fill_null(0),
        (pl.col("in_remission_at_last_visit").fill_null(0) == 1).cast(pl.Int8).alias("ongoing"),
    )
    events = pl.concat(
        [
            milestones.select("patient_id", pl.lit("infusion").alias("event"), pl.lit(0, pl.Int64).alias("day")),
            *[
                milestones.select("patient_id", pl.lit(key).alias("event"), pl.col(column).cast(pl.Int64).alias("day"))
                for key, column in (
                    ("remission", "remission_day"),
                    ("drug_free", "drug_free_remission_day"),
                    ("sustained", "sustained_remission_day"),
                    ("relapse", "relapse_day"),
                    ("b_cell_return", "b_cell_return_day"),
                )
            ],
        ]
    ).drop_nulls("day")
    table = lanes.join(
        events.pivot(on="event", index="patient_id", values="day", aggregate_function="first"),
        on="patient_id",
        how="left",
    )
    return ctx.figure(
        "Swimmer plot: one lane per patient (follow-up since infusion, coloured by disease) with the first remission, "
        "first drug-free remission, the day remission had been sustained ≥ 180 days, relapse and B-cell return; "
        "an arrow marks a patient in remission at the last visit",
        figures.swimmer_plot(lanes, events, provenance=ctx.provenance),
        table,
        "swimmer",
    )


def _spider(ctx: Context) -> tuple[FigureBlock, list[str]]:
    data = ctx.data
    wanted = (
        ("SLE", "sledai2k", "sledai2k", "SLEDAI-2K"),
        ("IIM", "myositis-tis", "tis", "Total Improvement Score"),
        ("SSc", "mrss", "mrss", "mRSS (0–51)"),
        ("SSc", "eustar-ai", "eustar_ai", "EUSTAR-AI (0–10)"),
    )
    panels = []
    missing = []
    frames = []
    for disease, index, column, label in wanted:
        if disease not in data.diseases:
            continue
        scores = data.scores(index)
        if scores.is_empty() or column not in scores.columns:
            missing.append(not_computed(index))
            continue
        patients = data.patient_ids(disease)["patient_id"].to_list()
        series = scores.filter(pl.col("patient_id").is_in(patients)).select(
            "patient_id", "day", pl.col(column).cast(pl.Float64, strict=False).alias("value")
        )
        panels.append((f"{figures.DISEASE_NAMES.get(disease, disease)}: {label}", label, series, "value"))
        frames.append(series.with_columns(disease=pl.lit(disease), index=pl.lit(index)))
    table = (
        pl.concat(frames)
        if frames
        else pl.DataFrame(schema={"patient_id": pl.String, "day": pl.Int64, "value": pl.Float64})
    )
    caption = "Spider plots: each index over time per patient, by disease"
    if missing:
        caption += " (not available: " + "; ".join(missing) + ")"
    return ctx.figure(caption, figures.spider_panels(panels, provenance=ctx.provenance), table, "spider"), missing


def _waterfall(ctx: Context) -> FigureBlock:
    data = ctx.data
    frames = []
    notes = []
    for disease, source, column, label in (
        ("SLE", "sledai2k", "sledai2k", "SLEDAI-2K"),
        ("IIM", "lab", "ck_u_l", "creatine kinase"),
        ("SSc", "mrss", "mrss", "mRSS"),
    ):
        if disease not in data.diseases:
            continue
        patients = data.patient_ids(disease)["patient_id"].to_list()
        if source == "lab":
            series = (
                data.lab(column)
                .filter(pl.col("patient_id").is_in(patients))
                .select("patient_id", "day", pl.col(column).alias("value"))
            )
        else:
            scores = data.scores(source)
            if scores.is_empty():
                notes.append(not_computed(source))
                continue
            series = scores.filter(pl.col("patient_id").is_in(patients)).select(
                "patient_id", "day", pl.col(column).cast(pl.Float64, strict=False).alias("value")
            )
        if series.is_empty():
            continue
        change = derive_change_from_baseline(series, "value").filter(pl.col("day") > 0)
        best = change.group_by("patient_id").agg(
            pl.col("value_baseline").first().alias("baseline"),
            pl.col("value_pct_change").min().alias("best_pct_change"),
        )
        frames.append(best.with_columns(disease=pl.lit(disease), measure=pl.lit(label)))
    table = (
        pl.concat(frames)
        .select("patient_id", "disease", "measure", "baseline", "best_pct_change")
        .sort("best_pct_change", "patient_id")
        if frames
        else pl.DataFrame(
            schema={"patient_id": pl.String, "disease": pl.String, "measure": pl.String, "best_pct_change": pl.Float64}
        )
    )
    caption = (
        "Waterfall: best (lowest) percentage change from baseline after infusion per patient — SLE: SLEDAI-2K, "
        "myositis: creatine kinase, SSc: mRSS; dashed line −50 %"
    )
    if notes:
        caption += " (not available: " + "; ".join(notes) + ")"
    return ctx.figure(caption, figures.waterfall_plot(table, provenance=ctx.provenance), table, "waterfall")


def _kinetics(ctx: Context) -> FigureBlock:
    data = ctx.data
    diseases = data.disease_of()
    car_t = (
        data.lab("car_t_cells_ul")
        .join(diseases, on="patient_id")
        .select("patient_id", "disease", "day", pl.col("car_t_cells_ul").alias("value"))
    )
    b_cells = (
        data.lab("cd19_cells_ul")
        .join(diseases, on="patient_id")
        .select("patient_id", "disease", "day", pl.col("cd19_cells_ul").alias("value"))
    )
    table = pl.concat(
        [car_t.with_columns(analyte=pl.lit("car_t_cells_ul")), b_cells.with_columns(analyte=pl.lit("cd19_cells_ul"))]
    )
    return ctx.figure(
        "CAR-T expansion (days 0–60, log scale) and CD19+ B cells (days up to 365, symmetric log scale: 0 is "
        "shown) per patient, "
        "coloured by disease; black: median of the values measured on each day",
        figures.kinetics_plot(car_t, b_cells, provenance=ctx.provenance),
        table,
        "kinetics",
    )


def figures_section(ctx: Context) -> Section:
    data = ctx.data
    if data.patients.is_empty():
        return Section("6. Figures", unavailable="no patients are stored")
    visits, missing = remission_visits(data)
    blocks = [_swimmer(ctx, visits)]
    spider, _ = _spider(ctx)
    blocks += [spider, _waterfall(ctx), _kinetics(ctx)]
    note = "Each figure's data are written beside it (figure_<name>.csv)."
    if missing:
        note += " Remission markers not available: " + "; ".join(f"{d}: {r}" for d, r in missing.items()) + "."
    return Section("6. Figures", note=note, figures=blocks)


SECTIONS: tuple[tuple[str, Callable[[Context], Section]], ...] = (
    ("cohort", cohort_section),
    ("treatment", treatment_section),
    ("efficacy: SLE", sle_section),
    ("efficacy: myositis", myositis_section),
    ("efficacy: SSc", ssc_section),
    ("efficacy: all diseases", remission_section),
    ("safety", safety_section),
    ("biology", biology_section),
    ("figures", figures_section),
    ("data quality", quality_section),
)
