"""REDCap reader against REDCapR/PyCap's real test projects and REDCapTidieR's known traps.

Expected counts come from reading the source files by hand (rows per record/event/instance that
hold data for the instrument), not from the code.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from remission.cli.main import app
from remission.errors import InvalidInputError
from remission.io.redcap import load_dictionary, load_events, load_odm, tidy_redcap

KEYS = ["redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance"]


def _project(data: Path, name: str) -> tuple[Path, Path, Path | None]:
    d = data / "redcapr" / name
    dictionary = next(d.glob("dict*.csv"))  # decimal-comma/ has the upstream typo dictionay.csv
    events = d / "event.csv"
    return d / "data.csv", dictionary, events if events.exists() else None


# (project, {instrument: rows}) — hand counts from each data.csv
REAL = [
    ("arm-single-longitudinal", {"collection": 9}),
    ("arm-multiple-delete", {"demographics": 60}),
    ("blank-for-gray-status", {"demographics": 6, "health": 6, "race_and_ethnicity": 6}),
    ("checkboxes-1", {"form_1": 4, "form_2": 4}),
    ("clinical-trial-1", {"demographics": 500}),
    ("dag", {"demographics": 3}),
    ("decimal-comma", {"demographics": 4}),
    ("decimal-comma-and-dot", {"demographics": 4}),
    ("empty-rows", {"demographics": 0, "health": 0, "race_and_ethnicity": 0}),
    ("longitudinal", {"demographics": 3, "visit_lab_data": 4, "completion_data": 2}),
    ("nonnumeric-record-id", {"demographics": 3}),
    ("potentially-problematic-dictionary", {"form_1": 0}),
    ("repeating-instruments", {"demographics": 2, "bp": 4}),
    ("repeating-instruments-sparse", {"demographics": 5, "bp": 4}),
    ("simple", {"demographics": 5, "health": 5, "race_and_ethnicity": 5}),
    ("survey", {"prescreening_survey": 2, "participant_info_survey": 2, "completion_data": 2}),
    ("validation-types-1", {"form_1": 1}),
    ("vignette-repeating", {"intake": 2, "blood_pressure": 6, "laboratory": 4, "image": 5}),
]


@pytest.mark.parametrize(("project", "counts"), REAL, ids=[p for p, _ in REAL])
def test_real_projects_tidy_with_hand_counted_rows(data: Path, project: str, counts: dict[str, int]) -> None:
    records, dictionary, events = _project(data, project)
    result = tidy_redcap(records, dictionary, events)
    assert set(result.tables) == set(load_dictionary(dictionary).forms)
    for form, n in counts.items():
        table = result.tables[form]
        assert table.height == n, form
        assert table.columns[:4] == [result.record_id, *KEYS]


def test_longitudinal_record_id_is_first_dictionary_field_and_arm_from_events(data: Path) -> None:
    records, dictionary, events = _project(data, "longitudinal")
    t = tidy_redcap(records, dictionary, events).tables["demographics"]
    assert t.columns[0] == "study_id"
    # study 304 was enrolled in arm 2 (event enrollment_arm_2)
    assert t.filter(pl.col("study_id") == "304")["redcap_arm"].to_list() == [2]
    assert t.schema["dob"] == pl.Date and t.schema["gym___0"] == pl.Boolean


def test_letter_coded_checkboxes(data: Path) -> None:
    records, dictionary, _ = _project(data, "checkboxes-1")
    t = tidy_redcap(records, dictionary).tables["form_2"]
    row = t.filter(pl.col("record_id") == "1").row(0, named=True)
    # desired_result of record 1: check_two___a and ___c are 1, the others 0
    assert [row[f"check_two___{c}"] for c in "abcde"] == [True, False, True, False, False]


def test_decimal_comma_numbers_and_dot_calc(data: Path) -> None:
    records, dictionary, _ = _project(data, "decimal-comma")
    t = tidy_redcap(records, dictionary).tables["demographics"]
    assert t["height"].to_list()[0] == pytest.approx(1.54)  # "1,54" in data.csv
    assert t["bmi"].to_list()[0] == pytest.approx(22.1)  # calc exported with a dot


def test_survey_timestamp_and_not_completed(data: Path) -> None:
    records, dictionary, _ = _project(data, "survey")
    tables = tidy_redcap(records, dictionary).tables
    pre = tables["prescreening_survey"]
    assert pre["prescreening_survey_timestamp"].to_list()[0] == dt.datetime(2018, 3, 6, 15, 52, 43)
    pmq = tables["participant_morale_questionnaire"]
    # record 1: "[not completed]"; record 2: blank timestamp, status 0
    assert pmq["participant_morale_questionnaire_survey_completed"].to_list() == [False, None]
    assert pmq["participant_morale_questionnaire_timestamp"].to_list() == [None, None]


def test_data_access_group_column_kept(data: Path) -> None:
    records, dictionary, _ = _project(data, "dag")
    t = tidy_redcap(records, dictionary).tables["demographics"]
    assert t["redcap_data_access_group"].to_list() == ["daga", "daga", "dagb"]
    assert t["record_id"].to_list() == ["331-1", "331-2", "332-3"]


def test_embedded_newlines_kept(data: Path) -> None:
    records, dictionary, _ = _project(data, "simple")
    t = tidy_redcap(records, dictionary).tables["demographics"]
    assert t["address"].to_list()[0] == "14 Rose Cottage St.\nKenning UK, 323232"


def test_bom_dictionary(data: Path) -> None:
    d = load_dictionary(data / "redcapr" / "potentially-problematic-dictionary" / "dictionary.csv")
    assert d.record_id == "record_id"


def test_values_entered_before_validation_are_refused_naming_record_field_value(data: Path) -> None:
    records, dictionary, _ = _project(data, "potentially-problematic-values")
    with pytest.raises(InvalidInputError) as err:
        tidy_redcap(records, dictionary)
    assert "row 1, column date_before_validation: value before validation 1: record 1: expected a date" in str(
        err.value
    )
    # on_error="null" keeps the rest and lists the problems
    result = tidy_redcap(records, dictionary, on_error="null")
    assert len(result.problems) == 4
    assert result.tables["form_1"]["date_before_validation"].null_count() == 2


def test_r_resaved_export_is_refused(data: Path) -> None:
    d = data / "redcapr" / "russian" / "data.csv"
    dictionary = io.StringIO("field_name,form_name,field_type\nrecord_id,f,text\n")
    with pytest.raises(InvalidInputError, match=r"R write\.csv re-save"):
        tidy_redcap(d, dictionary)


def test_r_metadata_dictionary_with_na(data: Path) -> None:
    d = load_dictionary(data / "redcapr" / "simple" / "metadata.csv")
    assert d.fields[8].name == "sex" and d.fields[8].choices == (("0", "Female"), ("1", "Male"))
    assert d.fields[1].validation == ""  # NA, not a validation type


@pytest.mark.parametrize("project", ["longitudinal", "repeating-instruments"])
def test_odm_xml_matches_csv_export(data: Path, project: str) -> None:
    records, dictionary, events = _project(data, project)
    csv_tables = tidy_redcap(records, dictionary, events).tables
    dd, rec, ev = load_odm(data / "redcapr" / project / "project.xml")
    xml_tables = tidy_redcap(rec, dd, ev or None).tables
    for form, a in csv_tables.items():
        b = xml_tables[form]
        # free text differs in whitespace, file fields hold document ids in the XML
        text = [c for c in a.columns if c in {f.name for f in dd.fields if f.field_type in ("notes", "file")}]
        assert a.drop(text).equals(b.select(a.columns).drop(text)), form


def test_pycap_odm_longitudinal_with_repeating_instrument(data: Path) -> None:
    dd, rec, ev = load_odm(data / "redcap-pycap" / "test_long_project.xml")
    assert len(ev) == 16 and dd.record_id == "study_id"
    t = tidy_redcap(rec, dd, ev).tables["baseline_data"]
    # baseline_data repeats in enrollment_arm_1 only (redcap:RepeatingInstrument): mixed structure
    assert t.select("study_id", *KEYS).rows() == [
        ("1", "enrollment_arm_1", "baseline_data", 1),
        ("2", "enrollment_arm_2", None, None),
    ]


# ------------------------------------------------------------------------- REDCapTidieR traps

DICT = (
    "field_name,form_name,field_type,select_choices_or_calculations,text_validation_type_or_show_slider_number\n"
    "record_id,base,text,,\n"
    "visit_date,base,text,,date_ymd\n"
    "lab_value,labs,text,,number\n"
    'sym,labs,checkbox,"1, one | -99, Unknown | A, letter",\n'
)


def _tidy(records: str, **kw: object) -> dict[str, pl.DataFrame]:
    return tidy_redcap(io.StringIO(records), io.StringIO(DICT), **kw).tables  # type: ignore[arg-type]


def test_trap_negative_and_letter_checkbox_codes_redcaptidier_31() -> None:
    t = _tidy("record_id,lab_value,sym___1,sym____99,sym___a,labs_complete\n1,2.5,0,1,0,2\n")["labs"]
    assert t.select("sym___1", "sym____99", "sym___a").row(0) == (False, True, False)


def test_trap_form_repeating_in_some_events_not_others_redcaptidier_13_169() -> None:
    records = (
        "record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,visit_date,base_complete,lab_value,labs_complete\n"
        "1,screening_arm_1,,,2024-01-01,2,5.0,2\n"
        "1,follow_up_arm_1,labs,1,,,6.0,2\n"
        "1,follow_up_arm_1,labs,2,,,7.0,2\n"
    )
    labs = _tidy(records)["labs"]
    assert labs.select("redcap_event_name", "redcap_repeat_instance", "lab_value").rows() == [
        ("screening_arm_1", None, 5.0),
        ("follow_up_arm_1", 1, 6.0),
        ("follow_up_arm_1", 2, 7.0),
    ]


def test_trap_empty_repeating_rows_dropped_redcaptidier_136() -> None:
    # repeating event (blank instrument, instance set) where only base has data
    records = (
        "record_id,redcap_event_name,redcap_repeat_instrument,redcap_repeat_instance,visit_date,base_complete,lab_value,labs_complete\n"
        "1,unscheduled_arm_1,,1,2024-02-01,2,,\n1,unscheduled_arm_1,,2,2024-02-05,2,,\n"
    )
    tables = _tidy(records)
    assert tables["labs"].height == 0
    assert tables["base"]["redcap_repeat_instance"].to_list() == [1, 2]


def test_trap_repeating_instrument_without_data_keeps_schema_redcaptidier_234() -> None:
    tables = _tidy("record_id,visit_date,base_complete\n1,2024-01-01,2\n")
    assert tables["labs"].height == 0
    assert tables["labs"].columns[:4] == ["record_id", *KEYS]


def test_trap_no_repeating_columns_redcaptidier_29() -> None:
    t = _tidy("record_id,visit_date,base_complete\n1,2024-01-01,2\n")["base"]
    assert t["redcap_repeat_instance"].to_list() == [None]


def test_duplicate_key_is_an_error() -> None:
    with pytest.raises(InvalidInputError, match="more than once"):
        _tidy("record_id,visit_date,base_complete\n1,2024-01-01,2\n1,2024-01-02,2\n")


def test_unknown_column_and_bad_choice_listed() -> None:
    with pytest.raises(InvalidInputError, match="column oops: value oops: is not a field"):
        _tidy("record_id,oops\n1,2\n")


def test_unknown_event_with_events_file() -> None:
    events = load_events(io.StringIO("event_name,arm_num,unique_event_name\nS,1,screening_arm_1\n"))
    with pytest.raises(InvalidInputError, match="column redcap_event_name: value baseline_arm_1"):
        _tidy(
            "record_id,redcap_event_name,visit_date,base_complete\n1,baseline_arm_1,2024-01-01,2\n",
            events=events,
        )


# ------------------------------------------------------------------------- mutated inputs


def test_mutated_truncated_file(data: Path) -> None:
    records, dictionary, _ = _project(data, "clinical-trial-1")
    text = records.read_bytes()
    with pytest.raises(InvalidInputError, match="truncated"):
        tidy_redcap(io.BytesIO(text[: len(text) // 2]), dictionary)


def test_mutated_wrong_encoding(data: Path) -> None:
    records, dictionary, _ = _project(data, "nonnumeric-record-id")
    latin1 = records.read_text().replace("Amanda", "Amélie").encode("latin-1")
    with pytest.raises(InvalidInputError, match="is not UTF-8"):
        tidy_redcap(io.BytesIO(latin1), dictionary)


def test_mutated_bom_on_records(data: Path) -> None:
    records, dictionary, _ = _project(data, "nonnumeric-record-id")
    t = tidy_redcap(io.BytesIO(b"\xef\xbb\xbf" + records.read_bytes()), dictionary).tables["demographics"]
    assert t["record_id"].to_list() == ["a", "b", "c"]


def test_mutated_decimal_comma_in_dot_field(data: Path) -> None:
    records, dictionary, _ = _project(data, "decimal-comma-and-dot")
    bad = records.read_text().replace("1.54", '"1,54"', 1)
    with pytest.raises(InvalidInputError, match="row 1, column height_dot: value 1,54: record 1: expected a number"):
        tidy_redcap(io.StringIO(bad), dictionary)


# ------------------------------------------------------------------------- CLI


def test_cli_tidy_writes_one_csv_per_instrument(data: Path, tmp_path: Path) -> None:
    records, dictionary, events = _project(data, "longitudinal")
    res = CliRunner().invoke(
        app,
        [
            "redcap",
            "tidy",
            "--records",
            str(records),
            "--dictionary",
            str(dictionary),
            "--events",
            str(events),
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    assert sorted(p.stem for p in tmp_path.glob("*.csv")) == sorted(load_dictionary(dictionary).forms)
    assert pl.read_csv(tmp_path / "visit_lab_data.csv").height == 4


def test_cli_bad_input_exit_2_nothing_written(data: Path, tmp_path: Path) -> None:
    records, dictionary, _ = _project(data, "potentially-problematic-values")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app,
        [
            "redcap",
            "tidy",
            "--records",
            str(records),
            "--dictionary",
            str(dictionary),
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 2
    assert "row 2, column integer_before_validation: value before validation 1: record 2" in res.output
    assert not out.exists()
