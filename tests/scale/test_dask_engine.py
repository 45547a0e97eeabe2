"""The Dask engine against the in-memory oracle: `remission.score` on the same files read as one table.

Every expected value here comes from the in-memory path (tests/indices/ checks that path against
published examples); these tests check that partitioning, shuffling by patient, row numbering
and the commit step change nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from clusters import local_cluster
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

import remission
from remission.api import score_table
from remission.cli.main import app
from remission.errors import InvalidInputError
from remission.indices._base import Column, Context, IndexDefinition, ScalarResult, as_flag, with_baseline
from remission.indices.sledai2k import CODES
from remission.scale import plan_pieces, score_dataset


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A LocalCluster of 2 in-process workers on loopback, shared by the tests of this module."""
    with local_cluster(processes=False) as address:
        yield address


# --- a small long-format index, defined here so that the test needs no registry entry --------


def _compute_pga_change(visits: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    based = with_baseline(visits, ["pga"])
    return based.select(
        pl.when(pl.col("is_followup")).then(pl.col("pga") - pl.col("pga_base")).alias("pga_change"),
        as_flag(pl.col("is_baseline")).alias("pga_baseline"),
    )


def _scalar_unused(visit: object) -> ScalarResult:
    raise NotImplementedError


PGA_CHANGE = IndexDefinition(
    name="pga-change",
    title="change of physician global assessment from baseline (test index)",
    source="test",
    columns=(Column("pga", "float", "physician global assessment", "0-3", 0, 3),),
    outputs=("pga_change", "pga_baseline"),
    compute=_compute_pga_change,
    scalar=_scalar_unused,
    layout="long",
)


def sledai_files(folder: Path, sizes: tuple[int, ...] = (50, 37, 61), seed: int = 3) -> list[pl.DataFrame]:
    """Wide SLEDAI-2K visits in several files with small row groups; some items missing."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for i, n in enumerate(sizes):
        data: dict[str, object] = {"visit_id": [f"f{i}-{k}" for k in range(n)]}
        for code in CODES:
            values = (rng.random(n) < 0.15).astype(np.int64).astype(object)
            values[rng.random(n) < 0.03] = None
            data[code] = list(values)
        frame = pl.DataFrame(data, schema={"visit_id": pl.Utf8, **{c: pl.Int64 for c in CODES}})
        frame.write_parquet(folder / f"part-{i}.parquet", row_group_size=16)
        frames.append(frame)
    return frames


def long_files(folder: Path, patients: int = 40, seed: int = 5) -> list[pl.DataFrame]:
    """Long-format visits, one patient's rows spread over every file in shuffled order."""
    rng = np.random.default_rng(seed)
    days = [-14, 0, 30, 90, 180]
    rows = [
        {"patient_id": f"P{p:03d}", "day": d, "pga": None if rng.random() < 0.05 else float(rng.integers(0, 31)) / 10}
        for p in range(patients)
        for d in days
    ]
    order = rng.permutation(len(rows))
    table = pl.DataFrame([rows[i] for i in order], schema={"patient_id": pl.Utf8, "day": pl.Int64, "pga": pl.Float64})
    folder.mkdir(parents=True, exist_ok=True)
    frames = [table.slice(0, 70), table.slice(70, 60), table.slice(130)]
    for i, frame in enumerate(frames):
        frame.write_parquet(folder / f"visits-{i}.parquet", row_group_size=10)
    return frames


def test_pieces_cover_every_row_once_in_order(tmp_path: Path) -> None:
    sledai_files(tmp_path / "in")
    paths = sorted(str(p) for p in (tmp_path / "in").glob("*.parquet"))
    pieces = plan_pieces(paths, partition_rows=40)
    assert [p.offset for p in pieces] == list(np.cumsum([0] + [p.rows for p in pieces[:-1]]))
    assert sum(p.rows for p in pieces) == 50 + 37 + 61
    assert all(p.rows <= 40 for p in pieces)


def test_wide_index_equals_in_memory_result_in_input_order(tmp_path: Path, scheduler: str) -> None:
    frames = sledai_files(tmp_path / "in")
    done = score_dataset("sledai2k", str(tmp_path / "in" / "*.parquet"), tmp_path / "out", scheduler, partition_rows=40)
    expected = remission.score("sledai2k", pl.concat(frames))
    assert done.parts > 3
    assert done.rows == 148
    assert_frame_equal(pl.read_parquet(sorted((tmp_path / "out").glob("*.parquet"))), expected)


def test_missing_absent_and_no_explain_are_passed_on(tmp_path: Path, scheduler: str) -> None:
    frames = sledai_files(tmp_path / "in")
    score_dataset("sledai2k", tmp_path / "in", tmp_path / "out", scheduler, missing="absent", explain=False)
    expected = remission.score("sledai2k", pl.concat(frames), missing="absent", explain=False)
    out = pl.read_parquet(tmp_path / "out")
    assert "sledai2k_explain" not in out.columns
    assert_frame_equal(out, expected)


def test_long_index_partitions_by_patient_and_equals_in_memory(tmp_path: Path, scheduler: str) -> None:
    frames = long_files(tmp_path / "in")
    done = score_dataset(PGA_CHANGE, tmp_path / "in", tmp_path / "out", scheduler, partition_rows=30)
    expected = score_table(PGA_CHANGE, pl.concat(frames)).scored
    parts = sorted((tmp_path / "out").glob("*.parquet"))
    assert done.parts == len(parts) > 2
    owners: dict[str, int] = {}
    for k, part in enumerate(parts):
        for pid in pl.read_parquet(part)["patient_id"].unique().to_list():
            assert owners.setdefault(pid, k) == k, f"{pid} is in two parts"
    assert len(owners) == 40
    keys = ["patient_id", "day"]
    assert_frame_equal(pl.read_parquet(parts).sort(keys), expected.sort(keys))
    # Baselines were found although each patient's rows were spread over three files.
    assert pl.read_parquet(parts)["pga_baseline"].sum() == 40


def test_invalid_rows_raise_with_dataset_row_numbers_and_write_nothing(tmp_path: Path, scheduler: str) -> None:
    frames = sledai_files(tmp_path / "in")
    bad = frames[1].with_columns(pl.when(pl.int_range(pl.len()) == 4).then(2).otherwise(pl.col("rash")).alias("rash"))
    bad.write_parquet(tmp_path / "in" / "part-1.parquet", row_group_size=16)
    with pytest.raises(InvalidInputError) as caught:
        score_dataset("sledai2k", tmp_path / "in", tmp_path / "out", scheduler, partition_rows=20)
    # Row 5 of the second file is row 50 + 5 = 55 of the dataset (the first file has 50 rows).
    assert [str(p) for p in caught.value.problems] == [
        "row 55, column rash: value 2: must be 0 or 1 (also true/false, yes/no)"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_long_index_problems_keep_their_dataset_row(tmp_path: Path, scheduler: str) -> None:
    frames = long_files(tmp_path / "in")
    bad = frames[2].with_columns(pl.when(pl.int_range(pl.len()) == 7).then(9.5).otherwise(pl.col("pga")).alias("pga"))
    bad.write_parquet(tmp_path / "in" / "visits-2.parquet", row_group_size=10)
    expected = score_table(PGA_CHANGE, pl.concat([frames[0], frames[1], bad])).problems
    with pytest.raises(InvalidInputError) as caught:
        score_dataset(PGA_CHANGE, tmp_path / "in", tmp_path / "out", scheduler, partition_rows=30)
    assert caught.value.problems == expected
    assert [p.row for p in expected] == [70 + 60 + 8]
    assert not (tmp_path / "out").exists()


def test_on_error_skip_writes_valid_rows_and_errors_beside_the_folder(tmp_path: Path, scheduler: str) -> None:
    frames = sledai_files(tmp_path / "in")
    bad = frames[2].with_columns(pl.when(pl.int_range(pl.len()) < 2).then(-1).otherwise(pl.col("fever")).alias("fever"))
    bad.write_parquet(tmp_path / "in" / "part-2.parquet", row_group_size=16)
    table = pl.concat([frames[0], frames[1], bad])
    expected = score_table("sledai2k", table)
    done = score_dataset("sledai2k", tmp_path / "in", tmp_path / "out", scheduler, on_error="skip", partition_rows=30)
    assert done.rejected == 2
    assert done.errors == tmp_path / "out.errors.csv"
    assert_frame_equal(pl.read_parquet(tmp_path / "out"), expected.scored)
    errors = pl.read_csv(done.errors)
    assert errors["row"].to_list() == [88, 89]  # rows 1-2 of the third file; 50 + 37 rows before it
    assert errors["visit_id"].to_list() == ["f2-0", "f2-1"]


def test_an_existing_output_folder_is_replaced(tmp_path: Path, scheduler: str) -> None:
    sledai_files(tmp_path / "in", sizes=(5,))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "stale.parquet").write_bytes(b"old")
    score_dataset("sledai2k", tmp_path / "in", tmp_path / "out", scheduler)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["part-000000.parquet"]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [("nothing/*.parquet", "no Parquet file matches")],
    ids=["no-file"],
)
def test_bad_input_pattern(tmp_path: Path, pattern: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        score_dataset("sledai2k", tmp_path / pattern, tmp_path / "out")


def test_long_index_without_patient_id_fails_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    pl.DataFrame({"day": [0], "pga": [1.0]}).write_parquet(tmp_path / "in" / "a.parquet")
    with pytest.raises(InvalidInputError, match=r"column patient_id: value a\.parquet: required column is missing"):
        score_dataset(PGA_CHANGE, tmp_path / "in", tmp_path / "out")


# --- CLI -----------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_dask_engine_on_a_scheduler_address(tmp_path: Path, scheduler: str) -> None:
    frames = sledai_files(tmp_path / "in")
    result = runner.invoke(
        app,
        [
            "score",
            "sledai2k",
            "--input",
            str(tmp_path / "in" / "*.parquet"),
            "--output",
            str(tmp_path / "out"),
            "--engine",
            "dask",
            "--scheduler",
            scheduler,
            "--no-explain",
        ],
    )
    assert result.exit_code == 0, result.output
    expected = remission.score("sledai2k", pl.concat(frames), explain=False)
    assert_frame_equal(pl.read_parquet(tmp_path / "out"), expected)


def test_cli_dask_engine_exit_2_lists_problems_and_writes_nothing(tmp_path: Path, scheduler: str) -> None:
    (tmp_path / "in").mkdir()
    pl.DataFrame({"rash": [1, 3], "fever": [0, 7]}).write_parquet(tmp_path / "in" / "a.parquet")
    result = runner.invoke(
        app,
        [
            "score",
            "sledai2k",
            "--input",
            str(tmp_path / "in"),
            "--output",
            str(tmp_path / "out"),
            "--engine",
            "dask",
            "--scheduler",
            scheduler,
            "--allow-missing-columns",
        ],
    )
    assert result.exit_code == 2
    assert "row 2, column fever: value 7: must be 0 or 1" in result.output
    assert "row 2, column rash: value 3: must be 0 or 1" in result.output
    assert not (tmp_path / "out").exists()


def test_cli_dask_engine_default_local_cluster_of_processes(tmp_path: Path) -> None:
    frames = sledai_files(tmp_path / "in", sizes=(20, 20))
    result = runner.invoke(
        app,
        [
            "score",
            "sledai2k",
            "--input",
            str(tmp_path / "in" / "*.parquet"),
            "--output",
            str(tmp_path / "out"),
            "--engine",
            "dask",
            "--missing",
            "absent",
        ],
    )
    assert result.exit_code == 0, result.output
    expected = remission.score("sledai2k", pl.concat(frames), missing="absent")
    assert_frame_equal(pl.read_parquet(tmp_path / "out"), expected)


def test_cli_unknown_engine_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["score", "sledai2k", "--input", "x.csv", "--output", str(tmp_path / "o.csv"), "--engine", "spark"]
    )
    assert result.exit_code == 2
    assert "--engine: value spark: expected 'memory' or 'dask'" in result.output
