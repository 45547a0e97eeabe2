"""Generate the documentation pages that are read off the code itself.

Every page here is rebuilt on each ``mkdocs build`` (by ``docs/hooks.py``) from the same objects
the program uses, so the reference cannot drift from the code:

* ``reference/indices/<name>.md``: one page per index of :func:`remission.indices.registry`
  (columns with kind/unit/allowed values, outputs, options, source, DOI, version, missing-data
  rule, layout, the module's criteria tables, its docstring examples and a command-line example
  on the demo cohort);
* ``reference/cli.md``: the ``--help`` of every command of the typer app;
* ``reference/python-indices.md``: the API reference of each index module (mkdocstrings);
* ``concepts/data-model.md``: the pydantic records and the store's tables;
* ``concepts/versions.md``: the version and grading systems of every index;
* ``concepts/validation.md``: the tests of each index and the oracles they check against.

Run ``python docs/gen_pages.py OUTDIR`` to write them to a folder for reading.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import importlib
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
#: Rows shown in a command-line example.
EXAMPLE_ROWS = 4
DEMO_SEED = 2024


# --------------------------------------------------------------------------------------------
# Small Markdown helpers
# --------------------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """A value as the text of one Markdown table cell (pipes escaped, no line breaks)."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, tuple | list | frozenset | set):
        text = ", ".join(cell(v) for v in value)
    elif isinstance(value, dict):
        text = "; ".join(f"{cell(k)}: {cell(v)}" for k, v in value.items())
    elif isinstance(value, enum.Enum):
        text = str(value.value)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def code(text: str) -> str:
    """Inline code, safe for backticks in the text."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


_ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`]+)`")
_DOI = re.compile(r"doi:\s?(10\.\d{4,9}/[^\s;,)]+[^\s;,.)])")


def rst_to_markdown(doc: str) -> str:
    """Turn a numpydoc/reST docstring into Markdown: roles, literals, sections and doctests.

    ``>>>`` sessions become ``pycon`` code blocks; a section title underlined with dashes becomes
    a bold line; Sphinx roles become inline code; ``doi:10...`` becomes a link.
    """
    doc = inspect.cleandoc(doc)
    doc = _ROLE.sub(lambda m: "`" + (m.group(2).split(".")[-1] if m.group(1) else m.group(2)) + "`", doc)
    doc = doc.replace("``", "`")
    lines = doc.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if _is_section(line, nxt):
            out += [f"**{line.strip()}**", ""]
            i += 2
            if line.strip() in FIELD_SECTIONS:
                i = _field_list(lines, i, out)
            continue
        if line.lstrip().startswith(">>>"):
            indent = len(line) - len(line.lstrip())
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][indent:])
                i += 1
            out += ["```pycon", *block, "```"]
            continue
        out.append(_DOI.sub(lambda m: f"[doi:{m.group(1)}](https://doi.org/{m.group(1)})", line))
        i += 1
    return "\n".join(out).strip() + "\n"


FIELD_SECTIONS = ("Parameters", "Returns", "Raises", "Yields", "Attributes", "Other Parameters")


def _is_section(line: str, nxt: str) -> bool:
    return (
        bool(line.strip()) and bool(re.fullmatch(r"-{3,}", nxt.strip())) and len(nxt.strip()) >= len(line.strip()) - 1
    )


def _field_list(lines: list[str], i: int, out: list[str]) -> int:
    """numpydoc ``name : type`` entries with indented descriptions → a Markdown bullet list."""
    items: list[str] = []
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if _is_section(line, nxt):
            break
        if line.strip() and not line.startswith(" "):
            name, _, kind = line.partition(" : ")
            items.append(f"- `{name.strip()}`" + (f" ({kind.strip()})" if kind else "") + ":")
        elif line.strip() and items:
            items[-1] += " " + line.strip()
        i += 1
    out += [*items, ""]
    return i


def first_line(doc: str | None) -> str:
    return inspect.cleandoc(doc).splitlines()[0] if doc else ""


# --------------------------------------------------------------------------------------------
# Index pages
# --------------------------------------------------------------------------------------------


def registry() -> dict[str, Any]:
    from remission.indices import registry as reg

    return reg()


def index_module(definition: Any) -> types.ModuleType:
    """The module that defines an index (where its criteria tables live)."""
    return importlib.import_module(definition.compute.__module__)


def _attribute_comments(module: types.ModuleType) -> dict[str, str]:
    """``#:`` comments written above module-level names (Sphinx's attribute doc comments)."""
    try:
        source = inspect.getsource(module).splitlines()
    except (OSError, TypeError):
        return {}
    found: dict[str, str] = {}
    for n, line in enumerate(source):
        match = re.match(r"^([A-Z][A-Z0-9_]*)\s*(?::[^=]+)?=", line)
        if not match:
            continue
        comments = []
        k = n - 1
        while k >= 0 and source[k].startswith("#:"):
            comments.insert(0, source[k][2:].strip())
            k -= 1
        if comments:
            found[match.group(1)] = " ".join(comments)
    return found


def criteria_tables(module: types.ModuleType) -> list[tuple[str, str, list[str], list[list[Any]]]]:
    """The module's criteria as data: every upper-case tuple (or dict) of dataclass instances.

    Returns ``(name, comment, header, rows)`` for each, in the order the module defines them.
    Column specs, options and index definitions are shown elsewhere and left out.
    """
    from remission.indices._base import Column, IndexDefinition, Option

    comments = _attribute_comments(module)
    tables = []
    for name, value in vars(module).items():
        if not name.isupper() or not isinstance(value, tuple | dict) or not value:
            continue
        items = list(value.values()) if isinstance(value, dict) else list(value)
        if not all(dataclasses.is_dataclass(v) and not isinstance(v, type) for v in items):
            continue
        if isinstance(items[0], Column | Option | IndexDefinition):
            continue
        fields = [f.name for f in dataclasses.fields(items[0])]
        if any(not dataclasses.is_dataclass(v) or [f.name for f in dataclasses.fields(v)] != fields for v in items):
            continue
        rows = [[_table_value(getattr(v, f)) for f in fields] for v in items]
        tables.append((name, comments.get(name, ""), fields, rows))
    return tables


def _table_value(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return "; ".join(f"{f.name}={cell(getattr(value, f.name))}" for f in dataclasses.fields(value))
    if isinstance(value, tuple | list) and value and all(isinstance(v, tuple) for v in value):
        return "; ".join("(" + ", ".join(cell(x) for x in v) + ")" for v in value)
    return value


def _columns_table(definition: Any) -> str:
    rows = []
    for c in definition.all_columns():
        rows.append([code(c.code), c.kind, c.unit, c.allowed(), "yes" if c.required else "", c.description])
    return table(["code", "kind", "unit", "allowed values", "required", "description"], rows)


def _options_table(definition: Any) -> str:
    if not definition.options:
        return "None.\n"
    rows = [
        [code(o.name), code(o.flag), o.kind if not o.choices else "one of " + ", ".join(o.choices), o.default, o.help]
        for o in definition.options
    ]
    return table(["API keyword", "CLI flag", "kind", "default", "meaning"], rows)


LAYOUTS = {
    "wide": "one row per assessment, one column per item; outputs are added to every input row.",
    "long": "one row per assessment with `patient_id` and `day` (days from CAR-T infusion); "
    "baseline is the latest assessment with `day <= 0` unless a `baseline` column (0/1) marks one "
    "row per patient.",
    "per_patient": "one row per assessment with `patient_id` and `day` in, one row per patient out.",
}


def _doi_link(doi: str) -> str:
    return f"[{doi}](https://doi.org/{doi})" if doi else "none given in the source table"


def index_page(name: str) -> str:
    """The reference page of one index."""
    d = registry()[name]
    module = index_module(d)
    parts = [f"# {name}\n", f"**{d.title}**\n"]
    parts.append(
        '!!! info "Generated page"\n'
        f"    Written at build time from `{module.__name__}`: its `IndexDefinition`, criteria tables and\n"
        "    docstrings. The code and this page cannot disagree.\n"
    )
    parts.append(
        table(
            ["", ""],
            [
                ["source", d.source],
                ["DOI", _doi_link(d.doi)],
                ["version", d.version],
                ["layout", f"`{d.layout}`: {LAYOUTS.get(d.layout, '')}"],
                ["missing data", d.missing_rule],
                ["outputs", ", ".join(code(o) for o in d.outputs)],
                ["module", code(module.__name__)],
            ],
        )
    )
    parts.append("## Definition\n")
    parts.append(rst_to_markdown(module.__doc__ or ""))
    parts.append("## Input columns\n")
    parts.append(
        "Column codes are the public contract (CSV headers, API fields, database item codes). An empty "
        "cell is missing, never an error; a value outside the allowed range is an error naming row, "
        "column and value.\n"
    )
    parts.append(_columns_table(d))
    parts.append("## Outputs\n")
    parts.append(
        "Every input column is kept and these are added (`*_explain` only with `explain=True`, the "
        "default; CLI `--no-explain` leaves it out):\n"
    )
    parts.append("\n".join(f"- {code(o)}" for o in d.outputs) + "\n")
    parts.append("## Options\n")
    parts.append(_options_table(d))
    tables = criteria_tables(module)
    if tables:
        parts.append("## Criteria tables\n")
        parts.append(
            "The tables below are the module's data that both the vectorised and the scalar form read "
            "(criteria as data: a new version of a grading system is a new row, not new code).\n"
        )
        for tname, comment, header, rows in tables:
            parts.append(f"### `{tname}`\n")
            if comment:
                parts.append(rst_to_markdown(comment))
            parts.append(table(header, rows))
    parts.append("## Scalar form\n")
    scalar = d.scalar
    parts.append(
        f"`{module.__name__}.{scalar.__name__}` scores one visit and explains each contribution "
        f"(its parameters: [Python API of the indices](../python-indices.md#{module.__name__})).\n"
    )
    parts.append(rst_to_markdown(scalar.__doc__ or ""))
    parts.append("## Command-line example on the demo cohort\n")
    parts.append(_cli_example(name))
    parts.append("## Validation\n")
    parts.append(
        "The tests this index is checked against are listed in "
        f"[validation evidence](../../concepts/validation.md#{name}).\n"
    )
    return "\n".join(parts)


@functools.cache
def _demo_assessments() -> Any:
    """The demo cohort's stored assessments (with medication exposure), built in memory."""
    from remission.demo.cohort import generate_demo_cohort
    from remission.pipeline import with_medication_exposure
    from remission.store import assessment_table, connect, migrate, read_table, save_cohort

    engine = connect("sqlite://")
    migrate(engine)
    save_cohort(engine, generate_demo_cohort(DEMO_SEED), actor="docs")
    return with_medication_exposure(assessment_table(engine), read_table(engine, "medications"))


@functools.cache
def demo_example(name: str) -> tuple[str, str] | None:
    """A few demo-cohort rows that the index scores, as ``(input CSV, scored CSV)``; None if none.

    Long indices take the first patient's first rows (baseline included); wide indices take rows
    whose first output differs, so that the example shows more than one result.
    """
    import polars as pl

    import remission
    from remission.pipeline import assessments_for

    d = registry()[name]
    if d.layout == "per_patient":
        return None
    rows = assessments_for(d, _demo_assessments())
    if rows.is_empty():
        return None
    if d.layout == "long":
        first = rows["patient_id"][0]
        rows = rows.filter(pl.col("patient_id") == first).head(EXAMPLE_ROWS)
    else:
        scored = remission.score(name, rows.drop("assessment_id"), explain=False)
        key = d.outputs[0]
        picked = scored.with_row_index("_i").unique(subset=[key], keep="first", maintain_order=True)["_i"]
        rows = rows[picked.head(EXAMPLE_ROWS).to_list()]
    rows = rows.drop("assessment_id")
    rows = rows.select([c for c in rows.columns if rows[c].null_count() < rows.height])
    scored = remission.score(name, rows)
    return rows.write_csv(), scored.select(list(d.outputs)).write_csv()


def _cli_example(name: str) -> str:
    example = demo_example(name)
    if example is None:
        return (
            "The demo cohort has no assessment this index scores on its own; see the examples above "
            "(they run as doctests).\n"
        )
    given, expected = example
    import polars as pl

    out = pl.read_csv(expected.encode(), infer_schema_length=None)
    return "\n".join(
        [
            f"Rows of the synthetic demo cohort that `{name}` scores, as `example.csv` (only the non-empty columns):\n",
            '```csv title="example.csv"',
            given.rstrip("\n"),
            "```\n",
            "```sh",
            f"remission score {name} --input example.csv --output scored.csv",
            "```\n",
            "`scored.csv` keeps every input column and adds:\n",
            table([code(c) for c in out.columns], [list(r) for r in out.iter_rows()]),
            "`tests/docs/test_index_pages.py` runs this example through the command line on every "
            "build of the test suite.\n",
        ]
    )


def indices_overview() -> str:
    """The index of the index reference."""
    rows = []
    for name, d in registry().items():
        rows.append([f"[{name}]({name}.md)", d.title, d.layout, d.version, ", ".join(o.flag for o in d.options)])
    return "\n".join(
        [
            "# Indices\n",
            "Every index of `remission.indices.registry()`, one generated page each: the input column "
            "codes, allowed values and units, outputs, options, source with DOI, version, missing-data "
            "rule, the criteria tables the code reads, and examples that run as tests.\n",
            table(["index", "title", "layout", "version", "options"], rows),
            "Score any of them with `remission score INDEX --input IN.csv --output OUT.csv` or "
            '`remission.score("INDEX", table)`; [the command line](../cli.md) and the '
            "[Python API](../python-api.md) give the details.\n",
        ]
    )


def python_indices_page() -> str:
    """mkdocstrings directives for every index module (the scalar forms' parameters)."""
    modules = sorted({d.compute.__module__ for d in registry().values()})
    parts = [
        "# Python API: index modules\n",
        "Each index module: its criteria tables and the scalar form `score_visit` (one visit, with "
        "explanation). For tables use `remission.score`, which runs the vectorised form.\n",
    ]
    for module in modules:
        parts.append(
            f"::: {module}\n"
            "    options:\n"
            "      show_root_heading: true\n"
            "      members_order: source\n"
            '      filters: ["!^_", "!^compute", "!^INDEX"]\n'
        )
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# CLI reference
# --------------------------------------------------------------------------------------------


def cli_commands() -> Iterator[tuple[list[str], Any]]:
    """Every command of the typer app as (path of names, click command), depth first."""
    import typer

    from remission.cli.main import app

    root = typer.main.get_command(app)

    def walk(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
        # typer vendors its own click: a group is whatever has sub-commands
        yield path, command
        for sub, child in (getattr(command, "commands", None) or {}).items():
            yield from walk(child, [*path, sub])

    yield from walk(root, [])


def cli_help(path: list[str]) -> str:
    """The ``--help`` text of ``remission <path>``, as the terminal shows it at 100 columns."""
    from typer.testing import CliRunner

    from remission.cli.main import app

    result = CliRunner().invoke(
        app, [*path, "--help"], prog_name="remission", env={"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    )
    if result.exit_code != 0:
        raise RuntimeError(f"remission {' '.join(path)} --help exited {result.exit_code}: {result.output}")
    return "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())


def cli_page() -> str:
    parts = [
        "# Command line\n",
        '!!! info "Generated page"\n'
        "    The `--help` of every command of `remission`, captured from the program at build time.\n",
        "Exit codes: 0 success; 2 invalid input (every problem listed on stderr as "
        "`row N, column C: value V: reason`, nothing written). The database is "
        "`--db URL`, else `$REMISSION_DB_URL`, else `sqlite:///remission.db`.\n",
    ]
    for path, _command in cli_commands():
        title = " ".join(["remission", *path])
        parts.append(f"## {title}\n" if path else "## remission\n")
        parts.append("```text\n" + cli_help(path) + "\n```\n")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------


def _type_name(annotation: Any) -> str:
    if annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation) if a is not Ellipsis)
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    return getattr(annotation, "__name__", str(annotation)).replace("typing.", "")


def _constraints(info: Any) -> str:
    found = []
    for meta in info.metadata:
        for attr in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            value = getattr(meta, attr, None)
            if value is not None:
                found.append(f"{attr}={value}")
    return ", ".join(found)


def data_model_page() -> str:
    from pydantic import BaseModel
    from pydantic_core import PydanticUndefined

    import remission.model as model

    parts = [
        "# Data model\n",
        '!!! info "Generated page"\n'
        "    Read at build time from the pydantic models of `remission.model` and the SQLAlchemy tables "
        "of `remission.store.schema`.\n",
        "Records are frozen pydantic v2 models that refuse unknown fields. Every dated record also "
        "carries `day`, its day relative to the CAR-T infusion (infusion = day 0, screening negative). "
        "Assessments keep their items as a mapping of spec column codes to values, tagged with the "
        "`form` they were recorded on.\n",
        "## Records\n",
    ]
    enums = []
    for name in model.__all__:
        obj = getattr(model, name)
        if isinstance(obj, type) and issubclass(obj, enum.Enum):
            enums.append(obj)
            continue
        if not (isinstance(obj, type) and issubclass(obj, BaseModel)):
            continue
        parts.append(f"### {name}\n")
        parts.append(rst_to_markdown(obj.__doc__ or ""))
        rows = []
        for field, info in obj.model_fields.items():
            required = info.is_required()
            default = "" if required or info.default is PydanticUndefined else repr(info.default)
            if info.default_factory is not None:
                default = f"{info.default_factory.__name__}()"
            rows.append(
                [
                    code(field),
                    code(_type_name(info.annotation)),
                    "yes" if required else "",
                    default,
                    _constraints(info),
                    info.description or "",
                ]
            )
        parts.append(table(["field", "type", "required", "default", "constraints", "description"], rows))
    if enums:
        parts.append("## Enumerations\n")
        parts.append(table(["name", "values"], [[e.__name__, ", ".join(code(str(m.value)) for m in e)] for e in enums]))
    parts.append("## Store tables\n")
    parts.append(
        "The registry database (SQLite by default, PostgreSQL for scale) holds these tables, built by "
        "the Alembic migrations of `remission.store.migrations` (`remission init`).\n"
    )
    from remission.store import schema

    for tab in schema.metadata.sorted_tables:
        parts.append(f"### `{tab.name}`\n")
        rows = [
            [
                code(c.name),
                str(c.type),
                "yes" if c.primary_key else "",
                "" if c.nullable else "yes",
                ", ".join(fk.target_fullname for fk in c.foreign_keys),
            ]
            for c in tab.columns
        ]
        parts.append(table(["column", "type", "primary key", "not null", "references"], rows))
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# Versions of criteria
# --------------------------------------------------------------------------------------------


def versions_page() -> str:
    rows = []
    for name, d in registry().items():
        choices = [f"{o.flag}: {', '.join(o.choices)} (default {o.default})" for o in d.options if o.choices]
        rows.append(
            [f"[{name}](../reference/indices/{name}.md)", d.version, d.source, _doi_link(d.doi), "; ".join(choices)]
        )
    return "\n".join(
        [
            "# Versions of criteria\n",
            '!!! info "Generated page"\n    Read from `remission.indices.registry()` at build time.\n',
            "Every index carries a `version`, stored with each score (`scores.index_version`), so a "
            "result can always be traced to the criteria that produced it. Grading systems that are "
            "revised (ASTCT, EHA/EBMT, protocols) are data: a new version is a new entry in the "
            "module's table, chosen with an option, and the default stays until it is changed on "
            "purpose. `remission rescore` scores every stored assessment again after such a change.\n",
            table(["index", "version", "source", "DOI", "versions selectable by option"], rows),
        ]
    )


# --------------------------------------------------------------------------------------------
# Validation evidence, read from tests/
# --------------------------------------------------------------------------------------------

ORACLE_WORDS = ("against", "published", "worked", "example", "hand")


@dataclasses.dataclass(frozen=True)
class Evidence:
    """One test function of an index's test module, as the evidence page shows it."""

    name: str
    comment: str
    ids: tuple[str, ...]

    @property
    def is_oracle(self) -> bool:
        return any(w in self.name for w in ORACLE_WORDS)


def _leading_comment(lines: list[str], lineno: int) -> str:
    comments = []
    k = lineno - 2
    while k >= 0 and lines[k].lstrip().startswith("#"):
        comments.insert(0, lines[k].strip().lstrip("#").strip())
        k -= 1
    return " ".join(comments)


def _data_comment(decorators: list[ast.expr], constants: dict[str, int], lines: list[str]) -> str:
    """The comment above a module-level table that a parametrize decorator reads."""
    for dec in decorators:
        for name in ast.walk(dec):
            if isinstance(name, ast.Name) and name.id in constants:
                found = _leading_comment(lines, constants[name.id])
                if found:
                    return found
    return ""


def _imported_ids(path: Path, function: str) -> tuple[str, ...]:
    """Parametrize ids computed in the test file (e.g. ``ids=[c[0] for c in CASES]``)."""
    module = _test_module(path)
    marks = getattr(getattr(module, function, None), "pytestmark", [])
    ids: list[str] = []
    for mark in marks:
        given = mark.kwargs.get("ids") if mark.name == "parametrize" else None
        if isinstance(given, list | tuple):
            ids += [str(i) for i in given]
    return tuple(ids)


@functools.cache
def _test_module(path: Path) -> types.ModuleType | None:
    import importlib.util

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    spec = importlib.util.spec_from_file_location(f"_docs_evidence_{path.stem}", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception:  # a test file that cannot be imported here only loses its computed ids
        return None
    return module


def _param_ids(decorators: list[ast.expr]) -> tuple[str, ...]:
    ids: list[str] = []
    for dec in decorators:
        if not isinstance(dec, ast.Call):
            continue
        for kw in dec.keywords:
            if kw.arg == "ids" and isinstance(kw.value, ast.List | ast.Tuple):
                ids += [e.value for e in kw.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return tuple(ids)


def collect_tests(path: Path) -> list[Evidence]:
    """The test functions of one file with the comment above each and its parametrize ids."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    constants = {
        t.id: node.lineno
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(t, ast.Name)
    }
    cases = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            start = min([node.lineno, *[d.lineno for d in node.decorator_list]])
            inside = [
                lines[k].strip().lstrip("#").strip()
                for k in range(start - 1, node.lineno - 1)
                if lines[k].lstrip().startswith("#")
            ]
            comment = (
                _leading_comment(lines, start)
                or first_line(ast.get_docstring(node))
                or " ".join(inside)
                or _data_comment(node.decorator_list, constants, lines)
            )
            ids = _param_ids(node.decorator_list) or _imported_ids(path, node.name)
            cases.append(Evidence(node.name, comment, ids))
    return cases


def evidence_files(name: str) -> list[Path]:
    """Test files of an index: tests/indices/test_<module>.py (and CLI tests naming the index)."""
    module = registry()[name].compute.__module__.rsplit(".", 1)[-1]
    candidates = [TESTS / "indices" / f"test_{module}.py", TESTS / "indices" / f"test_{module}_index.py"]
    return [p for p in candidates if p.exists()]


def validation_page() -> str:
    parts = [
        "# Validation evidence\n",
        '!!! info "Generated page"\n'
        "    Read from the test files under `tests/indices/` at build time: every test function of "
        "each index, the comment that says where its expected values come from, and its cases.\n",
        "Expected values in the tests come from outside the code: published worked examples, the "
        "public example cases of the specifications, official calculators, or hand computation from "
        "the published criteria — never from the formula under test. Tests whose names say "
        "*against*, *published*, *worked*, *example* or *hand* are those oracles; the others check "
        "boundaries, missing data (three-valued logic), invalid input, and properties (monotonicity, "
        "scalar form = vectorised form on random tables with hypothesis). Every index is also "
        "covered by `tests/test_index_contract.py` (documentation, range errors, scalar = vectorised) "
        "and by `make check-examples` (the public example cases).\n",
    ]
    for name in registry():
        parts.append(f"## {name}\n")
        files = evidence_files(name)
        if not files:
            parts.append("No test module of its own; covered by the contract tests.\n")
            continue
        for path in files:
            cases = collect_tests(path)
            rel = path.relative_to(ROOT).as_posix()
            ordered = [c for c in cases if c.is_oracle] + [c for c in cases if not c.is_oracle]
            parts.append(f"`{rel}`: {len(cases)} tests, {sum(c.is_oracle for c in cases)} against oracles.\n")
            parts.append(
                table(
                    ["test", "checks", "cases", "where the expected values come from / what it checks"],
                    [
                        [code(c.name), "oracle" if c.is_oracle else "rule", ", ".join(c.ids) or "", c.comment]
                        for c in ordered
                    ],
                )
            )
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------
# All pages
# --------------------------------------------------------------------------------------------


def pages() -> dict[str, Callable[[], str]]:
    """Every generated page: its path under docs/ → a function that writes it."""
    found: dict[str, Callable[[], str]] = {
        "reference/indices/index.md": indices_overview,
        "reference/cli.md": cli_page,
        "reference/python-indices.md": python_indices_page,
        "concepts/data-model.md": data_model_page,
        "concepts/versions.md": versions_page,
        "concepts/validation.md": validation_page,
    }
    for name in registry():
        found[f"reference/indices/{name}.md"] = functools.partial(index_page, name)
    return found


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "generated-docs")
    for rel, write in pages().items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(write(), encoding="utf-8")
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
