"""Where a sweep worker's memory goes: a census after every chunk, in the workers or in one process.

Two modes, both on `sweep_bench.py`'s config (HumanEval + MBPP, `standard` and `pat`, sim models,
no endless loops):

- default: `sweep_bench.py`'s sweep (Prefect flow, Dask LocalCluster of 2 worker processes), with
  each worker's after-chunk hook (`tasks.sweep._resident_mb`) also taking a census: resident
  size (anonymous and file-backed), Python's allocated blocks (`sys.getallocatedblocks`), glibc
  malloc's arena and in-use bytes (`mallinfo2`) and the 12 most common types among the objects
  the garbage collector tracks. Printed per worker after the sweep's own report. With
  `--tracemalloc FRAMES` the workers also trace allocations and print the allocation sites whose
  live bytes grew most between their second chunk and the end (slower: use 1-3 frames).
- `--in-process N`: N chunks of the same plan (every other chunk: one worker's share), run one
  after another by `tasks.sweep.run_chunk` in this process: no Prefect, no Dask. The same census
  after each chunk; `--chunk-size` sets their size.

- ``--heavy-items N``: N seeds of the heaviest pat item (HumanEval/160, 1,091 model calls each)
  in this process: their results as Python objects, as Arrow tables, and as the chunk's encoded
  files (``tasks.storage.ChunkParquet``).

Run:
  PATFLOW_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/worker_memory_probe.py --items 20000 --heavy-items 8
  PATFLOW_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/worker_memory_probe.py --items 20000
  PATFLOW_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/worker_memory_probe.py --items 20000 --in-process 9 --chunk-size 256
  PATFLOW_DATA_DIR=../shared/datasets .venv/bin/python benchmarks/worker_memory_probe.py --items 6000 --tracemalloc 3
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cloudpickle  # noqa: E402

import sweep_bench  # noqa: E402

cloudpickle.register_pickle_by_value(sweep_bench)  # the workers cannot import benchmarks/


def census(trim: bool = False) -> dict:
    """This process's memory, by who holds it; with ``trim``, also the resident size after
    glibc's ``malloc_trim(0)`` hands the arenas' free pages back (the trim stays done)."""
    import ctypes
    import gc
    from collections import Counter

    import psutil

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]  # fmt: skip

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    malloc = libc.mallinfo2()
    memory = psutil.Process().memory_full_info()
    objects = gc.get_objects()
    trimmed = {}
    if trim:
        libc.malloc_trim(0)
        trimmed = {"rss_after_trim_mb": round(psutil.Process().memory_info().rss / 2**20)}
    arrow = _arrow_pool()
    return {
        "rss_mb": round(memory.rss / 2**20),
        "uss_mb": round(memory.uss / 2**20),
        **_rss_kinds(),
        **_pymalloc_arenas(),
        "arrow_pool": arrow.backend_name,
        "arrow_in_use_mb": round(arrow.bytes_allocated() / 2**20, 1),
        "arrow_peak_mb": round(arrow.max_memory() / 2**20, 1),
        "python_blocks": sys.getallocatedblocks(),
        "gc_objects": len(objects),
        "malloc_arena_mb": round(malloc.arena / 2**20, 1),
        "malloc_in_use_mb": round(malloc.uordblks / 2**20, 1),
        "malloc_mmap_mb": round(malloc.hblkhd / 2**20, 1),
        **trimmed,
        "top_types": Counter(type(o).__name__ for o in objects).most_common(12),
    }


def _arrow_pool():
    import pyarrow

    return pyarrow.default_memory_pool()  # mimalloc or jemalloc: neither is glibc's, so mallinfo2 misses it


def _rss_kinds() -> dict:
    """Resident anonymous, file-backed and shared-memory MB (``/proc/self/status``)."""
    kinds = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("RssAnon", "RssFile", "RssShmem"):
            kinds[f"{name[3:].lower()}_mb"] = round(int(value.split()[0]) / 1024)
    return kinds


def _pymalloc_arenas() -> dict:
    """pymalloc's arenas now and their bytes in live blocks (``sys._debugmallocstats``, which
    writes to the C stderr: read back through a temporary file). Arenas far above the live
    bytes are fragmentation: an arena goes back to the system only when all of it is free."""
    import os
    import re

    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")

    def figure(label: str) -> int:
        found = re.search(rf"# {label}\s*=\s*([\d,]+)", text)
        return int(found.group(1).replace(",", "")) if found else -1

    arenas = re.search(r"(\d+) arenas \* (\d+) bytes/arena", text)
    return {
        "pymalloc_arenas_mb": round(int(arenas.group(1)) * int(arenas.group(2)) / 2**20) if arenas else -1,
        "pymalloc_live_mb": round(figure("bytes in allocated blocks") / 2**20, 1),
    }


BASELINE_CHUNKS = 2  # --tracemalloc: what the worker holds after this many chunks is the baseline


def _install_census(frames: int = 0, trim: bool = False) -> None:
    """In a worker: take a census wherever `run_chunk` records its resident size; with
    ``frames``, trace allocations (that many frames each) and keep a snapshot after the
    ``BASELINE_CHUNKS``-th chunk to compare the end of the sweep with."""
    import tracemalloc

    import tasks.sweep as sweep

    resident_mb = sweep._resident_mb
    sweep.MEMORY_CENSUS = []
    sweep.MEMORY_BASELINE = None
    if frames:
        tracemalloc.start(frames)

    def resident_mb_and_census() -> float:
        sweep.MEMORY_CENSUS.append(census(trim))
        if frames and len(sweep.MEMORY_CENSUS) == BASELINE_CHUNKS:
            sweep.MEMORY_BASELINE = tracemalloc.take_snapshot()
        return resident_mb()

    sweep._resident_mb = resident_mb_and_census


def _growth_since_baseline(top: int = 15) -> list[str]:
    """In a worker: the allocation sites whose live bytes grew most since the baseline."""
    import tracemalloc

    import tasks.sweep as sweep

    if sweep.MEMORY_BASELINE is None:
        return []
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    now = tracemalloc.take_snapshot().filter_traces(ignore)
    lines = []
    for stat in now.compare_to(sweep.MEMORY_BASELINE.filter_traces(ignore), "traceback")[:top]:
        where = " <- ".join(f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}" for frame in stat.traceback)
        lines.append(f"{stat.size_diff / 2**20:+8.2f} MB {stat.count_diff:+9d} blocks  {where}")
    return lines


def _through_the_sweep(frames: int, trim: bool) -> None:
    sample_executions, worker_report = sweep_bench._sample_executions, sweep_bench._worker_report

    def sample_and_census() -> None:
        sample_executions()
        _install_census(frames, trim)

    def report_with_census() -> dict:
        import tasks.sweep as sweep

        return {**worker_report(), "census": sweep.MEMORY_CENSUS, "growth": _growth_since_baseline()}

    sweep_bench._sample_executions, sweep_bench._worker_report = sample_and_census, report_with_census
    reports: list[dict] = []
    sweep_bench.main(worker_reports=reports)
    for index, report in enumerate(reports):
        print(f"worker {index}: {len(report['census'])} chunks")
        for chunk, figures in enumerate(report["census"]):
            print(json.dumps({"chunk": chunk, **figures}))
        if report["growth"]:
            print(f"worker {index}: live bytes grown since chunk {BASELINE_CHUNKS}, by allocation site:")
            print("\n".join(report["growth"]))


def _in_process(items: int, chunks: int, chunk_size: int) -> None:
    from tasks.sweep import plan_chunks, run_chunk
    from tasks.sweep_config import parse_yaml, resolve_document

    sweep_bench._no_loops()
    root = Path(tempfile.mkdtemp(prefix="worker-memory-"))
    text = sweep_bench._config_yaml(items, root / "runs", root / "cache", chunk_size)
    config = resolve_document(parse_yaml(text, "worker_memory_probe"), "worker_memory_probe")
    planned, _ = plan_chunks(config, verify_concurrency=2, cluster_threads=2)
    for index, chunk in enumerate(planned[::2][:chunks]):
        run_chunk(chunk)
        print(json.dumps({"chunk": index, "items": len(chunk.items), "name": chunk.name, **census()}), flush=True)


HEAVY_TASK = "HumanEval/160"  # pat decomposes every node 5 times to depth 3 here: 1,091 calls per seed


def _heavy_items(items: int, seeds: int) -> None:
    """What a chunk of ``seeds`` of the heaviest pat item holds in this process: its results as
    Python objects (what a chunk kept until its end before), their rows as Arrow tables (what
    it built on top to write them), and the chunk's files as ``ChunkParquet`` encodes them
    while the items finish (what it holds now). A first run of two seeds loads every lazy
    import and cache on the path, so the figures are the items' own."""
    import gc
    from dataclasses import replace

    import pyarrow as pa

    from tasks.process_loop import run_in_process_loop
    from tasks.storage import ChunkParquet
    from tasks.storage.chunk_parquet import SCHEMA_OF, _result_rows, work_item_key
    from tasks.sweep import (
        _model_client, _price_of, _register_with_simulator, chunk_sandbox, plan_chunks, run_chunk_items,
    )
    from tasks.sweep_config import parse_yaml, resolve_document

    sweep_bench._no_loops()
    root = Path(tempfile.mkdtemp(prefix="worker-memory-"))
    text = sweep_bench._config_yaml(items, root / "runs", root / "cache", None)
    config = resolve_document(parse_yaml(text, "worker_memory_probe"), "worker_memory_probe")
    planned, _ = plan_chunks(config, verify_concurrency=2, cluster_threads=4, cluster_workers=2)
    chunk = next(c for c in planned if any(i.task_id == HEAVY_TASK for i in c.items))
    heavy = tuple(i for i in chunk.items if i.task_id == HEAVY_TASK and i.policy.name == "pat")
    sandbox = chunk_sandbox(chunk)
    _register_with_simulator(chunk.problems, chunk.items)
    client = _model_client(chunk.cache_dir)

    def run(chosen):
        part = replace(chunk, items=chosen)
        return run_in_process_loop(
            run_chunk_items(part, client, sandbox.verify, _price_of, sandbox.execute, close_client=False)
        )

    def live_mb() -> float:
        gc.collect()
        return _pymalloc_arenas()["pymalloc_live_mb"]

    run(heavy[-2:])  # the warm-up
    before = live_mb()
    results = run(heavy[:seeds])
    objects_mb = live_mb() - before
    calls = sum(len(r.calls) for r in results)
    arrow_before = pa.total_allocated_bytes()
    tables = [pa.Table.from_pylist(rows, schema=SCHEMA_OF[name])
              for r in results for name, rows in _result_rows(r, "0" * 32).items()]  # fmt: skip
    arrow_mb = (pa.total_allocated_bytes() - arrow_before) / 2**20
    del tables
    encoded = ChunkParquet(work_item_key(r) for r in results)
    for result in results:
        encoded.add(result)
    del results, result
    held_mb = live_mb() - before
    files_mb = sum(len(data) for data in encoded.finish().values()) / 2**20
    print(json.dumps({
        "items": seeds, "model_calls": calls,
        "results_as_objects_mb": round(objects_mb, 1), "as_arrow_tables_mb": round(arrow_mb, 1),
        "encoded_files_mb": round(files_mb, 2), "python_held_after_encoding_mb": round(held_mb, 1),
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--in-process", type=int, default=0, metavar="N", help="run N chunks in this process")
    parser.add_argument("--chunk-size", type=int, default=256, help="--in-process: items per chunk")
    parser.add_argument("--malloc-trim", action="store_true",
                        help="sweep mode: after each chunk's census, malloc_trim(0) and the resident size after it")  # fmt: skip
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="sweep mode: trace allocations in the workers (1-3 frames; slower) and print what grew")  # fmt: skip
    parser.add_argument("--heavy-items", type=int, default=0, metavar="N",
                        help=f"N seeds of pat on {HEAVY_TASK} in this process: what their chunk holds")  # fmt: skip
    args, rest = parser.parse_known_args()
    if args.heavy_items:
        _heavy_items(args.items, args.heavy_items)
    elif args.in_process:
        _in_process(args.items, args.in_process, args.chunk_size)
    else:
        sys.argv = [sys.argv[0], "--items", str(args.items), "--workers", "2", "--no-loops", *rest]
        _through_the_sweep(args.tracemalloc, args.malloc_trim)


if __name__ == "__main__":
    main()
