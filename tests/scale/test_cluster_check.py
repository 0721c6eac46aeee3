"""The start-up check of an existing Dask cluster: a worker that cannot run the sweep is named."""

from __future__ import annotations

import pytest

from flows.cluster import check_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as local:
        yield local


def test_a_worker_that_can_run_the_sweep_passes(cluster, shared_datasets, tmp_path):
    assert check_cluster(cluster.scheduler_address, "humaneval", str(shared_datasets),
                         str(tmp_path / "cache"), str(tmp_path / "runs")) == 1  # fmt: skip


def test_missing_datasets_and_unwritable_store_are_one_line_errors(cluster, tmp_path):
    with pytest.raises(ValueError, match="cannot load benchmark 'nope'") as raised:
        check_cluster(cluster.scheduler_address, "nope", str(tmp_path), None, str(tmp_path))
    assert "Dask worker inproc://" in str(raised.value) and "\n" not in str(raised.value)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="store .* cannot be created"):
        check_cluster(cluster.scheduler_address, "humaneval", None, None, str(tmp_path / "file" / "runs"))


def test_no_scheduler_is_a_clear_error():
    with pytest.raises(ValueError, match="no Dask scheduler at tcp://127.0.0.1:9"):
        check_cluster("tcp://127.0.0.1:9", "humaneval", None, None, "/tmp")
