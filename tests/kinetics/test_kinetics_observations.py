"""The observation table (remission.kinetics.observations): typed reading, NONMEM dose records,
and one problem per bad cell naming the 1-based data row, the column and the value."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from remission.errors import InvalidInputError
from remission.kinetics.observations import (
    OBSERVATION_COLUMNS,
    SCHEMA,
    parse_analyte_values,
    read_observations,
)

HEADER = "ID,TIME,DV,ANALYTE,UNIT,LLOQ,BLQ,MDV,DOSE_PER_KG,DISEASE,BASELINE_CD19,AGE,WEIGHT"
GOOD = [
    "P1,0,0.1,car_t,cells/µL,0.1,1,0,1000000,SLE,150,34,63.5",
    "P1,7,25.5,car_t,,0.1,0,0,1000000,SLE,150,34,63.5",
    "P1,28,0,cd19,cells/uL,1,1,0,1000000,SLE,150,34,63.5",
    "P1,120,12,cd19,,1,,,1000000,SLE,150,34,63.5",
    "P2,7,,car_t,,0.1,,1,500000,SSc,,,",
]


def _csv(tmp_path: Path, lines: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "obs.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def test_a_valid_file_is_read_typed_in_the_contract_columns(tmp_path: Path) -> None:
    obs = read_observations(_csv(tmp_path, GOOD))
    assert obs.columns == list(OBSERVATION_COLUMNS)
    assert dict(obs.schema) == SCHEMA
    # hand-derived: units defaulted/normalised, BLQ rows at DV = LLOQ, BLQ/MDV derived where empty
    assert obs.select("DV", "UNIT", "BLQ", "MDV").rows() == [
        (0.1, "cells/µL", 1, 0),
        (25.5, "cells/µL", 0, 0),
        (1.0, "cells/µL", 1, 0),  # DV 0 censored: DV set to its LLOQ
        (12.0, "cells/µL", 0, 0),
        (None, "cells/µL", 0, 1),  # not measured
    ]
    assert obs["AGE"][4] is None and obs["DISEASE"].to_list() == ["SLE"] * 4 + ["SSc"]


def test_nonmem_dose_records_become_the_dose_and_are_not_samples(tmp_path: Path) -> None:
    header = "ID,TIME,DV,ANALYTE,LLOQ,EVID,AMT,CMT,MDV"
    lines = [
        "1,0,,,,1,2e6,1,1",  # the infusion
        "1,7,30,car_t,0.1,0,,2,0",
        "1,14,,cd19,1,2,,3,1",  # EVID 2: another event, dropped
        "1,21,0.5,cd19,1,0,,3,0",
    ]
    obs = read_observations(_csv(tmp_path, lines, header))
    assert obs.select("TIME", "ANALYTE", "DOSE_PER_KG").rows() == [(7.0, "car_t", 2e6), (21.0, "cd19", 2e6)]
    assert obs["BLQ"].to_list() == [0, 1]  # 0.5 < LLOQ 1: derived BLQ, DV set to the LLOQ
    assert obs["DV"].to_list() == [30.0, 1.0]


def test_a_polars_frame_with_numeric_columns_and_lower_case_names_is_accepted() -> None:
    frame = pl.DataFrame({"id": [1, 1], "time": [3.0, 10.0], "dv": [2.0, 40.0], "analyte": ["car_t", "car_t"]})
    obs = read_observations(frame)
    assert obs["ID"].to_list() == ["1", "1"] and obs["DV"].to_list() == [2.0, 40.0]
    assert obs["LLOQ"].null_count() == 2 and obs["BLQ"].to_list() == [0, 0]


def test_a_pandas_frame_is_accepted() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"ID": ["A"], "TIME": [14.0], "DV": [0.0], "ANALYTE": ["cd19"], "LLOQ": [1.0]})
    obs = read_observations(frame)
    assert obs.select("ID", "DV", "BLQ", "MDV").rows() == [("A", 1.0, 1, 0)]  # 0 < LLOQ: censored


def _one_bad(cells: dict[str, str]) -> list[str]:
    row = dict(zip(HEADER.split(","), GOOD[1].split(","), strict=True))
    row.update(cells)
    return [GOOD[0], ",".join(row.values())]


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ({"ANALYTE": "il6"}, "row 2, column ANALYTE: value il6: expected car_t or cd19"),
        ({"ANALYTE": ""}, "row 2, column ANALYTE: value : expected car_t or cd19"),
        ({"TIME": "-3"}, "row 2, column TIME: value -3: must be ≥ 0 (days from the infusion"),
        ({"TIME": "day7"}, "row 2, column TIME: value day7: must be ≥ 0"),
        ({"DV": "", "MDV": "0"}, "row 2, column DV: value : required where MDV=0 (an observation)"),
        ({"DV": "high"}, "row 2, column DV: value high: must be a number ≥ 0"),
        ({"DV": "-1"}, "row 2, column DV: value -1: must be a number ≥ 0"),
        ({"BLQ": "1", "LLOQ": ""}, "row 2, column LLOQ: value : required where BLQ=1 (M3 needs the limit)"),
        ({"BLQ": "1", "DV": "5"}, "row 2, column DV: value 5: above LLOQ but BLQ=1"),
        ({"DV": "0.05"}, "row 2, column BLQ: value 0: DV is below LLOQ: BLQ must be 1"),
        ({"BLQ": "yes"}, "row 2, column BLQ: value yes: expected 0 or 1"),
        ({"MDV": "2"}, "row 2, column MDV: value 2: expected 0 or 1"),
        ({"LLOQ": "0"}, "row 2, column LLOQ: value 0: must be a number > 0"),
        ({"UNIT": "copies/µL"}, "row 2, column UNIT: value copies/µL: the unit of car_t must be cells/µL or"),
        ({"DOSE_PER_KG": "lots"}, "row 2, column DOSE_PER_KG: value lots: must be a number > 0"),
        ({"DOSE_PER_KG": "2000000"}, "row 2, column DOSE_PER_KG: value 2000000: differs from the ID's other rows"),
        ({"DISEASE": "RA"}, "row 2, column DISEASE: value RA: expected SLE, IIM, SSc, other or empty"),
        ({"AGE": "230"}, "row 2, column AGE: value 230: must be a number of years between 0 and 130"),
        ({"WEIGHT": "0"}, "row 2, column WEIGHT: value 0: must be a number of kg > 0 and ≤ 500"),
        ({"BASELINE_CD19": "nan"}, "row 2, column BASELINE_CD19: value nan: must be a number ≥ 0"),
        ({"ID": ""}, "row 2, column ID: value : required: the patient identifier"),
    ],
    ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else "",
)
def test_each_bad_cell_is_reported_with_row_column_and_value(
    tmp_path: Path, cells: dict[str, str], expected: str
) -> None:
    with pytest.raises(InvalidInputError) as err:
        read_observations(_csv(tmp_path, _one_bad(cells)))
    assert str(err.value).startswith(expected), str(err.value)
    assert all(p.row == 2 for p in err.value.problems)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["1,0,,,1,", "1,7,3,car_t,0,"], "row 1, column AMT: value : required on a dose record (EVID=1)"),
        (["1,2,,,1,1e6", "1,7,3,car_t,0,"], "row 1, column TIME: value 2: a dose record (EVID=1) is the infusion"),
        (["1,0,,,1,1e6", "1,0,,,1,1e6"], "row 2, column EVID: value 1: a second dose record for this ID"),
        (["1,7,3,car_t,3,"], "row 1, column EVID: value 3: expected 0, 1 or 2 (0 observation, 1 dose, 2 other"),
    ],
    ids=["dose-without-amt", "dose-not-at-time-0", "two-doses", "reset-event"],
)
def test_bad_nonmem_dose_records(tmp_path: Path, lines: list[str], expected: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        read_observations(_csv(tmp_path, lines, "ID,TIME,DV,ANALYTE,EVID,AMT"))
    assert str(err.value).startswith(expected), str(err.value)


def test_every_problem_is_listed_not_only_the_first(tmp_path: Path) -> None:
    lines = [*GOOD, "P3,-1,2,il6,,,,,,,,,"]
    with pytest.raises(InvalidInputError) as err:
        read_observations(_csv(tmp_path, lines))
    assert [(p.row, p.column) for p in err.value.problems] == [(6, "TIME"), (6, "ANALYTE")]


def test_a_missing_required_column_and_an_unreadable_file_are_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="column ANALYTE: value : required column is missing"):
        read_observations(_csv(tmp_path, ["1,0,3"], "ID,TIME,DV"))
    with pytest.raises(InvalidInputError, match="column UNIT: value cells/µL, copies/µg: car_t is given in several"):
        read_observations(_csv(tmp_path, ["1,1,3,car_t,cells/µL", "1,2,3,car_t,copies/ug"], "ID,TIME,DV,ANALYTE,UNIT"))
    with pytest.raises(InvalidInputError, match=r"column input: value .*absent\.csv"):
        read_observations(tmp_path / "absent.csv")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("car_t=0.1,cd19=1", {"car_t": 0.1, "cd19": 1.0}), (" cd19 = 2.5 ", {"cd19": 2.5}), ("", {})],
    ids=["both", "spaces", "empty"],
)
def test_parse_analyte_values(text: str, expected: dict[str, float]) -> None:
    assert parse_analyte_values(text, "lloq") == expected


@pytest.mark.parametrize("text", ["il6=1", "car_t=x", "car_t=-1", "car_t"], ids=["analyte", "nan", "neg", "no-eq"])
def test_parse_analyte_values_refuses(text: str) -> None:
    with pytest.raises(InvalidInputError, match=f"column lloq: value {text}: expected analyte=number"):
        parse_analyte_values(text, "lloq")
