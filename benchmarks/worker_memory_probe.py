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

Run:
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
    return {
        "rss_mb": round(memory.rss / 2**20),
        "uss_mb": round(memory.uss / 2**20),
        "python_blocks": sys.getallocatedblocks(),
        "gc_objects": len(objects),
        "malloc_arena_mb": round(malloc.arena / 2**20, 1),
        "malloc_in_use_mb": round(malloc.uordblks / 2**20, 1),
        "malloc_mmap_mb": round(malloc.hblkhd / 2**20, 1),
        **trimmed,
        "top_types": Counter(type(o).__name__ for o in objects).most_common(12),
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--in-process", type=int, default=0, metavar="N", help="run N chunks in this process")
    parser.add_argument("--chunk-size", type=int, default=256, help="--in-process: items per chunk")
    parser.add_argument("--malloc-trim", action="store_true",
                        help="sweep mode: after each chunk's census, malloc_trim(0) and the resident size after it")  # fmt: skip
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="sweep mode: trace allocations in the workers (1-3 frames; slower) and print what grew")  # fmt: skip
    args, rest = parser.parse_known_args()
    if args.in_process:
        _in_process(args.items, args.in_process, args.chunk_size)
    else:
        sys.argv = [sys.argv[0], "--items", str(args.items), "--workers", "2", "--no-loops", *rest]
        _through_the_sweep(args.tracemalloc, args.malloc_trim)


if __name__ == "__main__":
    main()
