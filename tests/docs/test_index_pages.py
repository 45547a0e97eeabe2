"""The generated reference pages (docs/gen_pages.py) say what the code does, and their examples run."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from remission.cli.main import app
from remission.indices import registry

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs"))

import gen_pages  # noqa: E402

NAMES = sorted(registry())


def test_every_index_of_the_registry_has_a_generated_page() -> None:
    pages = gen_pages.pages()
    assert {f"reference/indices/{n}.md" for n in NAMES} <= set(pages)
    overview = pages["reference/indices/index.md"]()
    assert all(f"]({n}.md)" in overview for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_index_page_shows_the_definition(name: str) -> None:
    d = registry()[name]
    page = gen_pages.index_page(name)
    assert d.source.split(".")[0] in page and d.version in page and d.missing_rule in page
    if d.doi:
        assert f"https://doi.org/{d.doi}" in page
    for column in d.all_columns():
        assert f"| `{column.code}` | {column.kind} |" in page, column.code
    for output in d.outputs:
        assert f"`{output}`" in page
    for option in d.options:
        assert option.flag in page


def test_criteria_tables_are_read_from_the_module() -> None:
    # SLEDAI-2K weights of Gladman 2002 as the module's ITEMS table holds them: seizure 8, fever 1.
    page = gen_pages.index_page("sledai2k")
    assert "### `ITEMS`" in page
    assert "| seizure | recent onset, excluding metabolic, infectious or drug causes | 8 | False |" in page
    assert "| fever | > 38 °C; excl. infectious cause | 1 | False |" in page


EXAMPLES = [n for n in NAMES if gen_pages.demo_example(n) is not None]


def test_demo_examples_cover_the_indices_the_demo_scores() -> None:
    # icaht (per patient) and regimen (no assessments in the demo) are shown by doctests only.
    assert {"sledai2k", "crs", "icans", "ice", "myositis-tis", "criss", "lldas"} <= set(EXAMPLES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_index_page_cli_example_runs(name: str, tmp_path: Path) -> None:
    given, shown = gen_pages.demo_example(name)
    (tmp_path / "example.csv").write_text(given, encoding="utf-8")
    result = CliRunner().invoke(
        app, ["score", name, "--input", str(tmp_path / "example.csv"), "--output", str(tmp_path / "scored.csv")]
    )
    assert result.exit_code == 0, result.output
    outputs = list(registry()[name].outputs)
    got = pl.read_csv(tmp_path / "scored.csv", infer_schema_length=None).select(outputs)
    expected = pl.read_csv(shown.encode(), infer_schema_length=None).select(outputs)
    assert got.equals(expected), f"{got}\n!=\n{expected}"
    assert f"remission score {name} --input example.csv --output scored.csv" in gen_pages.index_page(name)


def test_cli_reference_has_every_command_with_its_current_help() -> None:
    page = gen_pages.cli_page()
    commands = list(gen_pages.cli_commands())
    assert len(commands) > 5
    for path, command in commands:
        assert f"## {' '.join(['remission', *path])}\n" in page
        assert gen_pages.cli_help(path) in page
        if command.help:
            first = command.help.split()[0]
            assert first in page


def test_data_model_lists_every_record_field() -> None:
    from pydantic import BaseModel

    import remission.model as model

    page = gen_pages.data_model_page()
    for name in model.__all__:
        obj = getattr(model, name)
        if isinstance(obj, type) and issubclass(obj, BaseModel):
            assert f"### {name}\n" in page
            for field in obj.model_fields:
                assert f"| `{field}` |" in page, f"{name}.{field}"


def test_validation_page_names_the_oracle_tests() -> None:
    page = gen_pages.validation_page()
    assert "`test_tis_against_aggarwal_2017_example` | oracle | A, B, C |" in page
    assert all(f"## {n}\n" in page for n in NAMES)


def test_rst_to_markdown() -> None:
    doc = """Title.

    See :data:`ITEMS` and :func:`~remission.api.score`, ``code``, doi:10.1000/xyz.

    Parameters
    ----------
    visit : mapping
        Codes to
        values.

    Examples
    --------
    >>> 1 + 1
    2
    """
    md = gen_pages.rst_to_markdown(doc)
    assert "See `ITEMS` and `score`, `code`, [doi:10.1000/xyz](https://doi.org/10.1000/xyz)." in md
    assert "- `visit` (mapping): Codes to values." in md
    assert "```pycon\n>>> 1 + 1\n2\n```" in md
