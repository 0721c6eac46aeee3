"""Where a sweep's tasks report and run: one Prefect API for the flow and all its workers.

Without a configured ``PREFECT_API_URL`` Prefect starts an *ephemeral* API server in every
process that needs one — the flow and each Dask worker (a 2-worker sweep ran three uvicorn
servers of ~230 MB and steady CPU each). ``shared_prefect_api`` starts one such server before
the flow, points this process's settings at it (Prefect ships the settings with every task to
the workers) and the environment (so local worker processes inherit it), and leaves a user's
own ``PREFECT_API_URL`` alone.
"""

from __future__ import annotations

from flows import environment  # noqa: F401  (must precede prefect's import)

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@contextmanager
def shared_prefect_api() -> Iterator[str | None]:
    """Run the block against one Prefect API: the configured one, else a single ephemeral
    server started here (stopped when this process exits). Yields the API URL."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()  # idempotent: a second sweep in this process reuses the running server
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


@dataclass(frozen=True)
class ClusterShape:
    workers: int  # worker processes: each shares one event loop, and so the model limits, among its chunks
    threads: int  # worker threads in all: how many chunks run at once


def cluster_shape() -> ClusterShape:
    """The running flow's Dask cluster: its worker processes (how many shares of each model's
    limits, ``ChunkSpec.limit_share``) and threads (how many chunks run at once, which sizes
    the chunks). One of each outside a Dask-backed flow run.

    prefect-dask creates its client (and a local cluster) lazily, at the first submit: its
    private ``_client`` is still None when the flow plans its chunks, so this asks for the
    ``client`` property, which starts the cluster now (a measured 4.5 s it would spend at the
    first submit anyway) and returns the client with its workers registered."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    task_runner = getattr(context, "task_runner", None)
    if task_runner is None or not hasattr(task_runner, "client"):
        return ClusterShape(workers=1, threads=1)
    threads = task_runner.client.nthreads()
    return ClusterShape(workers=max(1, len(threads)), threads=max(1, sum(threads.values())))


def _worker_can_run(benchmark: str, data_dir: str | None, cache_dir: str | None, store: str | None) -> str | None:
    """On a worker: None if it can run this sweep's chunks, else what it lacks (one line)."""
    import os
    from pathlib import Path

    try:
        import tasks.sweep  # noqa: F401
    except Exception as error:  # noqa: BLE001 - reported, not raised, across the wire
        return f"cannot import patflow ({type(error).__name__}: {error}); install it in the worker's environment"
    try:
        from tasks.benchmarks import load_benchmark

        load_benchmark(benchmark, data_dir)
    except Exception as error:  # noqa: BLE001
        return f"cannot load benchmark {benchmark!r}: {str(error).splitlines()[0]} (set PATFLOW_DATA_DIR)"
    from tasks.storage import is_object_store, object_store_problem

    if store and is_object_store(store):  # object storage: this worker's AWS variables must reach the bucket
        problem = object_store_problem(store)
        if problem:
            return f"store {store} cannot be used from this worker: {problem}"
        store = None
    for label, directory in (("cache directory", cache_dir), ("store", store)):
        if directory is None:
            continue
        path = Path(directory)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            return f"{label} {directory} cannot be created: {error.strerror}"
        if not os.access(path, os.W_OK):
            return f"{label} {directory} is not writable"
    return None


def check_cluster(address: str, benchmark: str, data_dir: str | None, cache_dir: str | None, store: str) -> int:
    """Before a sweep on an existing cluster: every worker can import patflow, load the benchmark
    and write the cache directory and the store (an ``s3://`` store: reach its bucket with the
    worker's own AWS variables). Returns the worker count; raises ``ValueError``
    with one line naming the first worker that cannot."""
    from distributed import Client

    try:
        client = Client(address, timeout="30s")
    except OSError as error:
        raise ValueError(f"no Dask scheduler at {address}: {error}") from None
    with client:
        answers = client.run(_worker_can_run, benchmark, data_dir, cache_dir, store)
    if not answers:
        raise ValueError(f"the Dask scheduler at {address} has no workers")
    for worker, problem in sorted(answers.items()):
        if problem:
            raise ValueError(f"Dask worker {worker}: {problem}")
    return len(answers)
