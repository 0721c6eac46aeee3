"""`patflow evaluate` (being built)."""

import typer


def register(app: typer.Typer) -> None:
    pass
