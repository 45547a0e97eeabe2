"""Regression tests for reader crashes found by tests/reliability/test_fuzz_importers.py.

Each input once escaped as an exception other than InvalidInputError (or, for duplicated SDTM
headers, silently dropped a column); each is now refused with the contract's wording.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from remission.errors import InvalidInputError
from remission.io.fhir import read_fhir_json
from remission.io.mapping import load_mapping
from remission.io.redcap import load_dictionary, load_events, tidy_redcap
from remission.io.sdtm import merge_supp, read_sdtm_csv, reference_dates

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "remission" / "io" / "examples" / "car_t_trial"


def test_fhir_null_given_name_is_read_as_no_given_name() -> None:
    # Found: TypeError "can only join an iterable" ("given": null passes validation).
    tables = read_fhir_json({"resourceType": "Patient", "id": "p", "name": [{"family": "X", "given": None}]})
    assert tables.tables["patients"]["given"].to_list() == [None]


def test_fhir_null_contained_list_resolves_nothing() -> None:
    # Found: TypeError "'NoneType' object is not iterable" for "contained": null.
    res = {
        "resourceType": "MedicationStatement",
        "id": "m",
        "status": "active",
        "contained": None,
        "medicationReference": {"reference": "#med"},
        "subject": {"reference": "Patient/p"},
    }
    assert read_fhir_json(res).tables["medications"]["patient_id"].to_list() == ["p"]


def test_fhir_impossible_calendar_date_in_free_text_keeps_text_without_date() -> None:
    # Found: polars InvalidOperationError converting "2024-13-45" (an onsetString) to a date.
    res = {"resourceType": "Condition", "id": "c", "onsetString": "2024-13-45", "subject": {"reference": "Patient/p"}}
    row = read_fhir_json(res).tables["conditions"].row(0, named=True)
    assert (row["onset_text"], row["onset_date"]) == ("2024-13-45", None)


@pytest.mark.parametrize(
    "resource",
    [
        {"resourceType": "Patient", "id": "p", "name": True},
        {"resourceType": "Observation", "id": "o", "status": "final", "component": [1]},
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"id": "x"}}]},
        {"resourceType": "Observation", "id": "o", "status": "final", "valueQuantity": {"value": "high"}},
    ],
    ids=["name-bool", "component-int", "entry-without-type", "value-text"],
)
def test_fhir_unvalidated_wrong_shapes_are_refused_naming_the_resource(resource: dict[str, object]) -> None:
    # Found: AttributeError/TypeError/KeyError from the walker with validate=False.
    with pytest.raises(InvalidInputError, match=r"column <json> \w+/[\w?]+: value : not shaped as a FHIR R4 resource"):
        read_fhir_json(resource, validate=False)


def test_fhir_non_object_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"column <json>: value list: expected a JSON object"):
        read_fhir_json([], validate=False)  # type: ignore[arg-type]


def test_mapping_file_not_utf8_is_refused(tmp_path: Path) -> None:
    # Found: UnicodeDecodeError from Path.read_text on a UTF-16 mapping file.
    path = tmp_path / "mapping.yaml"
    path.write_bytes((EXAMPLE / "mapping.yaml").read_text(encoding="utf-8").encode("utf-16"))
    with pytest.raises(InvalidInputError, match=r"column mapping: value byte 0xff at offset 0: is not UTF-8"):
        load_mapping(path, load_dictionary(EXAMPLE / "dictionary.csv"))


def test_sdtm_csv_neither_utf8_nor_cp1252_is_refused(tmp_path: Path) -> None:
    # Found: UnicodeDecodeError 'charmap' codec (0x8d is undefined in cp1252).
    path = tmp_path / "dm.csv"
    path.write_bytes(b'"USUBJID"\n"\x8d\xff"\n')
    with pytest.raises(InvalidInputError, match=r"column dm.csv: value byte 0x8d at offset \d+: is neither UTF-8"):
        read_sdtm_csv(path)


def test_sdtm_csv_duplicated_header_is_refused(tmp_path: Path) -> None:
    # Found: the second AGE column silently replaced the first.
    path = tmp_path / "dm.csv"
    path.write_text('"USUBJID","AGE","AGE"\n"01",63,64\n')
    with pytest.raises(InvalidInputError, match=r"column dm.csv: value AGE: column appears more than once"):
        read_sdtm_csv(path)


def test_sdtm_dm_without_usubjid_is_refused() -> None:
    # Found: polars ColumnNotFoundError "USUBJID" for an emptied dm.csv.
    import polars as pl

    with pytest.raises(InvalidInputError, match=r"column DM: value AGE: has no USUBJID column"):
        reference_dates(pl.DataFrame({"AGE": [1]}))
    with pytest.raises(InvalidInputError, match=r"column DM.USUBJID: value 01: appears more than once"):
        reference_dates(pl.DataFrame({"USUBJID": ["01", "01"]}))


def test_sdtm_supp_with_parent_without_usubjid_is_refused() -> None:
    import polars as pl

    supp = pl.DataFrame({"USUBJID": ["01"], "IDVAR": [""], "IDVARVAL": [""], "QNAM": ["X"], "QVAL": ["1"]})
    with pytest.raises(InvalidInputError, match=r"column SUPPDM: value AGE: parent domain has no USUBJID"):
        merge_supp(pl.DataFrame({"AGE": [1]}), supp, "SUPPDM")


def test_redcap_events_row_shorter_than_header_is_refused() -> None:
    # Found: KeyError 'unique_event_name' for a truncated events file.
    with pytest.raises(InvalidInputError, match=r"row 1, column events: value 1 cells: expected 3"):
        load_events(io.StringIO("event_name,arm_num,unique_event_name\nDay 0\n"))


def test_redcap_unnamed_column_is_named_in_the_problem() -> None:
    # Found: "column : value : ..." (an empty header cell gave an empty column name).
    dictionary = load_dictionary(io.StringIO("field_name,form_name,field_type\nrecord_id,f,text\n"))
    with pytest.raises(InvalidInputError, match=r'column "": value "": is not a field of the data dictionary'):
        tidy_redcap(io.StringIO("record_id,\n1,\n"), dictionary)


def test_odm_with_an_unknown_declared_encoding_is_refused(tmp_path: Path) -> None:
    # Found by test_fuzz_importers: a mutated XML declaration made the parser raise LookupError.
    from remission.io.redcap import load_odm

    path = tmp_path / "project.xml"
    path.write_text('<?xml version="1.0" encoding="U-F-8"?><ODM></ODM>', encoding="utf-8")
    with pytest.raises(InvalidInputError, match="is not well-formed XML"):
        load_odm(path)


def test_regimen_protocol_name_too_long_for_the_file_system_is_refused() -> None:
    # Found by test_fuzz_indices: a 400-digit protocol name raised OSError (file name too long).
    import polars as pl

    import remission

    with pytest.raises(InvalidInputError, match="no such shipped protocol"):
        remission.score("regimen", pl.DataFrame({"height_cm": [170]}), protocol="9" * 400)
