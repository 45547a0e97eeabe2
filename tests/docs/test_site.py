"""The documentation site builds strictly (any warning is an error), as `make docs` does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
        "NO_MKDOCS_2_WARNING": "1",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    return out


def test_site_builds_strictly_with_every_section(site: Path) -> None:
    for page in (
        "index.html",
        "getting-started.html",
        "report.html",
        "architecture.html",
        "dependencies.html",
        "tutorials/redcap-to-report.html",
        "tutorials/crs-icans.html",
        "tutorials/virtual-trial.html",
        "tutorials/scale-out.html",
        "concepts/data-model.html",
        "concepts/versions.html",
        "concepts/validation.html",
        "reference/cli.html",
        "reference/python-api.html",
        "reference/python-indices.html",
        "reference/indices/index.html",
    ):
        assert (site / page).is_file(), page


def test_every_index_and_decision_has_a_page(site: Path) -> None:
    from remission.indices import registry

    for name in registry():
        html = (site / "reference" / "indices" / f"{name}.html").read_text(encoding="utf-8")
        assert registry()[name].title.split(" — ")[0].split(" (")[0] in html, name
    for decision in (ROOT / "docs" / "decisions").glob("*.md"):
        assert (site / "decisions" / f"{decision.stem}.html").is_file(), decision.name


def test_python_api_reference_renders_docstrings(site: Path) -> None:
    html = (site / "reference" / "python-api.html").read_text(encoding="utf-8")
    # remission.score's own docstring, rendered by mkdocstrings
    assert 'id="remission.api.score"' in html
    assert "InvalidInputError" in html
