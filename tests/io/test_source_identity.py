"""Source record identity and partial dates on the real CDISC pilot (issue 17): nothing merged,
nothing dropped for date precision, a second import changes nothing, old databases upgrade."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyreadstat
import pytest
from sqlalchemy import Engine, create_engine, insert, select, text

from remission.io.importing import write_batch
from remission.io.sources import batch_from_sdtm
from remission.store import schema
from remission.store.db import connect, migrate

PILOT = "cdisc-pilot-sdtm"


@pytest.fixture(scope="module")
def pilot_rows(data: Path) -> dict[str, list[dict]]:
    out = {}
    for name in ("ae", "cm"):
        frame, _meta = pyreadstat.read_xport(str(data / PILOT / f"{name}.xpt"))
        out[name] = frame.to_dict("records")
    return out


def _all(engine: Engine, table: str) -> list[dict]:
    with engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(select(schema.metadata.tables[table]))]


def test_every_pilot_ae_and_cm_is_its_own_record(engine: Engine, data: Path, pilot_rows) -> None:
    report = write_batch(engine, batch_from_sdtm(data / PILOT))
    aes = _all(engine, "adverse_events")
    assert len(aes) == len(pilot_rows["ae"]) == 1191
    expected = {f"{r['STUDYID']}/{r['USUBJID']}/AE/{int(r['AESEQ'])}" for r in pilot_rows["ae"]}
    assert {a["source_key"] for a in aes} == expected
    # CM: every row is stored, those without any start date with an empty start (not imputed)
    cms = [m for m in _all(engine, "medications") if "/CM/" in m["source_key"]]
    assert {m["source_key"] for m in cms} == {
        f"{r['STUDYID']}/{r['USUBJID']}/CM/{int(r['CMSEQ'])}" for r in pilot_rows["cm"]
    }
    undated = [m for m in cms if m["start_dtc"] is None]
    assert len(undated) == sum(1 for r in pilot_rows["cm"] if not r["CMSTDTC"]) == 21
    assert all(m["start_date"] is None and m["start_day"] is None and m["start_date_flag"] is None for m in undated)
    assert [e for e in report.excluded if e[1] == "cm.xpt"] == []
    assert report.counts["adverse_events"]["merged"] == report.counts["medications"]["merged"] == 0


def test_partial_dates_are_imputed_flagged_and_kept_as_collected(engine: Engine, data: Path, pilot_rows) -> None:
    write_batch(engine, batch_from_sdtm(data / PILOT))
    meds = {m["source_key"]: m for m in _all(engine, "medications")}
    for row in pilot_rows["cm"]:
        if not row["CMSTDTC"]:
            continue
        med = meds[f"{row['STUDYID']}/{row['USUBJID']}/CM/{int(row['CMSEQ'])}"]
        assert med["start_dtc"] == row["CMSTDTC"]
        collected = row["CMSTDTC"]
        if len(collected) == 4:  # year only: 1 January, month and day imputed
            assert (med["start_date"], med["start_date_flag"]) == (dt.date(int(collected), 1, 1), "M")
        elif len(collected) == 7:  # year-month: the 1st, day imputed
            assert med["start_date"] == dt.date(int(collected[:4]), int(collected[5:7]), 1)
            assert med["start_date_flag"] == "D"
        else:
            assert med["start_date_flag"] is None and med["start_date"].isoformat() == collected[:10]
        stop = row["CMENDTC"]
        if stop and len(stop) == 7:  # the latest day of the month: a drug is taken as long as the data allow
            nxt = dt.date(int(stop[:4]) + int(stop[5:7]) // 12, int(stop[5:7]) % 12 + 1, 1)
            assert (med["stop_date"], med["stop_date_flag"]) == (nxt - dt.timedelta(days=1), "D")
    flags = [a["onset_date_flag"] for a in _all(engine, "adverse_events")]
    assert flags.count("D") + flags.count("M") == sum(len(r["AESTDTC"]) < 10 for r in pilot_rows["ae"]) == 26


def test_partial_ae_onset_in_the_infusion_month_is_not_before_day_0(engine: Engine, data: Path) -> None:
    write_batch(engine, batch_from_sdtm(data / PILOT))
    imputed = [a for a in _all(engine, "adverse_events") if a["onset_date_flag"] is not None]
    assert imputed
    for ae in imputed:
        period = ae["onset_dtc"]
        first = dt.date(int(period[:4]), int(period[5:7]) if len(period) == 7 else 1, 1)
        assert ae["onset_date"] >= first
        # day 0 (RFXSTDTC) inside the collected period: onset on or after it (treatment-emergent)
        if ae["onset_date"] > first:
            assert ae["onset_day"] == 0


def test_a_second_import_changes_nothing(engine: Engine, data: Path) -> None:
    write_batch(engine, batch_from_sdtm(data / PILOT))
    again = write_batch(engine, batch_from_sdtm(data / PILOT))
    for table in ("adverse_events", "medications", "patients"):
        assert again.counts[table]["inserted"] == again.counts[table]["updated"] == 0, table


def test_existing_database_upgrades_in_place_keeping_its_natural_identity(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = connect(url)
    migrate(engine, "0005_queries")
    with engine.begin() as c:
        c.execute(text("INSERT INTO sites (site_id, name, country, synthetic) VALUES ('S', '', '', 0)"))
        c.execute(
            text(
                "INSERT INTO patients (patient_id, site_id, disease, sex, prior_treatments, synthetic, version)"
                " VALUES ('P-1', 'S', 'SLE', 'female', '[]', 0, 1)"
            )
        )
        c.execute(
            text(
                "INSERT INTO medications (patient_id, drug, dose, unit, route, frequency, start_date, start_day,"
                " synthetic) VALUES ('P-1', 'prednisone', 5, 'mg', 'oral', 'daily', '2024-01-05', -10, 0)"
            )
        )
    migrate(engine)
    (med,) = _all(engine, "medications")
    assert med["source_key"] == "natural:P-1|prednisone|2024-01-05"
    assert med["start_dtc"] is None and med["start_date_flag"] is None
    # the same record from a source without identity matches it: no duplicate
    with engine.begin() as c, pytest.raises(Exception, match=r"(?i)unique"):
        row = {k: v for k, v in med.items() if k != "id"}
        c.execute(insert(schema.medications), row)
    engine.dispose()
    assert create_engine(url)  # the upgraded file opens


def test_a_medication_without_any_start_date_is_kept_and_the_downgrade_refuses_to_lose_it(tmp_path: Path) -> None:
    from remission.store.db import downgrade

    engine = connect(f"sqlite:///{tmp_path / 'r.db'}")
    migrate(engine)
    with engine.begin() as c:
        c.execute(text("INSERT INTO sites (site_id, name, country, synthetic) VALUES ('S', '', '', 0)"))
        c.execute(
            text(
                "INSERT INTO patients (patient_id, site_id, disease, sex, prior_treatments, synthetic, version)"
                " VALUES ('P-1', 'S', 'SLE', 'female', '[]', 0, 1)"
            )
        )
        c.execute(
            text(
                "INSERT INTO medications (patient_id, drug, dose, unit, route, frequency, synthetic, source_key)"
                " VALUES ('P-1', 'prednisone', NULL, '', '', '', 0, 'S/P-1/CM/1')"
            )
        )
    with pytest.raises(RuntimeError, match="1 medication records have no start date"):
        downgrade(engine, "0006_source_identity")
    (med,) = _all(engine, "medications")
    assert med["start_date"] is None and med["source_key"] == "S/P-1/CM/1"
    engine.dispose()
