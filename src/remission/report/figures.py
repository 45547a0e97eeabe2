"""Figures of the report (matplotlib, Agg backend, colour-blind-safe Okabe–Ito palette).

Each figure function takes a tidy table and returns the PNG bytes; the table it drew is the
caller's to write beside it as CSV, so that every figure can be checked.
"""

from __future__ import annotations

import io

import polars as pl

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")


def _figure(width: float = 7.0, height: float = 4.2):  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _png(fig) -> bytes:  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def spider_plot(series: pl.DataFrame, value: str, *, title: str, ylabel: str) -> bytes:
    """One line per patient of ``value`` over months since infusion (``patient_id``, ``day``).

    >>> png = spider_plot(pl.DataFrame({"patient_id": ["A", "A"], "day": [-7, 90], "s": [12, 0]}),
    ...                   "s", title="t", ylabel="y")
    >>> png[:4] == b"\\x89PNG"
    True
    """
    fig, ax = _figure()
    for i, (patient, rows) in enumerate(series.sort("day").group_by("patient_id", maintain_order=True)):
        rows = rows.drop_nulls(value)
        colour = OKABE_ITO[i % len(OKABE_ITO)]
        style = "-" if i < len(OKABE_ITO) else "--"
        ax.plot(
            rows["day"] / 30.4375, rows[value], style, marker="o", ms=3.5, lw=1.5, color=colour, label=str(patient[0])
        )
    ax.axvline(0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("months since CAR-T infusion")
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=11)
    ax.legend(frameon=False, fontsize=8, ncol=2, loc="upper right")
    return _png(fig)
