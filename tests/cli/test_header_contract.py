"""The header contract of ../shared/specs/README.md ("CLI contract", "Header"), on the CLI and
in :func:`remission.score`: an input column absent from the header is an error naming it and the
header's closest names; unknown columns are a warning; --allow-missing-columns keeps "absent =
missing". Issue 22: a misspelled SLEDAI-2K header scored 0 with exit 0, DORIS without `pga` too."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from remission.api import score
from remission.cli.main import app
from remission.errors import InvalidInputError, MissingColumnsError, UnknownColumnsWarning
from remission.indices import sledai2k

runner = CliRunner()
SLEDAI = list(sledai2k.CODES)
DORIS_REST = ["prednisone_mg_day", "antimalarial", "immunosuppressant", "biologic"]


def write(tmp_path: Path, header: list[str], *rows: list[object]) -> Path:
    source = tmp_path / "in.csv"
    lines = [",".join(header), *(",".join("" if v is None else str(v) for v in r) for r in rows)]
    source.write_text("\n".join(lines) + "\n")
    return source


def cli(index: str, source: Path, *extra: str) -> tuple[int, str, Path]:
    target = source.with_name("out.csv")
    result = runner.invoke(app, ["score", index, "--input", str(source), "--output", str(target), *extra])
    return result.exit_code, result.output, target


def test_misspelled_sledai_header_exits_2_naming_the_column_and_its_closest_name(tmp_path: Path) -> None:
    header = ["seizures", "Arthritis", *[c for c in SLEDAI if c not in ("seizure", "arthritis")]]
    source = write(tmp_path, header, [0] * len(header))
    code, output, target = cli("sledai2k", source, "--missing", "absent")
    assert code == 2
    assert "no column `seizure` in the header (an input of sledai2k) — did you mean `seizures`?" in output
    assert "no column `arthritis` in the header (an input of sledai2k) — did you mean `Arthritis`?" in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 2 and all(line.startswith("column ") for line in lines)  # the contract's wording only
    assert not target.exists()


def test_doris_without_pga_exits_2_and_suggests_PGA(tmp_path: Path) -> None:
    header = [*SLEDAI, "PGA", *DORIS_REST]
    source = write(tmp_path, header, [0] * len(header))
    code, output, _ = cli("doris", source)
    assert code == 2
    assert "no column `pga` in the header (an input of doris) — did you mean `PGA`?" in output
    assert output.count("no column") == 1


def test_unknown_column_is_a_warning_and_the_summary_counts_rows(tmp_path: Path) -> None:
    header = [*SLEDAI, "foo"]
    complete = [0] * len(SLEDAI) + ["x"]
    one_missing = [None] + [0] * (len(SLEDAI) - 1) + ["y"]
    code, output, target = cli("sledai2k", write(tmp_path, header, complete, one_missing))
    assert code == 0
    assert "warning: unknown column `foo`" in output
    assert "sledai2k: 2 rows scored (1 incomplete: an input missing)" in output
    out = pl.read_csv(target)
    assert out["foo"].to_list() == ["x", "y"]  # kept
    assert out["sledai2k"].to_list() == [0, None]  # the missing seizure (8 points) could change it


def test_allow_missing_columns_scores_absent_columns_as_missing(tmp_path: Path) -> None:
    source = write(tmp_path, ["arthritis", "rash"], [1, 1])
    code, output, target = cli("sledai2k", source, "--allow-missing-columns", "--missing", "absent")
    assert code == 0, output
    assert pl.read_csv(target)["sledai2k"].to_list() == [6]


def test_summary_counts_skipped_rows(tmp_path: Path) -> None:
    rows = [[0] * len(SLEDAI), [2] + [0] * (len(SLEDAI) - 1)]
    code, output, _ = cli("sledai2k", write(tmp_path, SLEDAI, *rows), "--on-error", "skip")
    assert code == 0
    assert "sledai2k: 1 row scored (0 incomplete: an input missing)" in output
    assert "1 invalid row skipped" in output


@pytest.mark.parametrize(
    ("index", "header"),
    [
        ("sledai2k", [c for c in SLEDAI if c != "fever"] + ["temperature_c"]),  # derived from a measurement
        ("icans", ["ice_score", "consciousness", "seizure", "motor_weakness", "cerebral_edema"]),
        ("eustar-ai", ["delta_skin", "mrss", "digital_ulcers", "tendon_friction_rubs", "crp_mg_dl", "dlco_pct_pred"]),
        ("regimen", ["height_cm", "weight_kg"]),  # bsa_formula: optional by the spec
        ("crs", ["temperature_c", "fever_other_cause", "anti_cytokine_given", "hypotension", "oxygen"]),
    ],
    ids=["descriptor-from-lab", "ice-score-for-items", "crp-other-unit", "optional-bsa-formula", "optional-crs-death"],
)
def test_alternative_and_optional_inputs_may_be_absent(index: str, header: list[str]) -> None:
    with_row = pl.DataFrame({c: [None] for c in header}, schema={c: pl.Utf8 for c in header})
    assert score(index, with_row).height == 1


def test_api_raises_missing_columns_error_an_invalid_input_error() -> None:
    visit = pl.DataFrame({"PGA": [0.2], **{c: [0] for c in [*SLEDAI, *DORIS_REST]}})
    with pytest.raises(MissingColumnsError) as caught:
        score("doris", visit)
    assert isinstance(caught.value, InvalidInputError)
    assert [a.code for a in caught.value.absent] == ["pga"]
    assert caught.value.absent[0].closest == ("PGA",)
    expected = "column pga: value : no column `pga` in the header (an input of doris) — did you mean `PGA`?"
    assert str(caught.value) == expected


def test_api_warns_of_unknown_columns_and_allows_missing_on_request() -> None:
    visit = pl.DataFrame({"arthritis": [1], "rash": [1], "foo": [1]})
    with pytest.warns(UnknownColumnsWarning, match="unknown column `foo`"):
        out = score("sledai2k", visit, missing="absent", allow_missing_columns=True)
    assert out["sledai2k"].to_list() == [6]


def test_dask_engine_checks_the_datasets_header_before_starting_a_cluster(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    pl.DataFrame({"seizures": [0], **{c: [0] for c in SLEDAI if c != "seizure"}}).write_parquet(folder / "a.parquet")
    args = ["score", "sledai2k", "--engine", "dask", "--input", str(folder), "--output", str(tmp_path / "out")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "no column `seizure` in the header (an input of sledai2k) — did you mean `seizures`?" in result.output
    assert not (tmp_path / "out").exists()
