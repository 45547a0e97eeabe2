"""`make bench`: every benchmark of the project, one after the other."""

from __future__ import annotations

import runpy
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = ("sledai2k.py", "dask_scoring.py", "bulk_import.py", "redcap_import.py", "api_load.py")

for name in BENCHMARKS:
    print(f"== {name}")
    runpy.run_path(str(HERE / name), run_name="__main__")
