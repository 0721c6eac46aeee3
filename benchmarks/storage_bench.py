"""Storage speed: chunk writes, view queries and resume keys on a synthetic store.

Prints figures; asserts nothing. Usage:
    .venv/bin/python benchmarks/storage_bench.py [--items 20000] [--chunk-size 16] [--store DIR]
Each work item has 3 model calls and 3 verifications (a PaT-like item).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.records import (  # noqa: E402
    DatasetInfo,
    ModelCallEvent,
    Outcome,
    PolicySpec,
    Verdict,
    VerificationEvent,
    WorkItemResult,
)
from tasks.storage import (  # noqa: E402
    completed_work_item_specs,
    connect,
    list_queries,
    run_query,
    write_chunk,
)

DATASET = DatasetInfo("synthetic", "1", "00" * 32)


def item(index: int, run_id: str) -> WorkItemResult:
    policy = ("standard", "pat")[index % 2]
    calls = tuple(
        ModelCallEvent(step, "generate" if step != 1 else "plan", "planner" if step == 1 else "generator",
                       "sim/large" if step == 1 else "sim/small", 400 + step, 120, 0.0001, 250.0,
                       index % 5 == 0, None, f"{index:064x}", "def f():\n    return 1\n" * 8, 8.0)
        for step in range(3)
    )
    verifications = tuple(
        VerificationEvent(step, "verify", "public" if step < 2 else "hidden:base",
                          Verdict(step > 0, "passed" if step > 0 else "assertion_error", 3, 3), "ab" * 32)
        for step in range(3)
    )
    outcome = Outcome(f"t/{index // 4}", policy, index % 2, True, "passed", (("base", True),),
                      "def f():\n    return 1\n", policy == "pat", 0, 3)
    return WorkItemResult(run_id, DATASET, f"t/{index // 4}", PolicySpec(policy), "sim/small",
                          "sim/large", (index // 2) % 2, calls, verifications, outcome, 1.7e9, 1.7e9 + 1)


def timed(label: str, function, repeat: int = 3):
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    print(f"{label:<48} {best * 1000:9.1f} ms (best of {repeat})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--chunk-size", type=int, default=16)
    parser.add_argument("--store", type=Path, default=None)
    args = parser.parse_args()
    store = args.store or Path(tempfile.mkdtemp(prefix="patflow-storage-bench-"))
    try:
        results = [item(i, "bench") for i in range(args.items)]
        chunks = [results[i : i + args.chunk_size] for i in range(0, len(results), args.chunk_size)]
        start = time.perf_counter()
        for chunk in chunks:
            write_chunk(store, chunk)
        elapsed = time.perf_counter() - start
        print(f"items={args.items} chunk_size={args.chunk_size} chunks={len(chunks)} files={3 * len(chunks)}")
        print(f"{'write_chunk (incl. 3 fsyncs + renames)':<48} {elapsed / len(chunks) * 1000:9.1f} ms/chunk"
              f"  {args.items / elapsed:9.0f} items/s")
        size_mb = sum(p.stat().st_size for p in store.rglob("*.parquet")) / 1e6
        print(f"{'store size':<48} {size_mb:9.1f} MB")
        keys = timed("completed_work_item_specs", lambda: completed_work_item_specs(store, "bench"))
        print(f"{'  committed keys':<48} {len(keys):9d}")
        timed("connect", lambda: connect(store).close())
        for name, _ in list_queries():
            con = connect(store)
            timed(f"query {name}", lambda con=con, name=name: run_query(con, name, {}))
            con.close()
    finally:
        if args.store is None:
            shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
