"""A chunk's files encoded one result at a time: the rows of every result, a row group every
``BATCH_ROWS`` rows, no finished result kept alive, and the chunk's items named up front."""

from __future__ import annotations

import gc
import io
import weakref

import pyarrow.parquet as pq
import pytest
from storage_builders import Call, Check, make_item

import tasks.storage.chunk_parquet as chunk_parquet
from tasks.storage.chunk_parquet import ChunkParquet, chunk_id_of, work_item_key
from tasks.storage.schemas import SCHEMAS


def items(count: int):
    calls = tuple(Call("generator", 10 + call, 5, 0.001 * (call + 1)) for call in range(3))
    return [
        make_item(f"t/{index}", "pat", index % 2, calls=calls,
                  checks=(Check("public", index % 3 == 0), Check("hidden:base", True)))  # fmt: skip
        for index in range(count)
    ]


def encoded(results) -> ChunkParquet:
    chunk = ChunkParquet(work_item_key(result) for result in results)
    for result in results:
        chunk.add(result)
    return chunk


def test_rows_go_out_a_row_group_at_a_time_and_every_row_names_its_chunk(monkeypatch):
    monkeypatch.setattr(chunk_parquet, "BATCH_ROWS", 4)
    results = items(5)
    chunk = encoded(results)
    # 3 call rows per item: a row group after the 2nd and the 4th item, the 5th item's rows pending.
    assert len(chunk._batch["calls"]) == 3 and chunk.rows == {"calls": 15, "verifications": 10, "outcomes": 5}
    files = {name: pq.ParquetFile(io.BytesIO(data.to_pybytes())) for name, data in chunk.finish().items()}
    assert files["calls"].metadata.num_row_groups == 3
    tables = {name: file.read() for name, file in files.items()}
    assert {name: table.num_rows for name, table in tables.items()} == chunk.rows
    for name, table in tables.items():
        assert table.schema.equals(SCHEMAS[name], check_metadata=False)
        assert set(table.column("chunk_id").to_pylist()) == {chunk_id_of(work_item_key(r) for r in results)}
    calls = tables["calls"].to_pylist()
    assert [(row["task_id"], row["call_index"], row["input_tokens"]) for row in calls] == [
        (f"t/{index}", call, 10 + call) for index in range(5) for call in range(3)]  # fmt: skip
    assert [row["passed"] for row in tables["verifications"].to_pylist()][::2] == [True, False, False, True, False]
    assert (chunk.passed, chunk.model_errors, chunk.cost_usd) == (5, 0, pytest.approx(5 * 0.006))


def test_a_finished_result_is_not_kept_alive():
    result = items(1)[0]
    chunk = ChunkParquet([work_item_key(result)])
    alive = weakref.ref(result)
    chunk.add(result)
    del result
    gc.collect()
    assert alive() is None  # the chunk holds rows and encoded bytes, never the result object
    assert pq.read_table(io.BytesIO(chunk.finish()["outcomes"].to_pybytes())).num_rows == 1


def test_items_outside_the_chunk_twice_or_missing_are_refused():
    first, second = make_item("a", "pat"), make_item("b", "pat")
    with pytest.raises(ValueError, match="no work items"):
        ChunkParquet([])
    with pytest.raises(ValueError, match="one run"):
        ChunkParquet([work_item_key(first), work_item_key(make_item("b", "pat", run_id="r2"))])
    with pytest.raises(ValueError, match="twice"):
        ChunkParquet([work_item_key(first)] * 2)
    chunk = ChunkParquet([work_item_key(first), work_item_key(second)])
    chunk.add(first)
    with pytest.raises(ValueError, match="twice"):
        chunk.add(first)
    with pytest.raises(ValueError, match="not one of the chunk's work items"):
        chunk.add(make_item("c", "pat"))
    with pytest.raises(ValueError, match="1 of the chunk's work items have no result"):
        chunk.finish()
    assert chunk.rows["outcomes"] == 1  # refused results added nothing


def test_a_chunks_summary_counts_what_it_encoded():
    from tasks.sweep import summarize

    failed_call = Call("generator", 10, 0, 0.5, error="HTTP 503")
    chunk = encoded([*items(3), make_item("t/9", "standard", calls=(failed_call,), suites=(("base", False),))])
    summary = summarize(chunk, sandbox_executions=7, verdicts_cached=2)
    assert (summary.items, summary.passed, summary.model_calls, summary.model_errors) == (4, 3, 10, 1)
    assert summary.cost_usd == pytest.approx(3 * (0.001 + 0.002 + 0.003) + 0.5)
    assert (summary.sandbox_executions, summary.verdicts_cached) == (7, 2)
