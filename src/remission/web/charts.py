"""Pictures of one patient's course: CAR-T and B-cell curves (PNG) and a day-axis lane chart (SVG).

Both read the dict of :func:`remission.web.services.patient_record`; the lane chart is plain data
(rectangles with day coordinates) that the template draws as inline SVG.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Okabe & Ito (2008) colour-blind-safe palette, as in the report.
ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILION, PURPLE = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
)
CELL_ANALYTES = (("car_t_cells_ul", "CAR-T cells", VERMILION), ("cd19_cells_ul", "B cells (CD19+)", BLUE))


def cell_curves_png(patient: Mapping[str, Any]) -> str | None:
    """CAR-T and B-cell counts over days since infusion (log scale), remission shaded; base64
    PNG, or None when neither was measured."""
    series = {
        analyte: sorted((lab["day"], lab["value"]) for lab in patient["labs"] if lab["analyte"] == analyte)
        for analyte, _label, _colour in CELL_ANALYTES
    }
    if not any(series.values()):
        return None
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.0, 2.8), dpi=100)
    ax.spines[["top", "right"]].set_visible(False)
    for start, stop in patient["periods"]["remission"]:
        ax.axvspan(start, max(stop, start + 1), color=GREEN, alpha=0.12, lw=0)
    for analyte, label, colour in CELL_ANALYTES:
        points = [(d, max(v, 0.01)) for d, v in series[analyte]]
        if points:
            ax.plot([d for d, _ in points], [v for _, v in points], "-o", ms=3, lw=1.5, color=colour, label=label)
    ax.set_yscale("log")
    ax.axvline(0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("days since CAR-T infusion")
    ax.set_ylabel("cells/µL (log)")
    ax.legend(frameon=False, fontsize=8, loc="upper right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


#: The first day drawn: longer pre-treatment courses (and unknown starts) begin there.
PRE_TREATMENT_CUT = -120


@dataclass(frozen=True)
class Bar:
    lane: str
    start: int
    stop: int
    label: str
    colour: str
    ongoing: bool = False


@dataclass(frozen=True)
class Lanes:
    """Bars on a day axis: everything the template needs to draw the SVG."""

    lanes: list[str]
    bars: list[Bar]
    marks: list[tuple[int, str]]  # visit days
    first: int
    last: int
    width: int = 900
    left: int = 190
    lane_height: int = 22

    def x(self, day: float) -> float:
        span = max(self.last - self.first, 1)
        return self.left + (day - self.first) / span * (self.width - self.left - 10)

    @property
    def height(self) -> int:
        return len(self.lanes) * self.lane_height + 40

    def ticks(self) -> list[int]:
        span = self.last - self.first
        step = next(s for s in (7, 14, 30, 60, 90, 180, 365, 730, 10_000) if span / s <= 10)
        start = (self.first // step) * step
        return [d for d in range(start, self.last + 1, step) if d >= self.first]


def lanes(patient: Mapping[str, Any]) -> Lanes:
    """Medications (one lane per drug), adverse events, remission and drug-free periods."""
    last = patient["status"]["follow_up_day"] or 0
    bars: list[Bar] = []
    for start, stop in patient["periods"]["remission"]:
        bars.append(Bar("remission", start, stop, "remission", GREEN))
    for start, stop in patient["periods"]["drug_free"]:
        bars.append(Bar("drug-free", start, stop, "drug-free", SKY))
    for m in patient["medications"]:
        ongoing = m["stop_day"] is None
        stop = last if ongoing else m["stop_day"]
        dose = "dose not recorded" if m["dose"] is None else f"{m['dose']:g} {m['unit']} {m['frequency']}"
        if m["start_day"] is None:  # drawn from the axis' start: taken since before it
            dose += ", start not known"
        start = PRE_TREATMENT_CUT if m["start_day"] is None else m["start_day"]
        bars.append(Bar(m["drug"], start, stop, dose.strip(), ORANGE, ongoing))
    for ae in patient["adverse_events"]:
        stop = ae["resolution_day"] if ae["resolution_day"] is not None else last
        bars.append(
            Bar(
                "AE: " + ae["term"], ae["onset_day"], stop, f"grade {ae['grade']}", PURPLE, ae["resolution_day"] is None
            )
        )
    order = ["remission", "drug-free"]
    order += list(dict.fromkeys(b.lane for b in bars if b.lane not in order))
    used = [lane for lane in order if any(b.lane == lane for b in bars)]
    marks = [(a["day"], a["visit"]) for a in patient["assessments"]]
    days = [b.start for b in bars] + [b.stop for b in bars] + [d for d, _ in marks] + [0, last]
    first = max(min(days), PRE_TREATMENT_CUT)  # long pre-treatment courses are cut
    return Lanes(
        used,
        [Bar(b.lane, max(b.start, first), b.stop, b.label, b.colour, b.ongoing) for b in bars],
        marks,
        first,
        max(days),
    )
