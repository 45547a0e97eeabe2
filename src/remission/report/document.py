"""The report as data (sections of tables and figures) and its rendering to one HTML file."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from jinja2 import Environment, PackageLoader, select_autoescape

from remission.report.columns import format_frame

#: A printed table of more columns than this goes on a landscape page of the PDF.
WIDE_COLUMNS = 10


@dataclass(frozen=True)
class TableBlock:
    caption: str
    columns: list[str]
    rows: list[list[Any]]
    csv: str = ""
    note: str = ""
    left: list[bool] = field(default_factory=list)  # per column: left-aligned (default: the first only)
    wide: bool = False  # printed on a landscape page (tables of more than 10 columns always are)

    @classmethod
    def from_frame(
        cls, caption: str, frame: pl.DataFrame, csv: str = "", note: str = "", *, wide: bool = False
    ) -> TableBlock:
        """The table as printed: headers with units, flags as Yes/No, one number format
        (:mod:`remission.report.columns`); the CSV keeps the machine names and raw values."""
        columns, rows, left = format_frame(frame)
        return cls(caption, columns, rows, csv, note, left, wide or len(columns) > WIDE_COLUMNS)

    def is_left(self, index: int) -> bool:
        return self.left[index] if index < len(self.left) else index == 0


@dataclass(frozen=True)
class FigureBlock:
    caption: str
    png: bytes
    csv: str = ""

    @property
    def png_base64(self) -> str:
        return base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class Section:
    title: str
    note: str = ""
    tables: list[TableBlock] = field(default_factory=list)
    figures: list[FigureBlock] = field(default_factory=list)
    unavailable: str = ""
    extra_csv: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return "s-" + "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


@dataclass(frozen=True)
class Document:
    title: str
    sections: list[Section]
    synthetic: bool
    database: str
    rules: str
    version: str
    generated: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def render_html(document: Document) -> str:
    """The self-contained HTML of ``document`` (figures embedded as base64 PNG)."""
    env = Environment(
        loader=PackageLoader("remission.report", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    return env.get_template("report.html.j2").render(
        title=document.title,
        sections=document.sections,
        synthetic=document.synthetic,
        database=document.database,
        rules=document.rules,
        version=document.version,
        generated=document.generated,
    )


def write_csv(frame: pl.DataFrame, out_dir: Path, name: str) -> str:
    """Write a table beside the report; return its path relative to the report."""
    path = out_dir / "tables" / f"{name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path)
    return str(path.relative_to(out_dir))
