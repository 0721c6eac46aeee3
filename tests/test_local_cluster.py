"""The local Dask cluster a sweep starts: its worker processes run without Dask's profiler."""

from __future__ import annotations

import dask
import pytest
from distributed import Client, LocalCluster

from flows.sweep import local_cluster_kwargs

pytestmark = pytest.mark.integration


def _worker_settings(dask_worker) -> tuple:
    return (dask.config.get("distributed.worker.profile.enabled"),
            sorted(name for name in dask_worker.periodic_callbacks if name.startswith("profile")),
            dask.config.get("distributed.comm.timeouts.connect"))  # fmt: skip


def test_local_workers_run_without_the_profiler_and_keep_the_rest_of_the_config():
    with dask.config.set({"distributed.comm.timeouts.connect": "41s"}):
        kwargs = local_cluster_kwargs(workers=1)
    with LocalCluster(**kwargs) as cluster, Client(cluster) as client:
        (settings,) = client.run(_worker_settings).values()
    assert kwargs["threads_per_worker"] == 2 and kwargs["processes"]
    # off in the worker process (no sampling callbacks), while the flow's own settings reach it
    assert settings == (False, [], "41s")
    assert dask.config.get("distributed.worker.profile.enabled")  # the flow process is untouched
