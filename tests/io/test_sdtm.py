"""SDTM reader on the CDISC pilot (XPORT v5), clinUtils subset (XPORT v8), pharmaversesdtm (CSV).

Row/subject counts are those stated in each folder's README (from the source datasets).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from remission.errors import InvalidInputError
from remission.io.sdtm import (
    load_sdtm,
    merge_supp,
    parse_iso8601,
    read_domain,
    read_sdtm_csv,
    xport_version,
)

# (folder, domain, rows, subjects) from the READMEs
COUNTS = [
    ("cdisc-pilot-sdtm", "DM", 306, 306),
    ("cdisc-pilot-sdtm", "EX", 591, 254),
    ("cdisc-pilot-sdtm", "AE", 1191, 225),
    ("cdisc-pilot-sdtm", "CM", 7510, 229),
    ("cdisc-pilot-sdtm", "SV", 3559, 306),
    ("cdisc-pilot-sdtm", "RELREC", 234, 95),
    ("cdisc-pilot-sdtm-subset-clinutils", "LB", 1486, 7),
    ("cdisc-pilot-sdtm-subset-clinutils", "VS", 772, 7),
    ("cdisc-pilot-sdtm-subset-clinutils", "QS", 91, 7),
    ("pharmaversesdtm", "DM", 306, 306),
    ("pharmaversesdtm", "DS", 850, 306),
    ("pharmaversesdtm", "CM", 7510, 229),
]


@pytest.mark.parametrize(("folder", "domain", "rows", "subjects"), COUNTS, ids=[f"{f}-{d}" for f, d, *_ in COUNTS])
def test_counts_match_readme(data: Path, folder: str, domain: str, rows: int, subjects: int) -> None:
    study = load_sdtm(data / folder)
    table = study.domains[domain]
    assert (table.height, table["USUBJID"].n_unique()) == (rows, subjects)


@pytest.mark.parametrize(("folder", "version"), [("cdisc-pilot-sdtm", 5), ("cdisc-pilot-sdtm-subset-clinutils", 8)])
def test_xport_version_detected(data: Path, folder: str, version: int) -> None:
    assert set(load_sdtm(data / folder).xport_versions.values()) == {version}


def test_every_file_read_or_skipped_with_reason(data: Path) -> None:
    for folder in ("cdisc-pilot-sdtm", "cdisc-pilot-sdtm-subset-clinutils", "pharmaversesdtm"):
        study = load_sdtm(data / folder)
        files = {p.stem.upper() for p in (data / folder).iterdir() if p.suffix in (".xpt", ".csv")}
        merged = {n for n in files if n.startswith("SUPP") and n[4:] in study.domains}
        skipped = {n for n in study.skipped if "." not in n}
        assert files == set(study.domains) | merged | skipped
        assert {p.name for p in (data / folder).iterdir() if p.suffix not in (".xpt", ".csv")} <= set(study.skipped)
    assert "define.xml" in load_sdtm(data / "cdisc-pilot-sdtm").skipped


def test_cp1252_fallback_ts(data: Path) -> None:
    ts = read_domain(data / "cdisc-pilot-sdtm" / "ts.xpt")
    assert ts["TSVAL"].str.contains("\u2019").any()  # byte 0x92 decoded as a right single quote


def test_define_xml_refused_clearly(data: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"define\.xml is metadata"):
        read_domain(data / "cdisc-pilot-sdtm" / "define.xml")


def test_supp_merged_as_columns(data: Path) -> None:
    ae = load_sdtm(data / "pharmaversesdtm").domains["AE"]
    # suppae.csv: 01-701-1015 AESEQ 1 has AETRTEM = Y
    assert ae.filter((pl.col("USUBJID") == "01-701-1015") & (pl.col("AESEQ") == 1))["AETRTEM"].to_list() == ["Y"]


def test_study_day_from_rfxstdtc_day_zero(data: Path) -> None:
    ae = load_sdtm(data / "pharmaversesdtm").domains["AE"]
    row = ae.filter((pl.col("USUBJID") == "01-701-1015") & (pl.col("AESEQ") == 1)).row(0, named=True)
    # RFXSTDTC 2014-01-02, AESTDTC 2014-01-03: day 1 here (SDTM AESTDY 2 has no day 0)
    assert (row["AESTDTC_DAY"], row["AESTDY"]) == (1, 2.0)


def test_screen_failures_have_no_reference_day(data: Path) -> None:
    study = load_sdtm(data / "cdisc-pilot-sdtm")
    dm = study.domains["DM"]
    fails = dm.filter(pl.col("ARMCD") == "Scrnfail")
    assert fails.height == 52 and fails["RFSTDTC"].null_count() == 52


def test_xpt_and_csv_agree_on_ae(data: Path) -> None:
    a = load_sdtm(data / "cdisc-pilot-sdtm").domains["AE"].sort("USUBJID", "AESEQ")
    b = load_sdtm(data / "pharmaversesdtm").domains["AE"].sort("USUBJID", "AESEQ")
    for col in ("AETERM", "AESTDTC", "AESTDTC_DAY", "AESEQ"):
        assert a[col].to_list() == b[col].to_list(), col


@pytest.mark.parametrize(
    ("text", "date", "precision"),
    [
        ("2014", None, "year"),
        ("2014-07", None, "month"),
        ("2014-07-02", dt.date(2014, 7, 2), "day"),
        ("2014-07-02T11:45", dt.date(2014, 7, 2), "minute"),
        ("2014-02-30", None, "invalid"),
        ("02/07/2014", None, "invalid"),
    ],
    ids=["year", "month", "day", "minute", "impossible", "not-iso"],
)
def test_partial_dates_never_imputed(text: str, date: dt.date | None, precision: str) -> None:
    out = parse_iso8601(pl.Series([text])).row(0)
    assert out == (date, precision)


def test_invalid_date_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "ae.csv"
    p.write_text('"USUBJID","AESTDTC"\n"x","03/01/2014"\n')
    with pytest.raises(
        InvalidInputError,
        match=r"row 1, column ae\.csv AESTDTC: value 03/01/2014: is not an ISO 8601",
    ):
        read_domain(p)


def test_csv_na_unquoted_missing_quoted_text(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text('"A","B","N"\n"NA",NA,1\n"x,y","",NA\n')
    t = read_sdtm_csv(p)
    assert t.rows() == [("NA", None, 1.0), ("x,y", "", None)]


def test_mutated_truncated_csv(data: Path, tmp_path: Path) -> None:
    text = (data / "pharmaversesdtm" / "dm.csv").read_text()
    p = tmp_path / "dm.csv"
    p.write_text(text[: len(text) // 3])
    with pytest.raises(InvalidInputError, match="truncated"):
        read_domain(p)


def test_mutated_truncated_xpt(data: Path, tmp_path: Path) -> None:
    raw = (data / "cdisc-pilot-sdtm" / "dm.xpt").read_bytes()
    p = tmp_path / "dm.xpt"
    p.write_bytes(raw[:40])
    with pytest.raises(InvalidInputError):
        xport_version(p)


def test_supp_duplicate_refused() -> None:
    parent = pl.DataFrame({"USUBJID": ["a"], "AESEQ": [1]})
    supp = pl.DataFrame(
        {
            "USUBJID": ["a", "a"],
            "IDVAR": ["AESEQ"] * 2,
            "IDVARVAL": ["1", "1"],
            "QNAM": ["X", "X"],
            "QVAL": ["1", "2"],
        }
    )
    with pytest.raises(InvalidInputError, match="more than once"):
        merge_supp(parent, supp, "SUPPAE")
