"""``patflow``: the command-line entry point. Thin: parses options, calls flows and tasks.

Each group of commands lives in ``flows/commands/<name>.py`` and exposes ``register(app)``.
"""

from __future__ import annotations

import typer

from flows import environment  # noqa: F401  (sets offline/ephemeral defaults before imports)
from flows.commands import cache, compact, datasets, doctor, evaluate, export, policies, report, run, runs, sim

app = typer.Typer(
    name="patflow",
    help="Run LLM code-generation policies over code benchmarks and compare them by cost and accuracy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for command_module in (run, runs, policies, evaluate, report, export, datasets, doctor, sim, cache, compact):
    command_module.register(app)


def main() -> None:  # pragma: no cover - console script
    app()
