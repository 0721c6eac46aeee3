"""``scheduled_sweep`` called as a flow (the session's Prefect API, a real Dask worker, the
simulated models, sandboxes): two runs of one config file get run ids of their own, and the
second's ``run-diff-<stem>`` artifact compares it with the first. The deployment around it (a
server, a worker, ``prefect deploy``) is tests/scale/test_prefect_deployment.py's."""

from __future__ import annotations

import asyncio
import json
import re
import textwrap

import duckdb
import pytest

pytestmark = pytest.mark.integration


async def artifacts_of(key: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        return await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))


def test_two_scheduled_runs_of_a_config_are_two_runs_and_the_second_diffs_the_first(prefect_harness, tmp_path):
    from flows.sweep import scheduled_sweep

    config = tmp_path / "tiny-nightly.yaml"
    config.write_text(textwrap.dedent(f"""\
        benchmarks: [{{name: stdio-demo, limit: 2}}]
        configurations: [{{name: sim, generator: sim/small, planner: sim/large}}]
        policies: [standard]
        cache_dir: {tmp_path / "cache"}
        concurrency: {{chunk_size: 2, workers: 1}}
    """))
    store = tmp_path / "runs"
    first = scheduled_sweep(config=str(config), store=str(store))
    second = scheduled_sweep(config=str(config), store=str(store))

    assert re.fullmatch(r"tiny-nightly-\d{8}T\d{6}Z(-2)?", first.run_id)
    assert second.run_id != first.run_id and second.run_id.startswith("tiny-nightly-")
    assert first.work_items_run == second.work_items_run == 2 and not first.chunks_failed
    manifests = {path.stem: json.loads(path.read_text()) for path in (store / "manifests").glob("*.json")}
    assert set(manifests) == {first.run_id, second.run_id}
    assert len({m["extra"]["schedule_sha256"] for m in manifests.values()}) == 1
    outcomes = duckdb.connect().execute(
        f"SELECT run_id, count(*) FROM read_parquet('{store}/outcomes/**/*.parquet', hive_partitioning = true)"
        " GROUP BY run_id"
    ).fetchall()
    assert sorted(outcomes) == sorted([(first.run_id, 2), (second.run_id, 2)])

    artifacts = sorted(asyncio.run(artifacts_of("run-diff-tiny-nightly")), key=lambda a: a.created)
    assert len(artifacts) == 2
    assert "Nothing to compare with" in artifacts[0].data
    assert f"# patflow run `{second.run_id}` against `{first.run_id}`" in artifacts[1].data
    assert artifacts[1].description.startswith(f"run {second.run_id} vs {first.run_id}: ")
