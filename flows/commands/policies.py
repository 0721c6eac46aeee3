"""``patflow policies``: every registered policy with its parameters, defaults and sources.

Read from ``tasks.policies.POLICIES[name].PARAMS`` (the same declarations that check a sweep's
parameters), so the list cannot drift from what ``patflow run`` accepts.
"""

from __future__ import annotations

import typer

from flows.commands.errors import fail

FORMATS = ("table", "csv", "json")


def register(app: typer.Typer) -> None:
    app.command("policies")(policies)


def policy_rows() -> list[dict]:
    from tasks.policies import POLICIES
    from tasks.records import MODEL_PARAMS

    rows = []
    for name in sorted(POLICIES):
        policy_class = POLICIES[name]
        import sys

        doc = policy_class.__doc__ or sys.modules[policy_class.__module__].__doc__ or ""
        summary = (doc.strip().splitlines() or [""])[0]
        for param in getattr(policy_class, "PARAMS", ()):
            bounds = param.describe().split(":", 1)[1].split("=", 1)[0].strip()
            rows.append({
                "policy": name, "parameter": param.name, "type": bounds, "default": param.default,
                "source": param.source, "help": param.help,
            })  # fmt: skip
        if not getattr(policy_class, "PARAMS", ()):
            rows.append({"policy": name, "parameter": "", "type": "", "default": None, "source": "", "help": summary})
    for role in MODEL_PARAMS:
        rows.append({
            "policy": "(every policy)", "parameter": role, "type": "str", "default": None, "source": "patflow",
            "help": f"--policy shortcut: the {role} model of this variant (in a config: configurations)",
        })  # fmt: skip
    return rows


def policies(
    output_format: str = typer.Option("table", "--format", "-f", help="Output format: table, csv or json."),
) -> None:
    """List every policy with its parameters: type and range, default, and where the default comes from."""
    import pyarrow as pa

    from flows.commands.report import render

    if output_format not in FORMATS:
        fail(f"--format {output_format!r}: expected one of {', '.join(FORMATS)}")
    rows = policy_rows()
    for row in rows:
        row["default"] = "" if row["default"] is None else repr(row["default"])
    render(pa.Table.from_pylist(rows), output_format, title="policies and their parameters (--policy name:param=value)")
