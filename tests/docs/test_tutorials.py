"""Run every example of the hand-written pages (getting started, tutorials) as a user would.

Each page's ```sh and ```python blocks run in order in a fresh folder, the page's own; a
```csv block with ``title="FILE"`` is written to FILE there first ("save this as FILE"). A
```text block that directly follows a ```sh block is its expected output and is compared.

An HTML comment on the line(s) before a block controls it (invisible on the site):

* ``<!-- docs-test: skip (reason) -->``: shown, never run (e.g. ``make demo`` itself);
* ``<!-- docs-test: requires remission CMD [--option] -->``: run only when ``remission CMD --help``
  works (and lists ``--option``); otherwise skipped, naming what is missing. This marks the steps
  whose commands land with later work (``remission import``, ``simulate``, ``--engine dask``);
* ``<!-- docs-test: postgres -->``: run only with ``$REMISSION_TEST_PG_URL``, with
  ``REMISSION_DB_URL`` set to a throw-away database made for the page;
* ``<!-- docs-test: known-bug (what) -->``: the block fails today because of a bug elsewhere; it
  is an expected failure, and the test fails as soon as it passes, so that the marker goes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = ["getting-started.md", *sorted(p.relative_to(DOCS).as_posix() for p in (DOCS / "tutorials").glob("*.md"))]
RUN = ("sh", "python")
MARKER = re.compile(r"^<!--\s*docs-test:\s*(.*?)\s*-->$")
FENCE = re.compile(r"^```(\w*)\s*(.*)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page and how the tests treat it."""

    page: str
    line: int
    lang: str
    title: str
    body: str
    markers: tuple[str, ...] = ()
    expected_output: str | None = None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}:{self.lang}"


def parse_blocks(page: str, text: str) -> list[Block]:
    """The fenced blocks of a Markdown page with their markers and expected outputs."""
    lines = text.splitlines()
    blocks: list[Block] = []
    markers: list[str] = []
    last_sh: int | None = None  # index in blocks of a sh block that only blank lines follow
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line.strip())
        fence = FENCE.match(line)
        if marker:
            markers.append(marker.group(1))
        elif fence:
            lang, info = fence.group(1), fence.group(2)
            title = re.search(r'title="([^"]+)"', info)
            end = i + 1
            while not lines[end].startswith("```"):
                end += 1
            body = "\n".join(lines[i + 1 : end]) + "\n"
            if lang == "text" and last_sh is not None:
                blocks[last_sh] = Block(**{**blocks[last_sh].__dict__, "expected_output": body})
            blocks.append(Block(page, i + 1, lang, title.group(1) if title else "", body, tuple(markers)))
            last_sh = len(blocks) - 1 if lang == "sh" else None
            markers = []
            i = end
        elif line.strip():
            last_sh = None
            markers = []
        i += 1
    return blocks


def page_blocks(page: str) -> list[Block]:
    return parse_blocks(page, (DOCS / page).read_text(encoding="utf-8"))


def runnable(page: str) -> list[Block]:
    return [b for b in page_blocks(page) if b.lang in RUN or (b.title and b.lang not in RUN)]


@cache
def command_help(path: tuple[str, ...]) -> str | None:
    """``remission PATH --help``, or None when that command does not exist (yet)."""
    from typer.testing import CliRunner

    from remission.cli.main import app

    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    return result.output if result.exit_code == 0 else None


def missing_requirement(block: Block) -> str | None:
    """Why the block cannot run here, or None when it can."""
    for marker in block.markers:
        if marker.startswith("skip"):
            return f"not run by the tests: {marker[4:].strip(' ()')}"
        if marker.startswith("requires remission"):
            words = marker.split()[2:]
            path = tuple(w for w in words if not w.startswith("--"))
            shown = command_help(path)
            if shown is None:
                return f"needs `remission {' '.join(path)}`, which this build does not have yet"
            absent = [w for w in words if w.startswith("--") and w not in shown]
            if absent:
                return f"needs `remission {' '.join(path)} {' '.join(absent)}`, which this build does not have yet"
        elif marker == "postgres" and not os.environ.get("REMISSION_TEST_PG_URL"):
            return "needs PostgreSQL: set REMISSION_TEST_PG_URL"
        elif not marker.startswith(("requires", "postgres", "known-bug")):
            raise ValueError(f"{block.id}: unknown docs-test marker {marker!r}")
    return None


@dataclass
class PageState:
    """What the blocks of one page share: their folder, Python namespace and database."""

    folder: Path
    namespace: dict[str, Any] = field(default_factory=dict)
    failed: str | None = None
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PageState]]:
    cleanups: list[Any] = []

    class Pages(dict[str, PageState]):
        def __missing__(self, page: str) -> PageState:
            folder = tmp_path_factory.mktemp(Path(page).stem)
            env = {
                **os.environ,
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
                "NO_COLOR": "1",
                "COLUMNS": "100",
            }
            env.pop("REMISSION_DB_URL", None)
            if os.environ.get("REMISSION_TEST_PG_URL") and any("postgres" in b.markers for b in page_blocks(page)):
                env["REMISSION_DB_URL"] = _throwaway_database(cleanups)
            state = PageState(folder, {"__name__": "__docs__"}, None, env)
            self[page] = state
            return state

    pages = Pages()
    yield pages
    for state in pages.values():  # close what the pages' Python blocks opened (database engines)
        for value in state.namespace.values():
            if type(value).__name__ == "Engine" and hasattr(value, "dispose"):
                value.dispose()
        state.namespace.clear()
    for cleanup in cleanups:
        cleanup()


def _throwaway_database(cleanups: list[Any]) -> str:
    from sqlalchemy import create_engine, text

    base = os.environ["REMISSION_TEST_PG_URL"]
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    name = f"remission_docs_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    cleanups.append(drop)
    return base.rsplit("/", 1)[0] + "/" + name


def _run_block(block: Block, state: PageState, monkeypatch: pytest.MonkeyPatch) -> None:
    if block.lang not in RUN:
        (state.folder / block.title).write_text(block.body, encoding="utf-8")
        return
    if block.lang == "sh":
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.body],
            cwd=state.folder,
            env=state.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{block.id} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        if block.expected_output is not None:
            got = [line.rstrip() for line in done.stdout.strip().splitlines()]
            assert got == [line.rstrip() for line in block.expected_output.strip().splitlines()], block.id
        return
    monkeypatch.chdir(state.folder)
    for key in ("PATH", "PYTHONPATH"):
        monkeypatch.setenv(key, state.env[key])
    if "REMISSION_DB_URL" in state.env:
        monkeypatch.setenv("REMISSION_DB_URL", state.env["REMISSION_DB_URL"])
    exec(compile(block.body, f"{block.page}:{block.line}", "exec"), state.namespace)


ALL = [b for page in PAGES for b in runnable(page)]


def test_every_page_has_examples_that_run() -> None:
    assert {"getting-started.md", "tutorials/crs-icans.md", "tutorials/redcap-to-report.md"} <= set(PAGES)
    for page in PAGES:
        assert any(b.lang in RUN and not missing_requirement(b) for b in page_blocks(page)) or page in (
            "tutorials/virtual-trial.md",
        ), f"{page} has no example that the tests run"


def test_parse_blocks_reads_markers_files_and_outputs() -> None:
    text = (
        "Intro\n\n<!-- docs-test: skip (setup) -->\n```sh\nmake demo\n```\n\n"
        '```csv title="a.csv"\nx\n1\n```\n\n```sh\ncat a.csv\n```\n\n```text\nx\n1\n```\n'
    )
    blocks = parse_blocks("p.md", text)
    assert [(b.lang, b.title, b.markers) for b in blocks] == [
        ("sh", "", ("skip (setup)",)),
        ("csv", "a.csv", ()),
        ("sh", "", ()),
        ("text", "", ()),
    ]
    assert blocks[2].expected_output == "x\n1\n" and blocks[0].expected_output is None


@pytest.mark.parametrize("block", ALL, ids=[b.id for b in ALL])
def test_docs_example(block: Block, states: dict[str, PageState], monkeypatch: pytest.MonkeyPatch) -> None:
    state = states[block.page]
    if state.failed:
        pytest.skip(f"an earlier block of {block.page} failed: {state.failed}")
    why = missing_requirement(block)
    if why:
        pytest.skip(why)
    bug = next((m[len("known-bug") :].strip(" ()") for m in block.markers if m.startswith("known-bug")), None)
    try:
        _run_block(block, state, monkeypatch)
    except Exception as error:
        if bug:
            pytest.xfail(f"known bug: {bug} ({type(error).__name__})")
        state.failed = block.id
        raise
    except BaseException:
        state.failed = block.id
        raise
    if bug:
        pytest.fail(f"{block.id} passes now: remove its known-bug marker ({bug})")
