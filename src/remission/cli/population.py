"""``remission fit-population``: the population (mixed-effects) kinetics fit of an observation table.

A thin shell: read and validate the table with :func:`remission.kinetics.observations.read_observations`
(the reader of ``remission simulate --observations`` and ``remission export --format nonmem``), call
:func:`remission.kinetics.population.fit_population` with a rich progress bar, write the outputs of
:func:`remission.report.population_kinetics.write_population_outputs`. Invalid input exits 2
with ``row N, column C: value V: reason`` before anything is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def fit_population_command(
    input: Annotated[Path, typer.Option("--input", help="Observation table (NONMEM-style CSV).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (created).")],
    covariates: Annotated[
        str, typer.Option("--covariates", help="Comma-separated: dose_per_kg, disease (effects on cmax).")
    ] = "",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sampler.")] = 0,
    params: Annotated[
        Path | None, typer.Option("--params", help="Reference parameter file (structure, fixed values, priors).")
    ] = None,
    warmup: Annotated[int, typer.Option("--warmup", help="NUTS warm-up iterations per chain.")] = 400,
    samples: Annotated[int, typer.Option("--samples", help="NUTS draws per chain.")] = 400,
    chains: Annotated[int, typer.Option("--chains", help="Number of chains (≥ 2 for R-hat).")] = 2,
) -> None:
    """Fit the population CAR-T + B-cell model (NUTS; BLQ censored by Beal's M3).

    Writes OUT/population.yaml (a parameter file: `remission simulate --params` reads it),
    OUT/individual.csv, OUT/diagnostics.csv, OUT/vpc.png and OUT/gof.png.
    """
    from remission.cli.kinetics import load_params_file
    from remission.errors import InvalidInputError, Problem
    from remission.kinetics.observations import read_observations
    from remission.kinetics.population import fit_population, prepare_observations

    try:
        wanted = tuple(c.strip() for c in covariates.split(",") if c.strip())
        from remission.kinetics.population import COVARIATES

        unknown = [c for c in wanted if c not in COVARIATES]
        if unknown:
            raise InvalidInputError(
                [Problem(None, "covariates", c, f"expected some of {', '.join(COVARIATES)}") for c in unknown]
            )
        if warmup < 1 or samples < 1 or chains < 1:
            raise InvalidInputError(
                [Problem(None, "warmup/samples/chains", f"{warmup}/{samples}/{chains}", "must be ≥ 1")]
            )
        reference: Any = load_params_file(params) if params is not None else "autoimmune"
        table = read_observations(input)
        prepare_observations(table, 1e6)  # validate before the (long) fit
        result = _fit_with_progress(
            lambda progress: fit_population(
                table,
                covariates=wanted,
                seed=seed,
                parameters=reference,
                num_warmup=warmup,
                num_samples=samples,
                num_chains=chains,
                progress=progress,
                source=input.name,
            )
        )
    except InvalidInputError as err:
        _fail(str(err))
        return
    from remission.report.population_kinetics import write_population_outputs

    paths = write_population_outputs(result, out, seed=seed)
    took = result.seconds
    typer.echo(
        f"{result.data.n_patients} patients fitted in {took['compile_and_warmup'] + took['sampling']:.0f} s "
        f"(compile + warm-up {took['compile_and_warmup']:.0f} s): " + ", ".join(str(p) for p in paths),
        err=True,
    )


def _fit_with_progress(run: Any) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                label = "compiling + warm-up" if phase == "warmup" else "sampling (NUTS)"
                tasks[phase] = bar.add_task(label, total=total)
            bar.update(tasks[phase], completed=done)

        return run(progress)


def register(app: typer.Typer) -> None:
    """Add ``fit-population`` to the ``remission`` app."""
    app.command(name="fit-population")(fit_population_command)
