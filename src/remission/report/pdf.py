"""The report as a PDF: the same document laid out on A4 pages with matplotlib's PdfPages.

Text and tables are drawn with matplotlib text (wrapped to the column widths, paginated), figures
are placed from their PNG; no dependency beyond matplotlib.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any

from remission.report.document import Document, FigureBlock, Section, TableBlock

A4 = (8.27, 11.69)
MARGIN = 0.06  # of the page, left/right
TOP, BOTTOM = 0.95, 0.05
FONT = 6.5
LINE = 0.0105  # page fraction per text line at FONT
CHARS_PER_PAGE_WIDTH = 150  # characters of FONT-size text across the printable width


class _Pages:
    """A cursor over A4 pages: adds a page when the next block does not fit."""

    def __init__(self, pdf: Any, plt: Any, footer: str) -> None:
        self.pdf, self.plt, self.footer = pdf, plt, footer
        self.fig: Any = None
        self.y = TOP
        self.number = 0

    def new_page(self) -> None:
        self.close_page()
        self.fig = self.plt.figure(figsize=A4)
        self.number += 1
        self.y = TOP

    def close_page(self) -> None:
        if self.fig is not None:
            self.fig.text(0.5, 0.02, f"{self.footer} · page {self.number}", ha="center", fontsize=6, color="#666666")
            self.pdf.savefig(self.fig)
            self.plt.close(self.fig)
            self.fig = None

    def need(self, height: float) -> None:
        if self.fig is None or self.y - height < BOTTOM:
            self.new_page()

    def text(
        self, content: str, *, size: float = FONT, weight: str = "normal", colour: str = "#222222", width: int = 0
    ) -> None:
        width = width or int(CHARS_PER_PAGE_WIDTH * FONT / size)
        lines = [line for part in content.split("\n") for line in (textwrap.wrap(part, width) or [""])]
        step = LINE * size / FONT
        for line in lines:
            self.need(step)
            self.fig.text(MARGIN, self.y, line, fontsize=size, weight=weight, color=colour, va="top")
            self.y -= step
        self.y -= step * 0.4


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _table(pages: _Pages, table: TableBlock) -> None:
    pages.need(LINE * 4)
    pages.text(table.caption, size=8, weight="bold")
    if table.note:
        pages.text(table.note, size=6, colour="#444444")
    cells = [[_cell(c) for c in table.columns], *[[_cell(v) for v in row] for row in table.rows]]
    # Character widths are estimates for a proportional font: pad each column and keep a margin.
    natural = [max(len(row[j]) for row in cells) + 3 for j in range(len(table.columns))]
    budget = int(CHARS_PER_PAGE_WIDTH * 0.82)
    widths = [min(n, 40) for n in natural]
    while sum(widths) > budget and max(widths) > 9:
        widths[widths.index(max(widths))] -= 1
    scale = (1 - 2 * MARGIN) / max(sum(widths), 1)
    lefts = [MARGIN + scale * sum(widths[:j]) for j in range(len(widths))]
    header = [textwrap.wrap(c.replace("_", " "), widths[j] - 3) or [""] for j, c in enumerate(cells[0])]

    def draw(row: list[list[str]], bold: bool) -> None:
        height = max(len(c) for c in row) * LINE + LINE * 0.35
        if bold:
            pages.fig.patches.append(
                pages.plt.Rectangle(
                    (MARGIN, pages.y - height + LINE * 0.2),
                    1 - 2 * MARGIN,
                    height,
                    transform=pages.fig.transFigure,
                    facecolor="#eeeeee",
                    edgecolor="none",
                    zorder=0,
                )
            )
        for j, lines in enumerate(row):
            pages.fig.text(
                lefts[j] + 0.003,
                pages.y,
                "\n".join(lines),
                fontsize=FONT,
                va="top",
                weight="bold" if bold else "normal",
                linespacing=1.05,
            )
        pages.y -= height
        pages.fig.add_artist(
            pages.plt.Line2D(
                [MARGIN, 1 - MARGIN],
                [pages.y + LINE * 0.2] * 2,
                transform=pages.fig.transFigure,
                color="#cccccc",
                lw=0.4,
            )
        )

    pages.need(max(len(c) for c in header) * LINE * 2.5)
    draw(header, True)
    for raw in cells[1:]:
        row = [textwrap.wrap(c, widths[j] - 2) or [""] for j, c in enumerate(raw)]
        height = max(len(c) for c in row) * LINE + LINE * 0.35
        if pages.y - height < BOTTOM:
            pages.new_page()
            draw(header, True)
        draw(row, False)
    if table.csv:
        pages.text(f"Data: {table.csv}", size=5.5, colour="#666666")
    pages.y -= LINE


def _figure(pages: _Pages, figure: FigureBlock) -> None:
    import matplotlib.image as mpimg

    image = mpimg.imread(io.BytesIO(figure.png), format="png")
    h, w = image.shape[:2]
    width = 1 - 2 * MARGIN
    height = min(width * h / w * A4[0] / A4[1], TOP - BOTTOM - 0.08)
    width = height * w / h * A4[1] / A4[0]
    pages.need(height + LINE * 5)
    ax = pages.fig.add_axes((MARGIN, pages.y - height, width, height))
    ax.imshow(image, interpolation="antialiased")
    ax.axis("off")
    pages.y -= height + LINE * 0.5
    pages.text(figure.caption + (f" · data: {figure.csv}" if figure.csv else ""), size=6, colour="#444444")


def _section(pages: _Pages, section: Section) -> None:
    pages.need(LINE * 8)
    pages.y -= LINE
    pages.text(section.title, size=11, weight="bold")
    if section.note:
        pages.text(section.note, size=6.5, colour="#333333")
    if section.unavailable:
        pages.text(f"Not available: {section.unavailable}", size=7, colour="#777777")
    for table in section.tables:
        _table(pages, table)
    for figure in section.figures:
        _figure(pages, figure)


def render_pdf(document: Document, path: Path) -> Path:
    """Write ``document`` to ``path`` as an A4 PDF (tables paginated, figures embedded).

    Examples
    --------
    >>> import tempfile
    >>> doc = Document("t", [Section("s", tables=[TableBlock("c", ["a"], [[1]])])], True, "db", "r", "0")
    >>> out = render_pdf(doc, Path(tempfile.mkdtemp()) / "r.pdf")
    >>> out.read_bytes()[:4]
    b'%PDF'
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    # Record text ($ in a drug name or AE term) is never TeX: mathtext would fail on it.
    with (
        matplotlib.rc_context({"text.parse_math": False}),
        PdfPages(path, metadata={"Title": document.title, "Creator": f"remission {document.version}"}) as pdf,
    ):
        pages = _Pages(pdf, plt, f"{document.title} · generated {document.generated}")
        pages.new_page()
        pages.text(document.title, size=16, weight="bold")
        pages.text(
            f"Generated {document.generated} by remission {document.version} · database {document.database}",
            size=7,
            colour="#555555",
        )
        pages.text(f"Rules: {document.rules}", size=6.5, colour="#555555")
        if document.synthetic:
            pages.text(
                "SYNTHETIC DATA — every record in this report was generated by the remission demo; "
                "these are not patients.",
                size=9,
                weight="bold",
                colour="#9a6b00",
            )
        pages.text("Contents", size=9, weight="bold")
        for section in document.sections:
            pages.text(section.title, size=7.5)
        for section in document.sections:
            _section(pages, section)
        pages.close_page()
    return path
