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


def cluster_threads() -> int:
    """Worker threads of the running flow's Dask cluster: how many chunks can run at once, and
    so the share of each model's limits one chunk gets (``ChunkSpec.limit_share``). 1 outside
    a Dask-backed flow run."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    client = getattr(getattr(context, "task_runner", None), "_client", None)
    if client is None:
        return 1
    return max(1, sum(client.nthreads().values()))
