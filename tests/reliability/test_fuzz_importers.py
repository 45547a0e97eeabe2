"""Fuzzing the readers with mutated real files of ../shared/data (REDCap, SDTM, FHIR).

Each example takes a real fixture and breaks it the way files break in practice: truncated at a
random byte, re-encoded (Latin-1, cp1252, UTF-16), emptied, two header columns swapped or
duplicated, a cell replaced by a huge, non-finite, unicode or injection value, random bytes
flipped. The only allowed failure is :class:`InvalidInputError` whose problems follow the
contract's wording; any other exception is a bug (docs/reliability.md lists those found).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from remission.errors import InvalidInputError
from sharedpaths import DATA, needs

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "remission" / "io" / "examples" / "car_t_trial"
pytestmark = needs(DATA)

FUZZ = settings(
    max_examples=max(20, settings().max_examples),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NASTY_CELLS = (
    "",
    "NA",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "9" * 60,
    "-1",
    "0",
    "2024-02-30",
    "9999-99-99",
    "ü",
    "𝟙",
    "\x00",
    '"',
    "a,b",
    "a\nb",
    "'; DROP TABLE patients; --",
    "NaN",
    "1,5",
    "true",
)


def assert_only_invalid_input(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except InvalidInputError as err:
        assert err.problems
        for problem in err.problems:
            assert re.fullmatch(r"(row \d+, )?column .+: value .*: .+", str(problem), flags=re.S), str(problem)
        return None


# --------------------------------------------------------------------------------------------
# Mutations of bytes and of CSV text
# --------------------------------------------------------------------------------------------


def _split_csv_line(line: str) -> list[str]:
    return line.split(",")


@st.composite
def mutated(draw: st.DrawFn, data: bytes, *, csv: bool) -> bytes:
    """``data`` broken by one or two mutations."""
    for _ in range(draw(st.integers(1, 2))):
        data = draw(_mutation(data, csv=csv))
    return data


@st.composite
def _mutation(draw: st.DrawFn, data: bytes, *, csv: bool) -> bytes:
    kinds = ["truncate", "encode", "empty", "flip", "insert"]
    if csv:
        kinds += ["swap", "duplicate", "cell", "cell", "drop-column"]
    kind = draw(st.sampled_from(kinds))
    if kind == "truncate":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if kind == "empty":
        return draw(st.sampled_from([b"", b"\n", b"\xef\xbb\xbf", b" "]))
    if kind == "encode":
        text = data.decode("utf-8", errors="replace")
        return text.encode(draw(st.sampled_from(["latin-1", "cp1252", "utf-16", "utf-32"])), errors="replace")
    if kind in ("flip", "insert") and data:
        at = draw(st.integers(0, len(data) - 1))
        byte = bytes([draw(st.integers(0, 255))])
        return data[:at] + byte + data[at + (1 if kind == "flip" else 0) :]
    if not data:
        return data
    lines = data.decode("utf-8", errors="replace").splitlines(keepends=False)
    header = _split_csv_line(lines[0])
    if kind in ("swap", "duplicate") and len(header) >= 2:
        i, j = draw(st.lists(st.integers(0, len(header) - 1), min_size=2, max_size=2, unique=True))
        if kind == "swap":
            header[i], header[j] = header[j], header[i]
        else:
            header[j] = header[i]
        lines[0] = ",".join(header)
    elif kind == "drop-column" and len(header) >= 2:
        j = draw(st.integers(0, len(header) - 1))
        lines = [",".join(c for k, c in enumerate(_split_csv_line(line)) if k != j) for line in lines]
    elif kind == "cell" and len(lines) >= 2:
        r = draw(st.integers(1, len(lines) - 1))
        cells = _split_csv_line(lines[r])
        c = draw(st.integers(0, max(0, len(cells) - 1)))
        value = draw(st.one_of(st.sampled_from(NASTY_CELLS), st.text(max_size=8)))
        cells[c] = '"' + value.replace('"', '""') + '"' if draw(st.booleans()) else value
        lines[r] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode("utf-8", errors="surrogatepass")


# --------------------------------------------------------------------------------------------
# REDCap
# --------------------------------------------------------------------------------------------

REDCAP_PROJECTS = (
    sorted(
        p
        for p in (DATA / "redcapr").iterdir()
        if p.is_dir() and (p / "data.csv").exists() and (p / "dictionary.csv").exists()
    )
    if DATA.exists()
    else []
)


@pytest.mark.parametrize("project", REDCAP_PROJECTS, ids=[p.name for p in REDCAP_PROJECTS])
def test_redcap_tidy_refuses_mutated_exports_only_with_invalid_input_error(project: Path, tmp_path: Path) -> None:
    from remission.io.redcap import tidy_redcap

    files = {
        name: (project / name).read_bytes()
        for name in ("data.csv", "dictionary.csv", "event.csv")
        if (project / name).exists()
    }

    @given(st.sampled_from(sorted(files)), st.data())
    @settings(FUZZ, max_examples=max(5, settings().max_examples // 4))
    def check(target: str, data: st.DataObject) -> None:
        for name, content in files.items():
            (tmp_path / name).write_bytes(data.draw(mutated(content, csv=True)) if name == target else content)
        events = tmp_path / "event.csv" if "event.csv" in files else None
        assert_only_invalid_input(lambda: tidy_redcap(tmp_path / "data.csv", tmp_path / "dictionary.csv", events))

    check()


ODM = [DATA / "redcap-pycap" / "test_long_project.xml", DATA / "redcapr" / "repeating-instruments" / "project.xml"]


@pytest.mark.parametrize("path", ODM, ids=["pycap-long", "redcapr-repeating"])
def test_redcap_odm_refuses_mutated_xml_only_with_invalid_input_error(path: Path, tmp_path: Path) -> None:
    from remission.io.redcap import load_odm, tidy_redcap

    content = path.read_bytes()

    @given(mutated(content, csv=False))
    @FUZZ
    def check(data: bytes) -> None:
        target = tmp_path / "project.xml"
        target.write_bytes(data)

        def load() -> None:
            dictionary, records, events = load_odm(target)
            tidy_redcap(records, dictionary, events or None)

        assert_only_invalid_input(load)

    check()


def test_redcap_mapping_refuses_mutated_example_records_only_with_invalid_input_error(tmp_path: Path) -> None:
    from remission.io.mapping import load_mapping, map_records
    from remission.io.redcap import load_dictionary, tidy_redcap

    records = (EXAMPLE / "records.csv").read_bytes()
    mapping_text = (EXAMPLE / "mapping.yaml").read_bytes()

    @given(st.sampled_from(["records", "mapping"]), st.data())
    @FUZZ
    def check(target: str, data: st.DataObject) -> None:
        rec, yaml_file = tmp_path / "records.csv", tmp_path / "mapping.yaml"
        rec.write_bytes(data.draw(mutated(records, csv=True)) if target == "records" else records)
        yaml_file.write_bytes(data.draw(mutated(mapping_text, csv=False)) if target == "mapping" else mapping_text)

        def load() -> None:
            dd = load_dictionary(EXAMPLE / "dictionary.csv")
            map_records(tidy_redcap(rec, dd).tables, load_mapping(yaml_file, dd))

        assert_only_invalid_input(load)

    check()


# --------------------------------------------------------------------------------------------
# SDTM
# --------------------------------------------------------------------------------------------

SDTM_FILES = [
    DATA / "cdisc-pilot-sdtm-subset-clinutils" / "dm.xpt",
    DATA / "cdisc-pilot-sdtm-subset-clinutils" / "suppdm.xpt",
    DATA / "cdisc-pilot-sdtm" / "ta.xpt",
    DATA / "pharmaversesdtm" / "dm.csv",
    DATA / "pharmaversesdtm" / "ex.csv",
]


@pytest.mark.parametrize("path", SDTM_FILES, ids=[f"{p.parent.name}/{p.name}" for p in SDTM_FILES])
def test_sdtm_read_domain_refuses_mutated_datasets_only_with_invalid_input_error(path: Path, tmp_path: Path) -> None:
    from remission.io.sdtm import read_domain

    content = path.read_bytes()

    @given(mutated(content, csv=path.suffix == ".csv"))
    @settings(FUZZ, max_examples=max(10, settings().max_examples // 2))
    def check(data: bytes) -> None:
        target = tmp_path / path.name
        target.write_bytes(data)
        assert_only_invalid_input(lambda: read_domain(target))

    check()


def test_sdtm_load_folder_refuses_mutated_study_only_with_invalid_input_error(tmp_path: Path) -> None:
    from remission.io.sdtm import load_sdtm

    source = DATA / "pharmaversesdtm"
    names = ["dm.csv", "suppdm.csv", "ex.csv"]
    contents = {n: (source / n).read_bytes() for n in names}

    @given(st.sampled_from(names), st.data())
    @settings(FUZZ, max_examples=max(10, settings().max_examples // 3))
    def check(target: str, data: st.DataObject) -> None:
        folder = tmp_path / "study"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        for n, content in contents.items():
            (folder / n).write_bytes(data.draw(mutated(content, csv=True)) if n == target else content)
        assert_only_invalid_input(lambda: load_sdtm(folder))

    check()


# --------------------------------------------------------------------------------------------
# FHIR
# --------------------------------------------------------------------------------------------

FHIR_FILES = sorted((DATA / "fhir-r4-hl7-examples").glob("*.json")) if DATA.exists() else []
JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NASTY_CELLS),
    st.text(max_size=6),
    st.lists(st.integers(), max_size=2),
    st.just({}),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_json(draw: st.DrawFn, resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` with one to three leaves replaced by a value of a wrong type, or removed."""
    doc = json.loads(json.dumps(resource))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        holder = doc
        for key in path[:-1]:
            holder = holder[key]
        if isinstance(holder, dict) and draw(st.integers(0, 3)) == 0:
            del holder[path[-1]]
        else:
            holder[path[-1]] = draw(JSON_VALUES)
    return doc


@pytest.mark.parametrize("path", FHIR_FILES, ids=[p.stem for p in FHIR_FILES])
def test_fhir_refuses_mutated_files_only_with_invalid_input_error(path: Path, tmp_path: Path) -> None:
    from remission.io.fhir import load_fhir

    content = path.read_bytes()

    @given(mutated(content, csv=False))
    @settings(FUZZ, max_examples=max(5, settings().max_examples // 6))
    def check(data: bytes) -> None:
        target = tmp_path / path.name
        target.write_bytes(data)
        assert_only_invalid_input(lambda: load_fhir(target))

    check()


@pytest.mark.parametrize("validate", [True, False], ids=["validated", "unvalidated"])
@pytest.mark.parametrize("path", FHIR_FILES, ids=[p.stem for p in FHIR_FILES])
def test_fhir_refuses_resources_with_wrong_value_types_only_with_invalid_input_error(
    path: Path, validate: bool
) -> None:
    from remission.io.fhir import read_fhir_json

    resource = json.loads(path.read_bytes())

    @given(mutated_json(resource))
    @settings(FUZZ, max_examples=max(5, settings().max_examples // 6))
    def check(doc: dict[str, Any]) -> None:
        assert_only_invalid_input(lambda: read_fhir_json(doc, path.name, validate=validate))

    check()
