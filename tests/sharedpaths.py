"""Where the tests find the shared folder (specs, third-party data, public examples).

One place for the path: ``../shared`` next to the repository (the layout of every checkout and
CI clone), or ``$REMISSION_SHARED`` when it lives elsewhere. Locally a test that needs a missing
part of it skips; under ``CI=1`` (``.ci/run``) a missing part is an error, so a CI run can never
go green by skipping the real-data tests (tests/conftest.py checks the folder at start-up too).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("REMISSION_SHARED") or ROOT.parent / "shared").resolve()
DATA = SHARED / "data"
EXAMPLES = SHARED / "examples"
SPECS = SHARED / "specs"
REQUIRED = (DATA, EXAMPLES, SPECS)


def in_ci() -> bool:
    """True when the run is CI's (``CI=1``, or ``true`` as most CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_message(path: Path) -> str:
    return f"shared folder {path} not found (set REMISSION_SHARED to the folder holding data/, examples/, specs/)"


def needs(path: Path) -> pytest.MarkDecorator:
    """A ``skipif`` mark for tests that read ``path``; under CI a missing ``path`` fails collection."""
    if not path.exists() and in_ci():
        raise FileNotFoundError(missing_message(path))
    return pytest.mark.skipif(not path.exists(), reason=missing_message(path))


def require(path: Path) -> Path:
    """``path``, or skip the calling test (fail it under CI) when it is absent."""
    if not path.exists():
        if in_ci():
            pytest.fail(missing_message(path))
        pytest.skip(missing_message(path))
    return path
