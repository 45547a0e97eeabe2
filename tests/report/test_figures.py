"""The report's figures rendered for real: the text matplotlib draws (tick labels, the
number-at-risk table, legend entries, the provenance line) is read back from the drawn figure, and
the PNG's own text chunk, so that literal mathtext (``$\\mathdefault{10^{2}}$``), a lost risk table
or an unmarked synthetic figure cannot return unnoticed."""

from __future__ import annotations

import io
from typing import Any

import polars as pl
import pytest
from matplotlib.image import imread
from PIL import Image

from remission.report import figures

MATH_MARKS = ("$", "mathdefault", "\\")


def _drawn_texts(fig: Any) -> list[str]:
    """Every non-empty text drawn in ``fig`` (tick labels, titles, legends, free text)."""
    from matplotlib.text import Text

    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(Text) if t.get_visible() and t.get_text()]


def _curves(group: str, rows: list[tuple[float, int, int, int, float]]) -> pl.DataFrame:
    """A Kaplan–Meier table of one group: (day, at risk, events, censored, survival)."""
    frame = pl.DataFrame(rows, schema=["day", "at_risk", "events", "censored", "survival"], orient="row")
    return frame.with_columns(group=pl.lit(group), lower=pl.col("survival"), upper=pl.col("survival"))


# Hand-made cohort: SLE 4 patients, events on days 91 and 200, censored on day 150 and 400;
# IIM 2 patients without event, censored on days 60 and 300.
SLE = _curves("SLE", [(0, 4, 0, 0, 1.0), (91, 4, 1, 0, 0.75), (150, 3, 0, 1, 0.75), (200, 2, 1, 0, 0.375),
                      (400, 1, 0, 1, 0.375)])  # fmt: skip
IIM = _curves("IIM", [(0, 2, 0, 0, 1.0), (60, 2, 0, 1, 1.0), (300, 1, 0, 1, 1.0)])
CURVES = pl.concat([SLE, IIM])


@pytest.mark.parametrize(
    ("month", "group", "expected"),
    [
        # day 0: everybody at risk, nobody censored
        (0, "SLE", (4, 0)),
        # day 91 (month 3): the event on day 91 is still at risk on that day
        (3, "SLE", (4, 0)),
        # day 183: S3 censored on 150 and the day-91 event are gone → 2 at risk, 1 censored
        (6, "SLE", (2, 1)),
        # day 365: the day-200 event is gone → 1 at risk (censored on 400), 1 censored
        (12, "SLE", (1, 1)),
        (12, "IIM", (0, 2)),
        (3, "IIM", (1, 1)),
    ],
    ids=["sle-m0", "sle-m3", "sle-m6", "sle-m12", "iim-m12", "iim-m3"],
)
def test_risk_table_counted_by_hand(month: int, group: str, expected: tuple[int, int]) -> None:
    table = figures.km_risk_table(CURVES, [0, 3, 6, 12])
    row = table.filter((pl.col("group") == group) & (pl.col("month") == month))
    assert (row["at_risk"][0], row["censored"][0]) == expected


def test_km_figure_draws_the_risk_table_under_month_ticks() -> None:
    fig = figures.km_figure(CURVES, title="Time to remission", ylabel="p", cumulative=True, months=(3, 6, 12))
    curves_ax, table_ax = fig.axes[:2]
    fig.canvas.draw()
    ticks = [t.get_text() for t in curves_ax.get_xticklabels()]
    # the last time is day 400 (13.1 months): the axis runs to month 18, the first month past it
    assert ticks == ["0", "3", "6", "12", "18"]
    cells = {t.get_text() for t in table_ax.texts}
    assert {"4 (0)", "2 (1)", "1 (1)", "0 (2)"} <= cells
    # each count sits under its month's tick: the x of the month-6 cell is the tick at 6
    six = [t for t in table_ax.texts if t.get_position()[0] == 6]
    assert len(six) == 2
    assert table_ax.get_title(loc="left") == "Number at risk (censored to date)"
    assert [t.get_text() for t in table_ax.get_yticklabels()] == ["SLE", "IIM"]
    assert curves_ax.get_xlabel() == "months since CAR-T infusion"


def test_km_group_without_events_says_so() -> None:
    fig = figures.km_figure(CURVES, title="t", ylabel="p")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[:2] == ["SLE (n = 4; 2 events)", "Idiopathic inflammatory myositis: no events (n = 2)"]


def test_km_with_no_event_in_any_group_says_so_on_the_axes() -> None:
    fig = figures.km_figure(IIM, title="t", ylabel="p")
    assert "no events in any group: every curve stays at its start" in _drawn_texts(fig)


def test_km_groups_that_coincide_are_drawn_distinguishably() -> None:
    # two groups without events lie on one another at 1.0: different dashes and widths keep both visible
    fig = figures.km_figure(pl.concat([IIM, IIM.with_columns(group=pl.lit("SSc"))]), title="t", ylabel="p")
    steps = [line for line in fig.axes[0].get_lines() if line.get_label() and not line.get_label().startswith("_")]
    styles = {(line.get_linestyle(), line.get_linewidth()) for line in steps}
    assert len(steps) == 2 and len(styles) == 2


def _kinetics() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "patient_id": ["A"] * 5,
            "disease": ["SLE"] * 5,
            "day": [-5, 0, 9, 28, 180],
            "value": [150.0, 0.2, 60.0, 1.5, 0.0],
        }
    )


def test_kinetics_log_axes_have_plain_tick_labels() -> None:
    fig = figures.kinetics_figure(_kinetics(), _kinetics())
    fig.canvas.draw()
    car_t, b_cells = fig.axes[:2]
    left = [t.get_text() for t in car_t.get_yticklabels() if t.get_text()]
    right = [t.get_text() for t in b_cells.get_yticklabels() if t.get_text()]
    assert {"1", "10"} <= set(left)
    assert {"0", "1", "10", "100"} <= set(right)
    for text in _drawn_texts(fig):
        assert not any(mark in text for mark in MATH_MARKS), text


PROVENANCE = "SYNTHETIC DATA (generated, not patients) · data: demo.db (SQLite) · remission 0.1.0"


def _png_text(png: bytes) -> dict[str, str]:
    return dict(Image.open(io.BytesIO(png)).text)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "draw",
    [
        lambda p: figures.km_plot(CURVES, title="t", ylabel="y", provenance=p),
        lambda p: figures.kinetics_plot(_kinetics(), _kinetics(), provenance=p),
        lambda p: figures.spider_panels([("SLE", "SLEDAI-2K", _kinetics(), "value")], provenance=p),
        lambda p: figures.waterfall_plot(
            pl.DataFrame({"patient_id": ["A"], "disease": ["SLE"], "measure": ["m"], "best_pct_change": [-80.0]}),
            provenance=p,
        ),
        lambda p: figures.swimmer_plot(
            pl.DataFrame({"patient_id": ["A"], "disease": ["SLE"], "follow_up_days": [300], "ongoing": [1]}),
            pl.DataFrame({"patient_id": ["A"], "event": ["infusion"], "day": [0]}),
            provenance=p,
        ),
        lambda p: figures.km_plot(CURVES.clear(), title="t", ylabel="y", provenance=p),
    ],
    ids=["km", "kinetics", "spider", "waterfall", "swimmer", "no-data"],
)
def test_every_figure_file_carries_its_provenance(draw: Any) -> None:
    png = draw(PROVENANCE)
    assert _png_text(png)["Description"] == PROVENANCE
    assert _png_text(png)["Software"].startswith("remission ")
    # drawn into the pixels too: the bottom strip of the image holds dark-grey text
    pixels = imread(io.BytesIO(png))
    bottom = pixels[-int(pixels.shape[0] * 0.06) :, :, :3]
    assert bottom.min() < 0.5


def test_provenance_text_is_the_lowest_text_of_the_figure() -> None:
    fig = figures.km_figure(CURVES, title="t", ylabel="y")
    fig.canvas.draw()
    content = fig.get_tightbbox(fig.canvas.get_renderer())  # inches, before the stamp
    figures.stamp_provenance(fig, PROVENANCE)
    stamp = [t for t in fig.texts if t.get_gid() == figures.PROVENANCE_GID]
    assert [t.get_text() for t in stamp] == [PROVENANCE]
    extent = stamp[0].get_window_extent(fig.canvas.get_renderer())
    assert extent.y1 / fig.dpi <= content.y0  # under the risk table and every label
    assert abs(extent.x0 / fig.dpi - content.x0) < 0.02  # left-aligned with the content
