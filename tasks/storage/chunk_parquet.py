"""One chunk's three Parquet files (calls, verifications, outcomes), encoded as its items finish.

Why: a chunk used to keep every finished ``WorkItemResult`` until its end and then hold its rows
three times at once: the results, a dict per row, and the Arrow tables. One hard problem's
seeds sit side by side in the plan, so a chunk can hold a dozen 1,000-call pat items
(HumanEval/160's seeds: 13,225 calls in one chunk of 128 items, Arrow's pool at 25 MB); in a
20,000-item sweep that chunk raised its worker's resident size by ~90 MB for good.

Now ``ChunkParquet.add`` turns each result into rows as its item finishes (the result is then
dropped), and every ``BATCH_ROWS`` rows of a table become one zstd row group of that table's
file, encoded into memory. What a chunk holds is its files' compressed bytes (0.32 MB for 8
such items, whose Arrow tables are 14.2 MB) and at most one batch of rows per table.
``finish`` closes the files; the writer commits them (``tasks.storage.writer.write_chunk_parquet``).

The chunk's identity (``chunk_id``, a column of every row) is a hash of its work items' sorted
keys, so the items are named up front; a result that is not one of them, or comes twice, is
refused, and ``finish`` refuses a chunk with items missing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from tasks.records import WorkItemResult
from tasks.storage.schemas import CALLS_SCHEMA, OUTCOMES_SCHEMA, SCHEMA_VERSION, VERIFICATIONS_SCHEMA

SCHEMA_OF = {"calls": CALLS_SCHEMA, "verifications": VERIFICATIONS_SCHEMA, "outcomes": OUTCOMES_SCHEMA}

# Rows of one table held as Python dicts (~1.6 KB each) before they become a row group.
BATCH_ROWS = 1024

_OUTCOME_DETAIL_COLUMNS = (
    "nodes", "max_depth", "decompositions", "reverts", "accepted_unverified", "selected_on",
    "selected_tests_total", "selected_tests_passed", "root_trial_passed", "tree_json",
    "cost_usd", "input_tokens", "output_tokens",
)  # fmt: skip


def work_item_key(result: WorkItemResult) -> tuple[str, str, str, str, str, str, int]:
    """The ``WORK_ITEM_KEY`` values of one result, in that order."""
    return (
        result.run_id,
        result.dataset.name,
        result.generator_model,
        result.planner_model,
        result.task_id,
        result.policy.to_json(),
        int(result.seed),
    )


def chunk_id_of(keys: Iterable[tuple]) -> str:
    """The chunk's identity: a hash of its work items' sorted keys, whatever order they finished
    in, so the same items always land in the same files."""
    lines = sorted(json.dumps(key, separators=(",", ":")) for key in keys)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:32]


class ChunkParquet:
    """The Parquet files of the chunk of work items ``keys`` (``work_item_key`` of each, all of
    one run), filled one result at a time (``add``) and closed by ``finish``. ``ValueError``: no
    keys, keys of two runs or a key twice; a result not in the chunk or added twice; ``finish``
    with results missing."""

    def __init__(self, keys: Iterable[tuple]) -> None:
        self.keys = [tuple(key) for key in keys]
        if not self.keys:
            raise ValueError("write_chunk: the chunk has no work items")
        runs = {key[0] for key in self.keys}
        if len(runs) != 1:
            raise ValueError(f"write_chunk: a chunk must belong to one run, got {sorted(runs)}")
        self._pending = set(self.keys)
        if len(self._pending) != len(self.keys):
            raise ValueError("write_chunk: the chunk holds a work item twice")
        self.run_id = self.keys[0][0]
        self.chunk_id = chunk_id_of(self.keys)
        self.rows = {name: 0 for name in SCHEMA_OF}
        self.passed = self.model_errors = 0
        self.cost_usd = 0.0
        self._batch: dict[str, list[dict[str, object]]] = {name: [] for name in SCHEMA_OF}
        self._files = {name: pa.BufferOutputStream() for name in SCHEMA_OF}
        self._writers = {name: pq.ParquetWriter(self._files[name], schema, compression="zstd")
                         for name, schema in SCHEMA_OF.items()}  # fmt: skip

    def add(self, result: WorkItemResult) -> None:
        key = work_item_key(result)
        if key not in self._pending:
            raise ValueError("write_chunk: the chunk holds a work item twice" if key in self.keys
                             else f"write_chunk: {key} is not one of the chunk's work items")  # fmt: skip
        self._pending.discard(key)
        self.passed += bool(result.outcome.passed)
        self.model_errors += sum(1 for call in result.calls if call.error)
        self.cost_usd += sum(call.cost_usd for call in result.calls)
        for name, rows in _result_rows(result, self.chunk_id).items():
            self._batch[name].extend(rows)
            self.rows[name] += len(rows)
            if len(self._batch[name]) >= BATCH_ROWS:
                self._flush(name)

    def _flush(self, name: str) -> None:
        if self._batch[name]:
            self._writers[name].write_batch(pa.RecordBatch.from_pylist(self._batch[name], schema=SCHEMA_OF[name]))
            self._batch[name] = []

    def finish(self) -> dict[str, pa.Buffer]:
        """Each table's whole Parquet file, keyed by table name."""
        if self._pending:
            raise ValueError(f"write_chunk: {len(self._pending)} of the chunk's work items have no result")
        for name, writer in self._writers.items():
            self._flush(name)
            writer.close()
        return {name: stream.getvalue() for name, stream in self._files.items()}


def _key_columns(result: WorkItemResult, chunk_id: str) -> dict[str, object]:
    return {
        "schema_version": SCHEMA_VERSION,
        "chunk_id": chunk_id,
        "run_id": result.run_id,
        "dataset_name": result.dataset.name,
        "dataset_version": result.dataset.version,
        "dataset_sha256": result.dataset.content_sha256,
        "task_id": result.task_id,
        "policy": result.policy.label,
        "policy_spec": result.policy.to_json(),
        "generator_model": result.generator_model,
        "planner_model": result.planner_model,
        "seed": result.seed,
    }


def _tree_columns(event) -> dict[str, object]:
    return {
        "node_id": event.node_id,
        "parent_node_id": event.parent_node_id,
        "depth": event.depth,
        "attempt": event.attempt,
        "sample_index": event.sample_index,
    }


def _micros(unix_s: float) -> int:
    return int(round(unix_s * 1_000_000))


def _result_rows(result: WorkItemResult, chunk_id: str) -> dict[str, list[dict[str, object]]]:
    key = _key_columns(result, chunk_id)
    calls = [
        {
            **key,
            "call_index": index,
            "step": call.step,
            "phase": call.phase,
            "role": call.role,
            "model": call.model,
            "input_tokens": call.input_tokens,
            "output_tokens": call.output_tokens,
            "cost_usd": float(call.cost_usd),
            "cost_weight": None if call.cost_weight is None else float(call.cost_weight),
            "latency_ms": float(call.latency_ms),
            "cached": call.cached,
            "error": call.error,
            "attempts": call.attempts,
            "request_sha256": call.request_sha256,
            "response_text": call.response_text,
            **_tree_columns(call),
            "prompt_sha256": call.prompt_sha256,
        }
        for index, call in enumerate(result.calls)
    ]
    verifications = [
        {
            **key,
            "verification_index": index,
            "step": event.step,
            "phase": event.phase,
            "test_source": event.test_source,
            "passed": event.verdict.passed,
            "status": event.verdict.status,
            "tests_total": event.verdict.tests_total,
            "tests_passed": event.verdict.tests_passed,
            "first_failure": event.verdict.first_failure,
            "duration_ms": float(event.verdict.duration_ms),
            "program_sha256": event.program_sha256,
            **_tree_columns(event),
        }
        for index, event in enumerate(result.verifications)
    ]
    outcome = result.outcome
    outcomes = [
        {
            **key,
            "passed": outcome.passed,
            "status": outcome.status,
            "suites_passed": [(name, bool(ok)) for name, ok in outcome.suites_passed],
            "final_program": outcome.final_program,
            "planner_invoked": outcome.planner_invoked,
            "replans": outcome.replans,
            "model_calls": outcome.model_calls,
            "error": outcome.error,
            "started_at": _micros(result.started_at_s),
            "finished_at": _micros(result.finished_at_s),
            **{name: getattr(outcome, name) for name in _OUTCOME_DETAIL_COLUMNS},
        }
    ]
    return {"calls": calls, "verifications": verifications, "outcomes": outcomes}
