"""Endpoint definitions as data, in the structure of an estimand (ICH E9(R1), 2019, section A.3):
population, variable, intercurrent events and their handling strategy, time window, baseline and
population-level summary measure. The report prints each endpoint's definition next to its table
and writes them all to ``tables/estimands.csv`` (docs/decisions/sap.md).

The disease-specific remission endpoints take their variable from the rule table
(:mod:`remission.analysis.remission`), so the words printed are the words computed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl

from remission.analysis.durations import DEFAULT_DRUG_FREE, DEFAULT_SUSTAINED, DrugFreeRule, SustainedRule
from remission.analysis.remission import primary_rule
from remission.analysis.windows import DEFAULT_RULE, WindowRule

ICH_E9_R1 = "ICH E9(R1) Addendum on estimands and sensitivity analysis in clinical trials (2019)"


@dataclass(frozen=True)
class Estimand:
    """One endpoint's definition (every field is plain text, printed as is).

    Attributes
    ----------
    endpoint : str
        Name used as the table row label.
    disease : str
        Disease code, or "All" for an endpoint with one definition across diseases.
    population : str
        Who is analysed.
    variable : str
        What is measured per patient.
    intercurrent_events : str
        The events after treatment that affect the variable's existence or interpretation.
    strategy : str
        How each intercurrent event and missing value is handled (NRI, observed, treatment policy,
        composite, censoring).
    window : str
        When the variable is read.
    baseline : str
        The baseline definition.
    summary : str
        The population-level summary measure.
    """

    endpoint: str
    disease: str
    population: str
    variable: str
    intercurrent_events: str
    strategy: str
    window: str
    baseline: str
    summary: str

    def text(self) -> str:
        """The definition in one paragraph, as printed under a table."""
        return (
            f"{self.endpoint} ({self.disease}). Population: {self.population}. Variable: {self.variable}. "
            f"Intercurrent events: {self.intercurrent_events}. Strategy: {self.strategy}. "
            f"Window: {self.window}. Baseline: {self.baseline}. Summary: {self.summary}."
        )


_POPULATION = "every treated patient of the disease (CAR-T infusion, day 0)"
_EVENTS = (
    "rescue therapy or a new immunosuppressant (shown by the drug-free flags), death, withdrawal, "
    "follow-up shorter than the time point"
)


def _window(rule: WindowRule) -> str:
    return (
        f"month m = day round({rule.month_days} × m) ± {rule.early_half_width} days (m ≤ {rule.early_until}) "
        f"or ± {rule.late_half_width} days, edges inclusive, ties to the {rule.tie} assessment"
    )


def remission_estimands(
    disease: str,
    rule: WindowRule = DEFAULT_RULE,
    sustained: SustainedRule = DEFAULT_SUSTAINED,
    drug_free: DrugFreeRule = DEFAULT_DRUG_FREE,
) -> list[Estimand]:
    """The binary and time-to-event remission endpoints of ``disease`` (empty when the disease has
    no remission rule).

    >>> [e.endpoint for e in remission_estimands("SLE")][:2]
    ['DORIS 2021 remission', 'sustained DORIS 2021 remission']
    """
    remission = primary_rule(disease)
    if remission is None:
        return []
    label = remission.label
    variable = f"{remission.definition} at the windowed assessment ({remission.kind}; {remission.source})"
    nri = (
        "composite: death, withdrawal, a missed window visit or an unknown flag = non-response (NRI, "
        "primary); observed cases as sensitivity; follow-up not yet at the time point left out and counted "
        "apart; treatment policy for rescue/new immunosuppressants (their use is shown, not imputed)"
    )
    free = (
        f"no glucocorticoid, immunosuppressant, biologic{' or antimalarial' if drug_free.antimalarial else ''} "
        f"for ≥ {drug_free.min_free_days} days; unknown without a medication record at or after day "
        f"{drug_free.history_from_day}"
    )
    run = (
        f"a run of consecutive remission assessments spanning ≥ {sustained.min_days} days, a gap > "
        f"{sustained.max_gap_days} days between two assessments breaks it"
    )
    window = _window(rule)
    base = "latest assessment with day ≤ 0"
    share = "n/N (%) per time point, fixed N printed"
    censor = "censored at the last assessment with a known flag (efficacy assessment)"
    return [
        Estimand(label, disease, _POPULATION, variable, _EVENTS, nri, window, base, share),
        Estimand(
            f"sustained {label}", disease, _POPULATION, f"{label} within {run}", _EVENTS, nri, window, base, share
        ),
        Estimand(f"drug-free {label}", disease, _POPULATION, f"{label} and {free}", _EVENTS, nri, window, base, share),
        Estimand(
            f"sustained drug-free {label}",
            disease,
            _POPULATION,
            f"drug-free {label} within {run}",
            _EVENTS,
            nri,
            window,
            base,
            share,
        ),
        Estimand(
            f"time to {label}",
            disease,
            _POPULATION,
            f"days from infusion to the first {label}",
            "death, withdrawal",
            censor,
            "day 0 to the last assessment",
            "infusion (day 0)",
            "Kaplan–Meier cumulative probability (95 % CI, exponential Greenwood), median, number at risk",
        ),
        Estimand(
            f"time to sustained {label}",
            disease,
            _POPULATION,
            f"days from infusion to the onset of the first sustained run ({run})",
            "death, withdrawal",
            censor,
            "day 0 to the last assessment",
            "infusion (day 0)",
            "Kaplan–Meier cumulative probability, median, number at risk",
        ),
        Estimand(
            f"duration of {label}",
            disease,
            f"patients ever in {label}",
            "days from the first remission to loss of remission (first later assessment not in remission) or death",
            "death (an event), withdrawal",
            censor,
            "first remission to the last assessment",
            "first remission (time origin)",
            "Kaplan–Meier probability of remaining in remission, median",
        ),
    ]


def common_estimands(rule: WindowRule = DEFAULT_RULE, drug_free: DrugFreeRule = DEFAULT_DRUG_FREE) -> list[Estimand]:
    """Endpoints with one definition across diseases (the only ones with an "All" row).

    >>> [e.endpoint for e in common_estimands()]
    ['off glucocorticoids', 'off immunosuppressants and biologics', 'drug-free']
    """
    window = _window(rule)
    observed = (
        "observed cases at the windowed assessment; unknown (not drug-free) without a medication record at or "
        "after day 0"
    )
    share = "n/N (%) per time point, N printed"
    return [
        Estimand(
            "off glucocorticoids",
            "All",
            _POPULATION,
            "no glucocorticoid course running on the assessment day",
            "rescue glucocorticoids (treatment policy)",
            observed,
            window,
            "day 0",
            share,
        ),
        Estimand(
            "off immunosuppressants and biologics",
            "All",
            _POPULATION,
            "no immunosuppressant (IVIG included) or biologic course running on the assessment day; "
            "conditioning and CRS treatment excluded",
            "new immunosuppressant (treatment policy)",
            observed,
            window,
            "day 0",
            share,
        ),
        Estimand(
            "drug-free",
            "All",
            _POPULATION,
            f"no glucocorticoid, immunosuppressant, biologic{' or antimalarial' if drug_free.antimalarial else ''}"
            f" for ≥ {drug_free.min_free_days} days before the assessment",
            "restart of any maintenance drug (treatment policy)",
            observed,
            window,
            "day 0",
            share,
        ),
    ]


def observed_estimand(disease: str, rule: WindowRule = DEFAULT_RULE) -> Estimand:
    """The definition shared by the rows of a disease's efficacy table (section 3a–3c): observed
    cases per time point; the NRI display of the disease's remission is in section 3d.

    >>> observed_estimand("IIM").strategy.startswith("observed cases")
    True
    """
    return Estimand(
        "efficacy endpoints by time point",
        disease,
        _POPULATION,
        "each row's index output or laboratory criterion at the windowed assessment",
        _EVENTS,
        "observed cases (N = patients with a known value; missing is not 'no'); treatment policy for rescue "
        "therapy; the NRI display of remission is in section 3d",
        _window(rule),
        "latest assessment with day ≤ 0; laboratory values: latest before the first lymphodepletion dose",
        "n/N (%) or median (IQR; range)",
    )


def estimand_table(diseases: list[str], rule: WindowRule = DEFAULT_RULE) -> pl.DataFrame:
    """Every endpoint definition of the report, one row each (``tables/estimands.csv``), with the
    whole definition in one paragraph (``definition``: :meth:`Estimand.text`).

    >>> estimand_table(["SSc"]).select("endpoint").to_series().to_list()[0]
    'EUSTAR-AI < 2.5'
    """
    estimands = [e for d in diseases for e in remission_estimands(d, rule)] + common_estimands(rule)
    rows = [asdict(e) | {"definition": e.text()} for e in estimands]
    return pl.DataFrame(rows, schema={name: pl.String for name in [*Estimand.__dataclass_fields__, "definition"]})


__all__ = [
    "ICH_E9_R1",
    "Estimand",
    "common_estimands",
    "estimand_table",
    "observed_estimand",
    "remission_estimands",
]
