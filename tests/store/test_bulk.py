"""bulk_insert on SQLite and PostgreSQL: the same stored rows as upsert, atomic, new rows only.

The oracle is :func:`remission.store.repository.upsert` (SQLAlchemy's own conversion of every
value): rows loaded by either path must read back identically.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import Engine, func, select

from remission.store import bulk_insert, read_table, schema
from remission.store.repository import upsert

ANALYTES = (("c3_g_l", "g/L", 0.9, 1.8), ("crp_mg_l", "mg/L", None, 5.0), ("ferritin_ug_l", "µg/L", None, None))


def sites_and_patients(engine: Engine, n: int = 3) -> None:
    with engine.begin() as connection:
        upsert(connection, schema.sites, [{"site_id": "S1", "name": "Erlangen", "country": "DE", "synthetic": True}])
        upsert(
            connection,
            schema.patients,
            [
                {
                    "patient_id": f"P{i}",
                    "site_id": "S1",
                    "disease": "SLE",
                    "sex": "female",
                    "birth_year": 1990,
                    "diagnosis_year": 2012,
                    "prior_treatments": [{"drug": "MMF", "start_date": "2015-01-02"}],
                    "synthetic": True,
                }
                for i in range(n)
            ],
        )


def lab_rows(n_days: int = 20) -> list[dict[str, object]]:
    start = date(2024, 3, 1)
    return [
        {
            "patient_id": f"P{p}",
            "date": start + timedelta(days=d),
            "day": d - 5,
            "analyte": analyte,
            "value": 0.1 * (p + d + k),
            "unit": unit,
            "lln": lln,
            "uln": uln,
            "synthetic": d % 2 == 0,
            "source_key": f"natural:P{p}|{analyte}|{start + timedelta(days=d)}",  # the identity of a lab
        }
        for p in range(3)
        for d in range(n_days)
        for k, (analyte, unit, lln, uln) in enumerate(ANALYTES)
    ]


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(schema.metadata.tables[table])).scalar_one())


def without_ids(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop("id").sort(["patient_id", "date", "analyte"])


def test_bulk_labs_read_back_as_upserted_labs(engine: Engine) -> None:
    sites_and_patients(engine)
    rows = lab_rows()
    with engine.begin() as connection:
        assert bulk_insert(connection, schema.labs, rows, batch=7) == len(rows) == 180
    bulk = read_table(engine, "labs")
    with engine.begin() as connection:
        connection.execute(schema.labs.delete())
        upsert(connection, schema.labs, rows)
    assert_frame_equal(without_ids(bulk), without_ids(read_table(engine, "labs")))


def test_a_polars_frame_goes_column_wise_and_reads_back_as_upserted(engine: Engine) -> None:
    sites_and_patients(engine)
    rows = lab_rows()
    rows[3] = {**rows[3], "unit": ""}  # an empty text is not a missing value
    with engine.begin() as connection:
        assert bulk_insert(connection, schema.labs, pl.DataFrame(rows), batch=50) == len(rows)
    bulk = read_table(engine, "labs")
    with engine.begin() as connection:
        connection.execute(schema.labs.delete())
        upsert(connection, schema.labs, rows)
    assert_frame_equal(without_ids(bulk), without_ids(read_table(engine, "labs")))
    assert bulk.filter(pl.col("unit") == "").height == 1


def test_a_struct_column_is_stored_as_json_items(engine: Engine) -> None:
    sites_and_patients(engine)
    frame = pl.DataFrame(
        {
            "patient_id": ["P0", "P1"],
            "date": [date(2024, 1, 1), date(2024, 1, 2)],
            "day": [-3, 0],
            "items": [{"rash": 1, "pga": 1.5}, {"rash": 0, "pga": None}],
        }
    )
    with engine.begin() as connection:
        bulk_insert(connection, schema.assessments, frame)
    stored = read_table(engine, "assessments").sort("patient_id")
    assert stored["items"].to_list() == [{"rash": 1, "pga": 1.5}, {"rash": 0, "pga": None}]
    assert stored["form"].to_list() == ["visit", "visit"]  # the column default


@pytest.mark.parametrize("as_frame", [True, False], ids=["frame", "dicts"])
def test_json_text_named_json_encoded_is_stored_as_it_is(engine: Engine, as_frame: bool) -> None:
    sites_and_patients(engine)
    rows = [
        {"patient_id": "P0", "date": date(2024, 1, 1), "day": -3, "items": '{"rash": 1, "pga": 1.5}'},
        {"patient_id": "P1", "date": date(2024, 1, 2), "day": 0, "items": "{}"},
    ]
    with engine.begin() as connection:
        bulk_insert(connection, schema.assessments, pl.DataFrame(rows) if as_frame else rows, json_encoded={"items"})
    a = schema.assessments
    with engine.connect() as connection:
        stored = connection.execute(select(a.c["items"]).order_by(a.c.patient_id)).scalars().all()
    assert stored == [{"rash": 1, "pga": 1.5}, {}]  # not the JSON strings '"{..}"'


def test_bulk_assessments_keep_json_items_and_defaults(engine: Engine) -> None:
    sites_and_patients(engine)
    rows = [
        {"patient_id": "P0", "date": date(2024, 1, 1), "day": -3, "items": {"rash": 1, "pga": 1.5, "note": None}},
        {"patient_id": "P1", "date": date(2024, 1, 2), "day": 0, "items": {}},
    ]
    with engine.begin() as connection:
        bulk_insert(connection, schema.assessments, rows)
    stored = read_table(engine, "assessments").sort("patient_id")
    assert stored["items"].to_list()[0] == {"rash": 1, "pga": 1.5, "note": None}
    assert stored["visit"].to_list() == ["", ""]  # the column default, as upsert would add it
    assert stored["form"].to_list() == ["visit", "visit"]
    assert stored["synthetic"].to_list() == [False, False]
    assert stored["date"].to_list() == [date(2024, 1, 1), date(2024, 1, 2)]


def test_bulk_accepts_a_polars_frame_and_an_iterator(engine: Engine) -> None:
    sites_and_patients(engine)
    rows = lab_rows(4)
    frame = pl.DataFrame(rows[:20])
    with engine.begin() as connection:
        assert bulk_insert(connection, schema.labs, frame) == 20
        assert bulk_insert(connection, schema.labs, iter(rows[20:]), batch=5) == len(rows) - 20
        assert bulk_insert(connection, schema.labs, []) == 0
    assert count(engine, "labs") == len(rows)


def test_a_stored_natural_key_fails_the_whole_bulk_transaction(engine: Engine) -> None:
    sites_and_patients(engine)
    rows = lab_rows()
    with engine.begin() as connection:
        bulk_insert(connection, schema.labs, rows[:10])
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), engine.begin() as connection:
        bulk_insert(connection, schema.labs, rows[5:], batch=50)  # later batches would be fine alone
    assert count(engine, "labs") == 10


def test_an_unknown_patient_fails_and_writes_nothing(engine: Engine) -> None:
    sites_and_patients(engine)
    rows = [*lab_rows(2), {**lab_rows(1)[0], "patient_id": "NOT-THERE", "source_key": "natural:NOT-THERE|crp"}]
    with pytest.raises(Exception, match=r"(?i)foreign key|violates"), engine.begin() as connection:
        bulk_insert(connection, schema.labs, rows)
    assert count(engine, "labs") == 0


def test_upsert_after_bulk_updates_in_place(engine: Engine) -> None:
    sites_and_patients(engine)
    rows = lab_rows(2)
    with engine.begin() as connection:
        bulk_insert(connection, schema.labs, rows)
        upsert(connection, schema.labs, [{**rows[0], "value": 99.0}])
    labs = read_table(engine, "labs")
    assert labs.height == len(rows)
    assert labs.filter(pl.col("value") == 99.0).height == 1


def test_rows_with_other_columns_than_the_first_are_refused(engine: Engine) -> None:
    sites_and_patients(engine)
    rows = [*lab_rows(1)[:2], {**lab_rows(1)[2], "extra": 1}]
    with pytest.raises(ValueError, match="row 3: columns"), engine.begin() as connection:
        bulk_insert(connection, schema.labs, rows)
    assert count(engine, "labs") == 0


def test_unknown_column_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="labs has no column"), engine.begin() as connection:
        bulk_insert(connection, schema.labs, [{"patient_id": "P0", "colour": "red"}])
