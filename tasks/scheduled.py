"""Scheduled sweeps: the run id of each scheduled run of a config file, the earlier run it is
compared with, and that comparison (``queries/run_diff.sql``) as Markdown and as one line.

A scheduled sweep runs one config file again and again, each time under a new run id. Its runs
are recognised by their *schedule key*: ``RunConfig.config_sha256()`` of the config with the run
id left out (the run id is part of that hash), recorded in the manifest's ``extra`` when the
run is claimed. Guarantees:
- ``scheduled_run_id`` is ``<config file stem>-<scheduled start, UTC, to the second>Z``; a Prefect
  flow run that is retried gets the same id back (and so resumes), another flow run that lands
  on a taken id gets ``-2``, ``-3``, ... (``free_run_id``).
- ``previous_complete_run`` names the newest run of the same schedule key in the same store
  that started before the current one and has every planned work item committed; None if none.
- Nothing here imports Prefect: the flow (``flows/sweep.py:scheduled_sweep``) passes the flow
  run's id and scheduled time in.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tasks.records import RunConfig
from tasks.storage import completed_work_item_keys, connect, manifest_run_ids, read_manifest

SCHEDULE_KEY = "schedule_sha256"  # manifest extra: the config's hash without its run id
SCHEDULED_BY = "scheduled_by_flow_run"  # manifest extra: the Prefect flow run that claimed it
MAX_TASK_IDS_SHOWN = 10
DIFF_TABLE_COLUMNS = (
    "benchmark", "policy", "generator", "planner", "items", "fixed", "broken", "pass@1 before → after",
    "change [interval]", "mean cost change USD [interval]", "McNemar p", "fixed task ids", "broken task ids",
)  # fmt: skip


def schedule_sha256(config: RunConfig) -> str:
    """The hash every scheduled run of one config shares (its run id left out)."""
    return dataclasses.replace(config, run_id="").config_sha256()


def scheduled_run_id(config_path: str | Path, scheduled_at: datetime) -> str:
    """``<config file stem>-<YYYYmmddTHHMMSS>Z`` in UTC, with only characters a run id may hold."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(config_path).stem).lstrip("._-") or "sweep"
    moment = scheduled_at.astimezone(timezone.utc) if scheduled_at.tzinfo else scheduled_at
    return f"{stem[:100]}-{moment:%Y%m%dT%H%M%S}Z"


def free_run_id(store: str | Path, base: str, flow_run_id: str | None) -> str:
    """``base`` unless another flow run already claimed it, then ``base-2``, ``base-3``, ...
    A run claimed by ``flow_run_id`` itself is its own (a retried flow run resumes it)."""
    attempt = 1
    while True:
        candidate = base if attempt == 1 else f"{base}-{attempt}"
        manifest = read_manifest(store, candidate)
        if manifest is None:
            return candidate
        if flow_run_id is not None and manifest.get("extra", {}).get(SCHEDULED_BY) == flow_run_id:
            return candidate
        attempt += 1


def schedule_extra(config: RunConfig, flow_run_id: str | None) -> dict[str, str | None]:
    """What a scheduled run adds to its manifest's ``extra``."""
    return {SCHEDULE_KEY: schedule_sha256(config), SCHEDULED_BY: flow_run_id}


@dataclass(frozen=True)
class ScheduledRun:
    """One run in a store, as its manifest and its committed outcomes describe it."""

    run_id: str
    started_at: str  # ISO 8601, UTC
    schedule_sha256: str | None
    work_items_total: int | None

    def is_complete(self, store: str | Path) -> bool:
        if self.work_items_total is None:
            return False
        return len(completed_work_item_keys(store, self.run_id)) >= self.work_items_total


def read_scheduled_runs(store: str | Path) -> list[ScheduledRun]:
    """Every run with a readable manifest in ``store`` (a directory or an object store), oldest
    first."""
    runs = []
    for stem in manifest_run_ids(store):
        try:
            manifest = read_manifest(store, stem) or {}
        except (OSError, ValueError):
            continue  # a manifest being written or broken by hand is not a run to compare with
        extra = manifest.get("extra") or {}
        runs.append(ScheduledRun(
            run_id=manifest.get("run_id", stem),
            started_at=str(manifest.get("started_at") or ""),
            schedule_sha256=extra.get(SCHEDULE_KEY),
            work_items_total=extra.get("work_items_total"),
        ))  # fmt: skip
    return sorted(runs, key=lambda run: (run.started_at, run.run_id))


def previous_complete_run(store: str | Path, run_id: str) -> str | None:
    """The newest complete run of ``run_id``'s schedule key that started before it; None if
    there is none (or ``run_id`` has no manifest or no schedule key)."""
    runs = read_scheduled_runs(store)
    current = next((run for run in runs if run.run_id == run_id), None)
    if current is None or current.schedule_sha256 is None:
        return None
    earlier = [
        run for run in runs
        if run.run_id != run_id and run.schedule_sha256 == current.schedule_sha256 and run.started_at < current.started_at
    ]  # fmt: skip
    for run in reversed(earlier):
        if run.is_complete(store):
            return run.run_id
    return None


# --------------------------------------------------------------------------- the diff, told
@dataclass(frozen=True)
class RunDiffSummary:
    previous_run_id: str
    current_run_id: str
    fixed: int  # items failing in the previous run that pass now
    broken: int  # items passing in the previous run that fail now
    pass_at_1_changes: tuple[tuple[str, float], ...]  # (row label, change) per run_diff row

    def line(self) -> str:
        changes = ", ".join(f"{label} {change:+.3f}" for label, change in self.pass_at_1_changes) or "no shared items"
        return (
            f"run {self.current_run_id} vs {self.previous_run_id}: {self.fixed} fixed, {self.broken} broken;"
            f" pass@1 change {changes}"
        )


def _row_labels(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The policy label, with the benchmark and models only where the policy alone is ambiguous."""
    policies = [row["policy"] for row in rows]
    labels = []
    for row in rows:
        label = row["policy"]
        if policies.count(label) > 1:
            label = f"{label} [{row['dataset_name']}, {row['generator_model']}+{row['planner_model']}]"
        labels.append(label)
    return labels


def summarize_run_diff(rows: Sequence[Mapping[str, Any]], previous_run_id: str, current_run_id: str) -> RunDiffSummary:
    """``rows``: ``run_named(..., "run_diff", {"run_a": previous, "run_b": current})`` as dicts."""
    return RunDiffSummary(
        previous_run_id=previous_run_id,
        current_run_id=current_run_id,
        fixed=sum(int(row["fixed"]) for row in rows),
        broken=sum(int(row["broken"]) for row in rows),
        pass_at_1_changes=tuple(
            (label, float(row["pass_at_1_change"])) for label, row in zip(_row_labels(rows), rows)
        ),
    )


def _number(value: Any, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _change_with_interval(row: Mapping[str, Any], column: str, digits: int) -> str:
    low, high = _number(row[f"{column}_low"], digits), _number(row[f"{column}_high"], digits)
    return f"{row[column]:+.{digits}f} [{low}, {high}]"


def _task_ids(ids: Sequence[str]) -> str:
    shown = ", ".join(str(task_id) for task_id in ids[:MAX_TASK_IDS_SHOWN])
    more = len(ids) - MAX_TASK_IDS_SHOWN
    return (shown + (f" (+{more} more)" if more > 0 else "")).replace("|", "\\|")


def run_diff_markdown(rows: Sequence[Mapping[str, Any]], previous_run_id: str, current_run_id: str) -> str:
    """The diff as a Markdown artifact: the summary line, then one table row per run_diff row."""
    summary = summarize_run_diff(rows, previous_run_id, current_run_id)
    lines = [
        f"# patflow run `{current_run_id}` against `{previous_run_id}`",
        "",
        summary.line(),
        "",
        "| " + " | ".join(DIFF_TABLE_COLUMNS) + " |",
        "|" + "---|" * len(DIFF_TABLE_COLUMNS),
    ]
    for row in rows:
        cells = [
            row["dataset_name"], row["policy"], row["generator_model"], row["planner_model"], str(row["pairs"]),
            str(row["fixed"]), str(row["broken"]),
            f"{_number(row['pass_at_1_a'])} → {_number(row['pass_at_1_b'])}",
            _change_with_interval(row, "pass_at_1_change", 3), _change_with_interval(row, "mean_cost_change", 6),
            _number(row["mcnemar_p"]), _task_ids(row["fixed_task_ids"]), _task_ids(row["broken_task_ids"]),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    if not rows:
        lines.append("")
        lines.append("The two runs share no work items.")
    return "\n".join(lines) + "\n"


def nothing_to_compare_markdown(current_run_id: str, store: str | Path, key: str) -> str:
    return (
        f"# patflow run `{current_run_id}`\n\n"
        f"Nothing to compare with: no earlier complete run of this config (schedule key {key[:12]}) in {store}.\n"
    )


@dataclass(frozen=True)
class RunComparison:
    """What a scheduled run reports at its end: the run it was compared with (None on the
    first run of a config), the Markdown artifact and the one line for the log."""

    current_run_id: str
    previous_run_id: str | None
    markdown: str
    line: str


def compare_with_previous_run(store: str | Path, run_id: str, resamples: int | None = None) -> RunComparison:
    """``run_diff`` of ``run_id`` against its previous complete run of the same schedule key."""
    from tasks.analysis.named import run_named

    previous = previous_complete_run(store, run_id)
    if previous is None:
        manifest = read_manifest(store, run_id) or {}
        key = (manifest.get("extra") or {}).get(SCHEDULE_KEY) or "unknown"
        markdown = nothing_to_compare_markdown(run_id, store, key)
        line = f"run {run_id}: first complete run of this config in {store}, nothing to compare with"
        return RunComparison(run_id, None, markdown, line)
    con = connect(store, [previous, run_id])
    try:
        rows = run_named(con, "run_diff", {"run_a": previous, "run_b": run_id, "resamples": resamples}).to_pylist()
    finally:
        con.close()
    return RunComparison(
        run_id, previous, run_diff_markdown(rows, previous, run_id), summarize_run_diff(rows, previous, run_id).line()
    )
