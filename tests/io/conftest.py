from __future__ import annotations

from pathlib import Path

import pytest

from sharedpaths import DATA, require

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "remission" / "io" / "examples" / "car_t_trial"


@pytest.fixture(scope="session")
def data() -> Path:
    return require(DATA)
