"""``patflow runs``: every run in a store: its config hash, benchmarks, policies, models, work
items done of total, complete or interrupted, start and end time, and cost.

Read from the manifests (what each run was asked to do) and the committed outcomes and calls
(what it did): a run is ``complete`` when every planned work item is committed, else
``interrupted`` (a run in progress right now shows as interrupted too).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from flows.commands.errors import fail, user_errors

FORMATS = ("table", "csv", "json")


def register(app: typer.Typer) -> None:
    app.command("runs")(runs)


def run_rows(store: str | Path) -> list[dict]:
    from tasks.storage import connect, manifest_run_ids, parse_store

    location = parse_store(store)
    con = connect(location)
    try:
        done = {
            run_id: (items, passed, started, finished)
            for run_id, items, passed, started, finished in con.execute(
                "SELECT run_id, count(*), sum(passed::int), min(started_at), max(finished_at) FROM outcomes GROUP BY run_id"
            ).fetchall()
        }
        cost = dict(con.execute("SELECT run_id, sum(cost_usd) FROM calls GROUP BY run_id").fetchall())
    finally:
        con.close()
    rows = []
    seen = set()
    for stem in manifest_run_ids(location):
        path = location.join("manifests", f"{stem}.json")
        try:
            manifest = json.loads((location.read_bytes(path) or b"").decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{location.display(path)}: not a readable run manifest ({error})") from None
        run_id = manifest.get("run_id", stem)
        seen.add(run_id)
        rows.append(_row(run_id, manifest, done.get(run_id), cost.get(run_id)))
    for run_id in sorted(set(done) - seen):  # rows without a manifest (written by hand or by tests)
        rows.append(_row(run_id, {}, done[run_id], cost.get(run_id)))
    return rows


def _row(run_id: str, manifest: dict, done, cost) -> dict:
    config = manifest.get("config", {})
    extra = manifest.get("extra", {})
    items, passed, started, finished = done or (0, 0, None, None)
    total = extra.get("work_items_total")
    if "benchmarks" in config:
        benchmarks = [(b.get("dataset") or {}).get("name") or b.get("name") for b in config["benchmarks"]]
        policies = [p["spec"].get("custom_label") or _label(p["spec"]) for p in config.get("policies", [])]
        models = [f"{c['name']}={c['generator']['model']}+{c['planner']['model']}" for c in config.get("configurations", [])]
    else:  # a manifest written before sweeps had a config file
        benchmarks = [config.get("benchmark", "?")]
        policies = [_label(p) for p in config.get("policies", [])]
        models = [f"{config.get('generator', {}).get('model', '?')}+{config.get('planner', {}).get('model', '?')}"]
    status = "complete" if total is not None and items >= total else "interrupted"
    if total is None:
        status = "unknown"
    return {
        "run_id": run_id,
        "config_sha256": (manifest.get("config_sha256") or "")[:12],
        "benchmarks": ", ".join(str(b) for b in benchmarks),
        "policies": ", ".join(policies),
        "models": ", ".join(models),
        "items_done": items,
        "items_total": total,
        "passed": passed or 0,
        "status": status,
        "started_at": manifest.get("started_at") or (started.isoformat() if started else None),
        "ended_at": finished.isoformat() if finished else None,
        "cost_usd": round(float(cost or 0.0), 6),
    }


def _label(spec: dict) -> str:
    params = [f"{k}={v}" for k, v in sorted((spec.get("params") or {}).items()) if k not in ("generator", "planner")]
    return spec.get("name", "?") + (":" + ",".join(params) if params else "")


def runs(
    store: str = typer.Option(
        "data/runs", "--store", envvar="PATFLOW_STORE", help="Run store: a directory or s3://bucket/prefix."
    ),
    output_format: str = typer.Option("table", "--format", "-f", help="Output format: table, csv or json."),
) -> None:
    """List every run in the store: config hash, benchmarks, policies, models, items done/total,
    complete or interrupted, start and end time, cost."""
    import pyarrow as pa

    from flows.commands.report import render
    from tasks.storage import is_object_store, object_store_problem

    if output_format not in FORMATS:
        fail(f"--format {output_format!r}: expected one of {', '.join(FORMATS)}")
    if is_object_store(store):
        problem = object_store_problem(store)
        if problem:
            fail(f"{store}: cannot read the run store ({problem})")
    elif not Path(store).is_dir():
        fail(f"{store}: no such run store (expected a directory written by `patflow run`)")
    with user_errors():
        rows = run_rows(store)
    if not rows:
        typer.echo(f"{store}: no runs")
        return
    render(pa.Table.from_pylist(rows), output_format, title=f"runs in {store}")
