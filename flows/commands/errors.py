"""How the CLI reports a user's mistake: one line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import contextlib
from typing import NoReturn

import typer

USAGE_ERROR_EXIT = 2


def fail(message: str, code: int = USAGE_ERROR_EXIT) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


@contextlib.contextmanager
def user_errors():
    """Turn the project's input errors (ValueError and subclasses, missing files) into ``fail``."""
    try:
        yield
    except (ValueError, FileNotFoundError) as error:
        fail(str(error).splitlines()[0] if str(error) else type(error).__name__)
