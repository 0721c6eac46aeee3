"""``patflow doctor``: which sandbox isolation layers are active on this machine, and the judge.

One line per layer from ``sandbox.isolation_report()``; always exits 0 (it reports, it does
not judge: a missing layer is degraded isolation, not an error).
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor() -> None:
    """Print which sandbox isolation layers are active here, one line each."""
    from sandbox import isolation_report

    report = isolation_report()
    width = max(len(layer) for layer in report)
    for layer, state in report.items():
        typer.echo(f"{layer:<{width}}  {state}")
