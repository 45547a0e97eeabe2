"""``remission regimen`` (dose schedule) and ``remission eligibility`` (criteria per patient)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``regimen`` and ``eligibility`` commands to ``app``."""

    @app.command(help="Print the conditioning and CAR-T schedule (day −5 … 0) with doses for one patient.")
    def regimen(
        height_cm: Annotated[float, typer.Option("--height-cm", help="Height in cm (50–250).")],
        weight_kg: Annotated[float, typer.Option("--weight-kg", help="Weight in kg (2–300).")],
        formula: Annotated[
            str | None,
            typer.Option("--formula", help="BSA formula: mosteller (default) or dubois."),
        ] = None,
        protocol: Annotated[
            Path | None,
            typer.Option("--protocol", help="Protocol YAML file (default: erlangen-2024)."),
        ] = None,
    ) -> None:
        from rich.console import Console
        from rich.table import Table

        from remission.cli.main import fail
        from remission.errors import InvalidInputError
        from remission.regimen import compute_regimen, load_protocol

        try:
            chosen = load_protocol(protocol)
            result = compute_regimen(height_cm, weight_kg, formula.strip().lower() if formula else None, chosen)
        except InvalidInputError as err:
            fail(str(err))
            return
        console = Console(width=120)
        console.print(
            f"Protocol {chosen.name} {chosen.version}; BSA ({result.formula}) = "
            f"{result.bsa_unrounded:.4f} → {result.bsa_m2} m²; weight {weight_kg:g} kg"
        )
        table = Table("day", "drug", "dose", "unit", "basis")
        for dose in result.schedule:
            amount = f"{dose.amount:.3e}" if dose.unit == "cells" else f"{dose.amount:f}"
            table.add_row(str(dose.day), dose.name, amount, dose.unit, dose.basis)
        console.print(table)
        for drug in chosen.drugs:
            console.print(f"total {drug.code}: {result.total(drug.code):f} {drug.dose_unit}")

    @app.command(help="Evaluate protocol eligibility: one row per patient, a reason per criterion.")
    def eligibility(
        input: Annotated[Path, typer.Option("--input", help="CSV with one row per patient (protocol facts).")],
        output: Annotated[Path, typer.Option("--output", help="Output CSV.")],
        protocol: Annotated[
            Path | None,
            typer.Option("--protocol", help="Protocol YAML file (default: erlangen-2024)."),
        ] = None,
    ) -> None:
        from remission.api import read_table
        from remission.cli.main import _write, fail
        from remission.errors import InvalidInputError
        from remission.regimen import load_protocol
        from remission.regimen.eligibility import evaluate_table

        try:
            chosen = load_protocol(protocol)
            result = evaluate_table(read_table(input), chosen)
        except InvalidInputError as err:
            fail(str(err))
            return
        _write(result, output)
