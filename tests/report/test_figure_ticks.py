"""Log axes of the report's figures are labelled with plain numbers, never literal mathtext."""

from __future__ import annotations

from remission.report import figures


def _rendered_ytick_labels(scale: str, low: float, high: float) -> list[str]:
    plt = figures._pyplot()
    fig, ax = plt.subplots()
    try:
        ax.plot([0, 1], [low, high])
        if scale == "symlog":
            ax.set_yscale("symlog", linthresh=1.0)
        else:
            ax.set_yscale("log")
        figures._plain_log_ticks(ax)
        fig.canvas.draw()
        return [label.get_text() for label in ax.get_yticklabels() if label.get_text()]
    finally:
        plt.close(fig)


def test_log_axis_labels_are_plain_numbers() -> None:
    labels = _rendered_ytick_labels("log", 0.5, 2000.0)
    assert {"1", "10", "100", "1,000"} <= set(labels)
    assert not any("$" in text or "mathdefault" in text for text in labels)


def test_symlog_axis_labels_are_plain_numbers() -> None:
    labels = _rendered_ytick_labels("symlog", 0.0, 500.0)
    assert "100" in labels
    assert not any("$" in text or "mathdefault" in text for text in labels)
