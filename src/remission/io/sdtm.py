"""CDISC SDTM domains (SAS XPORT v5/v8 or CSV) → typed polars tables with study days.

* **Files.** ``*.xpt`` are read with pyreadstat; the XPORT version is detected from the first
  header record (``LIBRARY`` = v5, ``LIBV8`` = v8); character data that are not UTF-8 are decoded
  as cp1252 (the CDISC pilot ``ts.xpt`` holds byte 0x92). ``*.csv`` follow pharmaversesdtm: an
  **unquoted** ``NA`` (or empty cell) is missing, a quoted ``"NA"`` is the text NA; a column whose
  unquoted cells are all numbers is numeric. Dataset names are upper-cased (``lb`` → ``LB``).
* **Values.** Character values are stripped; blank is missing. Integral ``--SEQ`` come back as
  ``Int64`` (XPORT gives floats).
* **SUPP--.** ``SUPPAE`` etc. are pivoted (one column per ``QNAM``) and joined to the parent on
  ``USUBJID`` and, when ``IDVAR`` is set, on that variable (``AESEQ`` 1.0 matches ``IDVARVAL`` "1").
* **Dates.** Every ``--DTC`` variable keeps its ISO 8601 text and gains ``<VAR>_DATE`` (a date,
  **null unless the value is complete to the day**: partial dates such as ``2014`` or ``2014-07``
  are never imputed) and ``<VAR>_PRECISION`` (``year``, ``month``, ``day``, ``minute``,
  ``second``). A value that is not ISO 8601 is an error.
* **Study day.** ``<VAR>_DAY`` = date − reference date in days, with the reference day being day 0
  (remission's convention: infusion = day 0; SDTM's ``--DY`` has no day 0 and is kept as is). The
  reference is DM's ``RFXSTDTC`` (first exposure) when present, else ``RFSTDTC``; screen failures
  have neither, so their days are null.

Examples
--------
>>> import polars as pl
>>> parse_iso8601(pl.Series(["2014-07-02T11:45", "2014-07", "2014", None])).to_dicts()[1]
{'date': None, 'precision': 'month'}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from remission.errors import InvalidInputError, Problem

if TYPE_CHECKING:
    import polars as pl

#: Domains the registry import uses; other datasets are read as they are.
CORE_DOMAINS = ("DM", "AE", "CM", "EX", "LB", "VS", "SV", "DS", "MH", "QS")
ISO_8601 = re.compile(
    r"^(?P<y>\d{4})(-(?P<m>\d{2})(-(?P<d>\d{2})(T(?P<H>\d{2})(:(?P<M>\d{2})(:(?P<S>\d{2})(\.\d+)?)?)?)?)?)?$"
)
_PRECISIONS = ("year", "month", "day", "hour", "minute", "second")


@dataclass
class SdtmStudy:
    """Domains read from a folder, by upper-case name, with what was skipped and why."""

    domains: dict[str, pl.DataFrame]
    skipped: dict[str, str] = field(default_factory=dict)
    xport_versions: dict[str, int] = field(default_factory=dict)


def xport_version(path: str | Path) -> int:
    """5 or 8 from the first header record of a SAS transport file; refuse anything else.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.xpt"
    >>> _ = p.write_bytes(b"HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!" + b"0" * 32)
    >>> xport_version(p)
    8
    """
    head = Path(path).read_bytes()[:80]
    if head.startswith(b"HEADER RECORD*******LIBRARY HEADER RECORD"):
        return 5
    if head.startswith(b"HEADER RECORD*******LIBV8"):
        return 8
    raise InvalidInputError(
        [
            Problem(
                None,
                Path(path).name,
                head[:40].decode("latin-1"),
                "is not a SAS XPORT v5 or v8 file",
            )
        ]
    )


def read_xpt(path: str | Path) -> pl.DataFrame:
    """Read a SAS XPORT v5/v8 dataset; cp1252 fallback when the text is not UTF-8."""
    import polars as pl
    import pyreadstat

    xport_version(path)
    try:
        frame, _ = pyreadstat.read_xport(str(path))
    except (UnicodeDecodeError, pyreadstat.ReadstatError):
        try:
            frame, _ = pyreadstat.read_xport(str(path), encoding="cp1252")
        except Exception as err:  # pragma: no cover - a truncated/corrupt file
            raise InvalidInputError([Problem(None, Path(path).name, "", f"cannot be read as XPORT: {err}")]) from err
    except Exception as err:
        raise InvalidInputError([Problem(None, Path(path).name, "", f"cannot be read as XPORT: {err}")]) from err
    return pl.from_pandas(frame)


_CSV_FIELD = re.compile(r'"((?:[^"]|"")*)"|([^,"\r\n]*)')


def _csv_cells(text: str, name: str) -> list[list[tuple[str, bool]]]:
    """Split CSV text into rows of (value, was_quoted); quoted cells may hold commas/newlines."""
    rows: list[list[tuple[str, bool]]] = []
    row: list[tuple[str, bool]] = []
    pos, n = 0, len(text)
    while pos < n:
        m = _CSV_FIELD.match(text, pos)
        assert m is not None  # the pattern matches the empty string
        quoted = m.group(1) is not None
        row.append((m.group(1).replace('""', '"') if quoted else m.group(2), quoted))
        pos = m.end()
        if pos >= n:
            break
        ch = text[pos]
        if ch == ",":
            pos += 1
            if pos == n:
                row.append(("", False))
        elif ch in "\r\n":
            pos += 2 if text.startswith("\r\n", pos) else 1
            rows.append(row)
            row = []
        else:
            raise InvalidInputError([Problem(len(rows), name, text[pos : pos + 20], "is not valid CSV (stray quote)")])
    if row and row != [("", False)]:
        rows.append(row)
    return rows


def read_sdtm_csv(path: str | Path) -> pl.DataFrame:
    """Read an SDTM CSV (pharmaversesdtm style: unquoted ``NA`` = missing, quoted text)."""
    import polars as pl

    name = Path(path).name
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError as err:
            where = f"byte 0x{raw[err.start : err.start + 1].hex()} at offset {err.start}"
            raise InvalidInputError([Problem(None, name, where, "is neither UTF-8 nor Windows-1252 text")]) from err
    rows = _csv_cells(text, name)
    if not rows:
        raise InvalidInputError([Problem(None, name, "", "is empty")])
    header = [v for v, _ in rows[0]]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InvalidInputError([Problem(None, name, h or '""', "column appears more than once") for h in dupes])
    bad = [
        Problem(i, name, f"{len(r)} cells", f"expected {len(header)} (truncated or broken CSV)")
        for i, r in enumerate(rows[1:], start=1)
        if len(r) != len(header)
    ]
    if bad:
        raise InvalidInputError(bad)
    columns: dict[str, pl.Series] = {}
    for j, h in enumerate(header):
        cells = [r[j] for r in rows[1:]]
        values = [None if (not q and v in ("NA", "")) else v for v, q in cells]
        numeric = not any(q for _, q in cells) and any(v is not None for v in values)
        s = pl.Series(h, values, dtype=pl.String)
        if numeric:
            parsed = s.cast(pl.Float64, strict=False)
            if (parsed.is_null() == s.is_null()).all():
                s = parsed
        columns[h] = s
    return pl.DataFrame(columns)


def read_domain(path: str | Path) -> pl.DataFrame:
    """Read one SDTM dataset (``.xpt`` or ``.csv``) and tidy its values.

    Raises
    ------
    InvalidInputError
        Unknown extension (e.g. ``define.xml``: metadata, not a dataset), unreadable file,
        invalid ISO 8601 date.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".xpt":
        frame = read_xpt(p)
    elif suffix == ".csv":
        frame = read_sdtm_csv(p)
    else:
        raise InvalidInputError(
            [
                Problem(
                    None,
                    p.name,
                    suffix,
                    "is not an SDTM dataset (.xpt or .csv); define.xml is metadata and is not read",
                )
            ]
        )
    return _tidy_values(frame, p.name)


def _tidy_values(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    import polars as pl

    exprs = []
    for col, dtype in frame.schema.items():
        if dtype == pl.String:
            stripped = pl.col(col).str.strip_chars()
            exprs.append(pl.when(stripped == "").then(None).otherwise(stripped).alias(col))
        elif col.endswith("SEQ") and dtype.is_float():
            s = frame[col]
            if (s.is_null() | (s == s.round(0))).all():
                exprs.append(pl.col(col).cast(pl.Int64))
    frame = frame.with_columns(exprs) if exprs else frame
    return _add_dates(frame, name)


def parse_iso8601(values: pl.Series) -> pl.DataFrame:
    """``date`` (complete to the day, else null) and ``precision`` of ISO 8601 texts.

    Invalid text gives precision ``"invalid"`` (callers raise).
    """
    import polars as pl

    s = values.cast(pl.String)
    parts = s.str.extract_groups(ISO_8601.pattern)
    prec = pl.select(
        pl.when(pl.lit(s).is_null())
        .then(None)
        .when(pl.lit(parts.struct.field("y")).is_null())
        .then(pl.lit("invalid"))
        .when(pl.lit(parts.struct.field("S")).is_not_null())
        .then(pl.lit("second"))
        .when(pl.lit(parts.struct.field("M")).is_not_null())
        .then(pl.lit("minute"))
        .when(pl.lit(parts.struct.field("H")).is_not_null())
        .then(pl.lit("hour"))
        .when(pl.lit(parts.struct.field("d")).is_not_null())
        .then(pl.lit("day"))
        .when(pl.lit(parts.struct.field("m")).is_not_null())
        .then(pl.lit("month"))
        .otherwise(pl.lit("year"))
    ).to_series()
    day = s.str.slice(0, 10).str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    full = prec.is_in(["day", "hour", "minute", "second"])
    date = pl.select(pl.when(pl.lit(full)).then(pl.lit(day)).otherwise(None)).to_series()
    # a complete-looking but impossible date (2014-02-30) is invalid
    prec = pl.select(
        pl.when(pl.lit(full) & pl.lit(date).is_null()).then(pl.lit("invalid")).otherwise(pl.lit(prec))
    ).to_series()
    return pl.DataFrame({"date": date, "precision": prec})


def _add_dates(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    import polars as pl

    new = []
    problems = []
    for col in [c for c in frame.columns if c.endswith("DTC") and frame.schema[c] == pl.String]:
        parsed = parse_iso8601(frame[col])
        bad = parsed["precision"] == "invalid"
        for i in bad.arg_true().to_list()[:20]:
            problems.append(
                Problem(
                    i + 1,
                    f"{name} {col}",
                    str(frame[col][i]),
                    "is not an ISO 8601 date (YYYY[-MM[-DD[Thh:mm[:ss]]]])",
                )
            )
        new += [parsed["date"].alias(f"{col}_DATE"), parsed["precision"].alias(f"{col}_PRECISION")]
    if problems:
        raise InvalidInputError(problems)
    return frame.with_columns(new) if new else frame


def reference_dates(dm: pl.DataFrame) -> pl.DataFrame:
    """Per ``USUBJID`` the study-day reference: RFXSTDTC when present, else RFSTDTC (day 0)."""
    import polars as pl

    if "USUBJID" not in dm.columns:
        head = ",".join(dm.columns[:5])
        raise InvalidInputError([Problem(None, "DM", head, "has no USUBJID column: not an SDTM DM dataset")])
    dupes = dm.filter(pl.col("USUBJID").is_duplicated())["USUBJID"].unique(maintain_order=True).to_list()
    if dupes:
        raise InvalidInputError(
            [Problem(None, "DM.USUBJID", str(u), "appears more than once (DM has one row per subject)") for u in dupes]
        )
    cols = [c for c in ("RFXSTDTC_DATE", "RFSTDTC_DATE") if c in dm.columns]
    if not cols:
        return dm.select("USUBJID", pl.lit(None, dtype=pl.Date).alias("REFDT"))
    return dm.select("USUBJID", pl.coalesce(cols).alias("REFDT"))


def derive_study_days(domain: pl.DataFrame, reference: pl.DataFrame) -> pl.DataFrame:
    """Add ``<VAR>_DAY`` (days from the reference date, reference = day 0) for every ``--DTC``.

    Examples
    --------
    >>> import datetime as dt, polars as pl
    >>> ae = pl.DataFrame({"USUBJID": ["a", "a"], "AESTDTC_DATE": [dt.date(2020, 1, 1), None]})
    >>> ref = pl.DataFrame({"USUBJID": ["a"], "REFDT": [dt.date(2020, 1, 3)]})
    >>> derive_study_days(ae, ref)["AESTDTC_DAY"].to_list()
    [-2, None]
    """
    import polars as pl

    dates = [c for c in domain.columns if c.endswith("DTC_DATE")]
    if not dates or "USUBJID" not in domain.columns:
        return domain
    joined = domain.join(reference, on="USUBJID", how="left", maintain_order="left")
    return joined.with_columns(
        [(pl.col(c) - pl.col("REFDT")).dt.total_days().alias(c.removesuffix("_DATE") + "_DAY") for c in dates]
    ).drop("REFDT")


def merge_supp(parent: pl.DataFrame, supp: pl.DataFrame, name: str = "SUPP") -> pl.DataFrame:
    """Pivot a SUPP-- dataset (one column per QNAM) and join it to its parent domain.

    Raises
    ------
    InvalidInputError
        A QNAM that clashes with a parent column, or two values for the same record and QNAM.
    """
    import polars as pl

    need = {"USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL"}
    if not need <= set(supp.columns):
        raise InvalidInputError(
            [
                Problem(
                    None,
                    name,
                    ", ".join(sorted(need - set(supp.columns))),
                    "missing SUPP-- columns",
                )
            ]
        )
    if "USUBJID" not in parent.columns:
        head = ",".join(parent.columns[:5])
        raise InvalidInputError([Problem(None, name, head, "parent domain has no USUBJID column to merge into")])
    clash = sorted(set(supp["QNAM"].drop_nulls().unique()) & set(parent.columns))
    if clash:
        raise InvalidInputError(
            [Problem(None, name, q, "QNAM is already a column of the parent domain") for q in clash]
        )
    out = parent
    for idvar, part in supp.group_by("IDVAR", maintain_order=True):
        idvar_name = idvar[0]
        keys = ["USUBJID"] + (["IDVARVAL"] if idvar_name else [])
        dup = part.filter(pl.struct([*keys, "QNAM"]).is_duplicated())
        if dup.height:
            r = dup.row(0, named=True)
            raise InvalidInputError(
                [
                    Problem(
                        None,
                        name,
                        f"{r['USUBJID']} {r['IDVARVAL']} {r['QNAM']}",
                        "appears more than once",
                    )
                ]
            )
        wide = part.pivot(on="QNAM", index=keys, values="QVAL", aggregate_function=None)
        if idvar_name:
            if idvar_name not in out.columns:
                raise InvalidInputError(
                    [
                        Problem(
                            None,
                            name,
                            str(idvar_name),
                            "IDVAR is not a column of the parent domain",
                        )
                    ]
                )
            key = pl.col(idvar_name).cast(pl.String).str.replace(r"\.0$", "")
            out = (
                out.with_columns(key.alias("__idvarval"))
                .join(
                    wide.rename({"IDVARVAL": "__idvarval"}),
                    on=["USUBJID", "__idvarval"],
                    how="left",
                    maintain_order="left",
                )
                .drop("__idvarval")
            )
        else:
            out = out.join(wide, on="USUBJID", how="left", maintain_order="left")
    return out


def load_sdtm(folder: str | Path) -> SdtmStudy:
    """Read every ``.xpt``/``.csv`` of ``folder``; merge SUPP--; add study days from DM.

    Non-dataset files (``define.xml``, READMEs) are listed in :attr:`SdtmStudy.skipped` with the
    reason. When both ``dm.xpt`` and ``dm.csv`` exist, it is an error (which one is the truth?).
    """
    folder = Path(folder)
    study = SdtmStudy({})
    raw: dict[str, pl.DataFrame] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        if path.suffix.lower() not in (".xpt", ".csv"):
            study.skipped[path.name] = "not an SDTM dataset (.xpt/.csv)"
            continue
        name = path.stem.upper()
        if name in raw:
            raise InvalidInputError([Problem(None, path.name, name, "dataset given twice (.xpt and .csv)")])
        if path.suffix.lower() == ".xpt":
            study.xport_versions[name] = xport_version(path)
        raw[name] = read_domain(path)
    for name in raw:
        if name.startswith("SUPP") and name[4:] not in raw:
            study.skipped[name] = f"no parent domain {name[4:]} to merge into"
    for name, frame in raw.items():
        if name.startswith("SUPP"):
            continue
        supp = raw.get("SUPP" + name)
        study.domains[name] = merge_supp(frame, supp, "SUPP" + name) if supp is not None else frame
    dm = study.domains.get("DM")
    if dm is not None:
        ref = reference_dates(dm)
        study.domains = {n: derive_study_days(f, ref) for n, f in study.domains.items()}
    return study


def summary(study: SdtmStudy) -> Mapping[str, tuple[int, int]]:
    """(rows, subjects) per domain."""
    return {n: (f.height, f["USUBJID"].n_unique() if "USUBJID" in f.columns else 0) for n, f in study.domains.items()}
