"""``remission simulate`` and ``remission fit``: the in-silico CAR-T kinetics commands.

A thin shell over :mod:`remission.kinetics`: parse, call, format. Heavy libraries (NumPy,
polars, matplotlib, rich) are imported inside the commands so that ``remission --help`` stays
instant. Invalid input exits with code 2 and a ``row N, column C: value V: reason`` message,
before anything is written.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from remission.kinetics.cohort import CohortResult
    from remission.kinetics.parameters import ParameterSet

#: Series columns accepted by ``remission fit`` and the model output each one observes.
SERIES_COLUMNS: dict[str, str] = {"car_t_cells_ul": "car_t", "cd19_cells_ul": "cd19"}


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def load_params_file(path: Path) -> ParameterSet:
    """Read a YAML/JSON parameter file; ``base`` defaults to the autoimmune set.

    A file without ``base`` overrides the autoimmune set (so it may list only the values it
    changes); ``base: null`` makes it stand alone.
    """
    import yaml

    from remission.errors import InvalidInputError, Problem
    from remission.kinetics.parameters import parse_parameter_set

    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise InvalidInputError([Problem(None, "params", str(path), f"cannot read: {err}")]) from None
    if not isinstance(data, dict):
        raise InvalidInputError([Problem(None, "params", str(path), "expected a YAML/JSON mapping")])
    data.setdefault("base", "autoimmune")
    return parse_parameter_set(data, default_name=path.stem)


def simulate(
    patients: Annotated[int, typer.Option("--patients", help="Number of virtual patients (≥ 1).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (created).")],
    days: Annotated[int, typer.Option("--days", help="Horizon in days after infusion.")] = 730,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (reproducible cohort).")] = None,
    dose_per_kg: Annotated[float, typer.Option("--dose-per-kg", help="CAR-T dose, cells/kg.")] = 1e6,
    params: Annotated[Path | None, typer.Option("--params", help="Parameter file (YAML/JSON).")] = None,
) -> None:
    """Simulate a virtual cohort after one CD19 CAR-T infusion.

    Writes OUT/patients.csv (one row per virtual patient), OUT/summary.csv (5/25/50/75/95 %
    quantiles, mean and SD of each endpoint) and OUT/curves.png (median and 90 % band of
    CAR-T and B cells). Defaults: 730 days, autoimmune parameter set, 1e6 CAR-T/kg.
    """
    from remission.errors import InvalidInputError, Problem
    from remission.kinetics.bcell import CarTBCellModel

    try:
        problems = []
        if patients < 1:
            problems.append(Problem(None, "patients", str(patients), "must be an integer ≥ 1"))
        if days < 1:
            problems.append(Problem(None, "days", str(days), "must be an integer ≥ 1"))
        if not dose_per_kg > 0 or dose_per_kg == float("inf"):
            problems.append(Problem(None, "dose-per-kg", f"{dose_per_kg:g}", "must be a finite number > 0"))
        if problems:
            raise InvalidInputError(problems)
        parameter_set = load_params_file(params) if params is not None else "autoimmune"
        CarTBCellModel(parameter_set, dose_per_kg=dose_per_kg)  # validate before running
    except InvalidInputError as err:
        _fail(str(err))
        return
    result = _run_with_progress(patients, days, seed, dose_per_kg, parameter_set)
    out.mkdir(parents=True, exist_ok=True)
    write_patients_csv(result, out / "patients.csv")
    write_summary_csv(result, out / "summary.csv")
    plot_cohort_curves(result, out / "curves.png")
    typer.echo(
        f"{patients} virtual patients simulated: {out}/patients.csv, summary.csv, curves.png",
        err=True,
    )


def _run_with_progress(patients: int, days: int, seed: int | None, dose: float, parameter_set: Any) -> CohortResult:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from remission.kinetics.cohort import simulate_cohort

    console = Console(stderr=True)
    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("simulate", total=patients)
        return simulate_cohort(
            patients,
            days=days,
            seed=seed,
            dose_per_kg=dose,
            parameters=parameter_set,
            progress=lambda done: bar.advance(task, done),
        )


def write_patients_csv(result: CohortResult, path: Path) -> None:
    """``patients.csv`` with exactly the contract's columns (days as integers, empty = none)."""
    import polars as pl

    from remission.kinetics.cohort import PATIENT_COLUMNS

    p = result.patients
    ints = ("patient", "b_cell_aplasia_start_day", "b_cell_reappearance_day", "b_cell_aplasia_days")
    frame = pl.DataFrame(
        {
            name: pl.Series(name, p[name], nan_to_null=True).cast(pl.Int64)
            if name in ints
            else pl.Series(name, p[name], nan_to_null=True).round(6)
            for name in PATIENT_COLUMNS
        }
    )
    _atomic_csv(frame, path)


def write_summary_csv(result: CohortResult, path: Path) -> None:
    """``summary.csv``: one row per endpoint with n, n_missing, mean, sd and the quantiles."""
    import polars as pl

    from remission.kinetics.cohort import summarize_cohort

    frame = pl.DataFrame(summarize_cohort(result)).with_columns(pl.col(pl.Float64).fill_nan(None).round(6))
    _atomic_csv(frame, path)


def _atomic_csv(frame: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".part")
    frame.write_csv(tmp)
    tmp.replace(path)


def plot_cohort_curves(result: CohortResult, path: Path) -> None:
    """Median and 5–95 % band of CAR-T and B cells over time (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    days = result.curve_days
    labels = {"car_t": "CAR-T cells/µL", "cd19": "CD19+ B cells/µL"}
    for ax, key in zip(axes, ("car_t", "cd19"), strict=True):
        curves = result.curves[key]
        if curves.shape[0]:
            lo, med, hi = np.quantile(curves, [0.05, 0.5, 0.95], axis=0)
            ax.fill_between(days, np.maximum(lo, 1e-3), np.maximum(hi, 1e-3), alpha=0.3, label="90 % band")
            ax.plot(days, np.maximum(med, 1e-3), label="median")
        ax.set_yscale("log")
        ax.set_ylim(1e-3, None)
        ax.set_xlabel("days after infusion")
        ax.set_ylabel(labels[key])
        if key == "cd19":
            ax.axhline(1.0, color="grey", ls="--", lw=0.8, label="1 cell/µL")
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(
        f"{result.n_patients} virtual patients ({result.parameter_set}, "
        f"{result.dose_per_kg:g} CAR-T/kg; curves from {result.curves['car_t'].shape[0]})"
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)


def read_series(path: Path) -> tuple[Any, dict[str, Any]]:
    """Read and validate one patient's series CSV: ``day`` and ``car_t_cells_ul``/``cd19_cells_ul``.

    Empty cells are not-measured; 0 is below the limit of quantification.
    """
    import csv

    import numpy as np

    from remission.errors import InvalidInputError, Problem

    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
            header = list(rows[0].keys()) if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InvalidInputError([Problem(None, "input", str(path), f"cannot read: {err}")]) from None
    problems: list[Problem] = []
    if "day" not in header:
        problems.append(Problem(None, "day", "", "required column is missing"))
    present = [c for c in SERIES_COLUMNS if c in header]
    if not present:
        problems.append(
            Problem(
                None,
                "car_t_cells_ul/cd19_cells_ul",
                "",
                "at least one of these columns is required",
            )
        )
    if problems:
        raise InvalidInputError(problems)
    if "patient_id" in header and len({r["patient_id"] for r in rows}) > 1:
        raise InvalidInputError([Problem(None, "patient_id", "", "the series must hold one patient only")])
    days = [_parse_cell(i, row, "day", problems, required=True) for i, row in enumerate(rows, start=1)]
    values = {c: [_parse_cell(i, row, c, problems) for i, row in enumerate(rows, start=1)] for c in present}
    if problems:
        raise InvalidInputError(sorted(problems, key=lambda p: p.row or 0))
    return np.array(days), {SERIES_COLUMNS[c]: np.array(v) for c, v in values.items()}


def _parse_cell(i: int, row: dict[str, str], column: str, problems: list[Any], *, required: bool = False) -> float:
    """One numeric cell: ``day`` (required, finite) or a level (empty = NaN, ≥ 0)."""
    import math

    from remission.errors import Problem

    cell = (row.get(column) or "").strip()
    if not cell and not required:
        return math.nan
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if required and not math.isfinite(value):
        problems.append(Problem(i, column, cell, "expected a number of days relative to infusion"))
    elif not required and not (math.isfinite(value) and value >= 0):
        problems.append(Problem(i, column, cell, "expected a number ≥ 0 (cells/µL; 0 = below detection)"))
        value = math.nan
    return value


def fit(
    input: Annotated[Path, typer.Option("--input", help="Series CSV: day, car_t_cells_ul and/or cd19_cells_ul.")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (created).")],
) -> None:
    """Fit one patient's CAR-T and/or B-cell series by maximum likelihood (log scale).

    Writes OUT/parameters.csv (estimate, standard error, RSE %) and OUT/fit.png (observed
    points and fitted curves). With B cells, the CAR-T + B-cell model is fitted (CAR-T
    parameters fixed at the autoimmune typical values if CAR-T was not measured); with CAR-T
    only, the Stein model alone.
    """
    import numpy as np

    from remission.errors import InvalidInputError, Problem
    from remission.kinetics import CarTBCellModel, ConvergenceWarning, SteinCarTModel

    try:
        days, observed = read_series(input)
        model: Any = CarTBCellModel() if "cd19" in observed else SteinCarTModel()
        n_obs = sum(int(np.isfinite(v).sum()) for v in observed.values())
        n_free = sum(len(model.default_free[k]) + 1 for k, v in observed.items() if np.isfinite(v).any())
        if n_obs <= n_free:
            raise InvalidInputError(
                [
                    Problem(
                        None,
                        "input",
                        f"{n_obs} observations",
                        f"too few to estimate {n_free} parameters (need more than {n_free})",
                    )
                ]
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(days, observed)
    except InvalidInputError as err:
        _fail(str(err))
        return
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            typer.echo(f"warning: {w.message}", err=True)
    import polars as pl

    out.mkdir(parents=True, exist_ok=True)
    _atomic_csv(
        pl.DataFrame(model.estimates()).with_columns(pl.col(pl.Float64).fill_nan(None)),
        out / "parameters.csv",
    )
    plot_fit(model, days, observed, out / "fit.png")
    typer.echo(f"fitted {', '.join(model.free_)}: {out}/parameters.csv, fit.png", err=True)


def plot_fit(model: Any, days: Any, observed: dict[str, Any], path: Path) -> None:
    """Observed values and the fitted curve per output (log scale; below-LLOQ at the LLOQ)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    grid = np.linspace(min(0.0, float(days.min())), float(days.max()) * 1.05 + 1, 400)
    pred = model.predict(grid)
    fig, axes = plt.subplots(1, len(observed), figsize=(5.5 * len(observed), 4), squeeze=False, constrained_layout=True)
    for ax, (name, y) in zip(axes[0], observed.items(), strict=True):
        lloq = model.default_lloq.get(name, 1.0)
        seen = np.isfinite(y)
        ax.plot(grid, np.maximum(pred[name][0], lloq / 10), label="fitted")
        ax.scatter(days[seen & (y > 0)], y[seen & (y > 0)], color="k", s=18, label="observed", zorder=3)
        cens = seen & (y == 0)
        if cens.any():
            ax.scatter(
                days[cens],
                np.full(cens.sum(), lloq),
                marker="v",
                color="grey",
                label="< LLOQ",
                zorder=3,
            )
        ax.set_yscale("log")
        ax.set_xlabel("days after infusion")
        ax.set_ylabel(f"{name} (cells/µL)")
        ax.legend(fontsize=8)
    fig.suptitle(f"{type(model).__name__}: maximum-likelihood fit (log scale)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def register(app: typer.Typer) -> None:
    """Add ``simulate`` and ``fit`` to the ``remission`` app."""
    app.command(name="simulate")(simulate)
    app.command(name="fit")(fit)
