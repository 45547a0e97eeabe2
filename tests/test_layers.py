"""The package layering (pyproject.toml [tool.importlinter], run by `make lint`) holds, and an
upward import breaks it: the check is run on a copy of the package with one probe module added."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed (make install)")


def lint_imports(src: Path, config: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the package under ``src`` (not the installed one) with ``config``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=src.parent,
        env=env,
        timeout=120,
        check=False,
    )


def package_copy(tmp_path: Path, probe: str | None = None, where: str = "store") -> Path:
    """A copy of src/remission (and pyproject.toml) in ``tmp_path``, with ``probe`` as
    ``remission/<where>/_layer_probe.py`` when given."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "remission", src / "remission", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if probe is not None:
        (src / "remission" / where / "_layer_probe.py").write_text(probe)
    return src


def test_the_package_keeps_its_layers(tmp_path: Path) -> None:
    result = lint_imports(package_copy(tmp_path), tmp_path / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("where", "probe", "arrow"),
    [
        ("store", "from remission.web import create_app\n", "remission.store._layer_probe -> remission.web"),
        ("indices", "import remission.analysis\n", "remission.indices._layer_probe -> remission.analysis"),
        ("errors", "from remission.cli import main\n", "remission.errors._layer_probe -> remission.cli"),
        # independent siblings: io and analysis sit on one layer and must not import each other
        ("io", "from remission.analysis import endpoints\n", "remission.io._layer_probe -> remission.analysis"),
    ],
    ids=["store->web", "indices->analysis", "errors->cli", "io->analysis(sibling)"],
)
def test_an_upward_import_breaks_the_contract(tmp_path: Path, where: str, probe: str, arrow: str) -> None:
    if where == "errors":  # errors is a module, not a package: make it one for the probe
        src = package_copy(tmp_path)
        package = src / "remission" / "errors"
        package.mkdir()
        (src / "remission" / "errors.py").rename(package / "__init__.py")
        (package / "_layer_probe.py").write_text(probe)
    else:
        src = package_copy(tmp_path, probe, where)
    result = lint_imports(src, tmp_path / "pyproject.toml")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 kept, 1 broken" in result.stdout
    assert arrow in result.stdout


def test_a_new_unplaced_subpackage_breaks_the_contract(tmp_path: Path) -> None:
    src = package_copy(tmp_path)
    (src / "remission" / "newthing").mkdir()
    (src / "remission" / "newthing" / "__init__.py").write_text('"""Not in any layer yet."""\n')
    result = lint_imports(src, tmp_path / "pyproject.toml")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "remission.newthing" in result.stdout
