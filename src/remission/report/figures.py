"""Figures of the report (matplotlib, Agg backend, colour-blind-safe Okabe–Ito palette).

Each figure function takes a tidy table and returns the PNG bytes; the table it drew is the
caller's to write beside it as CSV, so that every figure can be checked. Colours and markers are
fixed per disease and per event in every figure (:data:`DISEASE_COLOURS`, :data:`EVENT_STYLES`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import polars as pl

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILLION, PURPLE, BLACK = OKABE_ITO
MONTH_DAYS = 30.4375
#: Line colours for one line per patient: Okabe–Ito without yellow (too pale for thin lines on white).
LINE_COLOURS = (ORANGE, SKY, GREEN, BLUE, VERMILLION, PURPLE, BLACK)
LINE_MARKERS = ("o", "s", "^", "D")

DISEASE_COLOURS = {"SLE": BLUE, "IIM": VERMILLION, "SSc": GREEN}
DISEASE_NAMES = {"SLE": "SLE", "IIM": "Idiopathic inflammatory myositis", "SSc": "Systemic sclerosis"}
#: Marker of each swimmer-plot event: (label, marker, face colour, edge colour, size, vertical offset
#: in lane units — events of one patient on the same day stay visible side by side).
EVENT_STYLES: dict[str, tuple[str, str, str, str, float, float]] = {
    "infusion": ("CAR-T infusion", "v", BLACK, BLACK, 50, 0.0),
    "remission": ("Remission (first)", "D", SKY, BLACK, 36, 0.17),
    "relapse": ("Relapse", "X", PURPLE, BLACK, 60, 0.17),
    "drug_free": ("Drug-free remission (first)", "*", ORANGE, BLACK, 110, -0.17),
    "sustained": ("Sustained remission (≥ 180 days)", "s", GREEN, BLACK, 36, -0.17),
    "b_cell_return": ("B-cell return (≥ 1 CD19+ cell/µL)", "o", YELLOW, BLACK, 30, 0.0),
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.labelsize": 9,
            "legend.fontsize": 8,
            "xtick.labelsize": 8,
            "ytick.labelsize": 8,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "figure.dpi": 150,
            "savefig.dpi": 150,
            # Record text ($ in a drug name or AE term) is never TeX: mathtext would fail on it.
            "text.parse_math": False,
        }
    )
    return plt


def _plain_log_ticks(ax: Any) -> None:
    """Label a log (or symlog) y axis with plain numbers (0.1, 1, 10, 1000).

    Matplotlib's log formatters write mathtext (``$\\mathdefault{10^{2}}$``), which prints literally
    because record text is never parsed as math (``text.parse_math`` is off, see ``_pyplot``).
    """
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:,.10g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _figure(width: float = 7.0, height: float = 4.2, ncols: int = 1, nrows: int = 1, **kwargs: Any) -> Any:
    plt = _pyplot()
    return plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, **kwargs)


#: The ``gid`` of the provenance text drawn into a figure (tests find it by it).
PROVENANCE_GID = "provenance"


def stamp_provenance(fig: Any, provenance: str) -> None:
    """Draw ``provenance`` in small grey type under everything else in ``fig`` (left-aligned with
    its content), so that a copied PNG keeps where its data came from."""
    if not provenance:
        return
    fig.canvas.draw()
    box = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
    width, height = fig.get_size_inches()
    fig.text(
        box.x0 / width,
        (box.y0 - 0.06) / height,
        provenance,
        ha="left",
        va="top",
        fontsize=6.5,
        color="#555555",
        gid=PROVENANCE_GID,
    )


def render(fig: Any, provenance: str = "") -> bytes:
    """The PNG bytes of ``fig`` with ``provenance`` drawn under it and written into the PNG's
    ``Description`` text chunk; the figure is closed."""
    plt = _pyplot()
    stamp_provenance(fig, provenance)
    buffer = io.BytesIO()
    metadata = {"Software": f"remission {_version()}", **({"Description": provenance} if provenance else {})}
    fig.savefig(buffer, format="png", bbox_inches="tight", facecolor="white", metadata=metadata)
    plt.close(fig)
    return buffer.getvalue()


def _version() -> str:
    from remission import __version__

    return __version__


def _no_data(message: str, width: float = 7.0, height: float = 2.0, *, provenance: str = "") -> bytes:
    fig, axes = _figure(width, height)
    ax = axes[0][0]
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=10, color="#555555")
    return render(fig, provenance)


def spider_plot(series: pl.DataFrame, value: str, *, title: str, ylabel: str, provenance: str = "") -> bytes:
    """One line per patient of ``value`` over months since infusion (``patient_id``, ``day``).

    >>> png = spider_plot(pl.DataFrame({"patient_id": ["A", "A"], "day": [-7, 90], "s": [12, 0]}),
    ...                   "s", title="t", ylabel="y")
    >>> png[:4] == b"\\x89PNG"
    True
    """
    fig, axes = _figure()
    _spider_axis(axes[0][0], series, value, title=title, ylabel=ylabel)
    return render(fig, provenance)


def _spider_axis(
    ax: Any, series: pl.DataFrame, value: str, *, title: str, ylabel: str, zero_line: bool = False
) -> None:
    patients = series.drop_nulls(value).sort("patient_id", "day").partition_by("patient_id", maintain_order=True)
    for i, rows in enumerate(patients):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        cycle = i // len(LINE_COLOURS)
        style = "-" if cycle == 0 else "--"
        ax.plot(
            rows["day"].to_numpy() / MONTH_DAYS,
            rows[value].cast(pl.Float64).to_numpy(),
            style,
            marker=LINE_MARKERS[cycle % len(LINE_MARKERS)],
            ms=3,
            lw=1.3,
            color=colour,
            label=str(rows["patient_id"][0]),
        )
    ax.axvline(0, color="grey", lw=0.8, ls=":")
    if zero_line:
        ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("months since CAR-T infusion")
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left")
    if patients:
        ax.legend(frameon=False, ncol=2, loc="best", handlelength=1.5, columnspacing=0.8)


def spider_panels(panels: Sequence[tuple[str, str, pl.DataFrame, str]], *, provenance: str = "") -> bytes:
    """A grid of spider plots: one panel per (title, y label, series, value column); each series has
    ``patient_id``, ``day`` and the value (one line per patient).

    >>> s = pl.DataFrame({"patient_id": ["A", "A"], "day": [-7, 90], "v": [10.0, 2.0]})
    >>> spider_panels([("SLE", "SLEDAI-2K", s, "v")])[:4] == b"\\x89PNG"
    True
    """
    if not panels:
        return _no_data("no index over time is available", provenance=provenance)
    ncols = 2 if len(panels) > 1 else 1
    nrows = (len(panels) + ncols - 1) // ncols
    fig, axes = _figure(5.2 * ncols, 3.4 * nrows, ncols=ncols, nrows=nrows)
    for k, (title, ylabel, series, value) in enumerate(panels):
        ax = axes[k // ncols][k % ncols]
        _spider_axis(ax, series, value, title=title, ylabel=ylabel, zero_line="change" in value)
    for k in range(len(panels), nrows * ncols):
        axes[k // ncols][k % ncols].axis("off")
    fig.tight_layout()
    return render(fig, provenance)


def _disease_legend(ax: Any, diseases: Sequence[str], **kwargs: Any) -> Any:
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=DISEASE_COLOURS.get(d, "grey"), label=DISEASE_NAMES.get(d, d)) for d in diseases]
    return ax.legend(handles=handles, frameon=False, **kwargs)


def swimmer_plot(lanes: pl.DataFrame, events: pl.DataFrame, *, provenance: str = "") -> bytes:
    """One lane per patient: follow-up bar coloured by disease, event markers, "ongoing" arrows.

    Parameters
    ----------
    lanes : polars.DataFrame
        ``patient_id``, ``disease``, ``follow_up_days`` and ``ongoing`` (1 when the patient is in
        remission at the last assessment: an arrow continues the lane).
    events : polars.DataFrame
        ``patient_id``, ``event`` (a key of :data:`EVENT_STYLES`) and ``day``.

    Examples
    --------
    >>> lanes = pl.DataFrame({"patient_id": ["A"], "disease": ["SLE"], "follow_up_days": [400], "ongoing": [1]})
    >>> ev = pl.DataFrame({"patient_id": ["A", "A"], "event": ["infusion", "remission"], "day": [0, 90]})
    >>> swimmer_plot(lanes, ev)[:4] == b"\\x89PNG"
    True
    """
    if lanes.is_empty():
        return _no_data("no patient", provenance=provenance)
    order = {d: i for i, d in enumerate(DISEASE_COLOURS)}
    ordered = lanes.with_columns(_d=pl.col("disease").replace_strict(order, default=9, return_dtype=pl.Int64)).sort(
        ["_d", "follow_up_days"], descending=[False, True]
    )
    n = ordered.height
    fig, axes = _figure(8.0, 0.32 * n + 1.9)
    ax = axes[0][0]
    y_of = {pid: n - 1 - i for i, pid in enumerate(ordered["patient_id"])}
    longest = max(float(ordered["follow_up_days"].max() or 0) / MONTH_DAYS, 1.0)  # type: ignore[arg-type]
    for row in ordered.iter_rows(named=True):
        y = y_of[row["patient_id"]]
        months = (row["follow_up_days"] or 0) / MONTH_DAYS
        ax.barh(y, months, height=0.72, color=DISEASE_COLOURS.get(row["disease"], "grey"), alpha=0.45, lw=0)
        if row["ongoing"]:
            ax.annotate(
                "",
                xy=(months + 0.045 * longest, y),
                xytext=(months, y),
                arrowprops={"arrowstyle": "-|>", "color": BLACK, "lw": 1.1, "mutation_scale": 9},
            )
    for key, (label, marker, face, edge, size, offset) in EVENT_STYLES.items():
        rows = events.filter((pl.col("event") == key) & pl.col("patient_id").is_in(list(y_of)))
        ax.scatter(
            rows["day"].cast(pl.Float64).to_numpy() / MONTH_DAYS,
            [y_of[p] + offset for p in rows["patient_id"]],
            marker=marker,
            s=size,
            c=face,
            edgecolors=edge,
            linewidths=0.6,
            zorder=3,
            label=label,
        )
    ax.set_yticks(list(y_of.values()), list(y_of.keys()))
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlim(-0.5, longest * 1.08)
    ax.set_xlabel("months since CAR-T infusion")
    ax.set_title("Swimmer plot: follow-up and events per patient", loc="left")
    from matplotlib.lines import Line2D

    arrow = Line2D([], [], color=BLACK, marker=">", lw=1.1, ms=5, label="In remission at last visit (ongoing)")
    event_legend = ax.legend(
        handles=[*ax.get_legend_handles_labels()[0], arrow],
        frameon=False,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title="Events",
        alignment="left",
    )
    ax.add_artist(event_legend)
    diseases = [d for d in DISEASE_COLOURS if d in set(ordered["disease"])]
    _disease_legend(ax, diseases, loc="lower left", bbox_to_anchor=(1.01, 0.0), title="Disease", alignment="left")
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    return render(fig, provenance)


def waterfall_plot(best: pl.DataFrame, *, ylabel: str = "best change from baseline (%)", provenance: str = "") -> bytes:
    """Bars of each patient's best percentage change, sorted from worst to best, coloured by disease.

    ``best`` has ``patient_id``, ``disease``, ``measure`` (what was measured, shown in the
    legend) and ``best_pct_change``.

    >>> b = pl.DataFrame({"patient_id": ["A", "B"], "disease": ["SLE", "SSc"], "measure": ["SLEDAI-2K", "mRSS"],
    ...                   "best_pct_change": [-100.0, -35.0]})
    >>> waterfall_plot(b)[:4] == b"\\x89PNG"
    True
    """
    rows = best.drop_nulls("best_pct_change").sort(["best_pct_change", "patient_id"], descending=[True, False])
    if rows.is_empty():
        return _no_data("no change from baseline is available", provenance=provenance)
    fig, axes = _figure(max(5.0, 0.42 * rows.height + 2.5), 3.8)
    ax = axes[0][0]
    x = list(range(rows.height))
    ax.bar(
        x,
        rows["best_pct_change"].to_numpy(),
        color=[DISEASE_COLOURS.get(d, "grey") for d in rows["disease"]],
        width=0.75,
        edgecolor="white",
        lw=0.5,
    )
    ax.axhline(0, color=BLACK, lw=0.8)
    ax.axhline(-50, color="grey", lw=0.7, ls="--")
    ax.set_xticks(x, rows["patient_id"].to_list(), rotation=60, ha="right")
    ax.set_ylabel(ylabel)
    values = rows["best_pct_change"].cast(pl.Float64).to_list()
    ax.set_ylim(min(-105.0, min(values) - 5), max(10.0, max(values) + 5))
    measures = rows.select("disease", "measure").unique(maintain_order=True)
    labels = {d: f"{DISEASE_NAMES.get(d, d)} ({m})" for d, m in measures.iter_rows()}
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(facecolor=DISEASE_COLOURS.get(d, "grey"), label=lab) for d, lab in labels.items()],
        frameon=False,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.22),
        ncol=len(labels),
    )
    ax.set_title("Waterfall: best change from baseline per patient", loc="left")
    return render(fig, provenance)


def kinetics_plot(
    car_t: pl.DataFrame, b_cells: pl.DataFrame, *, aplasia_threshold: float = 1.0, provenance: str = ""
) -> bytes:
    """CAR-T expansion (log scale) and CD19+ B cells (symmetric log, so 0 shows) per patient,
    coloured by disease, with the cohort median per day of measurement.

    Both tables: ``patient_id``, ``disease``, ``day``, ``value`` (cells/µL).

    >>> t = pl.DataFrame({"patient_id": ["A"] * 3, "disease": ["SLE"] * 3, "day": [0, 9, 28],
    ...                   "value": [0.2, 60.0, 1.0]})
    >>> kinetics_plot(t, t)[:4] == b"\\x89PNG"
    True
    """
    return render(kinetics_figure(car_t, b_cells, aplasia_threshold=aplasia_threshold), provenance)


def kinetics_figure(car_t: pl.DataFrame, b_cells: pl.DataFrame, *, aplasia_threshold: float = 1.0) -> Any:
    """The matplotlib figure of :func:`kinetics_plot` (CAR-T axes first, B-cell axes second)."""
    fig, axes = _figure(10.0, 3.8, ncols=2)
    left, right = axes[0]
    panels = (
        (left, car_t, "CAR-T cells (cells/µL, log scale)", "CAR-T expansion", 60),
        (right, b_cells, "CD19+ B cells (cells/µL, symmetric log)", "B-cell depletion and return", 365),
    )
    for ax, table, ylabel, title, xmax in panels:
        rows = table.drop_nulls("value").sort("patient_id", "day")
        if xmax is not None:
            rows = rows.filter(pl.col("day") <= xmax)
        positive = rows.filter(pl.col("value") > 0) if ax is left else rows
        for part in positive.partition_by("patient_id", maintain_order=True):
            ax.plot(
                part["day"].to_numpy(),
                part["value"].to_numpy(),
                color=DISEASE_COLOURS.get(part["disease"][0], "grey"),
                lw=0.9,
                alpha=0.55,
            )
        median = positive.group_by("day").agg(pl.col("value").median()).sort("day")
        if median.height:
            ax.plot(median["day"].to_numpy(), median["value"].to_numpy(), color=BLACK, lw=2.0, label="median")
        if ax is left:
            if positive.height:
                ax.set_yscale("log")
                _plain_log_ticks(ax)
            ax.set_xlabel("days since CAR-T infusion")
        else:
            ax.set_yscale("symlog", linthresh=1.0)
            _plain_log_ticks(ax)
            ax.axhline(aplasia_threshold, color="grey", lw=0.8, ls="--", label=f"aplasia < {aplasia_threshold:g}/µL")
            ax.set_xlabel("days since CAR-T infusion")
            ax.set_ylim(bottom=0)
        ax.axvline(0, color="grey", lw=0.8, ls=":")
        ax.set_ylabel(ylabel)
        ax.set_title(title, loc="left")
    diseases = [d for d in DISEASE_COLOURS if d in set(car_t["disease"]) | set(b_cells["disease"])]
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=DISEASE_COLOURS[d], lw=1.5, label=DISEASE_NAMES[d]) for d in diseases]
    handles.append(Line2D([], [], color=BLACK, lw=2.0, label="median of measurements"))
    handles.append(
        Line2D([], [], color="grey", lw=0.8, ls="--", label=f"B-cell aplasia threshold ({aplasia_threshold:g}/µL)")
    )
    fig.legend(handles=handles, frameon=False, loc="lower center", ncol=len(handles), bbox_to_anchor=(0.5, -0.06))
    fig.tight_layout()
    return fig


#: Line styles of the Kaplan–Meier groups: lines that coincide (no events, all at 1.0) stay
#: distinguishable, the widest drawn first and the dashed ones over it.
KM_LINESTYLES = ("-", (0, (6, 2)), (0, (2, 1.5)), (0, (6, 2, 1.5, 2)), (0, (1, 1)))
#: Months labelled on a Kaplan–Meier axis and its number-at-risk table (extended by 6 months to
#: the end of follow-up).
KM_MONTHS = (0, 3, 6, 12, 18, 24)


def km_months(curves: pl.DataFrame, months: Sequence[int] = KM_MONTHS) -> list[int]:
    """The months of the x ticks and the number-at-risk table: ``months`` up to the last time of
    ``curves`` (days), extended by 6-month steps to cover it.

    >>> km_months(pl.DataFrame({"day": [0.0, 400.0]}))
    [0, 3, 6, 12, 18]
    >>> km_months(pl.DataFrame({"day": [0.0, 1000.0]}))
    [0, 3, 6, 12, 18, 24, 30, 36]
    """
    last = float(curves["day"].max() or 0)  # type: ignore[arg-type]
    ticks = sorted({0, *months})
    while _month_day(ticks[-1]) < last:
        ticks.append(ticks[-1] + 6)
    # the first month at or after the last time closes the axis; later report months are cut
    return [m for i, m in enumerate(ticks) if i == 0 or _month_day(ticks[i - 1]) < last]


def _month_day(month: int) -> int:
    """The day of ``month`` as the report's tables read it: ``round(30.4375 × month)``."""
    return int(MONTH_DAYS * month + 0.5)


def km_risk_table(curves: pl.DataFrame, months: Sequence[int]) -> pl.DataFrame:
    """Per group and month: ``at_risk`` (patients still followed and event-free at the month's
    day, ``round(30.4375 × month)``) and ``censored`` (censored up to and including that day).

    ``curves`` is a Kaplan–Meier table per ``group`` with a row at every event/censoring time
    (``day``, ``at_risk``, ``censored``), as :func:`remission.analysis.survival.kaplan_meier` gives.

    >>> c = pl.DataFrame({"group": ["A"] * 4, "day": [0.0, 50.0, 100.0, 200.0], "at_risk": [3, 3, 2, 1],
    ...                   "censored": [0, 1, 0, 1]})
    >>> km_risk_table(c, [0, 3, 6, 12]).rows()
    [('A', 0, 0, 3, 0), ('A', 3, 91, 2, 1), ('A', 6, 183, 1, 1), ('A', 12, 365, 0, 2)]
    """
    rows = []
    for part in curves.partition_by("group", maintain_order=True):
        part = part.sort("day")
        for month in months:
            day = _month_day(month)
            later = part.filter(pl.col("day") >= day)
            at_risk = int(later["at_risk"][0]) if later.height else 0
            censored = int(part.filter(pl.col("day") <= day)["censored"].sum())
            rows.append((part["group"][0], month, day, at_risk, censored))
    return pl.DataFrame(
        rows,
        schema={"group": pl.String, "month": pl.Int64, "day": pl.Int64, "at_risk": pl.Int64, "censored": pl.Int64},
        orient="row",
    )


def km_group_label(group: str, patients: int, events: int) -> str:
    """The legend entry of a group: its name, N and events; a group without events says so.

    >>> km_group_label("SLE", 8, 0), km_group_label("SSc", 4, 3)
    ('SLE: no events (n = 8)', 'Systemic sclerosis (n = 4; 3 events)')
    """
    name = DISEASE_NAMES.get(group, group)
    if events == 0:
        return f"{name}: no events (n = {patients})"
    return f"{name} (n = {patients}; {events} event{'s' if events != 1 else ''})"


def km_plot(
    curves: pl.DataFrame,
    *,
    title: str,
    ylabel: str,
    cumulative: bool = False,
    xlabel: str = "months since CAR-T infusion",
    months: Sequence[int] = KM_MONTHS,
    provenance: str = "",
) -> bytes:
    """Kaplan–Meier step curves with 95 % CI bands, one per ``group``, and the number at risk
    (censored to date) per group under the x axis, at the labelled months.

    ``curves`` has ``group``, ``day``, ``at_risk``, ``events``, ``censored``, ``survival``,
    ``lower``, ``upper`` (from :func:`remission.analysis.survival.kaplan_meier`). ``cumulative``
    draws ``1 − S(t)``. ``provenance`` is drawn under the figure (:func:`render`).

    >>> c = pl.DataFrame({"group": ["all"] * 2, "day": [0.0, 90.0], "at_risk": [2, 2], "events": [0, 1],
    ...                   "censored": [0, 0], "survival": [1.0, 0.5], "lower": [1.0, 0.2], "upper": [1.0, 0.8]})
    >>> km_plot(c, title="t", ylabel="y")[:4] == b"\\x89PNG"
    True
    """
    if curves.is_empty():
        return _no_data("no time-to-event data", provenance=provenance)
    return render(
        km_figure(curves, title=title, ylabel=ylabel, cumulative=cumulative, xlabel=xlabel, months=months), provenance
    )


def km_figure(
    curves: pl.DataFrame,
    *,
    title: str,
    ylabel: str,
    cumulative: bool = False,
    xlabel: str = "months since CAR-T infusion",
    months: Sequence[int] = KM_MONTHS,
) -> Any:
    """The matplotlib figure of :func:`km_plot` (curves axes first, the number-at-risk axes second)."""
    plt = _pyplot()
    groups = curves.partition_by("group", maintain_order=True)
    ticks = km_months(curves, months)
    table_height = 0.2 * (len(groups) + 0.6)
    fig, (ax, table_ax) = plt.subplots(
        2,
        1,
        figsize=(6.4, 3.4 + table_height + 0.85),
        sharex=True,
        # hspace is a fraction of the mean axes height: 0.85 in for the tick labels, x label and table title
        gridspec_kw={"height_ratios": [3.4, table_height], "hspace": 0.85 / ((3.4 + table_height) / 2)},
    )
    colours = {**DISEASE_COLOURS, "All": BLACK}
    risk = km_risk_table(curves, ticks)
    names = []
    for k, part in enumerate(groups):
        group = part["group"][0]
        months_ = part["day"].to_numpy() / MONTH_DAYS
        s, lo, hi = (part[c].to_numpy() for c in ("survival", "lower", "upper"))
        if cumulative:
            s, lo, hi = 1 - s, 1 - hi, 1 - lo
        colour = colours.get(group, "grey")
        patients = int(part["at_risk"].max() or 0)  # type: ignore[arg-type]
        events = int(part["events"].sum())
        ax.step(
            months_,
            s,
            where="post",
            color=colour,
            lw=2.4 - 0.4 * min(k, 3),
            ls=KM_LINESTYLES[k % len(KM_LINESTYLES)],
            label=km_group_label(group, patients, events),
            zorder=2 + k,
        )
        ax.fill_between(months_, lo, hi, step="post", color=colour, alpha=0.12, lw=0)
        cens = part.filter(pl.col("censored") > 0)
        at = [float(v) for v in (1 - cens["survival"] if cumulative else cens["survival"]).to_list()]
        ax.plot(cens["day"].to_numpy() / MONTH_DAYS, at, "|", color=colour, ms=7, mew=1.2, zorder=2 + k)
        names.append((group, colour))
    if int(curves["events"].sum()) == 0:
        ax.text(
            0.5,
            0.45,
            "no events in any group: every curve stays at its start",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=8.5,
            color="#444444",
        )
    ax.set_ylim(-0.02, 1.05)
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left")
    ax.set_xlim(-0.03 * ticks[-1], ticks[-1] * 1.03)
    ax.set_xticks(ticks, [str(m) for m in ticks])
    ax.tick_params(axis="x", labelbottom=True)
    ax.set_xlabel(xlabel)
    from matplotlib.lines import Line2D

    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="grey", marker="|", ls="none", ms=7, mew=1.2, label="censored"))
    ax.legend(handles=handles, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _risk_axis(table_ax, risk, names)
    return fig


def _risk_axis(ax: Any, risk: pl.DataFrame, names: Sequence[tuple[str, str]]) -> None:
    """The number-at-risk table on its own axes, sharing the curves' x axis (one row per group,
    each count centred under its month's tick)."""
    for spine in ("left", "top", "right", "bottom"):
        ax.spines[spine].set_visible(False)
    rows = len(names)
    for i, (group, colour) in enumerate(names):
        y = rows - 1 - i
        for month, at_risk, censored in (
            risk.filter(pl.col("group") == group).select("month", "at_risk", "censored").iter_rows()
        ):
            ax.text(month, y, f"{at_risk} ({censored})", ha="center", va="center", fontsize=7.5, color=colour)
    ax.set_ylim(-0.6, rows - 0.4)
    ax.set_yticks(range(rows - 1, -1, -1), [g for g, _ in names], fontsize=7.5)
    for label, (_, colour) in zip(ax.get_yticklabels(), names, strict=True):
        label.set_color(colour)
    ax.tick_params(axis="y", length=0)
    ax.tick_params(axis="x", bottom=False, labelbottom=False)
    ax.set_title("Number at risk (censored to date)", loc="left", fontsize=8, pad=3)
