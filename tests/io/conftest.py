from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path("/work/shared/data")
EXAMPLE = (
    Path(__file__).resolve().parents[2] / "src" / "remission" / "io" / "examples" / "car_t_trial"
)


@pytest.fixture(scope="session")
def data() -> Path:
    if not DATA.exists():
        pytest.skip("shared third-party data not available")
    return DATA
